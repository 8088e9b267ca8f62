//! akin's benchmarks. Figures, not pass/fail: run on a quiet machine and read the ratios,
//! which compare against a baseline measured in the same run.
//!
//! ```text
//! cargo build --release && cargo run --release -p akin-bench -- all
//! ```

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

mod bulk;
mod flows;
mod invitations;
mod mail;

const TOKEN: &str = "akin-bench-token-0123456789abcdef";

#[derive(Parser)]
#[command(about = "akin benchmarks: start-up, memory, throughput against a bare axum handler")]
struct Cli {
    /// Run the servers under test (akin, the bare handler, akin's expression workers) on
    /// the first THREADS cores and the load generator on the others, so that the figures
    /// are the servers' own; without it, or with as many as the machine has, everything
    /// shares every core. The hashing ceiling is then THREADS cores' worth.
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Option<Bench>,
}

#[derive(Subcommand)]
enum Bench {
    /// Everything below but mail and bulk, SQLite and PostgreSQL side by side
    All {
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 64)]
        connections: usize,
        /// Invitations seeded for the list figures (the issue's target is at 1 000 000;
        /// seeding them takes minutes per database)
        #[arg(long, default_value_t = 100_000)]
        rows: usize,
        /// A PostgreSQL server's database URL (trust auth); `none` skips PostgreSQL.
        #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
        postgres: String,
    },
    /// Cold start to ready on SQLite (fresh database, and restart on an existing one)
    Startup,
    /// Idle RSS after start
    Memory,
    /// users/me requests/s with a token and from a signed-in browser, next to a bare
    /// axum handler, on SQLite and on PostgreSQL
    Throughput {
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 64)]
        connections: usize,
        /// A PostgreSQL server's database URL (trust auth); a database is created on it
        /// and dropped afterwards. `none` skips PostgreSQL.
        #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
        postgres: String,
    },
    /// Blueprint import through the API: authentik's invitation example and a generated
    /// 1000-entry blueprint
    Import,
    /// The flow executor on SQLite and PostgreSQL: prompt challenges/s next to a bare
    /// handler, one invitation enrollment next to one Argon2id hash, enrollments/s next to
    /// the hashing ceiling (cores / one hash)
    Flows {
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 64)]
        connections: usize,
        /// PostgreSQL server for the second column (a scratch database); `none` to skip
        #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
        postgres: String,
    },
    /// Memory under a burst: RSS before, at its peak during BROWSERS enrollments at once,
    /// and 1 to 60 s after
    Burst {
        #[arg(long, default_value_t = 200)]
        browsers: usize,
        /// AKIN_HASH_CONCURRENCY for the server (default: its own, the cores)
        #[arg(long)]
        hash_concurrency: Option<u32>,
    },
    /// Expression policies: µs per evaluation (compiled, cached), and the executor's
    /// first GET (which plans the flow) with and without one flow-level policy
    Policies {
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 64)]
        connections: usize,
    },
    /// The invitation list with ROWS invitations (first page, page 500, a filtered page, a
    /// search, the funnel; median of 50) and invitation creates/s, on SQLite and PostgreSQL
    Invitations {
        #[arg(long, default_value_t = 100_000)]
        rows: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 32)]
        connections: usize,
        /// A PostgreSQL server's database URL (trust auth); a database is created on it
        /// and dropped afterwards. `none` skips PostgreSQL.
        #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
        postgres: String,
    },
    /// 10 000 invitations from a CSV file through the API and the CLI, next to single
    /// creates, on SQLite and on PostgreSQL
    Bulk {
        /// A PostgreSQL server's database URL (trust auth); `none` skips PostgreSQL.
        #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
        postgres: String,
    },
    /// Mail through the outbox to aiosmtpd on loopback: send_email → delivered latency,
    /// messages/s for 1000 queued at once
    Mail,
    /// Requests/s of GET URL against a running server (for experiments)
    Load {
        url: String,
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        #[arg(long, default_value_t = 64)]
        connections: usize,
        /// A Cookie header to send with every request
        #[arg(long)]
        cookie: Option<String>,
    },
    /// (internal) serve a bare axum handler, the throughput baseline
    BareServer {
        #[arg(long)]
        listen: String,
    },
}

