//! API tokens and the users they stand for, kept in memory on each node.
//!
//! Every API request with a token needs the token, its user, the user's groups and whether
//! one of them makes the user a superuser: a query over five tables, which was most of what
//! a request cost (and on PostgreSQL a round trip). The answer is kept here by the key's
//! digest and read again after any change: the database raises `directory_version` in the
//! transaction of every change to tokens, users and groups (migration 0016). A node looks
//! at that number after each write of its own and otherwise at most every [`RECHECK`], so
//! its own changes (a revoked token, a deactivated user) count for the very next request,
//! and changes made elsewhere (another node, the CLI) within [`RECHECK`].

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use akin_domain::token::Token;
use akin_domain::user::UserEntry;

use super::Store;
use crate::error::StoreResult;

/// How long a node trusts the version it last read when it has written nothing since:
/// the most a change made on another node or by the CLI waits to count here.
pub const RECHECK: Duration = Duration::from_millis(100);

/// Beyond this many cached tokens the cache starts over (the database has them all); a
/// guessed key is never cached, so this bounds the memory whatever visitors send.
const CACHE_LIMIT: usize = 4096;

/// A token and its user, as one lookup found them.
pub type TokenUser = (Token, UserEntry);

#[derive(Debug, Default)]
pub(crate) struct DirectoryCache {
    state: RwLock<CacheState>,
    /// One version read at a time: requests arriving meanwhile wait for its answer
    /// instead of each asking the database.
    recheck: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct CacheState {
    /// The database's `directory_version` when last read; every entry is of it.
    version: i64,
    checked: Option<Instant>,
    /// The pool's count of local writes before that read.
    local_writes: u64,
    entries: HashMap<String, Arc<TokenUser>>,
}

impl CacheState {
    fn current(&self, local_writes: u64, now: Instant) -> Option<i64> {
        let checked = self.checked?;
        (self.local_writes == local_writes && now.duration_since(checked) < RECHECK)
            .then_some(self.version)
    }
}

impl DirectoryCache {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, CacheState> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, CacheState> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl Store {
    /// The directory's version, read again when this node wrote since or [`RECHECK`]
    /// has passed; a new one empties the cache.
    async fn directory_version(&self) -> StoreResult<i64> {
        let cache = &self.directory;
        if let Some(version) = cache.read().current(self.db.local_writes(), Instant::now()) {
            return Ok(version);
        }
        let _reading = cache.recheck.lock().await;
        // Whoever held the lock may have just read it.
        if let Some(version) = cache.read().current(self.db.local_writes(), Instant::now()) {
            return Ok(version);
        }
        // Counted before the read: a write committing during it is looked at next time.
        let local_writes = self.db.local_writes();
        let checked = Instant::now();
        let sql = self
            .db
            .sql("SELECT version FROM directory_version WHERE id = 1");
        let (version,): (i64,) = self.db.fetch_one(sql).await?;
        let mut state = cache.write();
        if state.version != version {
            state.entries.clear();
            state.version = version;
        }
        state.checked = Some(checked);
        state.local_writes = local_writes;
        Ok(version)
    }

    /// The token whose key has the same digest as `key`, with its user: from memory
    /// when nothing changed since it was read. The caller still compares the keys (in
    /// constant time) and checks intent, expiry and that the user is active.
    pub async fn token_with_user(&self, key: &str) -> StoreResult<Option<Arc<TokenUser>>> {
        let digest = super::tokens::key_digest(key);
        // Read before the lookup, so what the lookup finds is at least this fresh.
        let version = self.directory_version().await?;
        if let Some(found) = self.directory.read().entries.get(&digest) {
            return Ok(Some(found.clone()));
        }
        let Some(found) = self.token_with_user_uncached(&digest).await? else {
            return Ok(None);
        };
        let found = Arc::new(found);
        let mut state = self.directory.write();
        if state.version == version {
            if state.entries.len() >= CACHE_LIMIT {
                state.entries.clear();
            }
            state.entries.insert(digest, found.clone());
        }
        Ok(Some(found))
    }
}
