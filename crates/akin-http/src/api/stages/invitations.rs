//! `/api/v3/stages/invitation/invitations/`: authentik's invitation API. Used and expired
//! invitations are kept as history and hidden unless `?status=used|expired|all` asks.

use std::collections::HashMap;

use akin_domain::catalog;
use akin_domain::event::{EventAction, ModelRef};
use akin_domain::invitation::{Invitation, InvitationCursor, InvitationState, Refusal};
use akin_domain::list::{ListQuery, Pagination};
use akin_flow::bulk_invitations::{
    BulkAnswer, BulkError, BulkMail, BulkRequest, BulkRow, BulkTemplate, rows_from_csv,
};
use akin_flow::mail::{InvitationMail, QueueError};
use akin_flow::objects;
use akin_mail::MailError;
use akin_store::InvitationFilter;
use axum::extract::{FromRequest, Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::api::openapi::{InputErrors, ListParams, ObjectErrors, ObjectInputErrors};
use crate::api::requests::InvitationSendEmailRequest;
use crate::api::shapes::UsedBy;
use crate::api::shapes::{self, Paginated};
use crate::audit::{self, RequestMeta};
use crate::auth::{Caller, Superuser};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Fields, JsonObject, Mode, QueryParams, public_base_url};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/stages/invitation/invitations/", get(list).post(create))
        .route(
            "/stages/invitation/invitations/{id}/",
            get(retrieve)
                .put(update)
                .patch(partial_update)
                .delete(destroy),
        )
        .route("/stages/invitation/invitations/{id}/used_by/", get(used_by))
        .route(
            "/stages/invitation/invitations/{id}/send_email/",
            axum::routing::post(send_email),
        )
        .route("/stages/invitation/invitations/{id}/uses/", get(uses))
        .route("/stages/invitation/invitations/{id}/funnel/", get(funnel))
        .route("/stages/invitation/invitations/funnel/", get(flow_funnel))
        .route(
            "/stages/invitation/invitations/{id}/revoke/",
            axum::routing::post(revoke),
        )
        .route(
            "/stages/invitation/invitations/{id}/reissue/",
            axum::routing::post(reissue),
        )
}

/// `bulk/`, with a body limit of its own (a CSV file of up to 20,000 rows).
pub fn bulk_router() -> Router<AppState> {
    Router::new().route(
        "/stages/invitation/invitations/bulk/",
        axum::routing::post(bulk),
    )
}

/// The largest `bulk/` body.
pub const MAX_BULK_BODY: usize = 8 * 1024 * 1024;

fn invitation_ref(i: &Invitation) -> ModelRef {
    ModelRef {
        app: "authentik_stages_invitation",
        model_name: "invitation",
        pk: i.uuid.to_string(),
        name: i.name.clone(),
    }
}

/// `?status=`: one state (active by default), or `None` for all.
fn status_of(q: &QueryParams) -> ApiResult<Option<InvitationState>> {
    match q.get("status") {
        None => Ok(Some(InvitationState::Active)),
        Some(s) => InvitationState::parse_filter(s).ok_or_else(|| {
            ApiError::field(
                "status",
                format!(
                    "Select a valid choice. {s} is not one of {}.",
                    InvitationState::FILTER_CHOICES
                ),
            )
        }),
    }
}

/// Invitations as JSON, with their creators and flows looked up once each.
async fn render(
    state: &AppState,
    invitations: &[Invitation],
    now: OffsetDateTime,
) -> ApiResult<Vec<shapes::Invitation>> {
    // Creators in one query, before the transaction below is opened: holding one pooled
    // connection while waiting for another deadlocks under load.
    let mut creators: Vec<i64> = invitations
        .iter()
        .flat_map(|i| [i.created_by, i.revoked.and_then(|r| r.by)])
        .flatten()
        .collect();
    creators.sort_unstable();
    creators.dedup();
    let users: HashMap<i64, shapes::PartialUser> = state
        .store
        .users_by_pk(&creators)
        .await?
        .iter()
        .map(|u| (u.pk, shapes::partial_user(u, &state.install_id)))
        .collect();
    let uuids: Vec<Uuid> = invitations.iter().map(|i| i.uuid).collect();
    let mut sent_to = state.store.invitation_recipients(&uuids).await?;
    let mut flows: HashMap<Uuid, Option<shapes::Flow>> = HashMap::new();
    let mut tx = state.store.db().begin().await?;
    for i in invitations {
        if let Some(flow) = i.flow
            && !flows.contains_key(&flow)
        {
            let pk = Value::String(flow.to_string());
            let object = tx
                .find_objects(catalog::FLOW, &[("pk".to_owned(), pk.clone())])
                .await?
                .into_iter()
                .next();
            let stages: Vec<Value> = tx
                .find_objects(catalog::FLOW_STAGE_BINDING, &[("target".to_owned(), pk)])
                .await?
                .into_iter()
                .map(|b| b["stage"].clone())
                .collect();
            flows.insert(flow, object.map(|o| shapes::flow(&o, &stages)));
        }
    }
    Ok(invitations
        .iter()
        .map(|i| {
            let people = shapes::InvitationPeople {
                created_by: i
                    .created_by
                    .and_then(|pk| users.get(&pk).cloned())
                    .unwrap_or_else(shapes::anonymous_partial_user),
                revoked_by: i
                    .revoked
                    .and_then(|r| r.by)
                    .and_then(|pk| users.get(&pk).cloned()),
            };
            let flow_obj = i.flow.and_then(|f| flows.get(&f).cloned().flatten());
            let sent_to = sent_to.remove(&i.uuid).unwrap_or_default();
            shapes::invitation(i, people, flow_obj, sent_to, now)
        })
        .collect())
}

