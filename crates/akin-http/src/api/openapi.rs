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

use akin_domain::catalog::{self, Field, FieldType, ModelSpec};
use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

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

/// YAML text of `value`. JSON is YAML; this writes the block style people read, quoting
/// every string so nothing changes type on the way (YAML 1.1's `yes`, `on`, numbers).
fn to_yaml(value: &Value) -> String {
    fn scalar(value: &Value) -> String {
        match value {
            Value::String(s) => serde_json::to_string(s).unwrap_or_default(),
            Value::Array(a) if a.is_empty() => "[]".into(),
            Value::Object(o) if o.is_empty() => "{}".into(),
            other => other.to_string(),
        }
    }
    fn write(out: &mut String, value: &Value, indent: usize) {
        let pad = " ".repeat(indent);
        match value {
            Value::Object(map) if !map.is_empty() => {
                for (key, item) in map {
                    let key = serde_json::to_string(key).unwrap_or_default();
                    match item {
                        Value::Object(m) if !m.is_empty() => {
                            out.push_str(&format!("{pad}{key}:\n"));
                            write(out, item, indent + 2);
                        }
                        Value::Array(a) if !a.is_empty() => {
                            out.push_str(&format!("{pad}{key}:\n"));
                            write(out, item, indent);
                        }
                        _ => out.push_str(&format!("{pad}{key}: {}\n", scalar(item))),
                    }
                }
            }
            Value::Array(items) if !items.is_empty() => {
                for item in items {
                    match item {
                        Value::Object(m) if !m.is_empty() => {
                            out.push_str(&format!("{pad}-\n"));
                            write(out, item, indent + 2);
                        }
                        Value::Array(a) if !a.is_empty() => {
                            out.push_str(&format!("{pad}-\n"));
                            write(out, item, indent + 2);
                        }
                        _ => out.push_str(&format!("{pad}- {}\n", scalar(item))),
                    }
                }
            }
            other => out.push_str(&format!("{pad}{}\n", scalar(other))),
        }
    }
    let mut out = String::new();
    write(&mut out, value, 0);
    out
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn uuid() -> Value {
    json!({"type": "string", "format": "uuid"})
}

fn date_time() -> Value {
    json!({"type": "string", "format": "date-time"})
}

fn nullable(mut schema: Value) -> Value {
    if schema.get("$ref").is_some() {
        return json!({"allOf": [schema], "nullable": true});
    }
    schema["nullable"] = Value::Bool(true);
    schema
}

/// The JSON schema of one catalog field as requests send it.
fn field_schema(field: &Field) -> Value {
    let schema = match field.ty {
        FieldType::Text => json!({"type": "string"}),
        FieldType::Slug => json!({"type": "string", "pattern": "^[-a-zA-Z0-9_]+$"}),
        FieldType::Bool => json!({"type": "boolean"}),
        FieldType::Int => json!({"type": "integer"}),
        FieldType::Object => json!({"type": "object", "additionalProperties": {}}),
        FieldType::Datetime => date_time(),
        FieldType::Choice(choices) => json!({"type": "string", "enum": choices}),
        FieldType::Ref(catalog::USER) => json!({"type": "integer"}),
        FieldType::Ref(_) => uuid(),
        FieldType::RefList(_) => json!({"type": "array", "items": uuid()}),
        FieldType::TextList => json!({"type": "array", "items": {"type": "string"}}),
    };
    if field.nullable {
        nullable(schema)
    } else {
        schema
    }
}

/// `{Name}Request` (required fields required) and `Patched{Name}Request` (none required).
fn request_schemas(name: &str, spec: &ModelSpec, schemas: &mut Map<String, Value>) {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for field in spec.fields {
        properties.insert(field.name.to_owned(), field_schema(field));
        if field.required {
            required.push(field.name);
        }
    }
    schemas.insert(
        format!("{name}Request"),
        json!({"type": "object", "properties": properties, "required": required}),
    );
    schemas.insert(
        format!("Patched{name}Request"),
        json!({"type": "object", "properties": properties}),
    );
}

/// The response schema of a catalog object: the fields as stored, the key always there.
fn catalog_response(spec: &ModelSpec, pk: Value, extra: &[(&str, Value)]) -> Value {
    let mut properties = Map::new();
    properties.insert("pk".into(), pk);
    for field in spec.fields {
        let mut schema = field_schema(field);
        // Stored values may be null where a request may not send null (unset optional).
        if !field.required {
            schema = nullable(schema);
        }
        properties.insert(field.name.to_owned(), schema);
    }
    let mut required = vec!["pk"];
    for (name, schema) in extra {
        properties.insert((*name).to_owned(), schema.clone());
        required.push(name);
    }
    json!({"type": "object", "properties": properties, "required": required})
}

fn paginated(item: &str) -> Value {
    json!({
        "type": "object",
        "required": ["pagination", "results"],
        "properties": {
            "pagination": reference("Pagination"),
            "results": {"type": "array", "items": reference(item)},
            "autocomplete": {"type": "object", "additionalProperties": {}},
        },
    })
}

fn json_body(schema: Value) -> Value {
    json!({"content": {"application/json": {"schema": schema}}})
}

/// A JSON response with `schema`, described as `text`.
fn described(schema: Value, text: &str) -> Value {
    let mut response = json_body(schema);
    response["description"] = json!(text);
    response
}

fn ok(schema: Value) -> Value {
    let mut response = json_body(schema);
    response["description"] = json!("");
    response
}

/// The error responses every authenticated operation can give.
fn errors(responses: &mut Map<String, Value>, with_body: bool, with_path: bool) {
    if with_body {
        responses.insert(
            "400".into(),
            described(reference("ValidationError"), "Invalid input"),
        );
    }
    responses.insert(
        "403".into(),
        described(reference("GenericError"), "Not allowed"),
    );
    if with_path {
        responses.insert(
            "404".into(),
            described(reference("GenericError"), "Not found"),
        );
    }
}

fn list_parameters(filters: &[(&str, Value)]) -> Vec<Value> {
    let mut parameters = vec![
        json!({"name": "page", "in": "query", "schema": {"type": "integer"}}),
        json!({"name": "page_size", "in": "query", "schema": {"type": "integer"}}),
        json!({"name": "search", "in": "query", "schema": {"type": "string"}}),
        json!({"name": "ordering", "in": "query", "schema": {"type": "string"}}),
    ];
    for (name, schema) in filters {
        parameters.push(json!({"name": name, "in": "query", "schema": schema}));
    }
    parameters
}

/// One resource: the list, create, retrieve, update, partial update, delete and used-by
/// operations a DRF model viewset has, as far as `ops` says.
struct Resource<'a> {
    path: &'a str,
    /// The path parameter's name (`pk`, `slug`, `id`, …).
    key: &'a str,
    key_schema: Value,
    tag: &'a str,
    /// Schema names: the object, and its request bodies (`None`: read-only).
    name: &'a str,
    request: Option<String>,
    filters: Vec<(&'a str, Value)>,
    writable: bool,
}

impl Resource<'_> {
    fn add(&self, paths: &mut Map<String, Value>) {
        let operation = |id: &str, summary: &str| json!({"operationId": id, "tags": [self.tag], "summary": summary});
        let slug = self.path.trim_matches('/').replace('/', "_");
        let path_parameter =
            json!([{"name": self.key, "in": "path", "required": true, "schema": self.key_schema}]);

        let mut collection = Map::new();
        let mut list = operation(&format!("{slug}_list"), "List");
        list["parameters"] = Value::Array(list_parameters(&self.filters));
        let mut responses = Map::new();
        responses.insert("200".into(), ok(paginated(self.name)));
        errors(&mut responses, true, true);
        list["responses"] = Value::Object(responses);
        collection.insert("get".into(), list);
        if let (true, Some(request)) = (self.writable, &self.request) {
            let mut create = operation(&format!("{slug}_create"), "Create");
            create["requestBody"] = json_body(reference(request));
            create["requestBody"]["required"] = json!(true);
            let mut responses = Map::new();
            responses.insert("201".into(), ok(reference(self.name)));
            errors(&mut responses, true, false);
            create["responses"] = Value::Object(responses);
            collection.insert("post".into(), create);
        }
        paths.insert(format!("/api/v3{}", self.path), Value::Object(collection));

        let mut item = Map::new();
        item.insert("parameters".into(), path_parameter.clone());
        let mut retrieve = operation(&format!("{slug}_retrieve"), "Retrieve");
        let mut responses = Map::new();
        responses.insert("200".into(), ok(reference(self.name)));
        errors(&mut responses, false, true);
        retrieve["responses"] = Value::Object(responses);
        item.insert("get".into(), retrieve);
        if let (true, Some(request)) = (self.writable, &self.request) {
            for (method, id, body) in [
                ("put", "update", request.clone()),
                ("patch", "partial_update", format!("Patched{request}")),
            ] {
                let mut op = operation(&format!("{slug}_{id}"), id);
                op["requestBody"] = json_body(reference(&body));
                let mut responses = Map::new();
                responses.insert("200".into(), ok(reference(self.name)));
                errors(&mut responses, true, true);
                op["responses"] = Value::Object(responses);
                item.insert(method.into(), op);
            }
            let mut destroy = operation(&format!("{slug}_destroy"), "Delete");
            let mut responses = Map::new();
            responses.insert("204".into(), json!({"description": "Deleted"}));
            errors(&mut responses, false, true);
            destroy["responses"] = Value::Object(responses);
            item.insert("delete".into(), destroy);
        }
        paths.insert(
            format!("/api/v3{}{{{}}}/", self.path, self.key),
            Value::Object(item),
        );

        let mut used_by = operation(&format!("{slug}_used_by_list"), "What refers to it");
        used_by["parameters"] = path_parameter;
        let mut responses = Map::new();
        responses.insert(
            "200".into(),
            ok(json!({"type": "array", "items": reference("UsedBy")})),
        );
        errors(&mut responses, false, true);
        used_by["responses"] = Value::Object(responses);
        paths.insert(
            format!("/api/v3{}{{{}}}/used_by/", self.path, self.key),
            json!({"get": used_by}),
        );
    }
}

/// `Invitation Stage` -> `InvitationStage`.
fn schema_name(verbose: &str) -> String {
    verbose.split_whitespace().collect()
}

fn simple_get(paths: &mut Map<String, Value>, path: &str, id: &str, tag: &str, schema: Value) {
    let mut responses = Map::new();
    responses.insert("200".into(), ok(schema));
    errors(&mut responses, false, false);
    paths.insert(
        format!("/api/v3{path}"),
        json!({"get": {"operationId": id, "tags": [tag], "responses": responses}}),
    );
}

fn object(required: &[&str], properties: Value) -> Value {
    json!({"type": "object", "required": required, "properties": properties})
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
    fn yaml_is_the_same_document() {
        let value = json!({"a": {"b": [1, "yes", {"c": null}], "d": []}, "e": "x"});
        assert_eq!(
            to_yaml(&value),
            "\"a\":\n  \"b\":\n  - 1\n  - \"yes\"\n  -\n    \"c\": null\n  \"d\": []\n\"e\": \"x\"\n"
        );
    }
}
