//! `/api/v3/managed/blueprints/`: blueprint instances (authentik's `BlueprintInstance`):
//! list, create, retrieve, update, delete, and `apply/`, which applies one now and answers
//! with how it went. Creating or changing an enabled instance applies it; the blueprints
//! folder's watcher applies it again whenever its file changes.

use akin_domain::blueprint_instance::{BlueprintInstance, InstanceFields};
use akin_domain::event::{EventAction, ModelRef};
use akin_store::InstanceFilter;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Map;
use uuid::Uuid;

use crate::api::openapi::{InputErrors, ListParams, ObjectErrors, ObjectInputErrors};
use crate::api::requests::BlueprintInstanceRequest;
use crate::api::shapes::{self, Paginated, UsedBy};
use crate::audit::{self, RequestMeta};
use crate::auth::{Caller, Superuser};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Fields, JsonObject, Mode, QueryParams};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/managed/blueprints/", get(list).post(create))
        .route(
            "/managed/blueprints/{instance_uuid}/",
            get(retrieve)
                .put(update)
                .patch(partial_update)
                .delete(destroy),
        )
        .route("/managed/blueprints/{instance_uuid}/apply/", post(apply))
        .route("/managed/blueprints/{instance_uuid}/used_by/", get(used_by))
}

fn instance_ref(i: &BlueprintInstance) -> ModelRef {
    ModelRef {
        app: "authentik_blueprints",
        model_name: "blueprintinstance",
        pk: i.uuid.to_string(),
        name: i.name.clone(),
    }
}

async fn find(state: &AppState, id: &str) -> ApiResult<BlueprintInstance> {
    let uuid = Uuid::parse_str(id).map_err(|_| ApiError::NotFound("Blueprint Instance"))?;
    state
        .store
        .blueprint_instance(uuid)
        .await?
        .ok_or(ApiError::NotFound("Blueprint Instance"))
}

/// Reads the writable fields over `base` and checks them (path available, content valid).
async fn read_fields(
    state: &AppState,
    body: JsonObject,
    mode: Mode,
    mut base: InstanceFields,
) -> ApiResult<InstanceFields> {
    let mut fields = Fields::new(body, mode);
    if let Some(v) = fields.string("name", true, false) {
        base.name = v;
    }
    if let Some(v) = fields.string("path", false, true) {
        base.path = v;
    }
    if let Some(v) = fields.string("content", false, true) {
        base.content = v;
    }
    if let Some(v) = fields.object("context") {
        base.context = v;
    }
    if let Some(v) = fields.bool("enabled") {
        base.enabled = v;
    }
    fields.finish()?;
    state.check_blueprint_instance(&base).await?;
    Ok(base)
}

#[utoipa::path(get, path = "/api/v3/managed/blueprints/", operation_id = "managed_blueprints_list",
    tag = "managed", params(ListParams, ("name" = Option<String>, Query,), ("path" = Option<String>, Query,)),
    responses((status = 200, description = "OK", body = Paginated<shapes::BlueprintInstance>), InputErrors))]
pub(crate) async fn list(
    Superuser(_): Superuser,
    State(state): State<AppState>,
    q: QueryParams,
) -> ApiResult<Json<Paginated<shapes::BlueprintInstance>>> {
    let filter = InstanceFilter {
        name: q.string("name"),
        path: q.string("path"),
    };
    let query = q.list_query("name")?;
    let page = state
        .store
        .list_blueprint_instances(&filter, &query)
        .await?;
    Ok(Json(Paginated::of(page, |i| {
        shapes::blueprint_instance(&i)
    })))
}

#[utoipa::path(post, path = "/api/v3/managed/blueprints/", operation_id = "managed_blueprints_create",
    tag = "managed", request_body = BlueprintInstanceRequest,
    responses((status = 201, description = "Created", body = shapes::BlueprintInstance), InputErrors))]
pub(crate) async fn create(
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    meta: RequestMeta,
    body: JsonObject,
) -> ApiResult<(StatusCode, Json<shapes::BlueprintInstance>)> {
    let base = InstanceFields {
        name: String::new(),
        path: String::new(),
        content: String::new(),
        context: Map::new(),
        enabled: true,
    };
    let fields = read_fields(&state, body, Mode::Full, base).await?;
    let created = state
        .store
        .create_blueprint_instance(&fields, &serde_json::json!({}))
        .await
        .map_err(ApiError::from_store_write("blueprint instance"))?;
    audit::record(
        &state,
        &caller,
        &meta,
        EventAction::ModelCreated,
        instance_ref(&created),
    )
    .await;
    let applied = state.apply_blueprint_instance(&created).await?;
    Ok((
        StatusCode::CREATED,
        Json(shapes::blueprint_instance(&applied)),
    ))
}

