//! `/if/admin/`: the administrator's pages, server-rendered. Every page is a view of the
//! `/api/v3` JSON its handler gets by calling the API's own handlers in-process, and every
//! form is turned into the request body the API takes: the pages hold no rules of their
//! own, and what works here works for authentik's clients too.
//!
//! Superusers only: visitors are sent to log in and come back, other users are refused.
//! Forms carry a token derived from the session (CSRF); destructive actions ask first.

mod blueprints;
mod directory;
mod flows;
mod invitations;
mod outbox;
mod policies;

use axum::Router;
use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use minijinja::{Value as TemplateValue, context};
use serde_json::Value;
use time::OffsetDateTime;

use crate::auth::{Caller, Superuser};
use crate::error::{ApiError, ApiResult};
use crate::extract::QueryParams;
use crate::flow::session::Session;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/if/admin/",
            get(|_: AdminSession| async { Redirect::to("/if/admin/invitations/") }),
        )
        .merge(flows::router())
        .merge(blueprints::router())
        .merge(outbox::router())
        .merge(invitations::router())
        .merge(directory::router())
        .merge(policies::router())
        // An admin address that does not exist is a page saying so, not the API's JSON.
        .route(
            "/if/admin/{*rest}",
            axum::routing::any(|| async { crate::error::ApiError::NoRoute }),
        )
        .layer(axum::middleware::from_fn(crate::pages::errors_as_pages))
}

/// A superuser signed in to this browser.
pub struct AdminSession {
    user: std::sync::Arc<akin_domain::user::UserEntry>,
    csrf_token: String,
    session: Session,
    /// What the last action said, for the page it led to.
    notices: Vec<Notice>,
}

/// What an action says on the page it leads to.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "text", rename_all = "snake_case")]
enum Notice {
    Done(String),
    Failed(String),
}

/// The cookie that carries notices across a redirect. The words travel in a cookie for the
/// admin pages, never in the address: a link made elsewhere cannot put words on an admin
/// page. It lives a minute and is cleared by the page that shows it.
const NOTICE_COOKIE: &str = "akin_notice";

/// Redirects (303) to `to`, where `notices` are shown.
fn redirect_with(to: &str, notices: &[Notice]) -> Response {
    let mut response = Redirect::to(to).into_response();
    let json = serde_json::to_string(notices).unwrap_or_default();
    // Cookies are small: a very long message is cut rather than lost with the cookie.
    let value: String = form_urlencoded::byte_serialize(json.as_bytes()).collect();
    let value = if value.len() > 3000 {
        let short = vec![Notice::Done("Done.".to_owned())];
        let json = serde_json::to_string(&short).unwrap_or_default();
        form_urlencoded::byte_serialize(json.as_bytes()).collect()
    } else {
        value
    };
    if let Ok(cookie) = HeaderValue::from_str(&format!(
        "{NOTICE_COOKIE}={value}; Path=/if/admin/; Max-Age=60; HttpOnly; SameSite=Lax"
    )) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// The notices a redirect left for this page.
fn notices_from(headers: &HeaderMap) -> Vec<Notice> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix(NOTICE_COOKIE)?.strip_prefix('='))
        .filter_map(|value| {
            let json: String = form_urlencoded::parse(format!("n={value}").as_bytes())
                .next()?
                .1
                .into_owned();
            serde_json::from_str::<Vec<Notice>>(&json).ok()
        })
        .flatten()
        .take(5)
        .collect()
}

/// A list page (`admin/table.html`): the API's list as a table.
pub(crate) struct ListPage<'a> {
    pub heading: &'a str,
    /// The path of the page, for the navigation.
    pub current: &'a str,
    pub columns: &'a [&'a str],
    pub rows: Vec<Vec<Value>>,
    /// `(query key, label)` pairs, shown as a search form.
    pub filters: &'a [(&'a str, &'a str)],
    /// `(label, href)` buttons above the table (what can be created).
    pub actions: Vec<(String, String)>,
}

impl ListPage<'_> {
    pub(crate) fn render(self, admin: &AdminSession, q: &QueryParams) -> ApiResult<Response> {
        let rows = Value::Array(self.rows.into_iter().map(Value::Array).collect());
        let filters: Vec<Value> = self
            .filters
            .iter()
            .map(|(name, label)| {
                serde_json::json!({"name": name, "label": label, "value": q.get(name).unwrap_or_default()})
            })
            .collect();
        let actions: Vec<Value> = self
            .actions
            .into_iter()
            .map(|(label, href)| serde_json::json!({"label": label, "href": href}))
            .collect();
        let ctx = context! {
            columns => self.columns.iter().map(|c| (*c).to_owned()).collect::<Vec<String>>(),
            rows => crate::pages::template_value(&rows),
            filters => crate::pages::template_value(&Value::Array(filters)),
            actions => crate::pages::template_value(&Value::Array(actions)),
        };
        page(admin, "admin/table.html", self.heading, self.current, ctx)
    }
}

impl AdminSession {
    /// The caller as the API's handlers take it.
    fn superuser(&self) -> Superuser {
        Superuser(Caller {
            user: self.user.clone(),
        })
    }

    /// The fields of a submitted form, once it carries this session's token.
    fn form(&self, body: &[u8]) -> ApiResult<Vec<(String, String)>> {
        let fields = form_fields(body);
        self.check_csrf(field(&fields, "csrf_token"))?;
        Ok(fields)
    }

    /// Refuses a form that does not carry this session's token.
    fn check_csrf(&self, sent: Option<&str>) -> ApiResult<()> {
        match sent {
            Some(token) if self.session.csrf_matches(token) => Ok(()),
            _ => Err(ApiError::CsrfFailed),
        }
    }
}

