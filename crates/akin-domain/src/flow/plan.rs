//! The plan of one flow execution: the stages still to run and the context they share.
//! It is serialised into the server-side session, so any node can continue it.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::options::{Authentication, DeniedAction, Designation, InvalidResponseAction, Layout};
use crate::policy::EngineMode;
use crate::stage::StageSettings;
use crate::stage::settings::InvitationSettings;

/// Stage kinds, by authentik model name (declared in the catalog).
pub use crate::catalog::{
    DENY_STAGE, IDENTIFICATION_STAGE, INVITATION_STAGE, PASSWORD_STAGE, PROMPT_STAGE,
    USER_LOGIN_STAGE, USER_LOGOUT_STAGE, USER_WRITE_STAGE,
};

/// Context keys the stages share.
pub const PROMPT_DATA: &str = "prompt_data";
pub const PENDING_USER: &str = "pending_user";
/// Set when the plan was continued from an email link: the user the link was sent for.
pub const IS_RESTORED: &str = "is_restored";
/// How many times the email stage sent its link (authentik's `email_sent`, counted).
pub const EMAIL_SENT: &str = "email_sent";
/// The page query key of an email link's one-time token.
pub const FLOW_TOKEN: &str = "flow_token";
/// The page query key that asks for a preview (an administrator walking a flow as its
/// visitor would, with nothing written, sent or consumed), and the plan context key that
/// marks a preview plan.
pub const PREVIEW: &str = "akin_preview";

/// Who the flow acts for (`pending_user` in the context).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PendingUser {
    /// An account, by primary key.
    Account(i64),
    /// No account matched what was typed in, and the identification stage pretends one did
    /// (authentik's `pretend_user_exists`): later stages answer as for an account that
    /// fails (a wrong password, a link "sent"), so no answer tells the two apart.
    Unknown(String),
}

/// How [`PendingUser::Unknown`] is kept in the context: an object, never a number, so code
/// reading the pending account's key finds none.
const UNKNOWN_IDENTIFIER: &str = "unknown_identifier";

impl PendingUser {
    /// The pending user in `context`, if any.
    pub fn of(context: &Map<String, Value>) -> Option<Self> {
        match context.get(PENDING_USER)? {
            Value::Number(n) => n.as_i64().map(PendingUser::Account),
            Value::Object(o) => o
                .get(UNKNOWN_IDENTIFIER)
                .and_then(Value::as_str)
                .map(|id| PendingUser::Unknown(id.to_owned())),
            _ => None,
        }
    }

    /// Makes this the pending user in `context`.
    pub fn put(self, context: &mut Map<String, Value>) {
        let value = match self {
            PendingUser::Account(pk) => Value::from(pk),
            PendingUser::Unknown(id) => {
                let mut o = Map::new();
                o.insert(UNKNOWN_IDENTIFIER.into(), Value::String(id));
                Value::Object(o)
            }
        };
        context.insert(PENDING_USER.into(), value);
    }

    /// The account's key; `None` for an unknown identifier.
    pub fn account(&self) -> Option<i64> {
        match self {
            PendingUser::Account(pk) => Some(*pk),
            PendingUser::Unknown(_) => None,
        }
    }
}

/// What the challenges say about the flow, and what its planning needs; read from the
/// flow's stored row (catalog field names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowInfo {
    pub title: String,
    pub layout: Layout,
    pub designation: Designation,
    pub authentication: Authentication,
    pub denied_action: DeniedAction,
}

/// One stage of the plan, with its settings parsed when the flow was planned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedStage {
    /// `None` for a stage akin adds itself (the implicit invitation stage).
    pub binding: Option<Uuid>,
    pub stage: Option<Uuid>,
    pub name: String,
    /// Shared, not copied, when the plan is: a plan is cloned on every request, and its
    /// stages' settings (a prompt stage's prompts) are most of it.
    pub settings: Arc<StageSettings>,
    pub invalid_response_action: InvalidResponseAction,
    /// The binding's policies are checked right before the stage runs (authentik's
    /// `re_evaluate_policies`, when the binding has any); cleared once they passed.
    #[serde(default)]
    pub re_evaluate: bool,
    /// How the binding's policies combine.
    pub policy_engine_mode: EngineMode,
}

impl PlannedStage {
    /// The invitation stage akin puts first in an enrollment flow that has none, so an
    /// invitation link works on any enrollment flow (DESIGN.md, difference 7).
    pub fn implicit_invitation() -> Self {
        Self {
            binding: None,
            stage: None,
            name: "implicit invitation".to_owned(),
            settings: Arc::new(StageSettings::Invitation(InvitationSettings {
                continue_flow_without_invitation: true,
            })),
            invalid_response_action: InvalidResponseAction::Retry,
            re_evaluate: false,
            policy_engine_mode: EngineMode::default(),
        }
    }

