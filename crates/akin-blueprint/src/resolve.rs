//! Evaluates the blueprint tags in a [`Node`] into a JSON value, as authentik's loader does.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;

use serde_json::{Map, Value};

use crate::error::{BlueprintError, BlueprintResult, Pos};
use crate::yaml::{Node, NodeValue};

/// A boxed future, for the recursion through nested tags.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Looks objects up for `!Find` and `!FindObject`, inside the import's transaction so that
/// objects created by earlier entries are found.
pub trait Lookup: Send {
    /// The first `model` object matching every `(field, value)` pair, serialized as the
    /// API would show it.
    fn find_object(
        &mut self,
        model: &str,
        query: &[(String, Value)],
        at: Pos,
    ) -> impl Future<Output = BlueprintResult<Option<Value>>> + Send;

    /// The primary key of that object.
    fn find(
        &mut self,
        model: &str,
        query: &[(String, Value)],
        at: Pos,
    ) -> impl Future<Output = BlueprintResult<Option<Value>>> + Send {
        async move {
            Ok(self
                .find_object(model, query, at)
                .await?
                .map(|o| o.get("pk").cloned().unwrap_or(Value::Null)))
        }
    }
}

/// What tags may read besides the store.
pub struct Scope<'a> {
    /// The blueprint's `context` with the import's context merged over it.
    pub context: &'a Map<String, Value>,
    /// Primary keys of earlier entries, by their `id` (`!KeyOf`).
    pub ids: &'a HashMap<String, Value>,
    /// Environment variables (`!Env`): `None` for unset, `Err` for not this blueprint's.
    pub env: &'a crate::env::EnvReader<'a>,
    /// The folder `!File` may read from; `None` refuses every path (uploads have no folder).
    pub files: Option<&'a Path>,
}

/// One enclosing `!Enumerate`: its current `(index, value)`, or `None` while it is still
/// reading its iterable. authentik counts an `!Enumerate` from the moment it starts, so
/// inside its own iterable `!Value 0` is that `!Enumerate` (which has no item yet) and the
/// enclosing one is `!Value 1`.
pub type Frame = Option<(Value, Value)>;

/// Resolves `node`. `iteration` holds a [`Frame`] for each enclosing `!Enumerate`,
/// innermost last.
pub fn resolve<'a, L: Lookup>(
    node: &'a Node,
    scope: &'a Scope<'a>,
    lookup: &'a mut L,
    iteration: &'a [Frame],
) -> BoxFuture<'a, BlueprintResult<Value>> {
    Box::pin(async move {
        Ok(match &node.value {
            NodeValue::Null => Value::Null,
            NodeValue::Bool(b) => Value::Bool(*b),
            NodeValue::Int(i) => Value::from(*i),
            NodeValue::Float(f) => {
                serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
            }
            NodeValue::Str(s) => Value::String(s.clone()),
            NodeValue::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(resolve(item, scope, lookup, iteration).await?);
                }
                Value::Array(out)
            }
            NodeValue::Map(entries) => {
                let mut out = Map::new();
                for (key, value) in entries {
                    out.insert(key.clone(), resolve(value, scope, lookup, iteration).await?);
                }
                Value::Object(out)
            }
            NodeValue::Tagged(tag, inner) => {
                tag_value(tag, inner, node.at, scope, lookup, iteration).await?
            }
        })
    })
}

/// The arguments of a tag: a sequence's items, or the single scalar.
fn args(inner: &Node) -> Vec<&Node> {
    match &inner.value {
        NodeValue::Seq(items) => items.iter().collect(),
        _ => vec![inner],
    }
}

fn err(at: Pos, message: impl Into<String>) -> BlueprintError {
    BlueprintError::new(at, message)
}

