//! Password policies (authentik's `authentik_policies_password`): the password a prompt
//! collected (`prompt_data[password_field]`) must follow static rules (length, digits,
//! cases, symbols), must not appear too often in the Have I Been Pwned range API, and must
//! score above a threshold in zxcvbn. Unlike authentik, which stops at the first rule
//! broken, every broken rule is told at once, so a person fixes the password in one go.
//!
//! The static rules are here; zxcvbn and the range API are the flow engine's (one is a
//! crate, the other a network call).

use serde::Deserialize;

use crate::choice::choice_enum;
use serde_json::{Map, Value};

/// A password policy's settings (their defaults are the catalog's, authentik's).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PasswordPolicy {
    /// The prompt field (`field_key`) that holds the password.
    pub password_field: String,
    pub check_static_rules: bool,
    pub length_min: u32,
    pub amount_digits: u32,
    pub amount_uppercase: u32,
    pub amount_lowercase: u32,
    pub amount_symbols: u32,
    /// The characters that count as symbols.
    pub symbol_charset: String,
    /// Shown first when a static rule is broken (empty: only the rules' own messages).
    pub error_message: String,
    pub check_have_i_been_pwned: bool,
    /// How many breaches a password may appear in and still pass.
    pub hibp_allowed_count: u32,
    pub check_zxcvbn: bool,
    /// zxcvbn's score (0–4) must be above this to pass.
    pub zxcvbn_score_threshold: u8,
}

/// The fields whose values must not be negative (authentik's `PositiveIntegerField`s).
pub const NON_NEGATIVE_FIELDS: &[&str] = &[
    "length_min",
    "amount_digits",
    "amount_uppercase",
    "amount_lowercase",
    "amount_symbols",
    "hibp_allowed_count",
    "zxcvbn_score_threshold",
];

/// zxcvbn's scores go from 0 to 4.
pub const MAX_ZXCVBN_THRESHOLD: u8 = 4;

/// Only the first characters are scored by zxcvbn: its time grows with the length, and a
/// password this long passes any threshold anyway (as authentik).
pub const ZXCVBN_PREFIX: usize = 100;

/// The message when no password is in the context (authentik's words).
pub const NO_PASSWORD: &str = "Password not set in context";

impl PasswordPolicy {
    /// The password the policy checks: the prompt's field, else a context key of that name
    /// (as authentik reads it).
    pub fn password_in(&self, context: &Map<String, Value>) -> Option<String> {
        let value = context
            .get(crate::flow::plan::PROMPT_DATA)
            .and_then(|prompt| prompt.get(&self.password_field))
            .or_else(|| context.get(&self.password_field))?;
        let text = match value {
            Value::String(text) => text.clone(),
            Value::Null => return None,
            other => other.to_string(),
        };
        (!text.is_empty()).then_some(text)
    }

    /// Every static rule `password` breaks, as messages for the person (the policy's
    /// `error_message` first, when it has one). Empty: it follows them all.
    pub fn static_failures(&self, password: &str) -> Vec<String> {
        let count = |matches: fn(&char) -> bool| password.chars().filter(matches).count();
        let mut broken = Vec::new();
        let length = password.chars().count();
        if length < self.length_min as usize {
            broken.push(format!("{}.", plural(self.length_min, "character")));
        }
        for (wanted, found, what) in [
            (self.amount_digits, count(char::is_ascii_digit), "digit"),
            (
                self.amount_uppercase,
                count(char::is_ascii_uppercase),
                "uppercase letter",
            ),
            (
                self.amount_lowercase,
                count(char::is_ascii_lowercase),
                "lowercase letter",
            ),
        ] {
            if found < wanted as usize {
                broken.push(format!("{}.", plural(wanted, what)));
            }
        }
        let symbols = password
            .chars()
            .filter(|c| self.symbol_charset.contains(*c))
            .count();
        if symbols < self.amount_symbols as usize {
            broken.push(format!(
                "{} (one of {}).",
                plural(self.amount_symbols, "symbol"),
                self.symbol_charset.trim_end()
            ));
        }
        if !broken.is_empty() && !self.error_message.is_empty() {
            broken.insert(0, self.error_message.clone());
        }
        broken
    }

