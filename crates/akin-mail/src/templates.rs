//! Email templates, by authentik's names (`email/invitation.html`, …): HTML, with a plain
//! text twin (`….txt`). Built in, and overridable by files of the same name in a folder
//! (`AKIN_TEMPLATES_DIR`).

use std::path::PathBuf;

use minijinja::Environment;
use serde_json::Value;

use crate::MailError;

/// The templates akin ships.
const BUILT_IN: &[(&str, &str)] = &[
    (
        "email/invitation.html",
        include_str!("../templates/email/invitation.html"),
    ),
    (
        "email/invitation.txt",
        include_str!("../templates/email/invitation.txt"),
    ),
    (
        "email/account_confirmation.html",
        include_str!("../templates/email/account_confirmation.html"),
    ),
    (
        "email/account_confirmation.txt",
        include_str!("../templates/email/account_confirmation.txt"),
    ),
    (
        "email/password_reset.html",
        include_str!("../templates/email/password_reset.html"),
    ),
    (
        "email/password_reset.txt",
        include_str!("../templates/email/password_reset.txt"),
    ),
    (
        "email/setup.html",
        include_str!("../templates/email/setup.html"),
    ),
    (
        "email/setup.txt",
        include_str!("../templates/email/setup.txt"),
    ),
];

/// A rendered message body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub html: String,
    pub text: String,
}

/// The email templates, built in or from `dir`.
#[derive(Debug, Clone, Default)]
pub struct Templates {
    pub dir: Option<PathBuf>,
}

impl Templates {
    /// Whether `name` is a template there is (the API refuses others).
    pub fn exists(&self, name: &str) -> bool {
        self.source(name).is_some()
    }

    fn source(&self, name: &str) -> Option<String> {
        let safe = !name.is_empty()
            && name
                .split('/')
                .all(|part| !part.is_empty() && part != "." && part != "..");
        if !safe {
            return None;
        }
        if let Some(dir) = &self.dir
            && let Ok(text) = std::fs::read_to_string(dir.join(name))
        {
            return Some(text);
        }
        BUILT_IN
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, text)| (*text).to_owned())
    }

    /// `name` (and its `.txt` twin, else the HTML without tags) rendered with `context`.
    pub fn render(&self, name: &str, context: &serde_json::Value) -> Result<Rendered, MailError> {
        let failed = |message: String| MailError::Template {
            name: name.to_owned(),
            message,
        };
        let html_source = self
            .source(name)
            .ok_or_else(|| failed("there is no such template".into()))?;
        let mut env = Environment::new();
        env.set_auto_escape_callback(|n| {
            if n.ends_with(".html") {
                minijinja::AutoEscape::Html
            } else {
                minijinja::AutoEscape::None
            }
        });
        let context = template_value(context);
        env.add_template_owned(name.to_owned(), html_source)
            .map_err(|e| failed(e.to_string()))?;
        let html = env
            .get_template(name)
            .and_then(|t| t.render(&context))
            .map_err(|e| failed(e.to_string()))?;
        let text_name = name.strip_suffix(".html").map(|n| format!("{n}.txt"));
        let text = match text_name.and_then(|n| self.source(&n).map(|s| (n, s))) {
            Some((n, source)) => {
                env.add_template_owned(n.clone(), source)
                    .map_err(|e| failed(e.to_string()))?;
                env.get_template(&n)
                    .and_then(|t| t.render(&context))
                    .map_err(|e| failed(e.to_string()))?
            }
            None => strip_tags(&html),
        };
        Ok(Rendered { html, text })
    }
}

/// Plain text as an HTML body, escaped, its lines kept.
pub fn text_as_html(text: &str) -> String {
    format!(
        "<pre style=\"font-family: sans-serif; white-space: pre-wrap\">{}</pre>",
        minijinja::HtmlEscape(text)
    )
}

/// JSON as template data. (Not through serde: with serde_json's arbitrary precision, which
/// a dependency turns on, numbers would arrive as maps.)
pub fn template_value(value: &Value) -> minijinja::Value {
    match value {
        Value::Null => minijinja::Value::from(()),
        Value::Bool(b) => minijinja::Value::from(*b),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => minijinja::Value::from(i),
            (None, Some(f)) => minijinja::Value::from(f),
            (None, None) => minijinja::Value::from(n.to_string()),
        },
        Value::String(s) => minijinja::Value::from(s.as_str()),
        Value::Array(items) => items.iter().map(template_value).collect(),
        Value::Object(map) => minijinja::Value::from(
            map.iter()
                .map(|(k, v)| (k.clone(), template_value(v)))
                .collect::<std::collections::BTreeMap<String, minijinja::Value>>(),
        ),
    }
}

/// Text of an HTML body: tags dropped, whitespace folded, entities for `&<>"` undone.
fn strip_tags(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let folded: Vec<&str> = out.split_whitespace().collect();
    folded
        .join(" ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_invitation_renders_with_its_link_in_both_parts() {
        let rendered = Templates::default()
            .render(
                "email/invitation.html",
                &serde_json::json!({"url": "https://id.example/if/flow/enroll/?itoken=abc", "host": "id.example", "expires": null, "inviter": "Ada"}),
            )
            .unwrap();
        // (HTML escapes `/` as `&#x2f;`, which every client reads back.)
        let html = rendered.html.replace("&#x2f;", "/");
        for part in [&html, &rendered.text] {
            assert!(
                part.contains("https://id.example/if/flow/enroll/?itoken=abc"),
                "{part}"
            );
            assert!(part.contains("Accept Invitation"), "{part}");
        }
        assert!(rendered.text.contains("Ada"));
    }

    #[test]
    fn names_outside_the_folder_or_unknown_are_refused() {
        let templates = Templates::default();
        assert!(!templates.exists("../etc/passwd"));
        assert!(!templates.exists("email/nope.html"));
        assert!(templates.exists("email/invitation.html"));
    }

    #[test]
    fn a_folder_overrides_a_template() {
        let dir = std::env::temp_dir().join(format!("akin-mail-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("email")).unwrap();
        std::fs::write(dir.join("email/invitation.html"), "<p>Ours: {{ url }}</p>").unwrap();
        let templates = Templates {
            dir: Some(dir.clone()),
        };
        let rendered = templates
            .render("email/invitation.html", &serde_json::json!({"url": "u"}))
            .unwrap();
        assert_eq!(rendered.html, "<p>Ours: u</p>");
        // The built-in text twin still renders.
        assert!(rendered.text.contains('u'));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
