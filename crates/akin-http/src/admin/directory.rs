//! The list pages: Directory → Users and Groups, Events → Logs, Customization → Policies,
//! Flows and Stages → Stages and Prompts. Each shows the API's list as a table.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use minijinja::context;
use serde_json::{Value, json as json_value};

use super::{AdminSession, json, page, results};
use crate::api::core::{groups, users};
use crate::api::{catalog_api, events, policies};
use crate::error::ApiResult;
use crate::extract::QueryParams;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/if/admin/users/", get(user_list))
        .route("/if/admin/groups/", get(group_list))
        .route("/if/admin/events/", get(event_list))
        .route("/if/admin/policies/", get(policy_list))
        .route("/if/admin/stages/", get(stage_list))
        .route("/if/admin/prompts/", get(prompt_list))
}

/// The page's own `search` (and other list filters) passed on to the API, first page of up
/// to 100.
fn list_query(q: &QueryParams, keys: &[&str], ordering: &str) -> QueryParams {
    let mut pairs: Vec<(String, String)> = keys
        .iter()
        .filter_map(|k| q.get(k).map(|v| ((*k).to_owned(), v.to_owned())))
        .collect();
    pairs.push(("page_size".into(), "100".into()));
    if !ordering.is_empty() {
        pairs.push(("ordering".into(), ordering.into()));
    }
    QueryParams::from_pairs(pairs)
}

fn text(value: &Value) -> Value {
    match value {
        Value::Null => Value::String(String::new()),
        Value::Bool(true) => Value::String("yes".into()),
        Value::Bool(false) => Value::String("no".into()),
        other => other.clone(),
    }
}

fn table(
    admin: &AdminSession,
    heading: &str,
    current: &str,
    columns: &[&str],
    rows: Vec<Vec<Value>>,
    search: Option<&str>,
) -> ApiResult<Response> {
    let rows = Value::Array(rows.into_iter().map(Value::Array).collect());
    let ctx = match search {
        Some(search) => context! {
            columns => columns.iter().map(|c| (*c).to_owned()).collect::<Vec<String>>(), rows => json(&rows), search => search.to_owned(),
        },
        None => {
            context! { columns => columns.iter().map(|c| (*c).to_owned()).collect::<Vec<String>>(), rows => json(&rows) }
        }
    };
    page(admin, "admin/table.html", heading, current, ctx)
}

async fn user_list(
    admin: AdminSession,
    State(state): State<AppState>,
    q: QueryParams,
) -> ApiResult<Response> {
    let query = list_query(&q, &["search"], "username");
    let axum::Json(body) = users::list(admin.superuser(), State(state), query).await?;
    let rows = results(body)
        .iter()
        .map(|u| {
            vec![
                text(&u["username"]),
                text(&u["name"]),
                text(&u["email"]),
                text(&u["is_active"]),
                text(&u["is_superuser"]),
                text(&u["last_login"]),
            ]
        })
        .collect();
    table(
        &admin,
        "Users",
        "/if/admin/users/",
        &[
            "Username",
            "Name",
            "Email",
            "Active",
            "Superuser",
            "Last login",
        ],
        rows,
        Some(q.get("search").unwrap_or_default()),
    )
}

async fn group_list(
    admin: AdminSession,
    State(state): State<AppState>,
    q: QueryParams,
) -> ApiResult<Response> {
    let query = list_query(&q, &["search"], "name");
    let axum::Json(body) = groups::list(admin.superuser(), State(state), query).await?;
    let rows = results(body)
        .iter()
        .map(|g| {
            let members = g["users"].as_array().map_or(0, Vec::len);
            vec![
                text(&g["name"]),
                text(&g["is_superuser"]),
                Value::from(members),
            ]
        })
        .collect();
    table(
        &admin,
        "Groups",
        "/if/admin/groups/",
        &["Name", "Superuser", "Members"],
        rows,
        Some(q.get("search").unwrap_or_default()),
    )
}

/// Newest first; `?action=` filters as the API does.
async fn event_list(
    admin: AdminSession,
    State(state): State<AppState>,
    q: QueryParams,
) -> ApiResult<Response> {
    let query = list_query(&q, &["action", "username"], "-created");
    let axum::Json(body) = events::list(admin.superuser(), State(state), query).await?;
    let rows = results(body)
        .iter()
        .map(|e| {
            vec![
                text(&e["created"]),
                text(&e["action"]),
                text(&e["user"]["username"]),
                text(&e["client_ip"]),
                Value::String(e["context"].to_string()),
            ]
        })
        .collect();
    table(
        &admin,
        "Logs",
        "/if/admin/events/",
        &["When", "Action", "User", "Client IP", "Context"],
        rows,
        None,
    )
}

async fn policy_list(
    admin: AdminSession,
    State(state): State<AppState>,
    q: QueryParams,
) -> ApiResult<Response> {
    let query = list_query(&q, &["search"], "name");
    let axum::Json(body) = policies::list(admin.superuser(), State(state), query).await?;
    let rows = results(body)
        .iter()
        .map(|p| {
            vec![
                text(&p["name"]),
                text(&p["verbose_name"]),
                text(&p["bound_to"]),
            ]
        })
        .collect();
    table(
        &admin,
        "Policies",
        "/if/admin/policies/",
        &["Name", "Type", "Bindings"],
        rows,
        Some(q.get("search").unwrap_or_default()),
    )
}

async fn stage_list(
    admin: AdminSession,
    State(state): State<AppState>,
    q: QueryParams,
) -> ApiResult<Response> {
    let query = list_query(&q, &["search"], "name");
    let axum::Json(body) = catalog_api::all_stages(admin.superuser(), State(state), query).await?;
    let rows = results(body)
        .iter()
        .map(|s| {
            let flows: Vec<String> = s["flow_set"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f["slug"].as_str().map(str::to_owned))
                .collect();
            vec![
                text(&s["name"]),
                text(&s["verbose_name"]),
                json_value!(flows.join(", ")),
            ]
        })
        .collect();
    table(
        &admin,
        "Stages",
        "/if/admin/stages/",
        &["Name", "Type", "Used in flows"],
        rows,
        Some(q.get("search").unwrap_or_default()),
    )
}

async fn prompt_list(
    admin: AdminSession,
    State(state): State<AppState>,
    q: QueryParams,
) -> ApiResult<Response> {
    let endpoint = catalog_api::endpoint_for(akin_domain::catalog::PROMPT);
    let query = list_query(&q, &["search"], "name");
    let axum::Json(body) =
        catalog_api::list(endpoint, admin.superuser(), State(state), query).await?;
    let rows = results(body)
        .iter()
        .map(|p| {
            vec![
                text(&p["name"]),
                text(&p["field_key"]),
                text(&p["label"]),
                text(&p["type"]),
                text(&p["required"]),
            ]
        })
        .collect();
    table(
        &admin,
        "Prompts",
        "/if/admin/prompts/",
        &["Name", "Field key", "Label", "Type", "Required"],
        rows,
        Some(q.get("search").unwrap_or_default()),
    )
}
