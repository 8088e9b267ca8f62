//! Request parsing with DRF's error messages: JSON bodies read field by field (so every
//! wrong field is named, and missing differs from null), repeated query parameters.

use akin_domain::FieldErrors;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::ApiError;
use crate::format::parse_datetime;

/// The largest JSON body the API reads.
pub const MAX_JSON_BODY: usize = 1024 * 1024;

/// A JSON object body, read with [`Fields`].
pub struct JsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(MAX_JSON_BODY)
            } else {
                ApiError::JsonParse(rejection.body_text())
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonObject(Map::new()));
        }
        match content_type.as_deref() {
            Some(ct) if is_json(ct) => {}
            Some(ct) => return Err(ApiError::UnsupportedMediaType(ct.to_owned())),
            None => return Err(ApiError::UnsupportedMediaType(String::new())),
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => {
                refuse_unstorable(&map)?;
                Ok(JsonObject(map))
            }
            Ok(other) => Err(ApiError::field(
                "non_field_errors",
                format!(
                    "Invalid data. Expected a dictionary, but got {}.",
                    type_name(&other)
                ),
            )),
            Err(e) => Err(ApiError::JsonParse(e.to_string())),
        }
    }
}

/// Values no database can store, refused with the field they are in: DRF's "Null
/// characters are not allowed." for any string (keys included), since PostgreSQL cannot
/// store U+0000 in text or JSON and no field needs it; and numbers beyond a double
/// (`1e999999`), which PostgreSQL's JSON refuses and SQLite's would keep only as text.
pub(crate) fn refuse_unstorable(map: &Map<String, Value>) -> Result<(), ApiError> {
    const NUL: &str = "Null characters are not allowed.";
    const TOO_LARGE: &str = "A number in it is too large to store.";
    fn problem(value: &Value) -> Option<&'static str> {
        match value {
            Value::String(s) if s.contains('\0') => Some(NUL),
            Value::Number(n)
                if !(n.is_i64() || n.is_u64() || n.as_f64().is_some_and(f64::is_finite)) =>
            {
                Some(TOO_LARGE)
            }
            Value::Array(items) => items.iter().find_map(problem),
            Value::Object(map) => map.iter().find_map(|(k, v)| {
                if k.contains('\0') {
                    Some(NUL)
                } else {
                    problem(v)
                }
            }),
            _ => None,
        }
    }
    for (key, value) in map {
        if key.contains('\0') {
            return Err(ApiError::field("non_field_errors", NUL));
        }
        if let Some(message) = problem(value) {
            return Err(ApiError::field(key, message));
        }
    }
    Ok(())
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

/// Python's name for a JSON value's type, as DRF puts it in messages.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// Whether a field must be present: for POST and PUT required fields are, for PATCH
/// nothing is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Full,
    Partial,
}

/// Reads typed fields out of a JSON object and collects every problem, as DRF does.
pub struct Fields {
    map: Map<String, Value>,
    mode: Mode,
    errors: FieldErrors,
}

impl Fields {
    pub fn new(JsonObject(map): JsonObject, mode: Mode) -> Self {
        Self {
            map,
            mode,
            errors: FieldErrors::new(),
        }
    }

    /// The value of `key`; `None` when absent (reporting it if required in full mode) or
    /// null (reporting it unless `nullable`).
    fn take(&mut self, key: &str, required: bool, nullable: bool) -> Option<Value> {
        match self.map.remove(key) {
            None => {
                if required && self.mode == Mode::Full {
                    self.errors.add(key, "This field is required.");
                }
                None
            }
            Some(Value::Null) if !nullable => {
                self.errors.add(key, "This field may not be null.");
                None
            }
            Some(value) => Some(value),
        }
    }

    /// A string; `allow_blank: false` refuses "".
    pub fn string(&mut self, key: &str, required: bool, allow_blank: bool) -> Option<String> {
        let value = self.take(key, required, false)?;
        let text = match value {
            Value::String(s) => s,
            // DRF's CharField accepts numbers and turns them into text.
            Value::Number(n) => n.to_string(),
            _ => {
                self.errors.add(key, "Not a valid string.");
                return None;
            }
        };
        if !allow_blank && text.trim().is_empty() {
            self.errors.add(key, "This field may not be blank.");
            return None;
        }
        Some(text)
    }