#[utoipa::path(get, path = "/api/v3/stages/invitation/invitations/", operation_id = "stages_invitation_invitations_list",
    tag = "stages", params(ListParams, ("name" = Option<String>, Query,), ("flow__slug" = Option<String>, Query,),
        ("created_by__username" = Option<String>, Query,),
        ("status" = Option<String>, Query, description = "active (the default), used, expired or all"),
        ("after" = Option<String>, Query, description = "Pages by cursor, in the default order: empty for the first page, then each page's `pagination.next_after`. Not with `page` or `ordering`.")),
    responses((status = 200, description = "OK", body = Paginated<shapes::Invitation>), InputErrors))]
pub(crate) async fn list(
    Superuser(_): Superuser,
    State(state): State<AppState>,
    q: QueryParams,
) -> ApiResult<Json<Paginated<shapes::Invitation>>> {
    let now = OffsetDateTime::now_utc();
    let filter = InvitationFilter {
        name: q.string("name"),
        created_by_username: q.string("created_by__username"),
        expires: q.datetime("expires")?,
        flow_slug: q.string("flow__slug"),
        status: status_of(&q)?,
    };
    let query = q.list_query("")?;
    if let Some(after) = q.given("after") {
        return by_cursor(&state, &filter, &query, after, now).await;
    }
    let page = state.store.list_invitations(&filter, &query, now).await?;
    let results = render(&state, &page.results, now).await?;
    Ok(Json(Paginated::with(page.pagination, results)))
}

/// `?after=`: a page that starts where the previous one ended, found by a seek in the
/// list's index however deep it lies (a page number makes the database skip every row
/// before it). Only in the default order, which the index holds.
async fn by_cursor(
    state: &AppState,
    filter: &InvitationFilter,
    query: &ListQuery,
    after: &str,
    now: OffsetDateTime,
) -> ApiResult<Json<Paginated<shapes::Invitation>>> {
    if !query.ordering.is_empty() {
        return Err(ApiError::field(
            "after",
            "Pages by cursor follow the default order; leave out ordering.",
        ));
    }
    if query.page.page != 1 {
        return Err(ApiError::field(
            "after",
            "Pages by cursor have no number; leave out page.",
        ));
    }
    let after = match after.trim() {
        "" => None,
        cursor => Some(
            cursor
                .parse::<InvitationCursor>()
                .map_err(|e| ApiError::field("after", e.to_string()))?,
        ),
    };
    let page_size = query.page.page_size;
    let page = state
        .store
        .list_invitations_after(filter, query.search.as_deref(), after, page_size, now)
        .await?;
    let results = render(state, &page.results, now).await?;
    let next_after = page.next.map(|cursor| cursor.to_string());
    Ok(Json(Paginated::with(
        Pagination::by_cursor(page.count, page_size, next_after),
        results,
    )))
}

/// The invitation `id`, hidden when used or expired unless `?status=` asks for those.
async fn find(
    state: &AppState,
    id: &str,
    q: &QueryParams,
    now: OffsetDateTime,
) -> ApiResult<Invitation> {
    let uuid = Uuid::parse_str(id).map_err(|_| ApiError::NotFound("Invitation"))?;
    let invitation = state
        .store
        .invitation(uuid)
        .await?
        .ok_or(ApiError::NotFound("Invitation"))?;
    let visible = status_of(q)?.is_none_or(|wanted| invitation.status(now) == wanted);
    if visible {
        Ok(invitation)
    } else {
        Err(ApiError::NotFound("Invitation"))
    }
}

