//! Prompt stages: the form the invitee fills in. Fields whose key is in the invitation's
//! fixed data are shown filled in and read-only, and the fixed value is what is kept,
//! whatever is submitted (DESIGN.md, difference 4).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::choice::choice_enum;
use crate::flow::challenge::error_detail;
use crate::invitation::fixed_value;

choice_enum! {
    /// What kind of form field a prompt is (authentik's prompt `type`).
    pub enum PromptType {
        Text = "text",
        TextArea = "text_area",
        TextReadOnly = "text_read_only",
        TextAreaReadOnly = "text_area_read_only",
        Username = "username",
        Email = "email",
        Password = "password",
        Number = "number",
        Checkbox = "checkbox",
        RadioButtonGroup = "radio-button-group",
        Dropdown = "dropdown",
        Date = "date",
        DateTime = "date-time",
        File = "file",
        Separator = "separator",
        Hidden = "hidden",
        Static = "static",
        AlertInfo = "alert_info",
        AlertWarning = "alert_warning",
        AlertDanger = "alert_danger",
        Locale = "ak-locale",
    }
}

/// The `prompt_data` key that overrides a choice field's choices: `<field_key>__choices`.
pub const CHOICES_SUFFIX: &str = "__choices";

/// A prompt stage's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptStageSettings {
    /// Its prompts' pks, as stored.
    pub fields: Vec<Uuid>,
    /// Expression policies that must pass for what was entered to be accepted.
    pub validation_policies: Vec<Uuid>,
    /// The prompts themselves, added when the flow is planned: they travel with the plan,
    /// so showing the form reads no prompt rows.
    #[serde(default)]
    pub prompts: Vec<Prompt>,
}

/// One prompt (form field), read from its stored row (catalog field names; defaults are
/// the catalog's, filled in by [`crate::catalog::typed`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prompt {
    pub field_key: String,
    pub label: String,
    #[serde(rename = "type")]
    pub kind: PromptType,
    pub required: bool,
    pub placeholder: String,
    pub initial_value: String,
    pub order: i64,
    pub sub_text: String,
    /// The placeholder (a choice field's choices) is an expression to evaluate.
    pub placeholder_expression: bool,
    /// The initial value is an expression to evaluate.
    pub initial_value_expression: bool,
}

impl Prompt {
    /// Whether showing this prompt evaluates an expression (its placeholder or initial
    /// value is computed for the person and the plan).
    pub fn is_computed(&self) -> bool {
        self.placeholder_expression || self.initial_value_expression
    }

    /// A dropdown or a radio group: its placeholder holds its choices.
    pub fn is_choice(&self) -> bool {
        matches!(
            self.kind,
            PromptType::Dropdown | PromptType::RadioButtonGroup
        )
    }

    /// Fields whose submitted value is never used.
    fn is_forced(&self) -> bool {
        use PromptType::*;
        matches!(
            self.kind,
            TextReadOnly
                | TextAreaReadOnly
                | Hidden
                | Static
                | Separator
                | AlertInfo
                | AlertWarning
                | AlertDanger
        )
    }

    /// A choice field's valid values: the plan's `prompt_data["<field_key>__choices"]` when
    /// a policy put them there, else the placeholder as the one choice (even when empty),
    /// as authentik's `get_choices`.
    fn choices(&self, prompt_data: &Map<String, Value>) -> Vec<String> {
        match prompt_data.get(&format!("{}{CHOICES_SUFFIX}", self.field_key)) {
            Some(Value::Array(items)) => items.iter().map(as_text).collect(),
            Some(one) => vec![as_text(one)],
            None => vec![self.placeholder.clone()],
        }
    }
}

/// How a field looks this time: its type (read-only when fixed) and value.
struct Rendered {
    kind: PromptType,
    value: Value,
    fixed: bool,
}

