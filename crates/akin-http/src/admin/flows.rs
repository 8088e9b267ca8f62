//! Flows and Stages → Flows: the list, Import (a blueprint upload), a flow's page with its
//! bindings, and delete with the used-by check.

use axum::Router;
use axum::extract::{Multipart, Path, State};
use axum::response::Response;
use axum::routing::get;
use minijinja::context;
use serde_json::Value;

use super::{AdminSession, page};
use crate::api::shapes::ImportResult;
use crate::api::{catalog_api, flows as flows_api, managed};
use crate::audit::RequestMeta;
use crate::error::ApiResult;
use crate::extract::QueryParams;
use crate::pages::template_value;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/if/admin/flows/", get(list))
        .route(
            "/if/admin/flows/import/",
            axum::routing::post(import).layer(axum::extract::DefaultBodyLimit::max(
                managed::MAX_IMPORT_BODY,
            )),
        )
        .route("/if/admin/flows/{slug}/", get(flow_page))
        .route(
            "/if/admin/flows/{slug}/delete/",
            get(confirm_delete).post(delete),
        )
}

async fn flows(state: &AppState, admin: &AdminSession) -> ApiResult<Vec<Value>> {
    let q = QueryParams::from_pairs(vec![("page_size".into(), "1000".into())]);
    let axum::Json(body) = flows_api::list(admin.superuser(), State(state.clone()), q).await?;
    Ok(body.results.iter().map(|f| serde_json::json!(f)).collect())
}

async fn list(admin: AdminSession, State(state): State<AppState>) -> ApiResult<Response> {
    let flows = flows(&state, &admin).await?;
    page(
        &admin,
        "admin/flows.html",
        "Flows",
        "/if/admin/flows/",
        context! { flows => template_value(&Value::Array(flows)) },
    )
}

/// Imports the uploaded blueprint through the API's import and shows its log lines; a
/// refused blueprint changes nothing.
async fn import(
    admin: AdminSession,
    State(state): State<AppState>,
    form: Multipart,
) -> ApiResult<Response> {
    let form = managed::read_form(form).await?;
    admin.check_csrf(form.csrf_token.as_deref())?;
    let report = match form.file.filter(|f| !f.is_empty()) {
        Some(file) => {
            let (_, axum::Json(report)) =
                managed::run(&state, admin.user.user.pk, &file, serde_json::Map::new()).await?;
            report
        }
        None => ImportResult {
            success: false,
            logs: vec![
                serde_json::json!({"log_level": "error", "event": "Choose a blueprint file to import."}),
            ],
        },
    };
    let flows = flows(&state, &admin).await?;
    let mut response = page(
        &admin,
        "admin/flows.html",
        "Flows",
        "/if/admin/flows/",
        context! {
            flows => template_value(&Value::Array(flows)),
            import_success => report.success,
            import_logs => template_value(&Value::Array(report.logs.clone())),
        },
    )?;
    if !report.success {
        *response.status_mut() = axum::http::StatusCode::BAD_REQUEST;
    }
    Ok(response)
}

async fn flow_page(
    admin: AdminSession,
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> ApiResult<Response> {
    let axum::Json(flow) =
        flows_api::retrieve(admin.superuser(), State(state.clone()), Path(slug)).await?;
    let endpoint = catalog_api::endpoint_for(akin_domain::catalog::FLOW_STAGE_BINDING);
    let q = QueryParams::from_pairs(vec![
        (
            "target".into(),
            flow.pk.as_str().unwrap_or_default().to_owned(),
        ),
        ("ordering".into(), "order".into()),
        ("page_size".into(), "1000".into()),
    ]);
    let axum::Json(bindings) =
        catalog_api::list(endpoint, admin.superuser(), State(state.clone()), q).await?;
    // Each binding comes with its stage (`stage_obj`), as authentik's API sends it.
    let bindings = Value::Array(bindings.results);
    let title = format!("Flow {}", flow.name.as_str().unwrap_or_default());
    page(
        &admin,
        "admin/flow.html",
        &title,
        "/if/admin/flows/",
        context! { flow => template_value(&serde_json::json!(flow)), bindings => template_value(&bindings) },
    )
}

async fn confirm_delete(
    admin: AdminSession,
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> ApiResult<Response> {
    let axum::Json(flow) =
        flows_api::retrieve(admin.superuser(), State(state.clone()), Path(slug.clone())).await?;
    let axum::Json(used_by) =
        flows_api::used_by(admin.superuser(), State(state.clone()), Path(slug)).await?;
    // What people lose with it, said before it is gone.
    let consequence = match flow.designation.as_str().unwrap_or_default() {
        "authentication" => {
            "This is a sign-in flow: if it is the one people sign in with, nobody (you \
             included) can sign in once it is deleted, until another takes its place."
        }
        "enrollment" => "Invitation links to it stop working: invitees are refused.",
        "recovery" => "\"Forgot password?\" leads nowhere once it is deleted.",
        "invalidation" => "Signing out stops working once it is deleted.",
        _ => "",
    };
    page(
        &admin,
        "admin/confirm_delete.html",
        "Delete flow",
        "/if/admin/flows/",
        context! {
            consequence => consequence,
            name => flow.name.as_str().unwrap_or_default().to_owned(),
            used_by => template_value(&serde_json::json!(used_by)),
            back => "/if/admin/flows/",
        },
    )
}

async fn delete(
    admin: AdminSession,
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(slug): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    admin.form(&body)?;
    flows_api::destroy(admin.superuser(), State(state), meta, Path(slug.clone())).await?;
    Ok(super::redirect_with(
        "/if/admin/flows/",
        &[super::Notice::Done(format!("Deleted flow {slug}."))],
    ))
}
