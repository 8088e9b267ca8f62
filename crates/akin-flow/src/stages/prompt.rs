//! Prompt stage: the form. Fields in the invitation's fixed data are filled in, read-only,
//! and keep their fixed value (DESIGN.md, 4); a taken username is caught here, before the
//! account is written; the stage's validation policies see what was entered.

use akin_domain::flow::plan::PROMPT_DATA;
use akin_domain::flow::{Challenge, FlowPlan, PlannedStage};
use akin_domain::policy::EngineMode;
use akin_domain::stage::prompt::{self, PromptStageSettings};
use serde_json::{Map, Value};

use super::{Outcome, StageKind, StageStep};
use crate::{FlowResult, policy};

fn prompt_data(plan: &FlowPlan) -> Map<String, Value> {
    plan.context
        .get(PROMPT_DATA)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

impl StageKind for PromptStageSettings {
    fn unchanged_challenge(&self, plan: &FlowPlan, _stage: &PlannedStage) -> Option<Challenge> {
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
        stage: &PlannedStage,
        response: Option<Map<String, Value>>,
    ) -> FlowResult<Outcome> {
        let Some(response) = response else {
            return Ok(self
                .unchanged_challenge(step.plan, stage)
                .map_or(Outcome::Next, Outcome::Challenge));
        };
        let run = step.run;
        let prompts = &self.prompts;
        let fixed = step.plan.fixed_data();
        let prompt_data = prompt_data(step.plan);
        let show_again = |errors| {
            Outcome::Invalid(Challenge::Prompt {
                fields: prompt::challenge_fields(prompts, &prompt_data, &fixed),
                errors,
            })
        };
        let mut checked = prompt::check_response(prompts, &response, &prompt_data, &fixed);
        for (field, username) in std::mem::take(&mut checked.usernames) {
            if run
                .engine
                .store
                .user_by_username(&username)
                .await?
                .is_some()
            {
                checked.add_error(&field, "Username is already taken.", "invalid");
            }
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
                let messages = if verdict.messages.is_empty() {
                    vec!["The entered values were not accepted.".to_owned()]
                } else {
                    verdict.messages
                };
                let errors: Vec<Value> = messages
                    .iter()
                    .map(|m| akin_domain::flow::challenge::error_detail(m, "invalid"))
                    .collect();
                let mut map = Map::new();
                map.insert("non_field_errors".into(), Value::Array(errors));
                return Ok(show_again(map));
            }
        }
        step.plan.prompt_data().extend(checked.data);
        Ok(Outcome::Next)
    }
}
