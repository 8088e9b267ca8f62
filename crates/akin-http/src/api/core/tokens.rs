//! `/api/v3/core/tokens/`: API and other tokens, for superusers. Keys are only ever shown
//! by `view_key/`, which is itself recorded in the audit log.

use std::collections::HashMap;

use akin_domain::event::{EventAction, ModelRef};
use akin_domain::token::{Token, TokenFields, TokenFilter, TokenIntent, generate_key};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use time::OffsetDateTime;

use crate::api::openapi::{InputErrors, ListParams, ObjectErrors, ObjectInputErrors};
use crate::api::requests::{TokenRequest, TokenSetKeyRequest};
use crate::api::shapes::{self, Paginated};
use crate::api::shapes::{Token as TokenShape, TokenView, UsedBy};
use crate::audit::{self, RequestMeta};
use crate::auth::{Caller, Superuser};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Fields, JsonObject, Mode, QueryParams};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/core/tokens/", get(list).post(create))
        .route(
            "/core/tokens/{identifier}/",
            get(retrieve)
                .put(update)
                .patch(partial_update)
                .delete(destroy),
        )
        .route("/core/tokens/{identifier}/view_key/", get(view_key))
        .route("/core/tokens/{identifier}/used_by/", get(used_by))
        .route("/core/tokens/{identifier}/set_key/", post(set_key))
}

/// A fresh key from the thread-local CSPRNG.
pub fn new_key() -> String {
    generate_key(|n| rand::random_range(0..n))
}

fn token_ref(token: &Token) -> ModelRef {
    ModelRef {
        app: "authentik_core",
        model_name: "token",
        pk: token.uuid.to_string(),
        name: token.identifier.clone(),
    }
}

/// Tokens as JSON, each with its owner as a full `User`.
async fn render(state: &AppState, tokens: &[Token]) -> ApiResult<Vec<shapes::Token>> {
    let mut owners: HashMap<i64, Option<shapes::User>> = HashMap::new();
    for token in tokens {
        if owners.contains_key(&token.user_pk) {
            continue;
        }
        let owner = state
            .store
            .user_by_pk(token.user_pk)
            .await?
            .map(|entry| shapes::user(&entry, &state.install_id, None));
        owners.insert(token.user_pk, owner);
    }
    Ok(tokens
        .iter()
        .map(|t| shapes::token(t, owners[&t.user_pk].clone()))
        .collect())
}

async fn render_one(state: &AppState, token: &Token) -> ApiResult<Json<shapes::Token>> {
    let mut tokens = render(state, std::slice::from_ref(token)).await?;
    Ok(Json(tokens.remove(0)))
}

async fn find(state: &AppState, identifier: &str) -> ApiResult<Token> {
    state
        .store
        .token(identifier)
        .await?
        .ok_or(ApiError::NotFound("Token"))
}

#[utoipa::path(get, path = "/api/v3/core/tokens/", operation_id = "core_tokens_list", tag = "core",
    params(ListParams, ("identifier" = Option<String>, Query,), ("intent" = Option<TokenIntent>, Query,)),
    responses((status = 200, description = "OK", body = Paginated<TokenShape>), InputErrors))]
pub(crate) async fn list(
    Superuser(_): Superuser,
    State(state): State<AppState>,
    q: QueryParams,
) -> ApiResult<Json<Paginated<shapes::Token>>> {
    let intent = match q.get("intent") {
        None => None,
        Some(v) => Some(TokenIntent::parse(v).ok_or_else(|| {
            ApiError::field(
                "intent",
                format!("Select a valid choice. {v} is not one of the available choices."),
            )
        })?),
    };
    let filter = TokenFilter {
        identifier: q.string("identifier"),
        intent,
        description: q.string("description"),
        expiring: q.bool("expiring")?,
        expires: q.datetime("expires")?,
        managed: q.string("managed"),
        user_username: q.string("user__username"),
        user_pk: None,
    };
    let query = q.list_query("identifier")?;
    let page = state.store.list_tokens(&filter, &query).await?;
    let results = render(&state, &page.results).await?;
    Ok(Json(Paginated::with(page.pagination, results)))
}

