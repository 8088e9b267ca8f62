//! Invitation stage: the link's invitation is looked up and put into effect — its fixed
//! data joins `prompt_data`. Nothing is consumed here: the user-write stage claims the
//! invitation in the transaction that writes the account (DESIGN.md, 1). A token that is
//! present but unusable is refused even when the stage may continue without one (5).

use akin_domain::flow::plan::PROMPT_DATA;
use akin_domain::flow::{FlowPlan, PlannedStage};
use akin_domain::invitation::{self, CONTEXT_IN_EFFECT, CONTEXT_INVITATION, Refusal, VisitStep};
use akin_domain::stage::settings::InvitationSettings;
use serde_json::{Map, Value};

use super::{Outcome, StageKind, StageStep};
use crate::FlowResult;
use crate::executor::Run;

impl StageKind for InvitationSettings {
    async fn run(
        &self,
        step: &mut StageStep<'_, '_>,
        _stage: &PlannedStage,
        _response: Option<Map<String, Value>>,
    ) -> FlowResult<Outcome> {
        // The token comes from the link, or from a prompt field named like it.
        let prompt_token = step
            .plan
            .context
            .get(PROMPT_DATA)
            .and_then(|p| p.get(invitation::TOKEN_PROMPT_KEY))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let Some(token) = step.run.token().or(prompt_token) else {
            return Ok(if self.continue_flow_without_invitation {
                Outcome::Next
            } else {
                Outcome::refused(Refusal::Missing)
            });
        };
        Ok(match put_in_effect(step.run, step.plan, &token).await? {
            Ok(()) => Outcome::Next,
            Err(refusal) => Outcome::refused(refusal),
        })
    }
}

/// Looks the invitation up and, when it may be used in this flow now, puts it into the
/// plan: `invitation_in_effect`, `invitation`, and its fixed data in `prompt_data`.
pub(crate) async fn put_in_effect(
    run: &Run<'_>,
    plan: &mut FlowPlan,
    token: &str,
) -> FlowResult<Result<(), Refusal>> {
    let Some(uuid) = invitation::parse_token(token) else {
        return Ok(Err(Refusal::NotFound));
    };
    let in_plan = plan
        .context
        .get(CONTEXT_INVITATION)
        .and_then(|i| i.get("pk"))
        .and_then(Value::as_str)
        == Some(uuid.to_string().as_str());
    if in_plan && run.invitation_checked.get() == Some(&uuid) {
        return Ok(Ok(()));
    }
    let Some(found) = run.engine.store.invitation(uuid).await? else {
        return Ok(Err(Refusal::NotFound));
    };
    if let Err(refusal) = found.check(plan.flow, run.now) {
        return Ok(Err(refusal));
    }
    // A visit opened it: counted once per plan (the planner puts it into effect, and the
    // invitation stage again); a link scanner's GET counts here too.
    if !in_plan
        && !plan.is_preview()
        && let Err(error) = run
            .engine
            .store
            .count_invitation_visit(uuid, VisitStep::Opened)
            .await
    {
        tracing::warn!(%error, "could not count an invitation's visit");
    }
    plan.context
        .insert(CONTEXT_IN_EFFECT.into(), Value::Bool(true));
    plan.context
        .insert(CONTEXT_INVITATION.into(), found.to_context());
    invitation::deep_merge(plan.prompt_data(), &found.effective_fixed_data());
    plan.token = Some(token.to_owned());
    let _ = run.invitation_checked.set(uuid);
    Ok(Ok(()))
}
