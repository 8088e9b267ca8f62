//! What the HTML pages share: the templates (embedded in the binary), rendering them as
//! pages that are never cached or framed, JSON as template data, the stylesheet and the one
//! script, and errors shown as pages. Used by the flow interface and the admin pages.

use std::sync::LazyLock;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use minijinja::{Environment, context};
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub(crate) static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in [
        ("base.html", include_str!("../templates/base.html")),
        ("flow.html", include_str!("../templates/flow.html")),
        (
            "flow_fields.html",
            include_str!("../templates/flow_fields.html"),
        ),
        ("user.html", include_str!("../templates/user.html")),
        ("message.html", include_str!("../templates/message.html")),
        (
            "admin/base.html",
            include_str!("../templates/admin/base.html"),
        ),
        (
            "admin/policy_form.html",
            include_str!("../templates/admin/policy_form.html"),
        ),
        (
            "admin/table.html",
            include_str!("../templates/admin/table.html"),
        ),
        (
            "admin/flows.html",
            include_str!("../templates/admin/flows.html"),
        ),
        (
            "admin/flow.html",
            include_str!("../templates/admin/flow.html"),
        ),
        (
            "admin/invitations.html",
            include_str!("../templates/admin/invitations.html"),
        ),
        (
            "admin/outbox.html",
            include_str!("../templates/admin/outbox.html"),
        ),
        (
            "admin/blueprints.html",
            include_str!("../templates/admin/blueprints.html"),
        ),
        (
            "admin/confirm_delete.html",
            include_str!("../templates/admin/confirm_delete.html"),
        ),
        (
            "admin/confirm.html",
            include_str!("../templates/admin/confirm.html"),
        ),
        (
            "admin/user.html",
            include_str!("../templates/admin/user.html"),
        ),
        (
            "admin/invitation_fields.html",
            include_str!("../templates/admin/invitation_fields.html"),
        ),
        (
            "admin/invitation_edit.html",
            include_str!("../templates/admin/invitation_edit.html"),
        ),
        (
            "admin/invitation_new.html",
            include_str!("../templates/admin/invitation_new.html"),
        ),
        (
            "admin/invitation_import.html",
            include_str!("../templates/admin/invitation_import.html"),
        ),
    ] {
        env.add_template(name, source)
            .expect("the embedded templates parse (checked by a unit test)");
    }
    env.add_filter("when", when);
    env
});

/// The one way pages show a time: `{{ t | when }}` (or `{{ t | when("never") }}` for a
/// time that may be absent) writes `<time datetime="…Z" title="… UTC">… UTC</time>`. The
/// page's script rewrites the text in the browser's zone and keeps UTC on hover; without
/// the script the UTC text stands. Microseconds are left out: people do not read them.
fn when(value: Option<String>, absent: Option<String>) -> minijinja::Value {
    let Some(time) = value
        .as_deref()
        .filter(|v| !v.is_empty())
        .and_then(crate::format::parse_datetime)
    else {
        let text = absent.or(value).unwrap_or_default();
        return minijinja::Value::from(text);
    };
    let time = time
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(time);
    let iso = crate::format::datetime(time);
    let utc = format!("{} UTC", iso.trim_end_matches('Z').replace('T', " "));
    // Both strings are made here from digits, `-`, `:`, `T`, ` ` and letters: nothing to escape.
    minijinja::Value::from_safe_string(format!(
        r#"<time datetime="{iso}" title="{utc}">{utc}</time>"#
    ))
}

const STYLESHEET: &str = include_str!("../static/akin.css");
const SCRIPT: &str = include_str!("../static/akin.js");

/// `/static/akin.css` and `/static/akin.js`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/static/akin.css", get(stylesheet))
        .route("/static/akin.js", get(script))
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
        503 => "Busy right now",
        _ => "Something went wrong",
    };
    let mut page = message_page(heading, &message);
    *page.status_mut() = status;
    for cookie in parts.headers.get_all(header::SET_COOKIE) {
        page.headers_mut()
            .append(header::SET_COOKIE, cookie.clone());
    }
    if let Some(retry) = parts.headers.get(header::RETRY_AFTER) {
        page.headers_mut()
            .insert(header::RETRY_AFTER, retry.clone());
    }
    page
}

pub(crate) use akin_mail::template_value;

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

    #[test]
    fn every_template_parses() {
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
            "admin/invitation_import.html",
        ] {
            TEMPLATES.get_template(name).unwrap();
        }
    }
}