#[utoipa::path(get, path = "/api/v3/core/tokens/{identifier}/", operation_id = "core_tokens_retrieve",
    tag = "core", params(("identifier" = String, Path,)), responses((status = 200, description = "OK", body = TokenShape), ObjectErrors))]
pub(crate) async fn retrieve(
    Superuser(_): Superuser,
    State(state): State<AppState>,
    Path(identifier): Path<String>,
) -> ApiResult<Json<shapes::Token>> {
    let token = find(&state, &identifier).await?;
    render_one(&state, &token).await
}

/// Nothing refers to a token: always empty, once the token is found.
#[utoipa::path(get, path = "/api/v3/core/tokens/{identifier}/used_by/",
    operation_id = "core_tokens_used_by_list", tag = "core", params(("identifier" = String, Path,)),
    responses((status = 200, description = "OK", body = Vec<UsedBy>), ObjectErrors))]
pub(crate) async fn used_by(
    Superuser(_): Superuser,
    State(state): State<AppState>,
    Path(identifier): Path<String>,
) -> ApiResult<Json<Vec<shapes::UsedBy>>> {
    find(&state, &identifier).await?;
    Ok(Json(Vec::new()))
}

/// Reads the writable token fields over `base`.
async fn read_token(
    state: &AppState,
    body: JsonObject,
    mode: Mode,
    mut base: TokenFields,
) -> ApiResult<TokenFields> {
    let mut fields = Fields::new(body, mode);
    if let Some(v) = fields.string("identifier", true, false) {
        base.identifier = v;
    }
    if let Some(v) = fields.choice("intent", TokenIntent::parse) {
        base.intent = v;
    }
    if let Some(v) = fields.int("user", false) {
        base.user_pk = v;
    }
    if let Some(v) = fields.string("description", false, true) {
        base.description = v;
    }
    if let Some(v) = fields.datetime("expires") {
        base.expires = v;
    }
    if let Some(v) = fields.bool("expiring") {
        base.expiring = v;
    }
    if let Some(v) = fields.nullable_string("managed") {
        base.managed = v.filter(|m| !m.is_empty());
    }
    fields.finish()?;
    base.validate()?;
    if state.store.users_by_pk(&[base.user_pk]).await?.is_empty() {
        return Err(ApiError::field(
            "user",
            format!("Invalid pk \"{}\" - object does not exist.", base.user_pk),
        ));
    }
    Ok(base)
}

#[utoipa::path(post, path = "/api/v3/core/tokens/", operation_id = "core_tokens_create", tag = "core",
    request_body = TokenRequest, responses((status = 201, description = "Created", body = TokenShape), InputErrors))]
pub(crate) async fn create(
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    meta: RequestMeta,
    body: JsonObject,
) -> ApiResult<(StatusCode, Json<shapes::Token>)> {
    let base = TokenFields {
        identifier: String::new(),
        intent: TokenIntent::default(),
        user_pk: caller.user.user.pk,
        description: String::new(),
        expires: None,
        expiring: true,
        managed: None,
    };
    let fields = read_token(&state, body, Mode::Full, base)
        .await?
        .with_default_expiry(OffsetDateTime::now_utc());
    let token = state
        .store
        .create_token(&fields, &new_key())
        .await
        .map_err(ApiError::from_store_write("token"))?;
    audit::record(
        &state,
        &caller,
        &meta,
        EventAction::ModelCreated,
        token_ref(&token),
    )
    .await;
    Ok((StatusCode::CREATED, render_one(&state, &token).await?))
}

