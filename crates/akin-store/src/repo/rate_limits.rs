//! Rate limits shared by every node: each use of a limited action is a row, counted over a
//! sliding window. A use is recorded first and withdrawn when it was one too many, so
//! racing nodes can refuse each other but never exceed the limit together.

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::Store;
use super::tokens::key_digest;
use crate::error::StoreResult;

impl Store {
    /// Records one use of `bucket` for `subject` (kept as its digest) at `now`, allowing at
    /// most `max` within `window`. `None` when allowed; otherwise the use is not recorded
    /// and the answer is when the oldest use in the window leaves it.
    pub async fn use_rate_limited(
        &self,
        bucket: &str,
        subject: &str,
        max: u32,
        window: Duration,
        now: OffsetDateTime,
    ) -> StoreResult<Option<OffsetDateTime>> {
        let digest = key_digest(subject);
        let hit = self.record_hit(bucket, &digest, now, window).await?;
        let count = self
            .db()
            .sql("SELECT COUNT(*), MIN(at) FROM rate_limit_hits WHERE bucket = ")
            .bind(bucket.to_owned())
            .then(" AND subject_digest = ")
            .bind(digest)
            .then(" AND at > ")
            .bind(now - window);
        let (uses, oldest): (i64, Option<OffsetDateTime>) = self.db().fetch_one(count).await?;
        if uses <= i64::from(max) {
            return Ok(None);
        }
        self.forget_attempt(hit).await?;
        Ok(Some(oldest.unwrap_or(now) + window))
    }

    /// One row of `bucket` for the subject whose digest is `digest`, at `now`, kept for
    /// `window`.
    async fn record_hit(
        &self,
        bucket: &str,
        digest: &str,
        now: OffsetDateTime,
        window: Duration,
    ) -> StoreResult<Uuid> {
        let hit = Uuid::new_v4();
        let insert = self
            .db()
            .sql("INSERT INTO rate_limit_hits (hit_uuid, bucket, subject_digest, at, expires) VALUES (")
            .bind(hit)
            .then(", ")
            .bind(bucket.to_owned())
            .then(", ")
            .bind(digest.to_owned())
            .then(", ")
            .bind(now)
            .then(", ")
            .bind(now + window)
            .then(")");
        self.db().execute(insert).await?;
        Ok(hit)
    }

    /// Records one attempt of `bucket` by `subject` at `now`, kept for `window`, unless it
    /// comes too soon: after `free` attempts in the window, each next one must wait
    /// `delay(attempts beyond free)` after the latest. Recorded first and withdrawn when
    /// refused, so racing attempts (on any node) see each other. `Ok(hit)` to go on (the
    /// hit stays as a failure unless [`Store::forget_attempt`] takes it back), `Err(when)`
    /// with when the next attempt may come.
    pub async fn attempt(
        &self,
        bucket: &str,
        subject: &str,
        free: u32,
        window: Duration,
        delay: impl Fn(u32) -> Duration,
        now: OffsetDateTime,
    ) -> StoreResult<Result<Uuid, OffsetDateTime>> {
        let digest = key_digest(subject);
        let hit = self.record_hit(bucket, &digest, now, window).await?;
        // Those before this one (the hit's own `at` may equal another's).
        let earlier = self
            .db()
            .sql("SELECT COUNT(*), MAX(at) FROM rate_limit_hits WHERE bucket = ")
            .bind(bucket.to_owned())
            .then(" AND subject_digest = ")
            .bind(digest)
            .then(" AND at > ")
            .bind(now - window)
            .then(" AND hit_uuid <> ")
            .bind(hit);
        let (before, latest): (i64, Option<OffsetDateTime>) = self.db().fetch_one(earlier).await?;
        let beyond = u32::try_from(before)
            .unwrap_or(u32::MAX)
            .saturating_sub(free);
        if let Some(latest) = latest.filter(|_| before >= i64::from(free)) {
            let allowed = latest + delay(beyond);
            if now < allowed {
                self.forget_attempt(hit).await?;
                return Ok(Err(allowed));
            }
        }
        Ok(Ok(hit))
    }

    /// Takes back a use or an attempt recorded by [`Store::use_rate_limited`] or
    /// [`Store::attempt`].
    pub async fn forget_attempt(&self, hit: Uuid) -> StoreResult<()> {
        let sql = self
            .db()
            .sql("DELETE FROM rate_limit_hits WHERE hit_uuid = ")
            .bind(hit);
        self.db().execute(sql).await?;
        Ok(())
    }

    /// Forgets every attempt of `bucket` by `subject` (a success wipes the slate).
    pub async fn forget_attempts(&self, bucket: &str, subject: &str) -> StoreResult<()> {
        let sql = self
            .db()
            .sql("DELETE FROM rate_limit_hits WHERE bucket = ")
            .bind(bucket.to_owned())
            .then(" AND subject_digest = ")
            .bind(key_digest(subject));
        self.db().execute(sql).await?;
        Ok(())
    }

    /// Removes uses whose window has passed, spent or expired flow tokens' plans,
    /// idempotency keys past their day and expired reputation scores; returns how many
    /// rows went.
    pub async fn sweep_expired(&self, now: OffsetDateTime) -> StoreResult<u64> {
        let mut swept = 0;
        for table in [
            "rate_limit_hits",
            "flow_tokens",
            "idempotency_keys",
            "reputations",
        ] {
            let sql = self
                .db()
                .sql(&format!("DELETE FROM {table} WHERE expires <= "))
                .bind(now);
            swept += self.db().execute(sql).await?;
        }
        Ok(swept)
    }
}
