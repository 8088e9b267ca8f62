//! Key-value settings that belong to the installation, not to one node.

use super::Store;
use crate::error::StoreResult;

/// The setting that holds the generated secret key when `AKIN_SECRET_KEY` is not given.
pub const SECRET_KEY_SETTING: &str = "secret_key";

impl Store {
    pub async fn setting(&self, key: &str) -> StoreResult<Option<String>> {
        let sql = self
            .db()
            .sql("SELECT value FROM settings WHERE key = ")
            .bind(key);
        Ok(self
            .db()
            .fetch_optional::<(String,)>(sql)
            .await?
            .map(|(v,)| v))
    }

    /// Stores `value` under `key`, replacing what was there.
    pub async fn set_setting(&self, key: &str, value: &str) -> StoreResult<()> {
        let sql = self
            .db()
            .sql("INSERT INTO settings (key, value) VALUES (")
            .bind(key)
            .then(", ")
            .bind(value)
            .then(") ON CONFLICT (key) DO UPDATE SET value = excluded.value");
        self.db().execute(sql).await?;
        Ok(())
    }

    /// Stores `candidate` under `key` unless a value is there already, and returns the value
    /// that is stored. Several nodes starting together agree on one value.
    pub async fn setting_or_insert(&self, key: &str, candidate: &str) -> StoreResult<String> {
        let insert = self
            .db()
            .sql("INSERT INTO settings (key, value) VALUES (")
            .bind(key)
            .then(", ")
            .bind(candidate)
            .then(") ON CONFLICT (key) DO NOTHING");
        self.db().execute(insert).await?;
        let select = self
            .db()
            .sql("SELECT value FROM settings WHERE key = ")
            .bind(key);
        let (value,): (String,) = self.db().fetch_one(select).await?;
        Ok(value)
    }
}
