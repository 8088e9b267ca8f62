//! Directory → Invitations: the list (search, status), each row expanding to the link to
//! send (with a copy button and a QR code), Create, Edit, and delete with the used-by
//! check.

use akin_domain::catalog;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use minijinja::context;
use serde_json::{Map, Value, json as json_value};

use super::{AdminSession, Notice, field, page, redirect_with};
use uuid::Uuid;

use crate::api::catalog_api;
use crate::api::core::groups as groups_api;
use crate::api::flows as flows_api;
use crate::api::shapes;
use crate::api::stages::invitations as api;
use crate::audit::RequestMeta;
use crate::auth::Superuser;
use crate::error::{ApiError, ApiResult};
use crate::extract::public_base_url;
use crate::extract::{JsonObject, QueryParams};
use crate::pages::template_value;
use crate::state::AppState;
use akin_store::InvitationFilter;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/if/admin/invitations/", get(list).post(create))
        .route("/if/admin/invitations/new/", get(new_page))
        .route(
            "/if/admin/invitations/{pk}/delete/",
            get(confirm_delete).post(delete),
        )
        .route("/if/admin/invitations/{pk}/qr.svg", get(qr_code))
        .route(
            "/if/admin/invitations/{pk}/send/",
            axum::routing::post(send_by_email),
        )
        .route(
            "/if/admin/invitations/{pk}/edit/",
            get(edit_page).post(save),
        )
        .route(
            "/if/admin/invitations/import/",
            get(import_page)
                .post(import)
                .layer(axum::extract::DefaultBodyLimit::max(api::MAX_BULK_BODY)),
        )
        .route(
            "/if/admin/invitations/{pk}/revoke/",
            axum::routing::post(revoke),
        )
        .route(
            "/if/admin/invitations/{pk}/reissue/",
            axum::routing::post(reissue),
        )
}

/// The CSV import's own page: what a file holds, and the form.
async fn import_page(admin: AdminSession, State(state): State<AppState>) -> ApiResult<Response> {
    show_import(&admin, &state, None, None).await
}

async fn show_import(
    admin: &AdminSession,
    state: &AppState,
    result: Option<shapes::BulkResult>,
    error: Option<String>,
) -> ApiResult<Response> {
    let flows = enrollment_flows(admin, state).await?;
    page(
        admin,
        "admin/invitation_import.html",
        "Import invitations",
        "/if/admin/invitations/",
        context! {
            result => template_value(&serde_json::to_value(&result).unwrap_or_default()),
            error => error,
            enrollment_flows => template_value(&flows),
        },
    )
}

/// Imports a CSV file through the API's `bulk/` and shows a result per row.
async fn import(
    admin: AdminSession,
    State(state): State<AppState>,
    headers: HeaderMap,
    form: axum::extract::Multipart,
) -> ApiResult<Response> {
    // The form as it came, to hand to the API (which reads the same fields).
    let fields = api::form_parts(form).await?;
    let text = |key: &str| {
        fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| String::from_utf8_lossy(v).trim().to_owned())
    };
    admin.check_csrf(text("csrf_token").as_deref())?;
    let atomic = text("atomic").is_some_and(|a| a == "true");
    let offset = text("expires_offset");
    let Superuser(caller) = admin.superuser();
    let outcome = api::bulk_from_parts(
        &caller,
        &state,
        &headers,
        fields
            .into_iter()
            .filter(|(k, _)| k != "csrf_token" && k != "atomic" && k != "expires_offset")
            .map(|(k, v)| match k.as_str() {
                "expires" if !v.trim_ascii().is_empty() => {
                    let local = String::from_utf8_lossy(&v).trim().to_owned();
                    let utc = super::local_time_as_utc(&local, offset.as_deref());
                    (k, utc.into_bytes())
                }
                _ => (k, v),
            })
            .collect(),
        atomic,
    )
    .await;
    let (result, error) = match outcome {
        Ok(result) => (Some(result), None),
        Err(ApiError::Validation(errors)) => (None, Some(errors.messages().join(" "))),
        Err(other) => return Err(other),
    };
    show_import(&admin, &state, result, error).await
}

/// The list page with invitation `pk` open, saying `notices` there.
fn back_to(pk: &str, notices: &[Notice]) -> Response {
    redirect_with(
        &format!("/if/admin/invitations/?status=all&opened={pk}#invitation-{pk}"),
        notices,
    )
}

