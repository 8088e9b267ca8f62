//! The blueprint document: `version`, `metadata`, `context`, `entries`, checked for shape
//! before anything is applied. Values inside entries stay [`Node`]s until they are applied,
//! because `!KeyOf` and `!Find` depend on the entries before them.

use serde_json::{Map, Value};

use crate::error::{BlueprintError, BlueprintResult, Pos};
use crate::yaml::{self, Node, NodeValue};

/// What to do with an entry's object (authentik's `state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Create, or update only `attrs` of an existing object.
    Present,
    /// Create if missing; never update.
    Created,
    /// Create; an existing object is an error.
    MustCreated,
    /// Delete if present.
    Absent,
}

impl State {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "present" => Some(State::Present),
            "created" => Some(State::Created),
            "must_created" => Some(State::MustCreated),
            "absent" => Some(State::Absent),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// 0-based position in `entries`.
    pub index: usize,
    pub at: Pos,
    /// `app_label.modelname`, lower-case.
    pub model: String,
    pub state: State,
    pub id: Option<String>,
    pub identifiers: Option<Node>,
    pub attrs: Option<Node>,
    pub conditions: Vec<Node>,
    pub permissions: Option<Node>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Blueprint {
    pub name: Option<String>,
    pub labels: Map<String, Value>,
    /// Context defaults; an import's context is merged over them.
    pub context: Option<Node>,
    pub entries: Vec<Entry>,
}

const ENTRY_KEYS: &[&str] = &[
    "model",
    "state",
    "id",
    "identifiers",
    "attrs",
    "conditions",
    "permissions",
];

/// Parses and checks a blueprint file's bytes.
pub fn load(bytes: &[u8]) -> BlueprintResult<Blueprint> {
    from_node(yaml::parse_bytes(bytes)?)
}

fn text_of(node: &Node, what: &str) -> BlueprintResult<String> {
    match &node.value {
        NodeValue::Str(s) => Ok(s.clone()),
        NodeValue::Int(i) => Ok(i.to_string()),
        _ => Err(BlueprintError::new(
            node.at,
            format!("{what} must be text, not {}", node.kind()),
        )),
    }
}

pub fn from_node(root: Node) -> BlueprintResult<Blueprint> {
    let NodeValue::Map(top) = &root.value else {
        return Err(BlueprintError::new(
            root.at,
            format!(
                "a blueprint is a mapping with version and entries, not {}",
                root.kind()
            ),
        ));
    };
    match root.get("version") {
        Some(Node {
            value: NodeValue::Int(1),
            ..
        }) => {}
        Some(other) => {
            return Err(BlueprintError::new(
                other.at,
                "unsupported version; akin reads version: 1",
            ));
        }
        None => {
            return Err(BlueprintError::new(
                root.at,
                "the blueprint has no version (version: 1)",
            ));
        }
    }
    for (key, node) in top {
        if !matches!(key.as_str(), "version" | "metadata" | "context" | "entries") {
            return Err(BlueprintError::new(
                node.at,
                format!(
                    "unknown key {key:?}; a blueprint has version, metadata, context and entries"
                ),
            ));
        }
    }

    let (name, labels) = match root.get("metadata") {
        None => (None, Map::new()),
        Some(meta) => {
            let name = meta
                .get("name")
                .map(|n| text_of(n, "metadata.name"))
                .transpose()?;
            let mut labels = Map::new();
            if let Some(node) = meta.get("labels") {
                let NodeValue::Map(pairs) = &node.value else {
                    return Err(BlueprintError::new(
                        node.at,
                        "metadata.labels must be a mapping",
                    ));
                };
                for (k, v) in pairs {
                    labels.insert(k.clone(), Value::String(text_of(v, "a label")?));
                }
            }
            (name, labels)
        }
    };

    let context = match root.get("context") {
        None => None,
        Some(
            node @ Node {
                value: NodeValue::Map(_) | NodeValue::Null,
                ..
            },
        ) => Some(node.clone()),
        Some(node) => return Err(BlueprintError::new(node.at, "context must be a mapping")),
    };

    let entries = match root.get("entries") {
        None => Vec::new(),
        Some(Node {
            value: NodeValue::Null,
            ..
        }) => Vec::new(),
        Some(Node {
            value: NodeValue::Seq(items),
            ..
        }) => entries_of(items.iter())?,
        // authentik's grouped form: named lists of entries, applied section by section.
        Some(Node {
            value: NodeValue::Map(sections),
            ..
        }) => {
            let mut items = Vec::new();
            for (section, node) in sections {
                match &node.value {
                    NodeValue::Seq(section_items) => items.extend(section_items),
                    NodeValue::Null => {}
                    _ => {
                        return Err(BlueprintError::new(
                            node.at,
                            format!("entries' section {section:?} must be a list"),
                        ));
                    }
                }
            }
            entries_of(items.into_iter())?
        }
        Some(node) => {
            return Err(BlueprintError::new(
                node.at,
                "entries must be a list, or a mapping of named lists",
            ));
        }
    };
    Ok(Blueprint {
        name,
        labels,
        context,
        entries,
    })
}

/// Entries in order; an error names the entry's 0-based position across all of them.
fn entries_of<'a>(nodes: impl Iterator<Item = &'a Node>) -> BlueprintResult<Vec<Entry>> {
    nodes
        .enumerate()
        .map(|(index, node)| entry(index, node).map_err(|e| e.in_entry(index)))
        .collect()
}

