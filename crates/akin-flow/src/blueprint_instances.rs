//! Blueprint instances: applying one (its file or inline content, with its own context) and
//! recording how it went, and watching the blueprints folder (`AKIN_BLUEPRINTS_DIR`) as
//! authentik does: a file found there becomes an instance (unless its labels say
//! `blueprints.goauthentik.io/instantiate: "false"`), and an instance whose text changed is
//! applied again. One node at a time watches (a lease in the database), so several nodes on
//! one PostgreSQL apply each change once.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use akin_blueprint::{blueprint, shipped, yaml::MAX_BLUEPRINT_BYTES};
use akin_domain::blueprint_instance::{
    ApplyOutcome, BlueprintInstance, INSTANTIATE_LABEL, InstanceFields, InstanceStatus,
};
use akin_store::StoreError;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::Engine;
use crate::blueprints::{ImportRequest, content_hash, import};
use crate::error::FlowError;

/// The lease the folder watcher holds.
const WATCH_LEASE: &str = "blueprints_folder";
/// How many files a folder may hold before the rest are ignored (and logged).
const MAX_FILES: usize = 1000;
/// How deep the folder is searched.
const MAX_DEPTH: usize = 8;

/// Where blueprints are read from: the administrator's folder, then the ones akin ships.
#[derive(Debug, Clone, Default)]
pub struct BlueprintFolder {
    pub dir: Option<PathBuf>,
}

/// A blueprint that can be instantiated or imported by `path` (authentik's `BlueprintFile`).
#[derive(Debug, Clone, PartialEq)]
pub struct AvailableBlueprint {
    pub path: String,
    pub text: String,
    pub hash: String,
    pub last_modified: OffsetDateTime,
    /// The blueprint's `metadata` (name and labels), when it has one and parses.
    pub metadata: Option<Value>,
    /// In the folder (rather than shipped with akin).
    pub in_folder: bool,
}

impl AvailableBlueprint {
    /// Whether the folder watcher makes an instance of it.
    fn instantiate(&self) -> bool {
        let label = self
            .metadata
            .as_ref()
            .and_then(|m| m["labels"][INSTANTIATE_LABEL].as_str())
            .unwrap_or_default();
        !label.eq_ignore_ascii_case("false")
    }

    fn name(&self) -> String {
        self.metadata
            .as_ref()
            .and_then(|m| m["name"].as_str())
            .map_or_else(|| self.path.clone(), str::to_owned)
    }
}

fn metadata_of(text: &str) -> Option<Value> {
    let loaded = blueprint::load(text.as_bytes()).ok()?;
    let name = loaded.name?;
    Some(json!({"name": name, "labels": loaded.labels}))
}

/// `path` as a relative path inside a folder: no root, no `..`.
fn inside(dir: &Path, path: &str) -> Option<PathBuf> {
    let relative = Path::new(path);
    relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then(|| dir.join(relative))
}

impl BlueprintFolder {
    /// Every blueprint file in the folder (`*.yaml`, `*.yml`, searched to a depth of 8, at
    /// most 1,000), then the ones akin ships that no file of the folder shadows.
    pub fn available(&self) -> Vec<AvailableBlueprint> {
        let mut found = Vec::new();
        if let Some(dir) = &self.dir {
            walk(dir, dir, 0, &mut found);
            found.sort_by(|a, b| a.path.cmp(&b.path));
        }
        let started = *crate::STARTED.get_or_init(OffsetDateTime::now_utc);
        for s in shipped::SHIPPED {
            if found.iter().any(|f| f.path == s.path) {
                continue;
            }
            found.push(AvailableBlueprint {
                path: s.path.to_owned(),
                text: s.text.to_owned(),
                hash: content_hash(s.text),
                last_modified: started,
                metadata: metadata_of(s.text),
                in_folder: false,
            });
        }
        found
    }

