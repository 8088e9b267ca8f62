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

use axum::Router;
use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use minijinja::{Value as TemplateValue, context};
use time::OffsetDateTime;

use crate::auth::{Caller, Superuser};
use crate::error::{ApiError, ApiResult};
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
        // An admin address that does not exist is a page saying so, not the API's JSON.
        .route(
            "/if/admin/{*rest}",
            axum::routing::any(|| async { crate::error::ApiError::NoRoute }),
        )
        .layer(axum::middleware::from_fn(crate::pages::errors_as_pages))
}

/// A superuser signed in to this browser.
pub struct AdminSession {
    user: akin_domain::user::UserEntry,
    csrf_token: String,
    session: Session,
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
        let Some(pk) = session.user() else {
            return Err(AdminRejection::Login(here));
        };
        let user = state
            .store
            .user_by_pk(pk)
            .await
            .map_err(|e| AdminRejection::Failed(e.into()))?
            .filter(|u| u.user.is_active)
            .ok_or(AdminRejection::Login(here))?;
        if !user.is_superuser {
            return Err(AdminRejection::NotAdministrator);
        }
        Ok(AdminSession {
            csrf_token: session.csrf_token(),
            user,
            session,
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
    let ctx = context! {
        heading => heading,
        current => current,
        nav => nav(),
        admin => admin.user.user.username.clone(),
        csrf_token => admin.csrf_token.clone(),
        ..extra
    };
    crate::pages::render(template, ctx)
}

/// An API timestamp (`2026-11-29T01:02:03.456789Z`) as the admin pages show it:
/// `2026-11-29 01:02:03 UTC`.
fn readable_time(time: &str) -> String {
    time.get(..19).unwrap_or(time).replace('T', " ") + " UTC"
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