#[utoipa::path(get, path = "/api/v3/stages/invitation/invitations/{invite_uuid}/", operation_id = "stages_invitation_invitations_retrieve",
    tag = "stages", params(("invite_uuid" = Uuid, Path,), ("status" = Option<String>, Query,)),
    responses((status = 200, description = "OK", body = shapes::Invitation), ObjectErrors))]
pub(crate) async fn retrieve(
    Superuser(_): Superuser,
    State(state): State<AppState>,
    Path(id): Path<String>,
    q: QueryParams,
) -> ApiResult<Json<shapes::Invitation>> {
    let now = OffsetDateTime::now_utc();
    let invitation = find(&state, &id, &q, now).await?;
    Ok(Json(render(&state, &[invitation], now).await?.remove(0)))
}

/// Nothing refers to an invitation (users keep no link to theirs): always empty, after
/// the same visibility check as retrieve.
#[utoipa::path(get, path = "/api/v3/stages/invitation/invitations/{invite_uuid}/used_by/",
    operation_id = "stages_invitation_invitations_used_by_list", tag = "stages",
    params(("invite_uuid" = Uuid, Path,), ("status" = Option<String>, Query,)),
    responses((status = 200, description = "OK", body = Vec<UsedBy>), ObjectErrors))]
pub(crate) async fn used_by(
    Superuser(_): Superuser,
    State(state): State<AppState>,
    Path(id): Path<String>,
    q: QueryParams,
) -> ApiResult<Json<Vec<shapes::UsedBy>>> {
    let invitation = find(&state, &id, &q, OffsetDateTime::now_utc()).await?;
    let pk = Value::String(invitation.uuid.to_string());
    let referrers = state.store.used_by(catalog::INVITATION, &pk).await?;
    Ok(Json(shapes::used_by(&referrers)))
}

/// Validates the writable fields (authentik's, plus akin's `max_uses`) and writes them.
async fn write(
    state: &AppState,
    caller: &Caller,
    pk: Option<&Value>,
    JsonObject(body): JsonObject,
    partial: bool,
) -> ApiResult<Uuid> {
    let spec = catalog::spec(catalog::INVITATION).expect("the catalog has invitations");
    // Who created an invitation is not the client's to say.
    let mut input = body.clone();
    input.remove("created_by");
    if pk.is_none() {
        input.insert("created_by".into(), Value::from(caller.user.user.pk));
    }
    let max_uses = match body.get("max_uses") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(v) => match v.as_i64().filter(|n| *n >= 1) {
            Some(n) => Some(Some(n)),
            None => {
                return Err(ApiError::field(
                    "max_uses",
                    "Ensure this value is a whole number of at least 1, or null.",
                ));
            }
        },
    };
    let mut tx = state.store.db().begin().await?;
    let fields = objects::check(&mut tx, state.expressions.as_ref(), spec, &input, partial).await?;
    let pk = objects::save(&mut tx, spec, pk, &fields, OffsetDateTime::now_utc()).await?;
    if let Some(max_uses) = max_uses {
        tx.set_invitation_max_uses(&pk, max_uses).await?;
    }
    tx.commit().await?;
    Uuid::parse_str(pk.as_str().unwrap_or_default()).map_err(|e| ApiError::Internal(e.to_string()))
}

#[utoipa::path(post, path = "/api/v3/stages/invitation/invitations/", operation_id = "stages_invitation_invitations_create",
    tag = "stages", request_body = ref("#/components/schemas/InvitationRequest"),
    responses((status = 201, description = "Created", body = shapes::Invitation), InputErrors))]
pub(crate) async fn create(
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    meta: RequestMeta,
    body: JsonObject,
) -> ApiResult<(StatusCode, Json<shapes::Invitation>)> {
    let uuid = write(&state, &caller, None, body, false).await?;
    let now = OffsetDateTime::now_utc();
    let invitation = state
        .store
        .invitation(uuid)
        .await?
        .ok_or(ApiError::NotFound("Invitation"))?;
    audit::record(
        &state,
        &caller,
        &meta,
        EventAction::ModelCreated,
        invitation_ref(&invitation),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(render(&state, &[invitation], now).await?.remove(0)),
    ))
}

