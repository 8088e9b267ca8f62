//! Deny stage: the flow stops here with the stage's message.

use akin_domain::flow::PlannedStage;
use serde_json::{Map, Value};

use super::{Outcome, StageKind, StageStep};
use crate::FlowResult;

pub(crate) struct DenyStage;

impl StageKind for DenyStage {
    async fn run(
        &self,
        _step: &mut StageStep<'_, '_>,
        stage: &PlannedStage,
        _response: Option<Map<String, Value>>,
    ) -> FlowResult<Outcome> {
        let message = stage
            .config
            .get("deny_message")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
            .unwrap_or("Access denied.");
        Ok(Outcome::denied(message, "denied"))
    }
}
