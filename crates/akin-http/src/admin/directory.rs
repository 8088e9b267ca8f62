//! The list pages: Directory → Users and Groups, Events → Logs, Flows and Stages → Stages
//! and Prompts (Customization → Policies has a module of its own, with its forms). Each shows the API's list as a table.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use minijinja::context;
use serde_json::{Value, json as json_value};

use super::{AdminSession, ListPage, list_query, page};
use crate::api::core::{groups, users};
use crate::api::{catalog_api, events};
use crate::audit::RequestMeta;
use crate::error::ApiResult;
use crate::extract::{JsonObject, QueryParams};
use crate::pages::template_value;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/if/admin/users/", get(user_list))
        .route("/if/admin/users/{pk}/", get(user_page))
        .route(
            "/if/admin/users/{pk}/deactivate/",
            get(confirm_deactivate).post(deactivate),
        )
        .route("/if/admin/users/{pk}/activate/", post(activate))
        .route("/if/admin/groups/", get(group_list))
        .route("/if/admin/events/", get(event_list))
        .route("/if/admin/stages/", get(stage_list))
        .route("/if/admin/prompts/", get(prompt_list))
}

fn yes_no(value: bool) -> Value {
    Value::from(if value { "yes" } else { "no" })
}

fn text(value: &Value) -> Value {
    match value {
        Value::Null => Value::String(String::new()),
        Value::Bool(true) => Value::String("yes".into()),
        Value::Bool(false) => Value::String("no".into()),
        other => other.clone(),
    }
}

async fn user_list(
    admin: AdminSession,
    State(state): State<AppState>,
    q: QueryParams,
) -> ApiResult<Response> {
    let query = list_query(&q, &["search"], "username");
    let axum::Json(body) = users::list(admin.superuser(), State(state), query).await?;
    let rows = body
        .results
        .iter()
        .map(|u| {
            let href = format!("/if/admin/users/{}/", u.pk);
            vec![
                json_value!({"text": u.username, "href": href}),
                Value::from(u.name.as_str()),
                Value::from(u.email.as_str()),
                yes_no(u.is_active),
                yes_no(u.is_superuser),
                match &u.last_login {
                    Some(time) => json_value!({ "time": time }),
                    None => Value::from("never"),
                },
            ]
        })
        .collect();
    ListPage {
        heading: "Users",
        current: "/if/admin/users/",
        columns: &[
            "Username",
            "Name",
            "Email",
            "Active",
            "Superuser",
            "Last login",
        ],
        rows,
        filters: &[("search", "Search")],
        actions: Vec::new(),
    }
    .render(&admin, &q)
}

async fn user_page(
    admin: AdminSession,
    State(state): State<AppState>,
    Path(pk): Path<String>,
) -> ApiResult<Response> {
    let axum::Json(user) = users::retrieve(admin.superuser(), State(state), Path(pk)).await?;
    let attributes = serde_json::to_string_pretty(&user.attributes).unwrap_or_default();
    let heading = format!("User {}", user.username);
    page(
        &admin,
        "admin/user.html",
        &heading,
        "/if/admin/users/",
        context! { user => template_value(&json_value!(user)), attributes_text => attributes },
    )
}

async fn confirm_deactivate(
    admin: AdminSession,
    State(state): State<AppState>,
    Path(pk): Path<String>,
) -> ApiResult<Response> {
    let axum::Json(user) =
        users::retrieve(admin.superuser(), State(state), Path(pk.clone())).await?;
    let question = format!(
        "Deactivate {}? They are signed out everywhere and cannot log in until activated again.",
        user.username
    );
    page(
        &admin,
        "admin/confirm.html",
        "Deactivate user",
        "/if/admin/users/",
        context! { question => question, action => "Deactivate", back => format!("/if/admin/users/{pk}/") },
    )
}

/// Sets `is_active` through the API's partial update (which records the change).
async fn set_active(
    admin: AdminSession,
    state: AppState,
    meta: RequestMeta,
    pk: String,
    body: &[u8],
    active: bool,
) -> ApiResult<Response> {
    admin.form(body)?;
    let mut change = serde_json::Map::new();
    change.insert("is_active".into(), Value::Bool(active));
    let axum::Json(updated) = users::partial_update(
        admin.superuser(),
        State(state),
        meta,
        Path(pk.clone()),
        JsonObject(change),
    )
    .await?;
    let said = if active {
        format!("Activated {}: they can sign in again.", updated.username)
    } else {
        format!(
            "Deactivated {}: they are signed out and cannot sign in.",
            updated.username
        )
    };
    Ok(super::redirect_with(
        &format!("/if/admin/users/{pk}/"),
        &[super::Notice::Done(said)],
    ))
}

