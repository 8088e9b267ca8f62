//! `/api/v3/core/users/`: the user directory, for superusers; `me/` for everyone signed in.

use akin_domain::event::{EventAction, ModelRef};
use akin_domain::user::{NewUser, TimeRange, UserChanges, UserEntry, UserFilter, UserType};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::api::openapi::{Forbidden, InputErrors, ListParams, ObjectErrors, ObjectInputErrors};
use crate::api::requests::{UserPasswordSetRequest, UserRequest};
use crate::api::shapes::{self, Paginated};
use crate::api::shapes::{SessionUser, UsedBy, User};
use crate::audit::{self, RequestMeta};
use crate::auth::{Caller, Superuser};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Fields, JsonObject, Mode, QueryParams};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/core/users/", get(list).post(create))
        .route("/core/users/me/", get(me))
        .route(
            "/core/users/{id}/",
            get(retrieve)
                .put(update)
                .patch(partial_update)
                .delete(destroy),
        )
        .route("/core/users/{id}/set_password/", post(set_password))
        .route("/core/users/{id}/used_by/", get(used_by))
}

fn user_ref(entry: &UserEntry) -> ModelRef {
    ModelRef {
        app: "authentik_core",
        model_name: "user",
        pk: entry.user.pk.to_string(),
        name: entry.user.username.clone(),
    }
}

fn parse_pk(id: &str) -> ApiResult<i64> {
    id.parse().map_err(|_| ApiError::NotFound("User"))
}

/// The user as JSON, with `groups_obj` filled in when `include_groups`.
async fn render(
    state: &AppState,
    entry: &UserEntry,
    include_groups: bool,
) -> ApiResult<shapes::User> {
    let groups = if include_groups {
        let uuids: Vec<Uuid> = entry.groups.iter().map(|g| g.uuid).collect();
        Some(state.store.groups_by_uuid(&uuids).await?)
    } else {
        None
    };
    Ok(shapes::user(entry, &state.install_id, groups.as_deref()))
}

#[utoipa::path(get, path = "/api/v3/core/users/me/", operation_id = "core_users_me_retrieve",
    tag = "core", responses((status = 200, description = "OK", body = SessionUser), Forbidden))]
pub(crate) async fn me(caller: Caller, State(state): State<AppState>) -> Json<shapes::SessionUser> {
    let this = shapes::user_self(&caller.user, &state.install_id, true);
    Json(shapes::SessionUser {
        user: this.clone(),
        original: None,
        users: vec![this],
    })
}

#[utoipa::path(get, path = "/api/v3/core/users/", operation_id = "core_users_list", tag = "core",
    params(ListParams, ("username" = Option<String>, Query,), ("email" = Option<String>, Query,),
        ("is_active" = Option<bool>, Query,), ("include_groups" = Option<bool>, Query,)),
    responses((status = 200, description = "OK", body = Paginated<User>), InputErrors))]
