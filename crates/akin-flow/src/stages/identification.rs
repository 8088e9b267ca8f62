//! Identification stage: who is signing in, by username or email as the stage allows; a
//! password field on the stage is checked here too, as authentik does. One message whether
//! or not the account exists: no account enumeration.

use akin_domain::flow::plan::PENDING_USER;
use akin_domain::flow::{Challenge, FlowPlan, PlannedStage};
use serde_json::{Map, Value};

use super::password::check_password;
use super::{Outcome, StageKind, StageStep, one_error};
use crate::FlowResult;

pub(crate) struct IdentificationStage;

fn has_password_field(stage: &PlannedStage) -> bool {
    stage
        .config
        .get("password_stage")
        .is_some_and(|p| !p.is_null())
}

fn challenge(plan: &FlowPlan, stage: &PlannedStage, errors: Map<String, Value>) -> Challenge {
    Challenge::Identification {
        user_fields: stage
            .config
            .get("user_fields")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        password_fields: has_password_field(stage),
        designation: plan.info.designation.clone(),
        errors,
    }
}

impl StageKind for IdentificationStage {
    fn unchanged_challenge(&self, plan: &FlowPlan, stage: &PlannedStage) -> Option<Challenge> {
        Some(challenge(plan, stage, Map::new()))
    }

    async fn run(
        &self,
        step: &mut StageStep<'_, '_>,
        stage: &PlannedStage,
        response: Option<Map<String, Value>>,
    ) -> FlowResult<Outcome> {
        let Some(response) = response else {
            return Ok(Outcome::Challenge(challenge(step.plan, stage, Map::new())));
        };
        let uid = response
            .get("uid_field")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim()
            .to_owned();
        let fields: Vec<&str> = stage
            .config
            .get("user_fields")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let ignore_case = stage
            .config
            .get("case_insensitive_matching")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let found = step
            .run
            .engine
            .store
            .user_by_identifier(&uid, &fields, ignore_case)
            .await?
            .filter(|u| u.user.is_active);
        let Some(user) = found else {
            let errors = one_error("non_field_errors", "Failed to authenticate.", "invalid");
            return Ok(Outcome::Challenge(challenge(step.plan, stage, errors)));
        };
        let plan = &mut *step.plan;
        plan.context
            .insert(PENDING_USER.into(), Value::from(user.user.pk));
        plan.context
            .insert("pending_user_identifier".into(), Value::String(uid));
        if has_password_field(stage) {
            let password = response
                .get("password")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !check_password(step.run, plan, &user.user, password).await? {
                plan.context.remove(PENDING_USER);
                let errors = one_error("password", "Invalid password", "invalid");
                return Ok(Outcome::Challenge(challenge(plan, stage, errors)));
            }
        }
        Ok(Outcome::Next)
    }
}