async fn change(
    state: AppState,
    caller: Caller,
    meta: RequestMeta,
    id: String,
    q: QueryParams,
    body: JsonObject,
    partial: bool,
) -> ApiResult<Json<shapes::Invitation>> {
    let now = OffsetDateTime::now_utc();
    let existing = find(&state, &id, &q, now).await?;
    let pk = Value::String(existing.uuid.to_string());
    write(&state, &caller, Some(&pk), body, partial).await?;
    let invitation = state
        .store
        .invitation(existing.uuid)
        .await?
        .ok_or(ApiError::NotFound("Invitation"))?;
    audit::record(
        &state,
        &caller,
        &meta,
        EventAction::ModelUpdated,
        invitation_ref(&invitation),
    )
    .await;
    Ok(Json(render(&state, &[invitation], now).await?.remove(0)))
}

#[utoipa::path(put, path = "/api/v3/stages/invitation/invitations/{invite_uuid}/", operation_id = "stages_invitation_invitations_update",
    tag = "stages", params(("invite_uuid" = Uuid, Path,)),
    request_body = ref("#/components/schemas/InvitationRequest"),
    responses((status = 200, description = "OK", body = shapes::Invitation), ObjectInputErrors))]
pub(crate) async fn update(
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(id): Path<String>,
    q: QueryParams,
    body: JsonObject,
) -> ApiResult<Json<shapes::Invitation>> {
    change(state, caller, meta, id, q, body, false).await
}

#[utoipa::path(patch, path = "/api/v3/stages/invitation/invitations/{invite_uuid}/",
    operation_id = "stages_invitation_invitations_partial_update", tag = "stages",
    params(("invite_uuid" = Uuid, Path,)),
    request_body = ref("#/components/schemas/PatchedInvitationRequest"),
    responses((status = 200, description = "OK", body = shapes::Invitation), ObjectInputErrors))]
pub(crate) async fn partial_update(
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(id): Path<String>,
    q: QueryParams,
    body: JsonObject,
) -> ApiResult<Json<shapes::Invitation>> {
    change(state, caller, meta, id, q, body, true).await
}

#[utoipa::path(delete, path = "/api/v3/stages/invitation/invitations/{invite_uuid}/", operation_id = "stages_invitation_invitations_destroy",
    tag = "stages", params(("invite_uuid" = Uuid, Path,)),
    responses((status = 204, description = "Deleted"), ObjectErrors))]
pub(crate) async fn destroy(
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(id): Path<String>,
    q: QueryParams,
) -> ApiResult<StatusCode> {
    let now = OffsetDateTime::now_utc();
    let invitation = find(&state, &id, &q, now).await?;
    let mut tx = state.store.db().begin().await?;
    tx.delete_object(
        catalog::INVITATION,
        &Value::String(invitation.uuid.to_string()),
    )
    .await?;
    tx.commit().await?;
    audit::record(
        &state,
        &caller,
        &meta,
        EventAction::ModelDeleted,
        invitation_ref(&invitation),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// The invitation `id`, whatever its status: what lifecycle actions act on.
async fn find_any(state: &AppState, id: &str) -> ApiResult<Invitation> {
    let uuid = Uuid::parse_str(id).map_err(|_| ApiError::NotFound("Invitation"))?;
    state
        .store
        .invitation(uuid)
        .await?
        .ok_or(ApiError::NotFound("Invitation"))
}

/// The accounts written with the invitation, oldest first, whatever its status.
#[utoipa::path(get, path = "/api/v3/stages/invitation/invitations/{invite_uuid}/uses/",
    operation_id = "stages_invitation_invitations_uses_list", tag = "stages",
    params(("invite_uuid" = Uuid, Path,)),
    responses((status = 200, description = "OK", body = Vec<shapes::InvitationUse>), ObjectErrors))]
pub(crate) async fn uses(
    Superuser(_): Superuser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<shapes::InvitationUse>>> {
    let invitation = find_any(&state, &id).await?;
    let uses = state.store.invitation_uses(invitation.uuid).await?;
    Ok(Json(uses.iter().map(shapes::invitation_use).collect()))
}

/// How far people got with the invitation's link: messages sent, visits opened and
/// started, accounts completed.
#[utoipa::path(get, path = "/api/v3/stages/invitation/invitations/{invite_uuid}/funnel/",
    operation_id = "stages_invitation_invitations_funnel_retrieve", tag = "stages",
    params(("invite_uuid" = Uuid, Path,)),
    responses((status = 200, description = "OK", body = shapes::Funnel), ObjectErrors))]
