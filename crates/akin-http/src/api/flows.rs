//! `/api/v3/flows/instances/` (looked up by slug): flows in authentik's shape, and the
//! export of a flow as a blueprint. Installations hold tens of flows, so lists are
//! filtered and paged in memory after one read.

use akin_domain::catalog;
use akin_domain::event::{EventAction, ModelRef};
use akin_flow::objects;
use akin_store::FieldMatch;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Map, Value};

use crate::api::openapi::{InputErrors, ListParams, ObjectErrors, ObjectInputErrors};
use crate::api::shapes::{self, Paginated};
use crate::api::shapes::{Flow, UsedBy};
use crate::audit::{self, RequestMeta};
use crate::auth::Superuser;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonObject, QueryParams};
use crate::state::AppState;
use akin_flow::blueprints::export_flow;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/flows/instances/", get(list).post(create))
        .route(
            "/flows/instances/{slug}/",
            get(retrieve)
                .put(update)
                .patch(partial_update)
                .delete(destroy),
        )
        .route("/flows/instances/{slug}/export/", get(export))
        .route("/flows/instances/{slug}/used_by/", get(used_by))
}

fn flow_ref(flow: &Map<String, Value>) -> ModelRef {
    ModelRef {
        app: "authentik_flows",
        model_name: "flow",
        pk: flow["pk"].as_str().unwrap_or_default().to_owned(),
        name: flow["name"].as_str().unwrap_or_default().to_owned(),
    }
}

/// The flow as JSON with the uuids of its bound stages, in order.
async fn render(state: &AppState, flow: &Map<String, Value>) -> ApiResult<shapes::Flow> {
    let mut tx = state.store.db().begin().await?;
    let bindings = tx
        .bindings_in_order(catalog::FLOW_STAGE_BINDING, &flow["pk"])
        .await?;
    let stages: Vec<Value> = bindings.into_iter().map(|b| b["stage"].clone()).collect();
    Ok(shapes::flow(flow, &stages))
}

async fn find(state: &AppState, slug: &str) -> ApiResult<Map<String, Value>> {
    state
        .store
        .flow_by_slug(slug)
        .await?
        .ok_or(ApiError::NotFound("Flow"))
}

#[utoipa::path(get, path = "/api/v3/flows/instances/", operation_id = "flows_instances_list", tag = "flows",
    params(ListParams, ("slug" = Option<String>, Query,), ("name" = Option<String>, Query,),
        ("designation" = Option<akin_domain::flow::options::Designation>, Query,),
        ("flow_uuid" = Option<Uuid>, Query,)),
    responses((status = 200, description = "OK", body = Paginated<Flow>), InputErrors))]
pub(crate) async fn list(
    Superuser(_): Superuser,
    State(state): State<AppState>,
    q: QueryParams,
) -> ApiResult<Json<Paginated<shapes::Flow>>> {
    let query = q.list_query("slug")?;
    let mut filters: Vec<(String, FieldMatch)> = ["slug", "name", "designation", "denied_action"]
        .into_iter()
        .filter_map(|field| Some((field.to_owned(), FieldMatch::Text(q.get(field)?.to_owned()))))
        .collect();
    if let Some(pk) = q.get("flow_uuid") {
        filters.push((
            "pk".to_owned(),
            FieldMatch::Exact(Value::String(pk.to_owned())),
        ));
    }
    let page = state
        .store
        .list_objects(
            catalog::FLOW,
            &filters,
            &query,
            "slug",
            &["name", "slug", "title", "designation"],
        )
        .await?;
    let mut results = Vec::with_capacity(page.results.len());
    for flow in &page.results {
        results.push(render(&state, flow).await?);
    }
    Ok(Json(Paginated::with(page.pagination, results)))
}

#[utoipa::path(get, path = "/api/v3/flows/instances/{slug}/", operation_id = "flows_instances_retrieve",
    tag = "flows", params(("slug" = String, Path,)), responses((status = 200, description = "OK", body = Flow), ObjectErrors))]
pub(crate) async fn retrieve(
    Superuser(_): Superuser,
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> ApiResult<Json<shapes::Flow>> {
    let flow = find(&state, &slug).await?;
    Ok(Json(render(&state, &flow).await?))
}

#[utoipa::path(get, path = "/api/v3/flows/instances/{slug}/used_by/",
    operation_id = "flows_instances_used_by_list", tag = "flows", params(("slug" = String, Path,)),
    responses((status = 200, description = "OK", body = Vec<UsedBy>), ObjectErrors))]
