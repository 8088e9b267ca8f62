//! Evaluating a password policy (`akin_domain::policy::password`): the static rules, the
//! breach lookup (the engine's `BreachedPasswords` port, over the network) and zxcvbn (on
//! a blocking thread: it takes milliseconds). Every failed check adds its messages; the
//! verdict names the prompt field they are about. The password itself goes nowhere but
//! into these checks: not into messages, logs or events.

use akin_domain::policy::password::{
    self, BreachedPasswords, NO_PASSWORD, PasswordPolicy, WhenUnreachable, ZXCVBN_PREFIX,
};
use akin_domain::policy::{PolicyRequest, PolicyVerdict};
use serde_json::Value;

use crate::Engine;

/// Told when the breach lookup cannot answer and the policy fails closed.
pub const LOOKUP_UNAVAILABLE: &str =
    "Whether this password was part of a breach could not be checked. Try again later.";

/// Told when zxcvbn finds the password too easy and gives no feedback of its own.
pub const TOO_EASY: &str = "This password is too easy to guess.";

/// The breach lookup and what to do when it cannot answer.
#[derive(Clone)]
pub struct BreachCheck {
    pub lookup: std::sync::Arc<dyn BreachedPasswords>,
    pub when_unreachable: WhenUnreachable,
}

impl Default for BreachCheck {
    fn default() -> Self {
        BreachCheck {
            lookup: std::sync::Arc::new(password::NoBreachLookup),
            when_unreachable: WhenUnreachable::default(),
        }
    }
}

/// The verdict of `policy` on the password in `request`'s context.
pub(crate) async fn verdict(
    engine: &Engine,
    policy: &PasswordPolicy,
    request: &PolicyRequest,
) -> PolicyVerdict {
    let field = Some(policy.password_field.clone());
    let Some(password) = policy.password_in(&request.context) else {
        return PolicyVerdict {
            messages: vec![NO_PASSWORD.to_owned()],
            field,
            ..PolicyVerdict::default()
        };
    };
    let mut messages = Vec::new();
    let mut log_messages = Vec::new();
    if policy.check_static_rules {
        messages.extend(policy.static_failures(&password));
    }
    if policy.check_have_i_been_pwned {
        match engine.breaches.lookup.count(&password).await {
            Ok(count) => {
                log_messages.push(format!("debug: found in {count} breaches"));
                if !policy.breaches_pass(count) {
                    messages.push(password::breached(count));
                }
            }
            Err(error) => {
                tracing::warn!(%error, "the breached-password lookup did not answer");
                match engine.breaches.when_unreachable {
                    WhenUnreachable::Fail => {
                        log_messages.push(format!("warning: lookup failed, failing: {error}"));
                        messages.push(LOOKUP_UNAVAILABLE.to_owned());
                    }
                    WhenUnreachable::Pass => {
                        log_messages.push(format!("warning: lookup failed, not counted: {error}"))
                    }
                }
            }
        }
    }
    if policy.check_zxcvbn {
        let inputs = user_inputs(request);
        let rules = policy.clone();
        let scored = tokio::task::spawn_blocking(move || {
            let scored: String = password.chars().take(ZXCVBN_PREFIX).collect();
            let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
            let estimate = zxcvbn::zxcvbn(&scored, &inputs);
            let score = u8::from(estimate.score());
            let mut feedback = Vec::new();
            if !rules.zxcvbn_passes(score) {
                if let Some(given) = estimate.feedback() {
                    feedback.extend(given.warning().map(|w| w.to_string()));
                    feedback.extend(given.suggestions().iter().map(|s| s.to_string()));
                }
                if feedback.is_empty() {
                    feedback.push(TOO_EASY.to_owned());
                }
            }
            (score, feedback)
        })
        .await;
        match scored {
            Ok((score, feedback)) => {
                log_messages.push(format!("debug: zxcvbn score {score}"));
                messages.extend(feedback);
            }
            Err(error) => {
                tracing::error!(%error, "zxcvbn failed");
                messages.push(TOO_EASY.to_owned());
            }
        }
    }
    PolicyVerdict {
        passing: messages.is_empty(),
        messages,
        log_messages,
        field,
        ..PolicyVerdict::default()
    }
}

/// What zxcvbn should not find in a good password: who is asking (the signed-in or
/// pending user) and what they typed into the prompt about themselves.
fn user_inputs(request: &PolicyRequest) -> Vec<String> {
    let mut inputs = Vec::new();
    let prompt = request
        .context
        .get(akin_domain::flow::plan::PROMPT_DATA)
        .and_then(Value::as_object);
    for key in ["username", "name", "email"] {
        for source in [request.user.get(key), prompt.and_then(|p| p.get(key))] {
            if let Some(text) = source.and_then(Value::as_str).filter(|t| !t.is_empty()) {
                inputs.push(text.to_owned());
            }
        }
    }
    inputs.push("akin".to_owned());
    inputs
}
