//! `akin serve`: open the database, migrate, bootstrap, then serve until SIGTERM or Ctrl-C,
//! letting in-flight requests finish.

use std::sync::Arc;

use akin_domain::policy::ExpressionEngine;
use akin_http::AppState;
use akin_store::{Db, SECRET_KEY_SETTING, Store};
use tokio::net::TcpListener;

use crate::bootstrap::{self, BootstrapSettings};
use crate::cli::ServeOptions;
use crate::error::AppError;
use akin_flow::password::Argon2Hasher;

/// The setting holding this installation's id (users' `uid` derives from it).
const INSTALL_ID_SETTING: &str = "install_id";

/// Opens and migrates the database named by `url`.
pub async fn open_store(url: &str) -> Result<Store, AppError> {
    let db = Db::connect(url).await?;
    db.migrate().await?;
    Ok(Store::new(db))
}

pub async fn run(database_url: &str, options: ServeOptions) -> Result<(), AppError> {
    large_allocations_from_the_system();
    // Installed first, so a SIGTERM that arrives during start-up is a clean stop too.
    let shutdown = shutdown_signal()?;
    let smtp = options.email.settings().map_err(AppError::Usage)?;
    let mailer = akin_mail::Mailer::new(&smtp).map_err(|e| AppError::Usage(e.to_string()))?;
    let mail = akin_flow::mail::MailSettings {
        smtp,
        templates: akin_mail::Templates {
            dir: options.templates_dir.clone(),
        },
        first_retry: std::time::Duration::from_secs(options.email_retry),
        external_url: options.external_url.clone(),
    };
    let store = open_store(database_url).await?;
    let install_id = store
        .setting_or_insert(INSTALL_ID_SETTING, &uuid::Uuid::new_v4().to_string())
        .await?;
    if options.secret_key.is_none() {
        // Generated once and shared by every node on this database.
        store
            .setting_or_insert(SECRET_KEY_SETTING, &akin_http::api::new_key())
            .await?;
    }
    let expressions: Arc<dyn ExpressionEngine> = Arc::new(options.expressions.engine()?);
    apply_defaults(&store, expressions.as_ref()).await;
    let hasher = Arc::new(Argon2Hasher);
    let settings = BootstrapSettings {
        password: options.bootstrap_password,
        token: options.bootstrap_token,
        email: options.bootstrap_email,
    };
    bootstrap::apply(&store, hasher.as_ref(), &settings).await?;

    let listener = TcpListener::bind(&options.listen)
        .await
        .map_err(|source| AppError::Bind {
            addr: options.listen.clone(),
            source,
        })?;
    let addr = listener.local_addr()?;
    let defaults = akin_flow::hashing::HashingLimits::default();
    let concurrency = options
        .hash_concurrency
        .map_or(defaults.concurrency, |c| c as usize);
    let limits = akin_flow::hashing::HashingLimits {
        concurrency,
        queue: options.hash_queue.map_or(32 * concurrency, |q| q as usize),
    };
    tracing::info!(
        concurrency = limits.concurrency,
        queue = limits.queue,
        "password hashing limits"
    );
    let engine = akin_flow::Engine::new(store.clone(), hasher, expressions)
        .with_hashing_limits(limits)
        .with_blueprints(akin_flow::BlueprintFolder {
            dir: options.blueprints_dir.clone(),
        })
        .with_uploaded_blueprint_env(options.blueprint_env_allow.clone())
        .with_breach_check(akin_flow::password_policy::BreachCheck {
            lookup: Arc::new(
                akin_pwned::PwnedPasswords::new(&options.hibp_url)
                    .map_err(|e| AppError::Usage(format!("AKIN_HIBP_URL: {e}")))?,
            ),
            when_unreachable: options.hibp_unreachable,
        })
        .with_mail(mail);
    tokio::spawn(deliver_mail(engine.clone(), mailer));
    if options.blueprints_dir.is_some() {
        let every = std::time::Duration::from_secs(options.blueprints_interval);
        let node = uuid::Uuid::new_v4().to_string();
        // The first pass before serving, so the folder's flows are there when it answers.
        watch_blueprints_once(&engine, &node, every).await;
        tokio::spawn(watch_blueprints(engine.clone(), node, every));
    }
    let metrics = akin_http::metrics::router(engine.clone());
    let state = AppState {
        engine,
        install_id: install_id.into(),
        trusted_proxies: Arc::new(options.trusted_proxies.clone()),
    };
    let app = akin_http::router(state);
    // Startup's hashing is done: its Argon2 memory goes now, later bursts' when idle.
    akin_flow::password::release_idle_memory(std::time::Duration::ZERO);
    tokio::spawn(release_argon2_memory());
    // Other nodes' session changes (PostgreSQL): this node's copies go stale otherwise.
    store.watch_sessions();
    tokio::spawn(sweep_sessions(store.clone()));
    tokio::spawn(fold_invitation_tallies(store.clone()));
    tracing::info!(
        addr = %addr,
        backend = ?store.db().backend(),
        "akin is listening on http://{addr}/"
    );
    let limits = akin_http::listener::ConnectionLimits {
        header_timeout: std::time::Duration::from_secs(options.header_timeout),
        max_connections: options
            .max_connections
            .map_or_else(default_max_connections, |n| n as usize),
    };
    tracing::info!(
        header_timeout_s = options.header_timeout,
        max_connections = limits.max_connections,
        "connection limits"
    );
    // In-flight requests finish within their timeout; a little more for the answers.
    let drain = akin_http::REQUEST_TIMEOUT + std::time::Duration::from_secs(1);
    if let Some(listen) = &options.metrics_listen {
        let metrics_listener =
            TcpListener::bind(listen)
                .await
                .map_err(|source| AppError::Bind {
                    addr: listen.clone(),
                    source,
                })?;
        tracing::info!(addr = %metrics_listener.local_addr()?, "metrics on /metrics");
        // Stops with the process: nothing there needs draining.
        tokio::spawn(akin_http::listener::serve(
            metrics_listener,
            metrics,
            limits,
            std::future::pending(),
            drain,
        ));
    }
    akin_http::listener::serve(listener, app, limits, shutdown, drain).await;
    store.db().close().await;
    tracing::info!("akin stopped");
    Ok(())
}