    /// The text of the blueprint at `path`: the folder's file, else the shipped one.
    pub fn read(&self, path: &str) -> Option<String> {
        if let Some(file) = self.dir.as_deref().and_then(|dir| inside(dir, path))
            && let Some(text) = read_limited(&file)
        {
            return Some(text);
        }
        shipped::find(Some(path), None).map(|s| s.text.to_owned())
    }
}

fn read_limited(file: &Path) -> Option<String> {
    let meta = std::fs::metadata(file).ok()?;
    if !meta.is_file() || meta.len() > MAX_BLUEPRINT_BYTES as u64 {
        return None;
    }
    std::fs::read_to_string(file).ok()
}

fn walk(root: &Path, dir: &Path, depth: usize, found: &mut Vec<AvailableBlueprint>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(std::fs::DirEntry::path);
    for entry in entries {
        if found.len() >= MAX_FILES {
            tracing::warn!(dir = %root.display(), "more than {MAX_FILES} blueprint files; the rest are ignored");
            return;
        }
        let path = entry.path();
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            if depth < MAX_DEPTH {
                walk(root, &path, depth + 1, found);
            }
            continue;
        }
        let yaml = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
        let Some(relative) = path.strip_prefix(root).ok().and_then(Path::to_str) else {
            continue;
        };
        if !yaml || relative.starts_with('.') {
            continue;
        }
        let Some(text) = read_limited(&path) else {
            continue;
        };
        found.push(AvailableBlueprint {
            path: relative.replace(std::path::MAIN_SEPARATOR, "/"),
            hash: content_hash(&text),
            last_modified: meta
                .modified()
                .map(OffsetDateTime::from)
                .unwrap_or_else(|_| OffsetDateTime::now_utc()),
            metadata: metadata_of(&text),
            text,
            in_folder: true,
        });
    }
}

/// The models a blueprint's entries write, each once, in order.
fn managed_models(text: &str) -> Vec<String> {
    let mut models: Vec<String> = Vec::new();
    if let Ok(loaded) = blueprint::load(text.as_bytes()) {
        for entry in loaded.entries {
            if !models.contains(&entry.model) {
                models.push(entry.model);
            }
        }
    }
    models
}

fn log(level: &str, event: &str) -> Value {
    json!({
        "timestamp": akin_domain::time_format::format_datetime(OffsetDateTime::now_utc()),
        "log_level": level, "logger": "akin.blueprints", "event": event, "attributes": {},
    })
}

impl Engine {
    /// Checks an instance an administrator writes: authentik's field rules, a `path` that
    /// names an available blueprint, and `content` that would apply (a dry run).
    pub async fn check_blueprint_instance(&self, fields: &InstanceFields) -> Result<(), FlowError> {
        fields.validate()?;
        let mut errors = akin_domain::FieldErrors::new();
        if !fields.path.is_empty() && self.blueprints.read(&fields.path).is_none() {
            errors.add("path", "Blueprint file does not exist");
        }
        if !fields.content.is_empty() {
            let report = import(
                &self.store,
                ImportRequest {
                    bytes: fields.content.as_bytes(),
                    context: fields.context.clone(),
                    files: None,
                    acting_user: None,
                    dry_run: true,
                    expressions: self.expressions.as_ref(),
                    // The blueprints folder: the operator's own files.
                    env: &akin_blueprint::env::EnvAccess::All,
                },
            )
            .await?;
            if let Some(error) = report.error {
                errors.add("content", "Failed to validate blueprint");
                errors.add("content", format!("- {error}"));
            }
        }
        errors.into_result().map_err(FlowError::from)
    }