/// Revokes the invitation through the API's `revoke/`.
async fn revoke(
    admin: AdminSession,
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(pk): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    admin.form(&body)?;
    let _revoked = api::revoke(admin.superuser(), State(state), meta, Path(pk.clone())).await?;
    Ok(back_to(
        &pk,
        &[Notice::Done(
            "Revoked: its link is refused from now on.".to_owned(),
        )],
    ))
}

/// Reissues the invitation through the API's `reissue/` (with the form's new expiry, if
/// any), then opens the new one.
async fn reissue(
    admin: AdminSession,
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(pk): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let fields = admin.form(&body)?;
    let mut request = Map::new();
    if let Some(expires) = field(&fields, "expires").filter(|e| !e.trim().is_empty()) {
        let expires = super::local_time_as_utc(expires, field(&fields, "expires_offset"));
        request.insert("expires".into(), Value::String(expires));
    }
    match api::reissue(
        admin.superuser(),
        State(state),
        meta,
        Path(pk.clone()),
        JsonObject(request),
    )
    .await
    {
        Ok((_, axum::Json(new))) => Ok(back_to(
            &new.pk.to_string(),
            &[Notice::Done(
                "Reissued: this is the new invitation; the old link is refused from now on."
                    .to_owned(),
            )],
        )),
        Err(ApiError::Validation(errors)) => {
            let message = errors
                .messages()
                .into_iter()
                .next()
                .unwrap_or_else(|| "The invitation was not reissued.".to_owned());
            Ok(back_to(&pk, &[Notice::Failed(message)]))
        }
        Err(other) => Err(other),
    }
}

/// The link an invitation is used with, as this browser reaches the server.
fn link(base: &str, invitation: &shapes::Invitation) -> Option<String> {
    let slug = &invitation.flow_obj.as_ref()?.slug;
    Some(akin_domain::invitation::link(base, slug, invitation.pk))
}

/// A QR code of the invitation's link, for showing on a screen or printing.
async fn qr_code(
    admin: AdminSession,
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(pk): Path<String>,
) -> ApiResult<Response> {
    let invitation = any_invitation(&admin, &state, &pk).await?;
    let base = public_base_url(state.mail.external_url.as_deref(), &headers);
    let link = link(&base, &invitation).ok_or(ApiError::NotFound("Invitation"))?;
    let code = qrcode::QrCode::new(link.as_bytes())
        .map_err(|e| ApiError::Internal(format!("QR code of {link:?}: {e}")))?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(192, 192)
        .quiet_zone(true)
        .build();
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "image/svg+xml"),
            (axum::http::header::CACHE_CONTROL, "private, no-store"),
        ],
        svg,
    )
        .into_response())
}

/// What the invitation form (Create and Edit) holds, to show it again with its errors.
#[derive(serde::Serialize)]
struct InvitationForm {
    name: String,
    /// As typed into the `datetime-local` input: in the zone `expires_offset` names.
    expires: String,
    /// Minutes east of UTC of the browser's zone at `expires`, sent by the page's script;
    /// empty when `expires` is UTC (no script, or a value from the server).
    expires_offset: String,
    flow: String,
    fixed_data: String,
    single_use: bool,
    allowed_email: String,
    groups: Vec<String>,
}

impl Default for InvitationForm {
    fn default() -> Self {
        InvitationForm {
            name: String::new(),
            expires: String::new(),
            expires_offset: String::new(),
            flow: String::new(),
            fixed_data: String::new(),
            // authentik's form has single use on by default.
            single_use: true,
            allowed_email: String::new(),
            groups: Vec::new(),
        }
    }
}

async fn list(
    admin: AdminSession,
    State(state): State<AppState>,
    headers: HeaderMap,
    q: QueryParams,
) -> ApiResult<Response> {
    show(&admin, &state, &headers, &q).await
}

