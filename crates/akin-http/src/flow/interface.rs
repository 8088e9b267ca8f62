//! `/if/flow/<slug>/`: the flow as HTML pages that work without JavaScript. Every step runs
//! through the same executor as `/api/v3/flows/executor/`; this module only renders its
//! challenges as forms and turns submitted forms back into responses (post, redirect, get).
//! Also `/if/user/` (who is signed in) and the one stylesheet, all embedded in the binary.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use minijinja::{Environment, context};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::executor::{self, Executed, Step, is_local_path, with_cookie};
use super::session::Session;
use crate::audit::RequestMeta;
use crate::error::{ApiError, ApiResult};
use crate::extract::MAX_JSON_BODY;
use crate::state::AppState;

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in [
        ("base.html", include_str!("../../templates/base.html")),
        ("flow.html", include_str!("../../templates/flow.html")),
        (
            "flow_fields.html",
            include_str!("../../templates/flow_fields.html"),
        ),
        ("user.html", include_str!("../../templates/user.html")),
        ("message.html", include_str!("../../templates/message.html")),
        (
            "admin/base.html",
            include_str!("../../templates/admin/base.html"),
        ),
        (
            "admin/table.html",
            include_str!("../../templates/admin/table.html"),
        ),
        (
            "admin/flows.html",
            include_str!("../../templates/admin/flows.html"),
        ),
        (
            "admin/flow.html",
            include_str!("../../templates/admin/flow.html"),
        ),
        (
            "admin/invitations.html",
            include_str!("../../templates/admin/invitations.html"),
        ),
        (
            "admin/confirm_delete.html",
            include_str!("../../templates/admin/confirm_delete.html"),
        ),
        (
            "admin/confirm.html",
            include_str!("../../templates/admin/confirm.html"),
        ),
        (
            "admin/user.html",
            include_str!("../../templates/admin/user.html"),
        ),
        (
            "admin/invitation_fields.html",
            include_str!("../../templates/admin/invitation_fields.html"),
        ),
        (
            "admin/invitation_edit.html",
            include_str!("../../templates/admin/invitation_edit.html"),
        ),
    ] {
        env.add_template(name, source)
            .expect("the embedded templates parse (checked by a unit test)");
    }
    env
});

const STYLESHEET: &str = include_str!("../../static/akin.css");
const SCRIPT: &str = include_str!("../../static/akin.js");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/if/flow/{slug}/", get(show).post(submit))
        .route("/if/user/", get(user_page))
        .route("/static/akin.css", get(stylesheet))
        .route("/static/akin.js", get(script))
        .layer(axum::middleware::from_fn(errors_as_pages))
}

/// Errors on the pages people see come as pages, not as the API's JSON: the same status,
/// and the message (`detail`, or the first field's) in a sentence.
pub(crate) async fn errors_as_pages(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let error: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let message = error["detail"]
        .as_str()
        .or_else(|| {
            error
                .as_object()
                .and_then(|fields| fields.values().next())
                .and_then(|messages| messages.get(0))
                .and_then(Value::as_str)
        })
        .unwrap_or("Something went wrong.")
        .to_owned();
    let heading = match status.as_u16() {
        404 => "Not found",
        403 => "Not allowed",
        400 => "That did not work",
        413 => "Too large",
        _ => "Something went wrong",
    };
    let mut page = message_page(heading, &message);
    *page.status_mut() = status;
    for cookie in parts.headers.get_all(header::SET_COOKIE) {
        page.headers_mut()
            .append(header::SET_COOKIE, cookie.clone());
    }
    page
}

/// JSON as template data. (Not through serde: with serde_json's arbitrary precision, which
/// a dependency turns on, numbers would arrive as maps.)
pub(crate) fn template_value(value: &Value) -> minijinja::Value {
    match value {
        Value::Null => minijinja::Value::from(()),
        Value::Bool(b) => minijinja::Value::from(*b),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => minijinja::Value::from(i),
            (None, Some(f)) => minijinja::Value::from(f),
            (None, None) => minijinja::Value::from(n.to_string()),
        },
        Value::String(s) => minijinja::Value::from(s.as_str()),
        Value::Array(items) => items.iter().map(template_value).collect(),
        Value::Object(map) => minijinja::Value::from(
            map.iter()
                .map(|(k, v)| (k.clone(), template_value(v)))
                .collect::<std::collections::BTreeMap<String, minijinja::Value>>(),
        ),
    }
}

