//! One module per stage kind, each behind [`StageKind`]: what the stage shows, how it
//! answers a response, or that it runs without a challenge. Adding a kind is a module here
//! and one arm in `with_kind!` (docs/architecture.md lists the rest).

pub(crate) mod deny;
pub(crate) mod identification;
pub(crate) mod invitation;
pub(crate) mod password;
pub(crate) mod prompt;
pub(crate) mod user_login;
pub(crate) mod user_logout;
pub(crate) mod user_write;

use akin_domain::flow::plan::{
    DENY_STAGE, IDENTIFICATION_STAGE, INVITATION_STAGE, PASSWORD_STAGE, PROMPT_STAGE,
    USER_LOGIN_STAGE, USER_LOGOUT_STAGE, USER_WRITE_STAGE,
};
use akin_domain::flow::{Challenge, FlowPlan, PlannedStage};
use akin_domain::invitation::Refusal;
use serde_json::{Map, Value, json};

use crate::FlowResult;
use crate::executor::{FlowSession, Run};

/// What a stage decided.
pub(crate) enum Outcome {
    /// Show this challenge; the stage stays current.
    Challenge(Challenge),
    /// The stage is done: on to the next.
    Next,
    /// The flow stops here; the plan is dropped.
    Stop(Challenge),
    /// Invalid input on a binding with `invalid_response_action` restart: plan again,
    /// keeping the context when asked (`restart_with_context`).
    Restart { keep_context: bool },
}

impl Outcome {
    /// The flow stops with an access-denied challenge carrying akin's machine code.
    pub fn denied(message: impl Into<String>, code: &'static str) -> Self {
        Outcome::Stop(Challenge::denied(message, Some(code)))
    }

    /// The flow stops because the invitation cannot be used, saying why.
    pub fn refused(refusal: Refusal) -> Self {
        Outcome::Stop(Challenge::denied(refusal.message(), Some(refusal.code())))
    }
}

/// What a running stage may read and change: the request, the plan, the session.
pub(crate) struct StageStep<'a, 'r> {
    pub run: &'a Run<'r>,
    pub plan: &'a mut FlowPlan,
    pub session: &'a mut dyn FlowSession,
}

/// One kind of stage.
pub(crate) trait StageKind: Sync {
    /// The challenge a GET shows again when showing it changes nothing in the plan (a form
    /// whose policies, if any, were already checked); `None` when the stage must run to
    /// know what to show.
    fn unchanged_challenge(&self, _plan: &FlowPlan, _stage: &PlannedStage) -> Option<Challenge> {
        None
    }

    /// Runs the stage: `response` answers its challenge (`None` on a GET). A stage without
    /// a challenge does its work and answers [`Outcome::Next`] at once.
    async fn run(
        &self,
        step: &mut StageStep<'_, '_>,
        stage: &PlannedStage,
        response: Option<Map<String, Value>>,
    ) -> FlowResult<Outcome>;
}

/// Calls `$body` with `$kind` bound to the module for stage model `$model`, or evaluates
/// `$other` for a model akin does not run. The one list of stage kinds.
macro_rules! with_kind {
    ($model:expr, $kind:ident => $body:expr, else $other:expr) => {
        match $model {
            INVITATION_STAGE => {
                let $kind = invitation::InvitationStage;
                $body
            }
            PROMPT_STAGE => {
                let $kind = prompt::PromptStage;
                $body
            }
            USER_WRITE_STAGE => {
                let $kind = user_write::UserWriteStage;
                $body
            }
            USER_LOGIN_STAGE => {
                let $kind = user_login::UserLoginStage;
                $body
            }
            USER_LOGOUT_STAGE => {
                let $kind = user_logout::UserLogoutStage;
                $body
            }
            IDENTIFICATION_STAGE => {
                let $kind = identification::IdentificationStage;
                $body
            }
            PASSWORD_STAGE => {
                let $kind = password::PasswordStage;
                $body
            }
            DENY_STAGE => {
                let $kind = deny::DenyStage;
                $body
            }
            _ => $other,
        }
    };
}

/// Runs `stage` with `response`. A kind akin does not run stops the flow and says so.
pub(crate) async fn run(
    step: &mut StageStep<'_, '_>,
    stage: &PlannedStage,
    response: Option<Map<String, Value>>,
) -> FlowResult<Outcome> {
    with_kind!(stage.kind.as_str(), kind => kind.run(step, stage, response).await, else Ok(Outcome::denied(
        format!("akin cannot run {} stages yet.", stage.kind),
        "stage_unsupported",
    )))
}

/// The challenge `stage` shows again on a GET without running, if it has one
/// ([`StageKind::unchanged_challenge`]).
pub(crate) fn unchanged_challenge(plan: &FlowPlan, stage: &PlannedStage) -> Option<Challenge> {
    if stage.re_evaluate {
        return None;
    }
    with_kind!(stage.kind.as_str(), kind => kind.unchanged_challenge(plan, stage), else None)
}

/// DRF's errors for one field, as a challenge's `response_errors`.
pub(crate) fn one_error(field: &str, message: &str, code: &str) -> Map<String, Value> {
    let mut errors = Map::new();
    errors.insert(
        field.to_owned(),
        json!([akin_domain::flow::challenge::error_detail(message, code)]),
    );
    errors
}
