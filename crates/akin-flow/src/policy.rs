//! Evaluating policy bindings for a target (a flow, a flow-stage binding) or a list of
//! policies (a prompt stage's validation policies): loads what the domain's engine needs
//! (policies of every kind, reputation scores), runs expressions on a blocking thread,
//! records `policy_exception` and `policy_execution` events.

use std::time::Duration;

use akin_domain::catalog;
use akin_domain::event::EventAction;
use akin_domain::policy::{
    self, Binding, BindingSubject, EngineMode, ExpressionMail, Policy, PolicyDirectory, PolicyKind,
    PolicyRequest, PolicyUser, PolicyVerdict, ReputationPolicy,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::runtime::Handle;
use uuid::Uuid;

use crate::audit;
use crate::{Engine, FlowResult, RequestInfo};

/// A user as policies see them, groups (with parents) included.
pub async fn policy_user(engine: &Engine, pk: i64) -> FlowResult<Option<PolicyUser>> {
    let Some(entry) = engine.store.user_by_pk(pk).await? else {
        return Ok(None);
    };
    let groups = engine.store.groups_with_ancestors(pk).await?;
    Ok(Some(to_policy_user(entry, groups)))
}

fn to_policy_user(entry: akin_domain::user::UserEntry, groups: Vec<(Uuid, String)>) -> PolicyUser {
    PolicyUser {
        has_usable_password: entry
            .user
            .password
            .as_deref()
            .is_some_and(|p| !p.is_empty()),
        pk: entry.user.pk,
        username: entry.user.username,
        name: entry.user.name,
        email: entry.user.email,
        is_active: entry.user.is_active,
        is_superuser: entry.is_superuser,
        attributes: entry
            .user
            .attributes
            .as_object()
            .cloned()
            .unwrap_or_default(),
        groups: groups.into_iter().map(|(_, name)| name).collect(),
        path: entry.user.path,
        user_type: entry.user.user_type.as_str().to_owned(),
    }
}

/// The request policies see in a flow: the pending user (else the signed-in one), the
/// plan's context with `pending_user` as a user, and the HTTP request.
pub async fn flow_request(
    engine: &Engine,
    origin: &RequestInfo,
    signed_in: Option<i64>,
    context: &Map<String, Value>,
) -> FlowResult<PolicyRequest> {
    use akin_domain::flow::plan::{PENDING_USER, PendingUser};
    let pending = PendingUser::of(context);
    let mut context = context.clone();
    let mut user = Value::Null;
    if let Some(PendingUser::Unknown(identifier)) = &pending {
        // As authentik's unsaved stand-in: the identifier as username and email, no pk.
        user = serde_json::json!({
            "pk": null, "username": identifier, "email": identifier, "name": "",
            "is_active": true, "is_superuser": false, "attributes": {}, "groups": [],
        });
        context.insert(PENDING_USER.into(), user.clone());
    } else if let Some(pk) = pending
        .as_ref()
        .and_then(PendingUser::account)
        .or(signed_in)
        && let Some(found) = policy_user(engine, pk).await?
    {
        user = found.to_value();
        if pending.is_some() {
            context.insert(PENDING_USER.into(), user.clone());
        }
    }
    Ok(PolicyRequest {
        user,
        context,
        http: Some(http_request(origin)),
    })
}

/// The HTTP request as expressions see it (`request.http_request`, `ak_client_ip`): only
/// what identifies the browser, never cookies or credentials.
pub fn http_request(origin: &RequestInfo) -> policy::HttpRequestInfo {
    policy::HttpRequestInfo {
        path: origin.path.clone(),
        method: origin.method.clone(),
        headers: [(
            "user-agent".to_owned(),
            Value::String(origin.user_agent.clone()),
        )]
        .into_iter()
        .collect(),
        client_ip: origin.client_ip.clone().unwrap_or_default(),
    }
}

/// What every policy's stored row has, whatever its kind.
#[derive(Deserialize)]
struct StoredPolicyBase {
    name: String,
    execution_logging: bool,
}

/// An expression policy's own stored field.
#[derive(Deserialize)]
struct StoredExpression {
    expression: String,
}

/// A stored policy of `model` as evaluation needs it; `None` (with an error in the log)
/// for a row that does not parse or a kind akin does not evaluate.
fn policy_of(model: &str, row: &Map<String, Value>) -> Option<Policy> {
    let base = stored::<StoredPolicyBase>(model, row)?;
    let kind = match model {
        catalog::EXPRESSION_POLICY => PolicyKind::Expression {
            expression: stored::<StoredExpression>(model, row)?.expression,
        },
        catalog::REPUTATION_POLICY => PolicyKind::Reputation(stored(model, row)?),
        catalog::PASSWORD_POLICY => PolicyKind::Password(stored(model, row)?),
        other => {
            tracing::error!(model = other, "a policy of a kind akin cannot evaluate");
            return None;
        }
    };
    Some(Policy {
        name: base.name,
        execution_logging: base.execution_logging,
        kind,
    })
}

/// The policies with these primary keys, whatever their kinds, by primary key.
async fn policies_by_pk(
    tx: &mut akin_store::Tx,
    pks: &[Value],
) -> FlowResult<std::collections::HashMap<Uuid, Policy>> {
    let mut found = std::collections::HashMap::new();
    for (model, row) in tx.find_policies(pks).await? {
        let pk = row
            .get("pk")
            .and_then(Value::as_str)
            .and_then(|pk| Uuid::parse_str(pk).ok());
        if let (Some(pk), Some(policy)) = (pk, policy_of(model, &row)) {
            found.insert(pk, policy);
        }
    }
    Ok(found)
}

/// A policy of any kind by its primary key.
pub async fn find_policy(engine: &Engine, pk: Uuid) -> FlowResult<Option<Policy>> {
    let mut tx = engine.store.db().begin().await?;
    Ok(policies_by_pk(&mut tx, &[Value::String(pk.to_string())])
        .await?
        .remove(&pk))
}

/// A policy of any kind by its name (names are unique across kinds).
async fn policy_named(engine: &Engine, name: &str) -> FlowResult<Option<Policy>> {
    let mut tx = engine.store.db().begin().await?;
    Ok(tx
        .find_member_named(catalog::Family::Policy, name)
        .await?
        .and_then(|(model, row)| policy_of(model, &row)))
}

/// A policy binding's stored row (defaults are the catalog's).
#[derive(Deserialize)]
struct StoredPolicyBinding {
    policy: Option<Uuid>,
    group: Option<Uuid>,
    user: Option<i64>,
    order: i64,
    negate: bool,
    enabled: bool,
    /// Seconds; at least one (and at most [`policy::MAX_TIMEOUT`], where evaluation caps it).
    timeout: i64,
    failure_result: bool,
}

/// Reads a stored row of `model`; a row that does not parse (written around the API) is
/// left out with an error in the log, as a binding to a deleted policy is.
fn stored<T: serde::de::DeserializeOwned>(model: &str, row: &Map<String, Value>) -> Option<T> {
    catalog::typed(model, row)
        .inspect_err(|error| tracing::error!(%error, model, "stored row does not parse"))
        .ok()
}

/// The policy bindings of `target`, as the engine needs them.
pub async fn bindings_of(engine: &Engine, target: &Value) -> FlowResult<Vec<Binding>> {
    let mut tx = engine.store.db().begin().await?;
    let rows = tx
        .find_objects(
            catalog::POLICY_BINDING,
            &[("target".to_owned(), target.clone())],
        )
        .await?;
    let stored_bindings: Vec<StoredPolicyBinding> = rows
        .iter()
        .filter_map(|row| stored(catalog::POLICY_BINDING, row))
        .collect();
    let policy_pks: Vec<Value> = stored_bindings
        .iter()
        .filter_map(|b| b.policy)
        .map(|pk| Value::String(pk.to_string()))
        .collect();
    let policies = if policy_pks.is_empty() {
        Default::default()
    } else {
        policies_by_pk(&mut tx, &policy_pks).await?
    };
    let mut bindings = Vec::with_capacity(stored_bindings.len());
    for binding in stored_bindings {
        let subject = match (binding.policy, binding.group, binding.user) {
            (Some(policy), _, _) => {
                // A binding to a policy that is gone (or does not parse) is left out.
                let Some(found) = policies.get(&policy) else {
                    continue;
                };
                BindingSubject::Policy(found.clone())
            }
            (None, Some(group), _) => BindingSubject::Group(group.to_string()),
            (None, None, Some(user)) => BindingSubject::User(user),
            (None, None, None) => continue,
        };
        bindings.push(Binding {
            subject,
            order: binding.order,
            negate: binding.negate,
            enabled: binding.enabled,
            timeout: Duration::from_secs(u64::try_from(binding.timeout).unwrap_or(0).max(1)),
            failure_result: binding.failure_result,
        });
    }
    Ok(policy::active(bindings))
}

/// Which of `targets` have an enabled policy binding (cheap, one query: decides whether
/// to evaluate). Reads through the caller's transaction: taking a second connection while holding one
/// would deadlock once every pooled connection is held by a waiting request.
pub async fn targets_with_bindings(
    tx: &mut akin_store::Tx,
    targets: &[Value],
) -> FlowResult<std::collections::HashSet<String>> {
    let rows = tx
        .find_objects_in(catalog::POLICY_BINDING, "target", targets)
        .await?;
    Ok(rows
        .iter()
        .filter(|row| {
            stored::<StoredPolicyBinding>(catalog::POLICY_BINDING, row).is_some_and(|b| b.enabled)
        })
        .filter_map(|row| row.get("target").and_then(Value::as_str))
        .map(str::to_owned)
        .collect())
}

/// Policies by pk, as bindings that pass when the policy passes (a prompt stage's
/// `validation_policies`), in the order given.
pub async fn policies_as_bindings(engine: &Engine, pks: &[Uuid]) -> FlowResult<Vec<Binding>> {
    if pks.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = engine.store.db().begin().await?;
    let keys: Vec<Value> = pks.iter().map(|pk| Value::String(pk.to_string())).collect();
    let policies = policies_by_pk(&mut tx, &keys).await?;
    Ok(pks
        .iter()
        .filter_map(|pk| policies.get(pk))
        .enumerate()
        .map(|(order, policy)| Binding {
            subject: BindingSubject::Policy(policy.clone()),
            order: order as i64,
            negate: false,
            enabled: true,
            timeout: Duration::from_secs(30),
            failure_result: false,
        })
        .collect())
}

/// The score a reputation policy compares for `request`: of its client address, of its
/// user's username, or of both, as the policy checks.
async fn reputation_score(
    engine: &Engine,
    policy: &ReputationPolicy,
    request: &PolicyRequest,
) -> FlowResult<i64> {
    let ip = request
        .http
        .as_ref()
        .map(|http| http.client_ip.as_str())
        .filter(|ip| policy.check_ip && !ip.is_empty());
    let username = request
        .user
        .get("username")
        .and_then(Value::as_str)
        .filter(|name| policy.check_username && !name.is_empty());
    Ok(engine
        .store
        .reputation_score(ip, username, time::OffsetDateTime::now_utc())
        .await?)
}

/// What a policy's verdict needs that is found outside the blocking thread evaluation
/// runs on: a reputation policy's score (the database), a password policy's whole verdict
/// (the breach lookup goes over the network).
enum Ahead {
    Score(i64),
    Verdict(PolicyVerdict),
}

/// Finds what `policy` needs ahead of its evaluation (`None` for expressions).
async fn ahead_of(
    engine: &Engine,
    policy: &Policy,
    request: &PolicyRequest,
) -> FlowResult<Option<Ahead>> {
    Ok(match &policy.kind {
        PolicyKind::Reputation(reputation) => Some(Ahead::Score(
            reputation_score(engine, reputation, request).await?,
        )),
        PolicyKind::Password(password) => Some(Ahead::Verdict(
            crate::password_policy::verdict(engine, password, request).await,
        )),
        PolicyKind::Expression { .. } => None,
    })
}

/// One policy's verdict, on the blocking thread: an expression runs; the other kinds use
/// what was found `ahead` of it.
fn policy_verdict(
    expressions: &dyn policy::ExpressionEngine,
    policy: &Policy,
    request: &PolicyRequest,
    directory: &dyn PolicyDirectory,
    timeout: Duration,
    ahead: Option<Ahead>,
) -> PolicyVerdict {
    match (&policy.kind, ahead) {
        (PolicyKind::Expression { expression }, _) => {
            expressions.evaluate(expression, request, directory, timeout)
        }
        (PolicyKind::Password(_), Some(Ahead::Verdict(verdict))) => verdict,
        (PolicyKind::Reputation(reputation), ahead) => {
            let score = match ahead {
                Some(Ahead::Score(score)) => score,
                _ => 0,
            };
            let passing = reputation.passes(score);
            let username = request.user.get("username").and_then(Value::as_str);
            let ip = request.http.as_ref().map(|http| http.client_ip.as_str());
            PolicyVerdict {
                passing,
                log_messages: vec![format!(
                    "debug: Score for user username={} remote_ip={} score={score} passing={passing}",
                    username.unwrap_or_default(),
                    ip.unwrap_or_default(),
                )],
                ..PolicyVerdict::default()
            }
        }
        (PolicyKind::Password(_), _) => PolicyVerdict {
            error: Some("the password policy was not evaluated".to_owned()),
            ..PolicyVerdict::default()
        },
    }
}

/// Evaluates `bindings` for `request` and combines them with `mode`.
pub async fn evaluate(
    engine: &Engine,
    origin: &RequestInfo,
    bindings: Vec<Binding>,
    mode: EngineMode,
    request: PolicyRequest,
) -> FlowResult<PolicyVerdict> {
    if bindings.is_empty() {
        return Ok(PolicyVerdict::pass());
    }
    let user_pk = request.user.get("pk").and_then(Value::as_i64);
    // Group memberships are read only when a group binding needs them.
    let needs_groups = bindings
        .iter()
        .any(|b| matches!(b.subject, BindingSubject::Group(_)));
    let groups: Vec<String> = match user_pk.filter(|_| needs_groups) {
        Some(pk) => engine
            .store
            .groups_with_ancestors(pk)
            .await?
            .into_iter()
            .map(|(uuid, _)| uuid.to_string())
            .collect(),
        None => Vec::new(),
    };
    let mut found_ahead = Vec::with_capacity(bindings.len());
    for binding in &bindings {
        found_ahead.push(match &binding.subject {
            BindingSubject::Policy(policy) => ahead_of(engine, policy, &request).await?,
            _ => None,
        });
    }
    let directory = directory(engine);
    let expressions = engine.expressions.clone();
    let (results, failures, executions, updates) = tokio::task::spawn_blocking(move || {
        let mut results = Vec::with_capacity(bindings.len());
        let mut failures = Vec::new();
        let mut executions = Vec::new();
        let mut updates = Map::new();
        for (binding, ahead) in bindings.iter().zip(found_ahead) {
            let verdict = match &binding.subject {
                BindingSubject::Policy(policy) => {
                    let verdict = policy_verdict(
                        expressions.as_ref(),
                        policy,
                        &request,
                        &directory,
                        binding.timeout,
                        ahead,
                    );
                    if let Some(error) = &verdict.error {
                        failures.push((policy.name.clone(), error.clone()));
                    }
                    if policy.execution_logging {
                        executions.push((policy.name.clone(), verdict.clone()));
                    }
                    updates.extend(verdict.context_updates.clone());
                    verdict
                }
                BindingSubject::Group(group) => PolicyVerdict {
                    passing: groups.iter().any(|g| g == group),
                    ..PolicyVerdict::default()
                },
                BindingSubject::User(pk) => PolicyVerdict {
                    passing: user_pk == Some(*pk),
                    ..PolicyVerdict::default()
                },
            };
            results.push(binding.result(verdict));
        }
        (results, failures, executions, updates)
    })
    .await?;
    for (name, message) in failures {
        record_exception(engine, origin, &name, &message).await;
    }
    for (name, verdict) in executions {
        audit::record_event(
            &engine.store,
            origin,
            EventAction::PolicyExecution,
            None,
            json!({
                "policy": {"name": name},
                "result": {
                    "passing": verdict.passing && verdict.error.is_none(),
                    "messages": verdict.messages,
                    "log_messages": verdict.log_messages,
                },
            }),
        )
        .await;
    }
    let mut verdict = policy::combine(mode, &results);
    verdict.context_updates = updates;
    Ok(verdict)
}

/// How long one computed prompt value may take: the person is waiting for the form.
const MAPPING_TIMEOUT: Duration = Duration::from_secs(5);

/// Evaluates property-mapping `expressions` (a prompt stage's computed placeholders and
/// initial values) for `request`, in one trip to a blocking thread; each result is the
/// expression's value or why it failed.
pub async fn evaluate_mappings(
    engine: &Engine,
    request: PolicyRequest,
    prompt_context: Map<String, Value>,
    expressions: Vec<String>,
) -> FlowResult<Vec<Result<Value, String>>> {
    let directory = directory(engine);
    let engine = engine.expressions.clone();
    Ok(tokio::task::spawn_blocking(move || {
        expressions
            .iter()
            .map(|expression| {
                engine.evaluate_mapping(
                    expression,
                    &request,
                    &prompt_context,
                    &directory,
                    MAPPING_TIMEOUT,
                )
            })
            .collect()
    })
    .await?)
}

/// Runs one policy as it is (no binding), keeping its log lines: the policy test.
pub async fn evaluate_policy(
    engine: &Engine,
    origin: &RequestInfo,
    policy: Policy,
    request: PolicyRequest,
    timeout: Duration,
) -> FlowResult<PolicyVerdict> {
    let ahead = ahead_of(engine, &policy, &request).await?;
    let directory = directory(engine);
    let expressions = engine.expressions.clone();
    let (policy, verdict) = tokio::task::spawn_blocking(move || {
        let verdict = policy_verdict(
            expressions.as_ref(),
            &policy,
            &request,
            &directory,
            timeout,
            ahead,
        );
        (policy, verdict)
    })
    .await?;
    if let Some(error) = &verdict.error {
        record_exception(engine, origin, &policy.name, error).await;
    }
    Ok(verdict)
}

async fn record_exception(engine: &Engine, origin: &RequestInfo, name: &str, message: &str) {
    audit::record_event(
        &engine.store,
        origin,
        EventAction::PolicyException,
        None,
        json!({"message": message, "policy": {"name": name}}),
    )
    .await;
}

fn directory(engine: &Engine) -> StoreDirectory {
    StoreDirectory {
        engine: engine.clone(),
        handle: Handle::current(),
    }
}

/// What expressions may look up (and the mail they may queue), answered from the store on
/// the evaluating (blocking) thread.
struct StoreDirectory {
    engine: Engine,
    handle: Handle,
}

impl PolicyDirectory for StoreDirectory {
    fn user_by(&self, filters: &Map<String, Value>) -> Option<PolicyUser> {
        self.handle.block_on(async {
            let store = &self.engine.store;
            let entry = store.user_matching(filters).await.ok()??;
            let groups = store.groups_with_ancestors(entry.user.pk).await.ok()?;
            Some(to_policy_user(entry, groups))
        })
    }

    fn is_group_member(&self, user: i64, filters: &Map<String, Value>) -> bool {
        let Ok(groups) = self
            .handle
            .block_on(self.engine.store.groups_with_ancestors(user))
        else {
            return false;
        };
        groups.iter().any(|(uuid, name)| {
            filters.iter().all(|(field, value)| match field.as_str() {
                "name" => value.as_str() == Some(name.as_str()),
                "pk" | "group_uuid" | "uuid" => value
                    .as_str()
                    .and_then(|v| Uuid::parse_str(v).ok())
                    .is_some_and(|v| v == *uuid),
                _ => false,
            })
        })
    }

    fn call_policy(
        &self,
        name: &str,
        request: &PolicyRequest,
        timeout: Duration,
    ) -> Option<PolicyVerdict> {
        let (policy, ahead) = self.handle.block_on(async {
            let policy = policy_named(&self.engine, name).await.ok()??;
            let ahead = ahead_of(&self.engine, &policy, request).await.ok()?;
            Some((policy, ahead))
        })?;
        Some(policy_verdict(
            self.engine.expressions.as_ref(),
            &policy,
            request,
            self,
            timeout,
            ahead,
        ))
    }

    fn send_email(&self, mail: &ExpressionMail) -> Result<(), String> {
        self.handle
            .block_on(self.engine.queue_expression_mail(mail))
            .map(|_| ())
    }
}
