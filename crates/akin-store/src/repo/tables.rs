//! How each catalog model is stored: its table, key, columns and their types. One table per
//! model, except the kinds of a family (stages, policies), which share one table (with a
//! `kind` column and the rest of their fields in `extra`).

use akin_domain::catalog::{self, Family};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Col {
    Text,
    Bool,
    Int,
    Uuid,
    Time,
    Json,
}

/// How one model is stored.
pub(super) struct Table {
    pub(super) model: &'static str,
    pub(super) table: &'static str,
    pub(super) pk: &'static str,
    /// The primary key is an integer (users) rather than a uuid.
    pub(super) int_pk: bool,
    /// `(field, column, type)` for fields stored in their own column.
    pub(super) columns: &'static [(&'static str, &'static str, Col)],
    /// The `kind` column's value for tables shared by several models (stages, policies).
    pub(super) kind: Option<&'static str>,
    /// Whether remaining fields go into an `extra` JSON column.
    pub(super) extra: bool,
    /// Columns set to the current time on insert (and which of them also on update).
    pub(super) stamped: &'static [(&'static str, bool)],
}

const STAGE_TABLE: Table = Table {
    model: "",
    table: "stages",
    pk: "stage_uuid",
    int_pk: false,
    columns: &[("name", "name", Col::Text)],
    kind: None,
    extra: true,
    stamped: &[],
};

const POLICY_TABLE: Table = Table {
    table: "policies",
    pk: "policy_uuid",
    ..STAGE_TABLE
};

/// The table a family's kinds share.
pub(super) fn family_table(family: Family) -> Option<Table> {
    match family {
        Family::Object => None,
        Family::Stage => Some(STAGE_TABLE),
        Family::Policy => Some(POLICY_TABLE),
    }
}

static TABLES: &[Table] = &[
    Table {
        model: catalog::FLOW,
        table: "flows",
        pk: "flow_uuid",
        int_pk: false,
        columns: &[
            ("slug", "slug", Col::Text),
            ("name", "name", Col::Text),
            ("title", "title", Col::Text),
            ("designation", "designation", Col::Text),
            ("authentication", "authentication", Col::Text),
        ],
        kind: None,
        extra: true,
        stamped: &[],
    },
    Table {
        model: catalog::FLOW_STAGE_BINDING,
        table: "flow_stage_bindings",
        pk: "fsb_uuid",
        int_pk: false,
        columns: &[
            ("target", "target_uuid", Col::Uuid),
            ("stage", "stage_uuid", Col::Uuid),
            ("order", "binding_order", Col::Int),
        ],
        kind: None,
        extra: true,
        stamped: &[],
    },
    Table {
        model: catalog::PROMPT,
        table: "prompts",
        pk: "prompt_uuid",
        int_pk: false,
        columns: &[
            ("name", "name", Col::Text),
            ("field_key", "field_key", Col::Text),
        ],
        kind: None,
        extra: true,
        stamped: &[],
    },
    Table {
        model: catalog::POLICY_BINDING,
        table: "policy_bindings",
        pk: "policy_binding_uuid",
        int_pk: false,
        columns: &[
            ("target", "target_uuid", Col::Uuid),
            ("policy", "policy_uuid", Col::Uuid),
            ("group", "group_uuid", Col::Uuid),
            ("user", "user_id", Col::Int),
            ("order", "binding_order", Col::Int),
        ],
        kind: None,
        extra: true,
        stamped: &[],
    },
    Table {
        model: catalog::INVITATION,
        table: "invitations",
        pk: "invite_uuid",
        int_pk: false,
        columns: &[
            ("name", "name", Col::Text),
            ("flow", "flow_uuid", Col::Uuid),
            ("expires", "expires", Col::Time),
            ("fixed_data", "fixed_data", Col::Json),
            ("created_by", "created_by", Col::Int),
            ("single_use", "single_use", Col::Bool),
            ("groups", "groups", Col::Json),
            ("allowed_email", "allowed_email", Col::Text),
        ],
        kind: None,
        extra: false,
        stamped: &[("created", false)],
    },
    Table {
        model: catalog::GROUP,
        table: "groups",
        pk: "group_uuid",
        int_pk: false,
        columns: &[
            ("name", "name", Col::Text),
            ("is_superuser", "is_superuser", Col::Bool),
            ("attributes", "attributes", Col::Json),
        ],
        kind: None,
        extra: false,
        stamped: &[],
    },
    Table {
        model: catalog::USER,
        table: "users",
        pk: "id",
        int_pk: true,
        columns: &[
            ("username", "username", Col::Text),
            ("name", "name", Col::Text),
            ("email", "email", Col::Text),
            ("is_active", "is_active", Col::Bool),
            ("attributes", "attributes", Col::Json),
            ("path", "path", Col::Text),
            ("type", "type", Col::Text),
        ],
        kind: None,
        extra: false,
        stamped: &[
            ("date_joined", false),
            ("password_change_date", false),
            ("last_updated", true),
        ],
    },
    Table {
        model: catalog::TOKEN,
        table: "tokens",
        pk: "token_uuid",
        int_pk: false,
        columns: &[
            ("identifier", "identifier", Col::Text),
            ("key", "key", Col::Text),
            ("intent", "intent", Col::Text),
            ("user", "user_id", Col::Int),
            ("description", "description", Col::Text),
            ("expires", "expires", Col::Time),
            ("expiring", "expiring", Col::Bool),
            ("managed", "managed", Col::Text),
        ],
        kind: None,
        extra: false,
        stamped: &[],
    },
];

/// The join table that holds a prompt stage's `fields`, in order.
pub(super) const PROMPT_FIELDS: &str = "fields";

/// The catalog's model and family for `model` when it is a kind of a family (stored in the
/// family's shared table).
pub(super) fn family_member(model: &str) -> Option<(&'static str, Family)> {
    let spec = catalog::spec(model)?;
    (spec.family != Family::Object).then_some((spec.name, spec.family))
}

pub(super) fn table(model: &str) -> Option<Table> {
    if let Some((member, family)) = family_member(model) {
        return family_table(family).map(|shared| Table {
            model: member,
            kind: Some(member),
            ..shared
        });
    }
    TABLES
        .iter()
        .find(|t| t.model == model)
        .map(|t| Table { ..*t })
}

/// Whether `model` is a kind of `family`.
pub(crate) fn is_member_of(family: Family, model: &str) -> bool {
    family_member(model).is_some_and(|(_, f)| f == family)
}

/// Whether `model`'s `field` has a column of its own (and so a foreign key, for references).
pub(crate) fn table_has_column(model: &str, field: &str) -> bool {
    table(model).is_some_and(|t| t.columns.iter().any(|(f, _, _)| *f == field))
}

/// Whether objects of `model` can be stored.
pub fn stores(model: &str) -> bool {
    table(model).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalog_model_has_a_table() {
        for spec in catalog::MODELS {
            assert!(stores(spec.name), "{} has no table", spec.name);
        }
    }
}