    /// A string or null.
    pub fn nullable_string(&mut self, key: &str) -> Option<Option<String>> {
        match self.take(key, false, true)? {
            Value::Null => Some(None),
            Value::String(s) => Some(Some(s)),
            _ => {
                self.errors.add(key, "Not a valid string.");
                None
            }
        }
    }

    pub fn bool(&mut self, key: &str) -> Option<bool> {
        let value = self.take(key, false, false)?;
        let parsed = match &value {
            Value::Bool(b) => Some(*b),
            Value::Number(n) => match n.as_i64() {
                Some(1) => Some(true),
                Some(0) => Some(false),
                _ => None,
            },
            Value::String(s) => parse_bool(s),
            _ => None,
        };
        if parsed.is_none() {
            self.errors.add(key, "Must be a valid boolean.");
        }
        parsed
    }

    pub fn int(&mut self, key: &str, required: bool) -> Option<i64> {
        let value = self.take(key, required, false)?;
        let parsed = match &value {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        if parsed.is_none() {
            self.errors.add(key, "A valid integer is required.");
        }
        parsed
    }

    /// A datetime or null.
    pub fn datetime(&mut self, key: &str) -> Option<Option<OffsetDateTime>> {
        match self.take(key, false, true)? {
            Value::Null => Some(None),
            Value::String(s) => match parse_datetime(&s) {
                Some(t) => Some(Some(t)),
                None => {
                    self.errors.add(
                        key,
                        "Datetime has wrong format. Use one of these formats instead: \
                         YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].",
                    );
                    None
                }
            },
            _ => {
                self.errors.add(
                    key,
                    "Datetime has wrong format. Use one of these formats instead: \
                     YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].",
                );
                None
            }
        }
    }

    /// A JSON object (`attributes`).
    pub fn object(&mut self, key: &str) -> Option<Map<String, Value>> {
        match self.take(key, false, false)? {
            Value::Object(map) => Some(map),
            other => {
                self.errors.add(
                    key,
                    format!(
                        "Expected a dictionary of items but got type \"{}\".",
                        type_name(&other)
                    ),
                );
                None
            }
        }
    }

    /// One of `choices`.
    pub fn choice<T: Copy>(&mut self, key: &str, parse: impl Fn(&str) -> Option<T>) -> Option<T> {
        let value = self.take(key, false, false)?;
        let text = match &value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let parsed = parse(&text);
        if parsed.is_none() {
            self.errors
                .add(key, format!("\"{text}\" is not a valid choice."));
        }
        parsed
    }

    fn list(&mut self, key: &str) -> Option<Vec<Value>> {
        match self.take(key, false, false)? {
            Value::Array(items) => Some(items),
            other => {
                self.errors.add(
                    key,
                    format!(
                        "Expected a list of items but got type \"{}\".",
                        type_name(&other)
                    ),
                );
                None
            }
        }
    }

    /// A list of email addresses (DRF's `ListField(child=EmailField())`).
    pub fn email_list(&mut self, key: &str, required: bool) -> Option<Vec<String>> {
        let items = match self.take(key, required, false)? {
            Value::Array(items) => items,
            other => {
                self.errors.add(
                    key,
                    format!(
                        "Expected a list of items but got type \"{}\".",
                        type_name(&other)
                    ),
                );
                return None;
            }
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let address = item.as_str().map(str::trim).unwrap_or_default();
            let mut problems = akin_domain::FieldErrors::new();
            akin_domain::user::validate_email(address, &mut problems);
            if address.is_empty() || !problems.is_empty() {
                self.errors.add(key, "Enter a valid email address.");
                return None;
            }
            out.push(address.to_owned());
        }
        Some(out)
    }

    pub fn uuid_list(&mut self, key: &str) -> Option<Vec<Uuid>> {
        let items = self.list(key)?;
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            match item.as_str().and_then(|s| Uuid::parse_str(s).ok()) {
                Some(uuid) => out.push(uuid),
                None => {
                    let shown = item
                        .as_str()
                        .map_or_else(|| item.to_string(), str::to_owned);
                    self.errors
                        .add(key, format!("“{shown}” is not a valid UUID."));
                    return None;
                }
            }
        }
        Some(out)
    }

    pub fn int_list(&mut self, key: &str) -> Option<Vec<i64>> {
        let items = self.list(key)?;
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            match item.as_i64() {
                Some(n) => out.push(n),
                None => {
                    self.errors.add(
                        key,
                        format!(
                            "Incorrect type. Expected pk value, received {}.",
                            type_name(&item)
                        ),
                    );
                    return None;
                }
            }
        }
        Some(out)
    }

    /// Every problem found so far, or `Ok`. Unknown fields were simply never read.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.errors))
        }
    }
}

