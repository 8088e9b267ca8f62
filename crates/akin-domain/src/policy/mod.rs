//! Policies: who may pass. A target (a flow, a flow-stage binding) has policy bindings; each
//! binding names a policy (an expression, a reputation check), a group or a user. The engine
//! combines the bindings' results with the target's mode (`all` / `any`), as authentik does
//! (spec §5.2).
//!
//! Evaluating an expression is the [`ExpressionEngine`] port's job (sandboxed Starlark in
//! `akin-expr`); what an expression may look up is the [`PolicyDirectory`] port's.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::choice::choice_enum;

pub mod password;
mod reputation;

pub use password::PasswordPolicy;
pub use reputation::{REPUTATION_EXPIRY, ReputationFilter, ReputationPolicy, ReputationScore};

/// The longest any one expression may run, whatever its binding's `timeout` says.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(30);

/// What a policy is asked about: who, in which context, over which HTTP request.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PolicyRequest {
    /// The user as expressions see it (`PolicyUser::to_value`), `Null` when anonymous.
    pub user: Value,
    /// `request.context`: the flow plan's context (with `pending_user` as a user).
    pub context: Map<String, Value>,
    pub http: Option<HttpRequestInfo>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HttpRequestInfo {
    pub path: String,
    pub method: String,
    /// Header names lower-cased; sensitive ones (cookies, authorization) left out.
    pub headers: Map<String, Value>,
    pub client_ip: String,
}

/// A user as expressions see it: `request.user.username`, `.attributes`, `.groups`, ….
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyUser {
    pub pk: i64,
    pub username: String,
    pub name: String,
    pub email: String,
    pub is_active: bool,
    pub is_superuser: bool,
    pub attributes: Map<String, Value>,
    /// Names of the user's groups, their parents included.
    pub groups: Vec<String>,
    pub path: String,
    #[serde(rename = "type")]
    pub user_type: String,
    /// Expressions call it as a method: `user.has_usable_password()`.
    pub has_usable_password: bool,
}

impl PolicyUser {
    pub fn to_value(&self) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        value["is_authenticated"] = Value::Bool(true);
        value
    }
}

/// One policy's answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PolicyVerdict {
    pub passing: bool,
    /// `ak_message(...)` texts, shown to the person.
    pub messages: Vec<String>,
    /// `ak_logger` and `print` lines, for the administrator (the policy test endpoint).
    pub log_messages: Vec<String>,
    /// Why evaluation failed (an exception, a limit), when it did.
    #[serde(skip)]
    pub error: Option<String>,
    /// What the expression wrote into `context["flow_plan"].context` (authentik lets
    /// policies set plan context, e.g. `pending_user`); users are written as their pk.
    #[serde(skip)]
    pub context_updates: Map<String, Value>,
    /// The prompt field the messages are about (a password policy's field), shown next to
    /// it rather than above the form.
    #[serde(skip)]
    pub field: Option<String>,
    /// Of a combination: every message with the field it is about (`None`: the form as a
    /// whole), so one identical to a field's still goes where its own policy put it.
    #[serde(skip)]
    pub field_messages: Vec<(Option<String>, String)>,
}

impl PolicyVerdict {
    pub fn pass() -> Self {
        Self {
            passing: true,
            ..Self::default()
        }
    }

    pub fn fail(message: Option<String>) -> Self {
        Self {
            passing: false,
            messages: message.into_iter().collect(),
            ..Self::default()
        }
    }
}

/// A syntax error or an unsupported Python feature, found when an expression is saved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ExpressionError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Runs expression policies.
pub trait ExpressionEngine: Send + Sync {
    /// Checks an expression when it is saved.
    fn validate(&self, expression: &str) -> Result<(), ExpressionError>;
    /// Evaluates `expression` for `request`, stopping after `timeout`. Never panics: errors
    /// and exceeded limits come back as a failing verdict with `error` set.
    fn evaluate(
        &self,
        expression: &str,
        request: &PolicyRequest,
        directory: &dyn PolicyDirectory,
        timeout: Duration,
    ) -> PolicyVerdict;

