//! Imports blueprints into the store: the glue between `akin-blueprint` (format and
//! semantics) and `akin-store` (tables), with the catalog's validation in between. Used by
//! the import endpoints and by `akin blueprint apply|validate`.

use akin_blueprint::apply::{self, Action, Change, ImportOptions, META_APPLY, Target};
use akin_blueprint::env::EnvAccess;
use akin_blueprint::resolve::Lookup;
use akin_blueprint::{BlueprintError, BlueprintResult, Pos};
use akin_blueprint::{blueprint, shipped};
use akin_domain::catalog::{self, FieldType, ModelSpec};
use akin_domain::policy::ExpressionEngine;
use akin_domain::time_format::format_datetime as datetime;
use akin_store::{Store, StoreError, Tx};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::objects::{self, WriteError};

/// How an import went: what each entry did, or why it was refused (nothing is kept then).
#[derive(Debug)]
pub struct ImportReport {
    pub changes: Vec<Change>,
    pub error: Option<BlueprintError>,
    pub dry_run: bool,
}

/// A change in words: `entry 3: created flow "default-enrollment-flow"`, the object named by
/// the first identifier that names it (a binding by its order).
fn describe(change: &akin_blueprint::apply::Change) -> String {
    let kind =
        catalog::spec(&change.model).map_or_else(|| change.model.clone(), |s| s.verbose.to_owned());
    let named = ["name", "slug", "username", "field_key", "identifier"]
        .iter()
        .find_map(|key| change.identifiers.get(*key).and_then(Value::as_str))
        .map(|name| format!(" \"{name}\""))
        .or_else(|| {
            change
                .identifiers
                .get("order")
                .map(|order| format!(" (order {order})"))
        })
        .unwrap_or_default();
    format!(
        "entry {}: {} {kind}{named}",
        change.entry,
        change.action.as_str()
    )
}

impl ImportReport {
    pub fn success(&self) -> bool {
        self.error.is_none()
    }

    /// authentik's `LogEvent`s: one per entry that changed something, and the error.
    pub fn logs(&self) -> Vec<Value> {
        let now = datetime(OffsetDateTime::now_utc());
        let mut logs: Vec<Value> = self
            .changes
            .iter()
            .filter(|c| !matches!(c.action, Action::Unchanged))
            .map(|c| {
                json!({
                    "timestamp": now,
                    "log_level": "info",
                    "logger": "akin.blueprints",
                    "event": describe(c),
                    "attributes": {"model": c.model, "action": c.action.as_str(), "pk": c.pk, "identifiers": c.identifiers},
                })
            })
            .collect();
        for change in self.changes.iter().filter(|c| c.permissions_deferred) {
            logs.push(json!({
                "timestamp": now,
                "log_level": "info",
                "logger": "akin.blueprints",
                "event": format!("entry {}: permissions are recorded once RBAC exists; not applied", change.entry),
                "attributes": {"model": change.model},
            }));
        }
        if let Some(error) = &self.error {
            logs.push(json!({
                "timestamp": now,
                "log_level": "error",
                "logger": "akin.blueprints",
                "event": error.to_string(),
                "attributes": {
                    "line": error.at.map(|p| p.line),
                    "column": error.at.map(|p| p.col),
                    "entry": error.entry,
                },
            }));
        }
        logs
    }
}

/// Where an import comes from and what it may read.
pub struct ImportRequest<'a> {
    pub bytes: &'a [u8],
    pub context: Map<String, Value>,
    /// The folder `!File` may read from (the blueprint file's folder for CLI imports).
    pub files: Option<&'a std::path::Path>,
    /// Owner of invitations that do not name `created_by`.
    pub acting_user: Option<i64>,
    /// Roll back instead of committing: report what would change.
    pub dry_run: bool,
    /// Checks expression policies' code before they are stored.
    pub expressions: &'a dyn ExpressionEngine,
    /// What `!Env` may read: everything for the operator's own files, the allow list for
    /// uploads.
    pub env: &'a EnvAccess,
}

