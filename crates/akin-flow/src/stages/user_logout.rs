//! User logout stage: whoever is signed in to this browser is signed out (the session id
//! changes too).

use akin_domain::flow::PlannedStage;
use serde_json::{Map, Value};

use super::{Outcome, StageKind, StageStep};
use crate::FlowResult;

/// A logout stage has no settings.
pub(crate) struct UserLogout;

impl StageKind for UserLogout {
    async fn run(
        &self,
        step: &mut StageStep<'_, '_>,
        _stage: &PlannedStage,
        _response: Option<Map<String, Value>>,
    ) -> FlowResult<Outcome> {
        // A preview leaves the administrator signed in.
        if !step.plan.is_preview() {
            step.session.logout();
        }
        Ok(Outcome::Next)
    }
}
