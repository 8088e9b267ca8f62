//! `GET|POST /api/v3/flows/executor/{slug}/?query=…`: authentik's flow executor protocol
//! over the engine. Each request loads the browser's session, lets the engine run one step
//! ([`akin_flow::Engine::execute`]), stores the session and answers with the challenge as
//! JSON (or the same challenge with `response_errors`), a 302 to the same URL when a stage
//! is done, or `xak-flow-redirect` at the end of the flow. No flow rule lives here.

use akin_flow::{FlowRequest, Step as EngineStep};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::session::Session;
use crate::api::shapes::{Challenge, GenericError, ValidationError};
use crate::audit::RequestMeta;
use crate::error::ApiResult;
use crate::extract::{JsonObject, QueryParams};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/flows/executor/{slug}/", get(get_stage).post(post_stage))
}

#[utoipa::path(get, path = "/api/v3/flows/executor/{flow_slug}/", operation_id = "flows_executor_get",
    tag = "flows", security((), ("authentik" = [])),
    params(("flow_slug" = String, Path,), ("query" = String, Query,)),
    responses((status = 200, description = "OK", body = Challenge), (status = 302, description = "On to the next stage"),
        (status = 404, body = GenericError, description = "No such flow")))]
pub(crate) async fn get_stage(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    query: QueryParams,
    headers: HeaderMap,
    meta: RequestMeta,
) -> ApiResult<Response> {
    let page_query = query.get("query").unwrap_or_default();
    let executed = execute(&state, &slug, page_query, &headers, &meta, None).await?;
    Ok(executed.into_json(&slug, page_query))
}

#[utoipa::path(post, path = "/api/v3/flows/executor/{flow_slug}/", operation_id = "flows_executor_solve",
    tag = "flows", security((), ("authentik" = [])),
    params(("flow_slug" = String, Path,), ("query" = String, Query,)), request_body = Challenge,
    responses((status = 200, description = "OK", body = Challenge), (status = 302, description = "On to the next stage"),
        (status = 400, body = ValidationError, description = "Not a JSON object"),
        (status = 404, body = GenericError, description = "No such flow")))]
pub(crate) async fn post_stage(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    query: QueryParams,
    headers: HeaderMap,
    meta: RequestMeta,
    JsonObject(body): JsonObject,
) -> ApiResult<Response> {
    let page_query = query.get("query").unwrap_or_default();
    let executed = execute(&state, &slug, page_query, &headers, &meta, Some(body)).await?;
    Ok(executed.into_json(&slug, page_query))
}

/// What one executor request produced, before it is rendered (as authentik's JSON here,
/// as HTML by the flow interface).
pub(crate) struct Executed {
    pub step: Step,
    /// `Set-Cookie` for the session, when it changed.
    pub cookie: Option<String>,
}

pub(crate) enum Step {
    /// A challenge, in authentik's JSON (the end of the flow is `xak-flow-redirect`).
    Challenge(Value),
    /// The stage is done: the next one is fetched with a GET of the same page.
    Continue,
}

impl Executed {
    /// authentik's executor protocol: the challenge as JSON, or a 302 to the same URL.
    fn into_json(self, slug: &str, page_query: &str) -> Response {
        let response = match self.step {
            Step::Challenge(challenge) => Json(challenge).into_response(),
            Step::Continue => {
                let query = form_urlencoded::Serializer::new(String::new())
                    .append_pair("query", page_query)
                    .finish();
                let location = format!("/api/v3/flows/executor/{slug}/?{query}");
                (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
            }
        };
        with_cookie(response, &self.cookie)
    }
}

/// Runs one step of the flow `slug` for this browser: `page_query` is the flow page's own
/// query (`itoken=…&next=…`), `response` the answer to the current challenge (`None` for a
/// GET).
pub(crate) async fn execute(
    state: &AppState,
    slug: &str,
    page_query: &str,
    headers: &HeaderMap,
    meta: &RequestMeta,
    response: Option<Map<String, Value>>,
) -> ApiResult<Executed> {
    let now = OffsetDateTime::now_utc();
    let mut session = Session::load(state, headers, now).await?;
    let request = FlowRequest {
        slug,
        page_query,
        origin: meta,
        now,
    };
    let step = match state
        .engine
        .execute(request, &mut session, response)
        .await?
    {
        EngineStep::Challenge(challenge, info) => Step::Challenge(challenge.to_json(Some(&info))),
        EngineStep::Continue => Step::Continue,
    };
    let cookie = session
        .save(state, meta, crate::proxy::is_https(headers), now)
        .await?;
    Ok(Executed { step, cookie })
}

pub(crate) fn with_cookie(mut response: Response, cookie: &Option<String>) -> Response {
    if let Some(value) = cookie
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
    {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}
