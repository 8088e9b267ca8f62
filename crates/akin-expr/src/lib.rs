//! Expression policies: authentik's Python expression bodies, run as sandboxed Starlark.
//!
//! An expression is checked for Python features Starlark lacks, rewritten (`is None`),
//! wrapped into a function as authentik does, compiled once and cached. Each evaluation
//! gets a fresh heap with limits on ticks, call depth, heap size and wall-clock time; an
//! error or an exceeded limit is a failing verdict, never a panic.

mod convert;
mod dialect;
mod globals;
mod state;
pub mod worker;

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use akin_domain::policy::{
    ExpressionEngine, ExpressionError, MAX_TIMEOUT, PolicyDirectory, PolicyRequest, PolicyVerdict,
};
use starlark::environment::{FrozenModule, Globals, GlobalsBuilder, LibraryExtension, Module};
use starlark::eval::Evaluator;
use starlark::syntax::{AstModule, Dialect};
use starlark::values::{FrozenValue, OwnedFrozenValue};

pub use dialect::position;
pub use worker::{IsolatedEngine, WorkerSettings};

/// Loop iterations plus function calls one evaluation may make.
const MAX_TICKS: u64 = 1_000_000;
/// Nested calls (recursion depth).
const MAX_CALL_DEPTH: usize = 64;
/// Starlark heap per evaluation (checked periodically, as starlark does).
const MAX_HEAP: usize = 64 << 20;
/// The compiling thread's stack: enough for the deepest expression `dialect::MAX_TOKENS`
/// allows (measured on a debug build, whose frames are the largest).
const COMPILE_STACK: usize = 512 << 20;
/// Compiled expressions kept; the cache starts over beyond this.
const CACHE_SIZE: usize = 1024;

/// Runs in every compiled module: `ak_logger.info(…)` and friends.
const PRELUDE: &str = "ak_logger = struct(\
debug = lambda *a: _ak_log('debug', ' '.join([str(x) for x in a])), \
info = lambda *a: _ak_log('info', ' '.join([str(x) for x in a])), \
warning = lambda *a: _ak_log('warning', ' '.join([str(x) for x in a])), \
error = lambda *a: _ak_log('error', ' '.join([str(x) for x in a])))\n";

fn dialect() -> Dialect {
    Dialect {
        enable_f_strings: true,
        enable_lambda: true,
        enable_load: false,
        enable_top_level_stmt: true,
        ..Dialect::Standard
    }
}

/// One compiled expression: the frozen handler function.
struct Compiled {
    handler: OwnedFrozenValue,
}

/// The built-ins every evaluation sees, and `_ak_true`/`_ak_false` from them (which
/// `globals` keeps alive).
struct Builtins {
    globals: Globals,
    constants: (FrozenValue, FrozenValue),
}

impl Builtins {
    fn new() -> Self {
        let globals = GlobalsBuilder::extended_by(&[
            LibraryExtension::StructType,
            LibraryExtension::Json,
            LibraryExtension::Print,
            LibraryExtension::Map,
            LibraryExtension::Filter,
        ])
        .with(globals::helpers)
        .build();
        let constant = |name: &str| {
            globals
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v)
                .expect("registered by globals::helpers")
        };
        let constants = (constant("_ak_true"), constant("_ak_false"));
        Self { globals, constants }
    }
}

/// What an expression is, which decides the variables it is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    /// An expression policy: `request`, `context`, `http_request`, … (a verdict).
    Policy,
    /// A property mapping: `user`, `request`, `prompt_context`, `dry_run` (a value).
    Mapping,
}

impl Kind {
    fn parameters(self) -> &'static [&'static str] {
        match self {
            Kind::Policy => dialect::PARAMETERS,
            Kind::Mapping => dialect::MAPPING_PARAMETERS,
        }
    }
}

pub struct StarlarkEngine {
    /// Built on first use: a server whose flows have no policies never pays for it
    /// (start-up time, memory).
    builtins: OnceLock<Builtins>,
    cache: Mutex<HashMap<(Kind, String), Arc<Compiled>>>,
}

impl Default for StarlarkEngine {
    fn default() -> Self {
        Self::new()
    }
}

