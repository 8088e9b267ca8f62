use std::sync::Arc;

use akin_domain::policy::ExpressionEngine;
use akin_domain::ports::PasswordHasher;
use akin_store::Store;

/// What every handler may use. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub hasher: Arc<dyn PasswordHasher>,
    /// Runs expression policies (sandboxed Starlark in the binary).
    pub expressions: Arc<dyn ExpressionEngine>,
    /// Stable per installation; users' `uid` is derived from it.
    pub install_id: Arc<str>,
}