/// The list, with the row `opened` (query) open and the message the last action left.
async fn show(
    admin: &AdminSession,
    state: &AppState,
    headers: &HeaderMap,
    q: &QueryParams,
) -> ApiResult<Response> {
    let status = q.get("status").unwrap_or("active").to_owned();
    let search = q.get("search").unwrap_or_default().to_owned();
    let mut pairs = vec![
        ("status".to_owned(), status.clone()),
        ("ordering".to_owned(), "-expires".to_owned()),
        ("page_size".to_owned(), "100".to_owned()),
    ];
    if !search.is_empty() {
        pairs.push(("search".to_owned(), search.clone()));
    }
    let axum::Json(body) = api::list(
        admin.superuser(),
        State(state.clone()),
        QueryParams::from_pairs(pairs),
    )
    .await?;
    let base = public_base_url(state.mail.external_url.as_deref(), headers);
    let invitations: Vec<Value> = body
        .results
        .iter()
        .map(|i| {
            let mut row = json_value!(i);
            if let Some(link) = link(&base, i) {
                row["link"] = Value::String(link);
            }
            row["uses_text"] = Value::String(match i.max_uses {
                Some(max) => format!("{} / {max}", i.uses),
                None => format!("{} / ∞", i.uses),
            });
            if !i.fixed_data.is_empty() {
                let text = serde_json::to_string_pretty(&i.fixed_data).unwrap_or_default();
                row["fixed_data_text"] = Value::String(text);
            }
            row
        })
        .collect();
    // Who enrolled with the invitation shown open.
    let uses: Vec<Value> = match q.get("opened").and_then(|o| Uuid::parse_str(o).ok()) {
        Some(opened) => state
            .store
            .invitation_uses(opened)
            .await?
            .iter()
            .map(|u| {
                let u = shapes::invitation_use(u);
                json_value!({
                    "username": u.username, "user": u.user,
                    "created": u.created, "client_ip": u.client_ip,
                })
            })
            .collect(),
        None => Vec::new(),
    };
    let opened = q.get("opened").and_then(|o| Uuid::parse_str(o).ok());
    let funnel = match opened {
        Some(opened) => Some(shapes::funnel(
            &state.store.invitation_funnel(Some(opened), None).await?,
        )),
        None => None,
    };
    let overall = shapes::funnel(&state.store.invitation_funnel(None, None).await?);
    // The last action's words go in the row it opened, where the page scrolls to.
    let notices_in_row =
        opened.is_some_and(|o| invitations.iter().any(|i| i["pk"] == o.to_string()));
    let mut notices = admin.notices.clone();
    if q.get("previewed").is_some() {
        notices.push(Notice::Done(
            "Preview finished: nothing was written, sent or used up.".to_owned(),
        ));
    }
    page(
        admin,
        "admin/invitations.html",
        "Invitations",
        "/if/admin/invitations/",
        context! {
            invitations => template_value(&Value::Array(invitations)),
            search => search,
            status => status,
            opened => q.get("opened").unwrap_or_default().to_owned(),
            notices_in_row => notices_in_row,
            notices => template_value(&serde_json::to_value(&notices).unwrap_or_default()),
            uses => template_value(&Value::Array(uses)),
            funnel => template_value(&serde_json::to_value(&funnel).unwrap_or_default()),
            overall => template_value(&serde_json::to_value(&overall).unwrap_or_default()),
        },
    )
}

/// Create's own page: the form, empty or as submitted with its errors (`Null` for none).
async fn new_page(admin: AdminSession, State(state): State<AppState>) -> ApiResult<Response> {
    show_new(&admin, &state, InvitationForm::default(), "", Value::Null).await
}

async fn show_new(
    admin: &AdminSession,
    state: &AppState,
    form: InvitationForm,
    send_to: &str,
    errors: Value,
) -> ApiResult<Response> {
    let flows = enrollment_flows(admin, state).await?;
    let groups = all_groups(admin, state).await?;
    page(
        admin,
        "admin/invitation_new.html",
        "Create an invitation",
        "/if/admin/invitations/",
        context! {
            enrollment_flows => template_value(&flows),
            groups => template_value(&groups),
            send_to => send_to,
            form => template_value(&serde_json::to_value(&form).unwrap_or_default()),
            errors => template_value(&errors),
        },
    )
}

/// Every group (pk and name), for the form's choice of groups.
async fn all_groups(admin: &AdminSession, state: &AppState) -> ApiResult<Value> {
    let q = QueryParams::from_pairs(vec![
        ("page_size".into(), "1000".into()),
        ("ordering".into(), "name".into()),
    ]);
    let axum::Json(groups) = groups_api::list(admin.superuser(), State(state.clone()), q).await?;
    Ok(Value::Array(
        groups
            .results
            .iter()
            .map(|g| json_value!({"pk": g.pk, "name": g.name}))
            .collect(),
    ))
}

