//! Server-side sessions, shared by every node. Rows are keyed by the SHA-256 of the cookie
//! value, so the table alone does not let anyone take over a session.

use serde_json::Value;
use sqlx::types::Json;
use time::OffsetDateTime;

use super::Store;
use super::tokens::key_digest;
use crate::error::StoreResult;
use crate::types::DbTime;

/// A stored session.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    pub data: Value,
    pub user_id: Option<i64>,
    pub expires: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    data: Json<Value>,
    user_id: Option<i64>,
    expires: DbTime,
}

impl Store {
    /// The session for cookie value `key`, unless it has expired.
    pub async fn session(
        &self,
        key: &str,
        now: OffsetDateTime,
    ) -> StoreResult<Option<SessionRecord>> {
        let sql = self
            .db()
            .sql("SELECT data, user_id, expires FROM akin_sessions WHERE session_key = ")
            .bind(key_digest(key))
            .then(" AND expires > ")
            .bind(now);
        Ok(self
            .db()
            .fetch_optional::<SessionRow>(sql)
            .await?
            .map(|row| SessionRecord {
                data: row.data.0,
                user_id: row.user_id,
                expires: row.expires.0,
            }))
    }

    /// Creates or replaces the session for cookie value `key`.
    pub async fn save_session(
        &self,
        key: &str,
        record: &SessionRecord,
        client_ip: Option<String>,
        user_agent: &str,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let sql = self
            .db()
            .sql("INSERT INTO akin_sessions (session_key, data, user_id, created, expires, last_ip, last_user_agent) VALUES (")
            .bind(key_digest(key))
            .then(", ")
            .bind(record.data.clone())
            .then(", ")
            .bind(crate::db::Arg::OptInt(record.user_id))
            .then(", ")
            .bind(now)
            .then(", ")
            .bind(record.expires)
            .then(", ")
            .bind(client_ip)
            .then(", ")
            .bind(user_agent)
            .then(
                ") ON CONFLICT (session_key) DO UPDATE SET data = excluded.data, user_id = excluded.user_id, \
                 expires = excluded.expires, last_ip = excluded.last_ip, last_user_agent = excluded.last_user_agent",
            );
        self.db().execute(sql).await?;
        Ok(())
    }

    pub async fn delete_session(&self, key: &str) -> StoreResult<()> {
        let sql = self
            .db()
            .sql("DELETE FROM akin_sessions WHERE session_key = ")
            .bind(key_digest(key));
        self.db().execute(sql).await?;
        Ok(())
    }

    /// Signs `user` out everywhere: removes every session they are signed in to.
    pub async fn delete_user_sessions(&self, user: i64) -> StoreResult<u64> {
        let sql = self
            .db()
            .sql("DELETE FROM akin_sessions WHERE user_id = ")
            .bind(user);
        self.db().execute(sql).await
    }

    /// Removes expired sessions; returns how many.
    pub async fn sweep_sessions(&self, now: OffsetDateTime) -> StoreResult<u64> {
        let sql = self
            .db()
            .sql("DELETE FROM akin_sessions WHERE expires <= ")
            .bind(now);
        self.db().execute(sql).await
    }
}