/// Applies akin's default flows where they are new or changed. Another node starting at the
/// same moment may win a race for the same rows, so a failure is tried once more; a
/// lasting failure is logged and the server still starts (the API works without them).
async fn apply_defaults(store: &Store, expressions: &dyn ExpressionEngine) {
    for attempt in 1..=2 {
        match akin_flow::blueprints::apply_shipped_defaults(store, expressions).await {
            Ok(applied) if applied.is_empty() => return,
            Ok(applied) => {
                tracing::info!(blueprints = ?applied, "applied default blueprints");
                return;
            }
            Err(error) if attempt == 1 => {
                tracing::debug!(%error, "default blueprints: retrying once");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(error) => tracing::error!(%error, "default blueprints could not be applied"),
        }
    }
}

/// Frees Argon2 buffers no hash has used for a while (see `password::MEMORY_IDLE`), then
/// gives free memory back to the system.
async fn release_argon2_memory() {
    let mut every = tokio::time::interval(akin_flow::password::MEMORY_IDLE);
    loop {
        every.tick().await;
        akin_flow::password::release_idle_memory(akin_flow::password::MEMORY_IDLE);
        give_back_free_memory();
    }
}

/// Returns the allocator's free pages to the system. glibc keeps memory freed after a
/// burst (Argon2's buffers, hundreds of requests' worth) in its arenas for as long as the
/// process runs — 83 MB after 200 enrollments, against 29 MB before; `malloc_trim`
/// releases it. (mimalloc, tried instead, held 69 MB when idle.) A few milliseconds every
/// ten seconds, nothing when nothing was freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn give_back_free_memory() {
    // SAFETY: malloc_trim takes no pointers and may be called from any thread at any time;
    // it only releases memory the allocator holds free.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn give_back_free_memory() {}

/// Makes glibc take every allocation of 1 MiB or more straight from the system and give it
/// back when freed. By default glibc raises that threshold to the size of the largest block
/// freed so far: after the first Argon2 hash, its 19 MiB buffers came from the heap, and
/// the heap kept them resident long after the burst that used them.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn large_allocations_from_the_system() {
    // SAFETY: mallopt only changes allocator settings; called before serving, and any
    // thread may call it at any time.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn large_allocations_from_the_system() {}

/// Deletes expired sessions, flow tokens and rate-limit uses every five minutes. Any number
/// of nodes may do this at once: the deletes are idempotent and use the expiry indexes.
async fn sweep_sessions(store: Store) {
    // The first sweep waits a period too: at start-up nothing has expired yet that a
    // previous run's sweep missed for long, and SQLite's writes are better left to the
    // requests the server starts taking.
    let period = std::time::Duration::from_secs(300);
    let mut every = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        every.tick().await;
        match store.sweep_sessions(time::OffsetDateTime::now_utc()).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(sessions = n, "removed expired sessions"),
            Err(error) => tracing::warn!(%error, "could not remove expired sessions"),
        }
        if let Err(error) = store.sweep_expired(time::OffsetDateTime::now_utc()).await {
            tracing::warn!(%error, "could not remove expired flow tokens and rate limits");
        }
    }
}