/// Enrollment flows for the form, each saying whether it has an invitation stage.
async fn enrollment_flows(admin: &AdminSession, state: &AppState) -> ApiResult<Value> {
    let q = QueryParams::from_pairs(vec![
        ("designation".into(), "enrollment".into()),
        ("page_size".into(), "1000".into()),
    ]);
    let axum::Json(flows) = flows_api::list(admin.superuser(), State(state.clone()), q).await?;
    let q = QueryParams::from_pairs(vec![("page_size".into(), "1000".into())]);
    let axum::Json(stages) =
        catalog_api::all_stages(admin.superuser(), State(state.clone()), q).await?;
    let invitation_stages: Vec<Value> = stages
        .results
        .into_iter()
        .filter(|s| s["meta_model_name"] == catalog::INVITATION_STAGE)
        .map(|s| s["pk"].clone())
        .collect();
    Ok(Value::Array(
        flows
            .results
            .iter()
            .map(|f| {
                let has = f.stages.iter().any(|s| invitation_stages.contains(s));
                let mut row = json_value!(f);
                row["has_invitation_stage"] = Value::Bool(has);
                row
            })
            .collect(),
    ))
}

/// The form as the API's request body. Custom attributes are YAML or JSON; a mistake in
/// them is reported with its line and column.
fn request_body(form: &InvitationForm) -> Result<Map<String, Value>, ApiError> {
    let mut body = Map::new();
    body.insert("name".into(), Value::String(form.name.trim().to_owned()));
    body.insert("single_use".into(), Value::Bool(form.single_use));
    // Always a flow: the link needs one, and authentik's client cannot read an invitation
    // without (docs/api.md).
    if form.flow.is_empty() {
        return Err(ApiError::field(
            "flow",
            "Choose the flow the invitation is for (import an enrollment flow first if there is none).",
        ));
    }
    body.insert("flow".into(), Value::String(form.flow.clone()));
    if !form.expires.trim().is_empty() {
        let offset = Some(form.expires_offset.as_str()).filter(|o| !o.is_empty());
        body.insert(
            "expires".into(),
            Value::String(super::local_time_as_utc(&form.expires, offset)),
        );
    }
    let fixed = match form.fixed_data.trim() {
        "" => Value::Object(Map::new()),
        text => akin_blueprint::yaml::parse_data(text).map_err(|e| {
            ApiError::field("fixed_data", format!("Not valid YAML or JSON: line {e}"))
        })?,
    };
    if !fixed.is_object() {
        return Err(ApiError::field(
            "fixed_data",
            "Custom attributes must be a mapping of keys to values, such as `email: jane@example.com`.",
        ));
    }
    body.insert("fixed_data".into(), fixed);
    body.insert(
        "allowed_email".into(),
        Value::String(form.allowed_email.trim().to_owned()),
    );
    body.insert(
        "groups".into(),
        Value::Array(form.groups.iter().cloned().map(Value::String).collect()),
    );
    crate::extract::refuse_unstorable(&body)?;
    Ok(body)
}

impl InvitationForm {
    /// The form as submitted.
    fn from_fields(fields: &[(String, String)]) -> InvitationForm {
        InvitationForm {
            name: field(fields, "name").unwrap_or_default().to_owned(),
            expires: field(fields, "expires").unwrap_or_default().to_owned(),
            expires_offset: field(fields, "expires_offset")
                .unwrap_or_default()
                .to_owned(),
            flow: field(fields, "flow").unwrap_or_default().to_owned(),
            fixed_data: field(fields, "fixed_data").unwrap_or_default().to_owned(),
            single_use: field(fields, "single_use").is_some(),
            allowed_email: field(fields, "allowed_email")
                .unwrap_or_default()
                .to_owned(),
            groups: fields
                .iter()
                .filter(|(k, v)| k == "groups" && !v.is_empty())
                .map(|(_, v)| v.clone())
                .collect(),
        }
    }

    /// The form filled with an invitation as the API returns it.
    fn from_invitation(invitation: &shapes::Invitation) -> InvitationForm {
        let fixed = &invitation.fixed_data;
        InvitationForm {
            name: invitation.name.clone(),
            // `2026-12-01T10:00:00Z` -> a datetime-local value, `2026-12-01T10:00`.
            expires: invitation
                .expires
                .as_deref()
                .map(|e| e.get(..16).unwrap_or(e).to_owned())
                .unwrap_or_default(),
            expires_offset: String::new(),
            flow: invitation.flow.map(|f| f.to_string()).unwrap_or_default(),
            fixed_data: if fixed.is_empty() {
                String::new()
            } else {
                serde_json::to_string_pretty(fixed).unwrap_or_default()
            },
            single_use: invitation.single_use,
            allowed_email: invitation.allowed_email.clone(),
            groups: invitation.groups.iter().map(Uuid::to_string).collect(),
        }
    }
}

