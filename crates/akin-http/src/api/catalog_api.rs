//! The configuration endpoints that are plain CRUD over a catalog model: stages of each
//! kind, prompts, flow-stage bindings, policies of each kind and policy bindings. One
//! implementation, driven by the catalog, so every model validates, answers and errs the
//! same way. Lists are filtered, ordered and paged in the database.

use std::sync::LazyLock;

use akin_domain::catalog::{self, FieldType, ModelSpec};
use akin_domain::event::{EventAction, ModelRef};
use akin_flow::objects;
use akin_store::FieldMatch;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::api::openapi::{Forbidden, InputErrors, ListParams};
use crate::api::shapes::Challenge;
use crate::api::shapes::{self, Paginated};
use crate::audit::{self, RequestMeta};
use crate::auth::Superuser;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonObject, QueryParams};
use crate::state::AppState;

/// One model's endpoint, as the catalog declares it ([`catalog::ApiSpec`]).
pub(crate) struct Endpoint {
    path: &'static str,
    model: &'static str,
    /// The admin UI's form element, for stage responses.
    component: &'static str,
    verbose: String,
    verbose_plural: &'static str,
}

/// Every model the catalog serves as plain CRUD.
static ENDPOINTS: LazyLock<Vec<Endpoint>> = LazyLock::new(|| {
    catalog::MODELS
        .iter()
        .filter_map(|spec| {
            let api = spec.api.as_ref()?;
            Some(Endpoint {
                path: api.path,
                model: spec.name,
                component: api.component,
                verbose: spec.verbose_name(),
                verbose_plural: api.verbose_plural,
            })
        })
        .collect()
});

pub(crate) async fn render_object(
    state: &AppState,
    model: &str,
    object: Map<String, Value>,
) -> ApiResult<Value> {
    render(state, endpoint_for(model), object).await
}

pub fn router() -> Router<AppState> {
    let mut router = Router::new()
        .route("/stages/all/", get(all_stages))
        .route("/stages/all/types/", get(stage_types))
        .route(
            "/stages/prompt/prompts/preview/",
            axum::routing::post(preview_prompt),
        );
    for endpoint in ENDPOINTS.iter() {
        let item = format!("{}{{pk}}/", endpoint.path);
        let used_by_path = format!("{}{{pk}}/used_by/", endpoint.path);
        router = router
            .route(
                endpoint.path,
                get(move |s: Superuser, st: State<AppState>, q: QueryParams| {
                    list(endpoint, s, st, q)
                })
                .post(
                    move |s: Superuser, st: State<AppState>, m: RequestMeta, b: JsonObject| {
                        create(endpoint, s, st, m, b)
                    },
                ),
            )
            .route(
                &item,
                get(move |s: Superuser, st: State<AppState>, p: Path<String>| {
                    retrieve(endpoint, s, st, p)
                })
                .put(
                    move |s: Superuser,
                          st: State<AppState>,
                          m: RequestMeta,
                          p: Path<String>,
                          b: JsonObject| {
                        change(endpoint, s, st, m, p, b, false)
                    },
                )
                .patch(
                    move |s: Superuser,
                          st: State<AppState>,
                          m: RequestMeta,
                          p: Path<String>,
                          b: JsonObject| change(endpoint, s, st, m, p, b, true),
                )
                .delete(
                    move |s: Superuser, st: State<AppState>, m: RequestMeta, p: Path<String>| {
                        destroy(endpoint, s, st, m, p)
                    },
                ),
            )
            .route(
                &used_by_path,
                get(move |s: Superuser, st: State<AppState>, p: Path<String>| {
                    used_by(endpoint, s, st, p)
                }),
            );
    }
    router
}

