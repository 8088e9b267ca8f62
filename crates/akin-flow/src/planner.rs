//! Planning: which stages a flow runs for this visitor, decided once when the flow starts
//! (authentik's `FlowPlanner`). The flow's `authentication` requirement, an invitation
//! link, the flow's policies and `evaluate_on_plan` bindings are all settled here.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use akin_domain::catalog;
use akin_domain::flow::plan::{self, INVITATION_STAGE, PROMPT_STAGE, Requester};
use akin_domain::flow::{Challenge, FlowInfo, FlowPlan, PlannedStage};
use akin_domain::policy::EngineMode;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::executor::Run;
use crate::stages::{self, invitation};
use crate::{FlowError, FlowResult, policy};

/// The flow being run, as stored: read only when planning (a plan carries what its
/// stages need).
pub(crate) async fn find_flow(run: &Run<'_>) -> FlowResult<Map<String, Value>> {
    run.engine
        .store
        .find_objects(
            catalog::FLOW,
            &[("slug".to_owned(), Value::String(run.slug.to_owned()))],
        )
        .await?
        .into_iter()
        .next()
        .ok_or(FlowError::NotFound("Flow"))
}

fn text(object: &Map<String, Value>, key: &str) -> String {
    object
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// What the challenges say about `flow` (its title and layout for the page, …).
pub(crate) fn flow_info(flow: &Map<String, Value>) -> FlowInfo {
    FlowInfo {
        title: text(flow, "title"),
        layout: Some(text(flow, "layout"))
            .filter(|l| !l.is_empty())
            .unwrap_or_else(|| "stacked".into()),
        designation: text(flow, "designation"),
        authentication: text(flow, "authentication"),
        denied_action: text(flow, "denied_action"),
    }
}

/// Plans `flow` for this session, or says why it may not run.
pub(crate) async fn plan(
    run: &Run<'_>,
    flow: &Map<String, Value>,
    token: Option<String>,
) -> FlowResult<Result<FlowPlan, Challenge>> {
    let info = flow_info(flow);
    let requester = match run.signed_in {
        None => Requester::Anonymous,
        Some(pk) => match run.engine.store.user_by_pk(pk).await? {
            Some(user) if user.user.is_active => Requester::User {
                superuser: user.is_superuser,
            },
            _ => Requester::Anonymous,
        },
    };
    if !plan::may_run(&info.authentication, requester) {
        return Ok(Err(Challenge::denied(
            "Flow does not apply to current user.",
            Some("flow_not_applicable"),
        )));
    }
    let flow_pk = Uuid::parse_str(flow["pk"].as_str().unwrap_or_default())
        .map_err(|e| FlowError::Internal(format!("stored flow pk: {e}")))?;
    // Everything the plan needs, in a handful of queries however many stages the flow has.
    let mut tx = run.engine.store.db().begin().await?;
    let mut bindings = tx
        .find_objects(
            catalog::FLOW_STAGE_BINDING,
            &[("target".to_owned(), flow["pk"].clone())],
        )
        .await?;
    bindings.sort_by_key(|b| b["order"].as_i64().unwrap_or_default());
    let stage_pks: Vec<Value> = bindings.iter().map(|b| b["stage"].clone()).collect();
    let stages_by_pk: HashMap<String, (&'static str, Map<String, Value>)> = tx
        .find_stages(&stage_pks)
        .await?
        .into_iter()
        .map(|(kind, stage)| (text(&stage, "pk"), (kind, stage)))
        .collect();
    let prompt_pks: Vec<Value> = stages_by_pk
        .values()
        .filter(|(kind, _)| *kind == PROMPT_STAGE)
        .filter_map(|(_, stage)| stage.get("fields").and_then(Value::as_array))
        .flatten()
        .cloned()
        .collect();
    let prompts_by_pk: HashMap<String, Map<String, Value>> = tx
        .find_objects_in(catalog::PROMPT, "pk", &prompt_pks)
        .await?
        .into_iter()
        .map(|prompt| (text(&prompt, "pk"), prompt))
        .collect();
    let binding_pks: Vec<Value> = bindings.iter().map(|b| b["pk"].clone()).collect();
    let with_policies: HashSet<String> =
        policy::targets_with_bindings(&mut tx, &binding_pks).await?;
    drop(tx);

    let mut planned = Vec::with_capacity(bindings.len());
    let mut check_on_plan = Vec::new();
    for binding in bindings {
        let Some((kind, stage)) = binding["stage"]
            .as_str()
            .and_then(|pk| stages_by_pk.get(pk))
            .cloned()
        else {
            continue;
        };
        let mut stage = stage;
        if kind == PROMPT_STAGE {
            stages::prompt::attach_prompts(&mut stage, &prompts_by_pk);
        }
        let binding_pk = binding["pk"].as_str().and_then(|p| Uuid::parse_str(p).ok());
        let has_policies = with_policies.contains(&text(&binding, "pk"));
        let flag =
            |key: &str, default: bool| binding.get(key).and_then(Value::as_bool).unwrap_or(default);
        if has_policies && flag("evaluate_on_plan", false) {
            check_on_plan.extend(binding_pk);
        }
        planned.push(PlannedStage {
            binding: binding_pk,
            stage: stage["pk"].as_str().and_then(|p| Uuid::parse_str(p).ok()),
            kind: kind.to_owned(),
            name: text(&stage, "name"),
            config: Arc::new(stage),
            invalid_response_action: text(&binding, "invalid_response_action"),
            re_evaluate: has_policies && flag("re_evaluate_policies", true),
            policy_engine_mode: text(&binding, "policy_engine_mode"),
        });
    }
    let mut plan = FlowPlan::new(flow_pk, run.slug.to_owned(), info, planned, token.clone());

    // The invitation is put into effect before flow policies are evaluated, so a policy
    // on `invitation_in_effect` can make any flow invite-only (DESIGN.md, 7). A token
    // that is present but unusable is refused with its reason here.
    if let Some(token) = token.filter(|_| plan.has_stage(INVITATION_STAGE))
        && let Err(refusal) = invitation::put_in_effect(run, &mut plan, &token).await?
    {
        return Ok(Err(Challenge::denied(
            refusal.message(),
            Some(refusal.code()),
        )));
    }

    let flow_bindings = policy::bindings_of(run.engine, &flow["pk"]).await?;
    if !flow_bindings.is_empty() {
        let request =
            policy::flow_request(run.engine, run.origin, run.signed_in, &plan.context).await?;
        let mode = EngineMode::parse(&text(flow, "policy_engine_mode"));
        let verdict =
            policy::evaluate(run.engine, run.origin, flow_bindings, mode, request).await?;
        plan.context.extend(verdict.context_updates);
        if !verdict.passing {
            return Ok(Err(flow_denied(run, &plan.info, &verdict.messages)));
        }
    }

    // Bindings with evaluate_on_plan: a stage whose policies fail now is left out.
    for binding in check_on_plan {
        let Some(stage) = plan
            .stages
            .iter()
            .find(|s| s.binding == Some(binding))
            .cloned()
        else {
            continue;
        };
        if !binding_policies_pass(run, &mut plan, &stage).await? {
            plan.stages.retain(|s| s.binding != Some(binding));
        }
    }
    Ok(Ok(plan))
}

/// What a visitor sees when the flow's policies refuse them, by the flow's
/// `denied_action`: `continue` goes on to `next` (or `/`), `message_continue` does when
/// there is a `next`, otherwise the policies' messages are shown.
fn flow_denied(run: &Run<'_>, info: &FlowInfo, messages: &[String]) -> Challenge {
    match (info.denied_action.as_str(), run.next()) {
        ("continue", next) | ("message_continue", next @ Some(_)) => Challenge::Redirect {
            to: next.unwrap_or("/").to_owned(),
            final_redirect: true,
        },
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
    let mode = EngineMode::parse(&stage.policy_engine_mode);
    let verdict = policy::evaluate(run.engine, run.origin, bindings, mode, request).await?;
    plan.context.extend(verdict.context_updates);
    Ok(verdict.passing)
}