async fn edit_page(
    admin: AdminSession,
    State(state): State<AppState>,
    Path(pk): Path<String>,
) -> ApiResult<Response> {
    let invitation = any_invitation(&admin, &state, &pk).await?;
    show_edit(
        &admin,
        &state,
        &pk,
        InvitationForm::from_invitation(&invitation),
        Value::Null,
    )
    .await
}

async fn show_edit(
    admin: &AdminSession,
    state: &AppState,
    pk: &str,
    form: InvitationForm,
    errors: Value,
) -> ApiResult<Response> {
    let flows = enrollment_flows(admin, state).await?;
    let groups = all_groups(admin, state).await?;
    let heading = format!("Edit invitation {}", form.name);
    page(
        admin,
        "admin/invitation_edit.html",
        &heading,
        "/if/admin/invitations/",
        context! {
            pk => pk.to_owned(),
            enrollment_flows => template_value(&flows),
            groups => template_value(&groups),
            form => template_value(&serde_json::to_value(&form).unwrap_or_default()),
            errors => template_value(&errors),
        },
    )
}

/// Saves the edit through the API's partial update; errors come back on the form.
async fn save(
    admin: AdminSession,
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(pk): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let fields = admin.form(&body)?;
    let form = InvitationForm::from_fields(&fields);
    let saved = match request_body(&form) {
        Ok(mut body) => {
            // An emptied expiry means "never", not "unchanged".
            body.entry("expires").or_insert(Value::Null);
            api::partial_update(
                admin.superuser(),
                State(state.clone()),
                meta,
                Path(pk.clone()),
                all_statuses(),
                JsonObject(body),
            )
            .await
            .map(|_| ())
        }
        Err(error) => Err(error),
    };
    match saved {
        Ok(()) => Ok(back_to(
            &pk,
            &[Notice::Done(format!(
                "Saved invitation {}.",
                form.name.trim()
            ))],
        )),
        Err(ApiError::Validation(errors)) => {
            let errors = serde_json::to_value(&errors).unwrap_or_else(|_| json_value!({}));
            let mut response = show_edit(&admin, &state, &pk, form, errors).await?;
            *response.status_mut() = StatusCode::BAD_REQUEST;
            Ok(response)
        }
        Err(other) => Err(other),
    }
}

async fn create(
    admin: AdminSession,
    State(state): State<AppState>,
    headers: HeaderMap,
    meta: RequestMeta,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let fields = admin.form(&body)?;
    let form = InvitationForm::from_fields(&fields);
    let created = match request_body(&form) {
        Ok(body) => {
            api::create(
                admin.superuser(),
                State(state.clone()),
                meta,
                JsonObject(body),
            )
            .await
        }
        Err(error) => Err(error),
    };
    match created {
        Ok((_, axum::Json(invitation))) => {
            let pk = invitation.pk;
            // Say what was made, and what would surprise: an expiry already past (the
            // default list hides it), a name another invitation has too.
            let same_name = state
                .store
                .list_invitations(
                    &InvitationFilter {
                        name: Some(invitation.name.clone()),
                        status: None,
                        ..InvitationFilter::default()
                    },
                    &akin_domain::list::ListQuery::default(),
                    time::OffsetDateTime::now_utc(),
                )
                .await?
                .pagination
                .count;
            let mut notice = format!("Created invitation {}.", invitation.name);
            if invitation.status == akin_domain::invitation::InvitationState::Expired {
                notice.push_str(" Its expiry has already passed: it is listed under Expired, and its link is refused until you change it.");
            }
            if same_name > 1 {
                notice.push_str(&format!(
                    " {} other invitations have this name too.",
                    same_name - 1
                ));
            }
            let mut notices = vec![Notice::Done(notice)];
            let send_to = field(&fields, "send_to").unwrap_or_default().trim();
            if !send_to.is_empty() {
                notices.push(mail_link(&admin, state, headers, &pk.to_string(), send_to).await?);
            }
            Ok(back_to(&pk.to_string(), &notices))
        }
        Err(ApiError::Validation(errors)) => {
            let errors = serde_json::to_value(&errors).unwrap_or_else(|_| json_value!({}));
            let send_to = field(&fields, "send_to").unwrap_or_default();
            let mut response = show_new(&admin, &state, form, send_to, errors).await?;
            *response.status_mut() = StatusCode::BAD_REQUEST;
            Ok(response)
        }
        Err(other) => Err(other),
    }
}