    /// Applies `instance` now (unless it is disabled) and records how it went: `successful`
    /// with the log, `error` with the reason, `orphaned` when its file is gone.
    pub async fn apply_blueprint_instance(
        &self,
        instance: &BlueprintInstance,
    ) -> Result<BlueprintInstance, FlowError> {
        if !instance.enabled {
            return Ok(instance.clone());
        }
        let text = if instance.content.is_empty() {
            self.blueprints.read(&instance.path)
        } else {
            Some(instance.content.clone())
        };
        let now = OffsetDateTime::now_utc();
        let outcome = match text {
            None => ApplyOutcome {
                status: InstanceStatus::Orphaned,
                hash: instance.last_applied_hash.clone(),
                managed_models: instance.managed_models.clone(),
                metadata: instance.metadata.clone(),
                logs: vec![log(
                    "error",
                    &format!("the blueprint file {} does not exist", instance.path),
                )],
                at: now,
            },
            Some(text) => {
                let files = self.blueprints.dir.as_deref();
                let report = import(
                    &self.store,
                    ImportRequest {
                        bytes: text.as_bytes(),
                        context: instance.context.clone(),
                        files,
                        acting_user: None,
                        dry_run: false,
                        expressions: self.expressions.as_ref(),
                        env: &akin_blueprint::env::EnvAccess::All,
                    },
                )
                .await?;
                let status = if report.success() {
                    InstanceStatus::Successful
                } else {
                    InstanceStatus::Error
                };
                if let Some(error) = &report.error {
                    tracing::warn!(instance = %instance.name, %error, "blueprint instance refused");
                }
                ApplyOutcome {
                    status,
                    hash: content_hash(&text),
                    managed_models: managed_models(&text),
                    metadata: metadata_of(&text).unwrap_or_else(|| json!({})),
                    logs: report.logs(),
                    at: now,
                }
            }
        };
        self.store
            .record_blueprint_apply(instance.uuid, &outcome)
            .await?;
        Ok(self
            .store
            .blueprint_instance(instance.uuid)
            .await?
            .unwrap_or_else(|| instance.clone()))
    }

    /// One pass of the folder watcher on behalf of node `holder`: nothing unless it holds the
    /// lease; then every new file becomes an instance, every enabled instance whose text
    /// changed is applied, and instances whose file is gone are marked orphaned. Returns the
    /// names of the instances applied.
    pub async fn watch_blueprints_once(
        &self,
        holder: &str,
        lease: Duration,
    ) -> Result<Vec<String>, FlowError> {
        if self.blueprints.dir.is_none() {
            return Ok(Vec::new());
        }
        let now = OffsetDateTime::now_utc();
        if !self
            .store
            .take_lease(WATCH_LEASE, holder, now, now + lease)
            .await?
        {
            return Ok(Vec::new());
        }
        let folder = self.blueprints.clone();
        let available = tokio::task::spawn_blocking(move || folder.available()).await?;
        let mut instances = self.store.all_blueprint_instances().await?;
        for file in available.iter().filter(|f| f.in_folder && f.instantiate()) {
            if instances.iter().any(|i| i.path == file.path) {
                continue;
            }
            let fields = InstanceFields {
                name: file.name(),
                path: file.path.clone(),
                content: String::new(),
                context: Map::new(),
                enabled: true,
            };
            let metadata = file.metadata.clone().unwrap_or_else(|| json!({}));
            let created = match self
                .store
                .create_blueprint_instance(&fields, &metadata)
                .await
            {
                Ok(created) => created,
                // Another file already has that name: this one goes by its path.
                Err(StoreError::Unique { .. }) => {
                    let fields = InstanceFields {
                        name: file.path.clone(),
                        ..fields
                    };
                    self.store
                        .create_blueprint_instance(&fields, &metadata)
                        .await?
                }
                Err(other) => return Err(other.into()),
            };
            instances.push(created);
        }
        let mut applied = Vec::new();
        for instance in instances
            .iter()
            .filter(|i| i.enabled && i.content.is_empty())
        {
            match available.iter().find(|f| f.path == instance.path) {
                Some(file) if file.hash != instance.last_applied_hash => {
                    self.apply_blueprint_instance(instance).await?;
                    applied.push(instance.name.clone());
                }
                Some(_) => {}
                None if instance.status != InstanceStatus::Orphaned => {
                    self.store
                        .set_blueprint_status(instance.uuid, InstanceStatus::Orphaned)
                        .await?;
                }
                None => {}
            }
        }
        Ok(applied)
    }
}
