//! Identification stage: who is signing in, by username or email as the stage allows; a
//! password field on the stage is checked here too, as authentik does. One message, in the
//! same time, whether or not the account exists; without a password field an unknown
//! identifier goes on as if it were known (`pretend_user_exists`): no account enumeration.

use akin_domain::flow::plan::{PENDING_USER, PendingUser};
use akin_domain::flow::{Challenge, FlowPlan, PlannedStage};
use akin_domain::stage::settings::IdentificationSettings;
use serde_json::{Map, Value};

use super::password::{PasswordCheck, check_password, check_unknown, throttled};
use super::{Outcome, StageKind, StageStep, one_error};
use crate::FlowResult;

/// authentik's one answer to a wrong identifier or password.
fn failed() -> Map<String, Value> {
    one_error("non_field_errors", "Failed to authenticate.", "invalid")
}

fn challenge(
    settings: &IdentificationSettings,
    plan: &FlowPlan,
    errors: Map<String, Value>,
) -> Challenge {
    Challenge::Identification {
        user_fields: settings.user_fields.clone(),
        password_fields: settings.password_stage.is_some(),
        designation: plan.info.designation,
        links: settings.links.clone(),
        errors,
    }
}

impl StageKind for IdentificationSettings {
    fn unchanged_challenge(&self, plan: &FlowPlan, _stage: &PlannedStage) -> Option<Challenge> {
        Some(challenge(self, plan, Map::new()))
    }

    async fn run(
        &self,
        step: &mut StageStep<'_, '_>,
        _stage: &PlannedStage,
        response: Option<Map<String, Value>>,
    ) -> FlowResult<Outcome> {
        let Some(response) = response else {
            return Ok(Outcome::Challenge(challenge(self, step.plan, Map::new())));
        };
        let uid = response
            .get("uid_field")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim()
            .to_owned();
        let fields: Vec<&str> = self.user_fields.iter().map(String::as_str).collect();
        let found = step
            .run
            .engine
            .store
            .user_by_identifier(&uid, &fields, self.case_insensitive_matching)
            .await?
            .filter(|u| u.user.is_active);
        let password = response
            .get("password")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let plan = &mut *step.plan;
        plan.context
            .insert("pending_user_identifier".into(), Value::String(uid.clone()));
        let Some(user) = found else {
            let mut errors = failed();
            if self.password_stage.is_some() {
                // As long as a wrong password takes: no account enumeration by timing.
                if let PasswordCheck::Throttled(wait) =
                    check_unknown(step.run, plan, &uid, password).await?
                {
                    errors = throttled(wait, "non_field_errors");
                }
            } else {
                // authentik's `identification_failed` (with a password on this stage, the
                // failed password check lowers it instead).
                crate::reputation::failed(step.run, &uid).await;
                if self.pretend_user_exists {
                    PendingUser::Unknown(uid).put(&mut plan.context);
                    return Ok(Outcome::Next);
                }
            }
            return Ok(Outcome::Invalid(challenge(self, plan, errors)));
        };
        PendingUser::Account(user.user.pk).put(&mut plan.context);
        if self.password_stage.is_some() {
            let errors = match check_password(step.run, plan, &user.user, password).await? {
                PasswordCheck::Valid => return Ok(Outcome::Next),
                // The same words as for an unknown account: no account enumeration.
                PasswordCheck::Invalid => failed(),
                PasswordCheck::Throttled(wait) => throttled(wait, "non_field_errors"),
            };
            plan.context.remove(PENDING_USER);
            return Ok(Outcome::Invalid(challenge(self, plan, errors)));
        }
        Ok(Outcome::Next)
    }
}
