//! YAML text → [`Node`] tree with positions, read the way authentik's PyYAML `SafeLoader`
//! reads blueprints: YAML 1.1 scalars (`yes`/`no`/`on`/`off` are booleans), `<<` merge
//! keys, anchors and aliases, and the blueprint tags kept as [`NodeValue::Tagged`].
//!
//! Built from saphyr-parser's events rather than a ready-made tree so that nesting depth,
//! alias expansion and total size are bounded here, before anything is allocated for them.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use crate::error::{BlueprintError, BlueprintResult, Pos};

/// The largest blueprint file accepted.
pub const MAX_BLUEPRINT_BYTES: usize = 2 * 1024 * 1024;
/// The deepest nesting of sequences and mappings accepted.
pub const MAX_DEPTH: usize = 64;
/// The most nodes a document may have once aliases are expanded (an alias bomb's target).
pub const MAX_NODES: usize = 200_000;

/// The tags authentik's blueprint loader knows; any other `!Tag` is an error.
pub const TAGS: &[&str] = &[
    "KeyOf",
    "Find",
    "FindObject",
    "Context",
    "Env",
    "File",
    "Format",
    "If",
    "Condition",
    "Enumerate",
    "Index",
    "Value",
    "AtIndex",
    "ParseJSON",
];

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: NodeValue,
    pub at: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Keys in document order; keys are scalars rendered as text, as Python dict keys of a
    /// blueprint always are.
    Map(Vec<(String, Node)>),
    /// `!Name value`, with `Name` one of [`TAGS`].
    Tagged(String, Box<Node>),
}

impl Node {
    fn new(value: NodeValue, at: Pos) -> Self {
        Self { value, at }
    }

    /// The value under `key`, if this is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            NodeValue::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// How many nodes this tree holds.
    fn size(&self) -> usize {
        1 + match &self.value {
            NodeValue::Seq(items) => items.iter().map(Node::size).sum(),
            NodeValue::Map(entries) => entries.iter().map(|(_, v)| 1 + v.size()).sum(),
            NodeValue::Tagged(_, inner) => inner.size(),
            _ => 0,
        }
    }

    /// A short name of the node's kind for messages.
    pub fn kind(&self) -> &'static str {
        match &self.value {
            NodeValue::Null => "null",
            NodeValue::Bool(_) => "a boolean",
            NodeValue::Int(_) => "an integer",
            NodeValue::Float(_) => "a number",
            NodeValue::Str(_) => "a string",
            NodeValue::Seq(_) => "a list",
            NodeValue::Map(_) => "a mapping",
            NodeValue::Tagged(..) => "a tag",
        }
    }
}

fn pos(span: &Span) -> Pos {
    Pos {
        line: span.start.line(),
        col: span.start.col() + 1,
    }
}

/// Checks size and encoding, then parses. `bytes` is the file as read.
pub fn parse_bytes(bytes: &[u8]) -> BlueprintResult<Node> {
    if bytes.len() > MAX_BLUEPRINT_BYTES {
        return Err(BlueprintError::without_position(format!(
            "the blueprint is {} bytes; the limit is {MAX_BLUEPRINT_BYTES}",
            bytes.len()
        )));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let valid = &bytes[..e.valid_up_to()];
        let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
        let col = valid.iter().rev().take_while(|b| **b != b'\n').count() + 1;
        BlueprintError::new(Pos { line, col }, "the blueprint is not valid UTF-8")
    })?;
    parse(text)
}

/// Parses YAML (or JSON, which is YAML) data without blueprint tags into JSON: the admin
/// pages' "custom attributes". A tag is refused with its position.
pub fn parse_data(text: &str) -> BlueprintResult<serde_json::Value> {
    fn convert(node: Node) -> BlueprintResult<serde_json::Value> {
        use serde_json::Value;
        Ok(match node.value {
            NodeValue::Null => Value::Null,
            NodeValue::Bool(b) => Value::Bool(b),
            NodeValue::Int(i) => Value::from(i),
            NodeValue::Float(f) => serde_json::Number::from_f64(f)
                .map(Value::Number)
                .ok_or_else(|| BlueprintError::new(node.at, "not a finite number"))?,
            NodeValue::Str(s) => Value::String(s),
            NodeValue::Seq(items) => Value::Array(
                items
                    .into_iter()
                    .map(convert)
                    .collect::<BlueprintResult<_>>()?,
            ),
            NodeValue::Map(entries) => Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| Ok((k, convert(v)?)))
                    .collect::<BlueprintResult<_>>()?,
            ),
            NodeValue::Tagged(tag, _) => {
                return Err(BlueprintError::new(
                    node.at,
                    format!("!{tag} is a blueprint tag; here only plain values are allowed"),
                ));
            }
        })
    }
    convert(parse(text)?)
}

