//! `/api/v3/`: authentik's REST API, one module per resource.

mod core;
mod events;
pub mod shapes;

use axum::Router;

use crate::state::AppState;

pub use self::core::tokens::new_key;

pub fn router() -> Router<AppState> {
    Router::new().merge(core::router()).merge(events::router())
}
