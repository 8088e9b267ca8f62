//! Password guessing, throttled across nodes (the attempts are rows in the database).
//!
//! Every password check counts as an attempt in three buckets; a few are free, then each
//! next attempt must wait twice as long as the one before after the latest:
//! - the account from one address: 5 free, then 1 s, 2 s, 4 s … up to 15 minutes. A
//!   guesser at one account from one address gets about a dozen checks in the first
//!   minute and then four an hour;
//! - the address, whatever the account (spraying one password over many accounts): 20
//!   free, the same doubling up to 15 minutes;
//! - the account, from any address (many addresses at one account): 50 free, then at most
//!   30 s apart. The owner signing in from their own address is never locked out: at
//!   worst they wait half a minute.
//!
//! A throttled attempt is not checked at all (the right password too), costs no hash, and
//! is recorded as a `login_failed` event marked `throttled`. A success wipes the
//! account-and-address slate; failures stay counted for their window (15 minutes).

use std::time::Duration as StdDuration;

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::FlowResult;
use crate::executor::Run;

/// How long an attempt is remembered.
const WINDOW: Duration = Duration::minutes(15);

struct Bucket {
    name: &'static str,
    free: u32,
    longest_wait: Duration,
}

const ACCOUNT_AND_ADDRESS: Bucket = Bucket {
    name: "login:account+address",
    free: 5,
    longest_wait: Duration::minutes(15),
};
const ADDRESS: Bucket = Bucket {
    name: "login:address",
    free: 20,
    longest_wait: Duration::minutes(15),
};
const ACCOUNT: Bucket = Bucket {
    name: "login:account",
    free: 50,
    longest_wait: Duration::seconds(30),
};

impl Bucket {
    /// The wait after the `beyond`-th attempt past the free ones: 1 s, 2 s, 4 s, …
    fn wait(&self, beyond: u32) -> Duration {
        Duration::seconds(1_i64 << beyond.min(20)).min(self.longest_wait)
    }
}

/// A password check about to happen, recorded in every bucket.
pub(crate) struct Attempt {
    account: String,
    address: String,
    hits: Vec<Uuid>,
}

/// Records an attempt at `account` (a username, or the identifier typed for an unknown
/// one) from this request's address; `Err(wait)` when it comes too soon in any bucket
/// (nothing is recorded then).
pub(crate) async fn attempt(
    run: &Run<'_>,
    account: &str,
) -> FlowResult<Result<Attempt, StdDuration>> {
    let account = account.to_lowercase();
    let address = run.origin.client_ip.clone().unwrap_or_default();
    let store = &run.engine.store;
    let mut hits = Vec::with_capacity(3);
    for (bucket, subject) in [
        (&ACCOUNT_AND_ADDRESS, format!("{account}\n{address}")),
        (&ADDRESS, address.clone()),
        (&ACCOUNT, account.clone()),
    ] {
        let recorded = store
            .attempt(
                bucket.name,
                &subject,
                bucket.free,
                WINDOW,
                |beyond| bucket.wait(beyond),
                run.now,
            )
            .await?;
        match recorded {
            Ok(hit) => hits.push(hit),
            Err(allowed) => {
                for hit in hits {
                    store.forget_attempt(hit).await?;
                }
                return Ok(Err(until(allowed, run.now)));
            }
        }
    }
    Ok(Ok(Attempt {
        account,
        address,
        hits,
    }))
}

/// The attempt was the right password: it was no failure, and this address's slate for
/// the account is wiped.
pub(crate) async fn succeeded(run: &Run<'_>, attempt: Attempt) -> FlowResult<()> {
    let store = &run.engine.store;
    for hit in attempt.hits {
        store.forget_attempt(hit).await?;
    }
    store
        .forget_attempts(
            ACCOUNT_AND_ADDRESS.name,
            &format!("{}\n{}", attempt.account, attempt.address),
        )
        .await?;
    Ok(())
}

fn until(allowed: OffsetDateTime, now: OffsetDateTime) -> StdDuration {
    let left = allowed - now;
    // Whole seconds, at least one: what a person is told to wait.
    StdDuration::from_secs(u64::try_from(left.whole_seconds()).unwrap_or(0) + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_each_buckets_longest() {
        let waits: Vec<i64> = (0..12)
            .map(|n| ACCOUNT_AND_ADDRESS.wait(n).whole_seconds())
            .collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]);
        assert_eq!(ACCOUNT.wait(10).whole_seconds(), 30);
        assert_eq!(ADDRESS.wait(u32::MAX).whole_seconds(), 900);
    }
}