fn all_statuses() -> QueryParams {
    QueryParams::from_pairs(vec![("status".into(), "all".into())])
}

/// The invitation `pk` as the API returns it, whatever its status.
async fn any_invitation(
    admin: &AdminSession,
    state: &AppState,
    pk: &str,
) -> ApiResult<shapes::Invitation> {
    let axum::Json(invitation) = api::retrieve(
        admin.superuser(),
        State(state.clone()),
        Path(pk.to_owned()),
        all_statuses(),
    )
    .await?;
    Ok(invitation)
}

async fn confirm_delete(
    admin: AdminSession,
    State(state): State<AppState>,
    Path(pk): Path<String>,
) -> ApiResult<Response> {
    let invitation = any_invitation(&admin, &state, &pk).await?;
    let axum::Json(used_by) = api::used_by(
        admin.superuser(),
        State(state.clone()),
        Path(pk),
        all_statuses(),
    )
    .await?;
    page(
        &admin,
        "admin/confirm_delete.html",
        "Delete invitation",
        "/if/admin/invitations/",
        context! {
            name => invitation.name,
            used_by => template_value(&json_value!(used_by)),
            back => "/if/admin/invitations/",
        },
    )
}

async fn delete(
    admin: AdminSession,
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(pk): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    admin.form(&body)?;
    let invitation = any_invitation(&admin, &state, &pk).await?;
    api::destroy(
        admin.superuser(),
        State(state),
        meta,
        Path(pk),
        all_statuses(),
    )
    .await?;
    Ok(redirect_with(
        "/if/admin/invitations/",
        &[Notice::Done(format!(
            "Deleted invitation {}; its link is refused from now on.",
            invitation.name
        ))],
    ))
}

/// "Send by email" on an invitation's row: the addresses through the API's `send_email/`;
/// back to the row with what happened.
async fn send_by_email(
    admin: AdminSession,
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(pk): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let fields = admin.form(&body)?;
    let to = field(&fields, "to").unwrap_or_default().to_owned();
    let outcome = mail_link(&admin, state, headers, &pk, &to).await?;
    Ok(back_to(&pk, &[outcome]))
}

