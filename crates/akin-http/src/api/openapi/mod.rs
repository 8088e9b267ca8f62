//! `GET /api/v3/schema/`: akin's OpenAPI 3.0 document, JSON (or YAML with `?format=yaml`).
//!
//! It is built from what the API serves from, not written by hand: every catalog endpoint
//! (stages, prompts, bindings, policies) gets its paths and its request schemas from the
//! catalog's field specs (types, required, nullable, choices), so a field added to the
//! catalog appears here. The resources with handlers of their own (users, groups, tokens,
//! invitations, flows, events, the executor, blueprints) are described below from the
//! same catalog where one exists (flows, invitations) and by their response shapes
//! (`shapes.rs`) otherwise. Responses list the keys akin always sends as required.

use std::sync::LazyLock;

use std::borrow::Cow;

use akin_domain::catalog::{self, FieldType};
use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use saphyr::{Scalar, Yaml, YamlEmitter};
use serde_json::{Map, Value, json};

mod schema;

use schema::{
    Resource, catalog_response, date_time, described, json_body, nullable, object, ok, reference,
    request_schemas, schema_name, simple_get, uuid,
};

use super::catalog_api;
use super::system::VERSION;
use crate::extract::QueryParams;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/schema/", get(schema))
}

static DOCUMENT: LazyLock<Value> = LazyLock::new(document);

/// Open to everyone, as authentik's: clients generate code from it.
async fn schema(q: QueryParams) -> Response {
    match q.get("format") {
        Some("yaml") => (
            [(header::CONTENT_TYPE, "application/yaml; charset=utf-8")],
            to_yaml(&DOCUMENT),
        )
            .into_response(),
        _ => axum::Json(DOCUMENT.clone()).into_response(),
    }
}

/// YAML text of `value`, written by saphyr (which quotes every string that YAML would
/// otherwise read as another type: `yes`, `on`, `null`, numbers, dates).
fn to_yaml(value: &Value) -> String {
    fn node(value: &Value) -> Yaml<'_> {
        match value {
            Value::Null => Yaml::Value(Scalar::Null),
            Value::Bool(b) => Yaml::Value(Scalar::Boolean(*b)),
            Value::Number(n) => Yaml::Value(match n.as_i64() {
                Some(i) => Scalar::Integer(i),
                None => Scalar::FloatingPoint(n.as_f64().unwrap_or_default().into()),
            }),
            Value::String(s) => Yaml::Value(Scalar::String(Cow::Borrowed(s))),
            Value::Array(items) => Yaml::Sequence(items.iter().map(node).collect()),
            Value::Object(map) => Yaml::Mapping(
                map.iter()
                    .map(|(k, v)| (Yaml::Value(Scalar::String(Cow::Borrowed(k))), node(v)))
                    .collect(),
            ),
        }
    }
    let mut out = String::new();
    // Writing to a String cannot fail; the document has no aliases or tags to refuse.
    let _ = YamlEmitter::new(&mut out).dump(&node(value));
    out.push('\n');
    out
}