pub(crate) async fn used_by(
    Superuser(_): Superuser,
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> ApiResult<Json<Vec<shapes::UsedBy>>> {
    let flow = find(&state, &slug).await?;
    let referrers = state.store.used_by(catalog::FLOW, &flow["pk"]).await?;
    Ok(Json(shapes::used_by(&referrers)))
}

/// Checks and writes through the engine's one write path (a taken slug is refused as
/// DRF does).
async fn write(
    state: &AppState,
    pk: Option<&Value>,
    JsonObject(body): JsonObject,
    partial: bool,
) -> ApiResult<Value> {
    let spec = catalog::spec(catalog::FLOW).expect("the catalog has flows");
    let mut tx = state.store.db().begin().await?;
    let fields = objects::check(&mut tx, state.expressions.as_ref(), spec, &body, partial).await?;
    let pk = objects::save(&mut tx, spec, pk, &fields, time::OffsetDateTime::now_utc()).await?;
    tx.commit().await?;
    Ok(pk)
}

async fn reread(state: &AppState, pk: &Value) -> ApiResult<Map<String, Value>> {
    let mut tx = state.store.db().begin().await?;
    tx.find_objects(catalog::FLOW, &[("pk".to_owned(), pk.clone())])
        .await?
        .into_iter()
        .next()
        .ok_or(ApiError::NotFound("Flow"))
}

#[utoipa::path(post, path = "/api/v3/flows/instances/", operation_id = "flows_instances_create",
    tag = "flows", request_body = ref("#/components/schemas/FlowRequest"),
    responses((status = 201, description = "Created", body = Flow), InputErrors))]
pub(crate) async fn create(
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    meta: RequestMeta,
    body: JsonObject,
) -> ApiResult<(StatusCode, Json<shapes::Flow>)> {
    let pk = write(&state, None, body, false).await?;
    let flow = reread(&state, &pk).await?;
    audit::record(
        &state,
        &caller,
        &meta,
        EventAction::ModelCreated,
        flow_ref(&flow),
    )
    .await;
    Ok((StatusCode::CREATED, Json(render(&state, &flow).await?)))
}

async fn change(
    state: AppState,
    caller: crate::auth::Caller,
    meta: RequestMeta,
    slug: String,
    body: JsonObject,
    partial: bool,
) -> ApiResult<Json<shapes::Flow>> {
    let existing = find(&state, &slug).await?;
    write(&state, Some(&existing["pk"]), body, partial).await?;
    let flow = reread(&state, &existing["pk"]).await?;
    audit::record(
        &state,
        &caller,
        &meta,
        EventAction::ModelUpdated,
        flow_ref(&flow),
    )
    .await;
    Ok(Json(render(&state, &flow).await?))
}

#[utoipa::path(put, path = "/api/v3/flows/instances/{slug}/", operation_id = "flows_instances_update",
    tag = "flows", params(("slug" = String, Path,)),
    request_body = ref("#/components/schemas/FlowRequest"),
    responses((status = 200, description = "OK", body = Flow), ObjectInputErrors))]
pub(crate) async fn update(
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(slug): Path<String>,
    body: JsonObject,
) -> ApiResult<Json<shapes::Flow>> {
    change(state, caller, meta, slug, body, false).await
}

#[utoipa::path(patch, path = "/api/v3/flows/instances/{slug}/",
    operation_id = "flows_instances_partial_update", tag = "flows", params(("slug" = String, Path,)),
    request_body = ref("#/components/schemas/PatchedFlowRequest"),
    responses((status = 200, description = "OK", body = Flow), ObjectInputErrors))]
pub(crate) async fn partial_update(
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(slug): Path<String>,
    body: JsonObject,
) -> ApiResult<Json<shapes::Flow>> {
    change(state, caller, meta, slug, body, true).await
}

#[utoipa::path(delete, path = "/api/v3/flows/instances/{slug}/", operation_id = "flows_instances_destroy",
    tag = "flows", params(("slug" = String, Path,)),
    responses((status = 204, description = "Deleted"), ObjectErrors))]
pub(crate) async fn destroy(
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(slug): Path<String>,
) -> ApiResult<StatusCode> {
    let flow = find(&state, &slug).await?;
    let mut tx = state.store.db().begin().await?;
    tx.delete_object(catalog::FLOW, &flow["pk"]).await?;
    tx.commit().await?;
    audit::record(
        &state,
        &caller,
        &meta,
        EventAction::ModelDeleted,
        flow_ref(&flow),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// The flow as a blueprint file, downloaded as `<slug>.yaml`.
#[utoipa::path(get, path = "/api/v3/flows/instances/{slug}/export/",
    operation_id = "flows_instances_export_retrieve", tag = "flows", params(("slug" = String, Path,)),
    responses((status = 200, description = "The flow as a blueprint", content_type = "application/yaml", body = String),
        ObjectErrors))]
pub(crate) async fn export(
    Superuser(_): Superuser,
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> ApiResult<Response> {
    let yaml = export_flow(&state.store, &slug)
        .await?
        .ok_or(ApiError::NotFound("Flow"))?;
    let disposition = format!(
        "attachment; filename=\"{}.yaml\"",
        slug.replace(['"', '\\'], "_")
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/yaml; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        yaml,
    )
        .into_response())
}
