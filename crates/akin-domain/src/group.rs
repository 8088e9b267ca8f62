//! Groups of users. A group may have parent groups; members of a group count as members of
//! its ancestors, so a superuser group makes the members of all its descendants superusers.

use uuid::Uuid;

use crate::FieldErrors;

/// The group the bootstrap puts the first administrator in.
pub const ADMIN_GROUP_NAME: &str = "akin Admins";

#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub uuid: Uuid,
    /// A stable 32-bit number for clients that need integer ids (authentik's `num_pk`).
    pub num_pk: i64,
    pub name: String,
    pub is_superuser: bool,
    pub attributes: serde_json::Value,
    pub parents: Vec<Uuid>,
}

/// The writable part of a group.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupFields {
    pub name: String,
    pub is_superuser: bool,
    pub attributes: serde_json::Value,
    pub parents: Vec<Uuid>,
}

impl GroupFields {
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            is_superuser: false,
            attributes: serde_json::json!({}),
            parents: Vec::new(),
        }
    }

    pub fn validate(&self, own_uuid: Option<Uuid>) -> Result<(), crate::DomainError> {
        let mut errors = FieldErrors::new();
        if self.name.trim().is_empty() {
            errors.add("name", "This field may not be blank.");
        }
        if !self.attributes.is_object() {
            errors.add("attributes", "Expected a dictionary of items.");
        }
        if own_uuid.is_some_and(|me| self.parents.contains(&me)) {
            errors.add("parents", "A group cannot be its own parent.");
        }
        errors.into_result()
    }
}

/// Would making `parents` the parents of `group` close a loop? `parents_of` gives each
/// existing group's parents. A cycle would make membership and superuser status undefined.
pub fn creates_cycle(
    group: Uuid,
    parents: &[Uuid],
    parents_of: &dyn Fn(Uuid) -> Vec<Uuid>,
) -> bool {
    let mut seen = std::collections::HashSet::new();
    let mut stack: Vec<Uuid> = parents.to_vec();
    while let Some(next) = stack.pop() {
        if next == group {
            return true;
        }
        if seen.insert(next) {
            stack.extend(parents_of(next));
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn detects_a_cycle_through_ancestors() {
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        // b's parent is a, c's parent is b.
        let graph: HashMap<Uuid, Vec<Uuid>> = [(b, vec![a]), (c, vec![b])].into();
        let parents_of = |g: Uuid| graph.get(&g).cloned().unwrap_or_default();
        assert!(
            creates_cycle(a, &[c], &parents_of),
            "a under c closes a→b→c→a"
        );
        assert!(!creates_cycle(c, &[a], &parents_of));
        assert!(creates_cycle(a, &[a], &parents_of));
    }

    #[test]
    fn a_group_needs_a_name() {
        assert!(GroupFields::named(" ").validate(None).is_err());
        assert!(GroupFields::named("staff").validate(None).is_ok());
    }
}

/// A group with its relations, as the group API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupEntry {
    pub group: Group,
    pub children: Vec<Uuid>,
    /// Member user pks.
    pub users: Vec<i64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupFilter {
    pub name: Option<String>,
    pub is_superuser: Option<bool>,
    pub members_by_pk: Vec<i64>,
    pub members_by_username: Vec<String>,
}
