//! Writes blueprints: entries whose values may reference earlier entries (`!KeyOf`) or
//! objects by a natural key (`!Find`), emitted as block YAML that akin and authentik read.

use serde_json::Value;

/// A value in an exported entry.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    Json(Value),
    /// `!KeyOf id`.
    KeyOf(String),
    /// `!Find [model, [field, value]]`.
    Find(String, String, Value),
    Seq(Vec<Out>),
    Map(Vec<(String, Out)>),
}

/// One entry of an exported blueprint.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportEntry {
    pub model: String,
    pub id: Option<String>,
    /// `created` for objects other flows may share (groups); `None` for `present`.
    pub state: Option<&'static str>,
    pub identifiers: Vec<(String, Out)>,
    pub attrs: Vec<(String, Out)>,
}

/// The whole file.
pub fn to_yaml(name: &str, entries: &[ExportEntry]) -> String {
    let mut out = String::new();
    out.push_str("# Exported by akin. Import it with `akin blueprint apply` or the Flows page.\n");
    out.push_str("version: 1\nmetadata:\n  name: ");
    out.push_str(&quote(name));
    out.push_str("\nentries:\n");
    for entry in entries {
        out.push_str("  - model: ");
        out.push_str(&entry.model);
        out.push('\n');
        if let Some(id) = &entry.id {
            out.push_str("    id: ");
            out.push_str(&quote(id));
            out.push('\n');
        }
        if let Some(state) = entry.state {
            out.push_str("    state: ");
            out.push_str(state);
            out.push('\n');
        }
        for (key, fields) in [("identifiers", &entry.identifiers), ("attrs", &entry.attrs)] {
            if fields.is_empty() {
                continue;
            }
            out.push_str("    ");
            out.push_str(key);
            out.push_str(":\n");
            write_map(&mut out, fields, 6);
        }
    }
    out
}

fn write_map(out: &mut String, fields: &[(String, Out)], indent: usize) {
    for (key, value) in fields {
        out.push_str(&" ".repeat(indent));
        out.push_str(&quote_key(key));
        out.push(':');
        write_value(out, value, indent);
    }
}

/// Writes `value` after a `key:` or `-`, continuing on following lines when it is a
/// non-empty collection.
fn write_value(out: &mut String, value: &Out, indent: usize) {
    match value {
        Out::Map(fields) if !fields.is_empty() => {
            out.push('\n');
            write_map(out, fields, indent + 2);
        }
        Out::Seq(items) if !items.is_empty() => {
            out.push('\n');
            for item in items {
                out.push_str(&" ".repeat(indent + 2));
                out.push('-');
                write_value(out, item, indent + 2);
            }
        }
        Out::Json(Value::Object(map)) if !map.is_empty() => {
            let fields: Vec<(String, Out)> = map
                .iter()
                .map(|(k, v)| (k.clone(), Out::Json(v.clone())))
                .collect();
            write_value(out, &Out::Map(fields), indent);
        }
        Out::Json(Value::Array(items)) if !items.is_empty() => {
            let items: Vec<Out> = items.iter().cloned().map(Out::Json).collect();
            write_value(out, &Out::Seq(items), indent);
        }
        other => {
            out.push(' ');
            out.push_str(&inline(other));
            out.push('\n');
        }
    }
}

/// A value on one line: scalars, empty collections and tags.
fn inline(value: &Out) -> String {
    match value {
        Out::Json(Value::String(s)) => quote(s),
        Out::Json(Value::Array(_)) | Out::Seq(_) => "[]".to_owned(),
        Out::Json(Value::Object(_)) | Out::Map(_) => "{}".to_owned(),
        Out::Json(other) => other.to_string(),
        Out::KeyOf(id) => format!("!KeyOf {}", quote(id)),
        Out::Find(model, field, value) => {
            format!(
                "!Find [{model}, [{}, {}]]",
                quote(field),
                inline(&Out::Json(value.clone()))
            )
        }
    }
}

/// A double-quoted YAML string (JSON's escapes are YAML's too).
fn quote(text: &str) -> String {
    Value::String(text.to_owned()).to_string()
}

fn quote_key(key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
        && !key.starts_with(['-', '.']);
    if plain { key.to_owned() } else { quote(key) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blueprint::load;
    use serde_json::json;

    #[test]
    fn exported_yaml_reads_back() {
        let entries = vec![
            ExportEntry {
                model: "authentik_flows.flow".into(),
                id: Some("flow".into()),
                state: None,
                identifiers: vec![("slug".into(), Out::Json(json!("my-flow")))],
                attrs: vec![
                    (
                        "name".into(),
                        Out::Json(json!("Quote \" and: colon\nnewline")),
                    ),
                    ("compatibility_mode".into(), Out::Json(json!(false))),
                    (
                        "nested".into(),
                        Out::Json(json!({"a b": [1, {"c": null}], "empty": {}})),
                    ),
                    (
                        "refs".into(),
                        Out::Seq(vec![
                            Out::KeyOf("x".into()),
                            Out::Find("authentik_core.group".into(), "name".into(), json!("g")),
                        ]),
                    ),
                ],
            },
            ExportEntry {
                model: "authentik_core.group".into(),
                id: None,
                state: Some("created"),
                identifiers: vec![("name".into(), Out::Json(json!("yes")))],
                attrs: vec![],
            },
        ];
        let yaml = to_yaml("Export: test", &entries);
        let blueprint = load(yaml.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        assert_eq!(blueprint.name.as_deref(), Some("Export: test"));
        assert_eq!(blueprint.entries.len(), 2);
        assert_eq!(blueprint.entries[1].state, crate::blueprint::State::Created);
        let attrs = blueprint.entries[0].attrs.as_ref().unwrap();
        assert!(
            matches!(&attrs.get("name").unwrap().value, crate::yaml::NodeValue::Str(s) if s == "Quote \" and: colon\nnewline")
        );
        // The string "yes" stays a string (it is quoted), not YAML 1.1's true.
        let identifiers = blueprint.entries[1].identifiers.as_ref().unwrap();
        assert!(
            matches!(&identifiers.get("name").unwrap().value, crate::yaml::NodeValue::Str(s) if s == "yes")
        );
    }
}