/// `GET …/{pk}/used_by/` for `endpoint`'s model: what refers to the object, and what its
/// deletion would do to each.
async fn used_by(
    endpoint: &'static Endpoint,
    _: Superuser,
    State(state): State<AppState>,
    Path(pk): Path<String>,
) -> ApiResult<Json<Vec<shapes::UsedBy>>> {
    let object = find(&state, endpoint, &pk).await?;
    let referrers = state.store.used_by(endpoint.model, &object["pk"]).await?;
    Ok(Json(shapes::used_by(&referrers)))
}

fn spec(endpoint: &Endpoint) -> &'static ModelSpec {
    catalog::spec(endpoint.model).expect("every endpoint's model is in the catalog")
}

fn model_ref(endpoint: &Endpoint, object: &Map<String, Value>) -> ModelRef {
    let (app, model_name) = endpoint
        .model
        .split_once('.')
        .unwrap_or(("akin", endpoint.model));
    ModelRef {
        app,
        model_name,
        pk: shapes_text(&object["pk"]),
        name: object.get("name").map(shapes_text).unwrap_or_default(),
    }
}

fn shapes_text(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}

/// The object as authentik answers it: stored fields, plus the stage base fields for stages.
async fn render(
    state: &AppState,
    endpoint: &Endpoint,
    mut object: Map<String, Value>,
) -> ApiResult<Value> {
    let spec = spec(endpoint);
    object.retain(|k, _| k == "pk" || spec.field(k).is_some_and(|f| !f.write_only));
    if spec.is_stage() {
        let mut tx = state.store.db().begin().await?;
        let bindings = tx
            .find_objects(
                catalog::FLOW_STAGE_BINDING,
                &[("stage".to_owned(), object["pk"].clone())],
            )
            .await?;
        let mut flow_set = Vec::new();
        for binding in bindings {
            if let Some(flow) = tx
                .find_objects(
                    catalog::FLOW,
                    &[("pk".to_owned(), binding["target"].clone())],
                )
                .await?
                .into_iter()
                .next()
            {
                flow_set.push(json!(shapes::flow(&flow, &[])));
            }
        }
        object.insert("component".into(), json!(endpoint.component));
        object.insert("verbose_name".into(), json!(endpoint.verbose));
        object.insert("verbose_name_plural".into(), json!(endpoint.verbose_plural));
        object.insert("meta_model_name".into(), json!(endpoint.model));
        object.insert("flow_set".into(), Value::Array(flow_set));
    }
    if spec.is_policy() {
        let bound_to = state
            .store
            .find_objects(
                catalog::POLICY_BINDING,
                &[("policy".to_owned(), object["pk"].clone())],
            )
            .await?
            .len();
        object.insert("component".into(), json!(endpoint.component));
        object.insert("verbose_name".into(), json!(endpoint.verbose));
        object.insert("verbose_name_plural".into(), json!(endpoint.verbose_plural));
        object.insert("meta_model_name".into(), json!(endpoint.model));
        object.insert("bound_to".into(), json!(bound_to));
    }
    if endpoint.model == catalog::PROMPT {
        // authentik's `prompt_stages_obj`: the prompt stages showing this prompt.
        let prompt_stage = endpoint_for(catalog::PROMPT_STAGE);
        let stages = state.store.find_objects(catalog::PROMPT_STAGE, &[]).await?;
        let mut using = Vec::new();
        for stage in stages {
            let listed = stage
                .get("fields")
                .and_then(Value::as_array)
                .is_some_and(|fields| fields.contains(&object["pk"]));
            if listed {
                using.push(Box::pin(render(state, prompt_stage, stage)).await?);
            }
        }
        object.insert("prompt_stages_obj".into(), Value::Array(using));
    }
    if endpoint.model == catalog::FLOW_STAGE_BINDING {
        // authentik's binding models are policy binding targets; the stage comes along.
        object.insert("policybindingmodel_ptr_id".into(), object["pk"].clone());
        let mut tx = state.store.db().begin().await?;
        let found = akin_flow::blueprints::find_stage(&mut tx, &object["stage"]).await?;
        drop(tx);
        let stage_obj = match found {
            Some((kind, stage)) => Box::pin(render(state, endpoint_for(kind), stage)).await?,
            None => Value::Null,
        };
        object.insert("stage_obj".into(), stage_obj);
    }
    if endpoint.model == catalog::POLICY_BINDING {
        // akin's bindings do not expire.
        object.entry("expires").or_insert(Value::Null);
        object.entry("expiring").or_insert(Value::Bool(false));
        let policy = match object.get("policy").filter(|p| !p.is_null()) {
            Some(pk) => {
                let mut tx = state.store.db().begin().await?;
                let found = tx.find_policies(std::slice::from_ref(pk)).await?;
                drop(tx);
                match found.into_iter().next() {
                    Some((kind, policy)) => {
                        Box::pin(render(state, endpoint_for(kind), policy)).await?
                    }
                    None => Value::Null,
                }
            }
            None => Value::Null,
        };
        object.insert("policy_obj".into(), policy);
        object.entry("group_obj").or_insert(Value::Null);
        object.entry("user_obj").or_insert(Value::Null);
    }
    Ok(Value::Object(object))
}

