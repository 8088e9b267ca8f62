//! `/api/v3/core/tokens/`: API and other tokens, for superusers. Keys are only ever shown
//! by `view_key/`, which is itself recorded in the audit log.

use std::collections::HashMap;

use akin_domain::event::{EventAction, ModelRef};
use akin_domain::token::{Token, TokenFields, TokenFilter, TokenIntent, generate_key};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::api::shapes;
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
async fn render(state: &AppState, tokens: &[Token]) -> ApiResult<Vec<Value>> {
    let mut owners: HashMap<i64, Value> = HashMap::new();
    for token in tokens {
        if owners.contains_key(&token.user_pk) {
            continue;
        }
        let owner = match state.store.user_by_pk(token.user_pk).await? {
            Some(entry) => shapes::user(&entry, &state.install_id, None),
            None => Value::Null,
        };
        owners.insert(token.user_pk, owner);
    }
    Ok(tokens
        .iter()
        .map(|t| shapes::token(t, &owners[&t.user_pk]))
        .collect())
}

async fn render_one(state: &AppState, token: &Token) -> ApiResult<Json<Value>> {
    let mut values = render(state, std::slice::from_ref(token)).await?;
    Ok(Json(values.pop().unwrap_or(Value::Null)))
}

async fn find(state: &AppState, identifier: &str) -> ApiResult<Token> {
    state
        .store
        .token(identifier)
        .await?
        .ok_or(ApiError::NotFound("Token"))
}

async fn list(
    Superuser(_): Superuser,
    State(state): State<AppState>,
    q: QueryParams,
) -> ApiResult<Json<Value>> {
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
    let mut body = shapes::paginated(page, |_| Value::Null);
    body["results"] = Value::Array(results);
    Ok(Json(body))
}

async fn retrieve(
    Superuser(_): Superuser,
    State(state): State<AppState>,
    Path(identifier): Path<String>,
) -> ApiResult<Json<Value>> {
    let token = find(&state, &identifier).await?;
    render_one(&state, &token).await
}

/// Nothing refers to a token: always empty, once the token is found.
async fn used_by(
    Superuser(_): Superuser,
    State(state): State<AppState>,
    Path(identifier): Path<String>,
) -> ApiResult<Json<Value>> {
    find(&state, &identifier).await?;
    Ok(Json(Value::Array(Vec::new())))
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

async fn create(
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    meta: RequestMeta,
    body: JsonObject,
) -> ApiResult<(StatusCode, Json<Value>)> {
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
) -> ApiResult<Json<Value>> {
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

async fn update(
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(identifier): Path<String>,
    body: JsonObject,
) -> ApiResult<Json<Value>> {
    write(caller, state, meta, identifier, body, Mode::Full).await
}

async fn partial_update(
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(identifier): Path<String>,
    body: JsonObject,
) -> ApiResult<Json<Value>> {
    write(caller, state, meta, identifier, body, Mode::Partial).await
}

async fn destroy(
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

async fn view_key(
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(identifier): Path<String>,
) -> ApiResult<Json<Value>> {
    let token = find(&state, &identifier).await?;
    audit::record(
        &state,
        &caller,
        &meta,
        EventAction::SecretView,
        token_ref(&token),
    )
    .await;
    Ok(Json(json!({"key": token.key})))
}

/// `POST {"key": "…"}`: replaces the key (for tokens managed outside akin); 204.
async fn set_key(
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