/// DRF's accepted spellings of booleans, in bodies and query strings.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" | "t" | "y" => Some(true),
        "false" | "0" | "no" | "off" | "f" | "n" => Some(false),
        _ => None,
    }
}

/// The query string as ordered pairs, so repeated keys (`type=a&type=b`) all survive.
pub struct QueryParams(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let raw = parts.uri.query().unwrap_or_default();
        let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.as_bytes())
            .into_owned()
            .collect();
        // As in bodies: PostgreSQL cannot compare against U+0000, and no filter needs it.
        if let Some((key, _)) = pairs
            .iter()
            .find(|(k, v)| k.contains('\0') || v.contains('\0'))
        {
            return Err(ApiError::field(
                &key.replace('\0', ""),
                "Null characters are not allowed.",
            ));
        }
        Ok(QueryParams(pairs))
    }
}

impl QueryParams {
    /// Query parameters made by the server itself (the admin pages calling the API).
    pub(crate) fn from_pairs(pairs: Vec<(String, String)>) -> QueryParams {
        QueryParams(pairs)
    }

    /// The last non-empty value of `key` (DRF's filters ignore empty values).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// The last value of `key`, empty or not: for parameters whose mere presence asks for
    /// something (`?after=` starts paging by cursor).
    pub fn given(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn string(&self, key: &str) -> Option<String> {
        self.get(key).map(str::to_owned)
    }

    /// Every non-empty value of `key`.
    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// A boolean filter; an unreadable value is a 400 naming the parameter.
    pub fn bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => parse_bool(v)
                .map(Some)
                .ok_or_else(|| ApiError::field(key, "Enter a valid boolean.")),
        }
    }

    pub fn datetime(&self, key: &str) -> Result<Option<OffsetDateTime>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => parse_datetime(v)
                .map(Some)
                .ok_or_else(|| ApiError::field(key, "Enter a valid date/time.")),
        }
    }

    pub fn uuid(&self, key: &str) -> Result<Option<Uuid>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => Uuid::parse_str(v)
                .map(Some)
                .map_err(|_| ApiError::field(key, "Enter a valid UUID.")),
        }
    }

    pub fn uuids(&self, key: &str) -> Result<Vec<Uuid>, ApiError> {
        self.all(key)
            .iter()
            .map(|v| Uuid::parse_str(v).map_err(|_| ApiError::field(key, "Enter a valid UUID.")))
            .collect()
    }

    pub fn ints(&self, key: &str) -> Result<Vec<i64>, ApiError> {
        self.all(key)
            .iter()
            .map(|v| {
                v.parse()
                    .map_err(|_| ApiError::field(key, "Enter a whole number."))
            })
            .collect()
    }

    /// `page`, `page_size`, `ordering` and `search`. A page that is not a positive number is
    /// "Invalid page." (404) as in DRF; an unusable `page_size` falls back to the default.
    pub fn list_query(
        &self,
        default_ordering: &str,
    ) -> Result<akin_domain::list::ListQuery, ApiError> {
        use akin_domain::list::{
            DEFAULT_PAGE_SIZE, ListQuery, MAX_PAGE_SIZE, PageRequest, parse_ordering,
        };
        let page = match self.get("page") {
            None => 1,
            Some(v) => match v.parse::<u64>() {
                Ok(n) if n >= 1 => n,
                _ => return Err(ApiError::InvalidPage),
            },
        };
        let page_size = self
            .get("page_size")
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|n| *n >= 1)
            .map_or(DEFAULT_PAGE_SIZE, |n| n.min(MAX_PAGE_SIZE));
        Ok(ListQuery {
            page: PageRequest { page, page_size },
            ordering: parse_ordering(self.get("ordering").unwrap_or(default_ordering)),
            search: self.string("search"),
        })
    }
}

/// The address people reach this server at, for links sent to others: `AKIN_EXTERNAL_URL`
/// when it is set, else the scheme and host this request came to.
pub(crate) fn public_base_url(configured: Option<&str>, headers: &axum::http::HeaderMap) -> String {
    if let Some(url) = configured {
        return url.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if crate::proxy::is_https(headers) {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}")
}
