//! `/api/v3/policies/reputation/scores/`: the sign-in reputation scores reputation policies
//! read, to look at and to forget (a person locked out by a bad score is let back in by
//! deleting it). The reputation policies themselves are catalog CRUD
//! (`/policies/reputation/`).

use akin_domain::event::{EventAction, ModelRef};
use akin_domain::policy::{ReputationFilter, ReputationScore};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use uuid::Uuid;

use crate::api::openapi::{InputErrors, ListParams, ObjectErrors};
use crate::api::shapes::{self, Paginated, Reputation};
use crate::audit::{self, RequestMeta};
use crate::auth::Superuser;
use crate::error::{ApiError, ApiResult};
use crate::extract::QueryParams;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/policies/reputation/scores/", get(list))
        .route(
            "/policies/reputation/scores/{pk}/",
            get(retrieve).delete(destroy),
        )
        .route("/policies/reputation/scores/{pk}/used_by/", get(used_by))
}

/// Nothing refers to a score: deleting one affects nothing else.
#[utoipa::path(get, path = "/api/v3/policies/reputation/scores/{reputation_uuid}/used_by/",
    operation_id = "policies_reputation_scores_used_by_list", tag = "policies",
    params(("reputation_uuid" = Uuid, Path,)),
    responses((status = 200, description = "OK", body = Vec<shapes::UsedBy>), ObjectErrors))]
pub(crate) async fn used_by(
    _: Superuser,
    State(state): State<AppState>,
    Path(pk): Path<String>,
) -> ApiResult<Json<Vec<shapes::UsedBy>>> {
    find(&state, &pk).await?;
    Ok(Json(Vec::new()))
}

#[utoipa::path(get, path = "/api/v3/policies/reputation/scores/",
    operation_id = "policies_reputation_scores_list", tag = "policies",
    params(ListParams, ("identifier" = Option<String>, Query,),
        ("identifier_in" = Option<String>, Query, description = "Comma-separated identifiers"),
        ("ip" = Option<String>, Query,), ("score" = Option<i64>, Query,)),
    responses((status = 200, description = "OK", body = Paginated<Reputation>), InputErrors))]
pub(crate) async fn list(
    _: Superuser,
    State(state): State<AppState>,
    q: QueryParams,
) -> ApiResult<Json<Paginated<Reputation>>> {
    let score = match q.get("score") {
        None => None,
        Some(v) => Some(
            v.parse::<i64>()
                .map_err(|_| ApiError::field("score", "Enter a number."))?,
        ),
    };
    let filter = ReputationFilter {
        identifier: q.string("identifier"),
        identifier_in: q
            .all("identifier_in")
            .iter()
            .flat_map(|v| v.split(','))
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect(),
        ip: q.string("ip"),
        score,
    };
    let query = q.list_query("ip")?;
    let page = state.store.list_reputations(&filter, &query).await?;
    Ok(Json(Paginated::of(page, |r| shapes::reputation(&r))))
}

async fn find(state: &AppState, pk: &str) -> ApiResult<ReputationScore> {
    let uuid = Uuid::parse_str(pk).map_err(|_| ApiError::NotFound("Reputation Score"))?;
    state
        .store
        .reputation(uuid)
        .await?
        .ok_or(ApiError::NotFound("Reputation Score"))
}

#[utoipa::path(get, path = "/api/v3/policies/reputation/scores/{reputation_uuid}/",
    operation_id = "policies_reputation_scores_retrieve", tag = "policies",
    params(("reputation_uuid" = Uuid, Path,)),
    responses((status = 200, description = "OK", body = Reputation), ObjectErrors))]
pub(crate) async fn retrieve(
    _: Superuser,
    State(state): State<AppState>,
    Path(pk): Path<String>,
) -> ApiResult<Json<Reputation>> {
    Ok(Json(shapes::reputation(&find(&state, &pk).await?)))
}

#[utoipa::path(delete, path = "/api/v3/policies/reputation/scores/{reputation_uuid}/",
    operation_id = "policies_reputation_scores_destroy", tag = "policies",
    params(("reputation_uuid" = Uuid, Path,)),
    responses((status = 204, description = "No response body"), ObjectErrors))]
pub(crate) async fn destroy(
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(pk): Path<String>,
) -> ApiResult<StatusCode> {
    let score = find(&state, &pk).await?;
    if !state.store.delete_reputation(score.uuid).await? {
        return Err(ApiError::NotFound("Reputation Score"));
    }
    audit::record(
        &state,
        &caller,
        &meta,
        EventAction::ModelDeleted,
        ModelRef {
            app: "authentik_policies_reputation",
            model_name: "reputation",
            pk: score.uuid.to_string(),
            name: format!(
                "Reputation {}/{} @ {}",
                score.identifier, score.ip, score.score
            ),
        },
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