async fn tag_value<'a, L: Lookup>(
    tag: &'a str,
    inner: &'a Node,
    at: Pos,
    scope: &'a Scope<'a>,
    lookup: &'a mut L,
    iteration: &'a [Frame],
) -> BlueprintResult<Value> {
    let items = args(inner);
    match tag {
        "KeyOf" => {
            let id = resolve(inner, scope, lookup, iteration).await?;
            let id = scalar_text(&id);
            scope.ids.get(&id).cloned().ok_or_else(|| {
                err(
                    at,
                    format!("!KeyOf {id}: no earlier entry has the id {id:?}"),
                )
            })
        }
        "Find" | "FindObject" => {
            let Some((model, pairs)) = items.split_first() else {
                return Err(err(
                    at,
                    format!("!{tag} needs [model, [field, value], ...]"),
                ));
            };
            let model = resolve(model, scope, lookup, iteration).await?;
            let Value::String(model) = model else {
                return Err(err(at, format!("!{tag}: the model must be a string")));
            };
            let mut query = Vec::new();
            for pair in pairs {
                let value = resolve(pair, scope, lookup, iteration).await?;
                match value {
                    Value::Array(kv) if kv.len() == 2 => {
                        let field = scalar_text(&kv[0]);
                        query.push((field, kv[1].clone()));
                    }
                    _ => {
                        return Err(err(
                            pair.at,
                            format!("!{tag}: each query is [field, value]"),
                        ));
                    }
                }
            }
            let found = if tag == "Find" {
                lookup.find(&model, &query, at).await?
            } else {
                lookup.find_object(&model, &query, at).await?
            };
            Ok(found.unwrap_or(Value::Null))
        }
        "Context" => {
            let (key, default) = key_and_default(&items, scope, lookup, iteration).await?;
            Ok(context_value(scope.context, &scalar_text(&key)).unwrap_or(default))
        }
        "Env" => {
            let (name, default) = key_and_default(&items, scope, lookup, iteration).await?;
            let name = scalar_text(&name);
            match (scope.env)(&name) {
                Ok(value) => Ok(value.map_or(default, Value::String)),
                // The name only: whatever the variable holds stays out of the report.
                Err(crate::env::EnvRefused) => Err(err(
                    at,
                    format!(
                        "!Env {name}: an uploaded blueprint reads only the variables AKIN_BLUEPRINT_ENV_ALLOW names, and never AKIN_* (import the file with the CLI or the blueprints folder to read any)"
                    ),
                )),
            }
        }
        "File" => {
            let (path, default) = key_and_default(&items, scope, lookup, iteration).await?;
            let path = scalar_text(&path);
            match read_file(scope.files, &path) {
                Some(text) => Ok(Value::String(text)),
                None if !default.is_null() => Ok(default),
                None => Err(err(
                    at,
                    format!(
                        "!File {path}: not readable (only files inside the blueprint's folder are)"
                    ),
                )),
            }
        }
        "Format" => {
            let Some((format, rest)) = items.split_first() else {
                return Err(err(at, "!Format needs [format, args...]"));
            };
            let format = resolve(format, scope, lookup, iteration).await?;
            let mut values = Vec::new();
            for arg in rest {
                values.push(resolve(arg, scope, lookup, iteration).await?);
            }
            python_format(&scalar_text(&format), &values)
                .map(Value::String)
                .map_err(|m| err(at, m))
        }
        "If" => {
            let Some(condition) = items.first() else {
                return Err(err(at, "!If needs [condition, when_true, when_false]"));
            };
            let holds = truthy(&resolve(condition, scope, lookup, iteration).await?);
            let branch = if holds { items.get(1) } else { items.get(2) };
            match branch {
                Some(node) => resolve(node, scope, lookup, iteration).await,
                None => Ok(Value::Bool(holds)),
            }
        }
        "Condition" => {
            let Some((mode, rest)) = items.split_first() else {
                return Err(err(at, "!Condition needs [MODE, args...]"));
            };
            let mode = scalar_text(&resolve(mode, scope, lookup, iteration).await?);
            let mut values = Vec::new();
            for arg in rest {
                values.push(resolve(arg, scope, lookup, iteration).await?);
            }
            condition(&mode, &values)
                .map(Value::Bool)
                .map_err(|m| err(at, m))
        }
        "Enumerate" => {
            let [iterable, mode, body] = items.as_slice() else {
                return Err(err(at, "!Enumerate needs [iterable, SEQ|MAP, item]"));
            };
            let mut reading = iteration.to_vec();
            reading.push(None);
            let iterable = resolve(iterable, scope, lookup, &reading).await?;
            let mode = scalar_text(&resolve(mode, scope, lookup, iteration).await?);
            let pairs: Vec<(Value, Value)> = match iterable {
                Value::Array(items) => items
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| (Value::from(i), v))
                    .collect(),
                Value::Object(map) => map
                    .into_iter()
                    .map(|(k, v)| (Value::String(k), v))
                    .collect(),
                other => {
                    return Err(err(
                        at,
                        format!("!Enumerate cannot iterate over {}", json_kind(&other)),
                    ));
                }
            };
            match mode.as_str() {
                "SEQ" => {
                    let mut out = Vec::new();
                    for pair in pairs {
                        let mut inner_iteration = iteration.to_vec();
                        inner_iteration.push(Some(pair));
                        out.push(resolve(body, scope, lookup, &inner_iteration).await?);
                    }
                    Ok(Value::Array(out))
                }
                "MAP" => {
                    let mut out = Map::new();
                    for pair in pairs {
                        let mut inner_iteration = iteration.to_vec();
                        inner_iteration.push(Some(pair));
                        match resolve(body, scope, lookup, &inner_iteration).await? {
                            Value::Object(map) => out.extend(map),
                            Value::Array(kv) if kv.len() == 2 => {
                                out.insert(scalar_text(&kv[0]), kv[1].clone());
                            }
                            other => {
                                return Err(err(
                                    body.at,
                                    format!(
                                        "!Enumerate MAP: each item must be a mapping or [key, value], not {}",
                                        json_kind(&other)
                                    ),
                                ));
                            }
                        }
                    }
                    Ok(Value::Object(out))
                }
                other => Err(err(
                    at,
                    format!("!Enumerate: mode must be SEQ or MAP, not {other:?}"),
                )),
            }
        }
        "Index" | "Value" => {
            let depth = match resolve(inner, scope, lookup, iteration).await? {
                Value::Number(n) => n.as_u64().unwrap_or(u64::MAX) as usize,
                Value::String(s) if s.trim().is_empty() => 0,
                // `!Index 1` reads its argument as text.
                Value::String(s) if s.trim().parse::<usize>().is_ok() => {
                    s.trim().parse().unwrap_or(0)
                }
                Value::Null => 0,
                other => {
                    return Err(err(
                        at,
                        format!("!{tag}: depth must be a number, not {}", json_kind(&other)),
                    ));
                }
            };
            let Some(position) = iteration.len().checked_sub(depth + 1) else {
                return Err(err(
                    at,
                    format!("!{tag} {depth}: not inside that many !Enumerate"),
                ));
            };
            let Some((index, value)) = &iteration[position] else {
                return Err(err(
                    at,
                    format!(
                        "!{tag} {depth} names an !Enumerate that is still reading its iterable \
                         (there, depth 0 is that !Enumerate itself: the enclosing one is {})",
                        depth + 1
                    ),
                ));
            };
            Ok(if tag == "Index" {
                index.clone()
            } else {
                value.clone()
            })
        }
        "AtIndex" => {
            let (object, index, default) = match items.as_slice() {
                [o, i] => (*o, *i, None),
                [o, i, d] => (*o, *i, Some(*d)),
                _ => return Err(err(at, "!AtIndex needs [object, index, default?]")),
            };
            let object = resolve(object, scope, lookup, iteration).await?;
            let index = resolve(index, scope, lookup, iteration).await?;
            let found = match (&object, &index) {
                (Value::Array(items), Value::Number(n)) => n.as_i64().and_then(|i| {
                    let i = if i < 0 { items.len() as i64 + i } else { i };
                    usize::try_from(i).ok().and_then(|i| items.get(i)).cloned()
                }),
                (Value::Object(map), key) => map.get(&scalar_text(key)).cloned(),
                _ => None,
            };
            match (found, default) {
                (Some(v), _) => Ok(v),
                (None, Some(d)) => resolve(d, scope, lookup, iteration).await,
                (None, None) => Err(err(
                    at,
                    format!(
                        "!AtIndex: {} has no item {}",
                        json_kind(&object),
                        scalar_text(&index)
                    ),
                )),
            }
        }
        "ParseJSON" => {
            let text = scalar_text(&resolve(inner, scope, lookup, iteration).await?);
            serde_json::from_str(&text).map_err(|e| err(at, format!("!ParseJSON: {e}")))
        }
        other => Err(err(at, format!("unknown tag !{other}"))),
    }
}

