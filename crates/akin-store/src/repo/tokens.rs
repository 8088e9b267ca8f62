//! API tokens. Keys are found by their SHA-256 digest, never by the key itself, so a lookup's
//! timing says nothing about how much of a guessed key was right.

use akin_domain::list::{ListQuery, Page};
use akin_domain::token::{Token, TokenFields, TokenFilter, TokenIntent};
use akin_domain::user::UserEntry;
use sha2::{Digest, Sha256};
use sqlx::types::Json;
use uuid::Uuid;

use super::users::{
    IS_SUPERUSER, SUPERUSER_GROUPS, USER_SELECT, UserRow, groups_json, parse_groups_json,
};
use super::{Listing, Store, Where};
use crate::db::Tx;
use crate::error::{StoreError, StoreResult};
use crate::types::{DbTime, DbUuid};

const TOKEN_SELECT: &str = "t.token_uuid, t.identifier, t.key, t.intent, t.user_id, \
    t.description, t.expires, t.expiring, t.managed";

const TOKEN_SORTABLE: &[(&str, &str)] = &[
    ("identifier", "t.identifier"),
    ("intent", "t.intent"),
    ("expires", "t.expires"),
    ("expiring", "t.expiring"),
    ("description", "t.description"),
    ("managed", "t.managed"),
    (
        "user__username",
        "(SELECT username FROM users WHERE id = t.user_id)",
    ),
];

#[derive(sqlx::FromRow)]
struct TokenRow {
    token_uuid: DbUuid,
    identifier: String,
    key: String,
    intent: String,
    user_id: i64,
    description: String,
    expires: Option<DbTime>,
    expiring: bool,
    managed: Option<String>,
}

#[derive(sqlx::FromRow)]
struct TokenUserRow {
    #[sqlx(flatten)]
    token: TokenRow,
    #[sqlx(flatten)]
    user: UserRow,
    groups_json: Json<serde_json::Value>,
}

impl From<TokenRow> for Token {
    fn from(row: TokenRow) -> Self {
        Token {
            uuid: row.token_uuid.0,
            identifier: row.identifier,
            key: row.key,
            intent: TokenIntent::parse(&row.intent).unwrap_or_default(),
            user_pk: row.user_id,
            description: row.description,
            expires: row.expires.map(|t| t.0),
            expiring: row.expiring,
            managed: row.managed,
        }
    }
}