/// Parses one YAML document. An empty document is `null`.
pub fn parse(text: &str) -> BlueprintResult<Node> {
    let mut builder = Builder::default();
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| {
            BlueprintError::new(
                Pos {
                    line: e.marker().line(),
                    col: e.marker().col() + 1,
                },
                format!("YAML syntax error: {}", e.info()),
            )
        })?;
        if builder.event(event, &span)? {
            break;
        }
    }
    Ok(builder
        .document
        .unwrap_or_else(|| Node::new(NodeValue::Null, Pos { line: 1, col: 1 })))
}

/// A collection being built: its items so far, where it started, its anchor and tag.
struct Open {
    kind: OpenKind,
    at: Pos,
    anchor: usize,
    tag: Option<String>,
}

enum OpenKind {
    Seq(Vec<Node>),
    /// Entries so far, a key waiting for its value, and which entries came from a `<<`
    /// merge (an explicit key replaces those instead of being a duplicate).
    Map(Vec<(String, Node)>, Option<Node>, Vec<String>),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    anchors: HashMap<usize, Node>,
    nodes: usize,
    document: Option<Node>,
    documents: usize,
}

impl Builder {
    /// Handles one event; `true` once the first document is complete.
    fn event(&mut self, event: Event<'_>, span: &Span) -> BlueprintResult<bool> {
        let at = pos(span);
        match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(BlueprintError::new(
                        at,
                        "a blueprint file holds one YAML document; found a second",
                    ));
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let tag = tag
                    .map(|t| tag_name(&t.handle, &t.suffix, at))
                    .transpose()?;
                let node = scalar(&text, style, tag.as_deref(), at)?;
                let node = wrap_tag(node, tag, at);
                self.finish(node, anchor)?;
            }
            Event::SequenceStart(anchor, ref tag) | Event::MappingStart(anchor, ref tag) => {
                if self.stack.len() >= MAX_DEPTH {
                    return Err(BlueprintError::new(
                        at,
                        format!("nested deeper than {MAX_DEPTH} levels"),
                    ));
                }
                let tag = tag
                    .as_ref()
                    .map(|t| tag_name(&t.handle, &t.suffix, at))
                    .transpose()?;
                let kind = if matches!(event, Event::SequenceStart(..)) {
                    OpenKind::Seq(Vec::new())
                } else {
                    OpenKind::Map(Vec::new(), None, Vec::new())
                };
                self.stack.push(Open {
                    kind,
                    at,
                    anchor,
                    tag,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let open = self
                    .stack
                    .pop()
                    .expect("the parser balances starts and ends");
                let value = match open.kind {
                    OpenKind::Seq(items) => NodeValue::Seq(items),
                    OpenKind::Map(entries, _, _) => NodeValue::Map(entries),
                };
                let node = wrap_tag(Node::new(value, open.at), open.tag, open.at);
                self.finish(node, open.anchor)?;
            }
            Event::Alias(id) => {
                let Some(target) = self.anchors.get(&id) else {
                    return Err(BlueprintError::new(at, "alias to an unknown anchor"));
                };
                let size = target.size();
                if self.nodes + size > MAX_NODES {
                    return Err(BlueprintError::new(
                        at,
                        format!(
                            "aliases expand the blueprint beyond {MAX_NODES} nodes; \
                             is this an alias bomb?"
                        ),
                    ));
                }
                let mut copy = target.clone();
                copy.at = at;
                self.finish(copy, 0)?;
            }
            Event::DocumentEnd => {}
            Event::StreamEnd => return Ok(true),
            Event::StreamStart | Event::Nothing => {}
        }
        Ok(false)
    }

