//! A stage's settings, parsed once from its stored row when a flow is planned, so running
//! a stage reads typed fields, never JSON. Defaults are the catalog's (one place), filled in
//! before parsing by [`catalog::typed`].

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::Duration;
use uuid::Uuid;

use super::prompt::PromptStageSettings;
use super::user_write::UserWriteSettings;
use crate::catalog;
use crate::catalog::EMAIL_STAGE;
use crate::flow::plan::{
    DENY_STAGE, IDENTIFICATION_STAGE, INVITATION_STAGE, PASSWORD_STAGE, PROMPT_STAGE,
    USER_LOGIN_STAGE, USER_LOGOUT_STAGE, USER_WRITE_STAGE,
};

/// One stage's settings, by kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageSettings {
    Invitation(InvitationSettings),
    Prompt(PromptStageSettings),
    UserWrite(UserWriteSettings),
    UserLogin(UserLoginSettings),
    UserLogout,
    Identification(IdentificationSettings),
    Password(PasswordSettings),
    Deny(DenySettings),
    Email(EmailStageSettings),
    /// A kind akin stores but does not run (yet): the flow stops there and says so.
    Unsupported {
        model: String,
    },
}

impl StageSettings {
    /// Parses the stored row of a stage of `model`. A prompt stage's prompts are not in
    /// its row: the planner adds them ([`PromptStageSettings::prompts`]).
    pub fn from_stored(model: &str, row: &Map<String, Value>) -> Result<Self, serde_json::Error> {
        Ok(match model {
            INVITATION_STAGE => StageSettings::Invitation(catalog::typed(model, row)?),
            PROMPT_STAGE => StageSettings::Prompt(catalog::typed(model, row)?),
            USER_WRITE_STAGE => StageSettings::UserWrite(catalog::typed(model, row)?),
            USER_LOGIN_STAGE => StageSettings::UserLogin(catalog::typed(model, row)?),
            USER_LOGOUT_STAGE => StageSettings::UserLogout,
            IDENTIFICATION_STAGE => StageSettings::Identification(catalog::typed(model, row)?),
            PASSWORD_STAGE => StageSettings::Password(catalog::typed(model, row)?),
            DENY_STAGE => StageSettings::Deny(catalog::typed(model, row)?),
            EMAIL_STAGE => StageSettings::Email(catalog::typed(model, row)?),
            other => StageSettings::Unsupported {
                model: other.to_owned(),
            },
        })
    }

    /// authentik's model name for this kind of stage.
    pub fn model(&self) -> &str {
        match self {
            StageSettings::Invitation(_) => INVITATION_STAGE,
            StageSettings::Prompt(_) => PROMPT_STAGE,
            StageSettings::UserWrite(_) => USER_WRITE_STAGE,
            StageSettings::UserLogin(_) => USER_LOGIN_STAGE,
            StageSettings::UserLogout => USER_LOGOUT_STAGE,
            StageSettings::Identification(_) => IDENTIFICATION_STAGE,
            StageSettings::Password(_) => PASSWORD_STAGE,
            StageSettings::Deny(_) => DENY_STAGE,
            StageSettings::Email(_) => EMAIL_STAGE,
            StageSettings::Unsupported { model } => model,
        }
    }
}

/// authentik's email stage: a link with a one-time token, which continues the flow in
/// whichever browser opens it. Mail goes through the outbox with the global SMTP settings
/// (a stage's own server settings are stored but not used: see docs/api.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailStageSettings {
    /// How long the link works.
    #[serde(with = "duration_text")]
    pub token_expiry: Duration,
    pub subject: String,
    pub template: String,
    /// The pending user (written inactive before) is activated when the link is opened.
    pub activate_user_on_success: bool,
    /// At most this many links to one address within `recovery_cache_timeout`, across
    /// flow executions and nodes: a stranger cannot flood someone's inbox. (Signed as
    /// stored; below one, nothing is sent.)
    pub recovery_max_attempts: i64,
    #[serde(with = "duration_text")]
    pub recovery_cache_timeout: Duration,
    /// Mail goes through the global settings (`AKIN_EMAIL__*`) rather than the stage's
    /// own ([`EmailStageTransport`], read when it is delivered).
    pub use_global_settings: bool,
    /// The `From` of the stage's mail when it uses its own settings.
    pub from_address: String,
}

