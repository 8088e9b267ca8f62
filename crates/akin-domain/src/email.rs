//! Mail: the outbox's messages and when a failed delivery is tried again.
//!
//! Every message is a row written in the transaction that caused it and delivered by a
//! worker, so an SMTP server that is down, or a node killed mid-delivery, loses nothing.
//! Delivery is at least once: a node killed after the server accepted a message but before
//! recording it sends it again, with the same `Message-ID`, which receiving servers use to
//! drop duplicates.

use std::time::Duration;

use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::choice::choice_enum;

choice_enum! {
    /// Where a message stands.
    pub enum MessageStatus {
        /// Waiting for its first or next attempt (`next_attempt`).
        default Queued = "queued",
        /// A worker is delivering it now (until `claimed_until`; after that, due again).
        Sending = "sending",
        Sent = "sent",
        /// Given up: refused for good, or too many attempts.
        Failed = "failed",
    }
}

/// How many attempts are made before a message is given up.
pub const MAX_ATTEMPTS: u32 = 12;

/// How long after the `attempt`th failed attempt (1-based) the next one is made: the first
/// delay, then ×5, ×6, ×7, … (with the default one minute: 1 min, 5 min, 30 min, 3½ h,
/// then a day), never more than a day.
pub fn retry_delay(attempt: u32, first: Duration) -> Duration {
    let mut delay = first;
    for n in 2..=attempt.max(1) {
        delay = delay.saturating_mul(n + 3);
        if delay >= Duration::from_secs(86_400) {
            break;
        }
    }
    delay.min(Duration::from_secs(86_400))
}

/// A message as the outbox keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMessage {
    pub uuid: Uuid,
    pub created: OffsetDateTime,
    /// The `Message-ID` header (without angle brackets), the same on every attempt.
    pub message_id: String,
    pub subject: String,
    pub from: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    /// Envelope recipients: `to`, `cc` and the blind copies (never in a header).
    pub recipients: Vec<String>,
    /// The whole message as it is sent (RFC 5322).
    pub raw: String,
    pub status: MessageStatus,
    pub attempts: u32,
    pub next_attempt: OffsetDateTime,
    pub claimed_until: Option<OffsetDateTime>,
    /// The SMTP server's last answer, or why it could not be reached.
    pub last_response: String,
    pub sent: Option<OffsetDateTime>,
    /// What the message is about (`{"invitation": pk}`), for the admin page.
    pub related: Value,
    /// The email stage whose own SMTP settings deliver it (one with `use_global_settings`
    /// off); `None`: the global settings (`AKIN_EMAIL__*`).
    pub transport: Option<Uuid>,
}

/// A message to queue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub message_id: String,
    pub subject: String,
    pub from: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub recipients: Vec<String>,
    pub raw: String,
    pub related: Value,
    /// As [`OutboxMessage::transport`].
    pub transport: Option<Uuid>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_a_day() {
        let minute = Duration::from_secs(60);
        let delays: Vec<u64> = (1..=7).map(|a| retry_delay(a, minute).as_secs()).collect();
        assert_eq!(delays, [60, 300, 1_800, 12_600, 86_400, 86_400, 86_400]);
        assert_eq!(retry_delay(1, Duration::from_secs(1)).as_secs(), 1);
        assert_eq!(retry_delay(40, minute).as_secs(), 86_400);
    }
}
