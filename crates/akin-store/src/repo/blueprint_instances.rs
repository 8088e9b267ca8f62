//! Blueprint instances, and the lease that lets one node at a time watch the blueprints
//! folder for all of them.

use akin_domain::blueprint_instance::{
    ApplyOutcome, BlueprintInstance, InstanceFields, InstanceStatus,
};
use akin_domain::list::{ListQuery, Page};
use serde_json::{Map, Value};
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Listing, Store};
use crate::error::StoreResult;
use crate::types::{DbTime, DbUuid};

const INSTANCE_SELECT: &str = "instance_uuid, name, path, content, context, enabled, status, \
    last_applied, last_applied_hash, managed_models, metadata, logs";

const INSTANCE_SORTABLE: &[(&str, &str)] = &[
    ("name", "name"),
    ("path", "path"),
    ("status", "status"),
    ("enabled", "enabled"),
    ("last_applied", "last_applied"),
];

const INSTANCE_LISTING: Listing<'static> = Listing {
    prefix: "",
    select: INSTANCE_SELECT,
    from: "blueprint_instances",
    sortable: INSTANCE_SORTABLE,
    default_order: "name ASC",
    tiebreak: "instance_uuid ASC",
    page_by_key: None,
};

#[derive(sqlx::FromRow)]
struct InstanceRow {
    instance_uuid: DbUuid,
    name: String,
    path: String,
    content: String,
    context: Json<Value>,
    enabled: bool,
    status: String,
    last_applied: Option<DbTime>,
    last_applied_hash: String,
    managed_models: Json<Value>,
    metadata: Json<Value>,
    logs: Json<Value>,
}

impl From<InstanceRow> for BlueprintInstance {
    fn from(row: InstanceRow) -> Self {
        let strings = |v: Value| match v {
            Value::Array(items) => items
                .into_iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        BlueprintInstance {
            uuid: row.instance_uuid.0,
            name: row.name,
            path: row.path,
            content: row.content,
            context: match row.context.0 {
                Value::Object(map) => map,
                _ => Map::new(),
            },
            enabled: row.enabled,
            status: InstanceStatus::parse(&row.status).unwrap_or_default(),
            last_applied: row.last_applied.map(|t| t.0),
            last_applied_hash: row.last_applied_hash,
            managed_models: strings(row.managed_models.0),
            metadata: row.metadata.0,
            logs: match row.logs.0 {
                Value::Array(items) => items,
                _ => Vec::new(),
            },
        }
    }
}

/// How `list_blueprint_instances` narrows the list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InstanceFilter {
    pub name: Option<String>,
    pub path: Option<String>,
}

impl Store {
    pub async fn list_blueprint_instances(
        &self,
        filter: &InstanceFilter,
        query: &ListQuery,
    ) -> StoreResult<Page<BlueprintInstance>> {
        let page: Page<InstanceRow> = self
            .list_page(&INSTANCE_LISTING, query, |w| {
                w.eq("name", filter.name.clone());
                w.eq("path", filter.path.clone());
                w.search(&["name", "path"], query.search.as_deref());
            })
            .await?;
        Ok(page.map(Into::into))
    }

    pub async fn blueprint_instance(&self, uuid: Uuid) -> StoreResult<Option<BlueprintInstance>> {
        let sql = self
            .db()
            .sql(&format!(
                "SELECT {INSTANCE_SELECT} FROM blueprint_instances WHERE instance_uuid = "
            ))
            .bind(uuid);
        let row: Option<InstanceRow> = self.db().fetch_optional(sql).await?;
        Ok(row.map(Into::into))
    }