/// Parses and applies a blueprint in one transaction. Storage failures other than refusals
/// of the blueprint's content are returned as errors.
pub async fn import(store: &Store, request: ImportRequest<'_>) -> Result<ImportReport, StoreError> {
    let blueprint = match blueprint::load(request.bytes) {
        Ok(b) => b,
        Err(error) => {
            return Ok(ImportReport {
                changes: Vec::new(),
                error: Some(error),
                dry_run: request.dry_run,
            });
        }
    };
    let env = |name: &str| request.env.read(name);
    let options = ImportOptions {
        context: request.context,
        env: &env,
        files: request.files,
        available: &available,
    };
    let mut tx = store.db().begin().await?;
    let mut target = StoreTarget {
        tx: &mut tx,
        now: OffsetDateTime::now_utc(),
        acting_user: request.acting_user,
        storage_error: None,
        expressions: request.expressions,
    };
    let result = apply::apply(&blueprint, &options, &mut target).await;
    if let Some(error) = target.storage_error.take() {
        return Err(error);
    }
    match result {
        Ok(changes) => {
            if !request.dry_run {
                tx.commit().await?;
            }
            Ok(ImportReport {
                changes,
                error: None,
                dry_run: request.dry_run,
            })
        }
        // Dropping the transaction rolls everything back.
        Err(error) => Ok(ImportReport {
            changes: Vec::new(),
            error: Some(error),
            dry_run: request.dry_run,
        }),
    }
}

/// akin's shipped blueprints, for `metaapplyblueprint` entries.
fn available(path: Option<&str>, name: Option<&str>) -> Option<blueprint::Blueprint> {
    shipped::find(path, name).and_then(|s| blueprint::load(s.text.as_bytes()).ok())
}

/// Applies entries to the store inside one transaction.
struct StoreTarget<'a> {
    tx: &'a mut Tx,
    now: OffsetDateTime,
    acting_user: Option<i64>,
    /// A failure of the database itself (not of the blueprint), surfaced after apply.
    storage_error: Option<StoreError>,
    expressions: &'a dyn ExpressionEngine,
}

impl StoreTarget<'_> {
    /// Turns a storage error into a blueprint error at `at`, keeping real failures aside.
    fn refuse(&mut self, spec: Option<&ModelSpec>, error: StoreError, at: Pos) -> BlueprintError {
        let message = match &error {
            StoreError::Unique { field } => format!(
                "{} with this {field} already exists.",
                spec.map_or("object", |s| s.verbose)
            ),
            StoreError::MissingReference => "a referenced object does not exist".to_owned(),
            StoreError::InvalidValue(v) => format!("invalid value {v}"),
            StoreError::UnsupportedModel(m) => format!("unknown model {m:?}"),
            _ => {
                let message = error.to_string();
                self.storage_error = Some(error);
                message
            }
        };
        BlueprintError::new(at, message)
    }

    fn spec(model: &str, at: Pos) -> BlueprintResult<&'static ModelSpec> {
        catalog::spec(model)
            .ok_or_else(|| BlueprintError::new(at, format!("unknown model {model:?}")))
    }

    /// Checks fields through the one write path ([`objects::check`]); a refusal names the
    /// model and the fields.
    async fn checked(
        &mut self,
        spec: &'static ModelSpec,
        fields: &Map<String, Value>,
        partial: bool,
        at: Pos,
    ) -> BlueprintResult<Map<String, Value>> {
        match objects::check(self.tx, self.expressions, spec, fields, partial).await {
            Ok(valid) => Ok(valid),
            Err(error) => Err(self.refused(spec, error, at)),
        }
    }

    /// A refused write as a blueprint error at `at`; a database failure is kept aside.
    fn refused(&mut self, spec: &ModelSpec, error: WriteError, at: Pos) -> BlueprintError {
        match error {
            WriteError::Invalid(errors) => {
                BlueprintError::new(at, format!("{} is not valid: {errors}", spec.name))
            }
            WriteError::Store(error) => self.refuse(Some(spec), error, at),
        }
    }

    async fn lookup(
        &mut self,
        model: &str,
        query: &[(String, Value)],
        at: Pos,
    ) -> BlueprintResult<Option<Map<String, Value>>> {
        if !akin_store::stores(model) {
            return Err(BlueprintError::new(
                at,
                format!("!Find: unknown model {model:?}"),
            ));
        }
        match self.tx.find_objects(model, query).await {
            Ok(found) => Ok(found.into_iter().next()),
            Err(e) => Err(self.refuse(None, e, at)),
        }
    }
}