/// Where the servers under test run, set once by `--threads` before any thread starts.
#[derive(Debug, Clone, Copy)]
struct Placement {
    /// Cores the servers may use (the first ones).
    server_cores: usize,
    /// Whether the load generator has cores of its own (the rest).
    separate: bool,
}

static PLACEMENT: std::sync::OnceLock<Placement> = std::sync::OnceLock::new();

fn placement() -> Placement {
    *PLACEMENT.get_or_init(|| Placement {
        server_cores: std::thread::available_parallelism().map_or(1, usize::from),
        separate: false,
    })
}

/// Pins this process (and every thread and child it starts from now on) to the cores
/// after the first `threads`, which the servers get; called first thing in `main`.
fn place(threads: usize) -> Result<()> {
    let total = std::thread::available_parallelism().map_or(1, usize::from);
    if threads == 0 {
        bail!("--threads: at least one core");
    }
    let separate = threads < total;
    if separate {
        let mut load = rustix::thread::CpuSet::new();
        for core in threads..total {
            load.set(core);
        }
        rustix::thread::sched_setaffinity(None, &load)
            .context("pin the load generator to its cores")?;
    }
    PLACEMENT
        .set(Placement {
            server_cores: threads.min(total),
            separate,
        })
        .map_err(|_| anyhow::anyhow!("placed twice"))
}

/// A command starting a server under test: on the servers' cores when `--threads` set
/// them apart (through `taskset`), as it is otherwise.
fn server_command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let placement = placement();
    if !placement.separate {
        return Command::new(program);
    }
    let mut command = Command::new("taskset");
    command
        .arg("-c")
        .arg(format!("0-{}", placement.server_cores - 1))
        .arg(program);
    command
}

