//! Storage for the objects blueprints describe (flows, stages, prompts, bindings, policies,
//! invitations, and groups and users), addressed by authentik model name with JSON fields.
//!
//! Each model maps to a table: the fields the server queries are columns, the rest are kept
//! in the row's `extra` JSON under authentik's names. Fields arrive already validated
//! against `akin_domain::catalog`; this module only stores and reads them.

use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use akin_domain::catalog;
use akin_domain::time_format::{format_datetime, parse_datetime};

use super::Store;
pub(super) use super::tables::{Col, PROMPT_FIELDS, Table, table};
use super::tables::{family_member, family_table};
use super::tokens::key_digest;
use crate::db::{Arg, Backend, Sql, Tx};
use crate::error::{StoreError, StoreResult};

pub(super) fn unknown(model: &str) -> StoreError {
    StoreError::UnsupportedModel(model.to_owned())
}

/// A JSON value as an argument for a column of type `col`.
pub(super) fn column_arg(col: Col, value: &Value) -> StoreResult<Arg> {
    let bad = || StoreError::InvalidValue(value.to_string());
    Ok(match (col, value) {
        (Col::Text, Value::Null) => Arg::OptText(None),
        (Col::Text, Value::String(s)) => Arg::Text(s.clone()),
        (Col::Text, other) => Arg::Text(other.to_string()),
        (Col::Bool, Value::Bool(b)) => Arg::Bool(*b),
        (Col::Int, Value::Null) => Arg::OptInt(None),
        (Col::Int, Value::Number(n)) => Arg::Int(n.as_i64().ok_or_else(bad)?),
        (Col::Uuid, Value::Null) => Arg::OptUuid(None),
        (Col::Uuid, Value::String(s)) => Arg::Uuid(Uuid::parse_str(s).map_err(|_| bad())?),
        (Col::Time, Value::Null) => Arg::OptTime(None),
        (Col::Time, Value::String(s)) => Arg::Time(parse_datetime(s).ok_or_else(bad)?),
        (Col::Json, v) => Arg::Json(v.clone()),
        _ => return Err(bad()),
    })
}

pub(super) fn pk_arg(table: &Table, pk: &Value) -> StoreResult<Arg> {
    column_arg(if table.int_pk { Col::Int } else { Col::Uuid }, pk)
}

/// `json_object(…)`/`jsonb_build_object(…)` of the pk and every column, with `extra`
/// merged in by the caller.
/// `SELECT <object> AS object, <extra> AS extra FROM <table>` for `table`.
fn select_json(backend: Backend, table: &Table) -> String {
    format!(
        "SELECT {} FROM {}",
        select_columns(backend, table),
        table.table
    )
}

/// The select list of [`select_json`]: the row as one JSON object, and its `extra`.
pub(super) fn select_columns(backend: Backend, table: &Table) -> String {
    let function = match backend {
        Backend::Sqlite => "json_object",
        Backend::Postgres => "jsonb_build_object",
    };
    let mut parts = vec![format!("'pk', {}", table.pk)];
    for (field, column, _) in table.columns {
        parts.push(format!("'{field}', {column}"));
    }
    let extra = match (table.extra, backend) {
        (true, _) => "extra",
        (false, Backend::Sqlite) => "'{}'",
        (false, Backend::Postgres) => "'{}'::jsonb",
    };
    format!(
        "{function}({}) AS object, {extra} AS extra",
        parts.join(", ")
    )
}

#[derive(sqlx::FromRow)]
pub(super) struct ObjectRow {
    pub(super) object: sqlx::types::Json<Value>,
    extra: sqlx::types::Json<Value>,
}

