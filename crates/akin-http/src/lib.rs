//! akin's HTTP surface: `/api/v3/…` in authentik's shapes, the pages (`/if/flow/`,
//! `/if/admin/`, `/if/user/`) and health checks. Handlers translate between HTTP and the
//! engine (`akin_flow`) and store; they hold no rules of their own.

pub(crate) mod admin;
pub mod api;
mod audit;
mod auth;
pub mod error;
mod extract;
pub mod flow;
pub mod format;
mod health;
pub mod listener;
pub mod metrics;
mod pages;
pub mod proxy;
pub mod state;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use error::ApiError;
pub use state::AppState;

/// How long one request may take before it is answered with 408: reading its body
/// included, so a client trickling a body is cut off too.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The whole application: API, health checks, and the layers every request passes.
pub fn router(state: AppState) -> Router {
    akin_flow::STARTED.get_or_init(time::OffsetDateTime::now_utc);
    let request_id = HeaderName::from_static("x-request-id");
    let trusted_proxies = state.trusted_proxies.clone();
    let request_metrics = state.engine.metrics.clone();
    // API answers are about someone (users, tokens, invitation links): no cache keeps them.
    let api = api::router().layer(SetResponseHeaderLayer::if_not_present(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    ));
    Router::new()
        .nest("/api/v3", api)
        .merge(health::router())
        .merge(flow::redirects_router())
        .merge(flow::interface_router())
        .merge(pages::router())
        .merge(admin::router())
        .fallback(|| async { ApiError::NoRoute })
        // No object's key contains U+0000; PostgreSQL could not even look for one.
        .layer(middleware::from_fn(
            |request: Request, next: Next| async move {
                if request.uri().path().to_ascii_lowercase().contains("%00") {
                    return ApiError::NoRoute.into_response();
                }
                next.run(request).await
            },
        ))
        .method_not_allowed_fallback(|method: Method| async move {
            ApiError::MethodNotAllowed(method.to_string())
        })
        .with_state(state)
        .layer(middleware::from_fn_with_state(
            request_metrics,
            metrics::count_request,
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(TraceLayer::new_for_http())
        .layer(middleware::from_fn_with_state(
            trusted_proxies,
            proxy::resolve_client,
        ))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .layer(CatchPanicLayer::custom(panic_response))
}

/// A panic is a bug: log it, answer 500 in the API's shape, keep serving.
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    ApiError::Internal(format!("handler panicked: {message}")).into_response()
}

/// The largest JSON body the API reads.
pub const MAX_JSON_BODY: usize = extract::MAX_JSON_BODY;

/// Limits request bodies on `router`'s routes to `limit` bytes. A declared
/// `Content-Length` over the limit is answered with 413 before any of the body is read, so
/// a client cannot hold a connection open by trickling an oversized upload; bodies without
/// a length are cut off at the same limit while they are read.
pub(crate) fn body_limit<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    limit: usize,
) -> Router<S> {
    router
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn(
            move |request: Request, next: Next| async move {
                let declared = request
                    .headers()
                    .get(header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<usize>().ok());
                if declared.is_some_and(|length| length > limit) {
                    return ApiError::PayloadTooLarge(limit).into_response();
                }
                next.run(request).await
            },
        ))
}
