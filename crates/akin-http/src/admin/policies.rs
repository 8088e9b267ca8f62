//! Customization → Policies: every policy in one list, and a form per kind (expression,
//! password, reputation) to create one or change it. The form's fields come from the
//! catalog, and what it submits goes through the API's own handlers: the same checks and
//! errors as `/api/v3/policies/<kind>/`.

use akin_domain::catalog::{self, FieldType, ModelSpec};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use minijinja::context;
use serde_json::{Map, Value, json as json_value};

use super::{AdminSession, ListPage, Notice, field, list_query, page, redirect_with};
use crate::api::catalog_api::{self, endpoint_for};
use crate::api::policies;
use crate::audit::RequestMeta;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonObject, QueryParams};
use crate::pages::template_value;
use crate::state::AppState;

const LIST: &str = "/if/admin/policies/";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(LIST, get(list))
        .route("/if/admin/policies/new/{kind}/", get(new_page).post(create))
        .route("/if/admin/policies/{pk}/", get(edit_page).post(update))
}

/// The policy kind a page is about, by authentik's model name (`passwordpolicy`).
fn kind(model_name: &str) -> ApiResult<&'static ModelSpec> {
    catalog::MODELS
        .iter()
        .find(|spec| spec.is_policy() && spec.model_name() == model_name)
        .ok_or(ApiError::NoRoute)
}

async fn list(
    admin: AdminSession,
    State(state): State<AppState>,
    q: QueryParams,
) -> ApiResult<Response> {
    let query = list_query(&q, &["search"], "name");
    let axum::Json(body) = policies::list(admin.superuser(), State(state), query).await?;
    let rows = body
        .results
        .iter()
        .map(|p| {
            let href = format!("{LIST}{}/", p["pk"].as_str().unwrap_or_default());
            vec![
                json_value!({"text": p["name"], "href": href}),
                p["verbose_name"].clone(),
                p["bound_to"].clone(),
            ]
        })
        .collect();
    let actions = catalog::policy_models()
        .filter_map(catalog::spec)
        .map(|spec| {
            (
                format!("Create {}", spec.verbose),
                format!("{LIST}new/{}/", spec.model_name()),
            )
        })
        .collect();
    ListPage {
        heading: "Policies",
        current: LIST,
        columns: &["Name", "Type", "Bindings"],
        rows,
        filters: &[("search", "Search")],
        actions,
    }
    .render(&admin, &q)
}

/// A field's label and help on the form.
fn label(field: &str) -> (String, &'static str) {
    let (label, help) = match field {
        "name" => ("Name", "Unique among policies of every kind."),
        "execution_logging" => (
            "Execution logging",
            "Record every evaluation as a policy_execution event.",
        ),
        "expression" => (
            "Expression",
            "authentik's Python dialect: return True to pass; ak_message() tells why not.",
        ),
        "password_field" => (
            "Password field",
            "The prompt field key that holds the password.",
        ),
        "check_static_rules" => ("Check the rules below", ""),
        "length_min" => ("Minimum length", ""),
        "amount_digits" => ("Minimum digits", ""),
        "amount_uppercase" => ("Minimum uppercase letters", ""),
        "amount_lowercase" => ("Minimum lowercase letters", ""),
        "amount_symbols" => ("Minimum symbols", ""),
        "symbol_charset" => ("Symbols", "The characters that count as symbols."),
        "error_message" => (
            "Error message",
            "Shown first when a rule is broken, before each rule's own message.",
        ),
        "check_have_i_been_pwned" => (
            "Check Have I Been Pwned",
            "Only the first five hex digits of the password's SHA-1 leave the server.",
        ),
        "hibp_allowed_count" => ("Allowed breaches", "How many breaches may list it."),
        "check_zxcvbn" => ("Check zxcvbn", "How easy the password is to guess."),
        "zxcvbn_score_threshold" => (
            "zxcvbn score threshold",
            "Passwords must score above this (0 to 4).",
        ),
        "check_ip" => ("Check the client address", ""),
        "check_username" => ("Check the username", ""),
        "threshold" => (
            "Threshold",
            "Passes when the score (failures −1, sign-ins +1) is at or below this.",
        ),
        other => return (other.replace('_', " "), ""),
    };
    (label.to_owned(), help)
}