/// Brings a row's JSON into the same shape on both backends: booleans as booleans (SQLite
/// has 0/1), times in authentik's format.
pub(super) fn normalise(table: &Table, row: ObjectRow) -> Map<String, Value> {
    let mut object = match row.object.0 {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    for (field, _, col) in table.columns {
        let Some(value) = object.get_mut(*field) else {
            continue;
        };
        match (col, &*value) {
            (Col::Bool, Value::Number(n)) => *value = Value::Bool(n.as_i64() == Some(1)),
            (Col::Time, Value::String(s)) => {
                if let Some(t) = parse_datetime(s) {
                    *value = Value::String(format_datetime(t));
                }
            }
            // SQLite's json_object embeds JSON text columns as strings.
            (Col::Json, Value::String(s)) => {
                if let Ok(parsed) = serde_json::from_str(s) {
                    *value = parsed;
                }
            }
            _ => {}
        }
    }
    if let Value::Object(extra) = row.extra.0 {
        for (k, v) in extra {
            object.entry(k).or_insert(v);
        }
    }
    object
}

/// A condition on one field: a column, or a key of `extra`.
fn push_field_condition(
    sql: &mut Sql,
    backend: Backend,
    table: &Table,
    field: &str,
    value: &Value,
) -> StoreResult<()> {
    if field == "pk" {
        sql.push(table.pk).push(" = ").arg(pk_arg(table, value)?);
        return Ok(());
    }
    if let Some((_, column, col)) = table.columns.iter().find(|(f, _, _)| *f == field) {
        if *col == Col::Json
            && let Value::Object(wanted) = value
        {
            return push_json_contains(sql, backend, column, &[], wanted);
        }
        if value.is_null() {
            sql.push(column).push(" IS NULL");
        } else {
            sql.push(column).push(" = ").arg(column_arg(*col, value)?);
        }
        return Ok(());
    }
    if !table.extra || !field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(StoreError::InvalidValue(format!(
            "{} has no field {field}",
            table.model
        )));
    }
    if let Value::Object(wanted) = value {
        return push_json_contains(sql, backend, "extra", &[field], wanted);
    }
    push_extra_equals(sql, backend, field, value);
    Ok(())
}

/// The JSON in `column` (under `prefix`) contains `wanted`, as PostgreSQL's `@>` and
/// Django's `__contains` on a JSON field: every key of `wanted` is there, objects compared
/// the same way, other values equal. SQLite has no containment, so each leaf of `wanted`
/// is compared at its path (lists are compared whole there).
fn push_json_contains(
    sql: &mut Sql,
    backend: Backend,
    column: &str,
    prefix: &[&str],
    wanted: &Map<String, Value>,
) -> StoreResult<()> {
    match backend {
        Backend::Postgres => {
            let mut target = column.to_owned();
            for key in prefix {
                target = format!("{target}->'{key}'");
            }
            sql.push(&target)
                .push(" @> ")
                .arg(Value::Object(wanted.clone()));
        }
        Backend::Sqlite => {
            // `$."a"."b"`: SQLite's JSON path, each key quoted (a key holding a quote
            // cannot be written in one, and is refused).
            fn leaves(
                path: &str,
                value: &Map<String, Value>,
                out: &mut Vec<(String, Value)>,
            ) -> StoreResult<()> {
                for (key, value) in value {
                    if key.contains('"') {
                        return Err(StoreError::InvalidValue(format!(
                            "the JSON key {key:?} cannot be matched"
                        )));
                    }
                    let path = format!("{path}.\"{key}\"");
                    match value {
                        Value::Object(inner) if !inner.is_empty() => leaves(&path, inner, out)?,
                        other => out.push((path, other.clone())),
                    }
                }
                Ok(())
            }
            let base = prefix
                .iter()
                .fold("$".to_owned(), |path, key| format!("{path}.\"{key}\""));
            let mut pairs = Vec::new();
            leaves(&base, wanted, &mut pairs)?;
            sql.push("(1 = 1");
            for (path, value) in pairs {
                sql.push(&format!(" AND json_extract({column}, "))
                    .arg(path)
                    .push(") IS json_extract(")
                    .arg(value.to_string())
                    .push(", '$')");
            }
            sql.push(")");
        }
    }
    Ok(())
}

/// `extra`'s key `field` equals `value` as JSON (a number, a boolean, a string). `field`
/// must be a plain name: it is written into the SQL text.
pub(super) fn push_extra_equals(sql: &mut Sql, backend: Backend, field: &str, value: &Value) {
    match backend {
        Backend::Sqlite => {
            sql.push(&format!(
                "json_extract(extra, '$.{field}') IS json_extract("
            ))
            .arg(value.to_string())
            .push(", '$')");
        }
        Backend::Postgres => {
            sql.push(&format!("extra->'{field}' = ")).arg(value.clone());
        }
    }
}

impl Store {
    /// The slug of flow `flow`, if there is such a flow (invitation links are built on it).
    pub async fn flow_slug(&self, flow: uuid::Uuid) -> StoreResult<Option<String>> {
        let sql = self
            .db()
            .sql("SELECT slug FROM flows WHERE flow_uuid = ")
            .bind(flow);
        let row: Option<(String,)> = self.db().fetch_optional(sql).await?;
        Ok(row.map(|(slug,)| slug))
    }

