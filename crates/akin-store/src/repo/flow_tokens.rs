//! Flow tokens: a plan parked behind a one-time key, taken (and so spent) by the first
//! request that shows the key before it expires.

use serde_json::Value;
use sqlx::types::Json;
use time::OffsetDateTime;

use super::Store;
use super::tokens::key_digest;
use crate::db::Tx;
use crate::error::StoreResult;

/// A parked plan, taken back.
#[derive(Debug, Clone, PartialEq)]
pub struct ParkedPlan {
    pub flow_slug: String,
    pub plan: Value,
    pub user: Option<i64>,
}

impl Tx {
    /// Parks `plan` of flow `slug` behind `key` until `expires`, in this transaction.
    pub async fn park_plan(
        &mut self,
        key: &str,
        slug: &str,
        plan: &Value,
        user: Option<i64>,
        expires: OffsetDateTime,
    ) -> StoreResult<()> {
        let sql = self
            .sql("INSERT INTO flow_tokens (key_digest, flow_slug, plan, user_id, expires) VALUES (")
            .bind(key_digest(key))
            .then(", ")
            .bind(slug.to_owned())
            .then(", ")
            .bind(plan.clone())
            .then(", ")
            .bind(crate::db::Arg::OptInt(user))
            .then(", ")
            .bind(expires)
            .then(")");
        self.execute(sql).await?;
        Ok(())
    }
}

impl Store {
    /// The plan parked behind `key`, once: it is deleted as it is read (so two browsers
    /// opening the same link cannot both continue it). `None` when there is none or it
    /// expired.
    pub async fn take_parked_plan(
        &self,
        key: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Option<ParkedPlan>> {
        let sql = self
            .db()
            .sql("DELETE FROM flow_tokens WHERE key_digest = ")
            .bind(key_digest(key))
            .then(" AND expires > ")
            .bind(now)
            .then(" RETURNING flow_slug, plan, user_id");
        let row: Option<(String, Json<Value>, Option<i64>)> = self.db().fetch_optional(sql).await?;
        Ok(row.map(|(flow_slug, plan, user)| ParkedPlan {
            flow_slug,
            plan: plan.0,
            user,
        }))
    }
}
