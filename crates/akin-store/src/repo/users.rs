//! Users and their group memberships.

use std::collections::HashMap;

use akin_domain::list::{ListQuery, Page};
use akin_domain::user::{
    GroupRef, NewUser, TimeRange, User, UserChanges, UserEntry, UserFilter, UserType,
};
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Listing, Store, Where};
use crate::db::{Backend, Sql, Tx};
use crate::error::{StoreError, StoreResult};
use crate::types::{DbTime, DbUuid};

/// The groups whose members are superusers: superuser groups and all their descendants
/// (a member of a child group is a member of its parents).
pub(crate) const SUPERUSER_GROUPS: &str = "WITH RECURSIVE su(g) AS (\
    SELECT group_uuid FROM groups WHERE is_superuser \
    UNION SELECT gp.child_uuid FROM group_parents gp JOIN su ON gp.parent_uuid = su.g)";

/// Written as a correlated `EXISTS`: SQLite evaluates the equivalent
/// `u.id IN (SELECT user_id … IN su)` more than ten times slower.
pub(crate) const IS_SUPERUSER: &str = "EXISTS (SELECT 1 FROM group_members gm \
    WHERE gm.user_id = u.id AND gm.group_uuid IN (SELECT g FROM su))";

pub(crate) const USER_SELECT: &str = "u.id, u.uuid, u.username, u.name, u.email, u.is_active, u.last_login, \
    u.date_joined, u.password_change_date, u.last_updated, u.password, u.attributes, u.path, \
    u.type AS user_type";

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    // Private fields are read through `into_parts`.
    id: i64,
    uuid: DbUuid,
    username: String,
    name: String,
    email: String,
    is_active: bool,
    last_login: Option<DbTime>,
    date_joined: DbTime,
    password_change_date: DbTime,
    last_updated: DbTime,
    password: Option<String>,
    attributes: Json<serde_json::Value>,
    path: String,
    user_type: String,
    is_superuser: bool,
}

impl UserRow {
    pub(crate) fn into_parts(self) -> (User, bool) {
        let user = User {
            pk: self.id,
            uuid: self.uuid.0,
            username: self.username,
            name: self.name,
            email: self.email,
            is_active: self.is_active,
            last_login: self.last_login.map(|t| t.0),
            date_joined: self.date_joined.0,
            password_change_date: self.password_change_date.0,
            last_updated: self.last_updated.0,
            attributes: self.attributes.0,
            path: self.path,
            user_type: UserType::parse(&self.user_type).unwrap_or_default(),
            password: self.password,
        };
        (user, self.is_superuser)
    }
}

/// `SELECT` of users with `is_superuser`, ready for a `WHERE`.
pub(crate) fn select_users(backend: Backend) -> Sql {
    let mut sql = Sql::new(backend, SUPERUSER_GROUPS);
    sql.push(" SELECT ")
        .push(USER_SELECT)
        .push(", ")
        .push(IS_SUPERUSER)
        .push(" AS is_superuser FROM users u");
    sql
}

const USER_SORTABLE: &[(&str, &str)] = &[
    ("pk", "u.id"),
    ("username", "u.username"),
    ("name", "u.name"),
    ("email", "u.email"),
    ("is_active", "u.is_active"),
    ("date_joined", "u.date_joined"),
    ("last_login", "u.last_login"),
    ("last_updated", "u.last_updated"),
    ("path", "u.path"),
    ("type", "u.type"),
];

impl Store {
    /// Creates a user and its memberships in one transaction.
    pub async fn create_user(
        &self,
        new: &NewUser,
        groups: &[Uuid],
        now: OffsetDateTime,
    ) -> StoreResult<UserEntry> {
        let mut tx = self.db().begin().await?;
        let pk = insert_user(&mut tx, new, now, false)
            .await?
            .ok_or(StoreError::MissingReference)?;
        add_memberships(&mut tx, pk, groups).await?;
        tx.commit().await?;
        self.user_by_pk(pk)
            .await?
            .ok_or(StoreError::MissingReference)
    }

