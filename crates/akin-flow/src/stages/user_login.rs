//! User login stage: signs the pending user in to this browser with a fresh session id.
//! When the stage offers "remember me" (a positive `remember_me_offset`) it asks first, and
//! a yes lengthens the session by the offset.

use akin_domain::event::EventAction;
use akin_domain::flow::{Challenge, PlannedStage};
use akin_domain::stage::settings::UserLoginSettings;
use serde_json::{Map, Value, json};

use super::{Outcome, StageKind, StageStep};
use crate::{FlowResult, audit};

impl StageKind for UserLoginSettings {
    async fn run(
        &self,
        step: &mut StageStep<'_, '_>,
        _stage: &PlannedStage,
        response: Option<Map<String, Value>>,
    ) -> FlowResult<Outcome> {
        if step.plan.is_preview() {
            // A preview signs nobody in (the administrator stays who they are).
            return Ok(Outcome::Next);
        }
        let run = step.run;
        let store = &run.engine.store;
        let Some(entry) = super::pending_account(step.run, step.plan).await? else {
            return Ok(Outcome::denied(
                "No Pending user to login.",
                "no_pending_user",
            ));
        };
        if !entry.user.is_active {
            return Ok(Outcome::denied(
                "This account is not active.",
                "user_inactive",
            ));
        }
        let ask = || {
            Outcome::Challenge(Challenge::UserLogin {
                pending_user: entry.user.username.clone(),
            })
        };
        let mut duration = self.session_duration;
        if self.remember_me_offset.is_positive() {
            match response.as_ref().and_then(|r| r.get("remember_me")) {
                Some(Value::Bool(true)) => duration += self.remember_me_offset,
                Some(Value::Bool(false)) => {}
                _ => return Ok(ask()),
            }
        }
        let pk = entry.user.pk;
        if self.terminate_other_sessions {
            // This browser's session gets a new id below and is stored after this step,
            // so only the user's other sessions go.
            store.delete_user_sessions(pk).await?;
        }
        step.session.login(pk, duration, run.now);
        let event = audit::event(
            run.origin,
            EventAction::Login,
            Some(&audit::actor_of(&entry.user)),
            json!({"auth_method": "flow"}),
        );
        let reputation = crate::reputation::sign_in_change(run, &entry.user.username);
        store
            .record_sign_in(pk, run.now, reputation, &event)
            .await?;
        Ok(Outcome::Next)
    }
}