/// Sends invitation `pk`'s link to `to` (addresses separated by commas, semicolons or
/// spaces) through the API's `send_email/`; what happened.
async fn mail_link(
    admin: &AdminSession,
    state: AppState,
    headers: HeaderMap,
    pk: &str,
    to: &str,
) -> ApiResult<Notice> {
    let addresses: Vec<Value> = to
        .split([',', ';', ' ', '\n'])
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| Value::String(a.to_owned()))
        .collect();
    let shown: Vec<String> = addresses
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    let mut request = Map::new();
    request.insert("email_addresses".into(), Value::Array(addresses));
    let outcome = api::send_email(
        admin.superuser(),
        State(state),
        headers,
        Path(pk.to_owned()),
        all_statuses(),
        JsonObject(request),
    )
    .await;
    Ok(match outcome {
        Ok(response) if response.status().is_success() => Notice::Done(format!(
            "Queued for {}: the Outbox shows when it is delivered.",
            shown.join(", ")
        )),
        Ok(response) => {
            let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024)
                .await
                .unwrap_or_default();
            let error: Value = serde_json::from_slice(&bytes).unwrap_or_default();
            Notice::Failed(
                error["error"]
                    .as_str()
                    .unwrap_or("The mail was not queued.")
                    .to_owned(),
            )
        }
        Err(ApiError::Validation(errors)) => Notice::Failed(errors.to_string()),
        Err(other) => return Err(other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_renders_rows_with_their_link_and_times_people_read() {
        let invitation = json_value!({
            "pk": "6b0f2c1e-0000-4000-8000-000000000001", "name": "jane",
            "created_by": {"username": "akadmin"}, "expires": "2026-12-01T10:00:00.123456Z",
            "flow_obj": {"slug": "default-enrollment-flow"}, "uses_text": "0 / 1",
            "status": "active", "link": "http://akin.test/if/flow/default-enrollment-flow/?itoken=6b0f2c1e-0000-4000-8000-000000000001",
            "fixed_data_text": "{\n  \"email\": \"jane@example.com\"\n}",
        });
        let html = crate::pages::render(
            "admin/invitations.html",
            context! {
                heading => "Invitations", current => "/if/admin/invitations/", nav => super::super::nav(),
                admin => "akadmin", csrf_token => "t0ken",
                invitations => template_value(&Value::Array(vec![invitation])), search => "", status => "active",
                opened => "6b0f2c1e-0000-4000-8000-000000000001",
                overall => template_value(&json_value!({"sent": 1, "opened": 2, "started": 1, "completed": 0})),
            },
        )
        .unwrap();
        let body = String::from_utf8(futures_body(html)).unwrap();
        assert!(
            body.contains(r#"id="invitation-6b0f2c1e-0000-4000-8000-000000000001" open"#),
            "{body}"
        );
        assert!(body.contains("Link to use the invitation"));
        assert!(body.contains("itoken=6b0f2c1e-0000-4000-8000-000000000001"));
        assert!(
            body.contains("&quot;email&quot;: &quot;jane@example.com&quot;"),
            "{body}"
        );
        // One time format: UTC in the page, the browser's zone by the script, UTC on hover.
        assert!(
            body.contains(r#"<time datetime="2026-12-01T10:00:00Z" title="2026-12-01 10:00:00 UTC">2026-12-01 10:00:00 UTC</time>"#),
            "{body}"
        );
        assert!(
            body.contains(r#"href="/if/admin/invitations/new/""#),
            "{body}"
        );
        assert!(body.contains(r#"value="t0ken""#));
    }

    #[test]
    fn the_create_page_shows_the_form_with_its_errors() {
        let html = crate::pages::render(
            "admin/invitation_new.html",
            context! {
                heading => "Create an invitation", current => "/if/admin/invitations/", nav => super::super::nav(),
                admin => "akadmin", csrf_token => "t0ken", send_to => "jane@example.com",
                enrollment_flows => template_value(&json_value!([{"pk": "f", "name": "Enroll", "slug": "enroll", "has_invitation_stage": true}])),
                groups => template_value(&json_value!([{"pk": "g", "name": "Team A"}])),
                form => template_value(&serde_json::to_value(InvitationForm::default()).unwrap()),
                errors => template_value(&json_value!({"name": ["This field is required."]})),
            },
        )
        .unwrap();
        let body = String::from_utf8(futures_body(html)).unwrap();
        assert!(
            body.contains(r#"<p class="field-error" id="error-name">This field is required.</p>"#),
            "{body}"
        );
        assert!(body.contains("Enroll (enroll) — has an invitation stage"));
        assert!(body.contains(">Team A</option>"));
        assert!(
            body.contains(r#"name="single_use" type="checkbox" value="true" checked"#),
            "{body}"
        );
        assert!(body.contains(r#"value="jane@example.com""#), "{body}");
        assert!(body.contains(r#"value="t0ken""#));
    }

    #[test]
    fn an_expiry_is_read_in_the_zone_the_browser_sent() {
        use super::super::local_time_as_utc;
        assert_eq!(
            local_time_as_utc("2026-12-01T10:00", None),
            "2026-12-01T10:00:00Z"
        );
        // Berlin in winter is UTC+1; New York UTC-5.
        assert_eq!(
            local_time_as_utc("2026-12-01T10:00", Some("60")),
            "2026-12-01T09:00:00Z"
        );
        assert_eq!(
            local_time_as_utc("2026-12-01T22:30", Some("-300")),
            "2026-12-02T03:30:00Z"
        );
        // No browser sends these: the value stays UTC rather than moving by a day.
        assert_eq!(
            local_time_as_utc("2026-12-01T10:00", Some("5000")),
            "2026-12-01T10:00:00Z"
        );
        assert_eq!(
            local_time_as_utc("2026-12-01T10:00", Some("east")),
            "2026-12-01T10:00:00Z"
        );
        assert_eq!(local_time_as_utc("tomorrow", Some("60")), "tomorrow");
    }

    /// The body of a rendered page.
    fn futures_body(response: Response) -> Vec<u8> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime
            .block_on(axum::body::to_bytes(response.into_body(), usize::MAX))
            .unwrap()
            .to_vec()
    }
}