    /// [`Tx::find_objects`] for a single read that needs no transaction of its own.
    pub async fn find_objects(
        &self,
        model: &str,
        query: &[(String, Value)],
    ) -> StoreResult<Vec<Map<String, Value>>> {
        self.db().begin().await?.find_objects(model, query).await
    }

    /// [`Tx::flow_by_slug`] for a single read that needs no transaction of its own.
    pub async fn flow_by_slug(&self, slug: &str) -> StoreResult<Option<Map<String, Value>>> {
        self.db().begin().await?.flow_by_slug(slug).await
    }
}

impl Tx {
    /// The flow whose slug is `slug`, as its catalog object.
    pub async fn flow_by_slug(&mut self, slug: &str) -> StoreResult<Option<Map<String, Value>>> {
        let query = [("slug".to_owned(), Value::String(slug.to_owned()))];
        Ok(self
            .find_objects(catalog::FLOW, &query)
            .await?
            .into_iter()
            .next())
    }

    /// [`Store::flow_slug`] in this transaction.
    pub async fn flow_slug(&mut self, flow: uuid::Uuid) -> StoreResult<Option<String>> {
        let sql = self
            .sql("SELECT slug FROM flows WHERE flow_uuid = ")
            .bind(flow);
        let row: Option<(String,)> = self.fetch_optional(sql).await?;
        Ok(row.map(|(slug,)| slug))
    }

    /// The objects of `model` matching every `(field, value)` pair, first by primary key.
    pub async fn find_objects(
        &mut self,
        model: &str,
        query: &[(String, Value)],
    ) -> StoreResult<Vec<Map<String, Value>>> {
        let table = table(model).ok_or_else(|| unknown(model))?;
        let backend = self.backend();
        let mut sql = self.sql(&select_json(backend, &table));
        sql.push(" WHERE 1 = 1");
        if let Some(kind) = table.kind {
            sql.push(" AND kind = ").arg(kind);
        }
        for (field, value) in query {
            sql.push(" AND ");
            push_field_condition(&mut sql, backend, &table, field, value)?;
        }
        self.fetch_objects(&table, sql).await
    }

    /// The bindings of `target` (`model` is flow-stage or policy bindings), in their
    /// `order`.
    pub async fn bindings_in_order(
        &mut self,
        model: &str,
        target: &Value,
    ) -> StoreResult<Vec<Map<String, Value>>> {
        let mut bindings = self
            .find_objects(model, &[("target".to_owned(), target.clone())])
            .await?;
        bindings.sort_by_key(|b| b["order"].as_i64().unwrap_or_default());
        Ok(bindings)
    }

    /// Runs `sql` (a `select_json` of `table`, filtered) in primary-key order; a prompt
    /// stage's objects get their prompts.
    async fn fetch_objects(
        &mut self,
        table: &Table,
        mut sql: Sql,
    ) -> StoreResult<Vec<Map<String, Value>>> {
        sql.push(" ORDER BY ").push(table.pk);
        let rows: Vec<ObjectRow> = self.fetch_all(sql).await?;
        let mut objects: Vec<Map<String, Value>> =
            rows.into_iter().map(|r| normalise(table, r)).collect();
        if table.model == catalog::PROMPT_STAGE {
            for object in &mut objects {
                let fields = self.prompt_fields(&object["pk"]).await?;
                object.insert(PROMPT_FIELDS.to_owned(), Value::Array(fields));
            }
        }
        Ok(objects)
    }

    /// The objects of `model` whose `field` (the primary key or a column) is any of
    /// `values`, first by primary key: one query where a `find_objects` per value would
    /// make one each.
    pub async fn find_objects_in(
        &mut self,
        model: &str,
        field: &str,
        values: &[Value],
    ) -> StoreResult<Vec<Map<String, Value>>> {
        let table = table(model).ok_or_else(|| unknown(model))?;
        let (column, col) = if field == "pk" {
            (table.pk, if table.int_pk { Col::Int } else { Col::Uuid })
        } else {
            table
                .columns
                .iter()
                .find(|(f, _, _)| *f == field)
                .map(|(_, column, col)| (*column, *col))
                .ok_or_else(|| {
                    StoreError::InvalidValue(format!("{} has no column {field}", table.model))
                })?
        };
        let args = values
            .iter()
            .map(|v| column_arg(col, v))
            .collect::<StoreResult<Vec<Arg>>>()?;
        let backend = self.backend();
        let mut sql = self.sql(&select_json(backend, &table));
        sql.push(" WHERE ").push(column).push(" IN ").arg_list(args);
        if let Some(kind) = table.kind {
            sql.push(" AND kind = ").arg(kind);
        }
        self.fetch_objects(&table, sql).await
    }

