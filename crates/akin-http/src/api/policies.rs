//! `/api/v3/policies/all/`: every policy of every kind with its base fields, and
//! `POST /api/v3/policies/all/{pk}/test/`, which lets an administrator try a policy as a
//! given user with a given context.

use akin_domain::catalog;
use akin_domain::policy::{MAX_TIMEOUT, PolicyRequest};
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::api::catalog_api::{self, render_object};
use crate::api::openapi::{Forbidden, InputErrors, ListParams, ObjectErrors, ObjectInputErrors};
use crate::api::requests::PolicyTestRequest;
use crate::api::shapes::Paginated;
use crate::api::shapes::{PolicyTestResult, TypeCreate};
use crate::audit::RequestMeta;
use crate::auth::Superuser;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonObject, QueryParams};
use crate::format::datetime;
use crate::state::AppState;
use akin_flow::policy;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/policies/all/", get(list))
        .route("/policies/all/types/", get(policy_types))
        .route("/policies/all/{pk}/", get(retrieve))
        .route("/policies/all/{pk}/test/", post(test))
}

/// The kinds of policy there are to create.
#[utoipa::path(get, path = "/api/v3/policies/all/types/", operation_id = "policies_all_types_list",
    tag = "policies", responses((status = 200, description = "OK", body = Vec<TypeCreate>), Forbidden))]
pub(crate) async fn policy_types(_: Superuser) -> Json<Vec<TypeCreate>> {
    Json(catalog_api::types(|spec| spec.is_policy()))
}

/// The fields authentik's polymorphic policy list shows.
const BASE_FIELDS: &[&str] = &[
    "pk",
    "name",
    "execution_logging",
    "component",
    "verbose_name",
    "verbose_name_plural",
    "meta_model_name",
    "bound_to",
];

async fn base(state: &AppState, model: &str, object: Map<String, Value>) -> ApiResult<Value> {
    let mut full = render_object(state, model, object).await?;
    if let Value::Object(map) = &mut full {
        map.retain(|k, _| BASE_FIELDS.contains(&k.as_str()));
    }
    Ok(full)
}

/// A policy of any kind, with its model name.
pub(crate) async fn find(
    state: &AppState,
    pk: &str,
) -> ApiResult<(&'static str, Map<String, Value>)> {
    let pk = uuid::Uuid::parse_str(pk).map_err(|_| ApiError::NotFound("Policy"))?;
    let mut tx = state.store.db().begin().await?;
    tx.find_policies(&[Value::String(pk.to_string())])
        .await?
        .into_iter()
        .next()
        .ok_or(ApiError::NotFound("Policy"))
}

/// Every policy of every kind (by name, searchable, paged), with the base fields only.
#[utoipa::path(get, path = "/api/v3/policies/all/", operation_id = "policies_all_list", tag = "policies",
    params(ListParams, ("name" = Option<String>, Query,)),
    responses((status = 200, description = "OK", body = Paginated<Object>), InputErrors))]
pub(crate) async fn list(
    _: Superuser,
    State(state): State<AppState>,
    q: QueryParams,
) -> ApiResult<Json<Paginated<Value>>> {
    let query = q.list_query("name")?;
    let page = state
        .store
        .list_family(catalog::Family::Policy, q.get("name"), &query)
        .await?;
    let pagination = page.pagination;
    let mut results = Vec::with_capacity(page.results.len());
    for (model, object) in page.results {
        results.push(base(&state, model, object).await?);
    }
    Ok(Json(Paginated::with(pagination, results)))
}

#[utoipa::path(get, path = "/api/v3/policies/all/{policy_uuid}/", operation_id = "policies_all_retrieve",
    tag = "policies", params(("policy_uuid" = Uuid, Path,)), responses((status = 200, description = "OK", body = Object), ObjectErrors))]
pub(crate) async fn retrieve(
    _: Superuser,
    State(state): State<AppState>,
    Path(pk): Path<String>,
) -> ApiResult<Json<Value>> {
    let (model, object) = find(&state, &pk).await?;
    Ok(Json(base(&state, model, object).await?))
}

/// `{"user": pk, "context": {...}}` → `{"passing", "messages", "log_messages"}`.
#[utoipa::path(post, path = "/api/v3/policies/all/{policy_uuid}/test/", operation_id = "policies_all_test_create",
    tag = "policies", params(("policy_uuid" = Uuid, Path,)), request_body = PolicyTestRequest,
    responses((status = 200, description = "OK", body = PolicyTestResult), ObjectInputErrors))]
pub(crate) async fn test(
    _: Superuser,
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(pk): Path<String>,
    JsonObject(body): JsonObject,
) -> ApiResult<Json<PolicyTestResult>> {
    // Read once, typed, before anything else is checked (an unknown policy is a 404).
    let policy = uuid::Uuid::parse_str(&pk).map_err(|_| ApiError::NotFound("Policy"))?;
    let policy = policy::find_policy(&state, policy)
        .await?
        .ok_or(ApiError::NotFound("Policy"))?;
    let user_pk = match body.get("user") {
        Some(Value::Number(n)) if n.is_i64() => n.as_i64().unwrap_or_default(),
        Some(_) => return Err(ApiError::field("user", "A valid integer is required.")),
        None => return Err(ApiError::field("user", "This field is required.")),
    };
    let Some(user) = policy::policy_user(&state, user_pk).await? else {
        return Err(ApiError::field(
            "user",
            format!("Invalid pk \"{user_pk}\" - object does not exist."),
        ));
    };
    let context = match body.get("context") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(context)) => context.clone(),
        Some(_) => {
            return Err(ApiError::field(
                "context",
                "Expected a dictionary of items.",
            ));
        }
    };
    // authentik's test runs the policy with the administrator's own request.
    let request = PolicyRequest {
        user: user.to_value(),
        context,
        http: Some(policy::http_request(&meta)),
    };
    let logger = logger(&policy.kind);
    let verdict = policy::evaluate_policy(&state, &meta, policy, request, MAX_TIMEOUT).await?;
    let mut messages = verdict.messages;
    messages.extend(verdict.error.clone());
    let logs = verdict.log_messages;
    let now = datetime(OffsetDateTime::now_utc());
    let log_messages: Vec<Value> = logs
        .into_iter()
        .map(|line| {
            let (level, event) = match line.split_once(": ") {
                Some((level, event)) if ["debug", "info", "warning", "error"].contains(&level) => {
                    (level.to_owned(), event.to_owned())
                }
                _ => ("info".to_owned(), line),
            };
            json!({
                "timestamp": now,
                "log_level": level,
                "logger": logger,
                "event": event,
                "attributes": {},
            })
        })
        .collect();
    Ok(Json(PolicyTestResult {
        passing: verdict.passing && verdict.error.is_none(),
        messages,
        log_messages,
    }))
}

/// The logger a policy's log lines name, as authentik's packages do.
fn logger(kind: &akin_domain::policy::PolicyKind) -> &'static str {
    use akin_domain::policy::PolicyKind;
    match kind {
        PolicyKind::Expression { .. } => "authentik.policies.expression",
        PolicyKind::Reputation(_) => "authentik.policies.reputation",
        PolicyKind::Password(_) => "authentik.policies.password",
    }
}
