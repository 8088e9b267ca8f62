//! Flows as the executor runs them: a plan of stages and a context the stages share, and
//! the challenges (authentik's executor protocol) sent to the browser or client.

pub mod challenge;
pub mod options;
pub mod plan;

pub use challenge::Challenge;
pub use options::{Authentication, DeniedAction, Designation, InvalidResponseAction, Layout};
pub use plan::{FlowInfo, FlowPlan, PlannedStage};