/// The form's fields for `spec`, filled with `values` (the object, or the catalog's
/// defaults for a new one).
fn form_fields(spec: &ModelSpec, values: &Map<String, Value>) -> Value {
    let fields: Vec<Value> = spec
        .fields
        .iter()
        .filter(|f| !f.write_only)
        .map(|f| {
            let (label, help) = label(f.name);
            let value = values
                .get(f.name)
                .cloned()
                .or_else(|| f.default.and_then(|d| serde_json::from_str(d).ok()))
                .unwrap_or(Value::Null);
            let input = match f.ty {
                FieldType::Bool => "checkbox",
                FieldType::Int => "number",
                _ if f.name == "expression" => "textarea",
                _ => "text",
            };
            let text = match &value {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            json_value!({
                "name": f.name, "label": label, "help": help, "input": input,
                "value": text, "checked": value == Value::Bool(true),
                "required": f.required,
            })
        })
        .collect();
    Value::Array(fields)
}

/// The request body the API takes, from the submitted form: a checkbox left out is
/// `false`, an empty number is left out (the default), anything else as typed (the API
/// says what is wrong with it).
fn request_body(spec: &ModelSpec, fields: &[(String, String)]) -> Map<String, Value> {
    let mut body = Map::new();
    for f in spec.fields.iter().filter(|f| !f.write_only) {
        let typed = field(fields, f.name);
        let value = match f.ty {
            FieldType::Bool => Value::Bool(typed == Some("true")),
            FieldType::Int => match typed.map(str::trim) {
                None | Some("") => continue,
                Some(text) => text
                    .parse::<i64>()
                    .map_or_else(|_| Value::String(text.to_owned()), Value::from),
            },
            _ => Value::String(typed.unwrap_or_default().to_owned()),
        };
        body.insert(f.name.to_owned(), value);
    }
    body
}

/// Where a form posts: a new policy of a kind, or an existing one.
enum Target {
    New,
    Existing(String),
}

impl Target {
    fn action(&self, spec: &ModelSpec) -> String {
        match self {
            Target::New => format!("{LIST}new/{}/", spec.model_name()),
            Target::Existing(pk) => format!("{LIST}{pk}/"),
        }
    }
}

fn show_form(
    admin: &AdminSession,
    spec: &ModelSpec,
    target: &Target,
    values: &Map<String, Value>,
    errors: Value,
) -> ApiResult<Response> {
    let heading = match (target, values.get("name").and_then(Value::as_str)) {
        (Target::Existing(_), Some(name)) => format!("{}: {name}", spec.verbose_name()),
        _ => format!("Create a {}", spec.verbose),
    };
    let action = target.action(spec);
    page(
        admin,
        "admin/policy_form.html",
        &heading,
        LIST,
        context! {
            action => action,
            fields => template_value(&form_fields(spec, values)),
            errors => template_value(&errors),
        },
    )
}

async fn new_page(admin: AdminSession, Path(kind_name): Path<String>) -> ApiResult<Response> {
    let spec = kind(&kind_name)?;
    show_form(&admin, spec, &Target::New, &Map::new(), Value::Null)
}

/// The API's answer to a write, as a page: back to the list saying what was done, or the
/// form again with the API's errors next to their fields (400).
fn after_write(
    admin: &AdminSession,
    spec: &ModelSpec,
    target: &Target,
    submitted: Map<String, Value>,
    written: ApiResult<Value>,
) -> ApiResult<Response> {
    match written {
        Ok(policy) => {
            let name = policy["name"].as_str().unwrap_or_default();
            Ok(redirect_with(
                LIST,
                &[Notice::Done(format!("Saved {} {name}.", spec.verbose))],
            ))
        }
        Err(ApiError::Validation(errors)) => {
            let errors = serde_json::to_value(&errors).unwrap_or_else(|_| json_value!({}));
            let mut response = show_form(admin, spec, target, &submitted, errors)?;
            *response.status_mut() = StatusCode::BAD_REQUEST;
            Ok(response)
        }
        Err(other) => Err(other),
    }
}

async fn create(
    admin: AdminSession,
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(kind_name): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let spec = kind(&kind_name)?;
    let fields = admin.form(&body)?;
    let submitted = request_body(spec, &fields);
    let written = catalog_api::create(
        endpoint_for(spec.name),
        admin.superuser(),
        State(state),
        meta,
        JsonObject(submitted.clone()),
    )
    .await
    .map(|(_, axum::Json(policy))| policy);
    after_write(&admin, spec, &Target::New, submitted, written)
}

/// The policy `pk` with its kind, as the API renders it.
async fn find(state: &AppState, pk: &str) -> ApiResult<(&'static ModelSpec, Map<String, Value>)> {
    let (model, object) = policies::find(state, pk).await?;
    let spec = catalog::spec(model).ok_or(ApiError::NotFound("Policy"))?;
    let rendered = catalog_api::render_object(state, model, object).await?;
    Ok((spec, rendered.as_object().cloned().unwrap_or_default()))
}

async fn edit_page(
    admin: AdminSession,
    State(state): State<AppState>,
    Path(pk): Path<String>,
) -> ApiResult<Response> {
    let (spec, policy) = find(&state, &pk).await?;
    show_form(&admin, spec, &Target::Existing(pk), &policy, Value::Null)
}

async fn update(
    admin: AdminSession,
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(pk): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let (spec, _) = find(&state, &pk).await?;
    let fields = admin.form(&body)?;
    let submitted = request_body(spec, &fields);
    let written = catalog_api::change(
        endpoint_for(spec.name),
        admin.superuser(),
        State(state),
        meta,
        Path(pk.clone()),
        JsonObject(submitted.clone()),
        false,
    )
    .await
    .map(|axum::Json(policy)| policy);
    after_write(&admin, spec, &Target::Existing(pk), submitted, written)
}
