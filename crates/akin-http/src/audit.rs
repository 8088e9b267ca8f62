//! Events for API writes (`model_created`, `model_updated`, `model_deleted`), with who, from
//! where and which object, as authentik's audit middleware records them.

use std::net::SocketAddr;

use akin_domain::event::{Actor, Event, EventAction, ModelRef};
use axum::extract::{ConnectInfo, FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// Where a request came from, for the audit log.
pub struct RequestMeta {
    pub client_ip: Option<String>,
    pub method: String,
    pub path: String,
    pub user_agent: String,
    pub request_id: String,
}

impl<S: Send + Sync> FromRequestParts<S> for RequestMeta {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        Ok(RequestMeta {
            client_ip: parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip().to_string()),
            method: parts.method.to_string(),
            // Nested routers see a stripped path; the audit log wants the one the client sent.
            path: parts.extensions.get::<OriginalUri>().map_or_else(
                || parts.uri.path().to_owned(),
                |OriginalUri(uri)| uri.path().to_owned(),
            ),
            user_agent: header("user-agent"),
            request_id: header("x-request-id"),
        })
    }
}

/// Records one model event. A failure to record is logged, not returned: the write it
/// describes has already happened.
pub async fn record(
    state: &AppState,
    caller: &Caller,
    meta: &RequestMeta,
    action: EventAction,
    model: ModelRef,
) {
    let actor = actor_of(&caller.user.user);
    record_event(
        state,
        meta,
        action,
        Some(&actor),
        json!({"model": model.to_json()}),
    )
    .await;
}

/// The acting user as events store it.
pub fn actor_of(user: &akin_domain::user::User) -> Actor {
    Actor {
        pk: user.pk,
        username: user.username.clone(),
        email: user.email.clone(),
    }
}

/// An event with `context` plus the request's details, for recording now or inside the
/// transaction of the change it tells of.
pub fn event(
    meta: &RequestMeta,
    action: EventAction,
    actor: Option<&Actor>,
    mut context: serde_json::Value,
) -> Event {
    context["http_request"] = json!({
        "args": {},
        "path": meta.path,
        "method": meta.method,
        "request_id": meta.request_id,
        "user_agent": meta.user_agent,
    });
    Event::new(
        Uuid::now_v7(),
        action,
        actor,
        context,
        meta.client_ip.clone(),
        OffsetDateTime::now_utc(),
    )
}

/// Records an event with `context` plus the request's details; failures are logged.
pub async fn record_event(
    state: &AppState,
    meta: &RequestMeta,
    action: EventAction,
    actor: Option<&Actor>,
    context: serde_json::Value,
) {
    let event = event(meta, action, actor, context);
    if let Err(error) = state.store.record_event(&event).await {
        tracing::error!(%error, action = action.as_str(), "could not record event");
    }
}