    /// Creates the user unless one with that username exists; returns the pk either way and
    /// whether this call created it. Safe when several nodes start at once: the loser of a
    /// race reads the winner's row.
    pub async fn ensure_user(
        &self,
        tx: &mut Tx,
        new: &NewUser,
        now: OffsetDateTime,
    ) -> StoreResult<(i64, bool)> {
        if let Some(pk) = insert_user(tx, new, now, true).await? {
            return Ok((pk, true));
        }
        let sql = tx
            .sql("SELECT id FROM users WHERE username = ")
            .bind(new.username.clone());
        let (pk,): (i64,) = tx.fetch_one(sql).await?;
        Ok((pk, false))
    }

    pub async fn user_by_pk(&self, pk: i64) -> StoreResult<Option<UserEntry>> {
        let sql = select_users(self.db().backend())
            .then(" WHERE u.id = ")
            .bind(pk);
        self.one_user(sql).await
    }

    pub async fn user_by_username(&self, username: &str) -> StoreResult<Option<UserEntry>> {
        let sql = select_users(self.db().backend())
            .then(" WHERE u.username = ")
            .bind(username);
        self.one_user(sql).await
    }

    /// Whether an account has this username (a prompt's username field asks on every
    /// answer: one index lookup, not the user with their groups).
    pub async fn username_taken(&self, username: &str) -> StoreResult<bool> {
        let sql = self
            .db()
            .sql("SELECT 1 FROM users WHERE username = ")
            .bind(username);
        Ok(self.db().fetch_optional::<(i32,)>(sql).await?.is_some())
    }

    async fn one_user(&self, sql: Sql) -> StoreResult<Option<UserEntry>> {
        let Some(row) = self.db().fetch_optional::<UserRow>(sql).await? else {
            return Ok(None);
        };
        let (user, is_superuser) = row.into_parts();
        let groups = self
            .groups_of(&[user.pk])
            .await?
            .remove(&user.pk)
            .unwrap_or_default();
        Ok(Some(UserEntry {
            user,
            is_superuser,
            groups,
        }))
    }

    /// The user a sign-in identifier names: by username and/or email (as `fields` allow),
    /// exact or ignoring case. Emails are not unique; the oldest account wins.
    pub async fn user_by_identifier(
        &self,
        uid: &str,
        fields: &[&str],
        ignore_case: bool,
    ) -> StoreResult<Option<UserEntry>> {
        let columns: Vec<&str> = fields
            .iter()
            .filter_map(|f| match *f {
                "username" => Some("u.username"),
                "email" => Some("u.email"),
                _ => None,
            })
            .collect();
        if columns.is_empty() || uid.is_empty() {
            return Ok(None);
        }
        let mut sql = select_users(self.db().backend());
        sql.push(" WHERE (");
        for (i, column) in columns.iter().enumerate() {
            if i > 0 {
                sql.push(" OR ");
            }
            if ignore_case {
                sql.push("LOWER(")
                    .push(column)
                    .push(") = LOWER(")
                    .arg(uid.to_owned())
                    .push(")");
            } else {
                sql.push(column).push(" = ").arg(uid.to_owned());
            }
        }
        sql.push(") ORDER BY u.id LIMIT 1");
        self.one_user(sql).await
    }

    /// The first user (oldest first) matching every filter, for `ak_user_by(**filters)`.
    /// Filters name user fields (`username`, `email`, `name`, `pk`, `uuid`, `is_active`,
    /// `path`, `type`), `is_superuser` and `has_usable_password`; an unknown field
    /// matches nobody.
    pub async fn user_matching(
        &self,
        filters: &serde_json::Map<String, serde_json::Value>,
    ) -> StoreResult<Option<UserEntry>> {
        use serde_json::Value;
        let mut sql = select_users(self.db().backend());
        sql.push(" WHERE 1 = 1");
        for (field, value) in filters {
            let column = match field.as_str() {
                "username" => "u.username",
                "email" => "u.email",
                "name" => "u.name",
                "path" => "u.path",
                "type" => "u.type",
                "uuid" => "u.uuid",
                "pk" | "id" => "u.id",
                "is_active" => "u.is_active",
                "is_superuser" => IS_SUPERUSER,
                "has_usable_password" => "(u.password IS NOT NULL AND u.password <> '')",
                _ => return Ok(None),
            };
            match value {
                Value::String(text) => {
                    sql.push(" AND ").push(column).push(" = ").arg(text.clone());
                }
                Value::Number(n) if n.is_i64() => {
                    sql.push(" AND ")
                        .push(column)
                        .push(" = ")
                        .arg(n.as_i64().unwrap_or_default());
                }
                Value::Bool(b) => {
                    sql.push(" AND ").push(column).push(" = ").arg(*b);
                }
                _ => return Ok(None),
            }
        }
        sql.push(" ORDER BY u.id LIMIT 1");
        self.one_user(sql).await
    }