    /// authentik's model name for the stage's kind.
    pub fn kind(&self) -> &str {
        self.settings.model()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowPlan {
    pub flow: Uuid,
    pub slug: String,
    pub info: FlowInfo,
    /// Stages still to run, the current one first.
    pub stages: Vec<PlannedStage>,
    pub context: Map<String, Value>,
    /// The invitation token the plan was made for: a link with another token starts over.
    pub token: Option<String>,
}

impl FlowPlan {
    /// Whether this plan is an administrator's preview: stages that write, sign in, send
    /// or consume do nothing.
    pub fn is_preview(&self) -> bool {
        self.context.get(PREVIEW) == Some(&Value::Bool(true))
    }

    /// A plan for the given stages (ordered by binding order). Enrollment flows without an
    /// invitation stage get the implicit one first.
    pub fn new(
        flow: Uuid,
        slug: String,
        info: FlowInfo,
        mut stages: Vec<PlannedStage>,
        token: Option<String>,
    ) -> Self {
        if info.designation == Designation::Enrollment && !has_invitation_stage(&stages) {
            stages.insert(0, PlannedStage::implicit_invitation());
        }
        Self {
            flow,
            slug,
            info,
            stages,
            context: Map::new(),
            token,
        }
    }

    /// Whether an invitation stage will run.
    pub fn has_invitation_stage(&self) -> bool {
        has_invitation_stage(&self.stages)
    }

    pub fn current(&self) -> Option<&PlannedStage> {
        self.stages.first()
    }

    /// The current stage is done.
    pub fn advance(&mut self) {
        if !self.stages.is_empty() {
            self.stages.remove(0);
        }
    }

    /// `prompt_data`, created when missing.
    pub fn prompt_data(&mut self) -> &mut Map<String, Value> {
        let entry = self
            .context
            .entry(PROMPT_DATA.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        entry.as_object_mut().expect("just made an object")
    }

    /// The invitation's fixed data, when an invitation is in effect.
    pub fn fixed_data(&self) -> Map<String, Value> {
        self.context
            .get(crate::invitation::CONTEXT_INVITATION)
            .and_then(|i| i.get("fixed_data"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    }
}

fn has_invitation_stage(stages: &[PlannedStage]) -> bool {
    stages
        .iter()
        .any(|s| matches!(*s.settings, StageSettings::Invitation(_)))
}

/// Who is asking, for the flow's `authentication` requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requester {
    Anonymous,
    User { superuser: bool },
}

/// Whether `requester` may run a flow with this `authentication` requirement.
pub fn may_run(authentication: Authentication, requester: Requester) -> bool {
    match (authentication, requester) {
        (Authentication::RequireAuthenticated, Requester::Anonymous) => false,
        (Authentication::RequireUnauthenticated, Requester::User { .. }) => false,
        (Authentication::RequireSuperuser, Requester::User { superuser }) => superuser,
        (Authentication::RequireSuperuser, Requester::Anonymous) => false,
        // Only reachable when an application redirects to the flow, or from an outpost:
        // akin has neither, so opening such a flow is never applicable.
        (Authentication::RequireRedirect | Authentication::RequireOutpost, _) => false,
        _ => true,
    }
}

/// What a person is told when [`may_run`] says no: about them, not about "the flow".
pub fn not_applicable_message(
    authentication: Authentication,
    requester: Requester,
) -> &'static str {
    match (authentication, requester) {
        (Authentication::RequireUnauthenticated, Requester::User { .. }) => {
            "You are signed in, and this page is for people who are not: log out first, then open the link again."
        }
        (
            Authentication::RequireAuthenticated | Authentication::RequireSuperuser,
            Requester::Anonymous,
        ) => "Log in first, then open this link again.",
        (Authentication::RequireSuperuser, Requester::User { .. }) => {
            "Only administrators can use this page."
        }
        _ => "This page cannot be opened directly.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(designation: Designation) -> FlowInfo {
        FlowInfo {
            title: "t".into(),
            layout: Layout::Stacked,
            designation,
            authentication: Authentication::None,
            denied_action: DeniedAction::MessageContinue,
        }
    }

    #[test]
    fn enrollment_without_invitation_stage_gets_one() {
        let plan = FlowPlan::new(
            Uuid::nil(),
            "f".into(),
            info(Designation::Enrollment),
            vec![],
            None,
        );
        assert_eq!(plan.current().unwrap().kind(), INVITATION_STAGE);
        assert_eq!(
            *plan.current().unwrap().settings,
            StageSettings::Invitation(InvitationSettings {
                continue_flow_without_invitation: true
            })
        );
        let plan = FlowPlan::new(
            Uuid::nil(),
            "f".into(),
            info(Designation::Authentication),
            vec![],
            None,
        );
        assert!(plan.current().is_none());
    }

    #[test]
    fn pending_user_round_trips_and_unknown_has_no_account_key() {
        let mut context = Map::new();
        assert_eq!(PendingUser::of(&context), None);
        PendingUser::Account(7).put(&mut context);
        assert_eq!(PendingUser::of(&context), Some(PendingUser::Account(7)));
        PendingUser::Unknown("who@example.com".into()).put(&mut context);
        let back = PendingUser::of(&context).unwrap();
        assert_eq!(back, PendingUser::Unknown("who@example.com".into()));
        assert_eq!(back.account(), None);
        assert_eq!(context[PENDING_USER].as_i64(), None);
    }

    #[test]
    fn authentication_requirements() {
        assert!(!may_run(
            Authentication::RequireUnauthenticated,
            Requester::User { superuser: false }
        ));
        assert!(may_run(
            Authentication::RequireUnauthenticated,
            Requester::Anonymous
        ));
        assert!(!may_run(
            Authentication::RequireAuthenticated,
            Requester::Anonymous
        ));
        assert!(!may_run(
            Authentication::RequireSuperuser,
            Requester::User { superuser: false }
        ));
        assert!(may_run(
            Authentication::RequireSuperuser,
            Requester::User { superuser: true }
        ));
        assert!(may_run(Authentication::None, Requester::Anonymous));
        for opened_directly in [
            Authentication::RequireRedirect,
            Authentication::RequireOutpost,
        ] {
            assert!(!may_run(opened_directly, Requester::Anonymous));
            assert!(!may_run(
                opened_directly,
                Requester::User { superuser: true }
            ));
        }
    }
}
