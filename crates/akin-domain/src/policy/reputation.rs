//! Reputation (authentik's `authentik_policies_reputation`): every failed sign-in lowers a
//! score kept per identifier and client address by one, every successful one raises it by
//! one; a reputation policy passes when the score of the request's address, of its
//! username, or of both is at or below its threshold. Bound negated to a flow it keeps out
//! whoever guessed too much; bound to a stage it asks them for more (authentik's captcha).

use serde::Deserialize;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// How long a score is remembered after its first change (authentik's
/// `reputation.expiry` default).
pub const REPUTATION_EXPIRY: Duration = Duration::days(1);

/// A reputation policy's settings (its catalog defaults: both checks on, threshold −5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct ReputationPolicy {
    pub check_ip: bool,
    pub check_username: bool,
    pub threshold: i64,
}

impl ReputationPolicy {
    /// Whether a summed score passes: at or below the threshold, as authentik's
    /// `score <= threshold` (the policy singles out bad reputations).
    pub fn passes(&self, score: i64) -> bool {
        score <= self.threshold
    }

    /// Why a policy that checks nothing cannot be saved (authentik's words).
    pub const NOTHING_CHECKED: &'static str = "Either IP or Username must be checked";

    /// Whether it checks anything at all.
    pub fn checks_something(&self) -> bool {
        self.check_ip || self.check_username
    }
}

/// One identifier's score from one address (authentik's `Reputation`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReputationScore {
    pub uuid: Uuid,
    /// The username (or what was typed for an unknown account).
    pub identifier: String,
    pub ip: String,
    pub score: i64,
    /// When it last changed.
    pub updated: OffsetDateTime,
    pub expires: OffsetDateTime,
}

/// The scores list's filters (authentik's `ReputationFilter`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReputationFilter {
    pub identifier: Option<String>,
    /// Any of these identifiers (`identifier_in=a,b`).
    pub identifier_in: Vec<String>,
    pub ip: Option<String>,
    pub score: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_at_or_below_the_threshold() {
        let policy = ReputationPolicy {
            check_ip: true,
            check_username: true,
            threshold: -5,
        };
        assert!(!policy.passes(0), "a fresh reputation does not pass");
        assert!(!policy.passes(-4));
        assert!(policy.passes(-5));
        assert!(policy.passes(-40));
    }
}