pub(crate) async fn list(
    Superuser(_): Superuser,
    State(state): State<AppState>,
    q: QueryParams,
) -> ApiResult<Json<Paginated<shapes::User>>> {
    let attributes = match q.get("attributes") {
        None => None,
        Some(raw) => match serde_json::from_str::<Value>(raw) {
            Ok(Value::Object(map)) => Some(map),
            _ => {
                return Err(ApiError::field(
                    "attributes",
                    "filter must be a JSON object",
                ));
            }
        },
    };
    let types = q
        .all("type")
        .iter()
        .map(|t| {
            UserType::parse(t).ok_or_else(|| {
                ApiError::field(
                    "type",
                    format!("Select a valid choice. {t} is not one of the available choices."),
                )
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let filter = UserFilter {
        username: q.string("username"),
        name: q.string("name"),
        email: q.string("email"),
        uuid: q.uuid("uuid")?,
        is_active: q.bool("is_active")?,
        is_superuser: q.bool("is_superuser")?,
        path: q.string("path"),
        path_startswith: q.string("path_startswith"),
        types,
        groups_by_name: q.all("groups_by_name"),
        groups_by_pk: q.uuids("groups_by_pk")?,
        attributes,
        date_joined: time_range(&q, "date_joined")?,
        last_login: time_range(&q, "last_login")?,
        last_login_isnull: q.bool("last_login__isnull")?,
        last_updated: time_range(&q, "last_updated")?,
    };
    let include_groups = q.bool("include_groups")?.unwrap_or(true);
    let query = q.list_query("username")?;
    let page = state.store.list_users(&filter, &query).await?;

    // One lookup for every group on the page instead of one per user.
    let groups = if include_groups {
        let mut uuids: Vec<Uuid> = page
            .results
            .iter()
            .flat_map(|e| e.groups.iter().map(|g| g.uuid))
            .collect();
        uuids.sort();
        uuids.dedup();
        state.store.groups_by_uuid(&uuids).await?
    } else {
        Vec::new()
    };
    let body = Paginated::of(page, |entry| {
        let mine: Option<Vec<_>> = include_groups.then(|| {
            groups
                .iter()
                .filter(|g| entry.groups.iter().any(|r| r.uuid == g.uuid))
                .cloned()
                .collect()
        });
        shapes::user(&entry, &state.install_id, mine.as_deref())
    });
    Ok(Json(body))
}

fn time_range(q: &QueryParams, field: &str) -> ApiResult<TimeRange> {
    Ok(TimeRange {
        exact: q.datetime(field)?,
        after: q.datetime(&format!("{field}__gt"))?,
        before: q.datetime(&format!("{field}__lt"))?,
    })
}

/// The user `id` (the path's pk), or 404.
async fn find(state: &AppState, id: &str) -> ApiResult<UserEntry> {
    state
        .store
        .user_by_pk(parse_pk(id)?)
        .await?
        .ok_or(ApiError::NotFound("User"))
}

#[utoipa::path(get, path = "/api/v3/core/users/{id}/", operation_id = "core_users_retrieve",
    tag = "core", params(("id" = i64, Path,)), responses((status = 200, description = "OK", body = User), ObjectErrors))]
pub(crate) async fn retrieve(
    Superuser(_): Superuser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<shapes::User>> {
    let entry = find(&state, &id).await?;
    Ok(Json(render(&state, &entry, true).await?))
}

#[utoipa::path(get, path = "/api/v3/core/users/{id}/used_by/", operation_id = "core_users_used_by_list",
    tag = "core", params(("id" = i64, Path,)), responses((status = 200, description = "OK", body = Vec<UsedBy>), ObjectErrors))]
pub(crate) async fn used_by(
    Superuser(_): Superuser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<shapes::UsedBy>>> {
    let entry = find(&state, &id).await?;
    let referrers = state
        .store
        .used_by(akin_domain::catalog::USER, &Value::from(entry.user.pk))
        .await?;
    Ok(Json(shapes::used_by(&referrers)))
}

/// Reads the writable user fields into `changes`; in `Mode::Full` the required ones must be
/// there.
fn read_user_fields(fields: &mut Fields, changes: &mut UserChanges) {
    if let Some(v) = fields.string("username", true, false) {
        changes.username = v;
    }
    if let Some(v) = fields.string("name", true, true) {
        changes.name = v;
    }
    if let Some(v) = fields.bool("is_active") {
        changes.is_active = v;
    }
    if let Some(v) = fields.datetime("last_login") {
        changes.last_login = v;
    }
    if let Some(v) = fields.uuid_list("groups") {
        changes.groups = Some(v);
    }
    // Roles arrive with RBAC; the list is read so that a malformed one is still refused.
    let _ = fields.uuid_list("roles");
    if let Some(v) = fields.string("email", false, true) {
        changes.email = v;
    }
    if let Some(v) = fields.object("attributes") {
        changes.attributes = Value::Object(v);
    }
    if let Some(v) = fields.string("path", false, false) {
        changes.path = v;
    }
    if let Some(v) = fields.choice("type", UserType::parse) {
        changes.user_type = v;
    }
}

/// Refuses group uuids that name no group, in DRF's words.
async fn check_groups(state: &AppState, groups: Option<&[Uuid]>) -> ApiResult<()> {
    let Some(groups) = groups else { return Ok(()) };
    let found = state.store.groups_by_uuid(groups).await?;
    if let Some(missing) = groups.iter().find(|u| !found.iter().any(|g| g.uuid == **u)) {
        return Err(ApiError::field(
            "groups",
            format!("Invalid pk \"{missing}\" - object does not exist."),
        ));
    }
    Ok(())
}

#[utoipa::path(post, path = "/api/v3/core/users/", operation_id = "core_users_create", tag = "core",
    request_body = UserRequest, responses((status = 201, description = "Created", body = User), InputErrors))]
pub(crate) async fn create(
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    meta: RequestMeta,
    body: JsonObject,
) -> ApiResult<(StatusCode, Json<shapes::User>)> {
    let mut fields = Fields::new(body, Mode::Full);
    let mut changes = UserChanges::from_user(&blank_user());
    read_user_fields(&mut fields, &mut changes);
    fields.finish()?;
    changes.validate()?;
    check_groups(&state, changes.groups.as_deref()).await?;
    let new = NewUser {
        username: changes.username,
        name: changes.name,
        email: changes.email,
        is_active: changes.is_active,
        attributes: changes.attributes,
        path: changes.path,
        user_type: changes.user_type,
        password: None,
    };
    let groups = changes.groups.unwrap_or_default();
    let entry = state
        .store
        .create_user(&new, &groups, OffsetDateTime::now_utc())
        .await
        .map_err(ApiError::from_store_write("user"))?;
    audit::record(
        &state,
        &caller,
        &meta,
        EventAction::ModelCreated,
        user_ref(&entry),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(render(&state, &entry, true).await?),
    ))
}

