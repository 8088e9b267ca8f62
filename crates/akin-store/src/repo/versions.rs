//! Numbers the database raises in the transaction of every change to a set of tables
//! (`directory_version`, `flow_definitions_version`), so that each node can keep what it
//! read of those tables in memory and know when to read it again.
//!
//! A node looks at a number after each write of its own and otherwise at most every
//! [`RECHECK`]: its own changes count for the very next request, and changes made
//! elsewhere (another node, the CLI) within [`RECHECK`].

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::Store;
use crate::db::Db;
use crate::error::StoreResult;

/// How long a node trusts a number it last read when it has written nothing since: the
/// most a change made on another node or by the CLI waits to count here.
pub const RECHECK: Duration = Duration::from_millis(100);

/// One such number, as this node last read it.
#[derive(Debug)]
pub(crate) struct VersionWatch {
    /// `SELECT version FROM <table> WHERE id = 1`.
    query: &'static str,
    state: RwLock<Seen>,
    /// One read at a time: requests arriving meanwhile wait for its answer instead of
    /// each asking the database.
    reading: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct Seen {
    version: i64,
    checked: Option<Instant>,
    /// The pool's count of local writes before that read.
    local_writes: u64,
}

impl Seen {
    fn current(&self, local_writes: u64, now: Instant) -> Option<i64> {
        let checked = self.checked?;
        (self.local_writes == local_writes && now.duration_since(checked) < RECHECK)
            .then_some(self.version)
    }
}

impl VersionWatch {
    pub(crate) fn new(query: &'static str) -> Self {
        Self {
            query,
            state: RwLock::default(),
            reading: tokio::sync::Mutex::new(()),
        }
    }

    fn seen(&self) -> std::sync::RwLockReadGuard<'_, Seen> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The number, read again when this node wrote since or [`RECHECK`] has passed. It
    /// never goes down: whatever was read under a number is at least that fresh.
    pub(crate) async fn current(&self, db: &Db) -> StoreResult<i64> {
        if let Some(version) = self.seen().current(db.local_writes(), Instant::now()) {
            return Ok(version);
        }
        let _reading = self.reading.lock().await;
        // Whoever held the lock may have just read it.
        if let Some(version) = self.seen().current(db.local_writes(), Instant::now()) {
            return Ok(version);
        }
        // Counted before the read: a write committing during it is looked at next time.
        let local_writes = db.local_writes();
        let checked = Instant::now();
        let (version,): (i64,) = db.fetch_one(db.sql(self.query)).await?;
        let mut seen = self.state.write().unwrap_or_else(|e| e.into_inner());
        *seen = Seen {
            version,
            checked: Some(checked),
            local_writes,
        };
        Ok(version)
    }
}

/// What a node read under one of these numbers, by key: used while the number stays,
/// emptied once a newer one is seen, and at most `limit` entries (then it starts over;
/// the database has them all).
#[derive(Debug)]
pub struct VersionedMap<K, V> {
    held: RwLock<Held<K, V>>,
    limit: usize,
}

#[derive(Debug)]
struct Held<K, V> {
    /// The number every entry was read under.
    version: i64,
    entries: HashMap<K, Arc<V>>,
}

impl<K: Eq + Hash, V> VersionedMap<K, V> {
    pub fn new(limit: usize) -> Self {
        Self {
            held: RwLock::new(Held {
                version: 0,
                entries: HashMap::new(),
            }),
            limit: limit.max(1),
        }
    }

    /// The entry for `key` when it was read under `version`.
    pub fn get<Q>(&self, version: i64, key: &Q) -> Option<Arc<V>>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let held = self.held.read().unwrap_or_else(|e| e.into_inner());
        (held.version == version)
            .then(|| held.entries.get(key).cloned())
            .flatten()
    }

    /// Keeps `value`, read after `version` was: at least that fresh. Left out when a newer
    /// number has been seen meanwhile (it may be older than that).
    pub fn insert(&self, version: i64, key: K, value: Arc<V>) {
        let mut held = self.held.write().unwrap_or_else(|e| e.into_inner());
        if held.version < version {
            held.entries.clear();
            held.version = version;
        }
        if held.version != version {
            return;
        }
        if held.entries.len() >= self.limit {
            held.entries.clear();
        }
        held.entries.insert(key, value);
    }
}

impl Store {
    /// `flow_definitions_version` (migration 0022): raised by every change to flows,
    /// stages, prompts, flow-stage bindings, policies and policy bindings. What was read
    /// of them under one number stays right until the number changes.
    pub async fn flow_definitions_version(&self) -> StoreResult<i64> {
        self.flow_definitions.current(&self.db).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::VersionedMap;

    #[test]
    fn entries_count_only_under_the_number_they_were_read_under() {
        let map = VersionedMap::new(8);
        map.insert(3, "a", Arc::new(1));
        assert_eq!(map.get(3, "a").as_deref(), Some(&1));
        // A change elsewhere: the number moved on, the entry is not used.
        assert_eq!(map.get(4, "a"), None);
        // Read under a newer number: what was held goes.
        map.insert(4, "b", Arc::new(2));
        assert_eq!(map.get(4, "b").as_deref(), Some(&2));
        assert_eq!(map.get(3, "a"), None);
        // A slow read that began under the older number is not kept.
        map.insert(3, "a", Arc::new(1));
        assert_eq!(map.get(3, "a"), None);
        assert_eq!(map.get(4, "a"), None);
    }

    #[test]
    fn at_the_limit_it_starts_over() {
        let map = VersionedMap::new(2);
        map.insert(1, 1, Arc::new("one"));
        map.insert(1, 2, Arc::new("two"));
        map.insert(1, 3, Arc::new("three"));
        assert_eq!(map.get(1, &1), None);
        assert_eq!(map.get(1, &3).as_deref(), Some(&"three"));
    }
}
