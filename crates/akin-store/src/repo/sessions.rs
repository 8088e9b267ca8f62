//! Server-side sessions, shared by every node. Rows are keyed by the SHA-256 of the cookie
//! value, so the table alone does not let anyone take over a session.
//!
//! Sessions read are also kept in memory, so reading a flow challenge or calling the API
//! with a session costs no query. A write removes the copy (the next read fills it again),
//! on every node: on SQLite every write passes through this one process (an embedded file
//! is served by one akin); on PostgreSQL a trigger (migration 0019) notifies every node of
//! each session row changed or deleted, by any node, cascades and sweeps included, and each
//! node drops its copy when told. Until a node listens, and whenever its listening
//! connection is lost, it reads every session from the database and starts its copies
//! over. What a revocation costs: the notification's trip from the writer's commit to the
//! other nodes (about a millisecond on one network; see `docs/api.md`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// Which write this is: random, new with every write, and carried in the browser's
    /// cookie, so that any node tells its copy from the browser's latest write (a browser
    /// reads what it just wrote through another node, without waiting for the notice).
    /// 0: none (a row written before stamps).
    pub stamp: u64,
}

impl SessionRecord {
    /// The `data` column: a JSON object, so other keys can join the plan later.
    fn data(&self) -> Value {
        let mut data = json!({ "stamp": self.stamp });
        if let Some(plan) = &self.flow_plan {
            data["flow_plan"] = json!(plan);
        }
        data
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
            stamp: data.get("stamp").and_then(Value::as_u64).unwrap_or(0),
        }
    }
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    data: Json<Value>,
    user_id: Option<i64>,
    expires: DbTime,
}

/// Sessions by key digest, as read from the database; never the only copy.
#[derive(Debug)]
pub(crate) struct SessionCache {
    entries: RwLock<CachedSessions>,
    /// Whether copies may be used: always on SQLite; on PostgreSQL while this node listens
    /// for other nodes' changes.
    live: AtomicBool,
}

#[derive(Debug, Default)]
struct CachedSessions {
    by_digest: HashMap<String, Arc<SessionRecord>>,
    /// Counts invalidations: a read that began before one may have read what it
    /// invalidated, so it is not kept (see [`SessionCache::fill`]).
    epoch: u64,
}

/// Beyond this many cached sessions the cache starts over (the database has them all).
const CACHE_LIMIT: usize = 100_000;

/// The channel the sessions trigger notifies (PostgreSQL), with the row's key digest.
const SESSIONS_CHANNEL: &str = "akin_sessions";

impl SessionCache {
    fn new(live: bool) -> Self {
        SessionCache {
            entries: RwLock::default(),
            live: AtomicBool::new(live),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, CachedSessions> {
        self.entries.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, CachedSessions> {
        self.entries.write().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, digest: &str) -> Option<Arc<SessionRecord>> {
        if !self.live.load(Ordering::Acquire) {
            return None;
        }
        self.read().by_digest.get(digest).cloned()
    }

    /// Where invalidations stand, taken before reading a session from the database.
    fn epoch(&self) -> u64 {
        self.read().epoch
    }

    /// Keeps `record`, read from the database after [`SessionCache::epoch`] answered
    /// `since`, unless something was invalidated meanwhile (it may be what was read).
    fn fill(&self, digest: String, record: Arc<SessionRecord>, since: u64) {
        let mut entries = self.write();
        if entries.epoch != since || !self.live.load(Ordering::Acquire) {
            return;
        }
        if entries.by_digest.len() >= CACHE_LIMIT && !entries.by_digest.contains_key(&digest) {
            entries.by_digest.clear();
        }
        entries.by_digest.insert(digest, record);
    }

    /// Drops the copy of one session (written or deleted, here or on another node).
    fn invalidate(&self, digest: &str) {
        let mut entries = self.write();
        entries.by_digest.remove(digest);
        entries.epoch += 1;
    }

    fn invalidate_where(&self, stale: impl Fn(&SessionRecord) -> bool) {
        let mut entries = self.write();
        entries.by_digest.retain(|_, r| !stale(r));
        entries.epoch += 1;
    }

    /// Drops every copy; from now on copies are kept when `live`.
    fn start_over(&self, live: bool) {
        let mut entries = self.write();
        entries.by_digest.clear();
        entries.epoch += 1;
        self.live.store(live, Ordering::Release);
    }
}

/// The session cache of a store on `backend`: live at once on SQLite, from its first
/// listen on PostgreSQL ([`Store::watch_sessions`]).
pub(crate) fn session_cache(backend: crate::db::Backend) -> Arc<SessionCache> {
    Arc::new(SessionCache::new(backend == crate::db::Backend::Sqlite))
}

impl Store {
    /// The session for cookie value `key`, unless it has expired. `stamp` is the one the
    /// browser's cookie carries (its latest write): a copy with another is not used.
    pub async fn session(
        &self,
        key: &str,
        stamp: Option<u64>,
        now: OffsetDateTime,
    ) -> StoreResult<Option<Arc<SessionRecord>>> {
        let digest = key_digest(key);
        let cache = &self.sessions;
        if let Some(record) = cache
            .get(&digest)
            .filter(|r| stamp.is_none_or(|s| s == r.stamp))
        {
            return Ok((record.expires > now).then_some(record));
        }
        let since = cache.epoch();
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
        if let Some(record) = &record {
            cache.fill(digest, record.clone(), since);
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
        // Dropped, not replaced: two writes of one session may finish in either order, and
        // the next read takes whichever the database kept.
        self.sessions.invalidate(&digest);
        Ok(())
    }

    pub async fn delete_session(&self, key: &str) -> StoreResult<()> {
        let digest = key_digest(key);
        let sql = self
            .db()
            .sql("DELETE FROM akin_sessions WHERE session_key = ")
            .bind(digest.clone());
        self.db().execute(sql).await?;
        self.sessions.invalidate(&digest);
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
        self.sessions.invalidate_where(|r| r.user_id == Some(user));
    }

    /// Removes expired sessions; returns how many.
    pub async fn sweep_sessions(&self, now: OffsetDateTime) -> StoreResult<u64> {
        let sql = self
            .db()
            .sql("DELETE FROM akin_sessions WHERE expires <= ")
            .bind(now);
        let swept = self.db().execute(sql).await?;
        self.sessions.invalidate_where(|r| r.expires <= now);
        Ok(swept)
    }

    /// On PostgreSQL, starts listening for every node's session changes (the cache is not
    /// used until this node listens); nothing on SQLite. The watch ends with the pool.
    pub fn watch_sessions(&self) {
        if self.db().backend() == crate::db::Backend::Postgres {
            tokio::spawn(watch_sessions(self.clone()));
        }
    }
}

/// Drops this node's copy of every session another node (or this one) changes, as the
/// trigger tells; starts the copies over whenever the listening connection was lost.
async fn watch_sessions(store: Store) {
    let cache = store.sessions.clone();
    loop {
        let mut listener = match store.db().listen(SESSIONS_CHANNEL).await {
            Ok(listener) => listener,
            Err(_) if store.db().is_closed() => return,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for session changes; reading every session from the database");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
        };
        cache.start_over(true);
        loop {
            match listener.try_recv().await {
                Ok(Some(changed)) => cache.invalidate(changed.payload()),
                // Reconnected (and listening again): what was missed meanwhile is unknown.
                Ok(None) => cache.start_over(true),
                Err(_) if store.db().is_closed() => return,
                Err(error) => {
                    cache.start_over(false);
                    tracing::warn!(%error, "lost the session change listener; reading every session from the database");
                    break;
                }
            }
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}
