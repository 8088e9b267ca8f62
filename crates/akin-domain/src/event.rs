//! The audit log: what happened, who did it, from where.

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// How long events are kept (authentik's default retention).
pub const EVENT_RETENTION: Duration = Duration::days(365);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventAction {
    ModelCreated,
    ModelUpdated,
    ModelDeleted,
    Login,
    LoginFailed,
    Logout,
    UserWrite,
    PasswordSet,
    SecretView,
    InvitationUsed,
    ConfigurationError,
    PolicyException,
    PolicyExecution,
    /// The SMTP server accepted a message from the outbox.
    EmailSent,
    /// The outbox gave a message up (refused for good, or too many attempts).
    EmailFailed,
}

impl EventAction {
    pub fn as_str(self) -> &'static str {
        match self {
            EventAction::ModelCreated => "model_created",
            EventAction::ModelUpdated => "model_updated",
            EventAction::ModelDeleted => "model_deleted",
            EventAction::Login => "login",
            EventAction::LoginFailed => "login_failed",
            EventAction::Logout => "logout",
            EventAction::UserWrite => "user_write",
            EventAction::PasswordSet => "password_set",
            EventAction::SecretView => "secret_view",
            EventAction::InvitationUsed => "invitation_used",
            EventAction::ConfigurationError => "configuration_error",
            EventAction::PolicyException => "policy_exception",
            EventAction::PolicyExecution => "policy_execution",
            EventAction::EmailSent => "email_sent",
            EventAction::EmailFailed => "email_failed",
        }
    }
}

/// Which object an event is about, as authentik records it in `context.model`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelRef {
    /// Django-style app label, e.g. `authentik_core`.
    pub app: &'static str,
    /// Lower-case model name, e.g. `user`.
    pub model_name: &'static str,
    pub pk: String,
    /// The object's display name.
    pub name: String,
}

impl ModelRef {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "app": self.app,
            "model_name": self.model_name,
            "pk": self.pk,
            "name": self.name,
        })
    }
}

/// The acting user as the event stores it: a snapshot, so deleting the user keeps the record.
#[derive(Debug, Clone, PartialEq)]
pub struct Actor {
    pub pk: i64,
    pub username: String,
    pub email: String,
}

impl Actor {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"pk": self.pk, "username": self.username, "email": self.email})
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub uuid: Uuid,
    pub user: serde_json::Value,
    pub action: String,
    pub app: String,
    pub context: serde_json::Value,
    pub client_ip: Option<String>,
    pub created: OffsetDateTime,
    pub expires: OffsetDateTime,
    pub brand: serde_json::Value,
}

impl Event {
    /// A new event at `now` with the default retention.
    pub fn new(
        uuid: Uuid,
        action: EventAction,
        actor: Option<&Actor>,
        context: serde_json::Value,
        client_ip: Option<String>,
        now: OffsetDateTime,
    ) -> Self {
        Self {
            uuid,
            user: actor.map_or_else(|| serde_json::json!({}), Actor::to_json),
            action: action.as_str().to_owned(),
            app: "akin".to_owned(),
            context,
            client_ip,
            created: now,
            expires: now + EVENT_RETENTION,
            brand: serde_json::json!({}),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilter {
    pub action: Option<String>,
    pub actions: Vec<String>,
    pub client_ip: Option<String>,
    pub username: Option<String>,
    pub context_model_app: Option<String>,
    pub context_model_name: Option<String>,
    pub context_model_pk: Option<String>,
}
