//! Groups, their parents and their members.

use std::collections::HashMap;

use akin_domain::group::{Group, GroupEntry, GroupFields, GroupFilter, creates_cycle};
use akin_domain::list::{ListQuery, Page};
use akin_domain::{DomainError, FieldErrors};
use sqlx::types::Json;
use uuid::Uuid;

use super::users::{add_membership, refuse_losing_the_last_superuser, superusers_before_change};
use super::{Listing, Store, Where};
use crate::db::Tx;
use crate::error::{StoreError, StoreResult};
use crate::types::DbUuid;

const GROUP_SELECT: &str = "g.num_pk, g.group_uuid, g.name, g.is_superuser, g.attributes";

const GROUP_SORTABLE: &[(&str, &str)] = &[
    ("name", "g.name"),
    ("is_superuser", "g.is_superuser"),
    ("num_pk", "g.num_pk"),
];

#[derive(sqlx::FromRow)]
struct GroupRow {
    num_pk: i64,
    group_uuid: DbUuid,
    name: String,
    is_superuser: bool,
    attributes: Json<serde_json::Value>,
}

impl GroupRow {
    fn into_group(self, parents: Vec<Uuid>) -> Group {
        Group {
            uuid: self.group_uuid.0,
            num_pk: self.num_pk,
            name: self.name,
            is_superuser: self.is_superuser,
            attributes: self.attributes.0,
            parents,
        }
    }
}

