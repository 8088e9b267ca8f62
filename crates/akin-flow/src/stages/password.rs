//! Password stage: checks the pending user's password. Failures are counted in the plan
//! and recorded as events; after `failed_attempts_before_cancel` of them the flow stops. A
//! verified hash imported from authentik is replaced by Argon2id.

use akin_domain::event::EventAction;
use akin_domain::flow::{Challenge, FlowPlan, PlannedStage};
use akin_domain::stage::settings::PasswordSettings;
use akin_domain::user::User;
use serde_json::{Map, Value, json};

use super::{Outcome, Pending, StageKind, StageStep, one_error};
use crate::executor::Run;
use crate::{FlowResult, audit, reputation, throttle};

/// Plan context key counting failed password attempts in this flow.
const FAILED_ATTEMPTS: &str = "akin_failed_password_attempts";

impl StageKind for PasswordSettings {
    async fn run(
        &self,
        step: &mut StageStep<'_, '_>,
        _stage: &PlannedStage,
        response: Option<Map<String, Value>>,
    ) -> FlowResult<Outcome> {
        let Some(pending) = super::pending(step.run, step.plan).await? else {
            return Ok(Outcome::denied("No pending user.", "no_pending_user"));
        };
        let pending_user = step
            .plan
            .context
            .get("pending_user_identifier")
            .and_then(Value::as_str)
            .unwrap_or(pending.username())
            .to_owned();
        let Some(response) = response else {
            return Ok(Outcome::Challenge(Challenge::Password {
                pending_user,
                errors: Map::new(),
            }));
        };
        let password = response
            .get("password")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let check = match &pending {
            Pending::Account(entry) => {
                check_password(step.run, step.plan, &entry.user, password).await?
            }
            Pending::Unknown(identifier) => {
                check_unknown(step.run, step.plan, identifier, password).await?
            }
        };
        match check {
            PasswordCheck::Valid => return Ok(Outcome::Next),
            PasswordCheck::Throttled(wait) => {
                return Ok(Outcome::Invalid(Challenge::Password {
                    pending_user,
                    errors: throttled(wait, "password"),
                }));
            }
            PasswordCheck::Invalid => {}
        }
        if failures(step.plan) >= self.failed_attempts_before_cancel {
            return Ok(Outcome::denied(
                "Too many failed password attempts.",
                "too_many_attempts",
            ));
        }
        Ok(Outcome::Invalid(Challenge::Password {
            pending_user,
            errors: one_error("password", "Invalid password", "invalid"),
        }))
    }
}

fn failures(plan: &FlowPlan) -> i64 {
    plan.context
        .get(FAILED_ATTEMPTS)
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// What checking a password found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PasswordCheck {
    Valid,
    Invalid,
    /// Too soon after too many failures (`throttle`): not checked; try after this.
    Throttled(std::time::Duration),
}

/// The error shown for a throttled attempt, on `field`. The same for an unknown account
/// as for a known one: the throttle counts both.
pub(crate) fn throttled(wait: std::time::Duration, field: &str) -> Map<String, Value> {
    one_error(
        field,
        &format!(
            "Too many failed attempts. Try again in {} seconds.",
            wait.as_secs()
        ),
        "throttled",
    )
}

/// Verifies `password` for `user` off the async threads, unless guessing at this account
/// is throttled; a verified imported hash is replaced by Argon2id. Failures are counted in
/// the plan and recorded as events.
pub(crate) async fn check_password(
    run: &Run<'_>,
    plan: &mut FlowPlan,
    user: &User,
    password: &str,
) -> FlowResult<PasswordCheck> {
    let attempt = match throttle::attempt(run, &user.username).await? {
        Ok(attempt) => attempt,
        Err(wait) => {
            record_throttled(run, &user.username, wait).await;
            return Ok(PasswordCheck::Throttled(wait));
        }
    };
    let Some(stored) = user.password.clone() else {
        check_decoy(run, password).await?;
        record_failure(run, plan, &user.username).await;
        return Ok(PasswordCheck::Invalid);
    };
    let candidate = password.to_owned();
    let (valid, rehash) = run
        .engine
        .hashing
        .run(move |hasher| {
            let valid = hasher.verify(&candidate, &stored);
            let rehash = (valid && hasher.needs_rehash(&stored)).then(|| hasher.hash(&candidate));
            (valid, rehash)
        })
        .await?;
    if let Some(fresh) = rehash {
        run.engine
            .store
            .set_password(user.pk, Some(fresh?), run.now)
            .await?;
    }
    if valid {
        throttle::succeeded(run, attempt).await?;
        plan.context
            .insert("auth_method".into(), Value::String("password".into()));
        Ok(PasswordCheck::Valid)
    } else {
        record_failure(run, plan, &user.username).await;
        Ok(PasswordCheck::Invalid)
    }
}

/// A password for an identifier without an account: always wrong, but throttled, timed,
/// counted and recorded as a wrong password for an account would be.
pub(crate) async fn check_unknown(
    run: &Run<'_>,
    plan: &mut FlowPlan,
    identifier: &str,
    password: &str,
) -> FlowResult<PasswordCheck> {
    if let Err(wait) = throttle::attempt(run, identifier).await? {
        record_throttled(run, identifier, wait).await;
        return Ok(PasswordCheck::Throttled(wait));
    }
    check_decoy(run, password).await?;
    record_failure(run, plan, identifier).await;
    Ok(PasswordCheck::Invalid)
}

/// Checks `password` against a decoy hash, so that a password for no account takes as
/// long as one for an account.
async fn check_decoy(run: &Run<'_>, password: &str) -> FlowResult<()> {
    let decoy = run.engine.decoy_hash.clone();
    let candidate = password.to_owned();
    run.engine
        .hashing
        .run(move |hasher| {
            let decoy = decoy.get_or_init(|| {
                let secret: [u8; 16] = rand::random();
                hasher.hash(&format!("{secret:x?}")).unwrap_or_default()
            });
            hasher.verify(&candidate, decoy)
        })
        .await?;
    Ok(())
}

/// Records a `login_failed` event for an attempt the throttle refused.
async fn record_throttled(run: &Run<'_>, username: &str, wait: std::time::Duration) {
    audit::record_event(
        &run.engine.store,
        run.origin,
        EventAction::LoginFailed,
        None,
        json!({"username": username, "stage": "password", "throttled": true,
               "retry_after": wait.as_secs()}),
    )
    .await;
}

/// Counts a failed attempt in the plan, lowers the reputation of `username` from this
/// address and records a `login_failed` event.
async fn record_failure(run: &Run<'_>, plan: &mut FlowPlan, username: &str) {
    plan.context
        .insert(FAILED_ATTEMPTS.into(), Value::from(failures(plan) + 1));
    reputation::failed(run, username).await;
    audit::record_event(
        &run.engine.store,
        run.origin,
        EventAction::LoginFailed,
        None,
        json!({"username": username, "stage": "password"}),
    )
    .await;
}