impl Lookup for StoreTarget<'_> {
    async fn find_object(
        &mut self,
        model: &str,
        query: &[(String, Value)],
        at: Pos,
    ) -> BlueprintResult<Option<Value>> {
        Ok(self.lookup(model, query, at).await?.map(Value::Object))
    }
}

impl Target for StoreTarget<'_> {
    fn knows(&self, model: &str) -> bool {
        model == META_APPLY || catalog::spec(model).is_some()
    }

    async fn find_existing(
        &mut self,
        model: &str,
        identifiers: &Map<String, Value>,
        at: Pos,
    ) -> BlueprintResult<Option<Value>> {
        let spec = Self::spec(model, at)?;
        // Identifiers are compared in their stored form (`"yes"` matches `true`).
        let normalised = catalog::validate(spec, identifiers, true).map_err(|errors| {
            BlueprintError::new(
                at,
                format!("{} identifiers are not valid: {errors}", spec.name),
            )
        })?;
        let pk_of = |o: Map<String, Value>| o.get("pk").cloned().unwrap_or(Value::Null);
        // authentik's match: the primary key, or else the other identifiers (so an export's
        // `{pk, slug}` finds an object made with another key but the same slug).
        if let Some(pk) = identifiers.get("pk") {
            let by_pk = [("pk".to_owned(), pk.clone())];
            if let Some(found) = self.lookup(model, &by_pk, at).await? {
                return Ok(Some(pk_of(found)));
            }
            if normalised.is_empty() {
                return Ok(None);
            }
        }
        let query: Vec<(String, Value)> = normalised.into_iter().collect();
        Ok(self.lookup(model, &query, at).await?.map(pk_of))
    }

    async fn create(
        &mut self,
        model: &str,
        identifiers: &Map<String, Value>,
        attrs: &Map<String, Value>,
        at: Pos,
    ) -> BlueprintResult<Value> {
        let spec = Self::spec(model, at)?;
        // A new object is its identifiers and attrs deep-merged, as authentik's importer:
        // `identifiers: {attributes: {a: 1}}` with `attrs: {attributes: {b: 2}}` keeps both.
        let mut fields = identifiers.clone();
        akin_domain::invitation::deep_merge(&mut fields, attrs);
        if model == catalog::INVITATION && !fields.contains_key("created_by") {
            fields.insert(
                "created_by".to_owned(),
                self.acting_user.map_or(Value::Null, Value::from),
            );
        }
        let mut valid = self.checked(spec, &fields, false, at).await?;
        // An entry identified by its primary key (authentik's exports) keeps that key.
        if let Some(pk) = identifiers.get("pk") {
            valid.insert("pk".to_owned(), pk.clone());
        }
        match objects::save(self.tx, spec, None, &valid, self.now).await {
            Ok(pk) => Ok(pk),
            Err(error) => Err(self.refused(spec, error, at)),
        }
    }

    async fn update(
        &mut self,
        model: &str,
        pk: &Value,
        identifiers: &Map<String, Value>,
        attrs: &Map<String, Value>,
        at: Pos,
    ) -> BlueprintResult<bool> {
        let spec = Self::spec(model, at)?;
        // authentik writes attrs with the identifiers merged in (so an object found by part
        // of its `attributes` gets those attributes); the key itself is not rewritten.
        let mut fields = attrs.clone();
        let mut named = identifiers.clone();
        named.remove("pk");
        akin_domain::invitation::deep_merge(&mut fields, &named);
        if fields.is_empty() {
            return Ok(false);
        }
        let valid = self.checked(spec, &fields, true, at).await?;
        let current = self
            .lookup(model, &[("pk".to_owned(), pk.clone())], at)
            .await?
            .unwrap_or_default();
        if valid.iter().all(|(k, v)| current.get(k) == Some(v)) {
            return Ok(false);
        }
        match objects::save(self.tx, spec, Some(pk), &valid, self.now).await {
            Ok(_) => Ok(true),
            Err(error) => Err(self.refused(spec, error, at)),
        }
    }

    async fn delete(&mut self, model: &str, pk: &Value, at: Pos) -> BlueprintResult<()> {
        match self.tx.delete_object(model, pk).await {
            Ok(_) => Ok(()),
            Err(e) => Err(self.refuse(None, e, at)),
        }
    }
}