    /// The stages with these primary keys, whatever their kind, each with its model name.
    pub async fn find_stages(
        &mut self,
        pks: &[Value],
    ) -> StoreResult<Vec<(&'static str, Map<String, Value>)>> {
        self.find_members(catalog::Family::Stage, pks).await
    }

    /// The policies with these primary keys, whatever their kind, each with its model name.
    pub async fn find_policies(
        &mut self,
        pks: &[Value],
    ) -> StoreResult<Vec<(&'static str, Map<String, Value>)>> {
        self.find_members(catalog::Family::Policy, pks).await
    }

    /// The objects of `family` with these primary keys, whatever their kind, each with its
    /// model name.
    pub async fn find_members(
        &mut self,
        family: catalog::Family,
        pks: &[Value],
    ) -> StoreResult<Vec<(&'static str, Map<String, Value>)>> {
        let Some(shared) = family_table(family) else {
            return Ok(Vec::new());
        };
        let args = pks
            .iter()
            .map(|v| column_arg(Col::Uuid, v))
            .collect::<StoreResult<Vec<Arg>>>()?;
        let mut sql = self.sql(&format!(
            "SELECT DISTINCT kind FROM {} WHERE {} IN ",
            shared.table, shared.pk
        ));
        sql.arg_list(args);
        let kinds: Vec<(String,)> = self.fetch_all(sql).await?;
        let mut stages = Vec::with_capacity(pks.len());
        for (kind,) in kinds {
            let Some((model, _)) = family_member(&kind).filter(|(_, f)| *f == family) else {
                continue;
            };
            for stage in self.find_objects_in(model, "pk", pks).await? {
                stages.push((model, stage));
            }
        }
        Ok(stages)
    }

    /// The member of `family` named `name` (names are unique across a family's kinds),
    /// with its model name: its kind from the family's shared table, then its row.
    pub async fn find_member_named(
        &mut self,
        family: catalog::Family,
        name: &str,
    ) -> StoreResult<Option<(&'static str, Map<String, Value>)>> {
        let Some(shared) = family_table(family) else {
            return Ok(None);
        };
        let sql = self
            .sql(&format!("SELECT kind FROM {} WHERE name = ", shared.table))
            .bind(name);
        let Some((kind,)) = self.fetch_optional::<(String,)>(sql).await? else {
            return Ok(None);
        };
        let Some((model, _)) = family_member(&kind).filter(|(_, f)| *f == family) else {
            return Ok(None);
        };
        let found = self
            .find_objects_in(model, "name", &[Value::String(name.to_owned())])
            .await?;
        Ok(found.into_iter().next().map(|row| (model, row)))
    }

