//! The database handle: one SQLite or PostgreSQL pool chosen by URL, and a small SQL builder
//! whose text runs on both (numbered `$n` placeholders, portable SQL).

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, PgPool, Postgres, Sqlite, SqlitePool, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{StoreError, StoreResult};
use crate::types::{DbTime, DbUuid};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A connection pool to either backend.
#[derive(Debug, Clone)]
pub struct Db {
    pool: Pool,
    /// Writes this process made through this pool (statements run outside a transaction,
    /// committed transactions): what a cache of database rows compares to know that it
    /// must look again, without a query (see `repo::directory`).
    writes: Arc<AtomicU64>,
}

#[derive(Debug, Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The file of a `sqlite://PATH` (or `sqlite:PATH`) URL, its `?options` left out; `None`
/// for any other URL.
pub fn sqlite_path(url: &str) -> Option<&str> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    path.split('?').next()
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Db {
    /// Opens a pool for `url` (`sqlite://PATH` or `postgres://…`). A SQLite file and its folder
    /// are created when missing. Nothing is migrated here.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        if let Some(path) = sqlite_path(url) {
            if let Some(parent) = std::path::Path::new(path).parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent).map_err(|source| StoreError::Folder {
                    path: parent.display().to_string(),
                    source,
                })?;
            }
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5));
            let pool = SqlitePoolOptions::new()
                // One writer at a time anyway; each connection is a thread, and more than
                // four did not raise throughput on two cores.
                .max_connections(4)
                .min_connections(1)
                .connect_with(options)
                .await?;
            Ok(Db::new(Pool::Sqlite(pool)))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options)
                .await?;
            Ok(Db::new(Pool::Postgres(pool)))
        } else {
            Err(StoreError::UnsupportedUrl(redact_url(url)))
        }
    }

    /// Copies this SQLite database into the new file `to`, as one consistent snapshot,
    /// while the server keeps reading and writing it (`VACUUM INTO`: a reader in WAL mode,
    /// so nobody waits), then checks the copy's integrity. PostgreSQL's are made with
    /// `pg_dump`.
    pub async fn backup_sqlite(&self, to: &std::path::Path) -> StoreResult<()> {
        if self.backend() != Backend::Sqlite {
            return Err(StoreError::NotSqlite);
        }
        let target = to.to_string_lossy().into_owned();
        self.execute(self.sql("VACUUM INTO ").bind(target.clone()))
            .await?;
        let copy = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(SqliteConnectOptions::new().filename(to).read_only(true))
            .await?;
        let (verdict,): (String,) = sqlx::query_as("PRAGMA integrity_check")
            .fetch_one(&copy)
            .await?;
        copy.close().await;
        if verdict != "ok" {
            return Err(StoreError::InvalidValue(format!(
                "the copy {target} failed its integrity check: {verdict}"
            )));
        }
        Ok(())
    }

    fn new(pool: Pool) -> Self {
        Db {
            pool,
            writes: Arc::default(),
        }
    }

    /// A listener for PostgreSQL notifications on `channel`, on a connection of its own
    /// taken from the pool (held while it listens).
    pub(crate) async fn listen(&self, channel: &str) -> StoreResult<sqlx::postgres::PgListener> {
        match &self.pool {
            Pool::Postgres(pool) => {
                let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
                listener.listen(channel).await?;
                Ok(listener)
            }
            Pool::Sqlite(_) => Err(StoreError::InvalidValue(
                "SQLite has no notifications".into(),
            )),
        }
    }

    /// Whether the pool has been closed (the server is stopping).
    pub fn is_closed(&self) -> bool {
        match &self.pool {
            Pool::Sqlite(pool) => pool.is_closed(),
            Pool::Postgres(pool) => pool.is_closed(),
        }
    }

    /// How many writes this process has made through this pool so far.
    pub fn local_writes(&self) -> u64 {
        self.writes.load(Ordering::Acquire)
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies every pending migration. Safe to run from several nodes at once: sqlx takes an
    /// advisory lock on PostgreSQL, and SQLite serialises writers.
    pub async fn migrate(&self) -> StoreResult<()> {
        match &self.pool {
            Pool::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await?,
            Pool::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    /// Whether the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        let sql = Sql::new(self.backend(), "SELECT 1");
        self.fetch_one::<(i32,)>(sql).await.is_ok()
    }

    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }

    /// Starts a transaction; dropped without `commit` it rolls back.
    ///
    /// On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`). A deferred
    /// transaction reads first and asks for the lock at its first write; when another
    /// connection wrote in between, SQLite cannot wait (its snapshot is stale) and answers
    /// "database is locked" at once — 500s under concurrent writes. Taken up front, the
    /// lock is waited for (`busy_timeout`) like any other.
    pub async fn begin(&self) -> StoreResult<Tx> {
        let open = match &self.pool {
            Pool::Sqlite(pool) => Open::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Pool::Postgres(pool) => Open::Postgres(pool.begin().await?),
        };
        Ok(Tx {
            open,
            writes: self.writes.clone(),
        })
    }

    pub fn sql(&self, text: &str) -> Sql {
        Sql::new(self.backend(), text)
    }
}

