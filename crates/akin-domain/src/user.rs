//! People and service accounts that can sign in or hold API tokens.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::FieldErrors;
use crate::choice::choice_enum;

/// The longest username authentik (and Django) accepts.
pub const USERNAME_MAX_LENGTH: usize = 150;
/// The longest email authentik accepts.
pub const EMAIL_MAX_LENGTH: usize = 254;
/// The username the bootstrap creates, as in authentik.
pub const BOOTSTRAP_USERNAME: &str = "akadmin";
/// The path users get when none is given.
pub const DEFAULT_USER_PATH: &str = "users";

choice_enum! {
    /// What kind of account a user is.
    pub enum UserType {
        default Internal = "internal",
        External = "external",
        ServiceAccount = "service_account",
        InternalServiceAccount = "internal_service_account",
    }
}

/// A stored user. `password` is a PHC string (`$argon2id$…`) or `None` when the user has no
/// usable password (service accounts, users created before they chose one).
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub pk: i64,
    pub uuid: Uuid,
    pub username: String,
    pub name: String,
    pub email: String,
    pub is_active: bool,
    pub last_login: Option<OffsetDateTime>,
    pub date_joined: OffsetDateTime,
    pub password_change_date: OffsetDateTime,
    pub last_updated: OffsetDateTime,
    pub attributes: serde_json::Value,
    pub path: String,
    pub user_type: UserType,
    pub password: Option<String>,
}

/// What a caller supplies to create a user; the store assigns keys and timestamps.
#[derive(Debug, Clone, PartialEq)]
pub struct NewUser {
    pub username: String,
    pub name: String,
    pub email: String,
    pub is_active: bool,
    pub attributes: serde_json::Value,
    pub path: String,
    pub user_type: UserType,
    pub password: Option<String>,
}

impl User {
    /// What people are shown as: their name, or their username when they have none.
    pub fn shown_name(&self) -> &str {
        if self.name.trim().is_empty() {
            &self.username
        } else {
            &self.name
        }
    }
}

impl NewUser {
    /// A new internal, active user with nothing else set.
    pub fn named(username: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            name: String::new(),
            email: String::new(),
            is_active: true,
            attributes: serde_json::json!({}),
            path: DEFAULT_USER_PATH.to_owned(),
            user_type: UserType::Internal,
            password: None,
        }
    }

    /// Checks every field and reports all problems at once.
    pub fn validate(&self) -> Result<(), crate::DomainError> {
        let mut errors = FieldErrors::new();
        validate_username(&self.username, &mut errors);
        validate_email(&self.email, &mut errors);
        validate_path(&self.path, &mut errors);
        if !self.attributes.is_object() {
            errors.add("attributes", "Expected a dictionary of items.");
        }
        errors.into_result()
    }
}

/// authentik's (Django's) rule: `^[\w.@+-]+$`, at most 150 characters. Python's `\w` is
/// Unicode-aware, so letters and digits of any script count.
pub fn validate_username(username: &str, errors: &mut FieldErrors) {
    if username.is_empty() {
        errors.add("username", "This field may not be blank.");
    } else if username.chars().count() > USERNAME_MAX_LENGTH {
        errors.add(
            "username",
            format!("Ensure this field has no more than {USERNAME_MAX_LENGTH} characters."),
        );
    } else if !username
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '@' | '+' | '-'))
    {
        errors.add(
            "username",
            "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.",
        );
    }
}

/// An empty email is allowed (authentik's field is optional); a present one needs one `@`
/// with something on both sides and no spaces, which is what people mistype.
pub fn validate_email(email: &str, errors: &mut FieldErrors) {
    if email.is_empty() {
        return;
    }
    if email.chars().count() > EMAIL_MAX_LENGTH {
        errors.add(
            "email",
            format!("Ensure this field has no more than {EMAIL_MAX_LENGTH} characters."),
        );
        return;
    }
    let valid = match email.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.chars().any(char::is_whitespace)
        }
        None => false,
    };
    if !valid {
        errors.add("email", "Enter a valid email address.");
    }
}

