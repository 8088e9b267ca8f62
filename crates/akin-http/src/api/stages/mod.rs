//! `/api/v3/stages/…`.

pub(crate) mod invitations;

use axum::Router;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().merge(invitations::router())
}
