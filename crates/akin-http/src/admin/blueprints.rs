//! Customization → Blueprints: the blueprint instances, how each last applied (with the
//! error's log), and Apply.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use minijinja::context;
use serde_json::{Value, json};

use super::{AdminSession, page};
use crate::api::blueprint_instances as api;
use crate::error::ApiResult;
use crate::extract::QueryParams;
use crate::pages::template_value;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/if/admin/blueprints/", get(list))
        .route("/if/admin/blueprints/{pk}/apply/", post(apply))
}

async fn list(admin: AdminSession, State(state): State<AppState>) -> ApiResult<Response> {
    let q = QueryParams::from_pairs(vec![("page_size".into(), "100".into())]);
    let folder = state
        .blueprints
        .dir
        .as_ref()
        .map(|d| d.display().to_string());
    let axum::Json(body) = api::list(admin.superuser(), State(state), q).await?;
    let instances: Vec<Value> = body.results.iter().map(|i| json!(i)).collect();
    page(
        &admin,
        "admin/blueprints.html",
        "Blueprints",
        "/if/admin/blueprints/",
        context! { instances => template_value(&Value::Array(instances)), folder => folder },
    )
}

async fn apply(
    admin: AdminSession,
    State(state): State<AppState>,
    Path(pk): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    admin.form(&body)?;
    let axum::Json(applied) = api::apply(admin.superuser(), State(state), Path(pk)).await?;
    use akin_domain::blueprint_instance::InstanceStatus;
    let said = match applied.status {
        InstanceStatus::Successful => super::Notice::Done(format!("Applied {}.", applied.name)),
        InstanceStatus::Warning => super::Notice::Done(format!(
            "Applied {}, with warnings listed in its row.",
            applied.name
        )),
        _ => super::Notice::Failed(format!(
            "{} was not applied: its errors are listed in its row; nothing was changed.",
            applied.name
        )),
    };
    Ok(super::redirect_with(
        &format!("/if/admin/blueprints/#instance-{}", applied.pk),
        &[said],
    ))
}