fn render(
    prompt: &Prompt,
    prompt_data: &Map<String, Value>,
    fixed: &Map<String, Value>,
) -> Rendered {
    if let Some(value) = fixed_value(fixed, &prompt.field_key) {
        let kind = match prompt.kind {
            PromptType::TextArea | PromptType::TextAreaReadOnly => PromptType::TextAreaReadOnly,
            PromptType::Hidden | PromptType::Password => PromptType::Hidden,
            _ => PromptType::TextReadOnly,
        };
        return Rendered {
            kind,
            value: value.clone(),
            fixed: true,
        };
    }
    let mut value = prompt_data
        .get(&prompt.field_key)
        .cloned()
        .unwrap_or_else(|| Value::String(prompt.initial_value.clone()));
    if prompt.is_choice() {
        // The value shown is always a valid choice: the first one otherwise.
        let choices = prompt.choices(prompt_data);
        if !choices.contains(&as_text(&value)) {
            value = Value::String(choices.into_iter().next().unwrap_or_default());
        }
    }
    Rendered {
        kind: prompt.kind,
        value,
        fixed: false,
    }
}

/// A value as a form shows it: strings as they are, null as empty, anything else as JSON.
pub fn as_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A file field's value must be an inline file: a `data:` URI whose media type is followed
/// directly by `;base64` (authentik's `InlineFileField`, same messages).
fn check_data_uri(text: &str) -> Result<(), &'static str> {
    let Some((scheme, rest)) = text.split_once(':') else {
        return Err("Invalid scheme");
    };
    if !scheme.eq_ignore_ascii_case("data") {
        return Err("Invalid scheme");
    }
    let Some((header, _data)) = rest.split_once(',') else {
        return Err("Invalid encoding");
    };
    match header.split_once(';') {
        Some((_media_type, "base64")) => Ok(()),
        _ => Err("Invalid encoding"),
    }
}

/// The `fields` of an `ak-stage-prompt` challenge, ordered.
pub fn challenge_fields(
    prompts: &[Prompt],
    prompt_data: &Map<String, Value>,
    fixed: &Map<String, Value>,
) -> Vec<Value> {
    let mut sorted: Vec<&Prompt> = prompts.iter().collect();
    sorted.sort_by_key(|p| p.order);
    sorted
        .into_iter()
        .map(|p| {
            let rendered = render(p, prompt_data, fixed);
            let choices = p.is_choice().then(|| {
                p.choices(prompt_data).into_iter().map(|c| json!({"value": c, "label": c})).collect::<Vec<_>>()
            });
            let password = p.kind == PromptType::Password;
            json!({
                "field_key": p.field_key,
                "label": p.label,
                "type": rendered.kind,
                "required": p.required && !rendered.fixed,
                "placeholder": if p.is_choice() { String::new() } else { p.placeholder.clone() },
                // Never echo a password back into the form.
                "initial_value": if password && !rendered.fixed { String::new() } else { as_text(&rendered.value) },
                "order": p.order,
                "sub_text": p.sub_text,
                "choices": choices,
            })
        })
        .collect()
}

/// The result of checking a response.
#[derive(Debug, Default, PartialEq)]
pub struct Checked {
    /// Every field's value to merge into `prompt_data`.
    pub data: Map<String, Value>,
    /// `response_errors` in the challenge shape; empty when the response is valid.
    pub errors: Map<String, Value>,
    /// Submitted usernames the caller must check are not taken: `(field_key, username)`.
    pub usernames: Vec<(String, String)>,
}

impl Checked {
    pub fn add_error(&mut self, field: &str, message: &str, code: &str) {
        let entry = self
            .errors
            .entry(field.to_owned())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(items) = entry {
            items.push(error_detail(message, code));
        }
    }
}

