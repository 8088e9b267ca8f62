//! Events for API writes (`model_created`, `model_updated`, `model_deleted`), with who, from
//! where and which object, as authentik's audit middleware records them.

use std::net::SocketAddr;
use std::ops::Deref;

use akin_domain::event::{EventAction, ModelRef};
pub use akin_flow::RequestInfo;
pub use akin_flow::audit::{actor_of, record_event};
use axum::extract::{ConnectInfo, FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use serde_json::json;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;

/// Where a request came from, for policies and the audit log: the engine's
/// [`RequestInfo`], read from the request.
pub struct RequestMeta(pub RequestInfo);

impl Deref for RequestMeta {
    type Target = RequestInfo;

    fn deref(&self) -> &RequestInfo {
        &self.0
    }
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
        Ok(RequestMeta(RequestInfo {
            // The client's, as the edge resolved it (a trusted proxy's word, or the
            // connection's address).
            client_ip: parts
                .extensions
                .get::<crate::proxy::ClientAddress>()
                .map(|client| client.0.to_string())
                .or_else(|| {
                    parts
                        .extensions
                        .get::<ConnectInfo<SocketAddr>>()
                        .map(|ConnectInfo(addr)| addr.ip().to_string())
                }),
            method: parts.method.to_string(),
            // Nested routers see a stripped path; the audit log wants the one the client sent.
            path: parts.extensions.get::<OriginalUri>().map_or_else(
                || parts.uri.path().to_owned(),
                |OriginalUri(uri)| uri.path().to_owned(),
            ),
            user_agent: header("user-agent"),
            request_id: header("x-request-id"),
            site: crate::extract::public_base_url(None, &parts.headers),
        }))
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
        &state.store,
        meta,
        action,
        Some(&actor),
        json!({"model": model.to_json()}),
    )
    .await;
}
