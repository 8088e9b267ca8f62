//! Server-side sessions, shared by every node. Rows are keyed by the SHA-256 of the cookie
//! value, so the table alone does not let anyone take over a session.
//!
//! Sessions read are also kept in memory, and a write replaces the copy held, so reading a
//! flow challenge or calling the API with a session costs no query, nor does the step
//! after a write (a session written but never read back, such as a first visit, is not
//! kept: a flood of cookie-less requests would fill the cache). Each
//! write raises the row's version (migration 0020), and a copy is only replaced by a later
//! version: two writes of one session may finish in either order, the copy is the one the
//! database kept. On SQLite every write passes through this one process (an embedded file
//! is served by one akin); on PostgreSQL a trigger (migration 0019) notifies every node of
//! each session row changed or deleted, by any node, cascades and sweeps included, and each
//! node drops its copy when told (its own writes' copies too: the notice does not say which
//! version it was about). Until a node listens, and whenever its listening
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
    version: i64,
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
    by_digest: HashMap<String, Cached>,
    /// Counts invalidations of unknown versions (another node's notice, a user's sessions,
    /// the sweep): a read or write that began before one may have been about what it
    /// invalidated, so it is not kept (see [`SessionCache::keep`]).
    epoch: u64,
}

impl CachedSessions {
    /// Holds `cached` for `digest`, starting over first when the cache is full. Deleted
    /// sessions' marks go too, so the epoch moves: reads in flight must not bring them back.
    fn hold(&mut self, digest: String, cached: Cached) {
        if self.by_digest.len() >= CACHE_LIMIT && !self.by_digest.contains_key(&digest) {
            self.by_digest.clear();
            self.epoch += 1;
        }
        self.by_digest.insert(digest, cached);
    }
}

