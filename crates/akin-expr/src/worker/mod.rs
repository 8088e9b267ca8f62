//! Expressions in worker processes, so that no expression can take the server down.
//!
//! Starlark bounds ticks, call depth and (periodically) its heap, but one built-in call
//! can allocate gigabytes before a check sees it (`''.join([s] * 1000)`, `sorted()` of
//! millions), a deeply nested value overflows the stack in `str()` or `json.encode()`, and
//! compiling folds constant calls (`list(range(1 << 28))`) before anything runs. In the
//! server's process each of these aborts the process. So the server ([`IsolatedEngine`])
//! hands every compile and evaluation to a worker: the akin binary itself, started with
//! `expression-worker`, limited in address space and stopped when its time is up. A worker
//! that dies or overruns is replaced; its binding fails with an error, as any failing
//! expression's does (`failure_result`, a `policy_exception` event), and everyone else's
//! requests go on.
//!
//! Workers are started when first needed and kept for the next job (each keeps its
//! compiled expressions). Lookups an expression makes (`ak_user_by`, `ak_call_policy`, …)
//! come back to the server over the same pipes and are answered by the server's
//! `PolicyDirectory`.

mod protocol;
mod serve;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use akin_domain::policy::{
    ExpressionEngine, ExpressionError, MAX_TIMEOUT, PolicyDirectory, PolicyRequest, PolicyVerdict,
};
use serde_json::{Map, Value};

use protocol::{Answer, FromWorker, Lookup, ToWorker};
pub use serve::serve;

/// How long a compile may take when an expression is saved.
const VALIDATE_TIMEOUT: Duration = Duration::from_secs(10);
/// A worker's own deadline check answers in time; past this much more it is stopped.
const GRACE: Duration = Duration::from_millis(500);
/// The longest line a worker may send: a verdict's messages and updates, a lookup.
const MAX_LINE: u64 = 32 << 20;

/// How to start a worker, and the limits each runs under.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// The akin binary.
    pub program: PathBuf,
    /// Arguments before the memory limit: `["expression-worker"]`.
    pub args: Vec<String>,
    /// Memory an expression may use, in MiB (the worker's address space beyond its own).
    pub memory_mib: u64,
    /// Workers at once: evaluations beyond this wait (up to their timeout) for one.
    pub max_workers: usize,
}

/// An [`ExpressionEngine`] that runs every expression in a worker process.
pub struct IsolatedEngine {
    settings: WorkerSettings,
    pool: Mutex<Pool>,
    freed: Condvar,
}

#[derive(Default)]
struct Pool {
    idle: Vec<Worker>,
    /// Workers started and not yet stopped, idle or busy.
    live: usize,
}

/// Why a job got no result from its worker.
#[derive(Debug)]
enum Stopped {
    NoWorker,
    CannotStart(std::io::Error),
    OutOfTime,
    Died(String),
    Garbled,
}

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stopped::NoWorker => f.write_str(
                "no expression worker was free within the timeout (too many expressions at once)",
            ),
            Stopped::CannotStart(e) => write!(f, "the expression worker could not be started: {e}"),
            Stopped::OutOfTime => f.write_str(
                "The expression ran out of time (binding timeout); its worker was stopped.",
            ),
            Stopped::Died(how) => write!(
                f,
                "The expression stopped its worker ({how}): it used more memory or stack than allowed."
            ),
            Stopped::Garbled => {
                f.write_str("the expression worker answered nonsense; it was stopped")
            }
        }
    }
}

struct Worker {
    child: Child,
    input: ChildStdin,
    /// Lines from the worker's standard output, read by a thread of their own so that
    /// waiting for one can time out.
    lines: Receiver<std::io::Result<Vec<u8>>>,
}

