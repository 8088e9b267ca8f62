//! The browser session: a random id in an HttpOnly, SameSite=Lax cookie (Secure behind
//! https), with everything else (the flow plan, who is signed in) in the database, so any
//! node can continue any flow.

use std::sync::Arc;

use akin_domain::flow::FlowPlan;
use akin_store::SessionRecord;
use axum::http::HeaderMap;
use axum::http::header::COOKIE;
use base64::Engine;
use time::{Duration, OffsetDateTime};

use crate::audit::RequestMeta;
use crate::error::ApiResult;
use crate::state::AppState;

/// authentik's session cookie name, so its clients carry it unchanged.
pub const COOKIE_NAME: &str = "authentik_session";
/// How long a session nobody signed in to lives (authentik's `unauthenticated_age`).
const ANONYMOUS_AGE: Duration = Duration::days(1);
/// How long a signed-in session lives when the login stage sets no duration.
const DEFAULT_SIGNED_IN_AGE: Duration = Duration::days(14);

pub struct Session {
    key: String,
    /// Whether anything changed since loading: unchanged sessions are not written back, so
    /// reading a challenge costs no database write.
    dirty: bool,
    /// The key this session had when loaded, if it changed (login rotates it).
    replaced: Option<String>,
    /// Shared with the session cache until something changes (copy on write).
    record: Arc<SessionRecord>,
    /// Seconds for the cookie's Max-Age; `None` for a browser session cookie.
    max_age: Option<i64>,
}

fn new_key() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The session cookie: `<key>.<stamp>` (the stamp in hex: which write of the session the
/// browser saw last, see `SessionRecord::stamp`); a bare key is a cookie from before stamps.
fn cookie_value(headers: &HeaderMap) -> Option<(String, Option<u64>)> {
    let value = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value)
        .filter(|v| !v.is_empty() && v.len() <= 128)?;
    Some(match value.split_once('.') {
        Some((key, stamp)) => (key.to_owned(), u64::from_str_radix(stamp, 16).ok()),
        None => (value.to_owned(), None),
    })
}

impl Session {
    /// The request's session, or a new one.
    pub async fn load(
        state: &AppState,
        headers: &HeaderMap,
        now: OffsetDateTime,
    ) -> ApiResult<Session> {
        if let Some((key, stamp)) = cookie_value(headers)
            && let Some(record) = state.store.session(&key, stamp, now).await?
        {
            return Ok(Session {
                key,
                dirty: false,
                replaced: None,
                record,
                max_age: None,
            });
        }
        Ok(Session {
            key: new_key(),
            dirty: true,
            replaced: None,
            record: Arc::new(SessionRecord {
                flow_plan: None,
                user_id: None,
                expires: now + ANONYMOUS_AGE,
                stamp: 0,
            }),
            max_age: None,
        })
    }

    /// The token this session's forms carry against cross-site request forgery: derived
    /// from the session id (which only this browser has, in an HttpOnly cookie), so it
    /// needs no storage and changes when the id does (at login).
    pub fn csrf_token(&self) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::new()
            .chain_update(b"akin csrf token\0")
            .chain_update(self.key.as_bytes())
            .finalize();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
    }

    /// Whether `sent` is this session's CSRF token (compared in constant time).
    pub fn csrf_matches(&self, sent: &str) -> bool {
        use subtle::ConstantTimeEq;
        self.csrf_token().as_bytes().ct_eq(sent.as_bytes()).into()
    }

    pub fn user(&self) -> Option<i64> {
        self.record.user_id
    }

    /// Who is signed in to this session, while their account is active (from the node's
    /// memory: `Store::directory_user`).
    pub async fn active_user(
        &self,
        state: &AppState,
    ) -> ApiResult<Option<Arc<akin_domain::user::UserEntry>>> {
        let Some(pk) = self.user() else {
            return Ok(None);
        };
        Ok(state
            .store
            .directory_user(pk)
            .await?
            .filter(|u| u.user.is_active))
    }

    /// The flow this browser is running, if any.
    pub fn plan(&self) -> Option<Arc<FlowPlan>> {
        self.record.flow_plan.clone()
    }

    pub fn set_plan(&mut self, plan: Option<FlowPlan>) {
        self.dirty = true;
        Arc::make_mut(&mut self.record).flow_plan = plan.map(Arc::new);
    }

    /// Signs `user` in with a fresh session id (against session fixation). `duration` of
    /// zero means until the browser closes.
    pub fn login(&mut self, user: i64, duration: Duration, now: OffsetDateTime) {
        self.dirty = true;
        self.replaced.get_or_insert_with(|| self.key.clone());
        self.key = new_key();
        let record = Arc::make_mut(&mut self.record);
        record.user_id = Some(user);
        if duration.is_positive() {
            record.expires = now + duration;
            self.max_age = Some(duration.whole_seconds());
        } else {
            record.expires = now + DEFAULT_SIGNED_IN_AGE;
        }
    }

    pub fn logout(&mut self) {
        self.dirty = true;
        self.replaced.get_or_insert_with(|| self.key.clone());
        self.key = new_key();
        Arc::make_mut(&mut self.record).user_id = None;
    }

    /// Stores the session and returns the `Set-Cookie` value for it; `None` when nothing
    /// changed (the browser's cookie is still right), so reading a challenge costs no write.
    pub async fn save(
        &mut self,
        state: &AppState,
        meta: &RequestMeta,
        secure: bool,
        now: OffsetDateTime,
    ) -> ApiResult<Option<String>> {
        if !self.dirty {
            return Ok(None);
        }
        let stamp = rand::random::<u64>().max(1);
        Arc::make_mut(&mut self.record).stamp = stamp;
        state
            .store
            .save_session(
                &self.key,
                self.replaced.as_deref(),
                &self.record,
                meta.client_ip.clone(),
                &meta.user_agent,
                now,
            )
            .await?;
        let mut cookie = format!(
            "{COOKIE_NAME}={}.{stamp:x}; Path=/; HttpOnly; SameSite=Lax",
            self.key
        );
        if let Some(age) = self.max_age {
            cookie.push_str(&format!("; Max-Age={age}"));
        }
        if secure {
            cookie.push_str("; Secure");
        }
        Ok(Some(cookie))
    }
}

/// The engine reads and changes the session through this; [`Session::save`] stores it.
impl akin_flow::FlowSession for Session {
    fn user(&self) -> Option<i64> {
        Session::user(self)
    }

    fn plan(&self) -> Option<Arc<FlowPlan>> {
        Session::plan(self)
    }

    fn set_plan(&mut self, plan: Option<FlowPlan>) {
        Session::set_plan(self, plan);
    }

    fn login(&mut self, user: i64, duration: Duration, now: OffsetDateTime) {
        Session::login(self, user, duration, now);
    }

    fn logout(&mut self) {
        Session::logout(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_and_random() {
        let (a, b) = (new_key(), new_key());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
    }
}
