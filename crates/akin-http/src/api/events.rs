//! `/api/v3/events/events/`: the audit log, read-only, for superusers.

use akin_domain::event::EventFilter;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;
use uuid::Uuid;

use crate::api::shapes;
use crate::auth::Superuser;
use crate::error::{ApiError, ApiResult};
use crate::extract::QueryParams;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/events/events/", get(list))
        .route("/events/events/{id}/", get(retrieve))
}

pub(crate) async fn list(
    Superuser(_): Superuser,
    State(state): State<AppState>,
    q: QueryParams,
) -> ApiResult<Json<Value>> {
    let filter = EventFilter {
        action: q.string("action"),
        actions: q.all("actions"),
        client_ip: q.string("client_ip"),
        username: q.string("username"),
        context_model_app: q.string("context_model_app"),
        context_model_name: q.string("context_model_name"),
        context_model_pk: q.string("context_model_pk"),
    };
    let query = q.list_query("-created")?;
    let page = state.store.list_events(&filter, &query).await?;
    Ok(Json(shapes::paginated(page, |e| shapes::event(&e))))
}

async fn retrieve(
    Superuser(_): Superuser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let uuid = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("Event"))?;
    let event = state
        .store
        .event(uuid)
        .await?
        .ok_or(ApiError::NotFound("Event"))?;
    Ok(Json(shapes::event(&event)))
}