/// Where the load came from, for the figures' headings.
fn load_placement() -> String {
    let placement = placement();
    if placement.separate {
        format!(
            "server on {} core(s), the load generator on the others",
            placement.server_cores
        )
    } else {
        format!(
            "load generator on the same {} cores",
            placement.server_cores
        )
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    if let Some(threads) = cli.threads {
        place(threads)?;
    }
    match cli.command.unwrap_or(Bench::All {
        seconds: 10,
        connections: 64,
        rows: 100_000,
        postgres: "postgres://postgres@127.0.0.1:5432/test".into(),
    }) {
        Bench::BareServer { listen } => bare_server(&listen),
        Bench::Startup => startup(),
        Bench::Import => import(),
        Bench::Flows {
            seconds,
            connections,
            postgres,
        } => flows::flows(seconds, connections, &postgres),
        Bench::Memory => memory(),
        Bench::Burst {
            browsers,
            hash_concurrency,
        } => {
            let env: Vec<(&str, String)> = hash_concurrency
                .map(|c| ("AKIN_HASH_CONCURRENCY", c.to_string()))
                .into_iter()
                .collect();
            flows::burst(browsers, &env)
        }
        Bench::Load {
            url,
            seconds,
            connections,
            cookie,
        } => {
            let mut headers = reqwest::header::HeaderMap::new();
            if let Some(cookie) = cookie {
                headers.insert(reqwest::header::COOKIE, cookie.parse()?);
            }
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(connections)
                .default_headers(headers)
                .build()?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            let rps = load_with_client(&runtime, client, &url, seconds, connections)?;
            println!("{rps:.0} req/s");
            Ok(())
        }
        Bench::Policies {
            seconds,
            connections,
        } => flows::policies(seconds, connections),
        Bench::Invitations {
            rows,
            seconds,
            connections,
            postgres,
        } => invitations::run(rows, seconds, connections, &postgres),
        Bench::Throughput {
            seconds,
            connections,
            postgres,
        } => throughput(seconds, connections, &postgres),
        Bench::Mail => mail::run(),
        Bench::Bulk { postgres } => bulk::run(&postgres),
        Bench::All {
            seconds,
            connections,
            rows,
            postgres,
        } => {
            startup()?;
            memory()?;
            import()?;
            throughput(seconds, connections, &postgres)?;
            flows::flows(seconds, connections, &postgres)?;
            flows::burst(200, &[])?;
            flows::policies(seconds, connections)?;
            invitations::run(rows, seconds, 32, &postgres)
        }
    }
}

/// The release `akin` binary beside this one.
fn akin_binary() -> Result<PathBuf> {
    let me = std::env::current_exe()?;
    let path = me.with_file_name("akin");
    if !path.is_file() {
        bail!(
            "{} not found: run `cargo build --release` first",
            path.display()
        );
    }
    Ok(path)
}

/// Runs `measure` on a new database on the PostgreSQL server at `postgres` (trust auth),
/// dropped afterwards whatever the outcome.
fn on_scratch_postgres<T>(
    postgres: &str,
    label: &str,
    measure: impl FnOnce(&str) -> Result<T>,
) -> Result<T> {
    let name = format!("akin_bench_{label}_{}", std::process::id());
    let psql = |sql: &str| {
        Command::new("psql")
            .args([postgres, "-qtAc", sql])
            .status()
            .context("psql (PostgreSQL's client) is needed to create the bench database")
    };
    if !psql(&format!("CREATE DATABASE {name}"))?.success() {
        bail!("could not create database {name} on {postgres}");
    }
    let (prefix, _) = postgres.rsplit_once('/').context("a database URL")?;
    let result = measure(&format!("{prefix}/{name}"));
    psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
    result
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

fn spawn_akin(data: &Path) -> Result<Server> {
    spawn_akin_on(&format!("sqlite://{}", data.join("akin.db").display()))
}

/// akin serving the database at `url`.
fn spawn_akin_on(url: &str) -> Result<Server> {
    spawn_akin_with(url, &[])
}

/// akin serving the database at `url` with more settings.
fn spawn_akin_with(url: &str, env: &[(&str, String)]) -> Result<Server> {
    let port = free_port()?;
    let child = server_command(akin_binary()?)
        .arg("serve")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("AKIN_LISTEN", format!("127.0.0.1:{port}"))
        .env("AKIN_DATABASE_URL", url)
        .env("AKIN_BOOTSTRAP_PASSWORD", "bench-password")
        .env("AKIN_BOOTSTRAP_TOKEN", TOKEN)
        .env("AKIN_LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("start akin")?;
    Ok(Server { child, port })
}

/// Polls `GET /-/health/ready/` every 0.5 ms until it answers 200.
fn wait_ready(port: u16, started: Instant) -> Result<Duration> {
    use std::io::{Read, Write};
    let request = format!(
        "GET /-/health/ready/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    );
    loop {
        if started.elapsed() > Duration::from_secs(30) {
            bail!("akin did not become ready within 30 s");
        }
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let mut response = Vec::new();
            if stream.write_all(request.as_bytes()).is_ok()
                && stream.read_to_end(&mut response).is_ok()
                && response.starts_with(b"HTTP/1.1 200")
            {
                return Ok(started.elapsed());
            }
        }
        std::thread::sleep(Duration::from_micros(500));
    }
}

fn scratch_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "akin-bench-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos() ^ rand_suffix()
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn startup() -> Result<()> {
    const RUNS: usize = 10;
    let mut fresh = Vec::new();
    let mut restart = Vec::new();
    for _ in 0..RUNS {
        let dir = scratch_dir()?;
        {
            let started = Instant::now();
            let server = spawn_akin(&dir)?;
            fresh.push(wait_ready(server.port, started)?.as_secs_f64() * 1000.0);
        }
        {
            let started = Instant::now();
            let server = spawn_akin(&dir)?;
            restart.push(wait_ready(server.port, started)?.as_secs_f64() * 1000.0);
        }
        std::fs::remove_dir_all(&dir).ok();
    }
    println!(
        "startup (SQLite, median of {RUNS}, process spawn to first 200 from /-/health/ready/):"
    );
    println!(
        "  fresh database (migrations + bootstrap incl. one Argon2id hash): {:.1} ms",
        median(fresh)
    );
    println!(
        "  existing database (restart):                                   {:.1} ms",
        median(restart)
    );
    Ok(())
}

fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("VmRSS not found")
}

fn memory() -> Result<()> {
    let dir = scratch_dir()?;
    let server = spawn_akin(&dir)?;
    wait_ready(server.port, Instant::now())?;
    std::thread::sleep(Duration::from_secs(2));
    let idle = rss_kib(server.child.id())?;
    println!("memory (SQLite):");
    println!("  idle RSS 2 s after ready: {:.1} MB", idle as f64 / 1024.0);
    drop(server);
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

/// Requests per second from `connections` concurrent clients over `seconds`, after a 1 s
/// warm-up, with `token` as a bearer token when given. Only 2xx answers count.
fn load(url: &str, token: Option<&str>, seconds: u64, connections: usize) -> Result<f64> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = token {
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {token}").parse()?,
        );
    }
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .default_headers(headers)
        .build()?;
    load_with_client(&runtime, client, url, seconds, connections)
}

/// Requests/s of a bare axum handler on this machine, now: the baseline a ratio is taken
/// against in the same run.
fn bare_baseline(seconds: u64, connections: usize) -> Result<f64> {
    let port = free_port()?;
    let bare = Server {
        child: server_command(std::env::current_exe()?)
            .args(["bare-server", "--listen", &format!("127.0.0.1:{port}")])
            .spawn()?,
        port,
    };
    std::thread::sleep(Duration::from_millis(300));
    let rps = load(
        &format!("http://127.0.0.1:{}/", bare.port),
        None,
        seconds,
        connections,
    )?;
    drop(bare);
    Ok(rps)
}

fn throughput(seconds: u64, connections: usize, postgres: &str) -> Result<()> {
    let bare_rps = bare_baseline(seconds, connections)?;

    let dir = scratch_dir()?;
    let akin = spawn_akin(&dir)?;
    wait_ready(akin.port, Instant::now())?;
    // akin's middleware stack alone (request ids, tracing, timeouts, headers), no database.
    let live_rps = load(
        &format!("http://127.0.0.1:{}/-/health/live/", akin.port),
        None,
        seconds,
        connections,
    )?;
    let me_rps = load(
        &format!("http://127.0.0.1:{}/api/v3/core/users/me/", akin.port),
        Some(TOKEN),
        seconds,
        connections,
    )?;
    let session_rps = session_users_me(akin.port, seconds, connections)?;
    let rss_after = rss_kib(akin.child.id())?;
    drop(akin);
    std::fs::remove_dir_all(&dir).ok();

    println!(
        "throughput ({connections} connections, {seconds} s each, {}):",
        load_placement()
    );
    println!("  bare axum handler:                 {bare_rps:>9.0} req/s");
    println!(
        "  akin /-/health/live/ (no database): {live_rps:>8.0} req/s ({:.0} %)",
        live_rps / bare_rps * 100.0
    );
    println!("  akin /api/v3/core/users/me/ (token): {me_rps:>7.0} req/s");
    println!(
        "  ratio users/me : bare              {:>9.1} %",
        me_rps / bare_rps * 100.0
    );
    println!(
        "  users/me from a signed-in browser: {session_rps:>9.0} req/s ({:.1} % of bare)",
        session_rps / bare_rps * 100.0
    );
    println!(
        "  akin RSS after the load:           {:>9.1} MB",
        rss_after as f64 / 1024.0
    );
    if postgres != "none" {
        let (me_rps, ready_rps, session_rps) =
            on_scratch_postgres(postgres, "throughput", |url| {
                let akin = spawn_akin_on(url)?;
                wait_ready(akin.port, Instant::now())?;
                let me = load(
                    &format!("http://127.0.0.1:{}/api/v3/core/users/me/", akin.port),
                    Some(TOKEN),
                    seconds,
                    connections,
                )?;
                let session = session_users_me(akin.port, seconds, connections)?;
                // One round trip to the database and nothing else: what a request that must
                // ask PostgreSQL once (an executor GET reads its session) costs at least.
                let ready = load(
                    &format!("http://127.0.0.1:{}/-/health/ready/", akin.port),
                    None,
                    seconds,
                    connections,
                )?;
                anyhow::Ok((me, ready, session))
            })?;
        println!("  users/me on PostgreSQL (token):    {me_rps:>9.0} req/s");
        println!(
            "  ratio users/me on PostgreSQL : bare {:>8.1} %",
            me_rps / bare_rps * 100.0
        );
        println!(
            "  users/me on PostgreSQL, signed-in browser: {session_rps:>6.0} req/s ({:.1} % of bare)",
            session_rps / bare_rps * 100.0
        );
        println!(
            "  /-/health/ready/ on PostgreSQL (one query): {ready_rps:>6.0} req/s ({:.1} % of bare)",
            ready_rps / bare_rps * 100.0
        );
    }
    Ok(())
}

/// `/api/v3/core/users/me/` requests/s from a browser signed in as akadmin through the
/// shipped authentication flow: its session and its user both come from the node's memory.
fn session_users_me(port: u16, seconds: u64, connections: usize) -> Result<f64> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let client = runtime.block_on(async {
        let client = reqwest::Client::builder().cookie_store(true).build()?;
        let flow = format!(
            "http://127.0.0.1:{port}/api/v3/flows/executor/default-authentication-flow/?query="
        );
        client.get(&flow).send().await?.error_for_status()?;
        for answer in [
            serde_json::json!({"component": "ak-stage-identification", "uid_field": "akadmin"}),
            serde_json::json!({"component": "ak-stage-password", "password": "bench-password"}),
        ] {
            // The answer's redirect is followed to the next challenge.
            client
                .post(&flow)
                .json(&answer)
                .send()
                .await?
                .error_for_status()?;
        }
        anyhow::Ok(client)
    })?;
    let me = format!("http://127.0.0.1:{port}/api/v3/core/users/me/");
    let signed_in = runtime.block_on(async { client.get(&me).send().await?.error_for_status() });
    signed_in.context("sign in as akadmin")?;
    load_with_client(&runtime, client, &me, seconds, connections)
}

