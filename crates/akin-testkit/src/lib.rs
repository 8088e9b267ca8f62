//! Test-only: starts the real `akin` binary on `127.0.0.1:0` against a fresh SQLite file or a
//! fresh PostgreSQL database, and gives tests an HTTP client for it. Nothing here is mocked.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::Connection;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The key of the API token every spawned server is bootstrapped with.
pub const ADMIN_TOKEN: &str = "akin-test-admin-token-0123456789";
/// akadmin's password in spawned servers.
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// Where a test's database lives.
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    /// The admin URL of a PostgreSQL server; each test gets its own database on it.
    Postgres(String),
}

impl Backend {
    /// PostgreSQL from `AKIN_TEST_POSTGRES_URL`. `None` (the test is skipped) when it is
    /// unset, unless `AKIN_TEST_REQUIRE_POSTGRES` is set: then a missing URL fails the test,
    /// so CI cannot skip the PostgreSQL run silently.
    pub fn postgres() -> Option<Backend> {
        match std::env::var("AKIN_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => Some(Backend::Postgres(url)),
            _ if std::env::var_os("AKIN_TEST_REQUIRE_POSTGRES").is_some() => {
                panic!("AKIN_TEST_REQUIRE_POSTGRES is set but AKIN_TEST_POSTGRES_URL is not")
            }
            _ => {
                eprintln!("skipped: set AKIN_TEST_POSTGRES_URL to run the PostgreSQL variant");
                None
            }
        }
    }
}

/// Opens a fresh connection to the test database's backend and evaluates `$body` with it
/// (the statement code is the same; only the connection type differs).
macro_rules! on_connection {
    ($db:expr, |$conn:ident| $body:expr) => {
        if $db.url.starts_with("sqlite") {
            let mut $conn = sqlx::SqliteConnection::connect(&$db.url)
                .await
                .expect("open SQLite");
            $body
        } else {
            let mut $conn = sqlx::PgConnection::connect(&$db.url)
                .await
                .expect("open PostgreSQL");
            $body
        }
    };
}

/// A database made for one test and removed after it.
pub struct TestDatabase {
    pub url: String,
    dir: PathBuf,
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    pub async fn create(backend: &Backend) -> TestDatabase {
        let dir = std::env::temp_dir().join(format!("akin-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("create test folder");
        match backend {
            Backend::Sqlite => TestDatabase {
                url: format!("sqlite://{}", dir.join("akin.db").display()),
                dir,
                postgres: None,
            },
            Backend::Postgres(admin_url) => {
                let name = format!("akin_test_{}", uuid::Uuid::new_v4().simple());
                let mut admin = sqlx::PgConnection::connect(admin_url)
                    .await
                    .expect("connect to AKIN_TEST_POSTGRES_URL");
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                    .execute(&mut admin)
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                TestDatabase {
                    url: with_database(admin_url, &name),
                    dir,
                    postgres: Some((admin_url.clone(), name)),
                }
            }
        }
    }

    /// The test's scratch folder (removed with the database).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// One text value read straight from the database, as an operator with `psql` would.
    pub async fn text(&self, sql: &'static str) -> String {
        on_connection!(self, |conn| sqlx::query_scalar::<_, String>(sql)
            .fetch_one(&mut conn)
            .await
            .expect(sql))
    }

    /// Runs one statement straight on the database, as an operator migrating data would.
    pub async fn execute(&self, sql: &'static str) {
        on_connection!(self, |conn| {
            sqlx::query(sql).execute(&mut conn).await.expect(sql);
        })
    }

    /// One integer read straight from the database (`SELECT COUNT(*) …`).
    pub async fn number(&self, sql: &'static str) -> i64 {
        on_connection!(self, |conn| sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(&mut conn)
            .await
            .expect(sql))
    }

    /// Drops a PostgreSQL database now, cutting off every connection to it.
    pub async fn drop_now(&self) {
        if let Some((admin_url, name)) = &self.postgres {
            drop_database(admin_url, name).await;
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.dir).ok();
        if let Some((admin_url, name)) = self.postgres.take() {
            // Drop runs outside any runtime we may block; use a thread with its own.
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                runtime.block_on(drop_database(&admin_url, &name));
            })
            .join()
            .ok();
        }
    }
}

async fn drop_database(admin_url: &str, name: &str) {
    if let Ok(mut admin) = sqlx::PgConnection::connect(admin_url).await {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await
        .ok();
        admin.close().await.ok();
    }
}

/// `postgres://u@h:p/old?x` → `postgres://u@h:p/NAME?x`
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{name}?{q}"),
        None => format!("{host_part}/{name}"),
    }
}

/// How to start a server.
#[derive(Debug, Clone)]
pub struct SpawnOptions {
    /// Set `AKIN_BOOTSTRAP_PASSWORD`/`_TOKEN` to [`ADMIN_PASSWORD`]/[`ADMIN_TOKEN`].
    pub bootstrap: bool,
    pub env: Vec<(String, String)>,
}

impl Default for SpawnOptions {
    fn default() -> Self {
        Self {
            bootstrap: true,
            env: Vec::new(),
        }
    }
}

/// A running akin server.
pub struct TestApp {
    pub base_url: String,
    pub client: reqwest::Client,
    child: Child,
    logs: Arc<Mutex<Vec<String>>>,
}