/// The setting remembering which version of a shipped default was applied last.
fn applied_setting(path: &str) -> String {
    format!("blueprint_applied:{path}")
}

/// Hex SHA-256 of a shipped blueprint's text.
pub fn content_hash(text: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Applies akin's default blueprints that changed since they were last applied (all of
/// them on the first start; the changed ones after an upgrade). Returns the paths applied.
pub async fn apply_shipped_defaults(
    store: &Store,
    expressions: &dyn ExpressionEngine,
) -> Result<Vec<&'static str>, DefaultsError> {
    let mut applied = Vec::new();
    for shipped in shipped::SHIPPED.iter().filter(|s| s.default) {
        let hash = content_hash(shipped.text);
        if store
            .setting(&applied_setting(shipped.path))
            .await?
            .as_deref()
            == Some(hash.as_str())
        {
            continue;
        }
        let request = ImportRequest {
            bytes: shipped.text.as_bytes(),
            context: Map::new(),
            files: None,
            acting_user: None,
            dry_run: false,
            expressions,
            env: &EnvAccess::All,
        };
        let report = import(store, request).await?;
        if let Some(error) = report.error {
            return Err(DefaultsError::Refused {
                path: shipped.path,
                error,
            });
        }
        store
            .set_setting(&applied_setting(shipped.path), &hash)
            .await?;
        applied.push(shipped.path);
    }
    Ok(applied)
}

#[derive(Debug, thiserror::Error)]
pub enum DefaultsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the shipped blueprint {path} was refused: {error}")]
    Refused {
        path: &'static str,
        error: BlueprintError,
    },
}