/// `!Tag key` or `!Tag [key, default]`; the default is `null` when not given.
async fn key_and_default<'a, L: Lookup>(
    items: &[&'a Node],
    scope: &'a Scope<'a>,
    lookup: &'a mut L,
    iteration: &'a [Frame],
) -> BlueprintResult<(Value, Value)> {
    let key = match items.first() {
        Some(node) => resolve(node, scope, lookup, iteration).await?,
        None => Value::Null,
    };
    let default = match items.get(1) {
        Some(node) => resolve(node, scope, lookup, iteration).await?,
        None => Value::Null,
    };
    Ok((key, default))
}

/// An exact key first; otherwise a dotted path through nested mappings.
fn context_value(context: &Map<String, Value>, key: &str) -> Option<Value> {
    if let Some(value) = context.get(key) {
        return Some(value.clone());
    }
    let mut current = context.get(key.split('.').next()?)?;
    for part in key.split('.').skip(1) {
        current = current.as_object()?.get(part)?;
    }
    Some(current.clone())
}

fn read_file(root: Option<&Path>, path: &str) -> Option<String> {
    let root = root?.canonicalize().ok()?;
    let candidate = root.join(path).canonicalize().ok()?;
    if !candidate.starts_with(&root) {
        return None;
    }
    std::fs::read_to_string(candidate).ok()
}

