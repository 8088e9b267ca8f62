use std::ops::Deref;
use std::sync::Arc;

use akin_flow::Engine;

/// What every handler may use: the engine (store, hashing, expressions) and what only the
/// web layer needs. Cheap to clone. Derefs to the engine, so `state.store` reads as before.
#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    /// Stable per installation; users' `uid` is derived from it.
    pub install_id: Arc<str>,
    /// Whose `X-Forwarded-*` headers are believed (`AKIN_TRUSTED_PROXIES`).
    pub trusted_proxies: Arc<crate::proxy::TrustedProxies>,
}

impl Deref for AppState {
    type Target = Engine;

    fn deref(&self) -> &Engine {
        &self.engine
    }
}