/// A blueprint of the flow `slug` with everything it is built from: its stages (and stages
/// they refer to), prompts, policies and their bindings, and groups stages add users to.
/// References become `!KeyOf` to the exported entries, or `!Find` by a natural key (slug,
/// username) for objects outside the export, so the file imports into another akin.
/// `None` when there is no such flow.
pub async fn export_flow(store: &Store, slug: &str) -> Result<Option<String>, StoreError> {
    let mut tx = store.db().begin().await?;
    let Some(flow) = tx.flow_by_slug(slug).await? else {
        return Ok(None);
    };
    let flow_pk = flow["pk"].clone();
    let bindings = tx
        .bindings_in_order(catalog::FLOW_STAGE_BINDING, &flow_pk)
        .await?;

    // Stages: the bound ones, then any they refer to, each once.
    let mut stages: Vec<(&'static str, Map<String, Value>)> = Vec::new();
    let mut queue: Vec<Value> = bindings.iter().map(|b| b["stage"].clone()).collect();
    while let Some(pk) = queue.pop() {
        if stages.iter().any(|(_, s)| s["pk"] == pk) {
            continue;
        }
        let Some((model, stage)) = find_stage(&mut tx, &pk).await? else {
            continue;
        };
        for referenced in references(model, &stage, catalog::STAGE) {
            queue.push(referenced);
        }
        stages.push((model, stage));
    }
    // Stages that refer to no other stage first, so every !KeyOf points backwards.
    stages.sort_by_key(|(model, stage)| !references(model, stage, catalog::STAGE).is_empty());

    let mut targets = vec![flow_pk.clone()];
    targets.extend(bindings.iter().map(|b| b["pk"].clone()));
    let mut policy_bindings = Vec::new();
    for target in &targets {
        policy_bindings.extend(
            tx.bindings_in_order(catalog::POLICY_BINDING, target)
                .await?,
        );
    }

    let mut prompts = Vec::new();
    let mut policies = Vec::new();
    let mut groups = Vec::new();
    let mut wanted_policies: Vec<Value> = policy_bindings
        .iter()
        .map(|b| b["policy"].clone())
        .collect();
    let mut wanted_groups: Vec<Value> =
        policy_bindings.iter().map(|b| b["group"].clone()).collect();
    for (model, stage) in &stages {
        for pk in references(model, stage, catalog::PROMPT) {
            if !prompts.iter().any(|p: &Map<String, Value>| p["pk"] == pk)
                && let Some(prompt) = first(&mut tx, catalog::PROMPT, &pk).await?
            {
                prompts.push(prompt);
            }
        }
        wanted_policies.extend(references(model, stage, catalog::POLICY));
        wanted_groups.extend(references(model, stage, catalog::GROUP));
    }
    for pk in wanted_policies.into_iter().filter(|v| !v.is_null()) {
        if !policies
            .iter()
            .any(|(_, p): &(&str, Map<String, Value>)| p["pk"] == pk)
            && let Some(found) = tx
                .find_policies(std::slice::from_ref(&pk))
                .await?
                .into_iter()
                .next()
        {
            policies.push(found);
        }
    }
    for pk in wanted_groups.into_iter().filter(|v| !v.is_null()) {
        if !groups.iter().any(|g: &Map<String, Value>| g["pk"] == pk)
            && let Some(group) = first(&mut tx, catalog::GROUP, &pk).await?
        {
            groups.push(group);
        }
    }

    let mut ids: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let key = |v: &Value| akin_blueprint::resolve::scalar_text(v);
    let mut entries = Vec::new();
    let mut exporter = Exporter {
        tx: &mut tx,
        ids: &mut ids,
    };
    for group in &groups {
        let id = format!("group-{}", key(&group["name"]));
        entries.push(
            exporter
                .entry(catalog::GROUP, group, &["name"], id, Some("created"))
                .await?,
        );
    }
    for prompt in &prompts {
        let id = format!("prompt-{}", key(&prompt["name"]));
        entries.push(
            exporter
                .entry(catalog::PROMPT, prompt, &["name"], id, None)
                .await?,
        );
    }
    for (model, policy) in &policies {
        let id = format!("policy-{}", key(&policy["name"]));
        entries.push(exporter.entry(model, policy, &["name"], id, None).await?);
    }
    for (model, stage) in &stages {
        let id = format!("stage-{}", key(&stage["name"]));
        entries.push(exporter.entry(model, stage, &["name"], id, None).await?);
    }
    entries.push(
        exporter
            .entry(catalog::FLOW, &flow, &["slug"], "flow".to_owned(), None)
            .await?,
    );
    for binding in &bindings {
        // Named after the stage's export id, so the file holds no database keys.
        let stage = key(&binding["stage"]);
        let stage_id = exporter.ids.get(&stage).cloned().unwrap_or(stage);
        let id = format!("binding-{}-{stage_id}", key(&binding["order"]));
        entries.push(
            exporter
                .entry(
                    catalog::FLOW_STAGE_BINDING,
                    binding,
                    &["target", "stage", "order"],
                    id,
                    None,
                )
                .await?,
        );
    }
    for binding in &policy_bindings {
        let identifying: &[&str] = if !binding["policy"].is_null() {
            &["target", "policy", "order"]
        } else if !binding["group"].is_null() {
            &["target", "group", "order"]
        } else {
            &["target", "user", "order"]
        };
        let id = format!("policy-binding-{}", key(&binding["pk"]));
        let mut entry = exporter
            .entry(catalog::POLICY_BINDING, binding, identifying, id, None)
            .await?;
        entry.id = None;
        entries.push(entry);
    }
    let name = format!("akin export - {}", key(&flow["name"]));
    Ok(Some(akin_blueprint::export::to_yaml(&name, &entries)))
}

/// The primary keys `object` (of `model`) refers to in fields pointing at `target` models.
fn references(model: &str, object: &Map<String, Value>, target: &str) -> Vec<Value> {
    let Some(spec) = catalog::spec(model) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for field in spec.fields {
        match (field.ty, object.get(field.name)) {
            (FieldType::Ref(m), Some(v)) if m == target && !v.is_null() => out.push(v.clone()),
            (FieldType::RefList(m), Some(Value::Array(items))) if m == target => {
                out.extend(items.iter().cloned())
            }
            _ => {}
        }
    }
    out
}

async fn first(
    tx: &mut Tx,
    model: &str,
    pk: &Value,
) -> Result<Option<Map<String, Value>>, StoreError> {
    Ok(tx
        .find_objects(model, &[("pk".to_owned(), pk.clone())])
        .await?
        .into_iter()
        .next())
}

/// A stage of any kind, with its model name.
pub async fn find_stage(
    tx: &mut Tx,
    pk: &Value,
) -> Result<Option<(&'static str, Map<String, Value>)>, StoreError> {
    // Its kind first, then the stage: two queries, not one per kind.
    Ok(tx
        .find_stages(std::slice::from_ref(pk))
        .await?
        .into_iter()
        .next())
}

/// Turns stored objects into export entries, remembering ids for `!KeyOf`.
struct Exporter<'a> {
    tx: &'a mut Tx,
    ids: &'a mut std::collections::HashMap<String, String>,
}