/// `POST …/prompts/preview/`: the prompt in the body (as for a create; its name may be
/// left out) as its challenge would show it, with its expressions evaluated for the caller;
/// a failing expression is a 400 with its error, as authentik's.
#[utoipa::path(post, path = "/api/v3/stages/prompt/prompts/preview/",
    operation_id = "stages_prompt_prompts_preview_create", tag = "stages",
    request_body = ref("#/components/schemas/PromptRequest"),
    responses((status = 200, description = "OK", body = Challenge), InputErrors))]
pub(crate) async fn preview_prompt(
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    meta: RequestMeta,
    JsonObject(mut body): JsonObject,
) -> ApiResult<Json<Value>> {
    body.insert("name".into(), Value::String("preview".into()));
    let spec = catalog::spec(catalog::PROMPT).expect("the catalog has prompts");
    let fields = catalog::validate(spec, &body, false).map_err(ApiError::Validation)?;
    let prompt = catalog::typed(catalog::PROMPT, &fields)
        .map_err(|e| ApiError::field("non_field_errors", e.to_string()))?;
    match state
        .engine
        .preview_prompt(prompt, &meta, Some(caller.user.user.pk))
        .await?
    {
        Ok(fields) => Ok(Json(
            json!({"component": "ak-stage-prompt", "fields": fields}),
        )),
        Err(error) => Err(ApiError::field("non_field_errors", error)),
    }
}

/// The kinds of stage there are to create.
#[utoipa::path(get, path = "/api/v3/stages/all/types/", operation_id = "stages_all_types_list",
    tag = "stages", responses((status = 200, description = "OK", body = Vec<shapes::TypeCreate>), Forbidden))]
pub(crate) async fn stage_types(_: Superuser) -> Json<Vec<shapes::TypeCreate>> {
    Json(types(ModelSpec::is_stage))
}

/// authentik's `types/` answer (`TypeCreate`): each kind of the catalog's models that
/// `kind` selects, by name, as the admin interface offers them to create.
pub(crate) fn types(kind: impl Fn(&ModelSpec) -> bool) -> Vec<shapes::TypeCreate> {
    let mut types: Vec<shapes::TypeCreate> = catalog::MODELS
        .iter()
        .filter(|spec| kind(spec))
        .filter_map(|spec| {
            let api = spec.api.as_ref()?;
            Some(shapes::TypeCreate {
                name: spec.verbose_name(),
                description: api.description,
                component: api.component,
                model_name: spec.model_name(),
                icon_url: None,
                requires_enterprise: false,
            })
        })
        .collect();
    types.sort_by(|a, b| a.name.cmp(&b.name));
    types
}

/// Every catalog endpoint (the OpenAPI document describes them from the catalog).
pub(crate) fn endpoints() -> &'static [Endpoint] {
    &ENDPOINTS
}

