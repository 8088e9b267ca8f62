//! Applies a blueprint's entries in order with authentik's `state` semantics. Storage is
//! behind [`Target`]; the caller runs the whole apply in one transaction, and rolls it
//! back for a dry run.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;

use serde_json::{Map, Value};

use crate::blueprint::{Blueprint, Entry, State};
use crate::error::{BlueprintError, BlueprintResult, Pos};
use crate::resolve::{Lookup, Scope, resolve, truthy};

/// Where a blueprint's objects live. Implementations validate `attrs` for each model the
/// way its API would, and report errors with the entry's position.
pub trait Target: Lookup {
    /// Whether akin stores `model` (`app_label.modelname`).
    fn knows(&self, model: &str) -> bool;

    /// The primary key of the object `identifiers` select, if one exists.
    fn find_existing(
        &mut self,
        model: &str,
        identifiers: &Map<String, Value>,
        at: Pos,
    ) -> impl Future<Output = BlueprintResult<Option<Value>>> + Send;

    /// Creates an object from identifiers and attrs together; returns its primary key.
    fn create(
        &mut self,
        model: &str,
        identifiers: &Map<String, Value>,
        attrs: &Map<String, Value>,
        at: Pos,
    ) -> impl Future<Output = BlueprintResult<Value>> + Send;

    /// Changes an existing object (found by `identifiers`) to attrs with the identifiers
    /// merged in, as authentik's importer writes them; `false` when it already held those
    /// values (nothing was written).
    fn update(
        &mut self,
        model: &str,
        pk: &Value,
        identifiers: &Map<String, Value>,
        attrs: &Map<String, Value>,
        at: Pos,
    ) -> impl Future<Output = BlueprintResult<bool>> + Send;

    fn delete(
        &mut self,
        model: &str,
        pk: &Value,
        at: Pos,
    ) -> impl Future<Output = BlueprintResult<()>> + Send;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Created,
    Updated,
    Unchanged,
    Deleted,
    /// Another blueprint was applied (`metaapplyblueprint`).
    Applied,
    /// A condition was false.
    Skipped,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Updated => "updated",
            Action::Unchanged => "unchanged",
            Action::Deleted => "deleted",
            Action::Applied => "applied",
            Action::Skipped => "skipped",
        }
    }
}

/// What one entry did.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub entry: usize,
    pub model: String,
    pub action: Action,
    pub pk: Option<Value>,
    /// The entry's identifiers, for reports.
    pub identifiers: Map<String, Value>,
    /// The entry listed permissions, which akin records but does not apply yet (no RBAC).
    pub permissions_deferred: bool,
}

/// What an import brings besides the file.
pub struct ImportOptions<'a> {
    /// Merged over the blueprint's own `context`.
    pub context: Map<String, Value>,
    /// What `!Env` reads (`EnvAccess::read`).
    pub env: &'a crate::env::EnvReader<'a>,
    /// The folder `!File` may read from.
    pub files: Option<&'a Path>,
    /// The blueprint a `metaapplyblueprint` entry names, by `path` or `name`.
    pub available: &'a FindBlueprint,
}

/// Finds a blueprint by `path` or by `metadata.name`.
pub type FindBlueprint = dyn Fn(Option<&str>, Option<&str>) -> Option<Blueprint> + Sync;

/// How deep blueprints may apply other blueprints (a cycle stops here).
pub const MAX_META_DEPTH: usize = 4;

/// Applies every entry in order; the first error stops the import (the caller rolls back).
pub async fn apply<T: Target>(
    blueprint: &Blueprint,
    options: &ImportOptions<'_>,
    target: &mut T,
) -> BlueprintResult<Vec<Change>> {
    apply_at_depth(blueprint, options, target, 0).await
}

/// How many times a blueprint's context is resolved against itself at most.
const CONTEXT_PASSES: usize = 8;

/// Boxed with a nameable type, because a `metaapplyblueprint` entry applies a blueprint
/// from inside this one.
fn apply_at_depth<'a, T: Target>(
    blueprint: &'a Blueprint,
    options: &'a ImportOptions<'a>,
    target: &'a mut T,
    depth: usize,
) -> crate::resolve::BoxFuture<'a, BlueprintResult<Vec<Change>>> {
    Box::pin(async move {
        let mut ids: HashMap<String, Value> = HashMap::new();
        // The blueprint's context, with the import's values over it. A context value may
        // itself be a tag (`b: !Context a`): as in authentik, it sees the rest of the
        // context, so it is resolved again until nothing changes (chains of up to
        // CONTEXT_PASSES links; a cycle stays at its default).
        let mut context = options.context.clone();
        if let Some(node) = &blueprint.context {
            for _ in 0..CONTEXT_PASSES {
                let scope = Scope {
                    context: &context,
                    ids: &ids,
                    env: options.env,
                    files: options.files,
                };
                let mut next = match resolve(node, &scope, target, &[]).await? {
                    Value::Object(map) => map,
                    _ => Map::new(),
                };
                next.extend(options.context.clone());
                if next == context {
                    break;
                }
                context = next;
            }
        }

        let mut changes = Vec::with_capacity(blueprint.entries.len());
        for entry in &blueprint.entries {
            let change = apply_entry(entry, &context, &mut ids, options, target, depth)
                .await
                .map_err(|e| e.in_entry(entry.index))?;
            changes.push(change);
        }
        Ok(changes)
    })
}

