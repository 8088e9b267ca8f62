//! `/api/v3/core/groups/`: groups, their parents and members, for superusers.

use akin_domain::event::{EventAction, ModelRef};
use akin_domain::group::{GroupEntry, GroupFields, GroupFilter};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;
use uuid::Uuid;

use crate::api::openapi::{InputErrors, ListParams, ObjectErrors, ObjectInputErrors};
use crate::api::requests::{GroupRequest, UserAccountRequest};
use crate::api::shapes::{self, GroupEmbeds, Paginated};
use crate::api::shapes::{Group, UsedBy};
use crate::audit::{self, RequestMeta};
use crate::auth::{Caller, Superuser};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Fields, JsonObject, Mode, QueryParams};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/core/groups/", get(list).post(create))
        .route(
            "/core/groups/{id}/",
            get(retrieve)
                .put(update)
                .patch(partial_update)
                .delete(destroy),
        )
        .route("/core/groups/{id}/add_user/", post(add_user))
        .route("/core/groups/{id}/used_by/", get(used_by))
        .route("/core/groups/{id}/remove_user/", post(remove_user))
}

fn group_ref(entry: &GroupEntry) -> ModelRef {
    ModelRef {
        app: "authentik_core",
        model_name: "group",
        pk: entry.group.uuid.to_string(),
        name: entry.group.name.clone(),
    }
}

fn parse_uuid(id: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(id).map_err(|_| ApiError::NotFound("Group"))
}

/// Which related objects a response embeds (`include_users` defaults on, as in authentik).
#[derive(Clone, Copy)]
struct Includes {
    users: bool,
    parents: bool,
    children: bool,
}

impl Includes {
    fn from_query(q: &QueryParams) -> ApiResult<Self> {
        Ok(Includes {
            users: q.bool("include_users")?.unwrap_or(true),
            parents: q.bool("include_parents")?.unwrap_or(false),
            children: q.bool("include_children")?.unwrap_or(false),
        })
    }

    const SINGLE: Includes = Includes {
        users: true,
        parents: true,
        children: true,
    };
}

async fn render(
    state: &AppState,
    entries: &[GroupEntry],
    inc: Includes,
) -> ApiResult<Vec<shapes::Group>> {
    let mut user_pks: Vec<i64> = Vec::new();
    let mut related: Vec<Uuid> = Vec::new();
    for e in entries {
        if inc.users {
            user_pks.extend(&e.users);
        }
        if inc.parents {
            related.extend(&e.group.parents);
        }
        if inc.children {
            related.extend(&e.children);
        }
    }
    user_pks.sort_unstable();
    user_pks.dedup();
    related.sort_unstable();
    related.dedup();
    let users = state.store.users_by_pk(&user_pks).await?;
    let groups = state.store.groups_by_uuid(&related).await?;
    Ok(entries
        .iter()
        .map(|e| {
            let members: Vec<_> = users
                .iter()
                .filter(|u| e.users.contains(&u.pk))
                .cloned()
                .collect();
            let parents: Vec<_> = groups
                .iter()
                .filter(|g| e.group.parents.contains(&g.uuid))
                .cloned()
                .collect();
            let children: Vec<_> = groups
                .iter()
                .filter(|g| e.children.contains(&g.uuid))
                .cloned()
                .collect();
            let embeds = GroupEmbeds {
                users: inc.users.then_some(members.as_slice()),
                parents: inc.parents.then_some(parents.as_slice()),
                children: inc.children.then_some(children.as_slice()),
            };
            shapes::group(e, &state.install_id, &embeds)
        })
        .collect())
}

async fn render_one(state: &AppState, entry: &GroupEntry) -> ApiResult<Json<shapes::Group>> {
    let mut groups = render(state, std::slice::from_ref(entry), Includes::SINGLE).await?;
    Ok(Json(groups.remove(0)))
}

#[utoipa::path(get, path = "/api/v3/core/groups/", operation_id = "core_groups_list", tag = "core",
    params(ListParams, ("name" = Option<String>, Query,), ("include_users" = Option<bool>, Query,),
        ("include_parents" = Option<bool>, Query,), ("include_children" = Option<bool>, Query,)),
    responses((status = 200, description = "OK", body = Paginated<Group>), InputErrors))]
