//! Lists of catalog objects (flows, stages, prompts, bindings, policies) filtered, ordered
//! and paged in the database, with the count DRF's pagination needs: a page costs the same
//! whether a table holds ten rows or a million.

use akin_domain::catalog::{self, FieldType};
use akin_domain::list::{ListQuery, Page};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::objects::{
    Col, ObjectRow, PROMPT_FIELDS, Table, column_arg, normalise, push_extra_equals, select_columns,
    table, unknown,
};
use super::{Listing, Store, Where};
use crate::db::{Arg, Backend};
use crate::error::StoreResult;

/// How a list filter matches one field.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldMatch {
    /// Equal as text, ignoring case (names, slugs, choices).
    Text(String),
    /// Equal to this value, typed as the field is (booleans, numbers, references).
    Exact(Value),
    /// A list field (a prompt stage's prompts, a stage's user fields) holding this item.
    Contains(Value),
}

/// Where a field lives in its table, as SQL.
struct FieldSql {
    /// The value as text or a scalar (for comparing).
    value: String,
    /// The value for ordering (numbers as numbers).
    order: String,
    /// The column's type, when the field has a column of its own.
    column: Option<Col>,
}

fn field_sql(backend: Backend, table: &Table, field: &str) -> Option<FieldSql> {
    if field == "pk" {
        let col = if table.int_pk { Col::Int } else { Col::Uuid };
        return Some(FieldSql {
            value: table.pk.to_owned(),
            order: table.pk.to_owned(),
            column: Some(col),
        });
    }
    if let Some((_, column, col)) = table.columns.iter().find(|(f, _, _)| *f == field) {
        return Some(FieldSql {
            value: (*column).to_owned(),
            order: (*column).to_owned(),
            column: Some(*col),
        });
    }
    // Keys of `extra` are catalog field names; anything else never reaches SQL text.
    if !table.extra || !field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    Some(match backend {
        Backend::Sqlite => FieldSql {
            value: format!("json_extract(extra, '$.{field}')"),
            order: format!("json_extract(extra, '$.{field}')"),
            column: None,
        },
        Backend::Postgres => FieldSql {
            value: format!("(extra->>'{field}')"),
            order: format!("(extra->'{field}')"),
            column: None,
        },
    })
}

/// One filter as SQL with its argument, checked before any SQL is written (a value that
/// cannot be the field's, such as a malformed uuid, matches nothing).
enum Condition {
    Text(String, String),
    Column(String, Arg),
    JsonEquals(String, Value),
    PromptOf(Arg),
    JsonArrayHolds(String, String),
    Nothing,
}

fn condition(backend: Backend, table: &Table, field: &str, matches: &FieldMatch) -> Condition {
    let Some(sql) = field_sql(backend, table, field) else {
        return Condition::Nothing;
    };
    match matches {
        FieldMatch::Text(text) => Condition::Text(sql.value, text.to_lowercase()),
        FieldMatch::Exact(value) => match sql.column {
            Some(col) => match column_arg(col, value) {
                Ok(arg) => Condition::Column(sql.value, arg),
                Err(_) => Condition::Nothing,
            },
            None => Condition::JsonEquals(field.to_owned(), value.clone()),
        },
        FieldMatch::Contains(item) => {
            if table.model == catalog::PROMPT_STAGE && field == PROMPT_FIELDS {
                return match column_arg(Col::Uuid, item) {
                    Ok(arg) => Condition::PromptOf(arg),
                    Err(_) => Condition::Nothing,
                };
            }
            let text = item
                .as_str()
                .map_or_else(|| item.to_string(), str::to_owned);
            if sql.column.is_some() {
                return Condition::Nothing;
            }
            Condition::JsonArrayHolds(field.to_owned(), text)
        }
    }
}

fn write_condition(w: &mut Where<'_>, backend: Backend, table: &Table, condition: &Condition) {
    let sql = w.and();
    match condition {
        Condition::Text(expr, text) => {
            sql.push("LOWER(CAST(")
                .push(expr)
                .push(" AS TEXT)) = ")
                .arg(text.clone());
        }
        Condition::Column(column, arg) => {
            sql.push(column).push(" = ").arg(arg.clone());
        }
        Condition::JsonEquals(field, value) => push_extra_equals(sql, backend, field, value),
        Condition::PromptOf(prompt) => {
            sql.push(table.pk)
                .push(" IN (SELECT stage_uuid FROM prompt_stage_fields WHERE prompt_uuid = ")
                .arg(prompt.clone())
                .push(")");
        }
        Condition::JsonArrayHolds(field, item) => match backend {
            Backend::Sqlite => {
                sql.push(&format!(
                    "EXISTS (SELECT 1 FROM json_each(extra, '$.{field}') WHERE json_each.value = "
                ))
                .arg(item.clone())
                .push(")");
            }
            Backend::Postgres => {
                sql.push(&format!("jsonb_exists(extra->'{field}', "))
                    .arg(item.clone())
                    .push(")");
            }
        },
        Condition::Nothing => {
            sql.push("1 = 0");
        }
    }
}