async fn write(
    caller: Caller,
    state: AppState,
    meta: RequestMeta,
    identifier: String,
    body: JsonObject,
    mode: Mode,
) -> ApiResult<Json<shapes::Token>> {
    let existing = find(&state, &identifier).await?;
    let base = TokenFields {
        identifier: existing.identifier.clone(),
        intent: existing.intent,
        user_pk: existing.user_pk,
        description: existing.description.clone(),
        expires: existing.expires,
        expiring: existing.expiring,
        managed: existing.managed.clone(),
    };
    let fields = read_token(&state, body, mode, base)
        .await?
        .with_default_expiry(OffsetDateTime::now_utc());
    let token = state
        .store
        .update_token(&identifier, &fields)
        .await
        .map_err(ApiError::from_store_write("token"))?
        .ok_or(ApiError::NotFound("Token"))?;
    audit::record(
        &state,
        &caller,
        &meta,
        EventAction::ModelUpdated,
        token_ref(&token),
    )
    .await;
    render_one(&state, &token).await
}

#[utoipa::path(put, path = "/api/v3/core/tokens/{identifier}/", operation_id = "core_tokens_update",
    tag = "core", params(("identifier" = String, Path,)), request_body = TokenRequest,
    responses((status = 200, description = "OK", body = TokenShape), ObjectInputErrors))]
pub(crate) async fn update(
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(identifier): Path<String>,
    body: JsonObject,
) -> ApiResult<Json<shapes::Token>> {
    write(caller, state, meta, identifier, body, Mode::Full).await
}

#[utoipa::path(patch, path = "/api/v3/core/tokens/{identifier}/",
    operation_id = "core_tokens_partial_update", tag = "core", params(("identifier" = String, Path,)),
    request_body = ref("#/components/schemas/PatchedTokenRequest"), responses((status = 200, description = "OK", body = TokenShape), ObjectInputErrors))]
pub(crate) async fn partial_update(
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(identifier): Path<String>,
    body: JsonObject,
) -> ApiResult<Json<shapes::Token>> {
    write(caller, state, meta, identifier, body, Mode::Partial).await
}

#[utoipa::path(delete, path = "/api/v3/core/tokens/{identifier}/", operation_id = "core_tokens_destroy",
    tag = "core", params(("identifier" = String, Path,)),
    responses((status = 204, description = "Deleted"), ObjectErrors))]
pub(crate) async fn destroy(
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(identifier): Path<String>,
) -> ApiResult<StatusCode> {
    let token = find(&state, &identifier).await?;
    if !state.store.delete_token(&identifier).await? {
        return Err(ApiError::NotFound("Token"));
    }
    audit::record(
        &state,
        &caller,
        &meta,
        EventAction::ModelDeleted,
        token_ref(&token),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v3/core/tokens/{identifier}/view_key/",
    operation_id = "core_tokens_view_key_retrieve", tag = "core", params(("identifier" = String, Path,)),
    responses((status = 200, description = "OK", body = TokenView), ObjectErrors))]
pub(crate) async fn view_key(
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(identifier): Path<String>,
) -> ApiResult<Json<shapes::TokenView>> {
    let token = find(&state, &identifier).await?;
    audit::record(
        &state,
        &caller,
        &meta,
        EventAction::SecretView,
        token_ref(&token),
    )
    .await;
    Ok(Json(shapes::TokenView { key: token.key }))
}

/// `POST {"key": "…"}`: replaces the key (for tokens managed outside akin); 204.
#[utoipa::path(post, path = "/api/v3/core/tokens/{identifier}/set_key/",
    operation_id = "core_tokens_set_key_create", tag = "core", params(("identifier" = String, Path,)),
    request_body = TokenSetKeyRequest,
    responses((status = 204, description = "Key set"), ObjectInputErrors))]
pub(crate) async fn set_key(
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(identifier): Path<String>,
    body: JsonObject,
) -> ApiResult<StatusCode> {
    let token = find(&state, &identifier).await?;
    let mut fields = Fields::new(body, Mode::Full);
    let key = fields.string("key", true, false);
    fields.finish()?;
    state
        .store
        .set_token_key(&identifier, key.as_deref().unwrap_or_default())
        .await
        .map_err(ApiError::from_store_write("token"))?;
    audit::record(
        &state,
        &caller,
        &meta,
        EventAction::ModelUpdated,
        token_ref(&token),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