async fn resolve_mapping<T: Target>(
    node: Option<&crate::yaml::Node>,
    what: &str,
    scope: &Scope<'_>,
    target: &mut T,
) -> BlueprintResult<Map<String, Value>> {
    let Some(node) = node else {
        return Ok(Map::new());
    };
    match resolve(node, scope, target, &[]).await? {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Map::new()),
        _ => Err(BlueprintError::new(
            node.at,
            format!("{what} must resolve to a mapping"),
        )),
    }
}

async fn apply_entry<T: Target>(
    entry: &Entry,
    context: &Map<String, Value>,
    ids: &mut HashMap<String, Value>,
    options: &ImportOptions<'_>,
    target: &mut T,
    depth: usize,
) -> BlueprintResult<Change> {
    let scope = Scope {
        context,
        ids,
        env: options.env,
        files: options.files,
    };
    let mut skip = false;
    for condition in &entry.conditions {
        if !truthy(&resolve(condition, &scope, target, &[]).await?) {
            skip = true;
        }
    }
    if !target.knows(&entry.model) {
        return Err(BlueprintError::new(
            entry.at,
            format!("unknown model {:?}", entry.model),
        ));
    }
    let identifiers =
        resolve_mapping(entry.identifiers.as_ref(), "identifiers", &scope, target).await?;
    let mut change = Change {
        entry: entry.index,
        model: entry.model.clone(),
        action: Action::Skipped,
        pk: None,
        identifiers: identifiers.clone(),
        permissions_deferred: entry.permissions.is_some(),
    };
    if skip {
        return Ok(change);
    }
    let attrs = resolve_mapping(entry.attrs.as_ref(), "attrs", &scope, target).await?;
    if entry.model == META_APPLY {
        change.action = apply_meta(&attrs, entry.at, options, target, depth).await?;
        return Ok(change);
    }
    if identifiers.is_empty() && entry.state != State::MustCreated {
        return Err(BlueprintError::new(
            entry.at,
            "the entry has no identifiers, so it cannot be matched to an object",
        ));
    }
    let existing = if identifiers.is_empty() {
        None
    } else {
        target
            .find_existing(&entry.model, &identifiers, entry.at)
            .await?
    };
    let (action, pk) = match (entry.state, existing) {
        (State::Absent, Some(pk)) => {
            target.delete(&entry.model, &pk, entry.at).await?;
            (Action::Deleted, None)
        }
        (State::Absent, None) => (Action::Unchanged, None),
        (State::MustCreated, Some(_)) => {
            return Err(BlueprintError::new(
                entry.at,
                format!(
                    "state must_created, but a {} with {} already exists",
                    entry.model,
                    describe(&identifiers)
                ),
            ));
        }
        (State::Created, Some(pk)) => (Action::Unchanged, Some(pk)),
        (State::Present, Some(pk)) => {
            if target
                .update(&entry.model, &pk, &identifiers, &attrs, entry.at)
                .await?
            {
                (Action::Updated, Some(pk))
            } else {
                (Action::Unchanged, Some(pk))
            }
        }
        (_, None) => {
            let pk = target
                .create(&entry.model, &identifiers, &attrs, entry.at)
                .await?;
            (Action::Created, Some(pk))
        }
    };
    if let (Some(id), Some(pk)) = (&entry.id, &pk) {
        ids.insert(id.clone(), pk.clone());
    }
    change.action = action;
    change.pk = pk;
    Ok(change)
}

/// Applies the blueprint a `metaapplyblueprint` entry names (`attrs: {identifiers:
/// {path|name}, required}`) with its own context; a missing one is an error only when
/// `required` (the default).
async fn apply_meta<T: Target>(
    attrs: &Map<String, Value>,
    at: Pos,
    options: &ImportOptions<'_>,
    target: &mut T,
    depth: usize,
) -> BlueprintResult<Action> {
    let required = attrs
        .get("required")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let identifiers = attrs.get("identifiers").and_then(Value::as_object);
    let path = identifiers
        .and_then(|i| i.get("path"))
        .and_then(Value::as_str);
    let name = identifiers
        .and_then(|i| i.get("name"))
        .and_then(Value::as_str);
    let Some(nested) = (options.available)(path, name) else {
        return if required {
            Err(BlueprintError::new(
                at,
                format!("no available blueprint has the path {path:?} or the name {name:?}"),
            ))
        } else {
            Ok(Action::Skipped)
        };
    };
    if depth >= MAX_META_DEPTH {
        return Err(BlueprintError::new(
            at,
            format!(
                "blueprints apply each other more than {MAX_META_DEPTH} levels deep; is there a cycle?"
            ),
        ));
    }
    let nested_options = ImportOptions {
        context: Map::new(),
        env: options.env,
        files: None,
        available: options.available,
    };
    apply_at_depth(&nested, &nested_options, target, depth + 1)
        .await
        .map_err(|e| {
            BlueprintError::new(
                at,
                format!(
                    "in the applied blueprint {}: {e}",
                    nested.name.as_deref().unwrap_or("(unnamed)")
                ),
            )
        })?;
    Ok(Action::Applied)
}

/// The model that applies another blueprint.
pub const META_APPLY: &str = "authentik_blueprints.metaapplyblueprint";

fn describe(identifiers: &Map<String, Value>) -> String {
    identifiers
        .iter()
        .map(|(k, v)| format!("{k}={}", crate::resolve::scalar_text(v)))
        .collect::<Vec<_>>()
        .join(", ")
}
