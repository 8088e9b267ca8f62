//! One module per stage kind, each implementing [`StageKind`] on the kind's typed settings
//! (`akin_domain::stage`): what the stage shows, how it answers a response, or that it runs
//! without a challenge. Adding a kind is a module here and one arm in `with_settings!`
//! (docs/architecture.md lists the rest).

pub(crate) mod deny;
pub(crate) mod email;
pub(crate) mod identification;
pub(crate) mod invitation;
pub(crate) mod password;
pub(crate) mod prompt;
pub(crate) mod user_login;
pub(crate) mod user_logout;
pub(crate) mod user_write;

use akin_domain::flow::plan::PendingUser;
use akin_domain::flow::{Challenge, FlowPlan, PlannedStage};
use akin_domain::invitation::Refusal;
use akin_domain::stage::StageSettings;
use serde_json::{Map, Value, json};

use crate::FlowResult;
use crate::executor::{FlowSession, Run};

/// What a stage decided.
pub(crate) enum Outcome {
    /// Show this challenge; the stage stays current.
    Challenge(Challenge),
    /// The response was rejected: the challenge again, with its errors. What happens then
    /// is the binding's `invalid_response_action`, the same for every stage kind.
    Invalid(Challenge),
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

/// Who the flow acts for, as stored now ([`PendingUser`], its account read).
pub(crate) enum Pending {
    Account(Box<akin_domain::user::UserEntry>),
    /// An identifier without an account, which the flow pretends has one.
    Unknown(String),
}

impl Pending {
    /// The name the pending user is shown by.
    pub fn username(&self) -> &str {
        match self {
            Pending::Account(entry) => &entry.user.username,
            Pending::Unknown(identifier) => identifier,
        }
    }
}

/// The plan's pending user; `None` when there is none or its account is gone. (Takes the
/// parts, not the `StageStep`: a step holds the session, which is not `Sync`, and the
/// request's future must stay `Send`.)
pub(crate) async fn pending(run: &Run<'_>, plan: &FlowPlan) -> FlowResult<Option<Pending>> {
    Ok(match PendingUser::of(&plan.context) {
        Some(PendingUser::Account(pk)) => run
            .engine
            .store
            .user_by_pk(pk)
            .await?
            .map(|entry| Pending::Account(Box::new(entry))),
        Some(PendingUser::Unknown(identifier)) => Some(Pending::Unknown(identifier)),
        None => None,
    })
}

/// The plan's pending account; `None` when there is none, it is gone, or the identifier
/// had none.
pub(crate) async fn pending_account(
    run: &Run<'_>,
    plan: &FlowPlan,
) -> FlowResult<Option<akin_domain::user::UserEntry>> {
    Ok(match pending(run, plan).await? {
        Some(Pending::Account(entry)) => Some(*entry),
        _ => None,
    })
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

/// Calls `$body` with `$settings` bound to the stage's typed settings, whose type is the
/// stage kind's module; `$other` for a kind akin does not run. The one list of stage kinds.
macro_rules! with_settings {
    ($stage:expr, $settings:ident => $body:expr, unsupported $model:ident => $other:expr) => {
        match &*$stage.settings {
            StageSettings::Invitation($settings) => $body,
            StageSettings::Prompt($settings) => $body,
            StageSettings::UserWrite($settings) => $body,
            StageSettings::UserLogin($settings) => $body,
            StageSettings::UserLogout => {
                let $settings = &user_logout::UserLogout;
                $body
            }
            StageSettings::Identification($settings) => $body,
            StageSettings::Password($settings) => $body,
            StageSettings::Deny($settings) => $body,
            StageSettings::Email($settings) => $body,
            StageSettings::Unsupported { model: $model } => $other,
        }
    };
}

/// Runs `stage` with `response`. A kind akin does not run stops the flow and says so.
pub(crate) async fn run(
    step: &mut StageStep<'_, '_>,
    stage: &PlannedStage,
    response: Option<Map<String, Value>>,
) -> FlowResult<Outcome> {
    with_settings!(stage, settings => settings.run(step, stage, response).await,
    unsupported model => Ok(Outcome::denied(
        format!("akin cannot run {model} stages yet."),
        "stage_unsupported",
    )))
}

/// The challenge `stage` shows again on a GET without running, if it has one
/// ([`StageKind::unchanged_challenge`]).
pub(crate) fn unchanged_challenge(plan: &FlowPlan, stage: &PlannedStage) -> Option<Challenge> {
    if stage.re_evaluate {
        return None;
    }
    with_settings!(stage, settings => settings.unchanged_challenge(plan, stage),
        unsupported _model => None)
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
