//! API authentication, as authentik's: `Authorization: Bearer <key>` of a current token with
//! intent `api` whose user is active, or the browser session a flow signed in. Every refusal
//! is a 403 with authentik's message. Session-authenticated writes must come from this
//! site (CSRF): `Sec-Fetch-Site: same-origin`, an `Origin` naming this host, or authentik's
//! double submit (`authentik_csrf` cookie equal to the `X-authentik-CSRF` header).

use std::sync::Arc;

use akin_domain::token::TokenIntent;
use akin_domain::user::UserEntry;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::error::ApiError;
use crate::state::AppState;

/// The authenticated caller of an API request: the user as this node keeps them in
/// memory (shared, not copied, per request).
pub struct Caller {
    pub user: Arc<UserEntry>,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(header) = parts.headers.get(AUTHORIZATION) else {
            return session_caller(parts, state).await;
        };
        let header = header.to_str().map_err(|_| ApiError::TokenInvalid)?;
        let (scheme, key) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(ApiError::UnsupportedAuthentication);
        }
        let key = key.trim();
        if key.is_empty() {
            return Err(ApiError::TokenInvalid);
        }
        let found = state
            .store
            .token_with_user(key)
            .await?
            .ok_or(ApiError::TokenInvalid)?;
        let (token, user) = &*found;
        let same_key: bool = token.key.as_bytes().ct_eq(key.as_bytes()).into();
        if !same_key
            || token.intent != TokenIntent::Api
            || !token.is_current(OffsetDateTime::now_utc())
            || !user.user.is_active
        {
            return Err(ApiError::TokenInvalid);
        }
        Ok(Caller { user: user.clone() })
    }
}

/// The user signed in to this browser session, if any; writes need a same-site request.
async fn session_caller(parts: &Parts, state: &AppState) -> Result<Caller, ApiError> {
    let now = OffsetDateTime::now_utc();
    let session = crate::flow::session::Session::load(state, &parts.headers, now).await?;
    let user = session
        .active_user(state)
        .await?
        .ok_or(ApiError::NotAuthenticated)?;
    if !parts.method.is_safe() && !same_site(&parts.headers) {
        return Err(ApiError::CsrfFailed);
    }
    Ok(Caller { user })
}

/// Whether a request comes from a page of this site (CSRF check for browser writes).
pub(crate) fn same_site(headers: &axum::http::HeaderMap) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if matches!(header("sec-fetch-site"), Some("same-origin" | "none")) {
        return true;
    }
    // The whole origin: scheme, host and port. A page served over plain http (or on
    // another port) of the same host name is another site.
    if let (Some(origin), Some(host)) = (header("origin"), header("host")) {
        let scheme = if crate::proxy::is_https(headers) {
            "https"
        } else {
            "http"
        };
        if origin.eq_ignore_ascii_case(&format!("{scheme}://{host}")) {
            return true;
        }
    }
    let cookie = headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == "authentik_csrf")
        .map(|(_, value)| value.to_owned());
    match (cookie, header("x-authentik-csrf")) {
        (Some(cookie), Some(sent)) if !cookie.is_empty() => {
            bool::from(cookie.as_bytes().ct_eq(sent.as_bytes()))
        }
        _ => false,
    }
}

/// A caller who is a superuser; anyone else gets 403.
pub struct Superuser(pub Caller);

impl FromRequestParts<AppState> for Superuser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        if caller.user.is_superuser {
            Ok(Superuser(caller))
        } else {
            Err(ApiError::Forbidden)
        }
    }
}