impl TestApp {
    /// The server's resident memory in KiB (Linux), as `/proc/<pid>/status` says it.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()?)).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    }

    /// Starts `bin serve` on a free port against `database_url` and waits until it listens.
    pub async fn start(bin: &str, database_url: &str, options: &SpawnOptions) -> TestApp {
        let mut command = Command::new(bin);
        command
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AKIN_LISTEN", "127.0.0.1:0")
            .env("AKIN_DATABASE_URL", database_url)
            .env("AKIN_LOG_FORMAT", "json")
            .env("AKIN_LOG_LEVEL", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if options.bootstrap {
            command
                .env("AKIN_BOOTSTRAP_PASSWORD", ADMIN_PASSWORD)
                .env("AKIN_BOOTSTRAP_TOKEN", ADMIN_TOKEN);
        }
        for (key, value) in &options.env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("start the akin binary");
        let logs = Arc::new(Mutex::new(Vec::new()));
        // The address arrives in a log line, on whichever stream the server logs to.
        let (addr_tx, mut addr_rx) = tokio::sync::mpsc::channel::<String>(2);
        let addr_tx_err = addr_tx.clone();
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        {
            let logs = logs.clone();
            tokio::spawn(async move {
                let mut addr_tx = Some(addr_tx);
                let mut lines = BufReader::new(stdout).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Ok(value) = serde_json::from_str::<serde_json::Value>(&line)
                        && let Some(addr) = value.get("addr").and_then(|a| a.as_str())
                        && let Some(tx) = addr_tx.take()
                    {
                        tx.send(addr.to_owned()).await.ok();
                    }
                    logs.lock().expect("logs").push(line);
                }
            });
        }
        {
            let logs = logs.clone();
            let addr_tx = addr_tx_err;
            tokio::spawn(async move {
                let mut addr_tx = Some(addr_tx);
                let mut lines = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Ok(value) = serde_json::from_str::<serde_json::Value>(&line)
                        && let Some(addr) = value.get("addr").and_then(|a| a.as_str())
                        && let Some(tx) = addr_tx.take()
                    {
                        tx.send(addr.to_owned()).await.ok();
                    }
                    logs.lock().expect("logs").push(line);
                }
            });
        }
        let addr = match tokio::time::timeout(Duration::from_secs(30), addr_rx.recv()).await {
            Ok(Some(addr)) => addr,
            _ => {
                let status = child.try_wait().ok().flatten();
                tokio::time::sleep(Duration::from_millis(100)).await;
                panic!(
                    "akin did not start (exit: {status:?}); output:\n{}",
                    logs.lock().expect("logs").join("\n")
                );
            }
        };
        TestApp {
            base_url: format!("http://{addr}"),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .cookie_store(true)
                .build()
                .expect("client"),
            child,
            logs,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// A request with the bootstrap admin token.
    pub fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(ADMIN_TOKEN)
    }

    /// A request with no credentials.
    pub fn anonymous(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// Everything the server printed so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().expect("logs").clone()
    }

    /// Kills the process at once (SIGKILL, as `kill -9`) and waits until it is gone.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }

    /// Sends SIGTERM and waits for the process to exit; returns whether it exited cleanly.
    pub async fn terminate(mut self) -> bool {
        if let Some(pid) = self.child.id() {
            std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .expect("kill");
        }
        match tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await {
            Ok(Ok(status)) => status.success(),
            _ => false,
        }
    }
}

/// A database plus a server on it: what most tests want.
pub struct TestEnv {
    pub app: TestApp,
    pub db: TestDatabase,
}

impl TestEnv {
    pub async fn start(bin: &str, backend: &Backend) -> TestEnv {
        Self::start_with(bin, backend, &SpawnOptions::default()).await
    }

    pub async fn start_with(bin: &str, backend: &Backend, options: &SpawnOptions) -> TestEnv {
        let db = TestDatabase::create(backend).await;
        let app = TestApp::start(bin, &db.url, options).await;
        TestEnv { app, db }
    }
}

/// A monitor's view of a server while something else is done to it: its readiness check
/// polled every 50 ms, each answer allowed two seconds.
pub struct HealthWatch {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<HealthReport>,
}

/// What a [`HealthWatch`] saw.
#[derive(Debug, Clone, Default)]
pub struct HealthReport {
    pub checks: usize,
    /// Each check that failed, timed out or was not a 200, and how.
    pub failures: Vec<String>,
    pub slowest: Duration,
}

impl HealthWatch {
    pub fn start(app: &TestApp) -> HealthWatch {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let url = app.url("/-/health/ready/");
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()
                .expect("a client");
            let mut report = HealthReport::default();
            while !stopped.load(Ordering::Relaxed) {
                let started = std::time::Instant::now();
                match client.get(&url).send().await {
                    Ok(response) if response.status().is_success() => {}
                    Ok(response) => report.failures.push(response.status().to_string()),
                    Err(error) => report.failures.push(format!("{error:?}")),
                }
                report.checks += 1;
                report.slowest = report.slowest.max(started.elapsed());
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            report
        });
        HealthWatch { stop, task }
    }

    pub async fn stop(self) -> HealthReport {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.task.await.expect("the health watch")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn swaps_the_database_name() {
        assert_eq!(
            super::with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            super::with_database("postgres://u:p@h/db?sslmode=disable", "y"),
            "postgres://u:p@h/y?sslmode=disable"
        );
    }
}