    /// Whether any user is a superuser (an active one).
    pub async fn has_superuser(&self) -> StoreResult<bool> {
        let sql = self.db().sql(SUPERUSER_GROUPS).then(
            " SELECT COUNT(*) FROM group_members gm JOIN users u ON u.id = gm.user_id \
             WHERE u.is_active AND gm.group_uuid IN (SELECT g FROM su)",
        );
        let (n,): (i64,) = self.db().fetch_one(sql).await?;
        Ok(n > 0)
    }

    pub async fn list_users(
        &self,
        filter: &UserFilter,
        query: &ListQuery,
    ) -> StoreResult<Page<UserEntry>> {
        let backend = self.db().backend();
        let select = format!("{USER_SELECT}, {IS_SUPERUSER} AS is_superuser");
        let listing = Listing {
            prefix: SUPERUSER_GROUPS,
            select: &select,
            from: "users u",
            sortable: USER_SORTABLE,
            default_order: "u.username ASC",
            tiebreak: "u.id ASC",
            page_by_key: None,
        };
        let page: Page<UserRow> = self
            .list_page(&listing, query, |w| {
                user_filters(w, backend, filter, query.search.as_deref())
            })
            .await?;
        let pks: Vec<i64> = page.results.iter().map(|r| r.id).collect();
        let mut groups = self.groups_of(&pks).await?;
        Ok(page.map(|row| {
            let (user, is_superuser) = row.into_parts();
            let groups = groups.remove(&user.pk).unwrap_or_default();
            UserEntry {
                user,
                is_superuser,
                groups,
            }
        }))
    }

    /// Applies `changes` to user `pk`; `None` when there is no such user. Refused when
    /// it would leave no active superuser (deactivated, or out of the superuser groups).
    pub async fn update_user(
        &self,
        pk: i64,
        changes: &UserChanges,
        now: OffsetDateTime,
    ) -> StoreResult<Option<UserEntry>> {
        let mut tx = self.db().begin().await?;
        let before = superusers_before_change(&mut tx).await?;
        if !update_user_in(&mut tx, pk, changes, now).await? {
            return Ok(None);
        }
        refuse_losing_the_last_superuser(&mut tx, before).await?;
        tx.commit().await?;
        self.user_by_pk(pk).await
    }

    /// Stores a new password hash (`None`: no usable password).
    pub async fn set_password(
        &self,
        pk: i64,
        phc: Option<String>,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let sql = self
            .db()
            .sql("UPDATE users SET password = ")
            .bind(phc)
            .then(", password_change_date = ")
            .bind(now)
            .then(", last_updated = ")
            .bind(now)
            .then(" WHERE id = ")
            .bind(pk);
        Ok(self.db().execute(sql).await? > 0)
    }

    /// A successful sign-in of user `pk` at `now`, in one transaction (one commit, where
    /// three separate writes waited for three): the user's `last_login`, the reputation the
    /// sign-in earns, and its audit `event`.
    pub async fn record_sign_in(
        &self,
        pk: i64,
        now: OffsetDateTime,
        reputation: Option<super::ReputationChange<'_>>,
        event: &akin_domain::event::Event,
    ) -> StoreResult<()> {
        let mut tx = self.db().begin().await?;
        let sql = tx
            .sql("UPDATE users SET last_login = ")
            .bind(now)
            .then(" WHERE id = ")
            .bind(pk);
        tx.execute(sql).await?;
        if let Some(change) = reputation {
            tx.change_reputation(change, now).await?;
        }
        tx.record_event(event).await?;
        tx.commit().await
    }

