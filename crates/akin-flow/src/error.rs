//! The engine's one error type. A flow that refuses someone is not an error (it is an
//! access-denied challenge); these are the failures a caller cannot fix by answering
//! differently: a missing flow, the database, a broken invariant.

use akin_domain::DomainError;
use akin_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// `what` as DRF names the model ("Flow").
    #[error("no {0} matches the given query")]
    NotFound(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// Too much password hashing is running and waiting: try again in a moment.
    #[error("The server is busy checking passwords; try again in a moment.")]
    Busy { retry_after_seconds: u64 },
    /// A background task (password hashing, expression evaluation) did not finish.
    #[error("{0}")]
    Internal(String),
}

impl From<tokio::task::JoinError> for FlowError {
    fn from(error: tokio::task::JoinError) -> Self {
        FlowError::Internal(error.to_string())
    }
}

pub type FlowResult<T> = Result<T, FlowError>;