/// The baseline: axum with one handler returning a small JSON body, nothing else.
fn bare_server(listen: &str) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let app = axum::Router::new().route(
            "/",
            axum::routing::get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        );
        let listener = tokio::net::TcpListener::bind(listen).await?;
        axum::serve(listener, app).await?;
        Ok(())
    })
}

/// A blueprint of `flows` enrollment flows, each with a prompt, a prompt stage, a binding
/// and an invitation: 5 entries per flow.
fn generated_blueprint(flows: usize) -> String {
    let mut out = String::from("version: 1\nmetadata:\n  name: generated\nentries:\n");
    for i in 0..flows {
        out.push_str(&format!(
            "  - model: authentik_flows.flow\n    id: flow-{i}\n    identifiers: {{slug: generated-{i}}}\n    attrs: {{name: Flow {i}, title: Flow {i}, designation: enrollment}}\n\
             \x20 - model: authentik_stages_prompt.prompt\n    id: prompt-{i}\n    identifiers: {{name: generated-prompt-{i}}}\n    attrs: {{field_key: email, label: Email, type: email}}\n\
             \x20 - model: authentik_stages_prompt.promptstage\n    id: stage-{i}\n    identifiers: {{name: generated-stage-{i}}}\n    attrs: {{fields: [!KeyOf prompt-{i}]}}\n\
             \x20 - model: authentik_flows.flowstagebinding\n    identifiers: {{target: !KeyOf flow-{i}, stage: !KeyOf stage-{i}, order: 10}}\n\
             \x20 - model: authentik_stages_invitation.invitation\n    identifiers: {{name: generated-invitation-{i}}}\n    attrs: {{flow: !KeyOf flow-{i}, single_use: true, fixed_data: {{email: user{i}@example.com}}}}\n"
        ));
    }
    out
}

