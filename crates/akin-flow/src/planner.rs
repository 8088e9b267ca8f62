//! Planning: which stages a flow runs for this visitor, decided once when the flow starts
//! (authentik's `FlowPlanner`). The flow's `authentication` requirement, an invitation
//! link, the flow's policies and `evaluate_on_plan` bindings are all settled here.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use akin_domain::catalog;
use akin_domain::flow::plan::{self, Requester};
use akin_domain::flow::{
    Challenge, DeniedAction, FlowInfo, FlowPlan, InvalidResponseAction, PlannedStage,
};
use akin_domain::policy::EngineMode;
use akin_domain::stage::StageSettings;
use akin_domain::stage::prompt::Prompt;
use akin_domain::stage::settings::{FlowLinks, IdentificationSettings};
use serde::Deserialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::executor::Run;
use crate::stages::invitation;
use crate::{FlowError, FlowResult, policy};

/// A flow-stage binding's stored row as planning reads it.
#[derive(Deserialize)]
struct StoredBinding {
    pk: Uuid,
    evaluate_on_plan: bool,
    re_evaluate_policies: bool,
    policy_engine_mode: EngineMode,
    invalid_response_action: InvalidResponseAction,
}

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

/// A flow's stored row as planning reads it.
#[derive(Deserialize)]
struct StoredFlow {
    pk: Uuid,
    policy_engine_mode: EngineMode,
    #[serde(flatten)]
    info: FlowInfo,
}

fn stored_flow(flow: &Map<String, Value>) -> FlowResult<StoredFlow> {
    catalog::typed(catalog::FLOW, flow)
        .map_err(|e| FlowError::Internal(format!("stored flow: {e}")))
}

/// What the challenges say about `flow` (its title and layout for the page, …).
pub(crate) fn flow_info(flow: &Map<String, Value>) -> FlowResult<FlowInfo> {
    Ok(stored_flow(flow)?.info)
}

/// A stage's stored row as its typed settings. A row that does not parse (written around
/// the API, straight into the database) stops the flow at that stage and says so.
fn stage_settings(model: &str, row: &Map<String, Value>) -> StageSettings {
    StageSettings::from_stored(model, row).unwrap_or_else(|error| {
        tracing::error!(%error, model, stage = text(row, "name"), "stored stage settings do not parse");
        StageSettings::Unsupported {
            model: model.to_owned(),
        }
    })
}