impl Exporter<'_> {
    async fn entry(
        &mut self,
        model: &str,
        object: &Map<String, Value>,
        identifying: &[&str],
        id: String,
        state: Option<&'static str>,
    ) -> Result<akin_blueprint::export::ExportEntry, StoreError> {
        use akin_blueprint::export::{ExportEntry, Out};
        let spec =
            catalog::spec(model).ok_or_else(|| StoreError::UnsupportedModel(model.to_owned()))?;
        let mut identifiers = Vec::new();
        let mut attrs = Vec::new();
        // Secrets (an email stage's SMTP password) stay out of the file.
        for field in spec.fields.iter().filter(|f| !f.write_only) {
            let Some(value) = object.get(field.name) else {
                continue;
            };
            let out = match field.ty {
                FieldType::Ref(m) => self.reference(m, value).await?,
                FieldType::RefList(m) => {
                    let mut items = Vec::new();
                    for item in value.as_array().into_iter().flatten() {
                        items.push(self.reference(m, item).await?);
                    }
                    Out::Seq(items)
                }
                _ => Out::Json(value.clone()),
            };
            if identifying.contains(&field.name) {
                identifiers.push((field.name.to_owned(), out));
            } else {
                attrs.push((field.name.to_owned(), out));
            }
        }
        self.ids.insert(
            akin_blueprint::resolve::scalar_text(&object["pk"]),
            id.clone(),
        );
        Ok(ExportEntry {
            model: model.to_owned(),
            id: Some(id),
            state,
            identifiers,
            attrs,
        })
    }

    /// An exported object as `!KeyOf`; a flow or user outside the export by `!Find`.
    async fn reference(
        &mut self,
        model: &str,
        pk: &Value,
    ) -> Result<akin_blueprint::export::Out, StoreError> {
        use akin_blueprint::export::Out;
        if pk.is_null() {
            return Ok(Out::Json(Value::Null));
        }
        if let Some(id) = self.ids.get(&akin_blueprint::resolve::scalar_text(pk)) {
            return Ok(Out::KeyOf(id.clone()));
        }
        let natural = match model {
            catalog::FLOW => Some("slug"),
            catalog::USER => Some("username"),
            catalog::GROUP => Some("name"),
            _ => None,
        };
        if let Some(field) = natural
            && let Some(object) = first(self.tx, model, pk).await?
        {
            return Ok(Out::Find(
                model.to_owned(),
                field.to_owned(),
                object[field].clone(),
            ));
        }
        Ok(Out::Json(Value::Null))
    }
}