impl Worker {
    fn start(settings: &WorkerSettings) -> std::io::Result<Worker> {
        // Nothing of the server's environment (its secrets among it) in the process
        // that runs other people's code.
        let mut child = Command::new(&settings.program)
            .env_clear()
            .args(&settings.args)
            .arg(settings.memory_mib.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let (Some(input), Some(output)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::other("no pipes to the worker"));
        };
        let (sender, lines) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("akin-expr-worker-reader".into())
            .spawn(move || {
                let mut output = BufReader::new(output);
                loop {
                    let mut line = Vec::new();
                    let read = (&mut output).take(MAX_LINE).read_until(b'\n', &mut line);
                    let message = match read {
                        Ok(0) => break,
                        Ok(_) if line.ends_with(b"\n") => Ok(line),
                        Ok(_) => Err(std::io::Error::other("a line too long")),
                        Err(e) => Err(e),
                    };
                    let failed = message.is_err();
                    if sender.send(message).is_err() || failed {
                        break;
                    }
                }
            })?;
        Ok(Worker {
            child,
            input,
            lines,
        })
    }

    fn send(&mut self, message: &ToWorker) -> Result<(), Stopped> {
        let mut line = serde_json::to_vec(message).map_err(|_| Stopped::Garbled)?;
        line.push(b'\n');
        self.input
            .write_all(&line)
            .and_then(|()| self.input.flush())
            .map_err(|_| self.died())
    }

    /// How the worker ended, once it has.
    fn died(&mut self) -> Stopped {
        let _ = self.child.kill();
        match self.child.wait() {
            Ok(status) => Stopped::Died(status.to_string()),
            Err(e) => Stopped::Died(e.to_string()),
        }
    }

