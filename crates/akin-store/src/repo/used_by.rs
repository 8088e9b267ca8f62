//! What refers to an object, and what deleting it would do to each referrer: authentik's
//! `used_by`, which its UI shows before a delete.
//!
//! The actions say what akin's database does, not what authentik's would: a reference kept
//! in a column with a foreign key cascades or is set to null; one kept in a stage's JSON
//! settings is left dangling (the stage then fails when it runs, with its own message).

use serde_json::{Map, Value};

use akin_domain::catalog::{self, FieldType};

use super::Store;
use super::tables::{is_member_of, table_has_column};
use crate::error::StoreResult;
use crate::types::DbUuid;

/// authentik's `UsedByActionEnum`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteAction {
    /// The referrer is deleted too.
    Cascade,
    /// The referrer loses this entry of a list (a membership, a prompt of a stage).
    CascadeMany,
    /// The referrer's field becomes null.
    SetNull,
    /// The referrer keeps the key of an object that no longer exists.
    LeftDangling,
}

impl DeleteAction {
    pub fn as_str(self) -> &'static str {
        match self {
            DeleteAction::Cascade => "cascade",
            DeleteAction::CascadeMany => "cascade_many",
            DeleteAction::SetNull => "set_null",
            DeleteAction::LeftDangling => "left_dangling",
        }
    }
}

/// One object that refers to the object asked about.
#[derive(Debug, Clone, PartialEq)]
pub struct Referrer {
    /// authentik's model name, `app_label.modelname`.
    pub model: String,
    pub pk: String,
    pub name: String,
    pub action: DeleteAction,
}

impl Referrer {
    /// `app_label` and `modelname`, as authentik's `used_by` splits them.
    pub fn app_and_model(&self) -> (&str, &str) {
        self.model.split_once('.').unwrap_or(("", &self.model))
    }
}

/// Whether a reference field naming `target` can point at an object of `model`.
fn may_point_at(target: &str, model: &str) -> bool {
    target == model
        || catalog::Family::of_placeholder(target).is_some_and(|f| is_member_of(f, model))
        || (target == catalog::POLICY_TARGET
            && matches!(model, catalog::FLOW | catalog::FLOW_STAGE_BINDING))
}

/// What deleting the referenced object does to `referrer`'s `field`, by how akin stores it.
fn action_for(referrer: &str, field: &str, list: bool) -> DeleteAction {
    match (referrer, field) {
        // Bindings cannot exist without their flow, stage, policy, group or user.
        (catalog::FLOW_STAGE_BINDING | catalog::POLICY_BINDING, _) => DeleteAction::Cascade,
        (catalog::PROMPT_STAGE, "fields") => DeleteAction::CascadeMany,
        (catalog::INVITATION, "flow" | "created_by") => DeleteAction::SetNull,
        _ if list || !table_has_column(referrer, field) => DeleteAction::LeftDangling,
        _ => DeleteAction::SetNull,
    }
}

fn display_name(object: &Map<String, Value>) -> String {
    ["name", "username", "slug", "field_key"]
        .iter()
        .find_map(|k| object.get(*k).and_then(Value::as_str))
        .map(str::to_owned)
        .unwrap_or_else(|| pk_text(&object["pk"]))
}

fn pk_text(pk: &Value) -> String {
    match pk {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The same key, whichever way it is written (uuids dashed or not, any case; numbers).
fn same_key(a: &Value, b: &Value) -> bool {
    let norm = |v: &Value| pk_text(v).replace('-', "").to_ascii_lowercase();
    norm(a) == norm(b)
}

impl Store {
    /// Every object referring to `model` `pk`, with what a delete would do to it.
    pub async fn used_by(&self, model: &str, pk: &Value) -> StoreResult<Vec<Referrer>> {
        let mut found = Vec::new();
        let mut tx = self.db().begin().await?;
        for spec in catalog::MODELS {
            for field in spec.fields {
                let (target, list) = match field.ty {
                    FieldType::Ref(t) => (t, false),
                    FieldType::RefList(t) => (t, true),
                    _ => continue,
                };
                if !may_point_at(target, model) {
                    continue;
                }
                let referrers = if list {
                    // Lists live in JSON or link tables: read the model's objects (stages
                    // and prompts are few) and look inside.
                    tx.find_objects(spec.name, &[])
                        .await?
                        .into_iter()
                        .filter(|o| {
                            o.get(field.name)
                                .and_then(Value::as_array)
                                .is_some_and(|keys| keys.iter().any(|k| same_key(k, pk)))
                        })
                        .collect()
                } else {
                    tx.find_objects(spec.name, &[(field.name.to_owned(), pk.clone())])
                        .await?
                };
                let action = action_for(spec.name, field.name, list);
                found.extend(referrers.into_iter().map(|object| Referrer {
                    model: spec.name.to_owned(),
                    pk: pk_text(&object["pk"]),
                    name: display_name(&object),
                    action,
                }));
            }
        }
        if model == catalog::USER
            && let Some(user) = pk.as_i64()
        {
            // API tokens are not catalog objects, but belong to their user.
            let sql = tx
                .sql("SELECT identifier FROM tokens WHERE user_id = ")
                .bind(user)
                .then(" ORDER BY identifier");
            let tokens: Vec<(String,)> = tx.fetch_all(sql).await?;
            found.extend(tokens.into_iter().map(|(identifier,)| Referrer {
                model: "authentik_core.token".to_owned(),
                pk: identifier.clone(),
                name: identifier,
                action: DeleteAction::Cascade,
            }));
        }
        if model == catalog::GROUP
            && let Some(group) = pk.as_str().and_then(|p| uuid::Uuid::parse_str(p).ok())
        {
            // Members and child groups lose only their link to the group.
            let sql = tx
                .sql("SELECT u.id, u.username FROM group_members m JOIN users u ON u.id = m.user_id WHERE m.group_uuid = ")
                .bind(group)
                .then(" ORDER BY u.id");
            let members: Vec<(i64, String)> = tx.fetch_all(sql).await?;
            found.extend(members.into_iter().map(|(id, username)| Referrer {
                model: catalog::USER.to_owned(),
                pk: id.to_string(),
                name: username,
                action: DeleteAction::CascadeMany,
            }));
            let sql = tx
                .sql("SELECT g.group_uuid, g.name FROM group_parents p JOIN groups g ON g.group_uuid = p.child_uuid WHERE p.parent_uuid = ")
                .bind(group)
                .then(" ORDER BY g.name");
            let children: Vec<(DbUuid, String)> = tx.fetch_all(sql).await?;
            found.extend(children.into_iter().map(|(uuid, name)| Referrer {
                model: catalog::GROUP.to_owned(),
                pk: uuid.0.to_string(),
                name,
                action: DeleteAction::CascadeMany,
            }));
        }
        Ok(found)
    }
}