    /// Every instance, for the folder watcher.
    pub async fn all_blueprint_instances(&self) -> StoreResult<Vec<BlueprintInstance>> {
        let sql = self.db().sql(&format!(
            "SELECT {INSTANCE_SELECT} FROM blueprint_instances ORDER BY name"
        ));
        let rows: Vec<InstanceRow> = self.db().fetch_all(sql).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// A new instance (status `unknown`, never applied). A taken name is
    /// `StoreError::Unique { field: "name" }`.
    pub async fn create_blueprint_instance(
        &self,
        fields: &InstanceFields,
        metadata: &Value,
    ) -> StoreResult<BlueprintInstance> {
        let uuid = Uuid::new_v4();
        let sql = self
            .db()
            .sql("INSERT INTO blueprint_instances (instance_uuid, name, path, content, context, enabled, metadata) VALUES (")
            .bind(uuid)
            .then(", ")
            .bind(fields.name.clone())
            .then(", ")
            .bind(fields.path.clone())
            .then(", ")
            .bind(fields.content.clone())
            .then(", ")
            .bind(Value::Object(fields.context.clone()))
            .then(", ")
            .bind(fields.enabled)
            .then(", ")
            .bind(metadata.clone())
            .then(")");
        self.db().execute(sql).await?;
        Ok(self
            .blueprint_instance(uuid)
            .await?
            .expect("the instance was just written"))
    }

    /// Writes an administrator's fields; `None` when there is no such instance.
    pub async fn update_blueprint_instance(
        &self,
        uuid: Uuid,
        fields: &InstanceFields,
    ) -> StoreResult<Option<BlueprintInstance>> {
        let sql = self
            .db()
            .sql("UPDATE blueprint_instances SET name = ")
            .bind(fields.name.clone())
            .then(", path = ")
            .bind(fields.path.clone())
            .then(", content = ")
            .bind(fields.content.clone())
            .then(", context = ")
            .bind(Value::Object(fields.context.clone()))
            .then(", enabled = ")
            .bind(fields.enabled)
            .then(" WHERE instance_uuid = ")
            .bind(uuid);
        if self.db().execute(sql).await? == 0 {
            return Ok(None);
        }
        self.blueprint_instance(uuid).await
    }

    pub async fn delete_blueprint_instance(&self, uuid: Uuid) -> StoreResult<bool> {
        let sql = self
            .db()
            .sql("DELETE FROM blueprint_instances WHERE instance_uuid = ")
            .bind(uuid);
        Ok(self.db().execute(sql).await? > 0)
    }

    /// Records how an apply went.
    pub async fn record_blueprint_apply(
        &self,
        uuid: Uuid,
        outcome: &ApplyOutcome,
    ) -> StoreResult<()> {
        let sql = self
            .db()
            .sql("UPDATE blueprint_instances SET status = ")
            .bind(outcome.status.as_str())
            .then(", last_applied = ")
            .bind(outcome.at)
            .then(", last_applied_hash = ")
            .bind(outcome.hash.clone())
            .then(", managed_models = ")
            .bind(Value::from(outcome.managed_models.clone()))
            .then(", metadata = ")
            .bind(outcome.metadata.clone())
            .then(", logs = ")
            .bind(Value::Array(outcome.logs.clone()))
            .then(" WHERE instance_uuid = ")
            .bind(uuid);
        self.db().execute(sql).await?;
        Ok(())
    }

    /// Marks an instance whose file is gone.
    pub async fn set_blueprint_status(
        &self,
        uuid: Uuid,
        status: InstanceStatus,
    ) -> StoreResult<()> {
        let sql = self
            .db()
            .sql("UPDATE blueprint_instances SET status = ")
            .bind(status.as_str())
            .then(" WHERE instance_uuid = ")
            .bind(uuid);
        self.db().execute(sql).await?;
        Ok(())
    }

    /// Takes or renews the lease `name` for `holder` until `until`: `true` when `holder` has
    /// it now. One statement each way, so two nodes asking at once cannot both get it.
    pub async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> StoreResult<bool> {
        let insert = self
            .db()
            .sql("INSERT INTO leases (name, holder, expires) VALUES (")
            .bind(name)
            .then(", ")
            .bind(holder)
            .then(", ")
            .bind(until)
            .then(") ON CONFLICT (name) DO NOTHING");
        if self.db().execute(insert).await? > 0 {
            return Ok(true);
        }
        let renew = self
            .db()
            .sql("UPDATE leases SET holder = ")
            .bind(holder)
            .then(", expires = ")
            .bind(until)
            .then(" WHERE name = ")
            .bind(name)
            .then(" AND (holder = ")
            .bind(holder)
            .then(" OR expires < ")
            .bind(now)
            .then(")");
        Ok(self.db().execute(renew).await? > 0)
    }
}
