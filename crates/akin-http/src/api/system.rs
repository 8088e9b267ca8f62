//! `/api/v3/root/config/` and `/api/v3/admin/version/`: what authentik's UI and clients ask
//! first. The shapes are authentik's; the values are akin's (no error reporting, no
//! capabilities akin does not have, akin's own version).

use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::api::openapi::Forbidden;
use crate::api::shapes::{Config, Version};
use crate::auth::Superuser;
use crate::state::AppState;

/// akin's version, as its package says.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/root/config/", get(config))
        .route("/admin/version/", get(version))
}

/// Open to everyone, as authentik's: the login page reads it before anyone signs in.
#[utoipa::path(get, path = "/api/v3/root/config/", operation_id = "root_config_retrieve",
    tag = "root", security((), ("authentik" = [])),
    responses((status = 200, description = "OK", body = Config)))]
pub(crate) async fn config() -> Json<Config> {
    Json(Config {
        // akin reports nothing anywhere: there is no Sentry, and nothing leaves the host.
        error_reporting: json!({
            "enabled": false,
            "sentry_dsn": "",
            "environment": "",
            "send_pii": false,
            "traces_sample_rate": 0.0,
        }),
        // None of authentik's capabilities (media uploads, GeoIP, impersonation, …) exist.
        capabilities: Vec::new(),
        cache_timeout: 300,
        cache_timeout_flows: 300,
        cache_timeout_policies: 300,
    })
}

/// akin does not call home, so the latest version is the one running and nothing is
/// reported outdated.
#[utoipa::path(get, path = "/api/v3/admin/version/", operation_id = "admin_version_retrieve",
    tag = "admin", responses((status = 200, description = "OK", body = Version), Forbidden))]
pub(crate) async fn version(Superuser(_): Superuser) -> Json<Version> {
    Json(Version {
        version_current: VERSION,
        version_latest: VERSION,
        version_latest_valid: false,
        build_hash: option_env!("AKIN_BUILD_HASH").unwrap_or(""),
        outdated: false,
        outpost_outdated: false,
    })
}