async fn deactivate(
    admin: AdminSession,
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(pk): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    set_active(admin, state, meta, pk, &body, false).await
}

async fn activate(
    admin: AdminSession,
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(pk): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    set_active(admin, state, meta, pk, &body, true).await
}

async fn group_list(
    admin: AdminSession,
    State(state): State<AppState>,
    q: QueryParams,
) -> ApiResult<Response> {
    let query = list_query(&q, &["search"], "name");
    let axum::Json(body) = groups::list(admin.superuser(), State(state), query).await?;
    let rows = body
        .results
        .iter()
        .map(|g| {
            vec![
                Value::from(g.name.as_str()),
                yes_no(g.is_superuser),
                Value::from(g.users.len()),
            ]
        })
        .collect();
    ListPage {
        heading: "Groups",
        current: "/if/admin/groups/",
        columns: &["Name", "Superuser", "Members"],
        rows,
        filters: &[("search", "Search")],
        actions: Vec::new(),
    }
    .render(&admin, &q)
}

/// One line about an event's context: the object it is about, or who, or what it holds;
/// the whole context is shown on demand.
fn event_summary(context: &Value) -> String {
    let model = &context["model"];
    if let Some(kind) = model["model_name"].as_str() {
        let name = model["name"].as_str().unwrap_or_default();
        return format!("{kind} {name}").trim().to_owned();
    }
    for (key, prefix) in [
        ("message", ""),
        ("username", ""),
        ("subject", ""),
        ("error", ""),
        ("auth_method", "with "),
    ] {
        if let Some(text) = context[key].as_str() {
            let mut line: String = prefix.to_owned();
            line.extend(text.chars().take(80));
            if text.chars().count() > 80 {
                line.push('…');
            }
            return line;
        }
    }
    match context.as_object() {
        Some(map) if !map.is_empty() => map.keys().cloned().collect::<Vec<_>>().join(", "),
        _ => "—".to_owned(),
    }
}

/// Newest first; `?action=` filters as the API does.
async fn event_list(
    admin: AdminSession,
    State(state): State<AppState>,
    q: QueryParams,
) -> ApiResult<Response> {
    let query = list_query(&q, &["action", "username"], "-created");
    let axum::Json(body) = events::list(admin.superuser(), State(state), query).await?;
    let rows = body
        .results
        .iter()
        .map(|e| {
            vec![
                json_value!({ "time": e.created }),
                Value::from(e.action.as_str()),
                text(&e.user["username"]),
                Value::from(e.client_ip.clone().unwrap_or_default()),
                json_value!({
                    "summary": event_summary(&e.context),
                    "details": serde_json::to_string_pretty(&e.context).unwrap_or_default(),
                }),
            ]
        })
        .collect();
    ListPage {
        heading: "Logs",
        current: "/if/admin/events/",
        columns: &["When", "Action", "User", "Client IP", "Context"],
        rows,
        filters: &[("action", "Action"), ("username", "User")],
        actions: Vec::new(),
    }
    .render(&admin, &q)
}

async fn stage_list(
    admin: AdminSession,
    State(state): State<AppState>,
    q: QueryParams,
) -> ApiResult<Response> {
    let query = list_query(&q, &["search"], "name");
    let axum::Json(body) = catalog_api::all_stages(admin.superuser(), State(state), query).await?;
    let rows = body
        .results
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
    ListPage {
        heading: "Stages",
        current: "/if/admin/stages/",
        columns: &["Name", "Type", "Used in flows"],
        rows,
        filters: &[("search", "Search")],
        actions: Vec::new(),
    }
    .render(&admin, &q)
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
    let rows = body
        .results
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
    ListPage {
        heading: "Prompts",
        current: "/if/admin/prompts/",
        columns: &["Name", "Field key", "Label", "Type", "Required"],
        rows,
        filters: &[("search", "Search")],
        actions: Vec::new(),
    }
    .render(&admin, &q)
}