    /// Runs one job: sends it, answers the worker's lookups, returns its result.
    fn converse(
        &mut self,
        job: &ToWorker,
        directory: Option<&dyn PolicyDirectory>,
        deadline: Instant,
    ) -> Result<FromWorker, Stopped> {
        self.send(job)?;
        loop {
            let wait = deadline.saturating_duration_since(Instant::now()) + GRACE;
            let line = match self.lines.recv_timeout(wait) {
                Ok(Ok(line)) => line,
                Ok(Err(_)) => return Err(Stopped::Garbled),
                Err(RecvTimeoutError::Timeout) => return Err(Stopped::OutOfTime),
                Err(RecvTimeoutError::Disconnected) => return Err(self.died()),
            };
            match serde_json::from_slice(&line).map_err(|_| Stopped::Garbled)? {
                FromWorker::Lookup { lookup } => {
                    let answer = answer(lookup, directory, deadline);
                    self.send(&ToWorker::Answer { answer })?;
                }
                result => return Ok(result),
            }
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server's answer to a worker's lookup. Without a directory (validation) there is
/// nothing to look up.
fn answer(lookup: Lookup, directory: Option<&dyn PolicyDirectory>, deadline: Instant) -> Answer {
    match lookup {
        Lookup::UserBy { filters } => Answer::UserBy(directory.and_then(|d| d.user_by(&filters))),
        Lookup::IsGroupMember { user, filters } => {
            Answer::IsGroupMember(directory.is_some_and(|d| d.is_group_member(user, &filters)))
        }
        Lookup::CallPolicy {
            name,
            request,
            timeout_ms,
        } => {
            let timeout = Duration::from_millis(timeout_ms)
                .min(deadline.saturating_duration_since(Instant::now()));
            Answer::CallPolicy(
                directory
                    .and_then(|d| d.call_policy(&name, &request, timeout))
                    .map(Into::into),
            )
        }
        Lookup::SendEmail { mail } => Answer::SendEmail(match directory {
            Some(d) => d.send_email(&mail),
            None => Err("sending mail is not available here".into()),
        }),
    }
}

impl IsolatedEngine {
    pub fn new(settings: WorkerSettings) -> Self {
        IsolatedEngine {
            settings,
            pool: Mutex::new(Pool::default()),
            freed: Condvar::new(),
        }
    }

    fn pool(&self) -> std::sync::MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An idle worker, a new one while there are fewer than the most allowed, or the
    /// first one freed before `deadline`.
    fn checkout(&self, deadline: Instant) -> Result<Worker, Stopped> {
        let mut pool = self.pool();
        loop {
            if let Some(worker) = pool.idle.pop() {
                return Ok(worker);
            }
            if pool.live < self.settings.max_workers.max(1) {
                pool.live += 1;
                drop(pool);
                return Worker::start(&self.settings).map_err(|e| {
                    self.stopped();
                    Stopped::CannotStart(e)
                });
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Stopped::NoWorker);
            }
            pool = self
                .freed
                .wait_timeout(pool, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// One worker fewer (it died or was stopped): room for a new one.
    fn stopped(&self) {
        self.pool().live -= 1;
        self.freed.notify_one();
    }

    /// Runs `job` on a worker: the worker goes back to the pool after a result, and is
    /// stopped (and replaced when next needed) after anything else.
    fn run(
        &self,
        job: &ToWorker,
        directory: Option<&dyn PolicyDirectory>,
        deadline: Instant,
    ) -> Result<FromWorker, Stopped> {
        let mut worker = self.checkout(deadline)?;
        match worker.converse(job, directory, deadline) {
            Ok(result) => {
                self.pool().idle.push(worker);
                self.freed.notify_one();
                Ok(result)
            }
            Err(stopped) => {
                drop(worker);
                self.stopped();
                Err(stopped)
            }
        }
    }
}

fn timeout_ms(timeout: Duration) -> u64 {
    timeout
        .min(MAX_TIMEOUT)
        .as_millis()
        .try_into()
        .unwrap_or(u64::MAX)
}

impl ExpressionEngine for IsolatedEngine {
    fn validate(&self, expression: &str) -> Result<(), ExpressionError> {
        let job = ToWorker::Validate {
            expression: expression.to_owned(),
        };
        let failed = |message: String| ExpressionError {
            line: 1,
            column: 1,
            message,
        };
        match self.run(&job, None, Instant::now() + VALIDATE_TIMEOUT) {
            Ok(FromWorker::Validated { result }) => result,
            Ok(_) => Err(failed(Stopped::Garbled.to_string())),
            // Compiling folds constant calls: a bomb in constants goes off here.
            Err(stopped) => Err(failed(format!(
                "the expression could not be compiled. {stopped}"
            ))),
        }
    }

    fn evaluate(
        &self,
        expression: &str,
        request: &PolicyRequest,
        directory: &dyn PolicyDirectory,
        timeout: Duration,
    ) -> PolicyVerdict {
        let job = ToWorker::Evaluate {
            expression: expression.to_owned(),
            request: request.clone(),
            timeout_ms: timeout_ms(timeout),
        };
        let deadline = Instant::now() + timeout.min(MAX_TIMEOUT);
        let stopped = match self.run(&job, Some(directory), deadline) {
            Ok(FromWorker::Evaluated { verdict }) => return verdict.into(),
            Ok(_) => Stopped::Garbled,
            Err(stopped) => stopped,
        };
        PolicyVerdict {
            error: Some(stopped.to_string()),
            ..PolicyVerdict::default()
        }
    }

    fn evaluate_mapping(
        &self,
        expression: &str,
        request: &PolicyRequest,
        prompt_context: &Map<String, Value>,
        directory: &dyn PolicyDirectory,
        timeout: Duration,
    ) -> Result<Value, String> {
        let job = ToWorker::EvaluateMapping {
            expression: expression.to_owned(),
            request: request.clone(),
            prompt_context: prompt_context.clone(),
            timeout_ms: timeout_ms(timeout),
        };
        let deadline = Instant::now() + timeout.min(MAX_TIMEOUT);
        match self.run(&job, Some(directory), deadline) {
            Ok(FromWorker::Mapped { result }) => result,
            Ok(_) => Err(Stopped::Garbled.to_string()),
            Err(stopped) => Err(stopped.to_string()),
        }
    }
}
