//! `/api/v3/events/events/`: the audit log, read-only, for superusers.

use akin_domain::event::EventFilter;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use uuid::Uuid;

use crate::api::openapi::{InputErrors, ListParams, ObjectErrors};
use crate::api::shapes::Event;
use crate::api::shapes::{self, Paginated};
use crate::auth::Superuser;
use crate::error::{ApiError, ApiResult};
use crate::extract::QueryParams;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/events/events/", get(list))
        .route("/events/events/{id}/", get(retrieve))
}

#[utoipa::path(get, path = "/api/v3/events/events/", operation_id = "events_events_list", tag = "events",
    params(ListParams, ("action" = Option<String>, Query,), ("username" = Option<String>, Query,),
        ("client_ip" = Option<String>, Query,)),
    responses((status = 200, description = "OK", body = Paginated<Event>), InputErrors))]
pub(crate) async fn list(
    Superuser(_): Superuser,
    State(state): State<AppState>,
    q: QueryParams,
) -> ApiResult<Json<Paginated<shapes::Event>>> {
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
    Ok(Json(Paginated::of(page, |e| shapes::event(&e))))
}

#[utoipa::path(get, path = "/api/v3/events/events/{event_uuid}/", operation_id = "events_events_retrieve",
    tag = "events", params(("event_uuid" = Uuid, Path,)), responses((status = 200, description = "OK", body = Event), ObjectErrors))]
pub(crate) async fn retrieve(
    Superuser(_): Superuser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<shapes::Event>> {
    let uuid = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("Event"))?;
    let event = state
        .store
        .event(uuid)
        .await?
        .ok_or(ApiError::NotFound("Event"))?;
    Ok(Json(shapes::event(&event)))
}
