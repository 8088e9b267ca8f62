//! API authentication, as authentik's: `Authorization: Bearer <key>` of a current token with
//! intent `api` whose user is active. Every refusal is a 403 with authentik's message.

use akin_domain::token::TokenIntent;
use akin_domain::user::UserEntry;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::error::ApiError;
use crate::state::AppState;

/// The authenticated caller of an API request.
pub struct Caller {
    pub user: UserEntry,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or(ApiError::NotAuthenticated)?;
        let header = header.to_str().map_err(|_| ApiError::TokenInvalid)?;
        let (scheme, key) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(ApiError::UnsupportedAuthentication);
        }
        let key = key.trim();
        if key.is_empty() {
            return Err(ApiError::TokenInvalid);
        }
        let (token, user) = state
            .store
            .token_with_user(key)
            .await?
            .ok_or(ApiError::TokenInvalid)?;
        let same_key: bool = token.key.as_bytes().ct_eq(key.as_bytes()).into();
        if !same_key
            || token.intent != TokenIntent::Api
            || !token.is_current(OffsetDateTime::now_utc())
            || !user.user.is_active
        {
            return Err(ApiError::TokenInvalid);
        }
        Ok(Caller { user })
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