/// Why a group write was refused for its content rather than for a storage failure.
#[derive(Debug, thiserror::Error)]
pub enum GroupWriteError {
    #[error(transparent)]
    Invalid(#[from] DomainError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Store {
    pub async fn create_group(
        &self,
        fields: &GroupFields,
        users: &[i64],
    ) -> Result<GroupEntry, GroupWriteError> {
        fields.validate(None)?;
        let uuid = Uuid::new_v4();
        let mut tx = self.db().begin().await?;
        let sql = tx
            .sql("INSERT INTO groups (group_uuid, name, is_superuser, attributes) VALUES (")
            .bind(uuid)
            .then(", ")
            .bind(fields.name.clone())
            .then(", ")
            .bind(fields.is_superuser)
            .then(", ")
            .bind(fields.attributes.clone())
            .then(")");
        tx.execute(sql).await?;
        set_parents(&mut tx, uuid, &fields.parents).await?;
        for user in users {
            add_membership(&mut tx, uuid, *user).await?;
        }
        tx.commit().await?;
        Ok(self
            .group(uuid)
            .await?
            .ok_or(StoreError::MissingReference)?)
    }

    /// Finds the group named `fields.name` or creates it; returns its uuid. Used at start-up,
    /// where several nodes may race: a lost race reads the winner's row.
    pub async fn ensure_group(&self, tx: &mut Tx, fields: &GroupFields) -> StoreResult<Uuid> {
        let insert = tx
            .sql("INSERT INTO groups (group_uuid, name, is_superuser, attributes) VALUES (")
            .bind(Uuid::new_v4())
            .then(", ")
            .bind(fields.name.clone())
            .then(", ")
            .bind(fields.is_superuser)
            .then(", ")
            .bind(fields.attributes.clone())
            .then(") ON CONFLICT (name) DO NOTHING");
        tx.execute(insert).await?;
        let select = tx
            .sql("SELECT group_uuid FROM groups WHERE name = ")
            .bind(fields.name.clone());
        let (uuid,): (DbUuid,) = tx.fetch_one(select).await?;
        Ok(uuid.0)
    }

    /// Adds user `user` to group `group` inside `tx` (no-op when already a member).
    pub async fn add_member_in(&self, tx: &mut Tx, group: Uuid, user: i64) -> StoreResult<()> {
        add_membership(tx, group, user).await
    }

    pub async fn group(&self, uuid: Uuid) -> StoreResult<Option<GroupEntry>> {
        let sql = self
            .db()
            .sql("SELECT ")
            .then(GROUP_SELECT)
            .then(" FROM groups g WHERE g.group_uuid = ")
            .bind(uuid);
        let Some(row) = self.db().fetch_optional::<GroupRow>(sql).await? else {
            return Ok(None);
        };
        Ok(self.with_relations(vec![row]).await?.pop())
    }

    /// The named groups, in no particular order; unknown uuids are left out.
    pub async fn groups_by_uuid(&self, uuids: &[Uuid]) -> StoreResult<Vec<Group>> {
        if uuids.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = self.db().sql("SELECT ");
        sql.push(GROUP_SELECT)
            .push(" FROM groups g WHERE g.group_uuid IN ")
            .arg_list(uuids.iter().copied())
            .push(" ORDER BY g.name");
        let rows: Vec<GroupRow> = self.db().fetch_all(sql).await?;
        let uuids: Vec<Uuid> = rows.iter().map(|r| r.group_uuid.0).collect();
        let mut parents = self.parents_of(&uuids).await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let p = parents.remove(&r.group_uuid.0).unwrap_or_default();
                r.into_group(p)
            })
            .collect())
    }

    pub async fn list_groups(
        &self,
        filter: &GroupFilter,
        query: &ListQuery,
    ) -> StoreResult<Page<GroupEntry>> {
        let listing = Listing {
            prefix: "",
            select: GROUP_SELECT,
            from: "groups g",
            sortable: GROUP_SORTABLE,
            default_order: "g.name ASC",
            tiebreak: "g.num_pk ASC",
            page_by_key: None,
        };
        let page: Page<GroupRow> = self
            .list_page(&listing, query, |w| {
                group_filters(w, filter, query.search.as_deref())
            })
            .await?;
        let pagination = page.pagination;
        let results = self.with_relations(page.results).await?;
        Ok(Page {
            pagination,
            results,
        })
    }

    /// Replaces a group's fields; `users: Some` also replaces its members.
    pub async fn update_group(
        &self,
        uuid: Uuid,
        fields: &GroupFields,
        users: Option<&[i64]>,
    ) -> Result<Option<GroupEntry>, GroupWriteError> {
        fields.validate(Some(uuid))?;
        let edges = self.all_parent_edges().await?;
        let parents_of = |g: Uuid| edges.get(&g).cloned().unwrap_or_default();
        if creates_cycle(uuid, &fields.parents, &parents_of) {
            return Err(DomainError::Validation(FieldErrors::single(
                "parents",
                "A group cannot be its own ancestor.",
            ))
            .into());
        }
        let mut tx = self.db().begin().await?;
        // Turning a group's superuser flag off, or emptying it, may remove the last one.
        let before = superusers_before_change(&mut tx).await?;
        let sql = tx
            .sql("UPDATE groups SET name = ")
            .bind(fields.name.clone())
            .then(", is_superuser = ")
            .bind(fields.is_superuser)
            .then(", attributes = ")
            .bind(fields.attributes.clone())
            .then(" WHERE group_uuid = ")
            .bind(uuid);
        if tx.execute(sql).await? == 0 {
            return Ok(None);
        }
        set_parents(&mut tx, uuid, &fields.parents).await?;
        if let Some(users) = users {
            let sql = tx
                .sql("DELETE FROM group_members WHERE group_uuid = ")
                .bind(uuid);
            tx.execute(sql).await?;
            for user in users {
                add_membership(&mut tx, uuid, *user).await?;
            }
        }
        refuse_losing_the_last_superuser(&mut tx, before).await?;
        tx.commit().await?;
        Ok(self.group(uuid).await?)
    }

    /// The groups `user` is in, directly or through a child group (authentik counts a
    /// member of a child group as a member of its parents): `(uuid, name)` pairs.
    pub async fn groups_with_ancestors(&self, user: i64) -> StoreResult<Vec<(Uuid, String)>> {
        let sql = self
            .db()
            .sql(
                "WITH RECURSIVE g(uuid) AS (SELECT group_uuid FROM group_members WHERE user_id = ",
            )
            .bind(user)
            .then(
                " UNION SELECT gp.parent_uuid FROM group_parents gp JOIN g ON gp.child_uuid = g.uuid) \
                 SELECT group_uuid, name FROM groups WHERE group_uuid IN (SELECT uuid FROM g) ORDER BY name",
            );
        let rows: Vec<(DbUuid, String)> = self.db().fetch_all(sql).await?;
        Ok(rows.into_iter().map(|(u, n)| (u.0, n)).collect())
    }

    /// Deletes a group; refused when that leaves no active superuser.
    pub async fn delete_group(&self, uuid: Uuid) -> StoreResult<bool> {
        let mut tx = self.db().begin().await?;
        let before = superusers_before_change(&mut tx).await?;
        let sql = tx.sql("DELETE FROM groups WHERE group_uuid = ").bind(uuid);
        let deleted = tx.execute(sql).await? > 0;
        refuse_losing_the_last_superuser(&mut tx, before).await?;
        tx.commit().await?;
        Ok(deleted)
    }

    pub async fn add_group_member(&self, group: Uuid, user: i64) -> StoreResult<()> {
        let mut tx = self.db().begin().await?;
        add_membership(&mut tx, group, user).await?;
        tx.commit().await
    }

    /// Returns whether the user was a member; refused when that leaves no active
    /// superuser.
    pub async fn remove_group_member(&self, group: Uuid, user: i64) -> StoreResult<bool> {
        let mut tx = self.db().begin().await?;
        let before = superusers_before_change(&mut tx).await?;
        let sql = tx
            .sql("DELETE FROM group_members WHERE group_uuid = ")
            .bind(group)
            .then(" AND user_id = ")
            .bind(user);
        let removed = tx.execute(sql).await? > 0;
        refuse_losing_the_last_superuser(&mut tx, before).await?;
        tx.commit().await?;
        Ok(removed)
    }

    async fn with_relations(&self, rows: Vec<GroupRow>) -> StoreResult<Vec<GroupEntry>> {
        let uuids: Vec<Uuid> = rows.iter().map(|r| r.group_uuid.0).collect();
        let mut parents = self.parents_of(&uuids).await?;
        let mut children = self.children_of(&uuids).await?;
        let mut members = self.members_of(&uuids).await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let uuid = row.group_uuid.0;
                GroupEntry {
                    group: row.into_group(parents.remove(&uuid).unwrap_or_default()),
                    children: children.remove(&uuid).unwrap_or_default(),
                    users: members.remove(&uuid).unwrap_or_default(),
                }
            })
            .collect())
    }

    async fn parents_of(&self, uuids: &[Uuid]) -> StoreResult<HashMap<Uuid, Vec<Uuid>>> {
        self.edges(
            "SELECT child_uuid, parent_uuid FROM group_parents WHERE child_uuid IN ",
            uuids,
        )
        .await
    }

    async fn children_of(&self, uuids: &[Uuid]) -> StoreResult<HashMap<Uuid, Vec<Uuid>>> {
        self.edges(
            "SELECT parent_uuid, child_uuid FROM group_parents WHERE parent_uuid IN ",
            uuids,
        )
        .await
    }

    async fn edges(&self, select: &str, uuids: &[Uuid]) -> StoreResult<HashMap<Uuid, Vec<Uuid>>> {
        let mut map: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        if uuids.is_empty() {
            return Ok(map);
        }
        let mut sql = self.db().sql(select);
        sql.arg_list(uuids.iter().copied());
        let rows: Vec<(DbUuid, DbUuid)> = self.db().fetch_all(sql).await?;
        for (from, to) in rows {
            map.entry(from.0).or_default().push(to.0);
        }
        Ok(map)
    }

    async fn all_parent_edges(&self) -> StoreResult<HashMap<Uuid, Vec<Uuid>>> {
        let sql = self
            .db()
            .sql("SELECT child_uuid, parent_uuid FROM group_parents");
        let rows: Vec<(DbUuid, DbUuid)> = self.db().fetch_all(sql).await?;
        let mut map: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for (child, parent) in rows {
            map.entry(child.0).or_default().push(parent.0);
        }
        Ok(map)
    }

    async fn members_of(&self, uuids: &[Uuid]) -> StoreResult<HashMap<Uuid, Vec<i64>>> {
        let mut map: HashMap<Uuid, Vec<i64>> = HashMap::new();
        if uuids.is_empty() {
            return Ok(map);
        }
        let mut sql = self
            .db()
            .sql("SELECT group_uuid, user_id FROM group_members WHERE group_uuid IN ");
        sql.arg_list(uuids.iter().copied())
            .push(" ORDER BY user_id");
        let rows: Vec<(DbUuid, i64)> = self.db().fetch_all(sql).await?;
        for (group, user) in rows {
            map.entry(group.0).or_default().push(user);
        }
        Ok(map)
    }
}