    /// Deletes user `pk`; refused when it is the last active superuser.
    pub async fn delete_user(&self, pk: i64) -> StoreResult<bool> {
        let mut tx = self.db().begin().await?;
        let before = superusers_before_change(&mut tx).await?;
        let sql = tx.sql("DELETE FROM users WHERE id = ").bind(pk);
        let deleted = tx.execute(sql).await? > 0;
        refuse_losing_the_last_superuser(&mut tx, before).await?;
        tx.commit().await?;
        // Their sessions go with them (ON DELETE CASCADE).
        self.forget_user_sessions(pk);
        Ok(deleted)
    }

    /// Each user's groups, by name.
    pub(crate) async fn groups_of(&self, pks: &[i64]) -> StoreResult<HashMap<i64, Vec<GroupRef>>> {
        let mut map: HashMap<i64, Vec<GroupRef>> = HashMap::new();
        if pks.is_empty() {
            return Ok(map);
        }
        let mut sql = self.db().sql(
            "SELECT gm.user_id, g.group_uuid, g.name FROM group_members gm \
             JOIN groups g ON g.group_uuid = gm.group_uuid WHERE gm.user_id IN ",
        );
        sql.arg_list(pks.iter().copied()).push(" ORDER BY g.name");
        let rows: Vec<(i64, DbUuid, String)> = self.db().fetch_all(sql).await?;
        for (user, uuid, name) in rows {
            map.entry(user)
                .or_default()
                .push(GroupRef { uuid: uuid.0, name });
        }
        Ok(map)
    }
}

/// Inserts a user and returns its pk; with `if_absent`, an existing username gives `None`.
pub(crate) async fn insert_user(
    tx: &mut Tx,
    new: &NewUser,
    now: OffsetDateTime,
    if_absent: bool,
) -> StoreResult<Option<i64>> {
    let mut sql = tx.sql(
        "INSERT INTO users (uuid, username, name, email, is_active, date_joined, \
         password_change_date, last_updated, password, attributes, path, type) VALUES (",
    );
    sql.arg(Uuid::new_v4())
        .push(", ")
        .arg(new.username.clone())
        .push(", ")
        .arg(new.name.clone())
        .push(", ")
        .arg(new.email.clone())
        .push(", ")
        .arg(new.is_active)
        .push(", ")
        .arg(now)
        .push(", ")
        .arg(now)
        .push(", ")
        .arg(now)
        .push(", ")
        .arg(new.password.clone())
        .push(", ")
        .arg(new.attributes.clone())
        .push(", ")
        .arg(new.path.clone())
        .push(", ")
        .arg(new.user_type.as_str())
        .push(if if_absent {
            ") ON CONFLICT (username) DO NOTHING RETURNING id"
        } else {
            ") RETURNING id"
        });
    Ok(tx.fetch_optional::<(i64,)>(sql).await?.map(|(pk,)| pk))
}

/// Makes `groups` exactly the groups of user `pk`.
pub(crate) async fn replace_memberships(tx: &mut Tx, pk: i64, groups: &[Uuid]) -> StoreResult<()> {
    let sql = tx
        .sql("DELETE FROM group_members WHERE user_id = ")
        .bind(pk);
    tx.execute(sql).await?;
    add_memberships(tx, pk, groups).await
}

/// Adds user `pk` to `groups` (a user just created has no memberships to replace).
pub(crate) async fn add_memberships(tx: &mut Tx, pk: i64, groups: &[Uuid]) -> StoreResult<()> {
    for group in groups {
        add_membership(tx, *group, pk).await?;
    }
    Ok(())
}

pub(crate) async fn add_membership(tx: &mut Tx, group: Uuid, user: i64) -> StoreResult<()> {
    let sql = tx
        .sql("INSERT INTO group_members (group_uuid, user_id) VALUES (")
        .bind(group)
        .then(", ")
        .bind(user)
        .then(") ON CONFLICT DO NOTHING");
    tx.execute(sql).await?;
    Ok(())
}

