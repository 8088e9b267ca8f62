//! API tokens. A token's `key` is the secret sent as `Authorization: Bearer <key>`; its
//! `identifier` is the public name it is listed and managed by.

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::FieldErrors;
use crate::choice::choice_enum;

/// Length of generated keys, as authentik's `generate_key()`.
pub const KEY_LENGTH: usize = 128;
/// The characters generated keys are drawn from.
pub const KEY_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
/// How long an expiring token lives when no expiry is given (authentik's default).
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::minutes(30);
/// The identifier of the token `AKIN_BOOTSTRAP_TOKEN` creates.
pub const BOOTSTRAP_TOKEN_IDENTIFIER: &str = "akin-bootstrap-token";

choice_enum! {
    /// What a token is for.
    pub enum TokenIntent {
        /// authentik's default intent for a token created without one.
        default Verification = "verification",
        Api = "api",
        Recovery = "recovery",
        AppPassword = "app_password",
    }
}

/// A new random key of [`KEY_LENGTH`] characters. `pick(n)` must return a uniformly random
/// index below `n` from a cryptographically secure source; the caller supplies it so the
/// domain stays free of randomness.
pub fn generate_key(mut pick: impl FnMut(usize) -> usize) -> String {
    (0..KEY_LENGTH)
        .map(|_| char::from(KEY_ALPHABET[pick(KEY_ALPHABET.len())]))
        .collect()
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub uuid: Uuid,
    pub identifier: String,
    pub key: String,
    pub intent: TokenIntent,
    pub user_pk: i64,
    pub description: String,
    pub expires: Option<OffsetDateTime>,
    pub expiring: bool,
    pub managed: Option<String>,
}

impl Token {
    /// Whether the token may still be used at `now`.
    pub fn is_current(&self, now: OffsetDateTime) -> bool {
        !self.expiring || self.expires.is_some_and(|expires| expires > now)
    }
}

/// The writable part of a token; the key is generated or set separately.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenFields {
    pub identifier: String,
    pub intent: TokenIntent,
    pub user_pk: i64,
    pub description: String,
    pub expires: Option<OffsetDateTime>,
    pub expiring: bool,
    pub managed: Option<String>,
}

impl TokenFields {
    /// Fills in the default expiry an expiring token gets when none was given.
    pub fn with_default_expiry(mut self, now: OffsetDateTime) -> Self {
        if self.expiring && self.expires.is_none() {
            self.expires = Some(now + DEFAULT_TOKEN_LIFETIME);
        }
        self
    }

    pub fn validate(&self) -> Result<(), crate::DomainError> {
        let mut errors = FieldErrors::new();
        if self.identifier.trim().is_empty() {
            errors.add("identifier", "This field may not be blank.");
        } else if self.identifier.chars().count() > 255 {
            errors.add(
                "identifier",
                "Ensure this field has no more than 255 characters.",
            );
        }
        errors.into_result()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn fields() -> TokenFields {
        TokenFields {
            identifier: "ci".into(),
            intent: TokenIntent::Api,
            user_pk: 1,
            description: String::new(),
            expires: None,
            expiring: true,
            managed: None,
        }
    }

    #[test]
    fn keys_have_the_full_length_from_the_alphabet() {
        let mut i = 0;
        let key = generate_key(|n| {
            i += 7;
            i % n
        });
        assert_eq!(key.len(), KEY_LENGTH);
        assert!(key.bytes().all(|b| KEY_ALPHABET.contains(&b)));
    }

    #[test]
    fn expiring_tokens_get_a_default_expiry() {
        let now = datetime!(2026-01-01 00:00 UTC);
        let f = fields().with_default_expiry(now);
        assert_eq!(f.expires, Some(now + DEFAULT_TOKEN_LIFETIME));
        let never = TokenFields {
            expiring: false,
            ..fields()
        }
        .with_default_expiry(now);
        assert_eq!(never.expires, None);
    }

    #[test]
    fn currency_depends_on_expiring_and_expiry() {
        let now = datetime!(2026-01-01 00:00 UTC);
        let token = |expiring, expires| Token {
            uuid: Uuid::nil(),
            identifier: "t".into(),
            key: "k".into(),
            intent: TokenIntent::Api,
            user_pk: 1,
            description: String::new(),
            expires,
            expiring,
            managed: None,
        };
        assert!(token(false, Some(now - Duration::days(1))).is_current(now));
        assert!(!token(true, Some(now - Duration::seconds(1))).is_current(now));
        assert!(token(true, Some(now + Duration::seconds(1))).is_current(now));
        assert!(!token(true, None).is_current(now));
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TokenFilter {
    pub identifier: Option<String>,
    pub intent: Option<TokenIntent>,
    pub description: Option<String>,
    pub expiring: Option<bool>,
    pub expires: Option<OffsetDateTime>,
    pub managed: Option<String>,
    pub user_username: Option<String>,
    /// Only this user's tokens (non-superusers see their own).
    pub user_pk: Option<i64>,
}