/// Hides credentials in a URL before it is shown to anyone.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// An open transaction on either backend.
pub struct Tx {
    open: Open,
    /// The pool's count of writes, raised when this commits.
    writes: Arc<AtomicU64>,
}

enum Open {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl Tx {
    pub fn backend(&self) -> Backend {
        match self.open {
            Open::Sqlite(_) => Backend::Sqlite,
            Open::Postgres(_) => Backend::Postgres,
        }
    }

    pub fn sql(&self, text: &str) -> Sql {
        Sql::new(self.backend(), text)
    }

    pub async fn commit(self) -> StoreResult<()> {
        match self.open {
            Open::Sqlite(tx) => tx.commit().await?,
            Open::Postgres(tx) => tx.commit().await?,
        }
        self.writes.fetch_add(1, Ordering::Release);
        Ok(())
    }
}

/// A value bound to a `$n` placeholder.
#[derive(Debug, Clone)]
pub enum Arg {
    Text(String),
    OptText(Option<String>),
    Int(i64),
    OptInt(Option<i64>),
    Bool(bool),
    Uuid(Uuid),
    OptUuid(Option<Uuid>),
    Time(OffsetDateTime),
    OptTime(Option<OffsetDateTime>),
    Json(serde_json::Value),
}

impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(v.to_owned())
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(v)
    }
}
impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        Arg::OptText(v)
    }
}
impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}
impl From<bool> for Arg {
    fn from(v: bool) -> Self {
        Arg::Bool(v)
    }
}
impl From<Uuid> for Arg {
    fn from(v: Uuid) -> Self {
        Arg::Uuid(v)
    }
}
impl From<OffsetDateTime> for Arg {
    fn from(v: OffsetDateTime) -> Self {
        Arg::Time(v)
    }
}
impl From<Option<OffsetDateTime>> for Arg {
    fn from(v: Option<OffsetDateTime>) -> Self {
        Arg::OptTime(v)
    }
}
impl From<serde_json::Value> for Arg {
    fn from(v: serde_json::Value) -> Self {
        Arg::Json(v)
    }
}

/// SQL text with its arguments. Placeholders are numbered in the order they are pushed,
/// which is also the order SQLite assigns them.
#[derive(Debug, Clone)]
pub struct Sql {
    backend: Backend,
    text: String,
    args: Vec<Arg>,
}

