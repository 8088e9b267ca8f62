//! `/metrics` for Prometheus, on a listener of its own (`AKIN_METRICS_LISTEN`), and the
//! request counter every route passes.

use std::sync::Arc;

use akin_flow::Engine;
use akin_flow::metrics::{Metrics, RequestLabels};
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::error::ApiError;

/// Counts each answered request by its route (as matched), method and status.
pub(crate) async fn count_request(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    // A visitor may send any method name: only the standard ones become labels.
    let method = match *request.method() {
        Method::GET
        | Method::HEAD
        | Method::POST
        | Method::PUT
        | Method::PATCH
        | Method::DELETE
        | Method::OPTIONS => request.method().as_str().to_owned(),
        _ => "other".to_owned(),
    };
    let response = next.run(request).await;
    metrics
        .requests
        .get_or_create(&RequestLabels {
            route,
            method,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

/// `GET /metrics`: this process's metrics in Prometheus' text format.
pub fn router(engine: Engine) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(engine)
}

async fn scrape(State(engine): State<Engine>) -> Result<Response, ApiError> {
    let text = engine.metrics_text().await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