    /// Places a completed node into its parent (or makes it the document).
    fn finish(&mut self, node: Node, anchor: usize) -> BlueprintResult<()> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(BlueprintError::new(
                node.at,
                format!("the blueprint has more than {MAX_NODES} nodes"),
            ));
        }
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        let Some(parent) = self.stack.last_mut() else {
            self.document = Some(node);
            return Ok(());
        };
        match &mut parent.kind {
            OpenKind::Seq(items) => items.push(node),
            OpenKind::Map(entries, pending, merged) => match pending.take() {
                None => *pending = Some(node),
                Some(key) => insert_entry(entries, merged, key, node)?,
            },
        }
        Ok(())
    }
}

/// Adds `key: value` to a mapping under construction, applying `<<` merges.
fn insert_entry(
    entries: &mut Vec<(String, Node)>,
    merged: &mut Vec<String>,
    key: Node,
    value: Node,
) -> BlueprintResult<()> {
    let key_text = match &key.value {
        NodeValue::Str(s) => s.clone(),
        NodeValue::Int(i) => i.to_string(),
        NodeValue::Float(f) => f.to_string(),
        NodeValue::Bool(b) => if *b { "True" } else { "False" }.to_owned(),
        NodeValue::Null => "None".to_owned(),
        _ => {
            return Err(BlueprintError::new(
                key.at,
                format!("a mapping key must be a plain value, not {}", key.kind()),
            ));
        }
    };
    if key_text == "<<" && matches!(key.value, NodeValue::Str(_)) {
        // Merge keys: entries already present win, as in PyYAML.
        let sources = match value.value {
            NodeValue::Map(map) => vec![map],
            NodeValue::Seq(items) => items
                .into_iter()
                .map(|item| match item.value {
                    NodeValue::Map(map) => Ok(map),
                    _ => Err(BlueprintError::new(item.at, "a merge (<<) needs mappings")),
                })
                .collect::<BlueprintResult<_>>()?,
            _ => {
                return Err(BlueprintError::new(
                    value.at,
                    "a merge (<<) needs a mapping",
                ));
            }
        };
        for map in sources {
            for (k, v) in map {
                if !entries.iter().any(|(existing, _)| *existing == k) {
                    merged.push(k.clone());
                    entries.push((k, v));
                }
            }
        }
        return Ok(());
    }
    if let Some(i) = merged.iter().position(|m| *m == key_text) {
        merged.remove(i);
        entries.retain(|(existing, _)| *existing != key_text);
    } else if entries.iter().any(|(existing, _)| *existing == key_text) {
        return Err(BlueprintError::new(
            key.at,
            format!("duplicate key {key_text:?} in a mapping"),
        ));
    }
    entries.push((key_text, value));
    Ok(())
}

/// `!Name` → `Some("Name")` for blueprint tags, `!!type` → `Some("!!type")`; others refused.
fn tag_name(handle: &str, suffix: &str, at: Pos) -> BlueprintResult<String> {
    match handle {
        "!" if TAGS.contains(&suffix) => Ok(suffix.to_owned()),
        "!" => Err(BlueprintError::new(
            at,
            format!(
                "unknown tag !{suffix}; blueprints know !{}",
                TAGS.join(", !")
            ),
        )),
        "!!" | "tag:yaml.org,2002:" => Ok(format!("!!{suffix}")),
        _ => Err(BlueprintError::new(
            at,
            format!("unknown tag {handle}{suffix}"),
        )),
    }
}

fn wrap_tag(node: Node, tag: Option<String>, at: Pos) -> Node {
    match tag {
        Some(name) if !name.starts_with("!!") => {
            Node::new(NodeValue::Tagged(name, Box::new(node)), at)
        }
        _ => node,
    }
}

