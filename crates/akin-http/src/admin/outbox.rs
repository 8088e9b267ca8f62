//! Events → Outbox: the messages akin sent or is sending, their status and the SMTP
//! server's answers, and Retry.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use minijinja::context;
use serde_json::{Value, json};

use super::{AdminSession, page};
use crate::api::outbox as api;
use crate::error::ApiResult;
use crate::extract::QueryParams;
use crate::pages::template_value;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/if/admin/outbox/", get(list))
        .route("/if/admin/outbox/{pk}/retry/", post(retry))
}

async fn list(
    admin: AdminSession,
    State(state): State<AppState>,
    q: QueryParams,
) -> ApiResult<Response> {
    let status = q.get("status").unwrap_or_default().to_owned();
    let mut pairs = vec![("page_size".to_owned(), "100".to_owned())];
    if !status.is_empty() {
        pairs.push(("status".to_owned(), status.clone()));
    }
    let axum::Json(body) = api::list(
        admin.superuser(),
        State(state),
        QueryParams::from_pairs(pairs),
    )
    .await?;
    let messages: Vec<Value> = body.results.iter().map(|m| json!(m)).collect();
    page(
        &admin,
        "admin/outbox.html",
        "Outbox",
        "/if/admin/outbox/",
        context! { messages => template_value(&Value::Array(messages)), status => status },
    )
}

async fn retry(
    admin: AdminSession,
    State(state): State<AppState>,
    Path(pk): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    admin.form(&body)?;
    let _queued = api::retry(admin.superuser(), State(state), Path(pk.clone())).await?;
    Ok(super::redirect_with(
        &format!("/if/admin/outbox/#message-{pk}"),
        &[super::Notice::Done(
            "Queued again: it is sent on the next delivery round.".to_owned(),
        )],
    ))
}