async fn set_parents(tx: &mut Tx, uuid: Uuid, parents: &[Uuid]) -> StoreResult<()> {
    let sql = tx
        .sql("DELETE FROM group_parents WHERE child_uuid = ")
        .bind(uuid);
    tx.execute(sql).await?;
    for parent in parents {
        let sql = tx
            .sql("INSERT INTO group_parents (child_uuid, parent_uuid) VALUES (")
            .bind(uuid)
            .then(", ")
            .bind(*parent)
            .then(") ON CONFLICT DO NOTHING");
        tx.execute(sql).await?;
    }
    Ok(())
}

fn group_filters(w: &mut Where<'_>, f: &GroupFilter, search: Option<&str>) {
    w.eq("g.name", f.name.clone());
    w.eq("g.is_superuser", f.is_superuser);
    if !f.members_by_pk.is_empty() {
        w.and()
            .push("g.group_uuid IN (SELECT group_uuid FROM group_members WHERE user_id IN ")
            .arg_list(f.members_by_pk.iter().copied())
            .push(")");
    }
    if !f.members_by_username.is_empty() {
        w.and()
            .push(
                "g.group_uuid IN (SELECT gm.group_uuid FROM group_members gm JOIN users u \
                 ON u.id = gm.user_id WHERE u.username IN ",
            )
            .arg_list(f.members_by_username.iter().cloned())
            .push(")");
    }
    w.search(&["g.name"], search);
}