pub(crate) async fn list(
    Superuser(_): Superuser,
    State(state): State<AppState>,
    q: QueryParams,
) -> ApiResult<Json<Paginated<shapes::Group>>> {
    let filter = GroupFilter {
        name: q.string("name"),
        is_superuser: q.bool("is_superuser")?,
        members_by_pk: q.ints("members_by_pk")?,
        members_by_username: q.all("members_by_username"),
    };
    let includes = Includes::from_query(&q)?;
    let query = q.list_query("name")?;
    let page = state.store.list_groups(&filter, &query).await?;
    let results = render(&state, &page.results, includes).await?;
    Ok(Json(Paginated::with(page.pagination, results)))
}

/// The group `id` (the path's uuid), or 404.
async fn find(state: &AppState, id: &str) -> ApiResult<GroupEntry> {
    state
        .store
        .group(parse_uuid(id)?)
        .await?
        .ok_or(ApiError::NotFound("Group"))
}

#[utoipa::path(get, path = "/api/v3/core/groups/{group_uuid}/", operation_id = "core_groups_retrieve",
    tag = "core", params(("group_uuid" = Uuid, Path,)), responses((status = 200, description = "OK", body = Group), ObjectErrors))]
pub(crate) async fn retrieve(
    Superuser(_): Superuser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<shapes::Group>> {
    let entry = find(&state, &id).await?;
    render_one(&state, &entry).await
}

#[utoipa::path(get, path = "/api/v3/core/groups/{group_uuid}/used_by/",
    operation_id = "core_groups_used_by_list", tag = "core", params(("group_uuid" = Uuid, Path,)),
    responses((status = 200, description = "OK", body = Vec<UsedBy>), ObjectErrors))]
pub(crate) async fn used_by(
    Superuser(_): Superuser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<shapes::UsedBy>>> {
    let entry = find(&state, &id).await?;
    let pk = Value::String(entry.group.uuid.to_string());
    let referrers = state
        .store
        .used_by(akin_domain::catalog::GROUP, &pk)
        .await?;
    Ok(Json(shapes::used_by(&referrers)))
}

/// Reads the writable group fields over `base`; returns the member list if one was given.
async fn read_group(
    state: &AppState,
    body: JsonObject,
    mode: Mode,
    mut base: GroupFields,
) -> ApiResult<(GroupFields, Option<Vec<i64>>)> {
    let mut fields = Fields::new(body, mode);
    if let Some(v) = fields.string("name", true, false) {
        base.name = v;
    }
    if let Some(v) = fields.bool("is_superuser") {
        base.is_superuser = v;
    }
    if let Some(v) = fields.uuid_list("parents") {
        base.parents = v;
    }
    let users = fields.int_list("users");
    let _ = fields.uuid_list("roles");
    if let Some(v) = fields.object("attributes") {
        base.attributes = Value::Object(v);
    }
    fields.finish()?;

    let found = state.store.groups_by_uuid(&base.parents).await?;
    if let Some(missing) = base
        .parents
        .iter()
        .find(|u| !found.iter().any(|g| g.uuid == **u))
    {
        return Err(ApiError::field(
            "parents",
            format!("Invalid pk \"{missing}\" - object does not exist."),
        ));
    }
    if let Some(users) = &users {
        let found = state.store.users_by_pk(users).await?;
        if let Some(missing) = users.iter().find(|pk| !found.iter().any(|u| u.pk == **pk)) {
            return Err(ApiError::field(
                "users",
                format!("Invalid pk \"{missing}\" - object does not exist."),
            ));
        }
    }
    Ok((base, users))
}

#[utoipa::path(post, path = "/api/v3/core/groups/", operation_id = "core_groups_create", tag = "core",
    request_body = GroupRequest, responses((status = 201, description = "Created", body = Group), InputErrors))]
pub(crate) async fn create(
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    meta: RequestMeta,
    body: JsonObject,
) -> ApiResult<(StatusCode, Json<shapes::Group>)> {
    let (fields, users) = read_group(&state, body, Mode::Full, GroupFields::named("")).await?;
    let entry = state
        .store
        .create_group(&fields, &users.unwrap_or_default())
        .await?;
    audit::record(
        &state,
        &caller,
        &meta,
        EventAction::ModelCreated,
        group_ref(&entry),
    )
    .await;
    Ok((StatusCode::CREATED, render_one(&state, &entry).await?))
}

