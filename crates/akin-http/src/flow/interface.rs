//! `/if/flow/<slug>/`: the flow as HTML pages that work without JavaScript. Every step runs
//! through the same executor as `/api/v3/flows/executor/`; this module only renders its
//! challenges as forms and turns submitted forms back into responses (post, redirect, get).
//! Also `/if/user/` (who is signed in). Templates and their rendering are in `crate::pages`.

use akin_flow::is_local_path;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use minijinja::context;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::executor::{self, Executed, Step, with_cookie};
use super::session::Session;
use crate::audit::RequestMeta;
use crate::error::{ApiError, ApiResult};
use crate::extract::MAX_JSON_BODY;
use crate::pages::{self, render, template_value};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/if/flow/{slug}/", get(show).post(submit))
        .route("/if/user/", get(user_page))
        .layer(axum::middleware::from_fn(pages::errors_as_pages))
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
                        preview => form_urlencoded::parse(query.as_bytes())
                            .any(|(k, v)| k == akin_domain::flow::plan::PREVIEW && v == "1"),
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
    let Some(entry) = session.active_user(&state).await? else {
        return Ok(see_other(
            "/flows/-/default/authentication/?next=%2Fif%2Fuser%2F",
        ));
    };
    render(
        "user.html",
        context! {
            user => context! {
                username => &entry.user.username,
                name => &entry.user.name,
                email => &entry.user.email,
            },
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::TEMPLATES;
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
}