    /// Whether an object with primary key `pk` exists as `model`. The catalog's placeholder
    /// models mean "any stage" and "a flow or a binding".
    pub async fn object_exists(&mut self, model: &str, pk: &Value) -> StoreResult<bool> {
        let candidates: Vec<&str> = match model {
            catalog::STAGE => catalog::stage_models().collect(),
            catalog::POLICY => catalog::policy_models().collect(),
            catalog::POLICY_TARGET => vec![catalog::FLOW, catalog::FLOW_STAGE_BINDING],
            other => vec![other],
        };
        for candidate in candidates {
            let t = table(candidate).ok_or_else(|| unknown(candidate))?;
            let Ok(arg) = pk_arg(&t, pk) else { continue };
            let mut sql = self.sql(&format!(
                "SELECT COUNT(*) FROM {} WHERE {} = ",
                t.table, t.pk
            ));
            sql.arg(arg);
            if let Some(kind) = t.kind {
                sql.push(" AND kind = ").arg(kind);
            }
            let (n,): (i64,) = self.fetch_one(sql).await?;
            if n > 0 {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Inserts an object; returns its primary key.
    pub async fn create_object(
        &mut self,
        model: &str,
        fields: &Map<String, Value>,
        now: OffsetDateTime,
    ) -> StoreResult<Value> {
        let table = table(model).ok_or_else(|| unknown(model))?;
        let mut names: Vec<&str> = Vec::new();
        let mut args: Vec<Arg> = Vec::new();
        // A given primary key (a blueprint entry identified by `pk`) is kept.
        let given = fields.get("pk").filter(|pk| !pk.is_null());
        let pk = match (table.int_pk, given) {
            (true, None) => None,
            (true, Some(pk)) => {
                // Django's integer keys (what authentik exports) fit in 1..=i32::MAX. A
                // larger key would leave no room for the next account, which would fail.
                if !pk
                    .as_i64()
                    .is_some_and(|n| (1..=i64::from(i32::MAX)).contains(&n))
                {
                    return Err(StoreError::InvalidValue(format!(
                        "pk {pk}: must be a whole number from 1 to {}",
                        i32::MAX
                    )));
                }
                names.push(table.pk);
                args.push(column_arg(Col::Int, pk)?);
                None
            }
            (false, given) => {
                let uuid = match given {
                    Some(pk) => match column_arg(Col::Uuid, pk)? {
                        Arg::Uuid(uuid) => uuid,
                        _ => return Err(StoreError::InvalidValue(format!("pk {pk}"))),
                    },
                    None => Uuid::new_v4(),
                };
                names.push(table.pk);
                args.push(Arg::Uuid(uuid));
                Some(Value::String(uuid.to_string()))
            }
        };
        for (field, column, col) in table.columns {
            if let Some(value) = fields.get(*field) {
                names.push(column);
                args.push(column_arg(*col, value)?);
            }
        }
        if let Some(kind) = table.kind {
            names.push("kind");
            args.push(Arg::Text(kind.to_owned()));
        }
        if table.extra {
            names.push("extra");
            args.push(Arg::Json(Value::Object(extra_fields(&table, fields))));
        }
        for (column, _) in table.stamped {
            names.push(column);
            args.push(Arg::Time(now));
        }
        if model == catalog::USER {
            names.push("uuid");
            args.push(Arg::Uuid(Uuid::new_v4()));
        }
        if model == catalog::TOKEN
            && let Some(key) = fields.get("key").and_then(Value::as_str)
        {
            // Requests are matched on the key's digest.
            names.push("key_digest");
            args.push(Arg::Text(key_digest(key)));
        }
        if model == catalog::INVITATION {
            let single = fields
                .get("single_use")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            names.push("max_uses");
            args.push(Arg::OptInt(single.then_some(1)));
        }
        let mut sql = self.sql(&format!(
            "INSERT INTO {} ({}) VALUES ",
            table.table,
            names.join(", ")
        ));
        sql.arg_list(args);
        sql.push(&format!(" RETURNING {}", table.pk));
        let pk = match pk {
            Some(pk) => {
                self.execute(sql).await?;
                pk
            }
            None => {
                let (id,): (i64,) = self.fetch_one(sql).await?;
                if given.is_some() && self.backend() == Backend::Postgres {
                    // A key given by hand leaves PostgreSQL's identity behind: move it past
                    // the largest key, or the next account would collide with this one.
                    // (SQLite's AUTOINCREMENT follows the largest key by itself.)
                    let advance = self.sql(&format!(
                        "SELECT setval(pg_get_serial_sequence('{0}', '{1}'), (SELECT MAX({1}) FROM {0}))",
                        table.table, table.pk
                    ));
                    self.execute(advance).await?;
                }
                Value::from(id)
            }
        };
        if model == catalog::PROMPT_STAGE
            && let Some(Value::Array(prompts)) = fields.get(PROMPT_FIELDS)
        {
            self.set_prompt_fields(&pk, prompts).await?;
        }
        Ok(pk)
    }

    /// Changes the given fields of an object.
    pub async fn update_object(
        &mut self,
        model: &str,
        pk: &Value,
        fields: &Map<String, Value>,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let table = table(model).ok_or_else(|| unknown(model))?;
        let existing = self
            .find_objects(model, &[("pk".to_owned(), pk.clone())])
            .await?;
        let Some(existing) = existing.into_iter().next() else {
            return Err(StoreError::MissingReference);
        };
        let mut sql = self.sql(&format!(
            "UPDATE {} SET {} = {}",
            table.table, table.pk, table.pk
        ));
        for (field, column, col) in table.columns {
            if let Some(value) = fields.get(*field) {
                sql.push(", ")
                    .push(column)
                    .push(" = ")
                    .arg(column_arg(*col, value)?);
            }
        }
        if table.extra {
            let mut merged = extra_fields(&table, &existing);
            merged.extend(extra_fields(&table, fields));
            sql.push(", extra = ").arg(Value::Object(merged));
        }
        for (column, on_update) in table.stamped {
            if *on_update {
                sql.push(", ").push(column).push(" = ").arg(now);
            }
        }
        if model == catalog::TOKEN
            && let Some(key) = fields.get("key").and_then(Value::as_str)
        {
            sql.push(", key_digest = ").arg(key_digest(key));
        }
        if model == catalog::INVITATION
            && let Some(single) = fields.get("single_use").and_then(Value::as_bool)
        {
            sql.push(", max_uses = ")
                .arg(Arg::OptInt(single.then_some(1)));
        }
        sql.push(" WHERE ")
            .push(table.pk)
            .push(" = ")
            .arg(pk_arg(&table, pk)?);
        self.execute(sql).await?;
        if model == catalog::PROMPT_STAGE
            && let Some(Value::Array(prompts)) = fields.get(PROMPT_FIELDS)
        {
            self.set_prompt_fields(pk, prompts).await?;
        }
        Ok(())
    }

    pub async fn delete_object(&mut self, model: &str, pk: &Value) -> StoreResult<bool> {
        let table = table(model).ok_or_else(|| unknown(model))?;
        if matches!(model, catalog::FLOW | catalog::FLOW_STAGE_BINDING) {
            // Policy bindings point at flows and bindings without a foreign key.
            let sql = self
                .sql("DELETE FROM policy_bindings WHERE target_uuid = ")
                .bind(pk_arg(&table, pk)?);
            self.execute(sql).await?;
            if model == catalog::FLOW {
                let sql = self
                    .sql("DELETE FROM policy_bindings WHERE target_uuid IN (SELECT fsb_uuid FROM flow_stage_bindings WHERE target_uuid = ")
                    .bind(pk_arg(&table, pk)?)
                    .then(")");
                self.execute(sql).await?;
            }
        }
        let sql = self
            .sql(&format!(
                "DELETE FROM {} WHERE {} = ",
                table.table, table.pk
            ))
            .bind(pk_arg(&table, pk)?);
        Ok(self.execute(sql).await? > 0)
    }

    /// Sets how often an invitation may be used (`None`: unlimited).
    pub async fn set_invitation_max_uses(
        &mut self,
        pk: &Value,
        max_uses: Option<i64>,
    ) -> StoreResult<()> {
        let sql = self
            .sql("UPDATE invitations SET max_uses = ")
            .bind(Arg::OptInt(max_uses))
            .then(" WHERE invite_uuid = ")
            .bind(column_arg(Col::Uuid, pk)?);
        self.execute(sql).await?;
        Ok(())
    }

    pub(super) async fn prompt_fields(&mut self, stage: &Value) -> StoreResult<Vec<Value>> {
        let sql = self
            .sql("SELECT prompt_uuid FROM prompt_stage_fields WHERE stage_uuid = ")
            .bind(column_arg(Col::Uuid, stage)?)
            .then(" ORDER BY position");
        let rows: Vec<(crate::types::DbUuid,)> = self.fetch_all(sql).await?;
        Ok(rows
            .into_iter()
            .map(|(u,)| Value::String(u.0.to_string()))
            .collect())
    }

    async fn set_prompt_fields(&mut self, stage: &Value, prompts: &[Value]) -> StoreResult<()> {
        let stage_arg = column_arg(Col::Uuid, stage)?;
        let sql = self
            .sql("DELETE FROM prompt_stage_fields WHERE stage_uuid = ")
            .bind(stage_arg.clone());
        self.execute(sql).await?;
        for (position, prompt) in prompts.iter().enumerate() {
            let sql = self
                .sql("INSERT INTO prompt_stage_fields (stage_uuid, prompt_uuid, position) VALUES (")
                .bind(stage_arg.clone())
                .then(", ")
                .bind(column_arg(Col::Uuid, prompt)?)
                .then(", ")
                .bind(position as i64)
                .then(") ON CONFLICT DO NOTHING");
            self.execute(sql).await?;
        }
        Ok(())
    }
}

/// The fields that are neither columns nor the pk (nor kept elsewhere).
fn extra_fields(table: &Table, fields: &Map<String, Value>) -> Map<String, Value> {
    fields
        .iter()
        .filter(|(k, _)| {
            k.as_str() != "pk"
                && !(table.model == catalog::PROMPT_STAGE && k.as_str() == PROMPT_FIELDS)
                && !table.columns.iter().any(|(f, _, _)| f == k)
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
