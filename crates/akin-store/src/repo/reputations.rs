//! Sign-in reputation scores (authentik's `Reputation`): one row per identifier and
//! address, changed in one statement so racing nodes never lose a change.

use akin_domain::list::{ListQuery, Page};
use akin_domain::policy::{ReputationFilter, ReputationScore};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{Listing, Store, Where};
use crate::db::{Sql, Tx};
use crate::error::StoreResult;
use crate::types::{DbTime, DbUuid};

const SELECT: &str = "reputation_uuid, identifier, ip, score, expires, updated";

const SORTABLE: &[(&str, &str)] = &[
    ("ip", "ip"),
    ("identifier", "identifier"),
    ("score", "score"),
    ("updated", "updated"),
];

#[derive(sqlx::FromRow)]
struct ReputationRow {
    reputation_uuid: DbUuid,
    identifier: String,
    ip: String,
    score: i64,
    expires: DbTime,
    updated: DbTime,
}

impl From<ReputationRow> for ReputationScore {
    fn from(row: ReputationRow) -> Self {
        ReputationScore {
            uuid: row.reputation_uuid.0,
            identifier: row.identifier,
            ip: row.ip,
            score: row.score,
            updated: row.updated.0,
            expires: row.expires.0,
        }
    }
}

/// `amount` added to the score of `identifier` from `ip`. A score that has expired starts
/// over from `amount`, with a new expiry `lifetime` from the change.
#[derive(Debug, Clone, Copy)]
pub struct ReputationChange<'a> {
    pub identifier: &'a str,
    pub ip: &'a str,
    pub amount: i64,
    pub lifetime: Duration,
}

impl ReputationChange<'_> {
    /// The upsert that makes this change at `now`, on `sql` (empty).
    fn sql(&self, sql: Sql, now: OffsetDateTime) -> Sql {
        sql.then(
            "INSERT INTO reputations (reputation_uuid, identifier, ip, score, expires, updated) \
             VALUES (",
        )
        .bind(Uuid::new_v4())
        .then(", ")
        .bind(self.identifier.to_owned())
        .then(", ")
        .bind(self.ip.to_owned())
        .then(", ")
        .bind(self.amount)
        .then(", ")
        .bind(now + self.lifetime)
        .then(", ")
        .bind(now)
        // Every expression reads the row as it was before this statement.
        .then(
            ") ON CONFLICT (identifier, ip) DO UPDATE SET \
             score = CASE WHEN reputations.expires <= excluded.updated THEN excluded.score \
             ELSE reputations.score + excluded.score END, \
             expires = CASE WHEN reputations.expires <= excluded.updated \
             THEN excluded.expires ELSE reputations.expires END, \
             updated = excluded.updated",
        )
    }
}

impl Tx {
    /// Makes `change` at `now` in this transaction.
    pub async fn change_reputation(
        &mut self,
        change: ReputationChange<'_>,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let sql = change.sql(self.sql(""), now);
        self.execute(sql).await?;
        Ok(())
    }
}

impl Store {
    /// Makes `change` at `now`.
    pub async fn change_reputation(
        &self,
        change: ReputationChange<'_>,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        self.db()
            .execute(change.sql(self.db().sql(""), now))
            .await?;
        Ok(())
    }

    /// The sum of the unexpired scores from `ip` or of `identifier` (either may be left out;
    /// both left out: 0).
    pub async fn reputation_score(
        &self,
        ip: Option<&str>,
        identifier: Option<&str>,
        now: OffsetDateTime,
    ) -> StoreResult<i64> {
        if ip.is_none() && identifier.is_none() {
            return Ok(0);
        }
        let mut sql = self.db().sql(
            "SELECT CAST(COALESCE(SUM(score), 0) AS BIGINT) FROM reputations WHERE expires > ",
        );
        sql.arg(now).push(" AND (");
        if let Some(ip) = ip {
            sql.push("ip = ").arg(ip.to_owned());
        }
        if let Some(identifier) = identifier {
            if ip.is_some() {
                sql.push(" OR ");
            }
            sql.push("identifier = ").arg(identifier.to_owned());
        }
        sql.push(")");
        let (score,): (i64,) = self.db().fetch_one(sql).await?;
        Ok(score)
    }

    /// A page of scores, expired ones included (as authentik's list).
    pub async fn list_reputations(
        &self,
        filter: &ReputationFilter,
        query: &ListQuery,
    ) -> StoreResult<Page<ReputationScore>> {
        let listing = Listing {
            prefix: "",
            select: SELECT,
            from: "reputations",
            sortable: SORTABLE,
            default_order: "ip",
            tiebreak: "reputation_uuid",
            page_by_key: None,
        };
        let page: Page<ReputationRow> = self
            .list_page(&listing, query, |w: &mut Where<'_>| {
                w.eq("identifier", filter.identifier.clone());
                if !filter.identifier_in.is_empty() {
                    w.and()
                        .push("identifier IN ")
                        .arg_list(filter.identifier_in.iter().cloned());
                }
                w.eq("ip", filter.ip.clone());
                w.eq("score", filter.score);
                w.search(&["identifier", "ip"], query.search.as_deref());
            })
            .await?;
        Ok(page.map(Into::into))
    }

    pub async fn reputation(&self, uuid: Uuid) -> StoreResult<Option<ReputationScore>> {
        let sql = self
            .db()
            .sql(&format!(
                "SELECT {SELECT} FROM reputations WHERE reputation_uuid = "
            ))
            .bind(uuid);
        Ok(self
            .db()
            .fetch_optional::<ReputationRow>(sql)
            .await?
            .map(Into::into))
    }

    /// Forgets one score; whether it existed.
    pub async fn delete_reputation(&self, uuid: Uuid) -> StoreResult<bool> {
        let sql = self
            .db()
            .sql("DELETE FROM reputations WHERE reputation_uuid = ")
            .bind(uuid);
        Ok(self.db().execute(sql).await? > 0)
    }
}
