//! Blueprint import: `POST /api/v3/managed/blueprints/import/` (file, path or both, plus a
//! JSON `context`) and the older `POST /api/v3/flows/instances/import/` (file). Both answer
//! 200 `{"success", "logs"}` whether or not the blueprint applied, as authentik does; a
//! request with nothing to import is a 400 of the same shape.

use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Map, Value, json};

use crate::api::openapi::Forbidden;
use crate::api::shapes::{BlueprintFile, ImportFormSchema, ImportResult};
use crate::auth::Superuser;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use akin_flow::blueprints::{ImportReport, ImportRequest, import};

/// The largest upload the import endpoints read (a blueprint's limit plus form overhead).
pub const MAX_IMPORT_BODY: usize = akin_blueprint::yaml::MAX_BLUEPRINT_BYTES + 64 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/managed/blueprints/import/", post(import_blueprint))
        .route("/managed/blueprints/available/", get(available))
        .route("/flows/instances/import/", post(import_flow))
}

/// The parts of an import form.
#[derive(Default)]
pub(crate) struct ImportForm {
    pub file: Option<Vec<u8>>,
    path: Option<String>,
    context: Option<String>,
    /// The admin pages' CSRF token (the API authenticates otherwise).
    pub csrf_token: Option<String>,
}

pub(crate) async fn read_form(mut form: Multipart) -> ApiResult<ImportForm> {
    let mut out = ImportForm::default();
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
        match name.as_str() {
            "file" => out.file = Some(bytes.to_vec()),
            "path" => out.path = Some(String::from_utf8_lossy(&bytes).trim().to_owned()),
            "context" => out.context = Some(String::from_utf8_lossy(&bytes).into_owned()),
            "csrf_token" => out.csrf_token = Some(String::from_utf8_lossy(&bytes).into_owned()),
            _ => {}
        }
    }
    Ok(out)
}

fn respond(report: &ImportReport) -> (StatusCode, Json<ImportResult>) {
    (
        StatusCode::OK,
        Json(ImportResult {
            success: report.success(),
            logs: report.logs(),
        }),
    )
}

fn nothing_to_import(message: &str) -> (StatusCode, Json<ImportResult>) {
    (
        StatusCode::BAD_REQUEST,
        Json(ImportResult {
            success: false,
            logs: vec![json!({
                "timestamp": crate::format::datetime(time::OffsetDateTime::now_utc()),
                "log_level": "error", "logger": "akin.blueprints", "event": message, "attributes": {},
            })],
        }),
    )
}

pub(crate) async fn run(
    state: &AppState,
    caller_pk: i64,
    bytes: &[u8],
    context: Map<String, Value>,
) -> ApiResult<(StatusCode, Json<ImportResult>)> {
    let report = import(
        &state.store,
        ImportRequest {
            bytes,
            context,
            files: None,
            acting_user: Some(caller_pk),
            dry_run: false,
            expressions: state.expressions.as_ref(),
            // Uploaded by whoever holds an administrator's session or token.
            env: &state.uploaded_blueprint_env,
        },
    )
    .await?;
    if let Some(error) = &report.error {
        tracing::info!(%error, "blueprint import refused");
    }
    Ok(respond(&report))
}

#[utoipa::path(post, path = "/api/v3/managed/blueprints/import/",
    operation_id = "managed_blueprints_import_create", tag = "managed",
    request_body(content = ImportFormSchema, content_type = "multipart/form-data"),
    responses((status = 200, description = "OK", body = ImportResult), (status = 400, description = "Refused", body = ImportResult), Forbidden))]
pub(crate) async fn import_blueprint(
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    form: Multipart,
) -> ApiResult<(StatusCode, Json<ImportResult>)> {
    let form = read_form(form).await?;
    let context = match form.context.as_deref().map(str::trim) {
        None | Some("") => Map::new(),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => map,
            _ => return Err(ApiError::field("context", "context must be a JSON object")),
        },
    };
    let bytes = match (form.file, form.path.filter(|p| !p.is_empty())) {
        (Some(file), _) if !file.is_empty() => file,
        (_, Some(path)) => match state.blueprints.read(&path) {
            Some(text) => text.into_bytes(),
            None => {
                return Ok(nothing_to_import(&format!(
                    "no available blueprint has the path {path:?}; \
                     GET /api/v3/managed/blueprints/available/ lists them"
                )));
            }
        },
        _ => return Ok(nothing_to_import("give a blueprint as `file` or `path`")),
    };
    run(&state, caller.user.user.pk, &bytes, context).await
}

#[utoipa::path(post, path = "/api/v3/flows/instances/import/",
    operation_id = "flows_instances_import_create", tag = "flows",
    request_body(content = ImportFormSchema, content_type = "multipart/form-data"),
    responses((status = 200, description = "OK", body = ImportResult), (status = 400, description = "Refused", body = ImportResult), Forbidden))]
pub(crate) async fn import_flow(
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    form: Multipart,
) -> ApiResult<(StatusCode, Json<ImportResult>)> {
    let form = read_form(form).await?;
    match form.file {
        Some(file) if !file.is_empty() => run(&state, caller.user.user.pk, &file, Map::new()).await,
        _ => Ok(nothing_to_import("give a blueprint as `file`")),
    }
}

/// The blueprints that can be imported or instantiated by `path`: the blueprints folder's,
/// then those akin ships (authentik's `BlueprintFile`).
#[utoipa::path(get, path = "/api/v3/managed/blueprints/available/",
    operation_id = "managed_blueprints_available_list", tag = "managed",
    responses((status = 200, description = "OK", body = Vec<BlueprintFile>), Forbidden))]
pub(crate) async fn available(
    Superuser(_): Superuser,
    State(state): State<AppState>,
) -> Json<Vec<BlueprintFile>> {
    let folder = state.blueprints.clone();
    let files = tokio::task::spawn_blocking(move || folder.available())
        .await
        .unwrap_or_default();
    Json(
        files
            .into_iter()
            .map(|file| BlueprintFile {
                path: file.path,
                last_m: crate::format::datetime(file.last_modified),
                hash: file.hash,
                meta: file.metadata,
            })
            .collect(),
    )
}