impl Sql {
    pub fn new(backend: Backend, text: &str) -> Self {
        Self {
            backend,
            text: text.to_owned(),
            args: Vec::new(),
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Appends SQL text as it is. Never pass user input here; use [`Sql::arg`].
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `value`.
    pub fn arg(&mut self, value: impl Into<Arg>) -> &mut Self {
        self.args.push(value.into());
        let n = self.args.len();
        self.text.push('$');
        self.text.push_str(&n.to_string());
        self
    }

    /// Appends `(p1, p2, …)`; an empty list becomes `(NULL)`, which matches nothing.
    pub fn arg_list<T: Into<Arg>>(&mut self, values: impl IntoIterator<Item = T>) -> &mut Self {
        self.push("(");
        let mut first = true;
        for value in values {
            if !first {
                self.push(", ");
            }
            first = false;
            self.arg(value);
        }
        if first {
            self.push("NULL");
        }
        self.push(")")
    }

    /// Builder style: `db.sql("… WHERE id = ").bind(7)`.
    pub fn bind(mut self, value: impl Into<Arg>) -> Self {
        self.arg(value);
        self
    }

    /// Builder style: appends text.
    pub fn then(mut self, text: &str) -> Self {
        self.push(text);
        self
    }

    pub fn text(&self) -> &str {
        &self.text
    }
}

/// Binds every argument onto a sqlx query of either backend.
macro_rules! bind_all {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match arg {
                Arg::Text(v) => query.bind(v),
                Arg::OptText(v) => query.bind(v),
                Arg::Int(v) => query.bind(v),
                Arg::OptInt(v) => query.bind(v),
                Arg::OptUuid(v) => query.bind(v.map(DbUuid)),
                Arg::Bool(v) => query.bind(v),
                Arg::Uuid(v) => query.bind(DbUuid(v)),
                Arg::Time(v) => query.bind(DbTime::new(v)),
                Arg::OptTime(v) => query.bind(v.map(DbTime::new)),
                Arg::Json(v) => query.bind(Json(v)),
            };
        }
        query
    }};
}

/// A row type that decodes from both backends.
pub trait AnyRow:
    for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
    + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
    + Send
    + Unpin
{
}
impl<T> AnyRow for T where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
        + Send
        + Unpin
{
}

/// The four ways to run a statement, on a pool (`Db`) or inside a transaction (`Tx`).
macro_rules! executor_methods {
    () => {
        pub async fn fetch_all<R: AnyRow>(&mut self, sql: Sql) -> StoreResult<Vec<R>> {
            Ok(match self.side() {
                Side::Sqlite(e) => {
                    bind_all!(sqlx::query_as::<_, R>(AssertSqlSafe(sql.text)), sql.args)
                        .fetch_all(e)
                        .await?
                }
                Side::Postgres(e) => {
                    bind_all!(sqlx::query_as::<_, R>(AssertSqlSafe(sql.text)), sql.args)
                        .fetch_all(e)
                        .await?
                }
            })
        }

        pub async fn fetch_optional<R: AnyRow>(&mut self, sql: Sql) -> StoreResult<Option<R>> {
            Ok(match self.side() {
                Side::Sqlite(e) => {
                    bind_all!(sqlx::query_as::<_, R>(AssertSqlSafe(sql.text)), sql.args)
                        .fetch_optional(e)
                        .await?
                }
                Side::Postgres(e) => {
                    bind_all!(sqlx::query_as::<_, R>(AssertSqlSafe(sql.text)), sql.args)
                        .fetch_optional(e)
                        .await?
                }
            })
        }

        pub async fn fetch_one<R: AnyRow>(&mut self, sql: Sql) -> StoreResult<R> {
            Ok(match self.side() {
                Side::Sqlite(e) => {
                    bind_all!(sqlx::query_as::<_, R>(AssertSqlSafe(sql.text)), sql.args)
                        .fetch_one(e)
                        .await?
                }
                Side::Postgres(e) => {
                    bind_all!(sqlx::query_as::<_, R>(AssertSqlSafe(sql.text)), sql.args)
                        .fetch_one(e)
                        .await?
                }
            })
        }

        /// Runs a statement and returns how many rows it touched.
        pub async fn execute(&mut self, sql: Sql) -> StoreResult<u64> {
            Ok(match self.side() {
                Side::Sqlite(e) => bind_all!(sqlx::query(AssertSqlSafe(sql.text)), sql.args)
                    .execute(e)
                    .await?
                    .rows_affected(),
                Side::Postgres(e) => bind_all!(sqlx::query(AssertSqlSafe(sql.text)), sql.args)
                    .execute(e)
                    .await?
                    .rows_affected(),
            })
        }
    };
}