impl Endpoint {
    pub(crate) fn path(&self) -> &'static str {
        self.path
    }

    pub(crate) fn model(&self) -> &'static str {
        self.model
    }

    pub(crate) fn verbose(&self) -> &str {
        &self.verbose
    }
}

/// The endpoint serving `model`.
pub(crate) fn endpoint_for(model: &str) -> &'static Endpoint {
    ENDPOINTS
        .iter()
        .find(|e| e.model == model)
        .expect("every catalog model has an endpoint")
}

async fn find(state: &AppState, endpoint: &Endpoint, pk: &str) -> ApiResult<Map<String, Value>> {
    let pk = Uuid::parse_str(pk).map_err(|_| ApiError::NotFound("object"))?;
    let mut tx = state.store.db().begin().await?;
    tx.find_objects(
        endpoint.model,
        &[("pk".to_owned(), Value::String(pk.to_string()))],
    )
    .await?
    .into_iter()
    .next()
    .ok_or(ApiError::NotFound("object"))
}

/// Exact-match filters on any field, as authentik's filtersets offer: text ignoring case,
/// booleans and numbers as the catalog reads them, list fields by one of their items.
pub(crate) fn list_filters(spec: &ModelSpec, q: &QueryParams) -> Vec<(String, FieldMatch)> {
    let mut filters = Vec::new();
    for field in spec.fields {
        let Some(wanted) = q.get(field.name) else {
            continue;
        };
        let text = || Value::String(wanted.to_owned());
        let matches = match field.ty {
            FieldType::Text | FieldType::Slug | FieldType::Choice(_) | FieldType::Datetime => {
                FieldMatch::Text(wanted.to_owned())
            }
            FieldType::Bool | FieldType::Int => {
                let mut one = Map::new();
                one.insert(field.name.to_owned(), text());
                let typed = catalog::validate(spec, &one, true)
                    .ok()
                    .and_then(|mut valid| valid.remove(field.name));
                FieldMatch::Exact(typed.unwrap_or_else(text))
            }
            FieldType::Ref(catalog::USER) => {
                FieldMatch::Exact(wanted.parse::<i64>().map_or_else(|_| text(), Value::from))
            }
            FieldType::Ref(_) => FieldMatch::Exact(text()),
            FieldType::RefList(_) | FieldType::TextList => FieldMatch::Contains(text()),
            FieldType::Object => continue,
        };
        filters.push((field.name.to_owned(), matches));
    }
    if let Some(pk) = q.get("pk") {
        filters.push((
            "pk".to_owned(),
            FieldMatch::Exact(Value::String(pk.to_owned())),
        ));
    }
    filters
}

pub(crate) async fn list(
    endpoint: &'static Endpoint,
    _: Superuser,
    State(state): State<AppState>,
    q: QueryParams,
) -> ApiResult<Json<Paginated<Value>>> {
    let spec = spec(endpoint);
    let query = q.list_query("")?;
    let default_order = if spec.field("order").is_some() {
        "order"
    } else {
        "name"
    };
    let page = state
        .store
        .list_objects(
            endpoint.model,
            &list_filters(spec, &q),
            &query,
            default_order,
            &["name"],
        )
        .await?;
    let mut results = Vec::with_capacity(page.results.len());
    for object in page.results {
        results.push(render(&state, endpoint, object).await?);
    }
    Ok(Json(Paginated::with(page.pagination, results)))
}

async fn retrieve(
    endpoint: &'static Endpoint,
    _: Superuser,
    State(state): State<AppState>,
    Path(pk): Path<String>,
) -> ApiResult<Json<Value>> {
    let object = find(&state, endpoint, &pk).await?;
    Ok(Json(render(&state, endpoint, object).await?))
}

