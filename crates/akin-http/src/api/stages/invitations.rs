//! `/api/v3/stages/invitation/invitations/`: authentik's invitation API. Used and expired
//! invitations are kept as history and hidden unless `?status=used|expired|all` asks.

use std::collections::HashMap;

use akin_domain::catalog;
use akin_domain::event::{EventAction, ModelRef};
use akin_domain::invitation::{Invitation, InvitationState, Refusal};
use akin_flow::mail::{InvitationMail, QueueError};
use akin_flow::objects;
use akin_mail::MailError;
use akin_store::InvitationFilter;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;
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
        .route(
            "/stages/invitation/invitations/{id}/revoke/",
            axum::routing::post(revoke),
        )
        .route(
            "/stages/invitation/invitations/{id}/reissue/",
            axum::routing::post(reissue),
        )
}

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
        ("status" = Option<String>, Query, description = "active (the default), used, expired or all")),
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
    let page = state.store.list_invitations(&filter, &query, now).await?;
    let results = render(&state, &page.results, now).await?;
    Ok(Json(Paginated::with(page.pagination, results)))
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
    let slug = state
        .store
        .find_objects(
            catalog::FLOW,
            &[("pk".to_owned(), Value::String(flow.to_string()))],
        )
        .await?
        .into_iter()
        .next()
        .and_then(|f| f.get("slug").and_then(Value::as_str).map(str::to_owned));
    let Some(slug) = slug else {
        return Ok(send_error(
            StatusCode::BAD_REQUEST,
            "Invitation has no associated flow".into(),
        ));
    };
    let base = public_base_url(state.mail.external_url.as_deref(), &headers);
    let user = &caller.user.user;
    let inviter = if user.name.trim().is_empty() {
        &user.username
    } else {
        &user.name
    };
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