impl Store {
    /// A page of `model`'s objects matching every filter and, with `query.search`, one of
    /// whose `search` fields contains it (ignoring case); ordered by `query.ordering`
    /// (catalog fields), else by `default_order`, then by primary key.
    pub async fn list_objects(
        &self,
        model: &str,
        filters: &[(String, FieldMatch)],
        query: &ListQuery,
        default_order: &str,
        search: &[&str],
    ) -> StoreResult<Page<Map<String, Value>>> {
        let table = table(model).ok_or_else(|| unknown(model))?;
        let backend = self.db().backend();
        let spec = catalog::spec(model);
        // Ordering by any catalog field; list fields and objects do not order.
        let sortable: Vec<(String, String)> = spec
            .into_iter()
            .flat_map(|spec| spec.fields.iter())
            .filter(|f| {
                !matches!(
                    f.ty,
                    FieldType::Object | FieldType::RefList(_) | FieldType::TextList
                )
            })
            .map(|f| f.name)
            .chain(["pk"])
            .filter_map(|name| Some((name.to_owned(), field_sql(backend, &table, name)?.order)))
            .collect();
        let sortable: Vec<(&str, &str)> = sortable
            .iter()
            .map(|(name, expr)| (name.as_str(), expr.as_str()))
            .collect();
        let default_order = sortable
            .iter()
            .find(|(name, _)| *name == default_order)
            .map_or(table.pk, |(_, expr)| expr);
        let conditions: Vec<Condition> = filters
            .iter()
            .map(|(field, matches)| condition(backend, &table, field, matches))
            .collect();
        let searched: Vec<String> = search
            .iter()
            .filter_map(|field| field_sql(backend, &table, field))
            .map(|f| f.value)
            .collect();
        let searched: Vec<&str> = searched.iter().map(String::as_str).collect();
        let select = select_columns(backend, &table);
        let listing = Listing {
            prefix: "",
            select: &select,
            from: table.table,
            sortable: &sortable,
            default_order,
            tiebreak: table.pk,
            page_by_key: None,
        };
        let page: Page<ObjectRow> = self
            .list_page(&listing, query, |w| {
                if let Some(kind) = table.kind {
                    w.eq("kind", Some(kind));
                }
                for condition in &conditions {
                    write_condition(w, backend, &table, condition);
                }
                if searched.is_empty() {
                    // Objects with nothing to search match no search, as authentik's.
                    if query
                        .search
                        .as_deref()
                        .is_some_and(|s| !s.trim().is_empty())
                    {
                        w.and().push("1 = 0");
                    }
                } else {
                    w.search(&searched, query.search.as_deref());
                }
            })
            .await?;
        let mut results: Vec<Map<String, Value>> = page
            .results
            .into_iter()
            .map(|row| normalise(&table, row))
            .collect();
        if table.model == catalog::PROMPT_STAGE {
            let mut tx = self.db().begin().await?;
            for object in &mut results {
                let fields = tx.prompt_fields(&object["pk"]).await?;
                object.insert(PROMPT_FIELDS.to_owned(), Value::Array(fields));
            }
        }
        Ok(Page {
            pagination: page.pagination,
            results,
        })
    }
}

impl Store {
    /// A page of every object of `family` (every stage, every policy), whatever its kind,
    /// each with its model name: named `name` when given, whose name contains
    /// `query.search`, by name (descending when the first ordering key is `-name`), then by
    /// primary key.
    pub async fn list_family(
        &self,
        family: catalog::Family,
        name: Option<&str>,
        query: &ListQuery,
    ) -> StoreResult<Page<(&'static str, Map<String, Value>)>> {
        let Some(shared) = super::tables::family_table(family) else {
            return Err(unknown(&format!("{family:?}")));
        };
        let backend = self.db().backend();
        // Only the page's keys come from the listing; the objects themselves are read with
        // one query per kind on that page.
        let select = match backend {
            Backend::Sqlite => format!(
                "json_object('pk', {}) AS object, '{{}}' AS extra",
                shared.pk
            ),
            Backend::Postgres => format!(
                "jsonb_build_object('pk', {}) AS object, '{{}}'::jsonb AS extra",
                shared.pk
            ),
        };
        let listing = Listing {
            prefix: "",
            select: &select,
            from: shared.table,
            sortable: &[("name", "name")],
            default_order: "name",
            tiebreak: shared.pk,
            page_by_key: None,
        };
        let page: Page<ObjectRow> = self
            .list_page(&listing, query, |w| {
                w.eq("name", name.map(str::to_owned));
                w.search(&["name"], query.search.as_deref());
            })
            .await?;
        let pks: Vec<Value> = page
            .results
            .into_iter()
            .map(|row| row.object.0["pk"].clone())
            .collect();
        let mut tx = self.db().begin().await?;
        let mut found = tx.find_members(family, &pks).await?;
        // Keys compared as uuids: the listing and the objects may spell them differently.
        let uuid = |pk: Option<&Value>| {
            pk.and_then(Value::as_str)
                .and_then(|p| Uuid::parse_str(p).ok())
        };
        let order: std::collections::HashMap<Uuid, usize> = pks
            .iter()
            .enumerate()
            .filter_map(|(i, pk)| Some((uuid(Some(pk))?, i)))
            .collect();
        let position = |object: &Map<String, Value>| {
            uuid(object.get("pk"))
                .and_then(|pk| order.get(&pk).copied())
                .unwrap_or(usize::MAX)
        };
        found.sort_by_key(|(_, object)| position(object));
        Ok(Page {
            pagination: page.pagination,
            results: found,
        })
    }
}
