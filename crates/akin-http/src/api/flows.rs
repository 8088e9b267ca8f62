//! `/api/v3/flows/instances/`: so far the export of a flow as a blueprint.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::auth::Superuser;
use crate::blueprints::export_flow;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/flows/instances/{slug}/export/", get(export))
}

/// The flow as a blueprint file, downloaded as `<slug>.yaml`.
async fn export(
    Superuser(_): Superuser,
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> ApiResult<Response> {
    let yaml = export_flow(&state.store, &slug)
        .await?
        .ok_or(ApiError::NotFound("Flow"))?;
    let disposition = format!(
        "attachment; filename=\"{}.yaml\"",
        slug.replace(['"', '\\'], "_")
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/yaml; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        yaml,
    )
        .into_response())
}