/// One session's copy: its version, and the session (`None`: deleted, so no copy of any
/// earlier version may come back).
#[derive(Debug)]
struct Cached {
    record: Option<Arc<SessionRecord>>,
    version: i64,
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
        self.read().by_digest.get(digest)?.record.clone()
    }

    /// Where invalidations stand, taken before reading or writing a session.
    fn epoch(&self) -> u64 {
        self.read().epoch
    }

    /// Keeps `record` at `version`, read after [`SessionCache::epoch`] answered `since`,
    /// unless an invalidation came meanwhile (it may be about what was read) or a later
    /// version (or the session's deletion) is here already.
    fn keep(&self, digest: String, record: Arc<SessionRecord>, version: i64, since: u64) {
        let mut entries = self.write();
        if entries.epoch != since || !self.live.load(Ordering::Acquire) {
            return;
        }
        if entries
            .by_digest
            .get(&digest)
            .is_some_and(|kept| kept.version >= version)
        {
            return;
        }
        entries.hold(
            digest,
            Cached {
                record: Some(record),
                version,
            },
        );
    }

    /// Replaces the copy of a session this node holds with `record` at `version`, written
    /// after [`SessionCache::epoch`] answered `since`, under the same rules as
    /// [`SessionCache::keep`]. A session no copy is held of is not kept: a browser's first
    /// visit, or a visitor who never comes back, would otherwise fill the cache with
    /// sessions nobody reads (a flood of cookie-less requests held 31 MB more per 14,000).
    fn replace(&self, digest: &str, record: Arc<SessionRecord>, version: i64, since: u64) {
        let mut entries = self.write();
        if entries.epoch != since || !self.live.load(Ordering::Acquire) {
            return;
        }
        if let Some(kept) = entries.by_digest.get_mut(digest)
            && kept.record.is_some()
            && kept.version < version
        {
            *kept = Cached {
                record: Some(record),
                version,
            };
        }
    }

    /// Drops the copy of one session, whatever its version (another node changed or
    /// deleted it).
    fn invalidate(&self, digest: &str) {
        let mut entries = self.write();
        entries.by_digest.remove(digest);
        entries.epoch += 1;
    }

    /// Marks one session deleted here: no copy of it is kept again (a key is never reused;
    /// the row, if a write in flight brings it back, is read from the database).
    fn forget(&self, digest: String) {
        self.write().hold(
            digest,
            Cached {
                record: None,
                version: i64::MAX,
            },
        );
    }

    fn invalidate_where(&self, stale: impl Fn(&SessionRecord) -> bool) {
        let mut entries = self.write();
        entries
            .by_digest
            .retain(|_, kept| kept.record.as_deref().is_none_or(|r| !stale(r)));
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
            .sql("SELECT data, user_id, expires, version FROM akin_sessions WHERE session_key = ")
            .bind(digest.clone())
            .then(" AND expires > ")
            .bind(now);
        let Some(row) = self.db().fetch_optional::<SessionRow>(sql).await? else {
            return Ok(None);
        };
        let version = row.version;
        let record = Arc::new(SessionRecord::from_row(row));
        cache.keep(digest, record.clone(), version, since);
        Ok(Some(record))
    }

    /// Creates or replaces the session for cookie value `key`. `replaces` names the one it
    /// takes the place of (a sign-in or sign-out gives the browser a new id): that one is
    /// deleted in the same transaction, so the browser is never left with neither.
    pub async fn save_session(
        &self,
        key: &str,
        replaces: Option<&str>,
        record: &Arc<SessionRecord>,
        client_ip: Option<String>,
        user_agent: &str,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let digest = key_digest(key);
        let since = self.sessions.epoch();
        let sql = self
            .db()
            .sql("INSERT INTO akin_sessions (session_key, data, user_id, created, expires, last_ip, last_user_agent, version) VALUES (")
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
                ", 1) ON CONFLICT (session_key) DO UPDATE SET data = excluded.data, user_id = excluded.user_id, \
                 expires = excluded.expires, last_ip = excluded.last_ip, last_user_agent = excluded.last_user_agent, \
                 version = akin_sessions.version + 1 RETURNING version",
            );
        let version = match replaces {
            None => self.db().write_returning::<(i64,)>(sql).await?.0,
            Some(old) => {
                let old = key_digest(old);
                let mut tx = self.db().begin().await?;
                let delete = tx
                    .sql("DELETE FROM akin_sessions WHERE session_key = ")
                    .bind(old.clone());
                tx.execute(delete).await?;
                let (version,): (i64,) = tx.fetch_one(sql).await?;
                tx.commit().await?;
                // Kept as deleted: a read or write of it still in flight cannot bring a
                // copy back.
                self.sessions.forget(old);
                version
            }
        };
        // The next step reads it from here; a later write already kept stays.
        self.sessions
            .replace(&digest, record.clone(), version, since);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn session(stamp: u64) -> Arc<SessionRecord> {
        Arc::new(SessionRecord {
            flow_plan: None,
            user_id: Some(1),
            expires: OffsetDateTime::now_utc(),
            stamp,
        })
    }

    fn stamp_of(cache: &SessionCache, digest: &str) -> Option<u64> {
        cache.get(digest).map(|r| r.stamp)
    }

    #[test]
    fn two_writes_finishing_out_of_order_keep_the_later_one() {
        let cache = SessionCache::new(true);
        let since = cache.epoch();
        // The database's second write (version 3) is kept first; the first write's answer
        // (version 2) arrives after it and must not take its place.
        cache.keep("s".into(), session(30), 3, since);
        cache.keep("s".into(), session(20), 2, since);
        assert_eq!(stamp_of(&cache, "s"), Some(30));
        cache.keep("s".into(), session(40), 4, since);
        assert_eq!(stamp_of(&cache, "s"), Some(40));
    }

    #[test]
    fn a_write_replaces_a_held_copy_and_keeps_no_new_one() {
        let cache = SessionCache::new(true);
        let since = cache.epoch();
        // A first visit's session, never read back: nothing held.
        cache.replace("new", session(10), 1, since);
        assert_eq!(stamp_of(&cache, "new"), None);
        // A session read (kept), then written twice with the answers out of order.
        cache.keep("s".into(), session(10), 1, since);
        cache.replace("s", session(30), 3, since);
        cache.replace("s", session(20), 2, since);
        assert_eq!(stamp_of(&cache, "s"), Some(30));
        // Signed out: no write brings it back.
        cache.forget("s".into());
        cache.replace("s", session(40), 4, since);
        assert_eq!(stamp_of(&cache, "s"), None);
    }

    #[test]
    fn a_signed_out_session_stays_out_whatever_was_in_flight() {
        let cache = SessionCache::new(true);
        let since = cache.epoch();
        cache.keep("s".into(), session(10), 1, since);
        cache.forget("s".into());
        // A read or a write that began before the sign-out finishes after it.
        cache.keep("s".into(), session(20), 2, since);
        assert_eq!(stamp_of(&cache, "s"), None);
    }

    #[test]
    fn what_was_read_before_an_invalidation_is_not_kept() {
        let cache = SessionCache::new(true);
        let since = cache.epoch();
        // Another node changed it (or the sweep ran) while this read was in flight.
        cache.invalidate("s");
        cache.keep("s".into(), session(10), 1, since);
        assert_eq!(stamp_of(&cache, "s"), None);
        cache.keep("s".into(), session(10), 1, cache.epoch());
        assert_eq!(stamp_of(&cache, "s"), Some(10));
        cache.invalidate_where(|r| r.user_id == Some(1));
        assert_eq!(stamp_of(&cache, "s"), None);
    }

    #[test]
    fn nothing_is_kept_until_the_node_listens() {
        let cache = SessionCache::new(false);
        cache.keep("s".into(), session(10), 1, cache.epoch());
        assert_eq!(stamp_of(&cache, "s"), None);
        cache.start_over(true);
        cache.keep("s".into(), session(10), 1, cache.epoch());
        assert_eq!(stamp_of(&cache, "s"), Some(10));
    }
}