/// Milliseconds for one import of `bytes` through the API; fails unless it succeeded.
async fn timed_import(client: &reqwest::Client, port: u16, bytes: Vec<u8>) -> Result<f64> {
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name("blueprint.yaml"),
    );
    let started = Instant::now();
    let response = client
        .post(format!(
            "http://127.0.0.1:{port}/api/v3/managed/blueprints/import/"
        ))
        .bearer_auth(TOKEN)
        .multipart(form)
        .send()
        .await?;
    let body: serde_json::Value = response.json().await?;
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    if body["success"] != true {
        bail!("import failed: {body}");
    }
    Ok(elapsed)
}

fn import() -> Result<()> {
    const RUNS: usize = 20;
    let example = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/blueprints/example/flows-invitation-enrollment.yaml"),
    )
    .context("read shared/blueprints/example/flows-invitation-enrollment.yaml")?;
    let generated = generated_blueprint(200).into_bytes();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let client = reqwest::Client::new();
    let (mut fresh, mut again, mut big, mut ping) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for run in 0..RUNS {
        let dir = scratch_dir()?;
        let server = spawn_akin(&dir)?;
        wait_ready(server.port, Instant::now())?;
        runtime.block_on(async {
            let started = Instant::now();
            client
                .get(format!(
                    "http://127.0.0.1:{}/api/v3/core/users/me/",
                    server.port
                ))
                .bearer_auth(TOKEN)
                .send()
                .await?
                .bytes()
                .await?;
            ping.push(started.elapsed().as_secs_f64() * 1000.0);
            fresh.push(timed_import(&client, server.port, example.clone()).await?);
            again.push(timed_import(&client, server.port, example.clone()).await?);
            if run < 5 {
                big.push(timed_import(&client, server.port, generated.clone()).await?);
            }
            anyhow::Ok(())
        })?;
        drop(server);
        std::fs::remove_dir_all(&dir).ok();
    }
    let ping = median(ping);
    println!("blueprint import through the API (SQLite, release build):");
    println!("  {:<62}{ping:>8.2} ms", "one users/me request (baseline)");
    let report = |label: &str, values: Vec<f64>, entries: usize| {
        let m = median(values);
        println!(
            "  {label:<62}{m:>8.1} ms  ({:.2} ms/entry, {:.0}x users/me)",
            m / entries as f64,
            m / ping
        );
    };
    report(
        "flows-invitation-enrollment.yaml, new objects (median of 20)",
        fresh,
        38,
    );
    report(
        "flows-invitation-enrollment.yaml, re-import (median of 20)",
        again,
        38,
    );
    report(
        "generated, 1000 entries, new objects (median of 5)",
        big,
        1000,
    );
    Ok(())
}

/// Like `load`, with a given client (carrying a session cookie).
fn load_with_client(
    runtime: &tokio::runtime::Runtime,
    client: reqwest::Client,
    url: &str,
    seconds: u64,
    connections: usize,
) -> Result<f64> {
    runtime.block_on(async {
        let ok = Arc::new(AtomicU64::new(0));
        let counting = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for _ in 0..connections {
            let (client, ok, counting, stop, url) = (
                client.clone(),
                ok.clone(),
                counting.clone(),
                stop.clone(),
                url.to_owned(),
            );
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let good = match client.get(&url).send().await {
                        Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    if good && counting.load(Ordering::Relaxed) {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        counting.store(true, Ordering::Relaxed);
        let started = Instant::now();
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        counting.store(false, Ordering::Relaxed);
        let elapsed = started.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        for task in tasks {
            task.await.ok();
        }
        Ok(ok.load(Ordering::Relaxed) as f64 / elapsed)
    })
}