pub(crate) async fn funnel(
    Superuser(_): Superuser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<shapes::Funnel>> {
    let invitation = find_any(&state, &id).await?;
    let funnel = state
        .store
        .invitation_funnel(Some(invitation.uuid), None)
        .await?;
    Ok(Json(shapes::funnel(&funnel)))
}

/// The funnel of every invitation of a flow (`?flow__slug=`), or of all invitations.
#[utoipa::path(get, path = "/api/v3/stages/invitation/invitations/funnel/",
    operation_id = "stages_invitation_invitations_funnel_list", tag = "stages",
    params(("flow__slug" = Option<String>, Query,)),
    responses((status = 200, description = "OK", body = shapes::Funnel), ObjectErrors))]
pub(crate) async fn flow_funnel(
    Superuser(_): Superuser,
    State(state): State<AppState>,
    q: QueryParams,
) -> ApiResult<Json<shapes::Funnel>> {
    let slug = q.string("flow__slug");
    let funnel = state.store.invitation_funnel(None, slug.as_deref()).await?;
    Ok(Json(shapes::funnel(&funnel)))
}

/// Withdraws the invitation: its link is refused from now on (`invitation_revoked`), and it
/// stays listed (`?status=revoked`) with who withdrew it and when. Revoking again changes
/// nothing and answers the same.
#[utoipa::path(post, path = "/api/v3/stages/invitation/invitations/{invite_uuid}/revoke/",
    operation_id = "stages_invitation_invitations_revoke_create", tag = "stages",
    params(("invite_uuid" = Uuid, Path,)),
    responses((status = 200, description = "Revoked", body = shapes::Invitation), ObjectErrors))]
pub(crate) async fn revoke(
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> ApiResult<Json<shapes::Invitation>> {
    let now = OffsetDateTime::now_utc();
    let invitation = find_any(&state, &id).await?;
    let revoked = state
        .engine
        .revoke_invitation(invitation.uuid, Some(caller.user.user.pk), now)
        .await?
        .ok_or(ApiError::NotFound("Invitation"))?;
    if revoked.now_revoked {
        audit::record(
            &state,
            &caller,
            &meta,
            EventAction::ModelUpdated,
            invitation_ref(&revoked.invitation),
        )
        .await;
    }
    Ok(Json(
        render(&state, &[revoked.invitation], now).await?.remove(0),
    ))
}

/// Replaces the invitation by a new one with the same flow, data and uses allowed (its
/// `expires` unless the body gives one; an expired invitation needs one): the new one is
/// answered, and the old link is refused from now on (`invitation_replaced`).
#[utoipa::path(post, path = "/api/v3/stages/invitation/invitations/{invite_uuid}/reissue/",
    operation_id = "stages_invitation_invitations_reissue_create", tag = "stages",
    params(("invite_uuid" = Uuid, Path,)), request_body = crate::api::requests::InvitationReissueRequest,
    responses((status = 201, description = "The new invitation", body = shapes::Invitation), ObjectInputErrors))]
pub(crate) async fn reissue(
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(id): Path<String>,
    body: JsonObject,
) -> ApiResult<(StatusCode, Json<shapes::Invitation>)> {
    let now = OffsetDateTime::now_utc();
    let old = find_any(&state, &id).await?;
    let mut fields = Fields::new(body, Mode::Partial);
    let expires = fields.datetime("expires");
    fields.finish()?;
    let created = state
        .engine
        .reissue_invitation(&old, expires, Some(caller.user.user.pk), now)
        .await?;
    for (action, invitation) in [
        (EventAction::ModelUpdated, &old),
        (EventAction::ModelCreated, &created),
    ] {
        audit::record(&state, &caller, &meta, action, invitation_ref(invitation)).await;
    }
    Ok((
        StatusCode::CREATED,
        Json(render(&state, &[created], now).await?.remove(0)),
    ))
}

/// The most addresses one `send_email/` takes (and copies).
const MAX_ADDRESSES: usize = 1000;

/// The template authentik's 2026.8 schema names by default (`invitation`), as its code does.
const DEFAULT_TEMPLATE: &str = "email/invitation.html";

/// `send_email/`'s errors, in authentik's shape.
fn send_error(status: StatusCode, error: String) -> Response {
    (status, Json(shapes::SendEmailError { error })).into_response()
}

