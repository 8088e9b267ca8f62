//! The worker's side: a process of its own (the akin binary, started by the server with
//! `expression-worker`) that compiles and evaluates expressions one at a time, under an
//! address-space limit, and dies with the server.

use std::cell::RefCell;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::time::Duration;

use akin_domain::policy::{
    ExpressionEngine, ExpressionMail, PolicyDirectory, PolicyRequest, PolicyUser, PolicyVerdict,
};
use serde_json::{Map, Value};

use super::protocol::{Answer, FromWorker, Lookup, ToWorker};
use crate::StarlarkEngine;

/// What a worker may use beyond the expression's own memory: the binary, the allocator's
/// arenas, and the compiling thread's stack (reserved, mostly never touched).
const BASE_ADDRESS_SPACE: u64 = 256 << 20;

/// Serves jobs from standard input until the server closes it. Never returns on a
/// protocol error or a lost server: the process exits. An expression that exhausts the
/// memory or the stack ends the process too, which is the point: the server sees it go
/// and answers that binding with an error.
pub fn serve(memory_mib: u64) -> ! {
    limit_this_process(memory_mib);
    let engine = StarlarkEngine::new();
    let link = Link {
        input: RefCell::new(BufReader::new(std::io::stdin().lock())),
        output: RefCell::new(BufWriter::new(std::io::stdout().lock())),
    };
    while let Some(job) = link.receive() {
        let reply = match job {
            ToWorker::Validate { expression } => FromWorker::Validated {
                result: engine.validate(&expression),
            },
            ToWorker::Evaluate {
                expression,
                request,
                timeout_ms,
            } => FromWorker::Evaluated {
                verdict: engine
                    .evaluate(
                        &expression,
                        &request,
                        &link,
                        Duration::from_millis(timeout_ms),
                    )
                    .into(),
            },
            ToWorker::EvaluateMapping {
                expression,
                request,
                prompt_context,
                timeout_ms,
            } => FromWorker::Mapped {
                result: engine.evaluate_mapping(
                    &expression,
                    &request,
                    &prompt_context,
                    &link,
                    Duration::from_millis(timeout_ms),
                ),
            },
            ToWorker::Answer { .. } => std::process::exit(2),
        };
        link.send(&reply);
    }
    std::process::exit(0)
}

/// The address-space limit, and death with the server (a worker busy in a loop would not
/// notice its input closing).
fn limit_this_process(memory_mib: u64) {
    use rustix::process::{Resource, Rlimit, Signal, set_parent_process_death_signal, setrlimit};
    let bytes = (memory_mib << 20) + BASE_ADDRESS_SPACE + crate::COMPILE_STACK as u64;
    let limit = Rlimit {
        current: Some(bytes),
        maximum: Some(bytes),
    };
    if let Err(error) = setrlimit(Resource::As, limit) {
        eprintln!("akin expression-worker: cannot limit its memory: {error}");
        std::process::exit(3);
    }
    if set_parent_process_death_signal(Some(Signal::KILL)).is_err() {
        std::process::exit(3);
    }
    // The server may have gone between starting this process and the line above.
    if rustix::process::getppid().is_none_or(|p| p.as_raw_nonzero().get() == 1) {
        std::process::exit(0);
    }
}

/// The worker's two pipes; also what expressions look things up through.
struct Link<'a> {
    input: RefCell<BufReader<std::io::StdinLock<'a>>>,
    output: RefCell<BufWriter<std::io::StdoutLock<'a>>>,
}

impl Link<'_> {
    /// The next message; `None` when the server closed the pipe.
    fn receive(&self) -> Option<ToWorker> {
        let mut line = String::new();
        match self.input.borrow_mut().read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => match serde_json::from_str(&line) {
                Ok(message) => Some(message),
                Err(_) => std::process::exit(2),
            },
        }
    }

    fn send(&self, message: &FromWorker) {
        let mut output = self.output.borrow_mut();
        let sent = serde_json::to_writer(&mut *output, message)
            .map_err(std::io::Error::from)
            .and_then(|()| output.write_all(b"\n"))
            .and_then(|()| output.flush());
        if sent.is_err() {
            std::process::exit(0);
        }
    }

    /// Asks the server and waits for its answer.
    fn ask(&self, lookup: Lookup) -> Answer {
        self.send(&FromWorker::Lookup { lookup });
        match self.receive() {
            Some(ToWorker::Answer { answer }) => answer,
            Some(_) => std::process::exit(2),
            None => std::process::exit(0),
        }
    }
}

impl PolicyDirectory for Link<'_> {
    fn user_by(&self, filters: &Map<String, Value>) -> Option<PolicyUser> {
        match self.ask(Lookup::UserBy {
            filters: filters.clone(),
        }) {
            Answer::UserBy(user) => user,
            _ => std::process::exit(2),
        }
    }

    fn is_group_member(&self, user: i64, filters: &Map<String, Value>) -> bool {
        match self.ask(Lookup::IsGroupMember {
            user,
            filters: filters.clone(),
        }) {
            Answer::IsGroupMember(member) => member,
            _ => std::process::exit(2),
        }
    }

    fn call_policy(
        &self,
        name: &str,
        request: &PolicyRequest,
        timeout: Duration,
    ) -> Option<PolicyVerdict> {
        match self.ask(Lookup::CallPolicy {
            name: name.to_owned(),
            request: request.clone(),
            timeout_ms: timeout.as_millis().try_into().unwrap_or(u64::MAX),
        }) {
            Answer::CallPolicy(verdict) => verdict.map(Into::into),
            _ => std::process::exit(2),
        }
    }

    fn send_email(&self, mail: &ExpressionMail) -> Result<(), String> {
        match self.ask(Lookup::SendEmail { mail: mail.clone() }) {
            Answer::SendEmail(result) => result,
            _ => std::process::exit(2),
        }
    }
}
