//! API tokens and the users they stand for, kept in memory on each node.
//!
//! Every API request with a token needs the token, its user, the user's groups and whether
//! one of them makes the user a superuser: a query over five tables, which was most of what
//! a request cost (and on PostgreSQL a round trip). The answer is kept here by the key's
//! digest and read again after any change: the database raises `directory_version` in the
//! transaction of every change to tokens, users and groups (migration 0016), which each
//! node watches (`versions.rs`): its own changes (a revoked token, a deactivated user)
//! count for the very next request, and changes made elsewhere (another node, the CLI)
//! within [`RECHECK`](super::versions::RECHECK).
//!
//! Signed-in browsers are served the same way: the user a session stands for is kept by
//! pk ([`Store::directory_user`]). A sign-in writes only `last_login`, which is no change
//! here (migration 0021): an entry's `last_login` is as of when it was read, and nothing
//! served from these entries shows it.

use std::sync::Arc;

use akin_domain::token::Token;
use akin_domain::user::UserEntry;

use super::Store;
use super::versions::{VersionWatch, VersionedMap};
use crate::error::StoreResult;

/// Beyond this many cached tokens (or users) the cache starts over (the database has them
/// all); a guessed key is never cached, so this bounds the memory whatever visitors send.
const CACHE_LIMIT: usize = 4096;

/// A token and its user, as one lookup found them.
pub type TokenUser = (Token, Arc<UserEntry>);

#[derive(Debug)]
pub(crate) struct DirectoryCache {
    version: VersionWatch,
    /// By key digest.
    tokens: VersionedMap<String, TokenUser>,
    /// Users by pk, for signed-in sessions.
    users: VersionedMap<i64, UserEntry>,
}

impl Default for DirectoryCache {
    fn default() -> Self {
        Self {
            version: VersionWatch::new("SELECT version FROM directory_version WHERE id = 1"),
            tokens: VersionedMap::new(CACHE_LIMIT),
            users: VersionedMap::new(CACHE_LIMIT),
        }
    }
}

impl Store {
    /// The token whose key has the same digest as `key`, with its user: from memory
    /// when nothing changed since it was read. The caller still compares the keys (in
    /// constant time) and checks intent, expiry and that the user is active.
    pub async fn token_with_user(&self, key: &str) -> StoreResult<Option<Arc<TokenUser>>> {
        let digest = super::tokens::key_digest(key);
        // Read before the lookup, so what the lookup finds is at least this fresh.
        let version = self.directory.version.current(&self.db).await?;
        if let Some(found) = self.directory.tokens.get(version, &digest) {
            return Ok(Some(found));
        }
        let Some((token, user)) = self.token_with_user_uncached(&digest).await? else {
            return Ok(None);
        };
        let found = Arc::new((token, Arc::new(user)));
        self.directory.tokens.insert(version, digest, found.clone());
        Ok(Some(found))
    }

