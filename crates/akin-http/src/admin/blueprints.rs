//! Customization → Blueprints: the blueprint instances, how each last applied (with the
//! error's log), and Apply.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::context;
use serde_json::{Value, json};

use super::{AdminSession, page, readable_time};
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
    let instances: Vec<Value> = body
        .results
        .iter()
        .map(|i| {
            let mut row = json!(i);
            row["last_applied_text"] = Value::String(
                i.last_applied
                    .as_deref()
                    .map_or_else(|| "never".to_owned(), readable_time),
            );
            row
        })
        .collect();
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
    Ok(Redirect::to(&format!("/if/admin/blueprints/#instance-{}", applied.pk)).into_response())
}