/// A value as Python's `str()` shows it (for `%s` and keys).
pub fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => python_repr(other),
    }
}

fn python_repr(value: &Value) -> String {
    match value {
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(python_repr).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("'{k}': {}", python_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Python's truthiness.
pub fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Python `%` formatting with `%s`, `%d`/`%i`, `%r` and `%%`.
pub fn python_format(format: &str, args: &[Value]) -> Result<String, String> {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some(spec @ ('s' | 'd' | 'i' | 'r')) => {
                let arg = args
                    .next()
                    .ok_or("!Format: not enough arguments for the format")?;
                match spec {
                    's' => out.push_str(&scalar_text(arg)),
                    'r' => out.push_str(&python_repr(arg)),
                    _ => match arg {
                        Value::Number(n) => out
                            .push_str(&n.as_i64().map_or_else(|| n.to_string(), |i| i.to_string())),
                        Value::Bool(b) => out.push(if *b { '1' } else { '0' }),
                        other => {
                            return Err(format!(
                                "!Format: %{spec} needs a number, not {}",
                                json_kind(other)
                            ));
                        }
                    },
                }
            }
            Some(other) => return Err(format!("!Format: unsupported conversion %{other}")),
            None => return Err("!Format: the format ends with a lone %".to_owned()),
        }
    }
    if args.next().is_some() {
        return Err("!Format: not all arguments converted during string formatting".to_owned());
    }
    Ok(out)
}

/// `!Condition` modes: EQ/NEQ compare values, the rest combine truthiness.
fn condition(mode: &str, values: &[Value]) -> Result<bool, String> {
    let truths = values.iter().map(truthy);
    Ok(match mode {
        "AND" => truths.clone().all(|t| t),
        "NAND" => !truths.clone().all(|t| t),
        "OR" => truths.clone().any(|t| t),
        "NOR" => !truths.clone().any(|t| t),
        "XOR" => truths.clone().filter(|t| *t).count() % 2 == 1,
        "XNOR" => truths.clone().filter(|t| *t).count() % 2 == 0,
        "EQ" => values.windows(2).all(|w| w[0] == w[1]),
        "NEQ" => !values.windows(2).all(|w| w[0] == w[1]),
        other => {
            return Err(format!(
                "!Condition: unknown mode {other:?}; use AND, NAND, OR, NOR, XOR, XNOR, EQ or NEQ"
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse;
    use serde_json::json;

    /// A lookup over a fixed list of (model, object) pairs; objects have a "pk".
    pub(crate) struct Objects(pub Vec<(String, Value)>);

    impl Lookup for Objects {
        async fn find_object(
            &mut self,
            model: &str,
            query: &[(String, Value)],
            at: Pos,
        ) -> BlueprintResult<Option<Value>> {
            if !model.contains('.') {
                return Err(BlueprintError::new(at, format!("unknown model {model}")));
            }
            Ok(self
                .0
                .iter()
                .find(|(m, o)| m == model && query.iter().all(|(k, v)| &o[k] == v))
                .map(|(_, o)| o.clone()))
        }
    }

    async fn eval_with(
        text: &str,
        context: Value,
        ids: &[(&str, Value)],
    ) -> BlueprintResult<Value> {
        let node = parse(text)?;
        let context = context.as_object().cloned().unwrap_or_default();
        let ids: HashMap<String, Value> = ids
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let env = |name: &str| match name {
            "AKIN_TEST_VAR" => Ok(Some("from-env".to_owned())),
            "SECRET_VAR" => Err(crate::env::EnvRefused),
            _ => Ok(None),
        };
        let scope = Scope {
            context: &context,
            ids: &ids,
            env: &env,
            files: None,
        };
        let mut objects = Objects(vec![(
            "authentik_core.user".into(),
            json!({"pk": 7, "username": "akadmin"}),
        )]);
        resolve(&node, &scope, &mut objects, &[]).await
    }

    async fn eval(text: &str) -> Value {
        eval_with(
            text,
            json!({"name": "Ann", "nested": {"deep": 3}, "dotted.key": "exact", "flag": true}),
            &[("flow", json!("f-uuid"))],
        )
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn every_tag_evaluates() {
        assert_eq!(eval("!KeyOf flow").await, json!("f-uuid"));
        assert_eq!(
            eval("!Find [authentik_core.user, [username, akadmin]]").await,
            json!(7)
        );
        assert_eq!(
            eval("!Find [authentik_core.user, [username, nobody]]").await,
            Value::Null
        );
        assert_eq!(
            eval("!FindObject [authentik_core.user, [pk, 7]]").await["username"],
            "akadmin"
        );
        assert_eq!(eval("!Context name").await, json!("Ann"));
        assert_eq!(
            eval("!Context [missing, fallback]").await,
            json!("fallback")
        );
        assert_eq!(eval("!Context missing").await, Value::Null);
        assert_eq!(eval("!Context nested.deep").await, json!(3));
        assert_eq!(eval("!Context dotted.key").await, json!("exact"));
        assert_eq!(eval("!Env AKIN_TEST_VAR").await, json!("from-env"));
        assert_eq!(eval("!Env [UNSET_VAR, dflt]").await, json!("dflt"));
        // A refused variable is an error naming it, even with a default.
        let refused = eval_with("!Env [SECRET_VAR, dflt]", json!({}), &[])
            .await
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains("!Env SECRET_VAR") && refused.contains("AKIN_BLUEPRINT_ENV_ALLOW"),
            "{refused}"
        );
        assert_eq!(eval("!File [/etc/passwd, none]").await, json!("none"));
        assert_eq!(
            eval("!Format ['%s-%d%%', !Context name, 5]").await,
            json!("Ann-5%")
        );
        assert_eq!(
            eval("!Format ['%s/%s', true, null]").await,
            json!("True/None")
        );
        assert_eq!(
            eval("!If [!Context flag, yes-branch, no-branch]").await,
            json!("yes-branch")
        );
        assert_eq!(eval("!If [!Context flag, 'yes', 'no']").await, json!("yes"));
        assert_eq!(
            eval("!If [!Context missing, 'yes', 'no']").await,
            json!("no")
        );
        assert_eq!(eval("!If [1]").await, json!(true));
        assert_eq!(eval("!AtIndex [[a, b, c], 1]").await, json!("b"));
        assert_eq!(eval("!AtIndex [[a, b, c], -1]").await, json!("c"));
        assert_eq!(eval("!AtIndex [{k: v}, k]").await, json!("v"));
        assert_eq!(eval("!AtIndex [[a], 5, dflt]").await, json!("dflt"));
        assert_eq!(eval("!ParseJSON '{\"a\": [1]}'").await, json!({"a": [1]}));
        assert_eq!(
            eval("!Enumerate [[a, b], SEQ, !Format ['%s=%s', !Index 0, !Value 0]]").await,
            json!(["0=a", "1=b"])
        );
        assert_eq!(
            eval("!Enumerate [{x: 1, y: 2}, MAP, [!Format ['k_%s', !Index 0], !Value 0]]").await,
            json!({"k_x": 1, "k_y": 2})
        );
        assert_eq!(
            eval("!Enumerate [[[1, 2], [3]], SEQ, !Enumerate [!Value 1, SEQ, !Format ['%s.%s', !Index 1, !Value 0]]]").await,
            json!([["0.1", "0.2"], ["1.3"]])
        );
        // In its own iterable an !Enumerate is depth 0 and has no item yet, as authentik
        // counts it.
        let error = eval_with(
            "!Enumerate [[[1]], SEQ, !Enumerate [!Value 0, SEQ, x]]",
            json!({}),
            &[],
        )
        .await
        .unwrap_err();
        assert!(error.message.contains("enclosing one is 1"), "{error}");
    }

    #[tokio::test]
    async fn all_eight_condition_modes() {
        for (expr, expected) in [
            ("!Condition [AND, true, 1, x]", true),
            ("!Condition [AND, true, 0]", false),
            ("!Condition [NAND, true, 0]", true),
            ("!Condition [OR, false, '', 1]", true),
            ("!Condition [NOR, false, '']", true),
            ("!Condition [XOR, true, false]", true),
            ("!Condition [XOR, true, true]", false),
            ("!Condition [XNOR, true, true]", true),
            ("!Condition [EQ, a, a, a]", true),
            ("!Condition [EQ, a, b]", false),
            ("!Condition [NEQ, a, b]", true),
        ] {
            assert_eq!(eval(expr).await, json!(expected), "{expr}");
        }
    }

    #[tokio::test]
    async fn tag_errors_say_where_and_why() {
        let error = eval_with("x:\n  y: !KeyOf later", json!({}), &[])
            .await
            .unwrap_err();
        assert_eq!(error.at, Some(Pos { line: 2, col: 6 }));
        assert!(
            error
                .message
                .contains("no earlier entry has the id \"later\""),
            "{error}"
        );

        let error = eval_with("!Find [nomodel, [a, b]]", json!({}), &[])
            .await
            .unwrap_err();
        assert!(error.message.contains("unknown model"), "{error}");

        let error = eval_with("!Format ['%d', abc]", json!({}), &[])
            .await
            .unwrap_err();
        assert!(error.message.contains("%d needs a number"), "{error}");
        let error = eval_with("!Format ['%s %s', a]", json!({}), &[])
            .await
            .unwrap_err();
        assert!(error.message.contains("not enough arguments"), "{error}");
        let error = eval_with("!Condition [MAYBE, a]", json!({}), &[])
            .await
            .unwrap_err();
        assert!(error.message.contains("unknown mode"), "{error}");
        let error = eval_with("!Index 0", json!({}), &[]).await.unwrap_err();
        assert!(error.message.contains("!Enumerate"), "{error}");
        let error = eval_with("!ParseJSON '{'", json!({}), &[])
            .await
            .unwrap_err();
        assert!(error.message.contains("ParseJSON"), "{error}");
    }

    #[test]
    fn files_outside_the_folder_are_not_read() {
        let dir = std::env::temp_dir().join(format!("akin-bp-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("inside.txt"), "hello").unwrap();
        assert_eq!(
            read_file(Some(&dir), "inside.txt").as_deref(),
            Some("hello")
        );
        assert_eq!(read_file(Some(&dir), "../../etc/passwd"), None);
        assert_eq!(read_file(Some(&dir), "/etc/passwd"), None);
        assert_eq!(read_file(None, "inside.txt"), None);
        std::fs::remove_dir_all(&dir).ok();
    }
}
