//! JSON in, Starlark values out: the request, users and model objects become structs (so
//! `request.user.username` and `context["invitation"].fixed_data` work as in authentik),
//! everything else dicts, lists and scalars.

use akin_domain::policy::{HttpRequestInfo, PolicyRequest};
use serde_json::{Map, Value as Json};
use starlark::values::dict::{AllocDict, DictRef};
use starlark::values::structs::AllocStruct;
use starlark::values::{Heap, Value};

use crate::state::EvalState;

/// Context keys holding model objects, which expressions read with attribute access.
const OBJECT_KEYS: &[&str] = &["invitation", "application", "source"];

fn object_struct<'v>(heap: Heap<'v>, object: &Map<String, Json>) -> Value<'v> {
    heap.alloc(AllocStruct(
        object
            .iter()
            .map(|(k, v)| (k.clone(), heap.alloc(v.clone())))
            .collect::<Vec<_>>(),
    ))
}

/// A user (`PolicyUser::to_value`) as a struct; `Null` is the anonymous user. Boolean
/// methods authentik's user has (`has_usable_password()`) become callables.
pub fn user<'v>(heap: Heap<'v>, user: &Json, state: &EvalState) -> Value<'v> {
    match user.as_object() {
        Some(fields) => heap.alloc(AllocStruct(
            fields
                .iter()
                .map(|(k, v)| {
                    let value = match (k.as_str(), v) {
                        ("has_usable_password", Json::Bool(yes)) => {
                            if *yes {
                                state.constant_true.to_value()
                            } else {
                                state.constant_false.to_value()
                            }
                        }
                        _ => heap.alloc(v.clone()),
                    };
                    (k.clone(), value)
                })
                .collect::<Vec<_>>(),
        )),
        None => heap.alloc(AllocStruct([
            ("pk", Value::new_none()),
            ("username", heap.alloc("")),
            ("name", heap.alloc("")),
            ("email", heap.alloc("")),
            ("is_active", heap.alloc(false)),
            ("is_authenticated", heap.alloc(false)),
            ("is_superuser", heap.alloc(false)),
            ("attributes", heap.alloc(Map::new())),
            ("groups", heap.alloc(Vec::<String>::new())),
        ])),
    }
}

/// The context dict, with `pending_user` and model objects as structs, and `flow_plan`
/// (authentik passes the plan: `flow_plan.context` is the same data).
pub fn context<'v>(
    heap: Heap<'v>,
    context: &Map<String, Json>,
    state: &EvalState,
) -> (Value<'v>, Value<'v>) {
    let mut entries = context_entries(heap, context, state);
    let plan_context = heap.alloc(AllocDict(entries.clone()));
    entries.push((
        heap.alloc("flow_plan"),
        heap.alloc(AllocStruct([("context", plan_context)])),
    ));
    (heap.alloc(AllocDict(entries)), plan_context)
}

/// What the expression changed in the plan's context: keys whose value differs from
/// what it was given (users as their pk, values that are not JSON left out).
pub fn context_updates<'v>(
    heap: Heap<'v>,
    plan_context: Value<'v>,
    before: &Map<String, Json>,
) -> Map<String, Json> {
    let mut updates = Map::new();
    let Some(dict) = DictRef::from_value(plan_context) else {
        return updates;
    };
    for (key, value) in dict.iter() {
        let Some(key) = key.unpack_str() else {
            continue;
        };
        // A user (it has a username and an integer pk) is stored as its pk.
        let user_pk = match (
            value.get_attr("username", heap).ok().flatten(),
            value.get_attr("pk", heap).ok().flatten(),
        ) {
            (Some(_), Some(pk)) => pk.unpack_i32().map(Json::from),
            _ => None,
        };
        let json = match user_pk {
            Some(pk) => pk,
            None => match value.to_json_value() {
                Ok(json) => json,
                Err(_) => continue,
            },
        };
        let unchanged = match before.get(key) {
            Some(Json::Object(old)) if key == "pending_user" => old.get("pk") == Some(&json),
            Some(old) => *old == json,
            None => false,
        };
        if !unchanged {
            updates.insert(key.to_owned(), json);
        }
    }
    updates
}

fn context_entries<'v>(
    heap: Heap<'v>,
    context: &Map<String, Json>,
    state: &EvalState,
) -> Vec<(Value<'v>, Value<'v>)> {
    context
        .iter()
        .filter(|(k, _)| {
            !k.starts_with("_ak_") && !k.starts_with("akin_") && k.as_str() != "flow_plan"
        })
        .map(|(k, v)| {
            let value = match (k.as_str(), v) {
                ("pending_user", Json::Object(_)) => user(heap, v, state),
                (key, Json::Object(object)) if OBJECT_KEYS.contains(&key) => {
                    object_struct(heap, object)
                }
                _ => heap.alloc(v.clone()),
            };
            (heap.alloc(k.as_str()), value)
        })
        .collect()
}

fn http_request<'v>(heap: Heap<'v>, http: &HttpRequestInfo) -> Value<'v> {
    heap.alloc(AllocStruct([
        ("path", heap.alloc(http.path.as_str())),
        ("method", heap.alloc(http.method.as_str())),
        ("headers", heap.alloc(http.headers.clone())),
        ("client_ip", heap.alloc(http.client_ip.as_str())),
    ]))
}

/// The handler's arguments, in `dialect::PARAMETERS` order, and the plan context dict
/// (to read back what the expression wrote).
pub fn arguments<'v>(
    heap: Heap<'v>,
    request: &PolicyRequest,
    state: &EvalState,
) -> (Vec<Value<'v>>, Value<'v>) {
    let (context, plan_context) = context(heap, &request.context, state);
    let http = request
        .http
        .as_ref()
        .map_or_else(Value::new_none, |h| http_request(heap, h));
    let client_ip = request
        .http
        .as_ref()
        .and_then(|h| h.client_ip.parse().ok())
        .map_or_else(Value::new_none, |ip| {
            crate::globals::ip_address_value(heap, ip)
        });
    let request_value = heap.alloc(AllocStruct([
        ("user", user(heap, &request.user, state)),
        ("context", context),
        ("http_request", http),
        ("obj", Value::new_none()),
    ]));
    let sso = request
        .context
        .get("is_sso")
        .and_then(Json::as_bool)
        .unwrap_or(false);
    (
        vec![request_value, context, http, client_ip, heap.alloc(sso)],
        plan_context,
    )
}

/// A property mapping's arguments, in `dialect::MAPPING_PARAMETERS` order: `user`,
/// `request` (the HTTP request, with `user`, as Django's), `prompt_context`, `dry_run`.
pub fn mapping_arguments<'v>(
    heap: Heap<'v>,
    request: &PolicyRequest,
    prompt_context: &Map<String, Json>,
    state: &EvalState,
) -> Vec<Value<'v>> {
    let user = user(heap, &request.user, state);
    let http = request.http.as_ref();
    let text = |f: fn(&HttpRequestInfo) -> &str| heap.alloc(http.map_or("", f));
    let request_value = heap.alloc(AllocStruct([
        ("user", user),
        ("path", text(|h| h.path.as_str())),
        ("method", text(|h| h.method.as_str())),
        ("client_ip", text(|h| h.client_ip.as_str())),
        (
            "headers",
            heap.alloc(http.map(|h| h.headers.clone()).unwrap_or_default()),
        ),
    ]));
    vec![
        user,
        request_value,
        heap.alloc(Json::Object(prompt_context.clone())),
        heap.alloc(false),
    ]
}