/// Folds the invitation tallies' pending changes in every five seconds (PostgreSQL; see
/// `Store::fold_invitation_tallies`), so the sums readers take stay a few rows long. Any
/// number of nodes may do this at once.
async fn fold_invitation_tallies(store: Store) {
    // The first at once: changes made while no node ran (a bulk import, a restore) would
    // otherwise be summed by every read until then.
    let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        every.tick().await;
        if let Err(error) = store.fold_invitation_tallies().await {
            tracing::warn!(%error, "could not fold the invitation tallies");
        }
    }
}

/// One pass over the blueprints folder (see `Engine::watch_blueprints_once`). The lease
/// outlives three passes and at least half a minute, so a slow pass keeps it; a node that
/// stops is replaced by another within that time.
async fn watch_blueprints_once(engine: &akin_flow::Engine, node: &str, every: std::time::Duration) {
    let lease = (every * 3).max(std::time::Duration::from_secs(30));
    match engine.watch_blueprints_once(node, lease).await {
        Ok(applied) if applied.is_empty() => {}
        Ok(applied) => tracing::info!(instances = ?applied, "applied blueprint instances"),
        Err(error) => tracing::warn!(%error, "could not apply the blueprints folder"),
    }
}

/// Delivers the outbox: whenever this node queues mail, and every few seconds for what
/// other nodes queued, retries that came due, and messages a stopped node was sending.
async fn deliver_mail(engine: akin_flow::Engine, mailer: akin_mail::Mailer) {
    const POLL: std::time::Duration = std::time::Duration::from_secs(5);
    loop {
        match engine.deliver_due_mail(&mailer).await {
            Ok(0) => {}
            Ok(sent) => tracing::info!(sent, "delivered mail"),
            Err(error) => tracing::warn!(%error, "could not deliver the outbox"),
        }
        tokio::select! {
            () = engine.outbox_waker.notified() => {}
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

/// Watches the blueprints folder: a pass every `every`.
async fn watch_blueprints(engine: akin_flow::Engine, node: String, every: std::time::Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        watch_blueprints_once(&engine, &node, every).await;
    }
}

/// Registers for SIGTERM and Ctrl-C now; the returned future resolves on either.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, AppError> {
    #[cfg(unix)]
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    #[cfg(unix)]
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = terminate.recv() => {},
            _ = interrupt.recv() => {},
        }
        #[cfg(not(unix))]
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
        tracing::info!("shutting down: finishing in-flight requests");
    })
}

/// Connections the server keeps open at most by default: three quarters of the files
/// this process may open (the rest for the database, expression workers and files),
/// at least 64.
fn default_max_connections() -> usize {
    let files = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(1 << 20);
    usize::try_from(files / 4 * 3)
        .unwrap_or(usize::MAX)
        .clamp(64, 1 << 20)
}