    /// Evaluates a property-mapping expression (authentik's `PropertyMappingEvaluator`: a
    /// prompt's computed placeholder or initial value) and returns what it returns. Its
    /// variables are `user` (`request.user`), `request` (the HTTP request, with `user`),
    /// `prompt_context` and `dry_run`. Errors and exceeded limits come back as `Err`.
    fn evaluate_mapping(
        &self,
        expression: &str,
        request: &PolicyRequest,
        prompt_context: &Map<String, Value>,
        directory: &dyn PolicyDirectory,
        timeout: Duration,
    ) -> Result<Value, String>;
}

/// What expressions may look up, synchronously (they run on a blocking thread).
pub trait PolicyDirectory {
    /// `ak_user_by(**filters)`: the first user matching every filter.
    fn user_by(&self, filters: &Map<String, Value>) -> Option<PolicyUser>;
    /// `ak_is_group_member(user, **filters)`: whether the user (by pk) is in a group
    /// matching the filters, parents included.
    fn is_group_member(&self, user: i64, filters: &Map<String, Value>) -> bool;
    /// `ak_call_policy(name, **context)`: another policy's verdict, `None` if it does not
    /// exist. `timeout` is what is left of the calling policy's time.
    fn call_policy(
        &self,
        name: &str,
        request: &PolicyRequest,
        timeout: Duration,
    ) -> Option<PolicyVerdict>;
    /// `ak_send_email(...)`: queues the message through the outbox; why not, if it
    /// cannot be.
    fn send_email(&self, _mail: &ExpressionMail) -> Result<(), String> {
        Err("sending mail is not available here".into())
    }
}

/// A message an expression asks for (`ak_send_email`), checked by the expression engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpressionMail {
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub bcc: Vec<String>,
    pub subject: String,
    pub body: MailBody,
    /// The email stage (by name) whose settings send it; `None`: the global settings.
    pub stage: Option<String>,
}

/// What an expression's message says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MailBody {
    /// Plain text, sent as is (and as escaped HTML).
    Text(String),
    /// A template (`email/setup.html`) rendered with this context.
    Template {
        name: String,
        context: Map<String, Value>,
    },
}

impl ExpressionMail {
    /// The most messages one evaluation may queue.
    pub const MAX_PER_EVALUATION: usize = 10;
    /// The most addresses (to, cc and bcc together) one message may have.
    pub const MAX_RECIPIENTS: usize = 100;
    /// The longest text body.
    pub const MAX_BODY: usize = 1 << 20;
}

/// A policy of any kind, as evaluation needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub name: String,
    /// Record every evaluation as a `policy_execution` event.
    pub execution_logging: bool,
    pub kind: PolicyKind,
}

/// What a policy checks, by its kind.
#[derive(Debug, Clone, PartialEq)]
pub enum PolicyKind {
    /// Runs the administrator's expression (authentik's expression policy).
    Expression { expression: String },
    /// Compares the sign-in reputation of the address and the username with a threshold.
    Reputation(ReputationPolicy),
    /// Checks the password a prompt collected: static rules, breaches, zxcvbn.
    Password(PasswordPolicy),
}

/// Who a binding is about.
#[derive(Debug, Clone, PartialEq)]
pub enum BindingSubject {
    Policy(Policy),
    Group(String),
    User(i64),
}

/// A policy binding as the engine needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    pub subject: BindingSubject,
    pub order: i64,
    pub negate: bool,
    pub enabled: bool,
    pub timeout: Duration,
    pub failure_result: bool,
}

choice_enum! {
    /// How a target's bindings combine: `all` must pass, or `any` one is enough.
    pub enum EngineMode {
        default Any = "any",
        All = "all",
    }
}

/// One binding's result as the combination sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct BindingResult {
    pub passing: bool,
    pub messages: Vec<String>,
    /// The prompt field the messages are about, if any.
    pub field: Option<String>,
}

