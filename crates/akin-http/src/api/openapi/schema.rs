//! The pieces the catalog's part of the OpenAPI document is built from: JSON Schema
//! (2020-12, as OpenAPI 3.1 has it) for catalog fields and models, and a DRF viewset's
//! operations.

use akin_domain::catalog::{self, Field, FieldType, ModelSpec};
use serde_json::{Map, Value, json};

pub(super) fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

pub(super) fn uuid() -> Value {
    json!({"type": "string", "format": "uuid"})
}

pub(super) fn date_time() -> Value {
    json!({"type": "string", "format": "date-time"})
}

/// A free-form JSON object.
pub(super) fn any_object() -> Value {
    json!({"type": "object", "additionalProperties": true})
}

/// `schema`, or null.
pub(super) fn nullable(mut schema: Value) -> Value {
    if schema.get("$ref").is_some() {
        return json!({"oneOf": [schema, {"type": "null"}]});
    }
    if let Some(Value::String(ty)) = schema.get("type") {
        schema["type"] = json!([ty, "null"]);
    }
    if let Some(Value::Array(choices)) = schema.get_mut("enum") {
        choices.push(Value::Null);
    }
    schema
}

/// The JSON schema of one catalog field as requests send it.
pub(super) fn field_schema(field: &Field) -> Value {
    let schema = match field.ty {
        FieldType::Text => json!({"type": "string"}),
        FieldType::Slug => json!({"type": "string", "pattern": "^[-a-zA-Z0-9_]+$"}),
        FieldType::Bool => json!({"type": "boolean"}),
        FieldType::Int => json!({"type": "integer"}),
        FieldType::Object => any_object(),
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
pub(super) fn request_schemas(name: &str, spec: &ModelSpec, schemas: &mut Map<String, Value>) {
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
pub(super) fn catalog_response(spec: &ModelSpec, pk: Value, extra: &[(&str, Value)]) -> Value {
    let mut properties = Map::new();
    properties.insert("pk".into(), pk);
    for field in spec.fields.iter().filter(|f| !f.write_only) {
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

pub(super) fn paginated(item: &str) -> Value {
    json!({
        "type": "object",
        "required": ["pagination", "results"],
        "properties": {
            "pagination": reference("Pagination"),
            "results": {"type": "array", "items": reference(item)},
            "autocomplete": any_object(),
        },
    })
}

pub(super) fn json_body(schema: Value) -> Value {
    json!({"content": {"application/json": {"schema": schema}}})
}

/// A JSON response with `schema`, described as `text`.
pub(super) fn described(schema: Value, text: &str) -> Value {
    let mut response = json_body(schema);
    response["description"] = json!(text);
    response
}

pub(super) fn ok(schema: Value) -> Value {
    let mut response = json_body(schema);
    response["description"] = json!("OK");
    response
}

/// The error responses every authenticated operation can give.
pub(super) fn errors(responses: &mut Map<String, Value>, with_body: bool, with_path: bool) {
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

pub(super) fn list_parameters(filters: &[(&str, Value)]) -> Vec<Value> {
    let mut parameters = vec![
        json!({"name": "page", "in": "query", "required": false, "schema": {"type": "integer"}}),
        json!({"name": "page_size", "in": "query", "required": false, "schema": {"type": "integer"}}),
        json!({"name": "search", "in": "query", "required": false, "schema": {"type": "string"}}),
        json!({"name": "ordering", "in": "query", "required": false, "schema": {"type": "string"}}),
    ];
    for (name, schema) in filters {
        parameters.push(json!({"name": name, "in": "query", "required": false, "schema": schema}));
    }
    parameters
}

/// One resource: the list, create, retrieve, update, partial update, delete and used-by
/// operations a DRF model viewset has, as far as `ops` says.
pub(super) struct Resource<'a> {
    pub(super) path: &'a str,
    /// The path parameter's name (`pk`, `slug`, `id`, …).
    pub(super) key: &'a str,
    pub(super) key_schema: Value,
    pub(super) tag: &'a str,
    /// Schema names: the object, and its request bodies (`None`: read-only).
    pub(super) name: &'a str,
    pub(super) request: Option<String>,
    pub(super) filters: Vec<(&'a str, Value)>,
    pub(super) writable: bool,
}

impl Resource<'_> {
    pub(super) fn add(&self, paths: &mut Map<String, Value>) {
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
pub(super) fn schema_name(verbose: &str) -> String {
    verbose.split_whitespace().collect()
}