    /// User `pk` with their groups, as a signed-in session needs them: from memory when
    /// nothing changed since they were read. `None` when there is no such user.
    pub async fn directory_user(&self, pk: i64) -> StoreResult<Option<Arc<UserEntry>>> {
        let version = self.directory.version.current(&self.db).await?;
        if let Some(found) = self.directory.users.get(version, &pk) {
            return Ok(Some(found));
        }
        let Some(found) = self.user_by_pk(pk).await? else {
            return Ok(None);
        };
        let found = Arc::new(found);
        self.directory.users.insert(version, pk, found.clone());
        Ok(Some(found))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use akin_domain::token::{TokenFields, TokenIntent};
    use akin_domain::user::{NewUser, UserChanges, UserType};
    use akin_testkit::{Backend, TestDatabase};
    use time::OffsetDateTime;

    use crate::db::{Backend as DbBackend, Db};
    use crate::repo::Store;

    async fn store(backend: &Backend) -> (TestDatabase, Store) {
        let database = TestDatabase::create(backend).await;
        let db = Db::connect(&database.url).await.expect("connect");
        db.migrate().await.expect("migrate");
        (database, Store::new(db))
    }

    async fn version(store: &Store) -> i64 {
        let sql = store
            .db()
            .sql("SELECT version FROM directory_version WHERE id = 1");
        let (version,): (i64,) = store.db().fetch_one(sql).await.expect("version");
        version
    }

    async fn backends() -> Vec<Backend> {
        let mut backends = vec![Backend::Sqlite];
        backends.extend(Backend::postgres());
        backends
    }

    /// Every column of `users` but `last_login` says something about what a token stands
    /// for. A column added later and left out of migration 0021's trigger list fails here.
    #[tokio::test]
    async fn every_user_column_but_last_login_raises_the_directory_version() {
        for backend in backends().await {
            let (_database, store) = store(&backend).await;
            let now = OffsetDateTime::now_utc();
            let user = store
                .create_user(&new_user("ann"), &[], now)
                .await
                .expect("user");
            let columns_sql = match store.db().backend() {
                DbBackend::Sqlite => "SELECT name FROM pragma_table_info('users')",
                DbBackend::Postgres => {
                    "SELECT column_name::text FROM information_schema.columns \
                     WHERE table_name = 'users' AND table_schema = current_schema()"
                }
            };
            let columns: Vec<(String,)> = store
                .db()
                .fetch_all(store.db().sql(columns_sql))
                .await
                .expect("columns");
            assert!(columns.len() >= 14, "{columns:?}");
            for (column,) in columns {
                let before = version(&store).await;
                let update = store
                    .db()
                    .sql(&format!("UPDATE users SET {column} = {column} WHERE id = "))
                    .bind(user.user.pk);
                store.db().execute(update).await.expect("update");
                let raised = version(&store).await != before;
                assert_eq!(
                    raised,
                    column != "last_login",
                    "users.{column}, {backend:?}"
                );
            }
        }
    }

    /// A stream of sign-ins keeps a node's tokens and signed-in users in memory; a
    /// deactivation still counts at the next request.
    #[tokio::test]
    async fn sign_ins_leave_tokens_cached_and_a_deactivation_counts_at_once() {
        for backend in backends().await {
            let (_database, store) = store(&backend).await;
            let now = OffsetDateTime::now_utc();
            let robot = store
                .create_user(&new_user("robot"), &[], now)
                .await
                .expect("user");
            let other = store
                .create_user(&new_user("ann"), &[], now)
                .await
                .expect("user");
            let key = "a-key-of-forty-characters-or-so-0123456789";
            store
                .create_token(
                    &TokenFields {
                        identifier: "robot".into(),
                        intent: TokenIntent::Api,
                        user_pk: robot.user.pk,
                        description: String::new(),
                        expires: None,
                        expiring: false,
                        managed: None,
                    },
                    key,
                )
                .await
                .expect("token");
            let first = store.token_with_user(key).await.expect("lookup").unwrap();
            let signed_in = store.directory_user(robot.user.pk).await.expect("user");
            let signed_in = signed_in.unwrap();
            for pk in [other.user.pk, robot.user.pk, other.user.pk] {
                let event = akin_domain::event::Event::new(
                    uuid::Uuid::now_v7(),
                    akin_domain::event::EventAction::Login,
                    None,
                    serde_json::json!({}),
                    None,
                    now,
                );
                store
                    .record_sign_in(pk, now, None, &event)
                    .await
                    .expect("sign-in");
                let again = store.token_with_user(key).await.expect("lookup").unwrap();
                assert!(Arc::ptr_eq(&first, &again), "read again after a sign-in");
                let again = store.directory_user(robot.user.pk).await.expect("user");
                assert!(Arc::ptr_eq(&signed_in, &again.unwrap()), "user read again");
            }
            let mut changes = UserChanges::from_user(&robot.user);
            changes.is_active = false;
            store
                .update_user(robot.user.pk, &changes, now)
                .await
                .expect("deactivate");
            let after = store.token_with_user(key).await.expect("lookup").unwrap();
            assert!(!after.1.user.is_active, "{backend:?}");
            let after = store.directory_user(robot.user.pk).await.expect("user");
            assert!(!after.unwrap().user.is_active, "{backend:?}");
            let held = store.directory_user(other.user.pk).await.expect("user");
            assert!(held.is_some());
            store.delete_user(other.user.pk).await.expect("delete");
            let gone = store.directory_user(other.user.pk).await.expect("user");
            assert!(gone.is_none(), "{backend:?}");
        }
    }

    fn new_user(username: &str) -> NewUser {
        NewUser {
            username: username.into(),
            name: String::new(),
            email: String::new(),
            is_active: true,
            attributes: serde_json::json!({}),
            path: "users".into(),
            user_type: UserType::Internal,
            password: None,
        }
    }
}