/// Hex SHA-256 of a token key: what the `key_digest` column holds.
pub fn key_digest(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Store {
    pub async fn create_token(&self, fields: &TokenFields, key: &str) -> StoreResult<Token> {
        let mut tx = self.db().begin().await?;
        insert_token(&mut tx, fields, key, false).await?;
        tx.commit().await?;
        self.token(&fields.identifier)
            .await?
            .ok_or(StoreError::MissingReference)
    }

    /// Creates the token unless one with that identifier exists. Returns the stored token and
    /// whether this call created it.
    pub async fn ensure_token(
        &self,
        tx: &mut Tx,
        fields: &TokenFields,
        key: &str,
    ) -> StoreResult<(Token, bool)> {
        let created = insert_token(tx, fields, key, true).await? > 0;
        let sql = tx
            .sql("SELECT ")
            .then(TOKEN_SELECT)
            .then(" FROM tokens t WHERE t.identifier = ")
            .bind(fields.identifier.clone());
        let row: TokenRow = tx.fetch_one(sql).await?;
        Ok((row.into(), created))
    }

    pub async fn token(&self, identifier: &str) -> StoreResult<Option<Token>> {
        let sql = self
            .db()
            .sql("SELECT ")
            .then(TOKEN_SELECT)
            .then(" FROM tokens t WHERE t.identifier = ")
            .bind(identifier);
        Ok(self
            .db()
            .fetch_optional::<TokenRow>(sql)
            .await?
            .map(Into::into))
    }

    /// The token whose key digest is `digest`, with its user, in one statement (see
    /// `directory` for the copy kept in memory).
    pub(crate) async fn token_with_user_uncached(
        &self,
        digest: &str,
    ) -> StoreResult<Option<(Token, UserEntry)>> {
        let backend = self.db().backend();
        let mut sql = self.db().sql(SUPERUSER_GROUPS);
        sql.push(" SELECT ")
            .push(TOKEN_SELECT)
            .push(", ")
            .push(USER_SELECT)
            .push(", ")
            .push(IS_SUPERUSER)
            .push(" AS is_superuser, ")
            .push(groups_json(backend))
            .push(" AS groups_json FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.key_digest = ")
            .arg(digest.to_owned());
        let Some(row) = self.db().fetch_optional::<TokenUserRow>(sql).await? else {
            return Ok(None);
        };
        let (user, is_superuser) = row.user.into_parts();
        let entry = UserEntry {
            user,
            is_superuser,
            groups: parse_groups_json(&row.groups_json.0),
        };
        Ok(Some((row.token.into(), entry)))
    }

    pub async fn list_tokens(
        &self,
        filter: &TokenFilter,
        query: &ListQuery,
    ) -> StoreResult<Page<Token>> {
        let listing = Listing {
            prefix: "",
            select: TOKEN_SELECT,
            from: "tokens t",
            sortable: TOKEN_SORTABLE,
            default_order: "t.identifier ASC",
            tiebreak: "t.token_uuid ASC",
            page_by_key: None,
        };
        let page: Page<TokenRow> = self
            .list_page(&listing, query, |w| {
                token_filters(w, filter, query.search.as_deref())
            })
            .await?;
        Ok(page.map(Into::into))
    }

    pub async fn update_token(
        &self,
        identifier: &str,
        fields: &TokenFields,
    ) -> StoreResult<Option<Token>> {
        let sql = self
            .db()
            .sql("UPDATE tokens SET identifier = ")
            .bind(fields.identifier.clone())
            .then(", intent = ")
            .bind(fields.intent.as_str())
            .then(", user_id = ")
            .bind(fields.user_pk)
            .then(", description = ")
            .bind(fields.description.clone())
            .then(", expires = ")
            .bind(fields.expires)
            .then(", expiring = ")
            .bind(fields.expiring)
            .then(", managed = ")
            .bind(fields.managed.clone())
            .then(" WHERE identifier = ")
            .bind(identifier);
        if self.db().execute(sql).await? == 0 {
            return Ok(None);
        }
        self.token(&fields.identifier).await
    }

    pub async fn set_token_key(&self, identifier: &str, key: &str) -> StoreResult<bool> {
        let sql = self
            .db()
            .sql("UPDATE tokens SET key = ")
            .bind(key)
            .then(", key_digest = ")
            .bind(key_digest(key))
            .then(" WHERE identifier = ")
            .bind(identifier);
        Ok(self.db().execute(sql).await? > 0)
    }

    pub async fn delete_token(&self, identifier: &str) -> StoreResult<bool> {
        let sql = self
            .db()
            .sql("DELETE FROM tokens WHERE identifier = ")
            .bind(identifier);
        Ok(self.db().execute(sql).await? > 0)
    }
}

async fn insert_token(
    tx: &mut Tx,
    fields: &TokenFields,
    key: &str,
    if_absent: bool,
) -> StoreResult<u64> {
    let sql = tx
        .sql(
            "INSERT INTO tokens (token_uuid, identifier, key, key_digest, intent, user_id, \
             description, expires, expiring, managed) VALUES (",
        )
        .bind(Uuid::new_v4())
        .then(", ")
        .bind(fields.identifier.clone())
        .then(", ")
        .bind(key)
        .then(", ")
        .bind(key_digest(key))
        .then(", ")
        .bind(fields.intent.as_str())
        .then(", ")
        .bind(fields.user_pk)
        .then(", ")
        .bind(fields.description.clone())
        .then(", ")
        .bind(fields.expires)
        .then(", ")
        .bind(fields.expiring)
        .then(", ")
        .bind(fields.managed.clone())
        .then(if if_absent {
            ") ON CONFLICT (identifier) DO NOTHING"
        } else {
            ")"
        });
    tx.execute(sql).await
}

fn token_filters(w: &mut Where<'_>, f: &TokenFilter, search: Option<&str>) {
    w.eq("t.identifier", f.identifier.clone());
    w.eq("t.intent", f.intent.map(|i| i.as_str()));
    w.eq("t.description", f.description.clone());
    w.eq("t.expiring", f.expiring);
    w.eq("t.expires", f.expires);
    w.eq("t.managed", f.managed.clone());
    w.eq("t.user_id", f.user_pk);
    if let Some(username) = &f.user_username {
        w.and()
            .push("t.user_id IN (SELECT id FROM users WHERE username = ")
            .arg(username.clone())
            .push(")");
    }
    w.search(&["t.identifier", "t.description"], search);
}

#[cfg(test)]
mod tests {
    #[test]
    fn digest_is_hex_sha256() {
        assert_eq!(
            super::key_digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
