//! Prompt stage: the form. Fields in the invitation's fixed data are filled in, read-only,
//! and keep their fixed value (DESIGN.md, 4); a taken username is caught here, before the
//! account is written; the stage's validation policies see what was entered.

use akin_domain::flow::plan::PROMPT_DATA;
use akin_domain::flow::{Challenge, FlowPlan, PlannedStage};
use akin_domain::invitation::{self, CONTEXT_INVITATION};
use akin_domain::policy::{EngineMode, PolicyRequest};
use akin_domain::stage::prompt::{self, CHOICES_SUFFIX, Prompt, PromptStageSettings};
use serde_json::{Map, Value};

use super::{Outcome, StageKind, StageStep};
use crate::executor::Run;
use crate::{Engine, FlowResult, policy};

fn prompt_data(plan: &FlowPlan) -> Map<String, Value> {
    plan.context
        .get(PROMPT_DATA)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// The prompts as this person sees them now, and the `prompt_data` the form is built
/// from: computed placeholders and initial values evaluated (authentik's
/// `get_placeholder`, `get_initial_value`, `get_choices`); a choice field's computed
/// choices go in as `<field_key>__choices`. A failing expression gives an empty value and
/// a warning in the log, never its source as text.
async fn computed(
    settings: &PromptStageSettings,
    run: &Run<'_>,
    plan: &FlowPlan,
) -> FlowResult<(Vec<Prompt>, Map<String, Value>)> {
    let prompts = settings.prompts.clone();
    let data = prompt_data(plan);
    if !prompts.iter().any(Prompt::is_computed) {
        return Ok((prompts, data));
    }
    let request =
        policy::flow_request(run.engine, run.origin, run.signed_in, &plan.context).await?;
    let computed = compute(run.engine, request, prompts, data).await?;
    for (field, error) in &computed.errors {
        tracing::warn!(%error, field, "a prompt's expression failed");
    }
    Ok((computed.prompts, computed.data))
}

/// Prompts with their expressions evaluated for one request.
pub(crate) struct Computed {
    pub prompts: Vec<Prompt>,
    pub data: Map<String, Value>,
    /// `(field_key, error)` for each expression that failed (its value is empty).
    pub errors: Vec<(String, String)>,
}

/// Evaluates `prompts`' expressions for `request` with `data` as `prompt_context`.
pub(crate) async fn compute(
    engine: &Engine,
    request: PolicyRequest,
    mut prompts: Vec<Prompt>,
    mut data: Map<String, Value>,
) -> FlowResult<Computed> {
    // (prompt index, whether it is the placeholder, expression) for each value to compute.
    let mut wanted: Vec<(usize, bool, String)> = Vec::new();
    for (i, prompt) in prompts.iter().enumerate() {
        let choices_key = format!("{}{CHOICES_SUFFIX}", prompt.field_key);
        if prompt.placeholder_expression && !(prompt.is_choice() && data.contains_key(&choices_key))
        {
            wanted.push((i, true, prompt.placeholder.clone()));
        }
        if prompt.initial_value_expression && !data.contains_key(&prompt.field_key) {
            wanted.push((i, false, prompt.initial_value.clone()));
        }
    }
    let mut errors = Vec::new();
    if wanted.is_empty() {
        return Ok(Computed {
            prompts,
            data,
            errors,
        });
    }
    let expressions = wanted.iter().map(|(_, _, e)| e.clone()).collect();
    let results = policy::evaluate_mappings(engine, request, data.clone(), expressions).await?;
    for ((i, is_placeholder, _), result) in wanted.into_iter().zip(results) {
        let prompt = &mut prompts[i];
        let value = result.unwrap_or_else(|error| {
            errors.push((prompt.field_key.clone(), error));
            Value::Null
        });
        match (is_placeholder, prompt.is_choice()) {
            (true, true) => {
                let choices = if value.is_null() {
                    Value::Array(Vec::new())
                } else {
                    value
                };
                data.insert(format!("{}{CHOICES_SUFFIX}", prompt.field_key), choices);
            }
            (true, false) => prompt.placeholder = prompt::as_text(&value),
            (false, _) => {
                // A list offers several defaults in authentik; a single field takes the first.
                let value = match value {
                    Value::Array(items) => items.into_iter().next().unwrap_or(Value::Null),
                    other => other,
                };
                prompt.initial_value = prompt::as_text(&value);
            }
        }
    }
    Ok(Computed {
        prompts,
        data,
        errors,
    })
}

impl StageKind for PromptStageSettings {
    fn unchanged_challenge(&self, plan: &FlowPlan, _stage: &PlannedStage) -> Option<Challenge> {
        // Computed values depend on who is asking and on the plan: they are computed anew.
        if self.prompts.iter().any(Prompt::is_computed) {
            return None;
        }
        let empty = Map::new();
        let prompt_data = plan
            .context
            .get(PROMPT_DATA)
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let fields = prompt::challenge_fields(&self.prompts, prompt_data, &plan.fixed_data());
        Some(Challenge::Prompt {
            fields,
            errors: Map::new(),
        })
    }

    async fn run(
        &self,
        step: &mut StageStep<'_, '_>,
        _stage: &PlannedStage,
        response: Option<Map<String, Value>>,
    ) -> FlowResult<Outcome> {
        let (prompts, prompt_data) = computed(self, step.run, step.plan).await?;
        let prompts = &prompts;
        let fixed = step.plan.fixed_data();
        let Some(response) = response else {
            return Ok(Outcome::Challenge(Challenge::Prompt {
                fields: prompt::challenge_fields(prompts, &prompt_data, &fixed),
                errors: Map::new(),
            }));
        };
        let run = step.run;
        let show_again = |errors| {
            Outcome::Invalid(Challenge::Prompt {
                fields: prompt::challenge_fields(prompts, &prompt_data, &fixed),
                errors,
            })
        };
        let mut checked = prompt::check_response(prompts, &response, &prompt_data, &fixed);
        for (field, username) in std::mem::take(&mut checked.usernames) {
            if run.engine.store.username_taken(&username).await? {
                checked.add_error(&field, "Username is already taken.", "invalid");
            }
        }
        // An invitation bound to an address or a domain says so here, where the person can
        // correct it (the claim checks again).
        let rule = step
            .plan
            .context
            .get(CONTEXT_INVITATION)
            .and_then(|i| i.get("allowed_email"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        if let Some(email) = checked.data.get("email").and_then(Value::as_str)
            && !invitation::email_allowed(rule, email)
        {
            checked.add_error("email", &invitation::email_rule_message(rule), "invalid");
        }
        if !checked.errors.is_empty() {
            return Ok(show_again(checked.errors));
        }
        // The stage's validation policies see the submitted data as `prompt_data`; their
        // messages come back as errors the person can correct.
        if !self.validation_policies.is_empty() {
            let bindings =
                policy::policies_as_bindings(run.engine, &self.validation_policies).await?;
            let mut context = step.plan.context.clone();
            let mut submitted = prompt_data.clone();
            submitted.extend(checked.data.clone());
            context.insert(PROMPT_DATA.into(), Value::Object(submitted));
            let request =
                policy::flow_request(run.engine, run.origin, run.signed_in, &context).await?;
            let verdict =
                policy::evaluate(run.engine, run.origin, bindings, EngineMode::All, request)
                    .await?;
            if !verdict.passing {
                // Messages about a field (a password policy's) go next to it; the rest
                // above the form.
                let mut map = Map::new();
                let detail = |m: &String| akin_domain::flow::challenge::error_detail(m, "invalid");
                let mut general = Vec::new();
                for (field, message) in &verdict.field_messages {
                    let Some(field) = field else {
                        general.push(detail(message));
                        continue;
                    };
                    if let Value::Array(errors) = map
                        .entry(field.clone())
                        .or_insert_with(|| Value::Array(Vec::new()))
                    {
                        errors.push(detail(message));
                    }
                }
                if general.is_empty() && map.is_empty() {
                    general.push(detail(&"The entered values were not accepted.".to_owned()));
                }
                if !general.is_empty() {
                    map.insert("non_field_errors".into(), Value::Array(general));
                }
                return Ok(show_again(map));
            }
        }
        step.plan.prompt_data().extend(checked.data);
        Ok(Outcome::Next)
    }
}
