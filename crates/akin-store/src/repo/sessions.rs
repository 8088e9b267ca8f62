//! Server-side sessions, shared by every node. Rows are keyed by the SHA-256 of the cookie
//! value, so the table alone does not let anyone take over a session.
//!
//! On SQLite, sessions are also kept in memory: an embedded database file is served by one
//! akin process (several nodes share PostgreSQL), so every session write passes through
//! this process and the copy cannot go stale. Reading a flow challenge then costs no
//! query. On PostgreSQL every read goes to the database, so any node continues any flow.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use akin_domain::flow::FlowPlan;
use serde_json::{Value, json};
use sqlx::types::Json;
use time::OffsetDateTime;

use super::Store;
use super::tokens::key_digest;
use crate::error::StoreResult;
use crate::types::DbTime;

/// A stored session.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    /// The flow this browser is running, parsed once when read from the database (and
    /// shared with the cache), not on every request.
    pub flow_plan: Option<Arc<FlowPlan>>,
    pub user_id: Option<i64>,
    pub expires: OffsetDateTime,
}

impl SessionRecord {
    /// The `data` column: a JSON object, so other keys can join the plan later.
    fn data(&self) -> Value {
        match &self.flow_plan {
            Some(plan) => json!({ "flow_plan": plan }),
            None => json!({}),
        }
    }

    fn from_row(row: SessionRow) -> SessionRecord {
        // A plan written by another version that no longer parses is dropped: the flow
        // starts over instead of failing.
        let mut data = row.data.0;
        let flow_plan = data
            .as_object_mut()
            .and_then(|d| d.remove("flow_plan"))
            .and_then(|p| serde_json::from_value(p).ok())
            .map(Arc::new);
        SessionRecord {
            flow_plan,
            user_id: row.user_id,
            expires: row.expires.0,
        }
    }
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    data: Json<Value>,
    user_id: Option<i64>,
    expires: DbTime,
}

/// Sessions by key digest; written through, never the only copy.
#[derive(Debug, Default)]
pub(crate) struct SessionCache {
    entries: RwLock<HashMap<String, Arc<SessionRecord>>>,
}

/// Beyond this many cached sessions the cache starts over (the database has them all).
const CACHE_LIMIT: usize = 100_000;

impl SessionCache {
    fn get(&self, digest: &str) -> Option<Arc<SessionRecord>> {
        self.entries
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(digest)
            .cloned()
    }

    fn put(&self, digest: String, record: Arc<SessionRecord>) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CACHE_LIMIT && !entries.contains_key(&digest) {
            entries.clear();
        }
        entries.insert(digest, record);
    }

    fn retain(&self, keep: impl Fn(&SessionRecord) -> bool) {
        self.entries
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, r| keep(r));
    }

    fn remove(&self, digest: &str) {
        self.entries
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(digest);
    }
}

impl Store {
    /// The session for cookie value `key`, unless it has expired.
    pub async fn session(
        &self,
        key: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Option<Arc<SessionRecord>>> {
        let digest = key_digest(key);
        if let Some(cache) = &self.sessions
            && let Some(record) = cache.get(&digest)
        {
            return Ok((record.expires > now).then_some(record));
        }
        let sql = self
            .db()
            .sql("SELECT data, user_id, expires FROM akin_sessions WHERE session_key = ")
            .bind(digest.clone())
            .then(" AND expires > ")
            .bind(now);
        let record = self
            .db()
            .fetch_optional::<SessionRow>(sql)
            .await?
            .map(|row| Arc::new(SessionRecord::from_row(row)));
        if let (Some(cache), Some(record)) = (&self.sessions, &record) {
            cache.put(digest, record.clone());
        }
        Ok(record)
    }

    /// Creates or replaces the session for cookie value `key`.
    pub async fn save_session(
        &self,
        key: &str,
        record: &Arc<SessionRecord>,
        client_ip: Option<String>,
        user_agent: &str,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let digest = key_digest(key);
        let sql = self
            .db()
            .sql("INSERT INTO akin_sessions (session_key, data, user_id, created, expires, last_ip, last_user_agent) VALUES (")
            .bind(digest.clone())
            .then(", ")
            .bind(record.data())
            .then(", ")
            .bind(crate::db::Arg::OptInt(record.user_id))
            .then(", ")
            .bind(now)
            .then(", ")
            .bind(record.expires)
            .then(", ")
            .bind(client_ip)
            .then(", ")
            .bind(user_agent)
            .then(
                ") ON CONFLICT (session_key) DO UPDATE SET data = excluded.data, user_id = excluded.user_id, \
                 expires = excluded.expires, last_ip = excluded.last_ip, last_user_agent = excluded.last_user_agent",
            );
        self.db().execute(sql).await?;
        if let Some(cache) = &self.sessions {
            cache.put(digest, record.clone());
        }
        Ok(())
    }

    pub async fn delete_session(&self, key: &str) -> StoreResult<()> {
        let digest = key_digest(key);
        let sql = self
            .db()
            .sql("DELETE FROM akin_sessions WHERE session_key = ")
            .bind(digest.clone());
        self.db().execute(sql).await?;
        if let Some(cache) = &self.sessions {
            cache.remove(&digest);
        }
        Ok(())
    }

    /// Signs `user` out everywhere: removes every session they are signed in to.
    pub async fn delete_user_sessions(&self, user: i64) -> StoreResult<u64> {
        let sql = self
            .db()
            .sql("DELETE FROM akin_sessions WHERE user_id = ")
            .bind(user);
        let deleted = self.db().execute(sql).await?;
        self.forget_user_sessions(user);
        Ok(deleted)
    }

    /// Drops cached sessions of `user` (their rows are gone or going, e.g. by cascade).
    pub(crate) fn forget_user_sessions(&self, user: i64) {
        if let Some(cache) = &self.sessions {
            cache.retain(|r| r.user_id != Some(user));
        }
    }

    /// Removes expired sessions; returns how many.
    pub async fn sweep_sessions(&self, now: OffsetDateTime) -> StoreResult<u64> {
        let sql = self
            .db()
            .sql("DELETE FROM akin_sessions WHERE expires <= ")
            .bind(now);
        let swept = self.db().execute(sql).await?;
        if let Some(cache) = &self.sessions {
            cache.retain(|r| r.expires > now);
        }
        Ok(swept)
    }
}
