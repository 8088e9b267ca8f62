//! Accepting connections: the router served on each, with limits that keep slow or
//! numerous clients from taking the server away from everyone else.
//!
//! - A request's head must arrive within [`ConnectionLimits::header_timeout`], counted
//!   from when the server starts waiting for it: a client trickling its headers
//!   (slowloris), or a keep-alive connection left idle, is closed after that. A request's
//!   body and the handler are bounded by the router's request timeout.
//! - At most [`ConnectionLimits::max_connections`] are open at once, below the process's
//!   file limit (past it `accept` fails and nobody is served). At the limit a new
//!   connection takes the place of one with no request in progress: first those that
//!   never sent a whole request (a slow client's), the longest-open first, then the
//!   longest-idle kept-alive one. When every connection is in the middle of a request, the
//!   new one is closed at once. (A legitimate connection whose first request has not
//!   arrived yet looks like a slow client's: in the first moments of a flood, while every
//!   slow connection is as young as it is, it may be closed too; once the flood's
//!   connections are older, newcomers win.)

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tower::ServiceExt;

/// How connections are bounded.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// The longest a client may take to send a request's head, or stay idle between
    /// requests.
    pub header_timeout: Duration,
    /// Connections open at once.
    pub max_connections: usize,
}

/// Serves `app` on `listener` until `shutdown` completes, then lets requests in progress
/// finish (up to `drain`) and returns.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl std::future::Future<Output = ()>,
    drain: Duration,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.header_timeout)
        .keep_alive_timeout(limits.header_timeout);
    let builder = Arc::new(builder);
    let open = Arc::new(Connections::default());
    let (stopping, stop) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    let (mut refused, mut last_warning) = (0_u64, None);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, most likely: others may close meanwhile.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(slot) = open.admit(limits.max_connections) else {
            // Once a second at most: a flood must not become a flood of log lines.
            refused += 1;
            if last_warning.is_none_or(|at: Instant| at.elapsed() >= Duration::from_secs(1)) {
                tracing::warn!(
                    max = limits.max_connections,
                    refused,
                    "every connection is busy with a request: new ones refused"
                );
                last_warning = Some(Instant::now());
                refused = 0;
            }
            continue;
        };
        tokio::spawn(serve_connection(
            builder.clone(),
            app.clone(),
            stream,
            peer,
            slot,
            stop.clone(),
        ));
    }
    let _ = stopping.send(true);
    let _ = tokio::time::timeout(drain, open.all_closed()).await;
}

/// One connection, until it ends, is evicted, or the server stops.
async fn serve_connection(
    builder: Arc<Builder<TokioExecutor>>,
    app: Router,
    stream: TcpStream,
    peer: SocketAddr,
    mut slot: Slot,
    mut stop: watch::Receiver<bool>,
) {
    let (activity, opened) = (slot.activity.clone(), slot.opened);
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let busy = Busy::start(activity.clone(), opened);
        let response = app.clone().oneshot(request);
        async move {
            let response = response.await;
            drop(busy);
            response
        }
    });
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    let mut connection = std::pin::pin!(connection);
    let graceful = tokio::select! {
        _ = connection.as_mut() => return,
        // Dropping the connection closes its socket.
        _ = &mut slot.evicted => false,
        _ = stop.wait_for(|stopping| *stopping) => true,
    };
    if graceful {
        connection.as_mut().graceful_shutdown();
        let _ = connection.await;
    }
}

/// What the listener knows of a connection's requests.
#[derive(Default)]
struct Activity {
    in_flight: AtomicUsize,
    /// Requests answered so far.
    served: AtomicU64,
    /// When the last request ended, in ms since the connection opened.
    last_ms: AtomicU64,
}

/// Counts a request in progress on its connection while it lives.
struct Busy {
    activity: Arc<Activity>,
    opened: Instant,
}

impl Busy {
    fn start(activity: Arc<Activity>, opened: Instant) -> Busy {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        Busy { activity, opened }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.activity.last_ms.store(ms, Ordering::Release);
        self.activity.served.fetch_add(1, Ordering::AcqRel);
        self.activity.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The open connections.
#[derive(Default)]
struct Connections {
    open: Mutex<HashMap<u64, Entry>>,
    next: AtomicU64,
    closed: tokio::sync::Notify,
}

struct Entry {
    opened: Instant,
    activity: Arc<Activity>,
    evict: oneshot::Sender<()>,
}

impl Entry {
    /// Whether it may be closed for a newcomer, and how soon: `None` while a request is
    /// in progress; the smallest key goes first.
    fn eviction_key(&self) -> Option<(bool, Instant)> {
        let activity = &self.activity;
        if activity.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let served = activity.served.load(Ordering::Acquire) > 0;
        let idle_since =
            self.opened + Duration::from_millis(activity.last_ms.load(Ordering::Acquire));
        Some((served, idle_since))
    }
}

/// A connection's place among the open ones, given back when it is dropped.
struct Slot {
    id: u64,
    opened: Instant,
    activity: Arc<Activity>,
    evicted: oneshot::Receiver<()>,
    connections: Arc<Connections>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.connections.release(self.id);
    }
}

impl Connections {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Entry>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A place for one more connection: a free one, or that of a connection without a
    /// request in progress (see the module's comment), which is closed. `None` when every
    /// connection is busy.
    fn admit(self: &Arc<Self>, max: usize) -> Option<Slot> {
        let mut open = self.lock();
        if open.len() >= max.max(1) {
            let victim = open
                .iter()
                .filter_map(|(id, entry)| entry.eviction_key().map(|key| (key, *id)))
                .min()
                .map(|(_, id)| id)?;
            if let Some(entry) = open.remove(&victim) {
                let _ = entry.evict.send(());
            }
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (evict, evicted) = oneshot::channel();
        let activity = Arc::new(Activity::default());
        let opened = Instant::now();
        open.insert(
            id,
            Entry {
                opened,
                activity: activity.clone(),
                evict,
            },
        );
        Some(Slot {
            id,
            opened,
            activity,
            evicted,
            connections: self.clone(),
        })
    }

    fn release(&self, id: u64) {
        let mut open = self.lock();
        open.remove(&id);
        if open.is_empty() {
            self.closed.notify_waiters();
        }
    }

    async fn all_closed(&self) {
        loop {
            let notified = self.closed.notified();
            if self.lock().is_empty() {
                return;
            }
            notified.await;
        }
    }
}
