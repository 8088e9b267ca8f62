//! The small pages around flows that only redirect: `/` (root), the default
//! authentication and invalidation flows, and cancelling the flow in progress.

use akin_domain::catalog;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;
use time::OffsetDateTime;

use super::session::Session;
use crate::audit::RequestMeta;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(root))
        .route(
            "/flows/-/default/authentication/",
            get(|state, query| to_default_flow(state, query, "authentication")),
        )
        .route(
            "/flows/-/default/invalidation/",
            get(|state, query| to_default_flow(state, query, "invalidation")),
        )
        .route("/flows/-/cancel/", get(cancel))
}

fn found(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => (StatusCode::FOUND, [(header::LOCATION, value)]).into_response(),
        // Slugs and raw queries are header-safe; anything else is a bug, not the user's.
        Err(_) => {
            ApiError::Internal(format!("unusable redirect target {location:?}")).into_response()
        }
    }
}

/// Signed-in people go to their user page; everyone else to the login flow.
async fn root(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let session = Session::load(&state, &headers, OffsetDateTime::now_utc()).await?;
    Ok(match session.user() {
        Some(_) => found("/if/user/"),
        None => found("/flows/-/default/authentication/"),
    })
}

/// The flow with this designation that akin ships (`default-<designation>-flow`) if it
/// exists, otherwise the first by slug, keeping the query (`next=` …).
async fn to_default_flow(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    designation: &'static str,
) -> ApiResult<Response> {
    let mut flows = state
        .store
        .find_objects(
            catalog::FLOW,
            &[(
                "designation".to_owned(),
                Value::String(designation.to_owned()),
            )],
        )
        .await?;
    let shipped = format!("default-{designation}-flow");
    flows.sort_by_key(|f| {
        let slug = f.get("slug").and_then(Value::as_str).unwrap_or_default();
        (slug != shipped, slug.to_owned())
    });
    let Some(slug) = flows
        .first()
        .and_then(|f| f.get("slug"))
        .and_then(Value::as_str)
    else {
        return Err(ApiError::NotFound("Flow"));
    };
    let mut location = format!("/if/flow/{slug}/");
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        location.push('?');
        location.push_str(&query);
    }
    Ok(found(&location))
}

/// Drops the flow in progress, then goes to `next` (a path on this server) or the
/// default invalidation flow, as authentik does.
async fn cancel(
    State(state): State<AppState>,
    headers: HeaderMap,
    meta: RequestMeta,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let now = OffsetDateTime::now_utc();
    let mut session = Session::load(&state, &headers, now).await?;
    let mut cookie = None;
    if session.plan().is_some() {
        session.set_plan(None);
        cookie = session
            .save(&state, &meta, crate::proxy::is_https(&headers), now)
            .await?;
    }
    let next = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .find(|(k, _)| k == "next")
        .map(|(_, v)| v)
        .filter(|n| akin_flow::is_local_path(n));
    let response = found(next.as_deref().unwrap_or("/flows/-/default/invalidation/"));
    Ok(super::executor::with_cookie(response, &cookie))
}