/// Checks and writes through the engine's one write path; returns the primary key.
async fn write(
    state: &AppState,
    endpoint: &Endpoint,
    pk: Option<&Value>,
    JsonObject(body): JsonObject,
    partial: bool,
) -> ApiResult<Value> {
    let spec = spec(endpoint);
    let mut tx = state.store.db().begin().await?;
    let fields = objects::check(&mut tx, state.expressions.as_ref(), spec, &body, partial).await?;
    let pk = objects::save(&mut tx, spec, pk, &fields, time::OffsetDateTime::now_utc()).await?;
    tx.commit().await?;
    Ok(pk)
}

pub(crate) async fn create(
    endpoint: &'static Endpoint,
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    meta: RequestMeta,
    body: JsonObject,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let pk = write(&state, endpoint, None, body, false).await?;
    let object = find(&state, endpoint, &shapes_text(&pk)).await?;
    audit::record(
        &state,
        &caller,
        &meta,
        EventAction::ModelCreated,
        model_ref(endpoint, &object),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(render(&state, endpoint, object).await?),
    ))
}

pub(crate) async fn change(
    endpoint: &'static Endpoint,
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(pk): Path<String>,
    body: JsonObject,
    partial: bool,
) -> ApiResult<Json<Value>> {
    let existing = find(&state, endpoint, &pk).await?;
    write(&state, endpoint, Some(&existing["pk"]), body, partial).await?;
    let object = find(&state, endpoint, &pk).await?;
    audit::record(
        &state,
        &caller,
        &meta,
        EventAction::ModelUpdated,
        model_ref(endpoint, &object),
    )
    .await;
    Ok(Json(render(&state, endpoint, object).await?))
}

async fn destroy(
    endpoint: &'static Endpoint,
    Superuser(caller): Superuser,
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(pk): Path<String>,
) -> ApiResult<StatusCode> {
    let object = find(&state, endpoint, &pk).await?;
    let mut tx = state.store.db().begin().await?;
    tx.delete_object(endpoint.model, &object["pk"]).await?;
    tx.commit().await?;
    audit::record(
        &state,
        &caller,
        &meta,
        EventAction::ModelDeleted,
        model_ref(endpoint, &object),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v3/stages/all/`: every stage of every kind with the base fields only,
/// read-only, as authentik's polymorphic list.
#[utoipa::path(get, path = "/api/v3/stages/all/", operation_id = "stages_all_list", tag = "stages",
    params(ListParams, ("name" = Option<String>, Query,)),
    responses((status = 200, description = "OK", body = Paginated<Object>), InputErrors))]
pub(crate) async fn all_stages(
    _: Superuser,
    State(state): State<AppState>,
    q: QueryParams,
) -> ApiResult<Json<Paginated<Value>>> {
    let query = q.list_query("name")?;
    let page = state
        .store
        .list_family(catalog::Family::Stage, q.get("name"), &query)
        .await?;
    let pagination = page.pagination;
    let mut results = Vec::with_capacity(page.results.len());
    for (model, object) in page.results {
        let mut full = render(&state, endpoint_for(model), object).await?;
        if let Value::Object(map) = &mut full {
            map.retain(|k, _| {
                [
                    "pk",
                    "name",
                    "component",
                    "verbose_name",
                    "verbose_name_plural",
                    "meta_model_name",
                    "flow_set",
                ]
                .contains(&k.as_str())
            });
        }
        results.push(full);
    }
    Ok(Json(Paginated::with(pagination, results)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `endpoint_for` (and so rendering a binding's stage) holds for every catalog model
    /// that is not served by a router of its own.
    #[test]
    fn every_catalog_model_has_an_endpoint() {
        let own_router = [
            catalog::FLOW,
            catalog::INVITATION,
            catalog::USER,
            catalog::GROUP,
            catalog::TOKEN,
        ];
        for spec in catalog::MODELS {
            if !own_router.contains(&spec.name) {
                assert!(
                    ENDPOINTS.iter().any(|e| e.model == spec.name),
                    "{} has no endpoint",
                    spec.name
                );
            }
        }
    }
}
