//! Numbers the database raises in the transaction of every change to a set of tables
//! (`directory_version`, `flow_definitions_version`), so that each node can keep what it
//! read of those tables in memory and know when to read it again.
//!
//! A node looks at a number after each write of its own and otherwise at most every
//! [`RECHECK`]: its own changes count for the very next request, and changes made
//! elsewhere (another node, the CLI) within [`RECHECK`].

use std::sync::RwLock;
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

impl Store {
    /// `flow_definitions_version` (migration 0022): raised by every change to flows,
    /// stages, prompts, flow-stage bindings, policies and policy bindings. What was read
    /// of them under one number stays right until the number changes.
    pub async fn flow_definitions_version(&self) -> StoreResult<i64> {
        self.flow_definitions.current(&self.db).await
    }
}