/// A scalar's value under YAML 1.1 rules (PyYAML's), honouring quotes and `!!` tags.
fn scalar(text: &str, style: ScalarStyle, tag: Option<&str>, at: Pos) -> BlueprintResult<Node> {
    let value = match tag {
        Some("!!str") => NodeValue::Str(text.to_owned()),
        Some("!!int") => NodeValue::Int(
            parse_int(text)
                .ok_or_else(|| BlueprintError::new(at, format!("{text:?} is not an integer")))?,
        ),
        Some("!!float") => NodeValue::Float(
            parse_float(text)
                .ok_or_else(|| BlueprintError::new(at, format!("{text:?} is not a number")))?,
        ),
        Some("!!bool") => NodeValue::Bool(
            parse_bool(text)
                .ok_or_else(|| BlueprintError::new(at, format!("{text:?} is not a boolean")))?,
        ),
        Some("!!null") => NodeValue::Null,
        Some(other) if other.starts_with("!!") => {
            return Err(BlueprintError::new(at, format!("unsupported tag {other}")));
        }
        _ if style != ScalarStyle::Plain => NodeValue::Str(text.to_owned()),
        // A tagged plain scalar is the tag's argument: `!KeyOf 5` means the id "5".
        Some(_) => NodeValue::Str(text.to_owned()),
        None => plain(text),
    };
    Ok(Node::new(value, at))
}

fn plain(text: &str) -> NodeValue {
    if matches!(text, "" | "~" | "null" | "Null" | "NULL") {
        NodeValue::Null
    } else if let Some(b) = parse_bool(text) {
        NodeValue::Bool(b)
    } else if let Some(i) = parse_int(text) {
        NodeValue::Int(i)
    } else if let Some(f) = parse_float(text) {
        NodeValue::Float(f)
    } else {
        NodeValue::Str(text.to_owned())
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Some(true),
        "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

fn parse_int(text: &str) -> Option<i64> {
    let cleaned = text.replace('_', "");
    let (negative, digits) = match cleaned.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, cleaned.strip_prefix('+').unwrap_or(&cleaned)),
    };
    if digits.is_empty() || text.starts_with('_') {
        return None;
    }
    let magnitude = if let Some(hex) = digits.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()?
    } else if let Some(bin) = digits.strip_prefix("0b") {
        i64::from_str_radix(bin, 2).ok()?
    } else if let Some(oct) = digits.strip_prefix("0o") {
        i64::from_str_radix(oct, 8).ok()?
    } else if digits.len() > 1 && digits.starts_with('0') {
        // YAML 1.1: a leading zero means octal.
        i64::from_str_radix(&digits[1..], 8).ok()?
    } else if digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()?
    } else {
        return None;
    };
    Some(if negative { -magnitude } else { magnitude })
}