async fn write(
    caller: Caller,
    state: AppState,
    meta: RequestMeta,
    id: String,
    body: JsonObject,
    mode: Mode,
) -> ApiResult<Json<shapes::Group>> {
    let uuid = parse_uuid(&id)?;
    let existing = state
        .store
        .group(uuid)
        .await?
        .ok_or(ApiError::NotFound("Group"))?;
    let base = GroupFields {
        name: existing.group.name,
        is_superuser: existing.group.is_superuser,
        attributes: existing.group.attributes,
        parents: existing.group.parents,
    };
    let (fields, users) = read_group(&state, body, mode, base).await?;
    let entry = state
        .store
        .update_group(uuid, &fields, users.as_deref())
        .await?
        .ok_or(ApiError::NotFound("Group"))?;
    audit::record(
        &state,
        &caller,
        &meta,
        EventAction::ModelUpdated,
        group_ref(&entry),
    )
    .await;
    render_one(&state, &entry).await
}

#[utoipa::path(put, path = "/api/v3/core/groups/{group_uuid}/", operation_id = "core_groups_update",
    tag = "core", params(("group_uuid" = Uuid, Path,)), request_body = GroupRequest,
    responses((status = 200, description = "OK", body = Group), ObjectInputErrors))]
pub(crate) async fn update(
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(id): Path<String>,
    body: JsonObject,
) -> ApiResult<Json<shapes::Group>> {
    write(caller, state, meta, id, body, Mode::Full).await
}

#[utoipa::path(patch, path = "/api/v3/core/groups/{group_uuid}/",
    operation_id = "core_groups_partial_update", tag = "core", params(("group_uuid" = Uuid, Path,)),
    request_body = ref("#/components/schemas/PatchedGroupRequest"), responses((status = 200, description = "OK", body = Group), ObjectInputErrors))]
pub(crate) async fn partial_update(
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(id): Path<String>,
    body: JsonObject,
) -> ApiResult<Json<shapes::Group>> {
    write(caller, state, meta, id, body, Mode::Partial).await
}

#[utoipa::path(delete, path = "/api/v3/core/groups/{group_uuid}/", operation_id = "core_groups_destroy",
    tag = "core", params(("group_uuid" = Uuid, Path,)),
    responses((status = 204, description = "Deleted"), ObjectErrors))]
pub(crate) async fn destroy(
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let uuid = parse_uuid(&id)?;
    let entry = state
        .store
        .group(uuid)
        .await?
        .ok_or(ApiError::NotFound("Group"))?;
    if !state.store.delete_group(uuid).await? {
        return Err(ApiError::NotFound("Group"));
    }
    audit::record(
        &state,
        &caller,
        &meta,
        EventAction::ModelDeleted,
        group_ref(&entry),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Reads `{"pk": <user pk>}` and checks both the group and the user exist.
async fn membership_target(
    state: &AppState,
    id: &str,
    body: JsonObject,
) -> ApiResult<(GroupEntry, i64)> {
    let uuid = parse_uuid(id)?;
    let mut fields = Fields::new(body, Mode::Full);
    let pk = fields.int("pk", true);
    fields.finish()?;
    let pk = pk.unwrap_or_default();
    let group = state
        .store
        .group(uuid)
        .await?
        .ok_or(ApiError::NotFound("Group"))?;
    if state.store.users_by_pk(&[pk]).await?.is_empty() {
        return Err(ApiError::NotFound("User"));
    }
    Ok((group, pk))
}

#[utoipa::path(post, path = "/api/v3/core/groups/{group_uuid}/add_user/",
    operation_id = "core_groups_add_user_create", tag = "core", params(("group_uuid" = Uuid, Path,)),
    request_body = UserAccountRequest,
    responses((status = 204, description = "Added"), ObjectInputErrors))]
pub(crate) async fn add_user(
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(id): Path<String>,
    body: JsonObject,
) -> ApiResult<StatusCode> {
    let (group, pk) = membership_target(&state, &id, body).await?;
    state.store.add_group_member(group.group.uuid, pk).await?;
    audit::record(
        &state,
        &caller,
        &meta,
        EventAction::ModelUpdated,
        group_ref(&group),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v3/core/groups/{group_uuid}/remove_user/",
    operation_id = "core_groups_remove_user_create", tag = "core", params(("group_uuid" = Uuid, Path,)),
    request_body = UserAccountRequest,
    responses((status = 204, description = "Removed"), ObjectInputErrors))]
pub(crate) async fn remove_user(
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(id): Path<String>,
    body: JsonObject,
) -> ApiResult<StatusCode> {
    let (group, pk) = membership_target(&state, &id, body).await?;
    state
        .store
        .remove_group_member(group.group.uuid, pk)
        .await?;
    audit::record(
        &state,
        &caller,
        &meta,
        EventAction::ModelUpdated,
        group_ref(&group),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
