//! User write: turns the collected `prompt_data` into an account. akin keeps underscores in
//! `attributes.` keys (`attributes.first_name` writes `attributes["first_name"]`); dots
//! still nest (DESIGN.md, difference 9).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::choice::choice_enum;
use crate::user::{DEFAULT_USER_PATH, NewUser, UserChanges, UserType};

choice_enum! {
    /// Whether a user write stage creates an account or changes the flow's pending user.
    pub enum UserCreationMode {
        /// Change the pending user; never create one.
        NeverCreate = "never_create",
        /// Change the pending user, or create one when there is none.
        default CreateWhenRequired = "create_when_required",
        /// Always create a new account.
        AlwaysCreate = "always_create",
    }
}

/// A user write stage's settings, read from its stored row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserWriteSettings {
    pub user_creation_mode: UserCreationMode,
    pub create_users_as_inactive: bool,
    /// The group new accounts join.
    pub create_users_group: Option<Uuid>,
    pub user_type: UserType,
    pub user_path_template: String,
}

/// The account to create from `prompt_data`, and its password (to hash) if one was given.
pub fn new_user(
    settings: &UserWriteSettings,
    prompt_data: &Map<String, Value>,
    context_path: Option<&str>,
) -> (NewUser, Option<String>) {
    let (mut user, password) = entered(prompt_data);
    user.path = context_path
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .or_else(|| Some(settings.user_path_template.clone()).filter(|p| !p.is_empty()))
        .unwrap_or_else(|| DEFAULT_USER_PATH.to_owned());
    user.is_active = !settings.create_users_as_inactive;
    user.user_type = settings.user_type;
    (user, password)
}

/// What `prompt_data` says about an account — the user fields and attributes it names —
/// and the password entered, if any.
fn entered(prompt_data: &Map<String, Value>) -> (NewUser, Option<String>) {
    let mut user = NewUser::named("");
    let mut password = None;
    let mut attributes = Map::new();
    for (key, value) in prompt_data {
        let text = || match value {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        match key.as_str() {
            "username" => user.username = text(),
            "name" => user.name = text(),
            "email" => user.email = text(),
            "password" => password = Some(text()).filter(|p| !p.is_empty()),
            "attributes" => {
                if let Value::Object(map) = value {
                    attributes.extend(map.clone());
                }
            }
            other => {
                let path = other
                    .strip_prefix("attributes.")
                    .or_else(|| other.strip_prefix("attributes_"));
                if let Some(path) = path.filter(|p| !p.is_empty()) {
                    set_path(&mut attributes, path, value.clone());
                }
                // Anything else (password_repeat, component, token, …) is not a user field.
            }
        }
    }
    user.attributes = Value::Object(attributes);
    (user, password)
}

/// What a user write stage does with the flow's pending user (authentik's
/// `user_creation_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteAction {
    Create,
    UpdatePending,
    /// `never_create` without a pending user.
    Refuse,
}

impl UserWriteSettings {
    pub fn action(&self, has_pending_user: bool) -> WriteAction {
        match (self.user_creation_mode, has_pending_user) {
            (UserCreationMode::AlwaysCreate, _) => WriteAction::Create,
            (_, true) => WriteAction::UpdatePending,
            (UserCreationMode::NeverCreate, false) => WriteAction::Refuse,
            (UserCreationMode::CreateWhenRequired, false) => WriteAction::Create,
        }
    }
}

/// Applies `prompt_data` to an existing user: the fields it names change, attributes
/// are merged (not replaced); returns the new password (to hash) if one was entered.
pub fn apply_to(prompt_data: &Map<String, Value>, changes: &mut UserChanges) -> Option<String> {
    let (entered, password) = entered(prompt_data);
    if prompt_data.contains_key("username") {
        changes.username = entered.username;
    }
    if prompt_data.contains_key("name") {
        changes.name = entered.name;
    }
    if prompt_data.contains_key("email") {
        changes.email = entered.email;
    }
    if !changes.attributes.is_object() {
        changes.attributes = Value::Object(Map::new());
    }
    if let (Some(target), Value::Object(new)) =
        (changes.attributes.as_object_mut(), entered.attributes)
    {
        crate::invitation::deep_merge(target, &new);
    }
    password
}

/// Writes `value` at a dotted path, creating mappings on the way.
fn set_path(target: &mut Map<String, Value>, path: &str, value: Value) {
    let mut parts: Vec<&str> = path.split('.').collect();
    let last = parts.pop().unwrap_or(path);
    let mut current = target;
    for part in parts {
        let entry = current
            .entry(part.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        current = entry.as_object_mut().expect("just made an object");
    }
    current.insert(last.to_owned(), value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn creation_modes() {
        let mode = |m: &str| UserWriteSettings {
            user_creation_mode: UserCreationMode::parse(m).unwrap(),
            create_users_as_inactive: false,
            create_users_group: None,
            user_type: UserType::External,
            user_path_template: String::new(),
        };
        assert_eq!(mode("always_create").action(true), WriteAction::Create);
        assert_eq!(
            mode("create_when_required").action(true),
            WriteAction::UpdatePending
        );
        assert_eq!(
            mode("create_when_required").action(false),
            WriteAction::Create
        );
        assert_eq!(mode("never_create").action(false), WriteAction::Refuse);
        assert_eq!(
            mode("never_create").action(true),
            WriteAction::UpdatePending
        );
    }

    #[test]
    fn prompt_data_updates_only_what_it_names() {
        let mut changes = UserChanges {
            username: "akadmin".into(),
            name: "Admin".into(),
            email: String::new(),
            is_active: true,
            attributes: json!({"keep": 1, "team": {"a": 1}}),
            path: "users".into(),
            user_type: UserType::Internal,
            last_login: None,
            groups: None,
        };
        let data = json!({"email": "a@example.com", "password": "pw", "attributes.team.b": 2});
        let password = apply_to(data.as_object().unwrap(), &mut changes);
        assert_eq!(password.as_deref(), Some("pw"));
        assert_eq!(
            (changes.username.as_str(), changes.email.as_str()),
            ("akadmin", "a@example.com")
        );
        assert_eq!(
            changes.attributes,
            json!({"keep": 1, "team": {"a": 1, "b": 2}})
        );
    }

    #[test]
    fn prompt_data_becomes_a_user() {
        let config = UserWriteSettings {
            user_creation_mode: UserCreationMode::AlwaysCreate,
            create_users_as_inactive: false,
            create_users_group: None,
            user_type: UserType::Internal,
            user_path_template: "users/invited".into(),
        };
        let data = json!({
            "username": "jane", "name": "Jane", "email": "j@x.org", "password": "pw", "password_repeat": "pw",
            "attributes": {"department": "Eng"}, "attributes.first_name": "J", "attributes.team.name": "Backend",
            "component": "ak-stage-prompt"
        });
        let (user, password) = new_user(&config, data.as_object().unwrap(), None);
        assert_eq!(
            (
                user.username.as_str(),
                user.name.as_str(),
                user.email.as_str()
            ),
            ("jane", "Jane", "j@x.org")
        );
        assert_eq!(password.as_deref(), Some("pw"));
        assert_eq!(user.path, "users/invited");
        assert_eq!(user.user_type, UserType::Internal);
        assert_eq!(
            user.attributes,
            json!({"department": "Eng", "first_name": "J", "team": {"name": "Backend"}})
        );
    }
}
