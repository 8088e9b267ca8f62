//! akin's engine: where flows run. It plans a flow for a visitor (stages, bindings,
//! policies), runs one step of it (plan + response → outcome) through one module per stage
//! kind, evaluates policies, and records what happened. It knows nothing of HTTP: the web
//! layer decodes a request into a [`FlowRequest`], lends the browser's session through
//! [`FlowSession`], and renders the [`Step`] it gets back as JSON or HTML.

pub mod audit;
pub mod blueprint_instances;
pub mod blueprints;
pub mod bulk_invitations;
mod definitions;
mod error;
mod executor;
pub mod hashing;
pub mod invitations;
pub mod mail;
pub mod metrics;
pub mod objects;
pub mod password;
pub mod password_policy;
mod planner;
pub mod policy;
mod reputation;
mod request;
mod stages;
mod throttle;

use std::sync::Arc;

use akin_domain::policy::ExpressionEngine;
use akin_domain::ports::PasswordHasher;
use akin_store::Store;

pub use blueprint_instances::{AvailableBlueprint, BlueprintFolder};
pub use error::{FlowError, FlowResult};
pub use executor::{FlowRequest, FlowSession, Step, is_local_path};
pub use request::RequestInfo;

/// What the engine works with: the store, password hashing and expressions. Cheap to
/// clone (every part is shared).
#[derive(Clone)]
pub struct Engine {
    pub store: Store,
    /// Password hashing, bounded (see `hashing`).
    pub hashing: hashing::Hashing,
    /// Runs expression policies (sandboxed Starlark in the binary).
    pub expressions: Arc<dyn ExpressionEngine>,
    /// Where blueprint instances and `path` imports read blueprints from.
    pub blueprints: BlueprintFolder,
    /// What `!Env` reads in blueprints uploaded through the API and the admin pages.
    pub uploaded_blueprint_env: Arc<akin_blueprint::env::EnvAccess>,
    /// How mail is composed and sent.
    pub mail: mail::SharedMail,
    /// Wakes this node's delivery worker when mail is queued (other nodes poll).
    pub outbox_waker: Arc<tokio::sync::Notify>,
    /// What `/metrics` shows (this process's counters).
    pub metrics: Arc<metrics::Metrics>,
    /// Where password policies look up breached passwords (none until the binary sets
    /// one: every lookup then counts as unreachable).
    pub breaches: password_policy::BreachCheck,
    /// A hash of nothing anyone knows, checked in place of a missing account's so that a
    /// wrong identifier costs the time a wrong password does.
    pub(crate) decoy_hash: Arc<std::sync::OnceLock<String>>,
    /// Flows as planning needs them, kept until they change (see `definitions`).
    pub(crate) definitions: Arc<definitions::FlowDefinitions>,
}

/// When this process started serving: the `last_m` of shipped blueprints, which are part
/// of the binary.
pub static STARTED: std::sync::OnceLock<time::OffsetDateTime> = std::sync::OnceLock::new();

impl Engine {
    pub fn new(
        store: Store,
        hasher: Arc<dyn PasswordHasher>,
        expressions: Arc<dyn ExpressionEngine>,
    ) -> Self {
        Self {
            store,
            hashing: hashing::Hashing::new(hasher, hashing::HashingLimits::default()),
            expressions,
            blueprints: BlueprintFolder::default(),
            // Nothing, until the operator allows some (`AKIN_BLUEPRINT_ENV_ALLOW`).
            uploaded_blueprint_env: Arc::new(akin_blueprint::env::EnvAccess::Allowed(
                akin_blueprint::env::EnvAllowList::default(),
            )),
            mail: mail::SharedMail::default(),
            outbox_waker: Arc::default(),
            metrics: Arc::default(),
            breaches: password_policy::BreachCheck::default(),
            decoy_hash: Arc::default(),
            definitions: Arc::new(definitions::cache()),
        }
    }

    /// The engine hashing passwords within `limits`.
    pub fn with_hashing_limits(mut self, limits: hashing::HashingLimits) -> Self {
        self.hashing = hashing::Hashing::new(self.hashing.hasher().clone(), limits);
        self
    }

    /// The engine sending mail with `settings`.
    pub fn with_mail(mut self, settings: mail::MailSettings) -> Self {
        self.mail = std::sync::Arc::new(settings);
        self
    }

    /// `/metrics` in Prometheus' text format, the gauges read now.
    pub async fn metrics_text(&self) -> FlowResult<String> {
        let load = self.hashing.load();
        let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.metrics.hashes_running.set(gauge(load.running));
        self.metrics.hashes_waiting.set(gauge(load.waiting));
        for (status, count) in self.store.unsent_messages().await? {
            self.metrics
                .outbox
                .get_or_create(&metrics::StatusLabels { status })
                .set(count);
        }
        Ok(self.metrics.encode())
    }

    /// The engine letting uploaded blueprints' `!Env` read the variables `allowed` names.
    pub fn with_uploaded_blueprint_env(
        mut self,
        allowed: akin_blueprint::env::EnvAllowList,
    ) -> Self {
        self.uploaded_blueprint_env = Arc::new(akin_blueprint::env::EnvAccess::Allowed(allowed));
        self
    }

    /// The engine looking breached passwords up with `check` (password policies).
    pub fn with_breach_check(mut self, check: password_policy::BreachCheck) -> Self {
        self.breaches = check;
        self
    }

    /// The engine reading blueprints from `folder` too.
    pub fn with_blueprints(mut self, folder: BlueprintFolder) -> Self {
        self.blueprints = folder;
        self
    }

    /// `POST /api/v3/stages/prompt/prompts/preview/`: `prompt`'s challenge fields as a
    /// flow would show them to `user`, its expressions evaluated (authentik's dry run); an
    /// expression that fails is reported, not hidden.
    pub async fn preview_prompt(
        &self,
        prompt: akin_domain::stage::prompt::Prompt,
        origin: &RequestInfo,
        user: Option<i64>,
    ) -> FlowResult<Result<Vec<serde_json::Value>, String>> {
        let request = policy::flow_request(self, origin, user, &serde_json::Map::new()).await?;
        let computed =
            stages::prompt::compute(self, request, vec![prompt], serde_json::Map::new()).await?;
        if let Some((_, error)) = computed.errors.into_iter().next() {
            return Ok(Err(error));
        }
        Ok(Ok(akin_domain::stage::prompt::challenge_fields(
            &computed.prompts,
            &computed.data,
            &serde_json::Map::new(),
        )))
    }

    /// Hashes `password` off the async threads, within the hashing limits.
    pub(crate) async fn hash_password(&self, password: String) -> FlowResult<String> {
        self.hashing.hash(password).await
    }
}