impl Binding {
    /// Turns the subject's raw verdict into the binding's result: `negate` flips pass and
    /// fail (messages stay); an evaluation error yields `failure_result` as it is, with
    /// the error as a message, as authentik does.
    pub fn result(&self, verdict: PolicyVerdict) -> BindingResult {
        let mut messages = verdict.messages;
        let field = verdict.field;
        let passing = match verdict.error {
            Some(error) => {
                messages.push(error);
                self.failure_result
            }
            None => verdict.passing != self.negate,
        };
        BindingResult {
            passing,
            messages,
            field,
        }
    }
}

/// The bindings that count, in order: disabled ones are skipped.
pub fn active(mut bindings: Vec<Binding>) -> Vec<Binding> {
    bindings.retain(|b| b.enabled);
    bindings.sort_by_key(|b| b.order);
    bindings
}

/// Combines results. No bindings: pass. Messages of every binding are kept.
pub fn combine(mode: EngineMode, results: &[BindingResult]) -> PolicyVerdict {
    let passing = match mode {
        _ if results.is_empty() => true,
        EngineMode::All => results.iter().all(|r| r.passing),
        EngineMode::Any => results.iter().any(|r| r.passing),
    };
    PolicyVerdict {
        passing,
        messages: results.iter().flat_map(|r| r.messages.clone()).collect(),
        field_messages: results
            .iter()
            .flat_map(|r| r.messages.iter().map(|m| (r.field.clone(), m.clone())))
            .collect(),
        ..PolicyVerdict::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(negate: bool, failure_result: bool) -> Binding {
        Binding {
            subject: BindingSubject::User(1),
            order: 0,
            negate,
            enabled: true,
            timeout: Duration::from_secs(30),
            failure_result,
        }
    }

    fn result(passing: bool) -> BindingResult {
        BindingResult {
            passing,
            messages: vec![],
            field: None,
        }
    }

    #[test]
    fn modes_combine_as_authentik() {
        assert!(combine(EngineMode::All, &[]).passing, "no bindings pass");
        assert!(combine(EngineMode::Any, &[]).passing);
        assert!(!combine(EngineMode::All, &[result(true), result(false)]).passing);
        assert!(combine(EngineMode::Any, &[result(true), result(false)]).passing);
        assert!(!combine(EngineMode::Any, &[result(false), result(false)]).passing);
    }

    #[test]
    fn negate_flips_and_errors_use_failure_result() {
        assert!(!binding(true, false).result(PolicyVerdict::pass()).passing);
        assert!(
            binding(true, false)
                .result(PolicyVerdict::fail(None))
                .passing
        );
        let error = PolicyVerdict {
            error: Some("boom".into()),
            ..PolicyVerdict::pass()
        };
        let failed = binding(false, false).result(error.clone());
        assert!(!failed.passing);
        assert_eq!(failed.messages, ["boom"]);
        assert!(binding(false, true).result(error.clone()).passing);
        assert!(
            binding(true, true).result(error).passing,
            "failure_result is not negated"
        );
    }

    #[test]
    fn disabled_bindings_do_not_count() {
        let mut off = binding(false, false);
        off.enabled = false;
        off.order = 5;
        let on = binding(false, false);
        assert_eq!(active(vec![off, on.clone()]), vec![on]);
    }

    #[test]
    fn each_message_stays_with_the_field_its_policy_named() {
        let same = "At least 8 characters.".to_owned();
        let about_password = BindingResult {
            passing: false,
            messages: vec![same.clone()],
            field: Some("password".into()),
        };
        let about_the_form = BindingResult {
            passing: false,
            messages: vec![same.clone()],
            field: None,
        };
        let verdict = combine(EngineMode::All, &[about_password, about_the_form]);
        assert_eq!(
            verdict.field_messages,
            vec![(Some("password".into()), same.clone()), (None, same)]
        );
    }
}