/// Checks a response against the prompts (spec §3.4).
pub fn check_response(
    prompts: &[Prompt],
    response: &Map<String, Value>,
    prompt_data: &Map<String, Value>,
    fixed: &Map<String, Value>,
) -> Checked {
    let mut checked = Checked::default();
    let mut passwords: Vec<String> = Vec::new();
    for prompt in prompts {
        let key = prompt.field_key.as_str();
        let rendered = render(prompt, prompt_data, fixed);
        if rendered.fixed || prompt.is_forced() {
            checked.data.insert(key.to_owned(), rendered.value);
            continue;
        }
        let submitted = response.get(key).filter(|v| !v.is_null());
        let default = Some(&rendered.value).filter(|v| !as_text(v).is_empty());
        let value = match submitted.or(default) {
            Some(v) => v.clone(),
            None => {
                if prompt.required && prompt.kind != PromptType::Checkbox {
                    checked.add_error(key, "This field is required.", "required");
                } else {
                    checked
                        .data
                        .insert(key.to_owned(), Value::String(String::new()));
                }
                continue;
            }
        };
        match prompt.kind {
            PromptType::Checkbox => {
                let on = match &value {
                    Value::Bool(b) => *b,
                    Value::String(s) => {
                        matches!(s.to_ascii_lowercase().as_str(), "true" | "on" | "1" | "yes")
                    }
                    Value::Number(n) => n.as_i64() == Some(1),
                    _ => false,
                };
                checked.data.insert(key.to_owned(), Value::Bool(on));
            }
            PromptType::Number => match value
                .as_i64()
                .or_else(|| as_text(&value).trim().parse().ok())
            {
                Some(n) => {
                    checked.data.insert(key.to_owned(), Value::from(n));
                }
                None => checked.add_error(key, "A valid integer is required.", "invalid"),
            },
            kind => {
                let text = as_text(&value);
                // An empty choice is a value like any other when it is one of the choices.
                let empty_is_a_choice =
                    prompt.is_choice() && prompt.choices(prompt_data).iter().any(String::is_empty);
                if text.is_empty() && prompt.required && !empty_is_a_choice {
                    checked.add_error(key, "This field may not be blank.", "blank");
                    continue;
                }
                match kind {
                    PromptType::Email if !text.is_empty() => {
                        let mut errors = crate::FieldErrors::new();
                        crate::user::validate_email(&text, &mut errors);
                        if !errors.is_empty() {
                            checked.add_error(key, "Enter a valid email address.", "invalid");
                            continue;
                        }
                    }
                    PromptType::Username => {
                        let mut errors = crate::FieldErrors::new();
                        crate::user::validate_username(&text, &mut errors);
                        if let Some(message) = errors.get("username").and_then(|m| m.first()) {
                            checked.add_error(key, message, "invalid");
                            continue;
                        }
                        checked.usernames.push((key.to_owned(), text.clone()));
                    }
                    PromptType::Password => passwords.push(text.clone()),
                    PromptType::File if !text.is_empty() => {
                        if let Err(message) = check_data_uri(&text) {
                            checked.add_error(key, message, "invalid");
                            continue;
                        }
                    }
                    PromptType::Dropdown | PromptType::RadioButtonGroup
                        if !prompt.choices(prompt_data).contains(&text) =>
                    {
                        checked.add_error(
                            key,
                            &format!("\"{text}\" is not a valid choice."),
                            "invalid_choice",
                        );
                        continue;
                    }
                    _ => {}
                }
                checked.data.insert(key.to_owned(), Value::String(text));
            }
        }
    }
    if passwords.len() == 2 && passwords[0] != passwords[1] {
        checked.add_error("non_field_errors", "Passwords don't match.", "invalid");
    }
    checked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompt(key: &str, kind: &str) -> Prompt {
        Prompt {
            field_key: key.into(),
            label: key.into(),
            kind: PromptType::parse(kind).unwrap(),
            required: true,
            placeholder: String::new(),
            initial_value: String::new(),
            order: 0,
            sub_text: String::new(),
            placeholder_expression: false,
            initial_value_expression: false,
        }
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn fixed_fields_are_read_only_and_keep_their_value() {
        let prompts = vec![prompt("email", "email"), prompt("name", "text")];
        let fixed = obj(json!({"email": "jane@example.com"}));
        let fields = challenge_fields(&prompts, &Map::new(), &fixed);
        assert_eq!(fields[0]["type"], "text_read_only");
        assert_eq!(fields[0]["initial_value"], "jane@example.com");
        assert_eq!(fields[1]["type"], "text");
        let checked = check_response(
            &prompts,
            &obj(json!({"email": "evil@example.com", "name": "Jane"})),
            &Map::new(),
            &fixed,
        );
        assert!(checked.errors.is_empty(), "{:?}", checked.errors);
        assert_eq!(checked.data["email"], "jane@example.com");
    }

    #[test]
    fn authentiks_checks() {
        let prompts = vec![
            prompt("username", "username"),
            prompt("password", "password"),
            prompt("password_repeat", "password"),
            prompt("email", "email"),
        ];
        let checked = check_response(
            &prompts,
            &obj(
                json!({"username": "bad name", "password": "a", "password_repeat": "b", "email": "nope"}),
            ),
            &Map::new(),
            &Map::new(),
        );
        assert_eq!(
            checked.errors["non_field_errors"][0]["string"],
            "Passwords don't match."
        );
        assert_eq!(
            checked.errors["email"][0]["string"],
            "Enter a valid email address."
        );
        assert!(checked.errors.contains_key("username"));
        let missing = check_response(&prompts, &Map::new(), &Map::new(), &Map::new());
        assert_eq!(missing.errors["username"][0]["code"], "required");
        let ok = check_response(
            &prompts,
            &obj(
                json!({"username": "jane", "password": "pw", "password_repeat": "pw", "email": "j@x.org"}),
            ),
            &Map::new(),
            &Map::new(),
        );
        assert!(ok.errors.is_empty());
        assert_eq!(
            ok.usernames,
            vec![("username".to_owned(), "jane".to_owned())]
        );
    }

    #[test]
    fn choice_fields_take_their_choices_from_the_plan_or_the_placeholder() {
        let mut color = prompt("color", "dropdown");
        color.placeholder = "red".into();
        color.initial_value = "blue".into();
        // No choices in the plan: the placeholder is the one choice, and the initial value
        // falls back to it.
        let fields = challenge_fields(std::slice::from_ref(&color), &Map::new(), &Map::new());
        assert_eq!(
            fields[0]["choices"],
            json!([{"value": "red", "label": "red"}])
        );
        assert_eq!(fields[0]["initial_value"], "red");
        assert_eq!(fields[0]["placeholder"], "");
        // `color__choices` in prompt_data overrides them.
        let data = obj(json!({"color__choices": ["green", "blue"]}));
        let fields = challenge_fields(std::slice::from_ref(&color), &data, &Map::new());
        assert_eq!(fields[0]["initial_value"], "blue");
        let checked = check_response(
            &[color.clone()],
            &obj(json!({"color": "red"})),
            &data,
            &Map::new(),
        );
        assert_eq!(checked.errors["color"][0]["code"], "invalid_choice");
        // An empty placeholder makes "" the one valid choice.
        color.placeholder = String::new();
        let checked = check_response(
            &[color],
            &obj(json!({"color": ""})),
            &Map::new(),
            &Map::new(),
        );
        assert!(checked.errors.is_empty(), "{:?}", checked.errors);
        assert_eq!(checked.data["color"], "");
    }

    #[test]
    fn file_fields_take_only_base64_data_uris() {
        let file = prompt("avatar", "file");
        let check = |value: &str| {
            let checked = check_response(
                std::slice::from_ref(&file),
                &obj(json!({"avatar": value})),
                &Map::new(),
                &Map::new(),
            );
            checked.errors.get("avatar").map(|e| e[0]["string"].clone())
        };
        assert_eq!(check("data:image/png;base64,iVBORw0KGgo="), None);
        assert_eq!(
            check("https://example.com/a.png"),
            Some(json!("Invalid scheme"))
        );
        assert_eq!(
            check("data:text/plain,hello"),
            Some(json!("Invalid encoding"))
        );
        assert_eq!(
            check("data:text/plain;charset=utf-8;base64,aGk="),
            Some(json!("Invalid encoding"))
        );
    }
}
