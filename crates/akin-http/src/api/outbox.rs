//! `/api/v3/akin/outbox/`: akin's own resource (authentik has no outbox): the messages akin
//! sent or is sending, with each one's status, attempts and the SMTP server's last answer;
//! `retry/` sends a waiting or failed message now.

use akin_domain::email::MessageStatus;
use akin_store::OutboxFilter;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::api::openapi::{InputErrors, ListParams, ObjectErrors};
use crate::api::shapes::{self, Paginated};
use crate::auth::Superuser;
use crate::error::{ApiError, ApiResult};
use crate::extract::QueryParams;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/akin/outbox/", get(list))
        .route("/akin/outbox/{message_uuid}/", get(retrieve))
        .route("/akin/outbox/{message_uuid}/retry/", post(retry))
}

async fn find(state: &AppState, id: &str) -> ApiResult<akin_domain::email::OutboxMessage> {
    let uuid = Uuid::parse_str(id).map_err(|_| ApiError::NotFound("Message"))?;
    state
        .store
        .outbox_message(uuid)
        .await?
        .ok_or(ApiError::NotFound("Message"))
}

/// Newest first; `?status=queued|sending|sent|failed`, `?search=` in subjects and recipients.
#[utoipa::path(get, path = "/api/v3/akin/outbox/", operation_id = "akin_outbox_list", tag = "akin",
    params(ListParams, ("status" = Option<MessageStatus>, Query,)),
    responses((status = 200, description = "OK", body = Paginated<shapes::OutboxMessage>), InputErrors))]
pub(crate) async fn list(
    Superuser(_): Superuser,
    State(state): State<AppState>,
    q: QueryParams,
) -> ApiResult<Json<Paginated<shapes::OutboxMessage>>> {
    let status = match q.get("status") {
        None | Some("") => None,
        Some(text) => Some(MessageStatus::parse(text).ok_or_else(|| {
            ApiError::field(
                "status",
                format!("Select a valid choice. {text} is not one of the available choices."),
            )
        })?),
    };
    let query = q.list_query("-created")?;
    let page = state
        .store
        .list_outbox(&OutboxFilter { status }, &query)
        .await?;
    Ok(Json(Paginated::of(page, |m| shapes::outbox_message(&m))))
}

#[utoipa::path(get, path = "/api/v3/akin/outbox/{message_uuid}/", operation_id = "akin_outbox_retrieve",
    tag = "akin", params(("message_uuid" = Uuid, Path,)),
    responses((status = 200, description = "OK", body = shapes::OutboxMessage), ObjectErrors))]
pub(crate) async fn retrieve(
    Superuser(_): Superuser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<shapes::OutboxMessage>> {
    Ok(Json(shapes::outbox_message(&find(&state, &id).await?)))
}

/// Sends a waiting or failed message now (a sent one is not sent again: 400).
#[utoipa::path(post, path = "/api/v3/akin/outbox/{message_uuid}/retry/", operation_id = "akin_outbox_retry_create",
    tag = "akin", params(("message_uuid" = Uuid, Path,)),
    responses((status = 202, description = "Queued now", body = shapes::OutboxMessage),
        (status = 400, description = "Sent or being sent", body = shapes::ValidationError), ObjectErrors))]
pub(crate) async fn retry(
    Superuser(_): Superuser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<shapes::OutboxMessage>)> {
    let message = find(&state, &id).await?;
    if !state
        .store
        .retry_message(message.uuid, OffsetDateTime::now_utc())
        .await?
    {
        return Err(ApiError::field(
            "non_field_errors",
            format!(
                "The message is {}; only waiting or failed messages are retried.",
                message.status
            ),
        ));
    }
    state.outbox_waker.notify_one();
    let message = find(&state, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(shapes::outbox_message(&message))))
}
