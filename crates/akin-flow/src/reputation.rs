//! Keeps sign-in reputation (authentik's reputation signals): a failed sign-in (a wrong
//! password, an identifier without an account) lowers the score of what was typed from the
//! request's address by one, a sign-in raises the user's by one. Reputation policies read
//! the scores (`policy`).
//!
//! A score that cannot be written is logged and left: the sign-in it tells of goes on.

use akin_domain::policy::REPUTATION_EXPIRY;

use crate::executor::Run;

/// The longest identifier kept (Django's username length): what an anonymous visitor
/// types must not grow the table without bound.
const MAX_IDENTIFIER: usize = 150;

/// A failed sign-in as `identifier` (`login_failed`, `identification_failed`).
pub(crate) async fn failed(run: &Run<'_>, identifier: &str) {
    change(run, identifier, -1).await;
}

/// A sign-in of `username` (`user_logged_in`).
pub(crate) async fn signed_in(run: &Run<'_>, username: &str) {
    change(run, username, 1).await;
}

async fn change(run: &Run<'_>, identifier: &str, amount: i64) {
    let identifier = match identifier.char_indices().nth(MAX_IDENTIFIER) {
        Some((end, _)) => &identifier[..end],
        None => identifier,
    };
    if identifier.is_empty() {
        return;
    }
    let ip = run.origin.client_ip.as_deref().unwrap_or_default();
    if let Err(error) = run
        .engine
        .store
        .change_reputation(identifier, ip, amount, REPUTATION_EXPIRY, run.now)
        .await
    {
        tracing::warn!(%error, "could not change a reputation score");
    }
}
