//! Idempotency keys: a request's key is taken in the transaction that does its work, and
//! its answer stored there, so a retry (or a racing twin) finds the first answer instead of
//! doing the work again.

use serde_json::Value;
use sqlx::types::Json;
use time::OffsetDateTime;

use crate::db::Tx;
use crate::error::StoreResult;

/// What a key was used for before.
#[derive(Debug, Clone, PartialEq)]
pub struct EarlierRequest {
    /// The digest of the request that took the key.
    pub digest: String,
    /// Its answer; `None` while it is still being worked on.
    pub response: Option<Value>,
}

impl Tx {
    /// Takes `key` within `scope` for a request with `digest`, until `expires`; `None` when
    /// it is this request's now (the work goes on in this transaction), otherwise what the
    /// key was used for. On PostgreSQL a twin racing for the key waits here until the
    /// first transaction ends, then finds its answer.
    pub async fn take_idempotency_key(
        &mut self,
        scope: &str,
        key: &str,
        digest: &str,
        now: OffsetDateTime,
        expires: OffsetDateTime,
    ) -> StoreResult<Option<EarlierRequest>> {
        let sql = self
            .sql("INSERT INTO idempotency_keys (scope, idempotency_key, request_digest, created, expires) VALUES (")
            .bind(scope.to_owned())
            .then(", ")
            .bind(key.to_owned())
            .then(", ")
            .bind(digest.to_owned())
            .then(", ")
            .bind(now)
            .then(", ")
            .bind(expires)
            .then(") ON CONFLICT DO NOTHING");
        if self.execute(sql).await? == 1 {
            return Ok(None);
        }
        let sql = self
            .sql("SELECT request_digest, response FROM idempotency_keys WHERE scope = ")
            .bind(scope.to_owned())
            .then(" AND idempotency_key = ")
            .bind(key.to_owned());
        let row: Option<(String, Option<Json<Value>>)> = self.fetch_optional(sql).await?;
        Ok(row.map(|(digest, response)| EarlierRequest {
            digest,
            response: response.map(|r| r.0),
        }))
    }

    /// Stores the answer of the request that took `key`.
    pub async fn answer_idempotency_key(
        &mut self,
        scope: &str,
        key: &str,
        response: &Value,
    ) -> StoreResult<()> {
        let sql = self
            .sql("UPDATE idempotency_keys SET response = ")
            .bind(response.clone())
            .then(" WHERE scope = ")
            .bind(scope.to_owned())
            .then(" AND idempotency_key = ")
            .bind(key.to_owned());
        self.execute(sql).await?;
        Ok(())
    }
}
