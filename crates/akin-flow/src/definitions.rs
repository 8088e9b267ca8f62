//! What planning reads of a flow — the flow, its stage bindings, stages, prompts, the flows
//! its identification stages link to, and which bindings have policies — kept in memory
//! per node, by slug. Starting a flow read all of it every time (eleven statements of a
//! two-stage enrollment's thirty); it changes only when an administrator edits a flow.
//!
//! The database raises `flow_definitions_version` in the transaction of every change to
//! those tables (migration 0022). A definition read under one number is used while the
//! number stays; the node looks at it as it does for tokens (akin-store's `versions.rs`):
//! its own edits count for the very next plan, other nodes' and the CLI's within
//! [`akin_store::RECHECK`].

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use akin_domain::catalog;
use akin_domain::flow::{FlowInfo, InvalidResponseAction};
use akin_domain::policy::{Binding, EngineMode};
use akin_domain::stage::StageSettings;
use akin_domain::stage::prompt::Prompt;
use akin_store::VersionedMap;
use serde::Deserialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::{Engine, FlowError, FlowResult, policy};

/// Beyond this many flows kept, the cache starts over (an unknown slug is never kept).
const CACHE_LIMIT: usize = 256;

/// A flow as planning needs it, read once per change of the flows' tables.
#[derive(Debug)]
pub(crate) struct FlowDefinition {
    pub pk: Uuid,
    pub policy_engine_mode: EngineMode,
    pub info: FlowInfo,
    /// In binding order; bindings whose stage is gone or whose row does not parse are
    /// left out.
    pub stages: Vec<DefinedStage>,
    /// The slugs of the flows identification stages link to, by pk.
    pub linked_slugs: HashMap<Uuid, String>,
    /// The flow's own policy bindings.
    pub policies: Vec<Binding>,
}

/// One flow-stage binding with its stage.
#[derive(Debug)]
pub(crate) struct DefinedStage {
    pub binding: Uuid,
    pub stage: Option<Uuid>,
    pub name: String,
    /// With identification stages' links still empty: they carry the page's query and are
    /// filled per plan.
    pub settings: Arc<StageSettings>,
    pub invalid_response_action: InvalidResponseAction,
    pub policy_engine_mode: EngineMode,
    /// The binding has enabled policies and checks them when the flow is planned.
    pub check_on_plan: bool,
    /// The binding has enabled policies and checks them right before the stage runs.
    pub re_evaluate: bool,
}

/// The definitions this node holds, by slug.
pub(crate) type FlowDefinitions = VersionedMap<String, FlowDefinition>;

/// An empty cache of definitions.
pub(crate) fn cache() -> FlowDefinitions {
    VersionedMap::new(CACHE_LIMIT)
}

/// The flow `slug` as planning needs it: from memory when nothing changed since it was
/// read. [`FlowError::NotFound`] when there is no such flow.
pub(crate) async fn definition(engine: &Engine, slug: &str) -> FlowResult<Arc<FlowDefinition>> {
    // Read before the definition, so what is read is at least this fresh.
    let version = engine.store.flow_definitions_version().await?;
    if let Some(found) = engine.definitions.get(version, slug) {
        return Ok(found);
    }
    let found = Arc::new(read_definition(engine, slug).await?);
    engine
        .definitions
        .insert(version, slug.to_owned(), found.clone());
    Ok(found)
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

/// A flow-stage binding's stored row as planning reads it.
#[derive(Deserialize)]
struct StoredBinding {
    pk: Uuid,
    evaluate_on_plan: bool,
    re_evaluate_policies: bool,
    policy_engine_mode: EngineMode,
    invalid_response_action: InvalidResponseAction,
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

/// Everything a plan of `slug` needs, in a handful of queries however many stages the
/// flow has.
async fn read_definition(engine: &Engine, slug: &str) -> FlowResult<FlowDefinition> {
    let mut tx = engine.store.db().begin().await?;
    let flow = tx
        .flow_by_slug(slug)
        .await?
        .ok_or(FlowError::NotFound("Flow"))?;
    let StoredFlow {
        pk,
        policy_engine_mode,
        info,
    } = catalog::typed(catalog::FLOW, &flow)
        .map_err(|e| FlowError::Internal(format!("stored flow: {e}")))?;
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
    let linked_slugs = linked_slugs(&mut tx, stages_by_pk.values().map(|(_, s)| s)).await?;
    let binding_pks: Vec<Value> = bindings.iter().map(|b| b["pk"].clone()).collect();
    let with_policies: HashSet<String> =
        policy::targets_with_bindings(&mut tx, &binding_pks).await?;
    drop(tx);

    let mut stages = Vec::with_capacity(bindings.len());
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
        stages.push(DefinedStage {
            binding: typed.pk,
            stage: Uuid::parse_str(stage_pk).ok(),
            name,
            settings: Arc::new(settings),
            invalid_response_action: typed.invalid_response_action,
            policy_engine_mode: typed.policy_engine_mode,
            check_on_plan: has_policies && typed.evaluate_on_plan,
            re_evaluate: has_policies && typed.re_evaluate_policies,
        });
    }
    let policies = policy::bindings_of(engine, &flow["pk"]).await?;
    Ok(FlowDefinition {
        pk,
        policy_engine_mode,
        info,
        stages,
        linked_slugs,
        policies,
    })
}

/// The slugs of the enrollment, recovery and passwordless flows that identification
/// stages link to (one query for all of them).
async fn linked_slugs<'s>(
    tx: &mut akin_store::Tx,
    stages: impl Iterator<Item = &'s StageSettings>,
) -> FlowResult<HashMap<Uuid, String>> {
    let pks: Vec<Value> = stages
        .filter_map(|settings| match settings {
            StageSettings::Identification(id) => Some(id),
            _ => None,
        })
        .flat_map(|id| [id.enrollment_flow, id.recovery_flow, id.passwordless_flow])
        .flatten()
        .map(|pk| Value::String(pk.to_string()))
        .collect();
    if pks.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(tx
        .find_objects_in(catalog::FLOW, "pk", &pks)
        .await?
        .into_iter()
        .filter_map(|flow| {
            Some((
                Uuid::parse_str(&text(&flow, "pk")).ok()?,
                text(&flow, "slug"),
            ))
        })
        .collect())
}
