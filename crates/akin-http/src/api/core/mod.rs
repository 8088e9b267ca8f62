//! `/api/v3/core/`: users, groups, tokens.

pub(crate) mod groups;
pub mod tokens;
pub(crate) mod users;

use axum::Router;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(users::router())
        .merge(groups::router())
        .merge(tokens::router())
}
