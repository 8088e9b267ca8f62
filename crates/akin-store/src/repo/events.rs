//! The audit log.

use akin_domain::event::{Event, EventFilter};
use akin_domain::list::{ListQuery, Page};
use sqlx::types::Json;
use uuid::Uuid;

use super::{Listing, Store, Where};
use crate::db::Backend;
use crate::error::StoreResult;
use crate::types::{DbTime, DbUuid};

const EVENT_SELECT: &str = "e.event_uuid, e.user_json, e.action, e.app, e.context, e.client_ip, e.created, e.expires, e.brand";

const EVENT_SORTABLE: &[(&str, &str)] = &[
    ("created", "e.created"),
    ("action", "e.action"),
    ("app", "e.app"),
    ("client_ip", "e.client_ip"),
];

#[derive(sqlx::FromRow)]
struct EventRow {
    event_uuid: DbUuid,
    user_json: Json<serde_json::Value>,
    action: String,
    app: String,
    context: Json<serde_json::Value>,
    client_ip: Option<String>,
    created: DbTime,
    expires: DbTime,
    brand: Json<serde_json::Value>,
}

/// `INSERT INTO events …` for `event`, appended to `sql` (empty: the statement alone).
fn insert_sql(sql: crate::db::Sql, event: &Event) -> crate::db::Sql {
    sql.then(
        "INSERT INTO events (event_uuid, user_json, action, app, context, client_ip, \
         created, expires, brand) VALUES (",
    )
    .bind(event.uuid)
    .then(", ")
    .bind(event.user.clone())
    .then(", ")
    .bind(event.action.clone())
    .then(", ")
    .bind(event.app.clone())
    .then(", ")
    .bind(event.context.clone())
    .then(", ")
    .bind(event.client_ip.clone())
    .then(", ")
    .bind(event.created)
    .then(", ")
    .bind(event.expires)
    .then(", ")
    .bind(event.brand.clone())
    .then(")")
}

impl crate::db::Tx {
    /// Records `event` in this transaction: it exists exactly when the change it tells of.
    pub async fn record_event(&mut self, event: &Event) -> StoreResult<()> {
        let sql = insert_sql(self.sql(""), event);
        self.execute(sql).await?;
        Ok(())
    }
}

impl From<EventRow> for Event {
    fn from(row: EventRow) -> Self {
        Event {
            uuid: row.event_uuid.0,
            user: row.user_json.0,
            action: row.action,
            app: row.app,
            context: row.context.0,
            client_ip: row.client_ip,
            created: row.created.0,
            expires: row.expires.0,
            brand: row.brand.0,
        }
    }
}

impl Store {
    pub async fn record_event(&self, event: &Event) -> StoreResult<()> {
        self.db()
            .execute(insert_sql(self.db().sql(""), event))
            .await?;
        Ok(())
    }

    pub async fn event(&self, uuid: Uuid) -> StoreResult<Option<Event>> {
        let sql = self
            .db()
            .sql("SELECT ")
            .then(EVENT_SELECT)
            .then(" FROM events e WHERE e.event_uuid = ")
            .bind(uuid);
        Ok(self
            .db()
            .fetch_optional::<EventRow>(sql)
            .await?
            .map(Into::into))
    }

    pub async fn list_events(
        &self,
        filter: &EventFilter,
        query: &ListQuery,
    ) -> StoreResult<Page<Event>> {
        let backend = self.db().backend();
        let listing = Listing {
            prefix: "",
            select: EVENT_SELECT,
            from: "events e",
            sortable: EVENT_SORTABLE,
            default_order: "e.created DESC",
            tiebreak: "e.event_uuid ASC",
            page_by_key: None,
        };
        let page: Page<EventRow> = self
            .list_page(&listing, query, |w| {
                event_filters(w, backend, filter, query.search.as_deref())
            })
            .await?;
        Ok(page.map(Into::into))
    }
}

/// A text field inside a JSON column, in each backend's JSON syntax. `path` is a fixed list
/// of keys from this file, never user input.
fn json_text(backend: Backend, column: &str, path: &[&str]) -> String {
    match backend {
        Backend::Sqlite => format!("json_extract({column}, '$.{}')", path.join(".")),
        Backend::Postgres => {
            let (last, init) = path.split_last().expect("a JSON path has at least one key");
            let mut expr = column.to_owned();
            for key in init {
                expr.push_str(&format!("->'{key}'"));
            }
            format!("({expr}->>'{last}')")
        }
    }
}

fn event_filters(w: &mut Where<'_>, backend: Backend, f: &EventFilter, search: Option<&str>) {
    w.eq("e.action", f.action.clone());
    if !f.actions.is_empty() {
        w.and()
            .push("e.action IN ")
            .arg_list(f.actions.iter().cloned());
    }
    w.eq("e.client_ip", f.client_ip.clone());
    w.eq(
        &json_text(backend, "e.user_json", &["username"]),
        f.username.clone(),
    );
    w.eq(
        &json_text(backend, "e.context", &["model", "app"]),
        f.context_model_app.clone(),
    );
    w.eq(
        &json_text(backend, "e.context", &["model", "model_name"]),
        f.context_model_name.clone(),
    );
    w.eq(
        &json_text(backend, "e.context", &["model", "pk"]),
        f.context_model_pk.clone(),
    );
    let username = json_text(backend, "e.user_json", &["username"]);
    w.search(&["e.action", "e.app", "e.client_ip", &username], search);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_paths_per_backend() {
        assert_eq!(
            json_text(Backend::Sqlite, "e.context", &["model", "app"]),
            "json_extract(e.context, '$.model.app')"
        );
        assert_eq!(
            json_text(Backend::Postgres, "e.context", &["model", "app"]),
            "(e.context->'model'->>'app')"
        );
    }
}
