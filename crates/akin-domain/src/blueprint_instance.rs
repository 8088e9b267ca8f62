//! Blueprint instances (authentik's `BlueprintInstance`): a blueprint — a file under the
//! blueprints folder, one akin ships, or inline `content` — applied with a context of its
//! own, again whenever its text changes, with how the last apply went.

use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::FieldErrors;
use crate::choice::choice_enum;

choice_enum! {
    /// How the last apply of an instance went.
    pub enum InstanceStatus {
        Successful = "successful",
        Warning = "warning",
        Error = "error",
        /// Its file is gone.
        Orphaned = "orphaned",
        /// Not applied yet.
        default Unknown = "unknown",
    }
}

/// The label with which a blueprint file asks not to be instantiated from the folder.
pub const INSTANTIATE_LABEL: &str = "blueprints.goauthentik.io/instantiate";

#[derive(Debug, Clone, PartialEq)]
pub struct BlueprintInstance {
    pub uuid: Uuid,
    pub name: String,
    /// Relative to the blueprints folder (or a path akin ships); empty with `content`.
    pub path: String,
    pub content: String,
    pub context: Map<String, Value>,
    pub enabled: bool,
    pub status: InstanceStatus,
    pub last_applied: Option<OffsetDateTime>,
    /// SHA-256 of the text last applied: a changed file is applied again.
    pub last_applied_hash: String,
    /// The models the blueprint's entries write.
    pub managed_models: Vec<String>,
    /// The blueprint's `metadata` (name, labels).
    pub metadata: Value,
    /// The last apply's log entries.
    pub logs: Vec<Value>,
}

/// What an administrator writes.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceFields {
    pub name: String,
    pub path: String,
    pub content: String,
    pub context: Map<String, Value>,
    pub enabled: bool,
}

impl InstanceFields {
    /// authentik's serializer rules that need nothing but the fields.
    pub fn validate(&self) -> Result<(), crate::DomainError> {
        let mut errors = FieldErrors::new();
        if self.name.trim().is_empty() {
            errors.add("name", "This field may not be blank.");
        }
        if self.path.is_empty() && self.content.is_empty() {
            errors.add("non_field_errors", "Either path or content must be set.");
        }
        if self.path.split('/').any(|part| part == "..") || self.path.starts_with('/') {
            errors.add("path", "Blueprint file does not exist");
        }
        errors.into_result()
    }
}

impl From<&BlueprintInstance> for InstanceFields {
    fn from(i: &BlueprintInstance) -> Self {
        InstanceFields {
            name: i.name.clone(),
            path: i.path.clone(),
            content: i.content.clone(),
            context: i.context.clone(),
            enabled: i.enabled,
        }
    }
}

/// The outcome of one apply, as the instance records it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyOutcome {
    pub status: InstanceStatus,
    pub hash: String,
    pub managed_models: Vec<String>,
    pub metadata: Value,
    pub logs: Vec<Value>,
    pub at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> InstanceFields {
        InstanceFields {
            name: "n".into(),
            path: "example/a.yaml".into(),
            content: String::new(),
            context: Map::new(),
            enabled: true,
        }
    }

    #[test]
    fn a_path_or_content_is_needed_and_paths_stay_in_the_folder() {
        assert!(fields().validate().is_ok());
        let neither = InstanceFields {
            path: String::new(),
            ..fields()
        };
        assert!(neither.validate().is_err());
        for path in ["../etc/passwd", "/etc/passwd", "a/../../b"] {
            let outside = InstanceFields {
                path: path.into(),
                ..fields()
            };
            assert!(outside.validate().is_err(), "{path}");
        }
    }
}
