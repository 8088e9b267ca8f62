//! `/api/v3/core/`: users, groups, tokens.

mod groups;
pub mod tokens;
mod users;

use axum::Router;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(users::router())
        .merge(groups::router())
        .merge(tokens::router())
}