fn user_filters(w: &mut Where<'_>, backend: Backend, f: &UserFilter, search: Option<&str>) {
    w.eq("u.username", f.username.clone());
    w.eq("u.name", f.name.clone());
    w.eq("u.email", f.email.clone());
    w.eq("u.uuid", f.uuid);
    w.eq("u.is_active", f.is_active);
    w.eq("u.path", f.path.clone());
    if let Some(prefix) = &f.path_startswith {
        let pattern = format!("{}%", super::escape_like(prefix));
        w.and()
            .push("u.path LIKE ")
            .arg(pattern)
            .push(" ESCAPE '\\'");
    }
    match f.is_superuser {
        Some(true) => {
            w.and().push(IS_SUPERUSER);
        }
        Some(false) => {
            w.and().push("NOT (").push(IS_SUPERUSER).push(")");
        }
        None => {}
    }
    if !f.types.is_empty() {
        w.and()
            .push("u.type IN ")
            .arg_list(f.types.iter().map(|t| t.as_str()));
    }
    if !f.groups_by_name.is_empty() {
        w.and()
            .push(
                "u.id IN (SELECT gm.user_id FROM group_members gm JOIN groups g \
                 ON g.group_uuid = gm.group_uuid WHERE g.name IN ",
            )
            .arg_list(f.groups_by_name.iter().cloned())
            .push(")");
    }
    if !f.groups_by_pk.is_empty() {
        w.and()
            .push("u.id IN (SELECT user_id FROM group_members WHERE group_uuid IN ")
            .arg_list(f.groups_by_pk.iter().copied())
            .push(")");
    }
    if let Some(attributes) = &f.attributes {
        match backend {
            Backend::Postgres => {
                w.and()
                    .push("u.attributes @> ")
                    .arg(serde_json::Value::Object(attributes.clone()));
            }
            Backend::Sqlite => {
                for (key, value) in attributes {
                    if key.contains('"') {
                        // Not expressible as a SQLite JSON path; such a key matches nothing.
                        w.and().push("1 = 0");
                        continue;
                    }
                    w.and()
                        .push("json_extract(u.attributes, ")
                        .arg(format!("$.\"{key}\""))
                        .push(") IS json_extract(")
                        .arg(value.to_string())
                        .push(", '$')");
                }
            }
        }
    }
    time_range(w, "u.date_joined", &f.date_joined);
    time_range(w, "u.last_login", &f.last_login);
    time_range(w, "u.last_updated", &f.last_updated);
    match f.last_login_isnull {
        Some(true) => {
            w.and().push("u.last_login IS NULL");
        }
        Some(false) => {
            w.and().push("u.last_login IS NOT NULL");
        }
        None => {}
    }
    w.search(&["u.username", "u.name", "u.email"], search);
}

fn time_range(w: &mut Where<'_>, column: &str, range: &TimeRange) {
    w.eq(column, range.exact);
    if let Some(after) = range.after {
        w.and().push(column).push(" > ").arg(after);
    }
    if let Some(before) = range.before {
        w.and().push(column).push(" < ").arg(before);
    }
}

impl Store {
    /// The named users (without group details), ordered by pk; unknown pks are left out.
    pub async fn users_by_pk(&self, pks: &[i64]) -> StoreResult<Vec<User>> {
        if pks.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = select_users(self.db().backend());
        sql.push(" WHERE u.id IN ")
            .arg_list(pks.iter().copied())
            .push(" ORDER BY u.id");
        let rows: Vec<UserRow> = self.db().fetch_all(sql).await?;
        Ok(rows.into_iter().map(|r| r.into_parts().0).collect())
    }
}

/// A user's groups as one JSON array of `{"pk", "name"}` ordered by name, computed in the
/// same statement as the user row (one round trip on the hot authentication path).
pub(crate) fn groups_json(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => {
            "(SELECT json_group_array(json_object('pk', x.group_uuid, 'name', x.name)) FROM \
             (SELECT g.group_uuid, g.name FROM group_members gm JOIN groups g \
             ON g.group_uuid = gm.group_uuid WHERE gm.user_id = u.id ORDER BY g.name) x)"
        }
        Backend::Postgres => {
            "(SELECT COALESCE(jsonb_agg(jsonb_build_object('pk', g.group_uuid, 'name', g.name) \
             ORDER BY g.name), '[]'::jsonb) FROM group_members gm JOIN groups g \
             ON g.group_uuid = gm.group_uuid WHERE gm.user_id = u.id)"
        }
    }
}