/// One backend's executor, borrowed for one statement.
enum Side<S, P> {
    Sqlite(S),
    Postgres(P),
}

/// Statements on the pool, each on whatever connection is free.
pub struct PoolExec<'a>(&'a Db);

impl PoolExec<'_> {
    fn side(&mut self) -> Side<&SqlitePool, &PgPool> {
        match &self.0.pool {
            Pool::Sqlite(pool) => Side::Sqlite(pool),
            Pool::Postgres(pool) => Side::Postgres(pool),
        }
    }

    executor_methods!();
}

impl Tx {
    fn side(&mut self) -> Side<&mut sqlx::SqliteConnection, &mut sqlx::PgConnection> {
        match &mut self.open {
            Open::Sqlite(tx) => Side::Sqlite(&mut **tx),
            Open::Postgres(tx) => Side::Postgres(&mut **tx),
        }
    }

    executor_methods!();
}

impl Db {
    /// Runs single statements outside any transaction.
    pub fn exec(&self) -> PoolExec<'_> {
        PoolExec(self)
    }

    pub async fn fetch_all<R: AnyRow>(&self, sql: Sql) -> StoreResult<Vec<R>> {
        self.exec().fetch_all(sql).await
    }

    pub async fn fetch_optional<R: AnyRow>(&self, sql: Sql) -> StoreResult<Option<R>> {
        self.exec().fetch_optional(sql).await
    }

    pub async fn fetch_one<R: AnyRow>(&self, sql: Sql) -> StoreResult<R> {
        self.exec().fetch_one(sql).await
    }

    pub async fn execute(&self, sql: Sql) -> StoreResult<u64> {
        let touched = self.exec().execute(sql).await;
        self.writes.fetch_add(1, Ordering::Release);
        touched
    }

    /// Runs a write that returns one row (`… RETURNING …`), counted as a write like
    /// [`Db::execute`].
    pub async fn write_returning<R: AnyRow>(&self, sql: Sql) -> StoreResult<R> {
        let row = self.exec().fetch_one(sql).await;
        self.writes.fetch_add(1, Ordering::Release);
        row
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_in_order() {
        let mut sql = Sql::new(Backend::Sqlite, "SELECT * FROM users WHERE username = ");
        sql.arg("ann").push(" AND id IN ").arg_list([1i64, 2]);
        assert_eq!(
            sql.text(),
            "SELECT * FROM users WHERE username = $1 AND id IN ($2, $3)"
        );
        let mut empty = Sql::new(Backend::Postgres, "x IN ");
        empty.arg_list(Vec::<i64>::new());
        assert_eq!(empty.text(), "x IN (NULL)");
    }

    #[test]
    fn urls_lose_their_passwords() {
        assert_eq!(
            redact_url("postgres://akin:s3cret@db:5432/akin"),
            "postgres://akin:***@db:5432/akin"
        );
        assert_eq!(
            redact_url("sqlite://./data/akin.db"),
            "sqlite://./data/akin.db"
        );
    }

    #[test]
    fn both_backends_have_the_same_migrations() {
        let versions = |m: &sqlx::migrate::Migrator| {
            m.iter()
                .map(|m| (m.version, m.description.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(versions(&SQLITE_MIGRATIONS), versions(&POSTGRES_MIGRATIONS));
        assert!(SQLITE_MIGRATIONS.iter().next().is_some());
    }
}