/// A user's directory path: not blank, no leading or trailing slash (authentik's rule).
pub fn validate_path(path: &str, errors: &mut FieldErrors) {
    if path.is_empty() {
        errors.add("path", "This field may not be blank.");
    } else if path.starts_with('/') || path.ends_with('/') {
        errors.add("path", "Path may not start or end with a slash.");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn username_errors(name: &str) -> Option<Vec<String>> {
        let mut errors = FieldErrors::new();
        validate_username(name, &mut errors);
        errors.get("username").map(<[String]>::to_vec)
    }

    #[test]
    fn usernames_follow_djangos_rule() {
        for ok in [
            "akadmin",
            "jane.doe@example.com",
            "a+b-c_d",
            "jürgen",
            "名前",
        ] {
            assert_eq!(username_errors(ok), None, "{ok} should be accepted");
        }
        for bad in ["", "with space", "semi;colon", "slash/", "quote'"] {
            assert!(username_errors(bad).is_some(), "{bad:?} should be refused");
        }
        assert!(username_errors(&"a".repeat(150)).is_none());
        assert!(username_errors(&"a".repeat(151)).is_some());
    }

    #[test]
    fn emails_need_an_at_with_both_sides() {
        let check = |email: &str| {
            let mut errors = FieldErrors::new();
            validate_email(email, &mut errors);
            errors.is_empty()
        };
        assert!(check(""));
        assert!(check("ann@example.com"));
        assert!(!check("ann"));
        assert!(!check("@example.com"));
        assert!(!check("ann@"));
        assert!(!check("ann @example.com"));
    }

    #[test]
    fn user_types_round_trip() {
        for t in UserType::ALL {
            assert_eq!(UserType::parse(t).map(UserType::as_str), Some(*t));
        }
        assert_eq!(UserType::parse("robot"), None);
    }
}

/// A group as a user's membership list shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupRef {
    pub uuid: Uuid,
    pub name: String,
}

/// A user with what is derived from the directory around it.
#[derive(Debug, Clone, PartialEq)]
pub struct UserEntry {
    pub user: User,
    /// Member of a superuser group, directly or through a parent group.
    pub is_superuser: bool,
    pub groups: Vec<GroupRef>,
}

/// The fields an administrator may change on an existing user.
#[derive(Debug, Clone, PartialEq)]
pub struct UserChanges {
    pub username: String,
    pub name: String,
    pub email: String,
    pub is_active: bool,
    pub attributes: serde_json::Value,
    pub path: String,
    pub user_type: UserType,
    pub last_login: Option<OffsetDateTime>,
    /// `None` leaves memberships as they are.
    pub groups: Option<Vec<Uuid>>,
}

impl UserChanges {
    pub fn from_user(user: &User) -> Self {
        Self {
            username: user.username.clone(),
            name: user.name.clone(),
            email: user.email.clone(),
            is_active: user.is_active,
            attributes: user.attributes.clone(),
            path: user.path.clone(),
            user_type: user.user_type,
            last_login: user.last_login,
            groups: None,
        }
    }

    pub fn validate(&self) -> Result<(), crate::DomainError> {
        let mut errors = FieldErrors::new();
        validate_username(&self.username, &mut errors);
        validate_email(&self.email, &mut errors);
        validate_path(&self.path, &mut errors);
        if !self.attributes.is_object() {
            errors.add("attributes", "Expected a dictionary of items.");
        }
        errors.into_result()
    }
}

/// What a user list may be narrowed to; every field is an exact match unless named otherwise.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserFilter {
    pub username: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub uuid: Option<Uuid>,
    pub is_active: Option<bool>,
    pub is_superuser: Option<bool>,
    pub path: Option<String>,
    pub path_startswith: Option<String>,
    /// Any of these types.
    pub types: Vec<UserType>,
    /// Members of any of these groups.
    pub groups_by_name: Vec<String>,
    pub groups_by_pk: Vec<Uuid>,
    /// Top-level attribute keys that must hold exactly these values.
    pub attributes: Option<serde_json::Map<String, serde_json::Value>>,
    pub date_joined: TimeRange,
    pub last_login: TimeRange,
    pub last_login_isnull: Option<bool>,
    pub last_updated: TimeRange,
}

/// `field`, `field__gt`, `field__lt` filters on a timestamp.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TimeRange {
    pub exact: Option<OffsetDateTime>,
    pub after: Option<OffsetDateTime>,
    pub before: Option<OffsetDateTime>,
}
