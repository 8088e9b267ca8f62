//! `/api/v3/`: authentik's REST API, one module per resource.

pub(crate) mod blueprint_instances;
pub(crate) mod catalog_api;
pub(crate) mod core;
pub(crate) mod events;
pub(crate) mod flows;
pub mod managed;
pub mod openapi;
pub(crate) mod outbox;
pub(crate) mod policies;
pub(crate) mod reputation;
pub mod requests;
pub mod shapes;
pub(crate) mod stages;
mod system;

use axum::Router;

use crate::state::AppState;

pub use self::core::tokens::new_key;

use crate::{MAX_JSON_BODY, body_limit};

/// JSON endpoints take bodies up to 1 MiB; blueprint uploads up to a blueprint's limit.
pub fn router() -> Router<AppState> {
    let json = Router::new()
        .merge(core::router())
        .merge(events::router())
        .merge(flows::router())
        .merge(stages::router())
        .merge(catalog_api::router())
        .merge(policies::router())
        .merge(reputation::router())
        .merge(system::router())
        .merge(outbox::router())
        .merge(openapi::router())
        .merge(crate::flow::executor::router());
    // Instances carry blueprint `content`: a blueprint's limit, as imports.
    let blueprints = managed::router().merge(blueprint_instances::router());
    body_limit(json, MAX_JSON_BODY)
        .merge(body_limit(blueprints, managed::MAX_IMPORT_BODY))
        .merge(body_limit(
            stages::invitations::bulk_router(),
            stages::invitations::MAX_BULK_BODY,
        ))
}