    /// Whether a zxcvbn score passes.
    pub fn zxcvbn_passes(&self, score: u8) -> bool {
        score > self.zxcvbn_score_threshold
    }

    /// Whether a count of breaches passes.
    pub fn breaches_pass(&self, count: u64) -> bool {
        count <= u64::from(self.hibp_allowed_count)
    }
}

/// Where breached passwords are looked up (the Have I Been Pwned range API, in
/// `akin-pwned`): how many breaches a password appears in, or why that could not be told.
#[async_trait::async_trait]
pub trait BreachedPasswords: Send + Sync {
    async fn count(&self, password: &str) -> Result<u64, String>;
}

/// No lookup configured: every check is "unreachable".
#[derive(Debug, Default)]
pub struct NoBreachLookup;

#[async_trait::async_trait]
impl BreachedPasswords for NoBreachLookup {
    async fn count(&self, _password: &str) -> Result<u64, String> {
        Err("no breached-password lookup is configured".to_owned())
    }
}

choice_enum! {
    /// What a password policy does when the breach lookup cannot answer
    /// (`AKIN_HIBP_UNREACHABLE`): fail (closed: no password is accepted unchecked) or
    /// pass (open: the other checks decide). Either way it says so.
    pub enum WhenUnreachable {
        default Fail = "fail",
        Pass = "pass",
    }
}

/// The message for a password found in `count` breaches (authentik's words).
pub fn breached(count: u64) -> String {
    format!("Password exists on {count} online lists.")
}

/// "At least 1 digit", "At least 2 digits".
fn plural(n: u32, what: &str) -> String {
    if n == 1 {
        format!("At least 1 {what}")
    } else {
        format!("At least {n} {what}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy() -> PasswordPolicy {
        PasswordPolicy {
            password_field: "password".into(),
            check_static_rules: true,
            length_min: 8,
            amount_digits: 2,
            amount_uppercase: 1,
            amount_lowercase: 1,
            amount_symbols: 1,
            symbol_charset: "!?#".into(),
            error_message: String::new(),
            check_have_i_been_pwned: false,
            hibp_allowed_count: 0,
            check_zxcvbn: false,
            zxcvbn_score_threshold: 2,
        }
    }

    #[test]
    fn every_broken_rule_is_told_at_once() {
        assert_eq!(
            policy().static_failures("abc"),
            [
                "At least 8 characters.",
                "At least 2 digits.",
                "At least 1 uppercase letter.",
                "At least 1 symbol (one of !?#)."
            ]
        );
        assert!(policy().static_failures("Abcdef12!").is_empty());
        let mut told = policy();
        told.error_message = "Too weak.".into();
        assert_eq!(told.static_failures("Abcdefgh1!")[0], "Too weak.");
        assert_eq!(told.static_failures("Abcdefgh1!")[1], "At least 2 digits.");
        assert!(told.static_failures("Abcdefg12!").is_empty());
    }

    #[test]
    fn the_password_comes_from_the_prompt_then_the_context() {
        let p = policy();
        let prompt = json!({"prompt_data": {"password": "from-prompt"}, "password": "x"});
        assert_eq!(
            p.password_in(prompt.as_object().unwrap()).unwrap(),
            "from-prompt"
        );
        let context = json!({"password": "from-context"});
        assert_eq!(
            p.password_in(context.as_object().unwrap()).unwrap(),
            "from-context"
        );
        assert_eq!(p.password_in(&Map::new()), None);
        let empty = json!({"prompt_data": {"password": ""}});
        assert_eq!(p.password_in(empty.as_object().unwrap()), None);
    }

    #[test]
    fn thresholds_pass_as_authentiks() {
        let p = policy();
        assert!(!p.zxcvbn_passes(2), "equal to the threshold fails");
        assert!(p.zxcvbn_passes(3));
        assert!(p.breaches_pass(0));
        assert!(!p.breaches_pass(1));
    }
}