/// Why an admin page is not shown.
pub enum AdminRejection {
    /// Nobody is signed in: log in, then come back to `next`.
    Login(String),
    NotAdministrator,
    Failed(ApiError),
}

impl IntoResponse for AdminRejection {
    fn into_response(self) -> Response {
        match self {
            AdminRejection::Login(next) => {
                let next: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
                Redirect::to(&format!("/flows/-/default/authentication/?next={next}"))
                    .into_response()
            }
            AdminRejection::NotAdministrator => {
                let page = crate::pages::message_page(
                    "Access denied",
                    "Only administrators can open the admin interface.",
                );
                (StatusCode::FORBIDDEN, page).into_response()
            }
            AdminRejection::Failed(error) => error.into_response(),
        }
    }
}

impl FromRequestParts<AppState> for AdminSession {
    type Rejection = AdminRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, AdminRejection> {
        let session = Session::load(state, &parts.headers, OffsetDateTime::now_utc())
            .await
            .map_err(AdminRejection::Failed)?;
        let here = parts
            .extensions
            .get::<OriginalUri>()
            .map_or_else(|| parts.uri.path().to_owned(), |u| u.0.path().to_owned());
        let user = session
            .active_user(state)
            .await
            .map_err(AdminRejection::Failed)?
            .ok_or(AdminRejection::Login(here))?;
        if !user.is_superuser {
            return Err(AdminRejection::NotAdministrator);
        }
        Ok(AdminSession {
            csrf_token: session.csrf_token(),
            user,
            session,
            notices: notices_from(&parts.headers),
        })
    }
}

/// The navigation, with authentik's names.
fn nav() -> TemplateValue {
    let group = |title: &str, items: &[(&str, &str)]| {
        context! {
            title => title,
            items => items.iter().map(|(label, href)| context! { label => *label, href => *href }).collect::<Vec<_>>(),
        }
    };
    TemplateValue::from(vec![
        group(
            "Flows and Stages",
            &[
                ("Flows", "/if/admin/flows/"),
                ("Stages", "/if/admin/stages/"),
                ("Prompts", "/if/admin/prompts/"),
            ],
        ),
        group(
            "Directory",
            &[
                ("Users", "/if/admin/users/"),
                ("Groups", "/if/admin/groups/"),
                ("Invitations", "/if/admin/invitations/"),
            ],
        ),
        group(
            "Events",
            &[
                ("Logs", "/if/admin/events/"),
                ("Outbox", "/if/admin/outbox/"),
            ],
        ),
        group(
            "Customization",
            &[
                ("Policies", "/if/admin/policies/"),
                ("Blueprints", "/if/admin/blueprints/"),
            ],
        ),
    ])
}

/// Renders an admin page: `current` is its entry in the navigation.
fn page(
    admin: &AdminSession,
    template: &str,
    heading: &str,
    current: &str,
    extra: TemplateValue,
) -> ApiResult<Response> {
    let shared = context! {
        heading => heading,
        current => current,
        nav => nav(),
        admin => admin.user.user.username.clone(),
        csrf_token => admin.csrf_token.clone(),
        notices => crate::pages::template_value(&serde_json::to_value(&admin.notices).unwrap_or_default()),
    };
    // The last map wins: a page's own values over the shared ones (the invitations page
    // adds to the notices).
    let ctx = minijinja::value::merge_maps([shared, extra]);
    let mut response = crate::pages::render(template, ctx)?;
    if !admin.notices.is_empty() {
        // Shown once: a reload does not say it again.
        response.headers_mut().append(
            header::SET_COOKIE,
            HeaderValue::from_static(
                "akin_notice=; Path=/if/admin/; Max-Age=0; HttpOnly; SameSite=Lax",
            ),
        );
    }
    Ok(response)
}

/// A `datetime-local` value (`2026-12-01T10:00`) as the API's UTC time. `offset` is the
/// browser's offset from UTC at that time in minutes east, which the page's script sends
/// with the form (the label then names the browser's zone); without it the value is UTC, as
/// the label says then. A value that is no time goes on as typed, for the API to refuse.
fn local_time_as_utc(value: &str, offset: Option<&str>) -> String {
    let value = value.trim();
    let Some(local) = crate::format::parse_datetime(value) else {
        return value.to_owned();
    };
    // Real zones lie within UTC-12 and UTC+14; anything else did not come from a browser.
    let minutes = offset
        .and_then(|o| o.trim().parse::<i64>().ok())
        .filter(|m| m.abs() <= 18 * 60)
        .unwrap_or(0);
    crate::format::datetime(local - time::Duration::minutes(minutes))
}

/// The fields of a submitted `application/x-www-form-urlencoded` form.
/// The fields of a form, without U+0000 (no browser sends it from what people type, and
/// the database could not store it).
fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body)
        .map(|(k, v)| (k.replace('\0', ""), v.replace('\0', "")))
        .collect()
}

fn field<'a>(fields: &'a [(String, String)], key: &str) -> Option<&'a str> {
    fields
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The page's own `search` (and other list filters) passed on to the API, first page of up
/// to 100.
fn list_query(q: &QueryParams, keys: &[&str], ordering: &str) -> QueryParams {
    let mut pairs: Vec<(String, String)> = keys
        .iter()
        .filter_map(|k| q.get(k).map(|v| ((*k).to_owned(), v.to_owned())))
        .collect();
    pairs.push(("page_size".into(), "100".into()));
    if !ordering.is_empty() {
        pairs.push(("ordering".into(), ordering.into()));
    }
    QueryParams::from_pairs(pairs)
}