/// Renders one of the embedded templates as a page that is never cached or framed.
pub(crate) fn render(template: &str, ctx: minijinja::Value) -> ApiResult<Response> {
    let html = TEMPLATES
        .get_template(template)
        .and_then(|t| t.render(ctx))
        .map_err(|e| ApiError::Internal(format!("rendering {template}: {e}")))?;
    let mut response = Html(html).into_response();
    // Flow pages hold one person's data: never cached or shown in a frame.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    Ok(response)
}

fn see_other(location: &str) -> Response {
    let location = HeaderValue::from_str(location).unwrap_or(HeaderValue::from_static("/"));
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

/// This page's own address, query included, which every step keeps (`?itoken=…`).
fn page_url(slug: &str, query: &str) -> String {
    let slug: String = form_urlencoded::byte_serialize(slug.as_bytes()).collect();
    if query.is_empty() {
        format!("/if/flow/{slug}/")
    } else {
        format!("/if/flow/{slug}/?{query}")
    }
}

/// What a person can do about a refusal, beyond its reason.
fn what_next(code: &str) -> Option<&'static str> {
    Some(match code {
        "invitation_used" => {
            "If you created your account with it, log in instead. Otherwise ask the person who invited you for a new invitation."
        }
        "invitation_other_flow" => {
            "Open the link exactly as you received it, or ask the person who invited you for a new one."
        }
        "flow_not_applicable" => "You may need to log in first, or use another link.",
        _ => return None,
    })
}

/// Renders what the executor produced: a challenge as a page, the end of the flow and
/// finished steps as redirects.
fn respond(executed: Executed, slug: &str, query: &str) -> ApiResult<Response> {
    let response = match executed.step {
        Step::Continue => see_other(&page_url(slug, query)),
        Step::Challenge(challenge) => {
            let component = challenge["component"].as_str().unwrap_or_default();
            if component == "xak-flow-redirect" {
                let to = challenge["to"].as_str().filter(|t| is_local_path(t));
                see_other(to.unwrap_or("/"))
            } else {
                let info = &challenge["flow_info"];
                let code = challenge["code"].as_str().unwrap_or_default();
                render(
                    "flow.html",
                    context! {
                        title => info["title"].as_str().filter(|t| !t.is_empty()).unwrap_or("akin"),
                        layout => info["layout"].as_str().unwrap_or("stacked"),
                        component => component,
                        challenge => template_value(&challenge),
                        action => page_url(slug, query),
                        reason_help => what_next(code),
                    },
                )?
            }
        }
    };
    Ok(with_cookie(response, &executed.cookie))
}

async fn show(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    meta: RequestMeta,
) -> ApiResult<Response> {
    let query = query.unwrap_or_default();
    let executed = executor::execute(&state, &slug, &query, &headers, &meta, None).await?;
    respond(executed, &slug, &query)
}

/// A submitted form: the fields as the challenge response (strings, as a form sends them;
/// the stages read checkboxes and numbers from strings). Only forms from this site are
/// taken (`Origin` / `Sec-Fetch-Site`), against cross-site request forgery.
async fn submit(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    meta: RequestMeta,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    if !crate::auth::same_site(&headers) {
        return Err(ApiError::CsrfFailed);
    }
    if body.len() > MAX_JSON_BODY {
        return Err(ApiError::PayloadTooLarge(MAX_JSON_BODY));
    }
    let query = query.unwrap_or_default();
    let mut response = Map::new();
    for (key, value) in form_urlencoded::parse(&body) {
        if key.contains('\0') || value.contains('\0') {
            return Err(ApiError::field(
                &key.replace('\0', ""),
                "Null characters are not allowed.",
            ));
        }
        response.insert(key.into_owned(), Value::String(value.into_owned()));
    }
    let mut executed = executor::execute(
        &state,
        &slug,
        &query,
        &headers,
        &meta,
        Some(response.clone()),
    )
    .await?;
    if let Step::Challenge(challenge) = &mut executed.step {
        keep_what_was_typed(challenge, &response);
    }
    respond(executed, &slug, &query)
}

/// A prompt sent back with errors shows what the person typed, so they correct it rather
/// than type everything again (a script-driven page keeps its inputs; a plain form must be
/// refilled). Passwords are never echoed, fixed fields keep their fixed value.
fn keep_what_was_typed(challenge: &mut Value, submitted: &Map<String, Value>) {
    if challenge["component"] != "ak-stage-prompt" || challenge.get("response_errors").is_none() {
        return;
    }
    let Some(fields) = challenge.get_mut("fields").and_then(Value::as_array_mut) else {
        return;
    };
    for field in fields {
        let kind = field["type"].as_str().unwrap_or_default();
        if matches!(
            kind,
            "password" | "hidden" | "text_read_only" | "text_area_read_only" | "static"
        ) {
            continue;
        }
        if let Some(typed) = field["field_key"].as_str().and_then(|k| submitted.get(k)) {
            field["initial_value"] = typed.clone();
        }
    }
}