/// Reads the array [`groups_json`] produces.
pub(crate) fn parse_groups_json(value: &serde_json::Value) -> Vec<GroupRef> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| {
                    Some(GroupRef {
                        uuid: Uuid::parse_str(item.get("pk")?.as_str()?).ok()?,
                        name: item.get("name")?.as_str()?.to_owned(),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Applies `changes` to user `pk` inside `tx`; false when there is no such user.
pub(crate) async fn update_user_in(
    tx: &mut Tx,
    pk: i64,
    changes: &UserChanges,
    now: OffsetDateTime,
) -> StoreResult<bool> {
    let mut sql = tx.sql("UPDATE users SET username = ");
    sql.arg(changes.username.clone())
        .push(", name = ")
        .arg(changes.name.clone())
        .push(", email = ")
        .arg(changes.email.clone())
        .push(", is_active = ")
        .arg(changes.is_active)
        .push(", attributes = ")
        .arg(changes.attributes.clone())
        .push(", path = ")
        .arg(changes.path.clone())
        .push(", type = ")
        .arg(changes.user_type.as_str())
        .push(", last_login = ")
        .arg(changes.last_login)
        .push(", last_updated = ")
        .arg(now)
        .push(" WHERE id = ")
        .arg(pk);
    if tx.execute(sql).await? == 0 {
        return Ok(false);
    }
    if let Some(groups) = &changes.groups {
        replace_memberships(tx, pk, groups).await?;
    }
    Ok(true)
}

/// Stores a new password hash for user `pk` inside `tx`.
impl Tx {
    /// Sets user `pk`'s password hash in this transaction.
    pub async fn set_user_password(
        &mut self,
        pk: i64,
        phc: &str,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        set_password_in(self, pk, phc, now).await
    }
}

pub(crate) async fn set_password_in(
    tx: &mut Tx,
    pk: i64,
    phc: &str,
    now: OffsetDateTime,
) -> StoreResult<()> {
    let sql = tx
        .sql("UPDATE users SET password = ")
        .bind(phc)
        .then(", password_change_date = ")
        .bind(now)
        .then(" WHERE id = ")
        .bind(pk);
    tx.execute(sql).await?;
    Ok(())
}

/// Active superusers, as the transaction sees them.
/// The key of the PostgreSQL advisory lock that serializes changes which may remove an
/// active superuser ("akin su" in ASCII).
const SUPERUSER_LOCK: i64 = 0x0061_6b69_6e20_7375;

/// Takes the superuser lock for this transaction, then counts the active superusers, so
/// that of two changes at once (two administrators deactivated on two nodes) the second
/// counts after the first has committed. Under read committed nothing else makes the count
/// exclusive: today the directory version row, which every such change also updates,
/// happens to order them, but no rule keeps it first. SQLite runs one write transaction at
/// a time already.
async fn active_superusers_locked(tx: &mut Tx) -> StoreResult<i64> {
    if tx.backend() == Backend::Postgres {
        let sql = tx
            .sql("SELECT pg_advisory_xact_lock(")
            .bind(SUPERUSER_LOCK)
            .then(")");
        tx.execute(sql).await?;
    }
    active_superusers(tx).await
}

/// Before a change that may remove an active superuser: takes the lock, returns what
/// [`refuse_losing_the_last_superuser`] compares with.
pub(super) async fn superusers_before_change(tx: &mut Tx) -> StoreResult<i64> {
    active_superusers_locked(tx).await
}

/// After that change, in its transaction: refused when it left no active superuser where
/// there was one.
pub(super) async fn refuse_losing_the_last_superuser(tx: &mut Tx, before: i64) -> StoreResult<()> {
    if before > 0 && active_superusers(tx).await? == 0 {
        return Err(StoreError::LastSuperuser);
    }
    Ok(())
}

async fn active_superusers(tx: &mut Tx) -> StoreResult<i64> {
    let sql = tx.sql(SUPERUSER_GROUPS).then(
        " SELECT COUNT(DISTINCT u.id) FROM group_members gm JOIN users u ON u.id = gm.user_id \
         WHERE u.is_active AND gm.group_uuid IN (SELECT g FROM su)",
    );
    let (n,): (i64,) = tx.fetch_one(sql).await?;
    Ok(n)
}