/// Sends the invitation's link by mail: one message per address, each with the copies, queued
/// in the outbox (delivered by the server's worker, retried while the SMTP server is down).
/// 204 when queued; 400 `{"error"}` without addresses or without a flow, as authentik.
#[utoipa::path(post, path = "/api/v3/stages/invitation/invitations/{invite_uuid}/send_email/",
    operation_id = "stages_invitation_invitations_send_email_create", tag = "stages",
    params(("invite_uuid" = Uuid, Path,)), request_body = InvitationSendEmailRequest,
    responses((status = 204, description = "Queued"),
        (status = 400, description = "`{\"error\": …}` without addresses or without a flow (authentik's shape); DRF's field errors for invalid input", body = shapes::ValidationError),
        ObjectErrors))]
pub(crate) async fn send_email(
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    q: QueryParams,
    body: JsonObject,
) -> ApiResult<Response> {
    let invitation = find(&state, &id, &q, OffsetDateTime::now_utc()).await?;
    let mut fields = Fields::new(body, Mode::Full);
    let to = fields.email_list("email_addresses", true);
    let cc = fields.email_list("cc_addresses", false).unwrap_or_default();
    let bcc = fields
        .email_list("bcc_addresses", false)
        .unwrap_or_default();
    let template = fields.string("template", false, true);
    fields.finish()?;
    let to = to.unwrap_or_default();
    // One request composes one message per address, each with the copies: bounded, so
    // one request cannot occupy the server (or the SMTP relay) for minutes.
    if to.len() > MAX_ADDRESSES || cc.len() + bcc.len() > MAX_ADDRESSES {
        let field = if to.len() > MAX_ADDRESSES {
            "email_addresses"
        } else {
            "cc_addresses"
        };
        return Err(ApiError::field(
            field,
            format!("Ensure this field has no more than {MAX_ADDRESSES} elements."),
        ));
    }
    if to.is_empty() {
        return Ok(send_error(
            StatusCode::BAD_REQUEST,
            "No email addresses provided".into(),
        ));
    }
    let template = match template.as_deref().map(str::trim) {
        None | Some("" | "invitation") => DEFAULT_TEMPLATE.to_owned(),
        Some(name) => name.to_owned(),
    };
    if !state.mail.templates.exists(&template) {
        return Err(ApiError::field(
            "template",
            format!("\"{template}\" is not a valid choice."),
        ));
    }
    let withdrawn = match invitation.status(OffsetDateTime::now_utc()) {
        InvitationState::Revoked => Some(Refusal::Revoked),
        InvitationState::Replaced => Some(Refusal::Replaced),
        _ => None,
    };
    if let Some(refusal) = withdrawn {
        // Its link would be refused: mailing it helps no one.
        return Ok(send_error(
            StatusCode::BAD_REQUEST,
            refusal.message().into(),
        ));
    }
    let Some(flow) = invitation.flow else {
        return Ok(send_error(
            StatusCode::BAD_REQUEST,
            "Invitation has no associated flow".into(),
        ));
    };
    let slug = state.store.flow_slug(flow).await?;
    let Some(slug) = slug else {
        return Ok(send_error(
            StatusCode::BAD_REQUEST,
            "Invitation has no associated flow".into(),
        ));
    };
    let base = public_base_url(state.mail.external_url.as_deref(), &headers);
    let user = &caller.user.user;
    let inviter = user.shown_name();
    let mail = InvitationMail {
        invitation: &invitation,
        flow_slug: &slug,
        to: &to,
        cc: &cc,
        bcc: &bcc,
        template: &template,
        base_url: &base,
        inviter: Some(inviter),
    };
    match state.queue_invitation_mail(&mail).await {
        Ok(_) => {
            state.outbox_waker.notify_one();
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Err(QueueError::Mail(MailError::Address(address, why))) => Err(ApiError::field(
            "email_addresses",
            format!("Enter a valid email address. ({address}: {why})"),
        )),
        Err(QueueError::Mail(error)) => Ok(send_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("Failed to queue email for {}: {error}", to.join(", ")),
        )),
        Err(QueueError::Flow(error)) => Err(error.into()),
    }
}

/// What a bulk request's body asks for, before the rows are made.
struct BulkInput {
    template: BulkTemplate,
    rows: Vec<BulkRow>,
    send_email: bool,
}

/// A multipart form's parts, read whole.
pub(crate) async fn form_parts(mut form: Multipart) -> ApiResult<Vec<(String, Vec<u8>)>> {
    let mut parts = Vec::new();
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| ApiError::field("non_field_errors", format!("Malformed form: {e}")))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        let bytes = field
            .bytes()
            .await
            .map_err(|e| ApiError::field(&name, format!("Could not read the upload: {e}")))?;
        parts.push((name, bytes.to_vec()));
    }
    Ok(parts)
}

