//! Planning: which stages a flow runs for this visitor, decided once when the flow starts
//! (authentik's `FlowPlanner`). The flow's `authentication` requirement, an invitation
//! link, the flow's policies and `evaluate_on_plan` bindings are all settled here, on the
//! flow's definition as this node holds it (`definitions.rs`).

use std::collections::HashMap;
use std::sync::Arc;

use akin_domain::flow::plan::{self, Requester};
use akin_domain::flow::{Challenge, DeniedAction, FlowInfo, FlowPlan, PlannedStage};
use akin_domain::stage::StageSettings;
use akin_domain::stage::settings::FlowLinks;
use serde_json::Value;
use uuid::Uuid;

use crate::definitions::FlowDefinition;
use crate::executor::Run;
use crate::stages::invitation;
use crate::{FlowResult, policy};

/// Plans `flow` for this session, or says why it may not run.
pub(crate) async fn plan(
    run: &Run<'_>,
    flow: &FlowDefinition,
    token: Option<String>,
) -> FlowResult<Result<FlowPlan, Challenge>> {
    let requester = match run.signed_in {
        None => Requester::Anonymous,
        Some(pk) => match run.engine.store.directory_user(pk).await? {
            Some(user) if user.user.is_active => Requester::User {
                superuser: user.is_superuser,
            },
            _ => Requester::Anonymous,
        },
    };
    // An administrator's preview runs whatever the flow's requirement (a superuser is
    // signed in, where an enrollment usually wants nobody); anyone else asking is refused.
    let preview = run.wants_preview();
    if preview && requester != (Requester::User { superuser: true }) {
        return Ok(Err(Challenge::denied(
            "Only administrators can preview a flow.",
            Some("preview_forbidden"),
        )));
    }
    if !preview && !plan::may_run(flow.info.authentication, requester) {
        return Ok(Err(Challenge::denied(
            plan::not_applicable_message(flow.info.authentication, requester),
            Some("flow_not_applicable"),
        )));
    }

    let links = FlowLinker::new(run, &flow.linked_slugs);
    let planned = flow
        .stages
        .iter()
        .map(|stage| PlannedStage {
            binding: Some(stage.binding),
            stage: stage.stage,
            name: stage.name.clone(),
            settings: links.fill(&stage.settings),
            invalid_response_action: stage.invalid_response_action,
            re_evaluate: stage.re_evaluate,
            policy_engine_mode: stage.policy_engine_mode,
        })
        .collect();
    let mut plan = FlowPlan::new(
        flow.pk,
        run.slug.to_owned(),
        flow.info.clone(),
        planned,
        token.clone(),
    );
    if preview {
        plan.context
            .insert(plan::PREVIEW.to_owned(), Value::Bool(true));
    }

    // The invitation is put into effect before flow policies are evaluated, so a policy
    // on `invitation_in_effect` can make any flow invite-only (DESIGN.md, 7). A token
    // that is present but unusable is refused with its reason here.
    if let Some(token) = token.filter(|_| plan.has_invitation_stage())
        && let Err(refusal) = invitation::put_in_effect(run, &mut plan, &token).await?
    {
        return Ok(Err(Challenge::denied(
            refusal.message(),
            Some(refusal.code()),
        )));
    }

    if !flow.policies.is_empty() {
        let request =
            policy::flow_request(run.engine, run.origin, run.signed_in, &plan.context).await?;
        let verdict = policy::evaluate(
            run.engine,
            run.origin,
            flow.policies.clone(),
            flow.policy_engine_mode,
            request,
        )
        .await?;
        plan.context.extend(verdict.context_updates);
        if !verdict.passing {
            return Ok(Err(flow_denied(run, &plan.info, &verdict.messages)));
        }
    }

    // Bindings with evaluate_on_plan: a stage whose policies fail now is left out.
    for binding in flow.stages.iter().filter(|s| s.check_on_plan) {
        let Some(stage) = plan
            .stages
            .iter()
            .find(|s| s.binding == Some(binding.binding))
            .cloned()
        else {
            continue;
        };
        if !binding_policies_pass(run, &mut plan, &stage).await? {
            plan.stages.retain(|s| s.binding != Some(binding.binding));
        }
    }
    Ok(Ok(plan))
}

/// Fills identification stages' links to their enrollment, recovery and passwordless
/// flows: `/if/flow/<slug>/` with this page's query, as authentik's.
struct FlowLinker<'a> {
    slugs: &'a HashMap<Uuid, String>,
    query: String,
}

impl<'a> FlowLinker<'a> {
    fn new(run: &Run<'_>, slugs: &'a HashMap<Uuid, String>) -> Self {
        Self {
            slugs,
            // Only a flow that links anywhere needs the page's query.
            query: if slugs.is_empty() {
                String::new()
            } else {
                run.page_query()
            },
        }
    }

    fn link(&self, flow: Option<Uuid>) -> Option<String> {
        let slug = self.slugs.get(&flow?)?;
        let slug: String = form_urlencoded::byte_serialize(slug.as_bytes()).collect();
        Some(if self.query.is_empty() {
            format!("/if/flow/{slug}/")
        } else {
            format!("/if/flow/{slug}/?{}", self.query)
        })
    }

    /// `settings` as this plan runs them: shared when nothing links, a copy with the
    /// links filled for an identification stage.
    fn fill(&self, settings: &Arc<StageSettings>) -> Arc<StageSettings> {
        let StageSettings::Identification(id) = &**settings else {
            return settings.clone();
        };
        let mut id = id.clone();
        id.links = FlowLinks {
            enroll_url: self.link(id.enrollment_flow),
            recovery_url: self.link(id.recovery_flow),
            passwordless_url: self.link(id.passwordless_flow),
        };
        Arc::new(StageSettings::Identification(id))
    }
}

/// What a visitor sees when the flow's policies refuse them, by the flow's
/// `denied_action`: `continue` goes on to `next` (or `/`), `message_continue` does when
/// there is a `next`, otherwise the policies' messages are shown.
fn flow_denied(run: &Run<'_>, info: &FlowInfo, messages: &[String]) -> Challenge {
    match (info.denied_action, run.next()) {
        (DeniedAction::Continue, next) | (DeniedAction::MessageContinue, next @ Some(_)) => {
            Challenge::Redirect {
                to: next.unwrap_or("/").to_owned(),
                final_redirect: true,
            }
        }
        _ => {
            let message = if messages.is_empty() {
                "Flow does not apply to current user.".to_owned()
            } else {
                messages.join("\n")
            };
            Challenge::denied(message, Some("flow_not_applicable"))
        }
    }
}

/// Whether the policies bound to `stage`'s flow-stage binding let it run now. What they
/// write into the plan's context is kept.
pub(crate) async fn binding_policies_pass(
    run: &Run<'_>,
    plan: &mut FlowPlan,
    stage: &PlannedStage,
) -> FlowResult<bool> {
    let Some(binding) = stage.binding else {
        return Ok(true);
    };
    let bindings = policy::bindings_of(run.engine, &Value::String(binding.to_string())).await?;
    let request =
        policy::flow_request(run.engine, run.origin, run.signed_in, &plan.context).await?;
    let verdict = policy::evaluate(
        run.engine,
        run.origin,
        bindings,
        stage.policy_engine_mode,
        request,
    )
    .await?;
    plan.context.extend(verdict.context_updates);
    Ok(verdict.passing)
}