/// An email stage's own SMTP settings. Read from the stage's row by the delivery worker at
/// each attempt, never kept in a plan (a plan lives in the session; the password stays in
/// the stage).
#[derive(Clone, PartialEq, Deserialize)]
pub struct EmailStageTransport {
    pub use_global_settings: bool,
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: String,
    pub use_tls: bool,
    pub use_ssl: bool,
    /// Seconds.
    pub timeout: u64,
    pub from_address: String,
}

/// Never prints the password.
impl std::fmt::Debug for EmailStageTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailStageTransport")
            .field("use_global_settings", &self.use_global_settings)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("use_tls", &self.use_tls)
            .field("use_ssl", &self.use_ssl)
            .field("timeout", &self.timeout)
            .field("from_address", &self.from_address)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvitationSettings {
    /// Whether a visitor without an invitation link may go on (a token that is present but
    /// unusable is refused all the same: DESIGN.md, 5).
    pub continue_flow_without_invitation: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserLoginSettings {
    /// How long the session lasts; zero: until the browser closes.
    #[serde(with = "duration_text")]
    pub session_duration: Duration,
    /// Offered as "remember me" when positive: a yes lengthens the session by this much.
    #[serde(with = "duration_text")]
    pub remember_me_offset: Duration,
    pub terminate_other_sessions: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdentificationSettings {
    /// Which user fields the identifier is matched against (`username`, `email`, `upn`).
    pub user_fields: Vec<String>,
    /// A password stage whose field is shown on this stage and checked here.
    pub password_stage: Option<Uuid>,
    pub case_insensitive_matching: bool,
    /// An unknown identifier goes on as if it were known (when no password is asked on
    /// this stage), so the next stage's answer cannot tell whether the account exists.
    pub pretend_user_exists: bool,
    /// Flows the page links to: "Sign up", "Forgot password?", passwordless sign-in.
    pub enrollment_flow: Option<Uuid>,
    pub recovery_flow: Option<Uuid>,
    pub passwordless_flow: Option<Uuid>,
    /// Those flows' addresses, filled in when the flow is planned.
    #[serde(default)]
    pub links: FlowLinks,
}

/// Where an identification stage sends people who have no account, forgot their password,
/// or sign in without one: `/if/flow/<slug>/` with the page's own query, as authentik's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FlowLinks {
    pub enroll_url: Option<String>,
    pub recovery_url: Option<String>,
    pub passwordless_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PasswordSettings {
    /// Failed attempts after which the flow stops.
    pub failed_attempts_before_cancel: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DenySettings {
    /// Shown to the visitor; empty for akin's own message.
    pub deny_message: String,
}

/// authentik's duration text (`hours=1;minutes=30`), read into a [`Duration`] and written
/// back in the same syntax.
mod duration_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Duration;

    use crate::time_format::parse_duration;

    pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format!("seconds={}", duration.as_seconds_f64()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        Ok(parse_duration(&String::deserialize(deserializer)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn defaults_come_from_the_catalog() {
        let settings = StageSettings::from_stored(PASSWORD_STAGE, &row(json!({"name": "p"})));
        assert_eq!(
            settings.unwrap(),
            StageSettings::Password(PasswordSettings {
                failed_attempts_before_cancel: 5
            })
        );
        let StageSettings::Identification(identification) =
            StageSettings::from_stored(IDENTIFICATION_STAGE, &row(json!({"name": "i"}))).unwrap()
        else {
            panic!("an identification stage");
        };
        assert!(identification.case_insensitive_matching);
        assert_eq!(identification.user_fields, ["username", "email"]);
    }

    #[test]
    fn durations_are_parsed_once_and_survive_the_session() {
        let stored = row(json!({"name": "l", "session_duration": "hours=1;minutes=30"}));
        let settings = StageSettings::from_stored(USER_LOGIN_STAGE, &stored).unwrap();
        let StageSettings::UserLogin(login) = &settings else {
            panic!("a login stage");
        };
        assert_eq!(login.session_duration, Duration::minutes(90));
        assert_eq!(login.remember_me_offset, Duration::ZERO);
        let again: StageSettings =
            serde_json::from_value(serde_json::to_value(&settings).unwrap()).unwrap();
        assert_eq!(again, settings);
    }

    #[test]
    fn unknown_kinds_are_kept_by_name_and_bad_rows_are_errors() {
        let email = catalog::EMAIL_STAGE;
        let settings = StageSettings::from_stored(email, &row(json!({}))).unwrap();
        assert_eq!(settings.model(), email);
        let bad = row(json!({"user_creation_mode": "sometimes"}));
        let error = StageSettings::from_stored(USER_WRITE_STAGE, &bad).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("\"sometimes\" is not a valid choice.")
        );
    }
}
