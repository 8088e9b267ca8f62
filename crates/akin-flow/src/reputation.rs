//! Keeps sign-in reputation (authentik's reputation signals): a failed sign-in (a wrong
//! password, an identifier without an account) lowers the score of what was typed from the
//! request's address by one, a sign-in raises the user's by one. Reputation policies read
//! the scores (`policy`).
//!
//! A failure's score that cannot be written is logged and left: the sign-in goes on. A
//! sign-in's raise is written in the sign-in's own transaction.

use akin_domain::policy::REPUTATION_EXPIRY;
use akin_store::ReputationChange;

use crate::executor::Run;

/// The longest identifier kept (Django's username length): what an anonymous visitor
/// types must not grow the table without bound.
const MAX_IDENTIFIER: usize = 150;

/// A failed sign-in as `identifier` (`login_failed`, `identification_failed`).
pub(crate) async fn failed(run: &Run<'_>, identifier: &str) {
    change(run, identifier, -1).await;
}

/// The raise a sign-in of `username` earns (`user_logged_in`), written with the sign-in
/// itself (`Store::record_sign_in`).
pub(crate) fn sign_in_change<'a>(
    run: &'a Run<'_>,
    username: &'a str,
) -> Option<ReputationChange<'a>> {
    change_of(run, username, 1)
}

/// `amount` for what was typed as `identifier` from the request's address; `None` for an
/// empty identifier.
fn change_of<'a>(
    run: &'a Run<'_>,
    identifier: &'a str,
    amount: i64,
) -> Option<ReputationChange<'a>> {
    let identifier = match identifier.char_indices().nth(MAX_IDENTIFIER) {
        Some((end, _)) => &identifier[..end],
        None => identifier,
    };
    if identifier.is_empty() {
        return None;
    }
    Some(ReputationChange {
        identifier,
        ip: run.origin.client_ip.as_deref().unwrap_or_default(),
        amount,
        lifetime: REPUTATION_EXPIRY,
    })
}

async fn change(run: &Run<'_>, identifier: &str, amount: i64) {
    let Some(change) = change_of(run, identifier, amount) else {
        return;
    };
    if let Err(error) = run.engine.store.change_reputation(change, run.now).await {
        tracing::warn!(%error, "could not change a reputation score");
    }
}
