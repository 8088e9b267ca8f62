//! Challenges: what the executor answers, in authentik's JSON shapes (§2.5 of the spec).

use serde_json::{Map, Value, json};

use super::options::Designation;
use super::plan::FlowInfo;
use crate::stage::settings::FlowLinks;

/// The default picture authentik's access-denied page shows.
const DEFAULT_AVATAR: &str = "/static/dist/assets/images/user_default.png";

#[derive(Debug, Clone, PartialEq)]
pub enum Challenge {
    Prompt {
        fields: Vec<Value>,
        errors: Map<String, Value>,
    },
    Identification {
        user_fields: Vec<String>,
        password_fields: bool,
        designation: Designation,
        links: FlowLinks,
        errors: Map<String, Value>,
    },
    Password {
        pending_user: String,
        errors: Map<String, Value>,
    },
    /// The login stage asks whether to remember the browser (when it offers that).
    UserLogin {
        pending_user: String,
    },
    /// The email stage sent its link: the flow goes on when it is opened. `errors` says the
    /// mail was sent again (authentik answers every POST with `email-sent`).
    Email {
        errors: Map<String, Value>,
    },
    /// The flow stopped. `code` is akin's machine-readable reason.
    AccessDenied {
        message: String,
        code: Option<&'static str>,
    },
    Redirect {
        to: String,
        final_redirect: bool,
    },
}

impl Challenge {
    pub fn denied(message: impl Into<String>, code: Option<&'static str>) -> Self {
        Challenge::AccessDenied {
            message: message.into(),
            code,
        }
    }

    pub fn component(&self) -> &'static str {
        match self {
            Challenge::Prompt { .. } => "ak-stage-prompt",
            Challenge::Identification { .. } => "ak-stage-identification",
            Challenge::Password { .. } => "ak-stage-password",
            Challenge::UserLogin { .. } => "ak-stage-user-login",
            Challenge::Email { .. } => "ak-stage-email",
            Challenge::AccessDenied { .. } => "ak-stage-access-denied",
            Challenge::Redirect { .. } => "xak-flow-redirect",
        }
    }

    pub fn to_json(&self, info: Option<&FlowInfo>) -> Value {
        let flow_info = info.map(|i| {
            json!({
                "title": i.title,
                "background": "/static/dist/assets/images/flow_background.jpg",
                "background_themed_urls": null,
                "cancel_url": "/flows/-/cancel/",
                "layout": i.layout,
            })
        });
        let mut body = match self {
            Challenge::Prompt { fields, errors } => {
                let mut body = json!({"fields": fields});
                if !errors.is_empty() {
                    body["response_errors"] = Value::Object(errors.clone());
                }
                body
            }
            Challenge::Identification {
                user_fields,
                password_fields,
                designation,
                links,
                errors,
            } => {
                let mut body = json!({
                    "user_fields": user_fields,
                    "password_fields": password_fields,
                    // authentik's label: signing in says so; any other flow goes on.
                    "primary_action": if *designation == Designation::Authentication {
                        "Log in"
                    } else {
                        "Continue"
                    },
                    "sources": [],
                    "show_source_labels": false,
                    "flow_designation": designation,
                    "enable_remember_me": false,
                });
                // Only the links the stage has, as authentik sends them.
                for (key, url) in [
                    ("enroll_url", &links.enroll_url),
                    ("recovery_url", &links.recovery_url),
                    ("passwordless_url", &links.passwordless_url),
                ] {
                    if let Some(url) = url {
                        body[key] = Value::String(url.clone());
                    }
                }
                if !errors.is_empty() {
                    body["response_errors"] = Value::Object(errors.clone());
                }
                body
            }
            Challenge::Password {
                pending_user,
                errors,
            } => {
                let mut body = json!({
                    "pending_user": pending_user,
                    "pending_user_avatar": DEFAULT_AVATAR,
                    "allow_show_password": false,
                });
                if !errors.is_empty() {
                    body["response_errors"] = Value::Object(errors.clone());
                }
                body
            }
            Challenge::Email { errors } => {
                let mut body = json!({});
                if !errors.is_empty() {
                    body["response_errors"] = Value::Object(errors.clone());
                }
                body
            }
            Challenge::UserLogin { pending_user } => json!({
                "pending_user": pending_user,
                "pending_user_avatar": DEFAULT_AVATAR,
            }),
            Challenge::AccessDenied { message, code } => json!({
                "pending_user": "",
                "pending_user_avatar": DEFAULT_AVATAR,
                "error_message": message,
                "code": code,
            }),
            Challenge::Redirect { to, final_redirect } => {
                json!({"to": to, "final_redirect": final_redirect})
            }
        };
        body["component"] = Value::from(self.component());
        if let Some(flow_info) = flow_info {
            body["flow_info"] = flow_info;
        }
        body
    }
}

/// DRF's error-detail shape in challenges: `{"field": [{"string", "code"}]}`.
pub fn error_detail(message: &str, code: &str) -> Value {
    json!({"string": message, "code": code})
}