/// The defaults a new user starts from before the request's fields are applied.
fn blank_user() -> akin_domain::user::User {
    let now = OffsetDateTime::now_utc();
    let new = NewUser::named("");
    akin_domain::user::User {
        pk: 0,
        uuid: Uuid::nil(),
        username: new.username,
        name: new.name,
        email: new.email,
        is_active: new.is_active,
        last_login: None,
        date_joined: now,
        password_change_date: now,
        last_updated: now,
        attributes: new.attributes,
        path: new.path,
        user_type: new.user_type,
        password: None,
    }
}

async fn write(
    caller: Caller,
    state: AppState,
    meta: RequestMeta,
    id: String,
    body: JsonObject,
    mode: Mode,
) -> ApiResult<Json<shapes::User>> {
    let pk = parse_pk(&id)?;
    let existing = state
        .store
        .user_by_pk(pk)
        .await?
        .ok_or(ApiError::NotFound("User"))?;
    let mut fields = Fields::new(body, mode);
    let mut changes = UserChanges::from_user(&existing.user);
    read_user_fields(&mut fields, &mut changes);
    fields.finish()?;
    changes.validate()?;
    check_groups(&state, changes.groups.as_deref()).await?;
    let entry = state
        .store
        .update_user(pk, &changes, OffsetDateTime::now_utc())
        .await
        .map_err(ApiError::from_store_write("user"))?
        .ok_or(ApiError::NotFound("User"))?;
    if existing.user.is_active && !entry.user.is_active {
        // A deactivated account is signed out everywhere, as authentik does.
        state.store.delete_user_sessions(pk).await?;
    }
    audit::record(
        &state,
        &caller,
        &meta,
        EventAction::ModelUpdated,
        user_ref(&entry),
    )
    .await;
    Ok(Json(render(&state, &entry, true).await?))
}

#[utoipa::path(put, path = "/api/v3/core/users/{id}/", operation_id = "core_users_update",
    tag = "core", params(("id" = i64, Path,)), request_body = UserRequest,
    responses((status = 200, description = "OK", body = User), ObjectInputErrors))]
pub(crate) async fn update(
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(id): Path<String>,
    body: JsonObject,
) -> ApiResult<Json<shapes::User>> {
    write(caller, state, meta, id, body, Mode::Full).await
}

#[utoipa::path(patch, path = "/api/v3/core/users/{id}/", operation_id = "core_users_partial_update",
    tag = "core", params(("id" = i64, Path,)), request_body = ref("#/components/schemas/PatchedUserRequest"),
    responses((status = 200, description = "OK", body = User), ObjectInputErrors))]
pub(crate) async fn partial_update(
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(id): Path<String>,
    body: JsonObject,
) -> ApiResult<Json<shapes::User>> {
    write(caller, state, meta, id, body, Mode::Partial).await
}

#[utoipa::path(delete, path = "/api/v3/core/users/{id}/", operation_id = "core_users_destroy",
    tag = "core", params(("id" = i64, Path,)),
    responses((status = 204, description = "Deleted"), ObjectErrors))]
pub(crate) async fn destroy(
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let pk = parse_pk(&id)?;
    let entry = state
        .store
        .user_by_pk(pk)
        .await?
        .ok_or(ApiError::NotFound("User"))?;
    if !state.store.delete_user(pk).await? {
        return Err(ApiError::NotFound("User"));
    }
    audit::record(
        &state,
        &caller,
        &meta,
        EventAction::ModelDeleted,
        user_ref(&entry),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST {"password": "…"}`: sets the password (Argon2id); 204.
#[utoipa::path(post, path = "/api/v3/core/users/{id}/set_password/",
    operation_id = "core_users_set_password_create", tag = "core", params(("id" = i64, Path,)),
    request_body = UserPasswordSetRequest,
    responses((status = 204, description = "Password set"), ObjectInputErrors))]
pub(crate) async fn set_password(
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(id): Path<String>,
    body: JsonObject,
) -> ApiResult<StatusCode> {
    let pk = parse_pk(&id)?;
    let mut fields = Fields::new(body, Mode::Full);
    let password = fields.string("password", true, false);
    fields.finish()?;
    let password = password.unwrap_or_default();
    let entry = state
        .store
        .user_by_pk(pk)
        .await?
        .ok_or(ApiError::NotFound("User"))?;
    let phc = state.hashing.hash(password).await?;
    state
        .store
        .set_password(pk, Some(phc), OffsetDateTime::now_utc())
        .await?;
    audit::record(
        &state,
        &caller,
        &meta,
        EventAction::PasswordSet,
        user_ref(&entry),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