fn entry(index: usize, node: &Node) -> BlueprintResult<Entry> {
    let NodeValue::Map(pairs) = &node.value else {
        return Err(BlueprintError::new(
            node.at,
            format!("an entry is a mapping, not {}", node.kind()),
        ));
    };
    for (key, value) in pairs {
        if !ENTRY_KEYS.contains(&key.as_str()) {
            return Err(BlueprintError::new(
                value.at,
                format!(
                    "unknown key {key:?} in an entry; entries have {}",
                    ENTRY_KEYS.join(", ")
                ),
            ));
        }
    }
    let model_node = node
        .get("model")
        .ok_or_else(|| BlueprintError::new(node.at, "the entry has no model"))?;
    let model = text_of(model_node, "model")?;
    if !model.contains('.') {
        return Err(BlueprintError::new(
            model_node.at,
            format!("model {model:?} is not of the form app_label.modelname"),
        ));
    }
    let state = match node.get("state") {
        None => State::Present,
        Some(s) => {
            let text = text_of(s, "state")?;
            State::parse(&text).ok_or_else(|| {
                BlueprintError::new(
                    s.at,
                    format!("state {text:?} is not one of present, created, must_created, absent"),
                )
            })?
        }
    };
    let id = match node.get("id") {
        None
        | Some(Node {
            value: NodeValue::Null,
            ..
        }) => None,
        Some(n) => Some(text_of(n, "id")?),
    };
    let mapping_or_tag = |key: &str| -> BlueprintResult<Option<Node>> {
        match node.get(key) {
            None
            | Some(Node {
                value: NodeValue::Null,
                ..
            }) => Ok(None),
            Some(
                n @ Node {
                    value: NodeValue::Map(_) | NodeValue::Tagged(..),
                    ..
                },
            ) => Ok(Some(n.clone())),
            Some(n) => Err(BlueprintError::new(
                n.at,
                format!("{key} must be a mapping, not {}", n.kind()),
            )),
        }
    };
    let conditions = match node.get("conditions") {
        None
        | Some(Node {
            value: NodeValue::Null,
            ..
        }) => Vec::new(),
        Some(Node {
            value: NodeValue::Seq(items),
            ..
        }) => items.clone(),
        Some(n) => return Err(BlueprintError::new(n.at, "conditions must be a list")),
    };
    Ok(Entry {
        index,
        at: node.at,
        model: model.to_ascii_lowercase(),
        state,
        id,
        identifiers: mapping_or_tag("identifiers")?,
        attrs: mapping_or_tag("attrs")?,
        conditions,
        permissions: node.get("permissions").cloned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_entries_with_defaults() {
        let bp = load(b"version: 1\nmetadata:\n  name: Demo\n  labels:\n    blueprints.goauthentik.io/instantiate: \"false\"\nentries:\n  - model: authentik_flows.flow\n    id: flow\n    identifiers: {slug: demo}\n  - model: authentik_core.group\n    state: absent\n    identifiers: {name: old}\n").unwrap();
        assert_eq!(bp.name.as_deref(), Some("Demo"));
        assert_eq!(bp.labels["blueprints.goauthentik.io/instantiate"], "false");
        assert_eq!(bp.entries.len(), 2);
        assert_eq!(bp.entries[0].state, State::Present);
        assert_eq!(bp.entries[0].id.as_deref(), Some("flow"));
        assert_eq!(bp.entries[1].state, State::Absent);
    }

    #[test]
    fn shape_errors_name_the_place() {
        let error = load(b"entries: []").unwrap_err();
        assert!(error.message.contains("no version"), "{error}");
        let error = load(b"version: 2\nentries: []").unwrap_err();
        assert!(error.message.contains("version"), "{error}");
        let error = load(
            b"version: 1\nentries:\n  - model: authentik_flows.flow\n    identifers: {slug: x}\n",
        )
        .unwrap_err();
        assert_eq!(error.entry, Some(0));
        assert_eq!(error.at, Some(Pos { line: 4, col: 17 }));
        assert!(
            error.message.contains("unknown key \"identifers\""),
            "{error}"
        );
        assert_eq!(
            error.to_string(),
            format!("4:17: entry 0: {}", error.message)
        );
        let error = load(b"version: 1\nentries:\n  - model: flow\n").unwrap_err();
        assert!(error.message.contains("app_label.modelname"), "{error}");
        let error = load(b"version: 1\nentries:\n  - model: a.b\n    state: maybe\n").unwrap_err();
        assert!(error.message.contains("present, created"), "{error}");
    }

    #[test]
    fn entries_may_be_grouped_in_named_lists() {
        let bp = load(b"version: 1\nentries:\n  flows:\n    - model: authentik_flows.flow\n      identifiers: {slug: a}\n  groups:\n    - model: authentik_core.group\n      identifiers: {name: g}\n    - model: authentik_core.group\n      identifiers: {name: h}\n  nothing:\n").unwrap();
        let models: Vec<&str> = bp.entries.iter().map(|e| e.model.as_str()).collect();
        assert_eq!(
            models,
            [
                "authentik_flows.flow",
                "authentik_core.group",
                "authentik_core.group"
            ]
        );
        assert_eq!(bp.entries[2].index, 2);
        let error = load(b"version: 1\nentries:\n  flows: {model: x}\n").unwrap_err();
        assert!(error.to_string().contains("must be a list"), "{error}");
    }
}