fn parse_float(text: &str) -> Option<f64> {
    match text {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    let cleaned = text.replace('_', "");
    let body = cleaned.trim_start_matches(['-', '+']);
    // Only what looks like a number: digits with a dot or an exponent.
    let numeric = !body.is_empty()
        && body.bytes().any(|b| b.is_ascii_digit())
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && (body.contains('.') || body.contains(['e', 'E']));
    if numeric { cleaned.parse().ok() } else { None }
}

#[cfg(test)]
mod tests {

    #[test]
    fn data_in_yaml_or_json_becomes_json() {
        let yaml = parse_data("email: jane@example.com\nteam: [a, b]\nadmin: false\n").unwrap();
        assert_eq!(
            yaml,
            serde_json::json!({"email": "jane@example.com", "team": ["a", "b"], "admin": false})
        );
        assert_eq!(
            parse_data(r#"{"n": 1.5}"#).unwrap(),
            serde_json::json!({"n": 1.5})
        );
        let error = parse_data("a: !Find [x, y]").unwrap_err();
        assert_eq!(
            error.to_string(),
            "1:4: !Find is a blueprint tag; here only plain values are allowed"
        );
        assert!(parse_data("a: [").unwrap_err().at.is_some());
    }

    use super::*;

    fn value(text: &str) -> NodeValue {
        parse(text).unwrap().value
    }

    #[test]
    fn scalars_follow_pyyaml() {
        assert_eq!(value("yes"), NodeValue::Bool(true));
        assert_eq!(value("Off"), NodeValue::Bool(false));
        assert_eq!(value("'yes'"), NodeValue::Str("yes".into()));
        assert_eq!(value("~"), NodeValue::Null);
        assert_eq!(value("12"), NodeValue::Int(12));
        assert_eq!(value("0x1F"), NodeValue::Int(31));
        assert_eq!(value("010"), NodeValue::Int(8));
        assert_eq!(value("1.5"), NodeValue::Float(1.5));
        assert_eq!(
            value("2028-12-31T23:59:59Z"),
            NodeValue::Str("2028-12-31T23:59:59Z".into())
        );
        assert_eq!(value("!!str 12"), NodeValue::Str("12".into()));
        assert_eq!(
            value("users/external"),
            NodeValue::Str("users/external".into())
        );
    }

    #[test]
    fn tags_wrap_scalars_sequences_and_mappings() {
        let node = parse("a: !KeyOf flow\nb: !Find [authentik_core.user, [username, akadmin]]\nc: !Format\n  - '%s'\n  - !Context x\n").unwrap();
        let NodeValue::Tagged(name, inner) = &node.get("a").unwrap().value else {
            panic!()
        };
        assert_eq!(
            (name.as_str(), &inner.value),
            ("KeyOf", &NodeValue::Str("flow".into()))
        );
        assert!(
            matches!(&node.get("b").unwrap().value, NodeValue::Tagged(n, i) if n == "Find" && matches!(i.value, NodeValue::Seq(_)))
        );
        let NodeValue::Tagged(_, format) = &node.get("c").unwrap().value else {
            panic!()
        };
        let NodeValue::Seq(items) = &format.value else {
            panic!()
        };
        assert!(matches!(&items[1].value, NodeValue::Tagged(n, _) if n == "Context"));
    }

    #[test]
    fn positions_are_one_based_lines_and_columns() {
        let node = parse("version: 1\nentries:\n  - model: x\n").unwrap();
        let NodeValue::Seq(entries) = &node.get("entries").unwrap().value else {
            panic!()
        };
        assert_eq!(
            entries[0].get("model").unwrap().at,
            Pos { line: 3, col: 12 }
        );
    }

    #[test]
    fn refusals_say_where() {
        let error = parse("a: !Nope x").unwrap_err();
        assert_eq!(error.at, Some(Pos { line: 1, col: 4 }));
        assert!(error.message.contains("unknown tag !Nope"), "{error}");

        let error = parse("a: [1, 2\nb: 3").unwrap_err();
        assert!(error.message.starts_with("YAML syntax error"), "{error}");
        assert!(error.at.is_some());

        let error = parse("a: 1\na: 2").unwrap_err();
        assert!(error.message.contains("duplicate key"), "{error}");
        assert_eq!(error.at, Some(Pos { line: 2, col: 1 }));

        let error = parse_bytes(b"a: 1\nb: \xff\n").unwrap_err();
        assert_eq!(error.at, Some(Pos { line: 2, col: 4 }));
        assert!(error.message.contains("UTF-8"));

        let error = parse_bytes(&vec![b'#'; MAX_BLUEPRINT_BYTES + 1]).unwrap_err();
        assert!(error.message.contains("limit"));
    }

    #[test]
    fn alias_bombs_and_deep_nesting_are_stopped() {
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let prev = i - 1;
            bomb.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        let error = parse(&bomb).unwrap_err();
        assert!(error.message.contains("alias bomb"), "{error}");

        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(parse(&deep).unwrap_err().message.contains("nested deeper"));
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let node = parse("base: &b {x: 1, y: 2}\nchild:\n  <<: *b\n  y: 3\nlist: [*b]\n").unwrap();
        let child = node.get("child").unwrap();
        assert_eq!(child.get("x").unwrap().value, NodeValue::Int(1));
        assert_eq!(child.get("y").unwrap().value, NodeValue::Int(3));
        let NodeValue::Seq(list) = &node.get("list").unwrap().value else {
            panic!()
        };
        assert_eq!(list[0].get("y").unwrap().value, NodeValue::Int(2));
    }

    #[test]
    fn one_document_only() {
        assert!(
            parse("a: 1\n---\nb: 2\n")
                .unwrap_err()
                .message
                .contains("one YAML document")
        );
        assert_eq!(value(""), NodeValue::Null);
    }
}