/// Plans `flow` for this session, or says why it may not run.
pub(crate) async fn plan(
    run: &Run<'_>,
    flow: &Map<String, Value>,
    token: Option<String>,
) -> FlowResult<Result<FlowPlan, Challenge>> {
    let StoredFlow {
        pk: flow_pk,
        policy_engine_mode,
        info,
    } = stored_flow(flow)?;
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
    if !preview && !plan::may_run(info.authentication, requester) {
        return Ok(Err(Challenge::denied(
            plan::not_applicable_message(info.authentication, requester),
            Some("flow_not_applicable"),
        )));
    }
    // Everything the plan needs, in a handful of queries however many stages the flow has.
    let mut tx = run.engine.store.db().begin().await?;
    let bindings = tx
        .bindings_in_order(catalog::FLOW_STAGE_BINDING, &flow["pk"])
        .await?;
    let stage_pks: Vec<Value> = bindings.iter().map(|b| b["stage"].clone()).collect();
    let mut stages_by_pk: HashMap<String, (String, StageSettings)> = tx
        .find_stages(&stage_pks)
        .await?
        .into_iter()
        .map(|(model, stage)| {
            let name = text(&stage, "name");
            (text(&stage, "pk"), (name, stage_settings(model, &stage)))
        })
        .collect();
    // The prompts travel with the plan, so showing the form reads no prompt rows.
    let prompt_pks: Vec<Value> = stages_by_pk
        .values()
        .filter_map(|(_, settings)| match settings {
            StageSettings::Prompt(prompt) => Some(&prompt.fields),
            _ => None,
        })
        .flatten()
        .map(|pk| Value::String(pk.to_string()))
        .collect();
    let prompts_by_pk: HashMap<Uuid, Prompt> = tx
        .find_objects_in(catalog::PROMPT, "pk", &prompt_pks)
        .await?
        .into_iter()
        .filter_map(|row| {
            let pk = Uuid::parse_str(&text(&row, "pk")).ok()?;
            match catalog::typed::<Prompt>(catalog::PROMPT, &row) {
                Ok(prompt) => Some((pk, prompt)),
                Err(error) => {
                    tracing::error!(%error, prompt = %pk, "stored prompt does not parse");
                    None
                }
            }
        })
        .collect();
    for (_, settings) in stages_by_pk.values_mut() {
        if let StageSettings::Prompt(prompt) = settings {
            prompt.prompts = prompt
                .fields
                .iter()
                .filter_map(|pk| prompts_by_pk.get(pk).cloned())
                .collect();
        }
    }
    link_flows(run, &mut tx, stages_by_pk.values_mut().map(|(_, s)| s)).await?;
    let binding_pks: Vec<Value> = bindings.iter().map(|b| b["pk"].clone()).collect();
    let with_policies: HashSet<String> =
        policy::targets_with_bindings(&mut tx, &binding_pks).await?;
    drop(tx);

    let mut planned = Vec::with_capacity(bindings.len());
    let mut check_on_plan = Vec::new();
    for binding in bindings {
        let Some(stage_pk) = binding["stage"].as_str() else {
            continue;
        };
        let Some((name, settings)) = stages_by_pk.get(stage_pk).cloned() else {
            continue;
        };
        let typed: StoredBinding = match catalog::typed(catalog::FLOW_STAGE_BINDING, &binding) {
            Ok(typed) => typed,
            Err(error) => {
                tracing::error!(%error, "stored flow-stage binding does not parse");
                continue;
            }
        };
        let has_policies = with_policies.contains(&typed.pk.to_string());
        if has_policies && typed.evaluate_on_plan {
            check_on_plan.push(typed.pk);
        }
        planned.push(PlannedStage {
            binding: Some(typed.pk),
            stage: Uuid::parse_str(stage_pk).ok(),
            name,
            settings: Arc::new(settings),
            invalid_response_action: typed.invalid_response_action,
            re_evaluate: has_policies && typed.re_evaluate_policies,
            policy_engine_mode: typed.policy_engine_mode,
        });
    }
    let mut plan = FlowPlan::new(flow_pk, run.slug.to_owned(), info, planned, token.clone());
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

    let flow_bindings = policy::bindings_of(run.engine, &flow["pk"]).await?;
    if !flow_bindings.is_empty() {
        let request =
            policy::flow_request(run.engine, run.origin, run.signed_in, &plan.context).await?;
        let verdict = policy::evaluate(
            run.engine,
            run.origin,
            flow_bindings,
            policy_engine_mode,
            request,
        )
        .await?;
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

/// Fills identification stages' links to their enrollment, recovery and passwordless flows
/// (one query for all of them): `/if/flow/<slug>/` with this page's query, as authentik's.
async fn link_flows<'s>(
    run: &Run<'_>,
    tx: &mut akin_store::Tx,
    stages: impl Iterator<Item = &'s mut StageSettings>,
) -> FlowResult<()> {
    let mut identification: Vec<&mut IdentificationSettings> = stages
        .filter_map(|settings| match settings {
            StageSettings::Identification(id) => Some(id),
            _ => None,
        })
        .collect();
    let pks: Vec<Value> = identification
        .iter()
        .flat_map(|id| [id.enrollment_flow, id.recovery_flow, id.passwordless_flow])
        .flatten()
        .map(|pk| Value::String(pk.to_string()))
        .collect();
    if pks.is_empty() {
        return Ok(());
    }
    let slugs: HashMap<Uuid, String> = tx
        .find_objects_in(catalog::FLOW, "pk", &pks)
        .await?
        .into_iter()
        .filter_map(|flow| {
            Some((
                Uuid::parse_str(&text(&flow, "pk")).ok()?,
                text(&flow, "slug"),
            ))
        })
        .collect();
    let query = run.page_query();
    let link = |flow: Option<Uuid>| {
        let slug = slugs.get(&flow?)?;
        let slug: String = form_urlencoded::byte_serialize(slug.as_bytes()).collect();
        Some(if query.is_empty() {
            format!("/if/flow/{slug}/")
        } else {
            format!("/if/flow/{slug}/?{query}")
        })
    };
    for id in &mut identification {
        id.links = FlowLinks {
            enroll_url: link(id.enrollment_flow),
            recovery_url: link(id.recovery_flow),
            passwordless_url: link(id.passwordless_flow),
        };
    }
    Ok(())
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
