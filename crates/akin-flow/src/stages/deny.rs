//! Deny stage: the flow stops here with the stage's message.

use akin_domain::flow::PlannedStage;
use akin_domain::stage::settings::DenySettings;
use serde_json::{Map, Value};

use super::{Outcome, StageKind, StageStep};
use crate::FlowResult;

impl StageKind for DenySettings {
    async fn run(
        &self,
        _step: &mut StageStep<'_, '_>,
        _stage: &PlannedStage,
        _response: Option<Map<String, Value>>,
    ) -> FlowResult<Outcome> {
        let message = Some(self.deny_message.as_str())
            .filter(|m| !m.is_empty())
            .unwrap_or("Access denied.");
        Ok(Outcome::denied(message, "denied"))
    }
}