/// A CSV upload's parts (`file`, `flow`, `expires`, `single_use`, `max_uses`, `send_email`).
async fn bulk_from_form(state: &AppState, parts: Vec<(String, Vec<u8>)>) -> ApiResult<BulkInput> {
    let mut file = None;
    let mut fields = Map::new();
    for (name, bytes) in parts {
        let text = String::from_utf8_lossy(&bytes).trim().to_owned();
        if name == "file" {
            file = Some(bytes);
        } else if name == "expires" && text.is_empty() {
            // As DRF reads a form: an empty input of a nullable field is null (a
            // browser sends the expiry input empty when nobody filled it in).
        } else {
            fields.insert(name, Value::String(text));
        }
    }
    let file = file.ok_or_else(|| ApiError::field("file", "No file was submitted."))?;
    let mut form = Fields::new(JsonObject(fields), Mode::Partial);
    let flow = form.string("flow", true, false);
    let expires = form.datetime("expires").flatten();
    let single_use = form.bool("single_use").unwrap_or(true);
    let max_uses = form.string("max_uses", false, true);
    let send_email = form.bool("send_email").unwrap_or(false);
    form.finish()?;
    let flow = flow.unwrap_or_default();
    let found = match state.store.flow_by_slug(&flow).await? {
        Some(found) => found,
        None => state
            .store
            .find_objects(
                catalog::FLOW,
                &[("pk".to_owned(), Value::String(flow.clone()))],
            )
            .await
            .unwrap_or_default()
            .into_iter()
            .next()
            .ok_or_else(|| ApiError::field("flow", format!("There is no flow {flow:?}.")))?,
    };
    let max_uses = match max_uses.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
        None => None,
        Some(m) => Some(m.parse::<i64>().ok().filter(|n| *n >= 1).ok_or_else(|| {
            ApiError::field(
                "max_uses",
                "Ensure this value is a whole number of at least 1.",
            )
        })?),
    };
    let rows = rows_from_csv(&file).map_err(|e| ApiError::field("file", e.to_string()))?;
    Ok(BulkInput {
        template: BulkTemplate {
            flow: found["pk"].as_str().and_then(|p| Uuid::parse_str(p).ok()),
            expires,
            single_use: single_use && max_uses.is_none(),
            max_uses: if single_use && max_uses.is_none() {
                Some(1)
            } else {
                max_uses
            },
            ..BulkTemplate::default()
        },
        rows,
        send_email,
    })
}

/// `{"template": pk, "emails": [...], "send_email": false}`: the template invitation's
/// settings for an invitation per address.
async fn bulk_from_json(state: &AppState, body: JsonObject) -> ApiResult<BulkInput> {
    let mut fields = Fields::new(body, Mode::Full);
    let template = fields.string("template", true, false);
    let emails = fields.email_list("emails", true);
    let send_email = fields.bool("send_email").unwrap_or(false);
    fields.finish()?;
    let template = find_any(state, &template.unwrap_or_default())
        .await
        .map_err(|_| ApiError::field("template", "There is no such invitation."))?;
    if template
        .expires
        .is_some_and(|e| e <= OffsetDateTime::now_utc())
    {
        return Err(ApiError::field(
            "template",
            "This invitation has expired: give it a new expiry to use it as a template.",
        ));
    }
    let rows = emails
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, email)| BulkRow {
            line: i + 1,
            email: Some(email),
            ..BulkRow::default()
        })
        .collect();
    Ok(BulkInput {
        template: BulkTemplate {
            flow: template.flow,
            expires: template.expires,
            single_use: template.single_use,
            max_uses: template.max_uses,
            fixed_data: template.fixed_data.clone(),
            groups: template.groups.clone(),
            allowed_email: template.allowed_email.clone(),
            name_prefix: format!("{}-", template.name),
        },
        rows,
        send_email,
    })
}