/// Who is signed in to this browser; others are sent to log in first.
async fn user_page(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let session = Session::load(&state, &headers, OffsetDateTime::now_utc()).await?;
    let user = match session.user() {
        Some(pk) => state
            .store
            .user_by_pk(pk)
            .await?
            .filter(|u| u.user.is_active),
        None => None,
    };
    let Some(entry) = user else {
        return Ok(see_other(
            "/flows/-/default/authentication/?next=%2Fif%2Fuser%2F",
        ));
    };
    render(
        "user.html",
        context! {
            user => context! {
                username => entry.user.username,
                name => entry.user.name,
                email => entry.user.email,
            },
        },
    )
}

/// A short page with a heading and one message (refusals outside a flow).
pub(crate) fn message_page(heading: &str, message: &str) -> Response {
    render(
        "message.html",
        context! { heading => heading, message => message },
    )
    .unwrap_or_else(|e| e.into_response())
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        SCRIPT,
    )
        .into_response()
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn page(challenge: Value) -> String {
        let component = challenge["component"].as_str().unwrap().to_owned();
        TEMPLATES
            .get_template("flow.html")
            .unwrap()
            .render(context! {
                title => "Welcome",
                component => component,
                challenge => template_value(&challenge),
                action => "/if/flow/x/?itoken=1",
                reason_help => what_next(challenge["code"].as_str().unwrap_or_default()),
            })
            .unwrap()
    }

    #[test]
    fn prompt_fields_have_labels_values_and_linked_errors() {
        let html = page(json!({
            "component": "ak-stage-prompt",
            "fields": [
                {"field_key": "email", "label": "Email", "type": "text_read_only", "required": false,
                 "placeholder": "", "initial_value": "jane@example.com", "sub_text": "", "choices": null},
                {"field_key": "username", "label": "Username", "type": "username", "required": true,
                 "placeholder": "Username", "initial_value": "<b>", "sub_text": "Letters only", "choices": null},
                {"field_key": "tos", "label": "I agree", "type": "checkbox", "required": false,
                 "placeholder": "", "initial_value": "", "sub_text": "", "choices": null},
            ],
            "response_errors": {"username": [{"string": "Username is already taken.", "code": "invalid"}]},
        }));
        assert!(html.contains(r#"<label for="field-email">Email"#), "{html}");
        assert!(
            html.contains(r#"value="jane@example.com" placeholder="" readonly"#),
            "{html}"
        );
        assert!(html.contains("(set by your invitation)"));
        // Values are escaped; errors and help are linked to their field.
        assert!(html.contains(r#"value="&lt;b&gt;""#), "{html}");
        assert!(
            html.contains(r#"aria-describedby="help-username error-username" aria-invalid="true""#),
            "{html}"
        );
        assert!(
            html.contains(
                r#"<p class="field-error" id="error-username">Username is already taken."#
            )
        );
        assert!(
            html.contains(r#"<input id="field-tos" name="tos" type="checkbox" value="true""#),
            "{html}"
        );
        // minijinja escapes `/` as `&#x2f;`, which browsers read back as `/`.
        assert!(
            html.contains(r#"action="&#x2f;if&#x2f;flow&#x2f;x&#x2f;?itoken=1""#),
            "{html}"
        );
    }

    #[test]
    fn a_refusal_says_why_and_what_next() {
        let html = page(json!({
            "component": "ak-stage-access-denied",
            "error_message": "This invitation has already been used.",
            "code": "invitation_used",
        }));
        assert!(
            html.contains(r#"<p id="denied-reason">This invitation has already been used.</p>"#),
            "{html}"
        );
        assert!(html.contains("log in instead"));
        assert!(!html.contains("<form"));
    }

    #[test]
    fn every_template_renders() {
        for name in [
            "flow.html",
            "user.html",
            "message.html",
            "admin/table.html",
            "admin/flows.html",
            "admin/flow.html",
            "admin/invitations.html",
            "admin/confirm_delete.html",
            "admin/confirm.html",
            "admin/user.html",
            "admin/invitation_edit.html",
        ] {
            TEMPLATES.get_template(name).unwrap();
        }
    }
}