impl StarlarkEngine {
    pub fn new() -> Self {
        Self {
            builtins: OnceLock::new(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn builtins(&self) -> &Builtins {
        self.builtins.get_or_init(Builtins::new)
    }

    /// A fresh evaluation's state: nothing said or logged yet.
    fn state<'a>(
        &self,
        request: &'a PolicyRequest,
        directory: &'a dyn PolicyDirectory,
        deadline: Instant,
    ) -> state::EvalState<'a> {
        state::EvalState {
            messages: RefCell::new(Vec::new()),
            logs: RefCell::new(Vec::new()),
            mail_sent: RefCell::new(0),
            directory,
            request,
            constant_true: self.builtins().constants.0,
            constant_false: self.builtins().constants.1,
            deadline,
        }
    }

    /// Parses, checks and freezes `expression` on a thread with a large stack: parsing
    /// recurses once per nesting level or chained operator, which could overflow a server
    /// thread's stack and abort the process. The stack is reserved, not committed: only
    /// what a deep expression touches is used. Evaluating the compiled form needs no more
    /// than an ordinary thread.
    fn compile(&self, kind: Kind, expression: &str) -> Result<Compiled, ExpressionError> {
        let failed = |message: String| ExpressionError {
            line: 1,
            column: 1,
            message,
        };
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("akin-expr-compile".into())
                .stack_size(COMPILE_STACK)
                .spawn_scoped(scope, || self.compile_here(kind, expression))
                .map_err(|e| failed(format!("could not start compiling: {e}")))?
                .join()
                .map_err(|_| failed("the expression could not be compiled".into()))?
        })
    }

    /// [`StarlarkEngine::compile`]'s work, on the current thread.
    fn compile_here(&self, kind: Kind, expression: &str) -> Result<Compiled, ExpressionError> {
        dialect::check_features(expression)?;
        let source = format!(
            "{PRELUDE}{}",
            dialect::wrap(&dialect::rewrite_identity(expression), kind.parameters())
        );
        let prelude_lines = PRELUDE.lines().count();
        let body_lines = expression.lines().count().max(1);
        let mut ast = AstModule::parse("expression", source, &dialect())
            .map_err(|e| syntax_error(&e, prelude_lines, body_lines))?;
        let guarded: HashMap<String, String> = [
            ("*", "_ak_mul"),
            ("+", "_ak_add"),
            ("in", "_ak_in"),
            ("not in", "_ak_not_in"),
        ]
        .into_iter()
        .map(|(op, f)| (op.to_owned(), f.to_owned()))
        .collect();
        ast.replace_binary_operators(&guarded);
        let module = Module::with_temp_heap(|module| -> Result<FrozenModule, ExpressionError> {
            {
                let mut eval = Evaluator::new(&module);
                eval.eval_module(ast, &self.builtins().globals)
                    .map_err(|e| syntax_error(&e, prelude_lines, body_lines))?;
            }
            module.freeze().map_err(|e| ExpressionError {
                line: 1,
                column: 1,
                message: format!("{e:?}"),
            })
        })?;
        let handler = module.get(dialect::HANDLER).map_err(|e| ExpressionError {
            line: 1,
            column: 1,
            message: format!("the expression did not compile to a function: {e}"),
        })?;
        Ok(Compiled { handler })
    }

    fn compiled(&self, kind: Kind, expression: &str) -> Result<Arc<Compiled>, ExpressionError> {
        let key = (kind, expression.to_owned());
        if let Some(found) = self.cache.lock().expect("cache lock").get(&key) {
            return Ok(found.clone());
        }
        let compiled = Arc::new(self.compile(kind, expression)?);
        let mut cache = self.cache.lock().expect("cache lock");
        if cache.len() >= CACHE_SIZE {
            cache.clear();
        }
        cache.insert(key, compiled.clone());
        Ok(compiled)
    }
}

/// A starlark error as a position in the user's body (the prelude and wrapper removed).
/// Errors past the end (an unclosed bracket) point at the body's last line.
fn syntax_error(
    error: &starlark::Error,
    prelude_lines: usize,
    body_lines: usize,
) -> ExpressionError {
    let (line, column) = error
        .span()
        .map(|span| {
            let resolved = span.resolve_span();
            (resolved.begin.line + 1, resolved.begin.column + 1)
        })
        .unwrap_or((1, 1));
    let offset = prelude_lines + dialect::WRAPPER_LINES;
    let message = error.without_diagnostic().to_string();
    ExpressionError {
        line: line.saturating_sub(offset).clamp(1, body_lines),
        column: column.saturating_sub(dialect::INDENT).max(1),
        message: message
            .lines()
            .next()
            .unwrap_or("syntax error")
            .trim()
            .to_owned(),
    }
}

impl ExpressionEngine for StarlarkEngine {
    fn validate(&self, expression: &str) -> Result<(), ExpressionError> {
        self.compiled(Kind::Policy, expression).map(|_| ())
    }