#[utoipa::path(get, path = "/api/v3/managed/blueprints/{instance_uuid}/",
    operation_id = "managed_blueprints_retrieve", tag = "managed", params(("instance_uuid" = Uuid, Path,)),
    responses((status = 200, description = "OK", body = shapes::BlueprintInstance), ObjectErrors))]
pub(crate) async fn retrieve(
    Superuser(_): Superuser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<shapes::BlueprintInstance>> {
    let instance = find(&state, &id).await?;
    Ok(Json(shapes::blueprint_instance(&instance)))
}

async fn write(
    caller: Caller,
    state: AppState,
    meta: RequestMeta,
    id: String,
    body: JsonObject,
    mode: Mode,
) -> ApiResult<Json<shapes::BlueprintInstance>> {
    let existing = find(&state, &id).await?;
    let fields = read_fields(&state, body, mode, InstanceFields::from(&existing)).await?;
    let updated = state
        .store
        .update_blueprint_instance(existing.uuid, &fields)
        .await
        .map_err(ApiError::from_store_write("blueprint instance"))?
        .ok_or(ApiError::NotFound("Blueprint Instance"))?;
    audit::record(
        &state,
        &caller,
        &meta,
        EventAction::ModelUpdated,
        instance_ref(&updated),
    )
    .await;
    let applied = state.apply_blueprint_instance(&updated).await?;
    Ok(Json(shapes::blueprint_instance(&applied)))
}

#[utoipa::path(put, path = "/api/v3/managed/blueprints/{instance_uuid}/",
    operation_id = "managed_blueprints_update", tag = "managed", params(("instance_uuid" = Uuid, Path,)),
    request_body = BlueprintInstanceRequest,
    responses((status = 200, description = "OK", body = shapes::BlueprintInstance), ObjectInputErrors))]
pub(crate) async fn update(
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(id): Path<String>,
    body: JsonObject,
) -> ApiResult<Json<shapes::BlueprintInstance>> {
    write(caller, state, meta, id, body, Mode::Full).await
}

#[utoipa::path(patch, path = "/api/v3/managed/blueprints/{instance_uuid}/",
    operation_id = "managed_blueprints_partial_update", tag = "managed",
    params(("instance_uuid" = Uuid, Path,)),
    request_body = ref("#/components/schemas/PatchedBlueprintInstanceRequest"),
    responses((status = 200, description = "OK", body = shapes::BlueprintInstance), ObjectInputErrors))]
pub(crate) async fn partial_update(
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(id): Path<String>,
    body: JsonObject,
) -> ApiResult<Json<shapes::BlueprintInstance>> {
    write(caller, state, meta, id, body, Mode::Partial).await
}

/// Deletes the instance; what it created stays (as authentik).
#[utoipa::path(delete, path = "/api/v3/managed/blueprints/{instance_uuid}/",
    operation_id = "managed_blueprints_destroy", tag = "managed", params(("instance_uuid" = Uuid, Path,)),
    responses((status = 204, description = "Deleted"), ObjectErrors))]
pub(crate) async fn destroy(
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let instance = find(&state, &id).await?;
    state.store.delete_blueprint_instance(instance.uuid).await?;
    audit::record(
        &state,
        &caller,
        &meta,
        EventAction::ModelDeleted,
        instance_ref(&instance),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Applies the instance now, whether or not its text changed, and answers with how it went.
#[utoipa::path(post, path = "/api/v3/managed/blueprints/{instance_uuid}/apply/",
    operation_id = "managed_blueprints_apply_create", tag = "managed",
    params(("instance_uuid" = Uuid, Path,)),
    responses((status = 200, description = "OK", body = shapes::BlueprintInstance), ObjectErrors))]
pub(crate) async fn apply(
    Superuser(_): Superuser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<shapes::BlueprintInstance>> {
    let instance = find(&state, &id).await?;
    let applied = state.apply_blueprint_instance(&instance).await?;
    Ok(Json(shapes::blueprint_instance(&applied)))
}

/// Nothing refers to an instance: always empty, once it is found.
#[utoipa::path(get, path = "/api/v3/managed/blueprints/{instance_uuid}/used_by/",
    operation_id = "managed_blueprints_used_by_list", tag = "managed",
    params(("instance_uuid" = Uuid, Path,)),
    responses((status = 200, description = "OK", body = Vec<UsedBy>), ObjectErrors))]
pub(crate) async fn used_by(
    Superuser(_): Superuser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<UsedBy>>> {
    find(&state, &id).await?;
    Ok(Json(Vec::new()))
}