fn document() -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();

    schemas.insert(
        "Pagination".into(),
        object(
            &[
                "next",
                "previous",
                "count",
                "current",
                "total_pages",
                "start_index",
                "end_index",
            ],
            json!({
                "next": {"type": "integer"}, "previous": {"type": "integer"},
                "count": {"type": "integer"}, "current": {"type": "integer"},
                "total_pages": {"type": "integer"}, "start_index": {"type": "integer"},
                "end_index": {"type": "integer"},
            }),
        ),
    );
    schemas.insert(
        "GenericError".into(),
        object(&["detail"], json!({"detail": {"type": "string"}})),
    );
    schemas.insert(
        "ValidationError".into(),
        json!({"type": "object", "additionalProperties": {}}),
    );
    schemas.insert(
        "UsedBy".into(),
        object(
            &["app", "model_name", "pk", "name", "action"],
            json!({
                "app": {"type": "string"}, "model_name": {"type": "string"},
                "pk": {"type": "string"}, "name": {"type": "string"},
                "action": {"type": "string", "enum": ["cascade", "cascade_many", "set_null", "set_default", "left_dangling"]},
            }),
        ),
    );
    let partial_user = object(
        &[
            "pk",
            "username",
            "name",
            "is_active",
            "email",
            "attributes",
            "uid",
        ],
        json!({
            "pk": {"type": "integer"}, "username": {"type": "string"}, "name": {"type": "string"},
            "is_active": {"type": "boolean"}, "last_login": nullable(date_time()),
            "email": {"type": "string"}, "attributes": {"type": "object", "additionalProperties": {}},
            "uid": {"type": "string"},
        }),
    );
    schemas.insert("PartialUser".into(), partial_user);

    // The catalog endpoints, entirely from the catalog.
    for endpoint in catalog_api::endpoints() {
        let spec =
            catalog::spec(endpoint.model()).expect("every endpoint's model is in the catalog");
        let name = schema_name(endpoint.verbose());
        request_schemas(&name, spec, &mut schemas);
        let mut extra = Vec::new();
        if spec.is_stage || endpoint.model() == catalog::EXPRESSION_POLICY {
            extra.extend([
                ("component", json!({"type": "string"})),
                ("verbose_name", json!({"type": "string"})),
                ("verbose_name_plural", json!({"type": "string"})),
                ("meta_model_name", json!({"type": "string"})),
            ]);
        }
        if spec.is_stage {
            extra.push((
                "flow_set",
                json!({"type": "array", "items": reference("Flow")}),
            ));
        }
        if endpoint.model() == catalog::EXPRESSION_POLICY {
            extra.push(("bound_to", json!({"type": "integer"})));
        }
        schemas.insert(name.clone(), catalog_response(spec, uuid(), &extra));
        let filters: Vec<(&str, Value)> = spec
            .fields
            .iter()
            .filter(|f| {
                !matches!(
                    f.ty,
                    FieldType::Object | FieldType::RefList(_) | FieldType::TextList
                )
            })
            .map(|f| (f.name, json!({"type": "string"})))
            .collect();
        Resource {
            path: endpoint.path(),
            key: "pk",
            key_schema: uuid(),
            tag: endpoint
                .path()
                .trim_matches('/')
                .split('/')
                .next()
                .unwrap_or("api"),
            name: &name,
            request: Some(format!("{name}Request")),
            filters,
            writable: true,
        }
        .add(&mut paths);
    }

    // Flows and invitations: requests from the catalog, responses as shapes.rs writes them.
    let flow_spec = catalog::spec(catalog::FLOW).expect("the catalog has flows");
    request_schemas("Flow", flow_spec, &mut schemas);
    schemas.insert(
        "Flow".into(),
        catalog_response(
            flow_spec,
            uuid(),
            &[
                ("slug", json!({"type": "string"})),
                ("name", json!({"type": "string"})),
                ("title", json!({"type": "string"})),
                ("designation", json!({"type": "string"})),
                ("stages", json!({"type": "array", "items": uuid()})),
                ("export_url", json!({"type": "string"})),
            ],
        ),
    );
    Resource {
        path: "/flows/instances/",
        key: "slug",
        key_schema: json!({"type": "string"}),
        tag: "flows",
        name: "Flow",
        request: Some("FlowRequest".into()),
        filters: vec![
            ("designation", json!({"type": "string"})),
            ("slug", json!({"type": "string"})),
        ],
        writable: true,
    }
    .add(&mut paths);

    let invitation_spec = catalog::spec(catalog::INVITATION).expect("the catalog has invitations");
    request_schemas("Invitation", invitation_spec, &mut schemas);
    for request in ["InvitationRequest", "PatchedInvitationRequest"] {
        schemas[request]["properties"]["max_uses"] =
            nullable(json!({"type": "integer", "minimum": 1}));
        if let Some(properties) = schemas[request]["properties"].as_object_mut() {
            properties.remove("created_by");
        }
    }
    schemas.insert(
        "Invitation".into(),
        object(
            &[
                "pk",
                "name",
                "expires",
                "fixed_data",
                "created_by",
                "single_use",
                "flow",
                "flow_obj",
                "uses",
                "max_uses",
                "status",
            ],
            json!({
                "pk": uuid(), "name": {"type": "string"}, "expires": nullable(date_time()),
                "fixed_data": {"type": "object", "additionalProperties": {}},
                "created_by": reference("PartialUser"), "single_use": {"type": "boolean"},
                "flow": nullable(uuid()), "flow_obj": nullable(reference("Flow")),
                "uses": {"type": "integer"}, "max_uses": nullable(json!({"type": "integer"})),
                "status": {"type": "string", "enum": ["active", "used", "expired"]},
            }),
        ),
    );
    Resource {
        path: "/stages/invitation/invitations/",
        key: "invite_uuid",
        key_schema: uuid(),
        tag: "stages",
        name: "Invitation",
        request: Some("InvitationRequest".into()),
        filters: vec![
            ("name", json!({"type": "string"})),
            ("flow__slug", json!({"type": "string"})),
            ("created_by__username", json!({"type": "string"})),
            ("expires", date_time()),
            (
                "status",
                json!({"type": "string", "enum": ["active", "used", "expired", "all"]}),
            ),
        ],
        writable: true,
    }
    .add(&mut paths);

    // The directory, as shapes.rs writes it.
    schemas.insert(
        "User".into(),
        object(
            &["pk", "username", "name", "is_active", "is_superuser", "groups", "email", "attributes", "uid", "path", "type", "uuid"],
            json!({
                "pk": {"type": "integer"}, "username": {"type": "string"}, "name": {"type": "string"},
                "is_active": {"type": "boolean"}, "last_login": nullable(date_time()),
                "date_joined": date_time(), "is_superuser": {"type": "boolean"},
                "groups": {"type": "array", "items": uuid()},
                "email": {"type": "string"}, "avatar": {"type": "string"},
                "attributes": {"type": "object", "additionalProperties": {}},
                "uid": {"type": "string"}, "path": {"type": "string"},
                "type": {"type": "string", "enum": ["internal", "external", "service_account", "internal_service_account"]},
                "uuid": uuid(),
            }),
        ),
    );
    schemas.insert(
        "UserRequest".into(),
        object(
            &["username", "name"],
            json!({
                "username": {"type": "string", "minLength": 1, "maxLength": 150},
                "name": {"type": "string"}, "is_active": {"type": "boolean"},
                "email": {"type": "string"}, "path": {"type": "string"},
                "attributes": {"type": "object", "additionalProperties": {}},
                "groups": {"type": "array", "items": uuid()},
                "type": {"type": "string", "enum": ["internal", "external", "service_account", "internal_service_account"]},
            }),
        ),
    );
    schemas.insert(
        "PatchedUserRequest".into(),
        json!({"type": "object", "properties": schemas["UserRequest"]["properties"].clone()}),
    );
    Resource {
        path: "/core/users/",
        key: "id",
        key_schema: json!({"type": "integer"}),
        tag: "core",
        name: "User",
        request: Some("UserRequest".into()),
        filters: vec![
            ("username", json!({"type": "string"})),
            ("email", json!({"type": "string"})),
            ("is_active", json!({"type": "boolean"})),
        ],
        writable: true,
    }
    .add(&mut paths);

    schemas.insert(
        "Group".into(),
        object(
            &["pk", "name", "is_superuser", "users", "attributes"],
            json!({
                "pk": uuid(), "num_pk": {"type": "integer"}, "name": {"type": "string"},
                "is_superuser": {"type": "boolean"},
                "parents": {"type": "array", "items": uuid()},
                "users": {"type": "array", "items": {"type": "integer"}},
                "attributes": {"type": "object", "additionalProperties": {}},
            }),
        ),
    );
    schemas.insert(
        "GroupRequest".into(),
        object(
            &["name"],
            json!({
                "name": {"type": "string", "minLength": 1}, "is_superuser": {"type": "boolean"},
                "parents": {"type": "array", "items": uuid()},
                "users": {"type": "array", "items": {"type": "integer"}},
                "attributes": {"type": "object", "additionalProperties": {}},
            }),
        ),
    );
    schemas.insert(
        "PatchedGroupRequest".into(),
        json!({"type": "object", "properties": schemas["GroupRequest"]["properties"].clone()}),
    );
    Resource {
        path: "/core/groups/",
        key: "group_uuid",
        key_schema: uuid(),
        tag: "core",
        name: "Group",
        request: Some("GroupRequest".into()),
        filters: vec![("name", json!({"type": "string"}))],
        writable: true,
    }
    .add(&mut paths);

    schemas.insert(
        "Token".into(),
        object(
            &["pk", "identifier", "intent", "user", "expiring"],
            json!({
                "pk": uuid(), "managed": nullable(json!({"type": "string"})),
                "identifier": {"type": "string"},
                "intent": {"type": "string", "enum": ["verification", "api", "recovery", "app_password"]},
                "user": {"type": "integer"}, "user_obj": reference("PartialUser"),
                "description": {"type": "string"}, "expires": nullable(date_time()),
                "expiring": {"type": "boolean"},
            }),
        ),
    );
    schemas.insert(
        "TokenRequest".into(),
        object(
            &["identifier"],
            json!({
                "identifier": {"type": "string", "minLength": 1},
                "intent": {"type": "string", "enum": ["verification", "api", "recovery", "app_password"]},
                "user": {"type": "integer"}, "description": {"type": "string"},
                "expires": nullable(date_time()), "expiring": {"type": "boolean"},
            }),
        ),
    );
    schemas.insert(
        "PatchedTokenRequest".into(),
        json!({"type": "object", "properties": schemas["TokenRequest"]["properties"].clone()}),
    );
    Resource {
        path: "/core/tokens/",
        key: "identifier",
        key_schema: json!({"type": "string"}),
        tag: "core",
        name: "Token",
        request: Some("TokenRequest".into()),
        filters: vec![("identifier", json!({"type": "string"}))],
        writable: true,
    }
    .add(&mut paths);

    schemas.insert(
        "Event".into(),
        object(
            &["pk", "action", "app", "context", "created"],
            json!({
                "pk": uuid(), "user": {"type": "object", "additionalProperties": {}},
                "action": {"type": "string"}, "app": {"type": "string"},
                "context": {"type": "object", "additionalProperties": {}},
                "client_ip": nullable(json!({"type": "string"})),
                "created": date_time(), "expires": date_time(),
            }),
        ),
    );
    Resource {
        path: "/events/events/",
        key: "event_uuid",
        key_schema: uuid(),
        tag: "events",
        name: "Event",
        request: None,
        filters: vec![
            ("action", json!({"type": "string"})),
            ("username", json!({"type": "string"})),
        ],
        writable: false,
    }
    .add(&mut paths);
    // Events have no used_by.
    paths.remove("/api/v3/events/events/{event_uuid}/used_by/");

    // What authentik's UI reads first.
    schemas.insert(
        "Config".into(),
        object(
            &[
                "error_reporting",
                "capabilities",
                "cache_timeout",
                "cache_timeout_flows",
                "cache_timeout_policies",
            ],
            json!({
                "error_reporting": {"type": "object", "additionalProperties": {}},
                "capabilities": {"type": "array", "items": {"type": "string"}},
                "cache_timeout": {"type": "integer"}, "cache_timeout_flows": {"type": "integer"},
                "cache_timeout_policies": {"type": "integer"},
            }),
        ),
    );
    simple_get(
        &mut paths,
        "/root/config/",
        "root_config_retrieve",
        "root",
        reference("Config"),
    );
    simple_get(
        &mut paths,
        "/admin/version/",
        "admin_version_retrieve",
        "admin",
        object(
            &[
                "version_current",
                "version_latest",
                "version_latest_valid",
                "build_hash",
                "outdated",
                "outpost_outdated",
            ],
            json!({
                "version_current": {"type": "string"}, "version_latest": {"type": "string"},
                "version_latest_valid": {"type": "boolean"}, "build_hash": {"type": "string"},
                "outdated": {"type": "boolean"}, "outpost_outdated": {"type": "boolean"},
            }),
        ),
    );
    simple_get(
        &mut paths,
        "/core/users/me/",
        "core_users_me_retrieve",
        "core",
        object(
            &["user"],
            json!({"user": {"type": "object", "additionalProperties": {}}}),
        ),
    );
    simple_get(
        &mut paths,
        "/stages/all/",
        "stages_all_list",
        "stages",
        json!({"type": "object", "required": ["pagination", "results"], "additionalProperties": {}}),
    );
    simple_get(
        &mut paths,
        "/policies/all/",
        "policies_all_list",
        "policies",
        json!({"type": "object", "required": ["pagination", "results"], "additionalProperties": {}}),
    );
    // What kinds of stage and policy there are to create (authentik's TypeCreate).
    schemas.insert(
        "TypeCreate".into(),
        object(
            &["name", "description", "component", "model_name"],
            json!({
                "name": {"type": "string"},
                "description": {"type": "string"},
                "component": {"type": "string"},
                "model_name": {"type": "string"},
                "icon_url": {"type": "string", "nullable": true},
                "requires_enterprise": {"type": "boolean"},
            }),
        ),
    );
    // A prompt as its challenge would show it (the request is a prompt, as for a create).
    paths.insert(
        "/api/v3/stages/prompt/prompts/preview/".into(),
        json!({"post": {
            "operationId": "stages_prompt_prompts_preview_create",
            "tags": ["stages"],
            "requestBody": json_body(reference("PromptRequest")),
            "responses": {
                "200": ok(json!({"type": "object", "required": ["component", "fields"], "additionalProperties": {}})),
                "400": described(json!({"type": "object", "additionalProperties": {}}), "Bad request"),
                "403": described(json!({"type": "object", "additionalProperties": {}}), "Forbidden"),
            },
        }}),
    );
    for (path, id, tag) in [
        ("/stages/all/types/", "stages_all_types_list", "stages"),
        (
            "/policies/all/types/",
            "policies_all_types_list",
            "policies",
        ),
    ] {
        simple_get(
            &mut paths,
            path,
            id,
            tag,
            json!({"type": "array", "items": reference("TypeCreate")}),
        );
    }

    // The flow executor: challenges in, challenges out (authentik's polymorphic types).
    let challenge = json!({"type": "object", "required": ["component"], "properties": {"component": {"type": "string"}}, "additionalProperties": {}});
    let executor_parameters = json!([
        {"name": "flow_slug", "in": "path", "required": true, "schema": {"type": "string"}},
        {"name": "query", "in": "query", "required": true, "schema": {"type": "string"}},
    ]);
    paths.insert(
        "/api/v3/flows/executor/{flow_slug}/".into(),
        json!({
            "parameters": executor_parameters,
            "get": {"operationId": "flows_executor_get", "tags": ["flows"], "security": [{}, {"authentik": []}],
                    "responses": {"200": ok(challenge.clone()), "302": {"description": "On to the next stage"},
                                  "404": described(reference("GenericError"), "No such flow")}},
            "post": {"operationId": "flows_executor_solve", "tags": ["flows"], "security": [{}, {"authentik": []}],
                     "requestBody": json_body(challenge.clone()),
                     "responses": {"200": ok(challenge), "302": {"description": "On to the next stage"},
                                   "400": described(reference("ValidationError"), "Not a JSON object"),
                                   "404": described(reference("GenericError"), "No such flow")}},
        }),
    );

    // Blueprints.
    let import_result = object(
        &["success", "logs"],
        json!({"success": {"type": "boolean"}, "logs": {"type": "array", "items": {"type": "object", "additionalProperties": {}}}}),
    );
    for (path, id) in [
        (
            "/managed/blueprints/import/",
            "managed_blueprints_import_create",
        ),
        ("/flows/instances/import/", "flows_instances_import_create"),
    ] {
        paths.insert(
            format!("/api/v3{path}"),
            json!({"post": {
                "operationId": id, "tags": [id.split('_').next().unwrap_or("managed")],
                "requestBody": {"content": {"multipart/form-data": {"schema": object(&[], json!({
                    "file": {"type": "string", "format": "binary"}, "path": {"type": "string"},
                    "context": {"type": "string"},
                }))}}},
                "responses": {"200": ok(import_result.clone()), "400": ok(import_result.clone()),
                              "403": described(reference("GenericError"), "Not allowed")},
            }}),
        );
    }

    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "akin",
            "version": VERSION,
            "description": "Invitations and enrollment, compatible with authentik's API v3.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "authentik": {"type": "http", "scheme": "bearer"},
            },
        },
        "security": [{"authentik": []}],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reference_resolves_and_operation_ids_are_unique() {
        let document = document();
        let text = document.to_string();
        let schemas = document["components"]["schemas"].as_object().unwrap();
        for part in text.split("#/components/schemas/").skip(1) {
            let name: String = part.chars().take_while(|c| *c != '"').collect();
            assert!(schemas.contains_key(&name), "missing schema {name}");
        }
        let mut ids = std::collections::HashSet::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                if let Some(id) = op.get("operationId").and_then(Value::as_str) {
                    assert!(ids.insert(id.to_owned()), "{method} {path}: duplicate {id}");
                }
            }
        }
        // The catalog's fields are there, with their choices.
        let prompt = &schemas["PromptRequest"]["properties"]["type"];
        assert!(
            prompt["enum"].as_array().unwrap().contains(&json!("email")),
            "{prompt}"
        );
        assert!(
            document["paths"]["/api/v3/stages/invitation/invitations/{invite_uuid}/used_by/"]
                .is_object()
        );
    }

    #[test]
    fn the_yaml_form_reads_back_as_the_json_form() {
        let yaml = to_yaml(&DOCUMENT);
        assert_eq!(akin_blueprint::yaml::parse_data(&yaml).unwrap(), *DOCUMENT);
    }

    #[test]
    fn strings_yaml_would_misread_stay_strings() {
        let value = json!({
            "a": {"b": [1, 2.5, "yes", "on", "null", "~", "123", "1e3", "2014-12-31", "true", "", " x"], "c": null, "d": [], "e": {}},
            "yes": "x: y # not a comment",
        });
        let yaml = to_yaml(&value);
        assert_eq!(
            akin_blueprint::yaml::parse_data(&yaml).unwrap(),
            value,
            "{yaml}"
        );
        assert!(yaml.contains("- \"yes\""), "{yaml}");
    }
}