    fn evaluate(
        &self,
        expression: &str,
        request: &PolicyRequest,
        directory: &dyn PolicyDirectory,
        timeout: Duration,
    ) -> PolicyVerdict {
        let compiled = match self.compiled(Kind::Policy, expression) {
            Ok(compiled) => compiled,
            Err(error) => {
                return PolicyVerdict {
                    error: Some(format!("Expression Syntax Error: {error}")),
                    ..PolicyVerdict::default()
                };
            }
        };
        let deadline = Instant::now() + timeout.min(MAX_TIMEOUT);
        let state = self.state(request, directory, deadline);
        let mut updates = serde_json::Map::new();
        let outcome: Result<Option<bool>, String> = Module::with_temp_heap(|module| {
            let mut eval = Evaluator::new(&module);
            limit(&mut eval, &state)?;
            let heap = module.heap();
            let handler = handler(module.frozen_heap(), &compiled)?;
            let (arguments, plan_context) = convert::arguments(heap, request, &state);
            let result = eval.eval_function(handler, &arguments, &[]);
            updates = convert::context_updates(heap, plan_context, &request.context);
            match result {
                Ok(result) if result.is_none() => Ok(None),
                Ok(result) => Ok(Some(result.to_bool())),
                Err(error) => Err(describe(&error, deadline)),
            }
        });
        let mut verdict = PolicyVerdict {
            messages: state.messages.take(),
            log_messages: state.logs.take(),
            context_updates: updates,
            ..PolicyVerdict::default()
        };
        match outcome {
            Ok(Some(passing)) => verdict.passing = passing,
            Ok(None) => verdict
                .log_messages
                .push("warning: the expression returned None, which fails".into()),
            Err(error) => verdict.error = Some(error),
        }
        verdict
    }

    fn evaluate_mapping(
        &self,
        expression: &str,
        request: &PolicyRequest,
        prompt_context: &serde_json::Map<String, serde_json::Value>,
        directory: &dyn PolicyDirectory,
        timeout: Duration,
    ) -> Result<serde_json::Value, String> {
        let compiled = self
            .compiled(Kind::Mapping, expression)
            .map_err(|error| format!("Expression Syntax Error: {error}"))?;
        let deadline = Instant::now() + timeout.min(MAX_TIMEOUT);
        let state = self.state(request, directory, deadline);
        Module::with_temp_heap(|module| {
            let mut eval = Evaluator::new(&module);
            limit(&mut eval, &state)?;
            let handler = handler(module.frozen_heap(), &compiled)?;
            let arguments =
                convert::mapping_arguments(module.heap(), request, prompt_context, &state);
            let result = eval
                .eval_function(handler, &arguments, &[])
                .map_err(|error| describe(&error, deadline))?;
            result
                .to_json_value()
                .map_err(|error| format!("the expression returned no JSON value: {error}"))
        })
    }
}

/// Gives an evaluation its state and its limits: ticks, call depth, heap, and the
/// deadline (checked while it runs).
fn limit<'v, 'a, 'e>(
    eval: &mut Evaluator<'v, 'a, 'e>,
    state: &'a state::EvalState<'e>,
) -> Result<(), String> {
    let deadline = state.deadline;
    eval.extra = Some(state);
    eval.set_print_handler(state);
    eval.set_check_cancelled(Box::new(move || Instant::now() >= deadline));
    eval.set_max_tick_count(MAX_TICKS)
        .and_then(|_| eval.set_max_callstack_size(MAX_CALL_DEPTH))
        .and_then(|_| eval.set_max_heap_size(MAX_HEAP))
        .map_err(|error| error.to_string())
}

/// The compiled expression's function, usable in an evaluation whose module's frozen heap
/// is `frozen_heap`. It lives on the compiled module's frozen heap, which `frozen_heap`
/// keeps a reference to for as long as it is used.
fn handler<'v>(
    frozen_heap: &starlark::values::FrozenHeap,
    compiled: &Compiled,
) -> Result<starlark::values::Value<'v>, String> {
    frozen_heap.add_reference(compiled.handler.owner());
    let mut frozen = None;
    compiled.handler.map(|value| {
        frozen = Some(value);
        value
    });
    frozen
        .map(|f| f.to_value())
        .ok_or_else(|| "the compiled expression has no handler".to_owned())
}

/// An evaluation error in a line for the administrator: the message without starlark's
/// source excerpt, and a plain reason for a timeout.
fn describe(error: &starlark::Error, deadline: Instant) -> String {
    if Instant::now() >= deadline {
        return "The expression ran out of time (binding timeout).".to_owned();
    }
    let text = error.without_diagnostic().to_string();
    let first = text.lines().next().unwrap_or("error").trim().to_owned();
    match error.span() {
        Some(span) => {
            let resolved = span.resolve_span();
            let prelude = PRELUDE.lines().count() + dialect::WRAPPER_LINES;
            format!(
                "{first} (line {})",
                (resolved.begin.line + 1).saturating_sub(prelude).max(1)
            )
        }
        None => first,
    }
}

#[cfg(test)]
mod tests;