/// Creates many invitations: a CSV upload (multipart `file`, with `flow` and optionally
/// `expires`, `single_use`, `max_uses`, `send_email`), or JSON `{"template": pk, "emails":
/// [...]}`. Answers a result per row. `?atomic=true`: all or nothing. An `Idempotency-Key`
/// header makes a retry answer the first result and create nothing twice.
#[utoipa::path(post, path = "/api/v3/stages/invitation/invitations/bulk/",
    operation_id = "stages_invitation_invitations_bulk_create", tag = "stages",
    params(("atomic" = Option<bool>, Query, description = "all rows or none"),
        ("Idempotency-Key" = Option<String>, Header, description = "a retry with the same key answers the first result")),
    request_body(content = crate::api::requests::InvitationBulkRequest, description = "JSON, or multipart/form-data with a CSV `file` and `flow`"),
    responses((status = 200, description = "A result per row", body = shapes::BulkResult),
        (status = 400, description = "Invalid input (DRF's errors by field), or an atomic request with an invalid row (a result per row, as for 200)", body = serde_json::Value),
        (status = 422, description = "The Idempotency-Key was used for another request", body = shapes::GenericError),
        ObjectErrors))]
pub(crate) async fn bulk(
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    q: QueryParams,
    request: axum::extract::Request,
) -> ApiResult<Response> {
    let headers = request.headers().clone();
    let atomic = q.bool("atomic")?.unwrap_or(false);
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .map(str::trim)
                .filter(|k| !k.is_empty() && k.len() <= 255)
                .ok_or_else(|| {
                    ApiError::field(
                        "non_field_errors",
                        "The Idempotency-Key header must be 1 to 255 visible characters.",
                    )
                })?
                .to_owned(),
        ),
    };
    let multipart = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("multipart/form-data"));
    let input = if multipart {
        let form = Multipart::from_request(request, &state)
            .await
            .map_err(|e| ApiError::field("non_field_errors", format!("Malformed form: {e}")))?;
        bulk_from_form(&state, form_parts(form).await?).await?
    } else {
        let body = JsonObject::from_request(request, &state).await?;
        bulk_from_json(&state, body).await?
    };
    let (answer, link) = run_bulk(&state, &caller, &headers, input, atomic, key).await?;
    Ok(match answer {
        BulkAnswer::Done(report) => {
            let status = if report.atomic && report.invalid > 0 {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::OK
            };
            (status, Json(shapes::bulk_result(&report, link))).into_response()
        }
        BulkAnswer::Replayed(report) => (
            StatusCode::OK,
            [("idempotent-replayed", "true")],
            Json(shapes::bulk_result(&report, link)),
        )
            .into_response(),
        BulkAnswer::KeyConflict => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"detail": "This Idempotency-Key was used for another request, or that request is still running."})),
        )
            .into_response(),
    })
}

/// A CSV upload from the admin pages, as `bulk/` does it (without an idempotency key).
pub(crate) async fn bulk_from_parts(
    caller: &Caller,
    state: &AppState,
    headers: &HeaderMap,
    parts: Vec<(String, Vec<u8>)>,
    atomic: bool,
) -> ApiResult<shapes::BulkResult> {
    let input = bulk_from_form(state, parts).await?;
    match run_bulk(state, caller, headers, input, atomic, None).await? {
        (BulkAnswer::Done(report) | BulkAnswer::Replayed(report), link) => {
            Ok(shapes::bulk_result(&report, link))
        }
        (BulkAnswer::KeyConflict, _) => Err(ApiError::Internal(
            "a request without a key met a key conflict".into(),
        )),
    }
}

/// Runs a bulk request; its answer, and how its invitations' links are made.
async fn run_bulk(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    input: BulkInput,
    atomic: bool,
    key: Option<String>,
) -> ApiResult<(BulkAnswer, impl Fn(Uuid) -> Option<String> + use<>)> {
    let flow_slug = match input.template.flow {
        Some(flow) => state.store.flow_slug(flow).await?,
        None => None,
    };
    let base = public_base_url(state.mail.external_url.as_deref(), headers);
    let user = &caller.user.user;
    let inviter = user.shown_name().to_owned();
    let answer = state
        .engine
        .create_invitations(BulkRequest {
            template: input.template,
            rows: input.rows,
            atomic,
            by: Some(user.pk),
            now: OffsetDateTime::now_utc(),
            idempotency_key: key,
            mail: input.send_email.then(|| BulkMail {
                base_url: &base,
                inviter: Some(&inviter),
                template: DEFAULT_TEMPLATE,
            }),
            progress: None,
        })
        .await
        .map_err(|error| match error {
            BulkError::Input(message) => ApiError::field("non_field_errors", message),
            BulkError::Store(error) => error.into(),
            BulkError::Mail(error) => ApiError::field("non_field_errors", error.to_string()),
        })?;
    let link = move |pk: Uuid| {
        flow_slug
            .as_deref()
            .map(|slug| akin_domain::invitation::link(&base, slug, pk))
    };
    Ok((answer, link))
}
