//! User write stage: `prompt_data` becomes an account (or changes the pending user). An
//! invitation in effect is claimed in the same transaction that writes the account, with
//! the stage's audit events, so exactly one account comes of a single-use invitation
//! however many browsers race for it (DESIGN.md, 1).

use akin_domain::event::{Actor, Event, EventAction};
use akin_domain::flow::PlannedStage;
use akin_domain::flow::plan::{PENDING_USER, PROMPT_DATA};
use akin_domain::invitation::CONTEXT_INVITATION;
use akin_domain::stage::user_write::{self, UserWriteSettings, WriteAction};
use akin_domain::user::UserChanges;
use akin_store::{Claim, ClaimError, StoreError, UserWrite};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{Outcome, StageKind, StageStep};
use crate::{FlowResult, RequestInfo, audit};

/// The write's audit events, recorded in its transaction: `user_write` (what was entered,
/// without passwords) and, when an invitation was claimed, `invitation_used`.
struct WriteEvents<'a> {
    origin: &'a RequestInfo,
    created: bool,
    prompt_data: Map<String, Value>,
    invitation: Option<Uuid>,
}

impl WriteEvents<'_> {
    fn for_user(self, username: String, email: String) -> impl FnOnce(i64) -> Vec<Event> {
        move |pk| {
            let actor = Actor {
                pk,
                username,
                email,
            };
            let mut events = vec![audit::event(
                self.origin,
                EventAction::UserWrite,
                Some(&actor),
                json!({"created": self.created, "prompt_data": self.prompt_data}),
            )];
            if let Some(invitation) = self.invitation {
                events.push(audit::event(
                    self.origin,
                    EventAction::InvitationUsed,
                    Some(&actor),
                    json!({"invitation_uuid": invitation.simple().to_string(), "user": pk}),
                ));
            }
            events
        }
    }
}

impl StageKind for UserWriteSettings {
    async fn run(
        &self,
        step: &mut StageStep<'_, '_>,
        _stage: &PlannedStage,
        _response: Option<Map<String, Value>>,
    ) -> FlowResult<Outcome> {
        if step.plan.is_preview() {
            // A preview writes nothing and uses up no invitation.
            return Ok(Outcome::Next);
        }
        let run = step.run;
        let plan = &mut *step.plan;
        let Some(prompt_data) = plan
            .context
            .get(PROMPT_DATA)
            .and_then(Value::as_object)
            .cloned()
        else {
            return Ok(Outcome::denied("No Pending data.", "no_pending_data"));
        };
        // Without a pending user, whoever is signed in is the one to update (authentik's
        // `setdefault`), so self-service profile flows work.
        let pending = plan
            .context
            .get(PENDING_USER)
            .and_then(Value::as_i64)
            .or(run.signed_in);
        let invitation = plan
            .context
            .get(CONTEXT_INVITATION)
            .and_then(|i| i.get("pk"))
            .and_then(Value::as_str)
            .and_then(|p| Uuid::parse_str(p).ok());
        let claim = invitation.map(|invitation| Claim {
            invitation,
            flow: plan.flow,
            client_ip: run.origin.client_ip.clone(),
        });
        let events = |created| WriteEvents {
            origin: run.origin,
            created,
            prompt_data: prompt_data
                .iter()
                .filter(|(k, _)| !k.contains("password") && k.as_str() != "component")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            invitation,
        };
        let hash = |password: Option<String>| async move {
            match password {
                Some(password) => run.engine.hash_password(password).await.map(Some),
                None => Ok(None),
            }
        };
        let store = &run.engine.store;
        let mut creates = false;
        let written = match (self.action(pending.is_some()), pending) {
            (WriteAction::Refuse, _) => {
                return Ok(Outcome::denied(
                    "No user found and can't create new user.",
                    "no_user",
                ));
            }
            (WriteAction::UpdatePending, Some(pk)) => {
                let Some(existing) = store.user_by_pk(pk).await? else {
                    return Ok(Outcome::denied("No Pending user.", "no_pending_user"));
                };
                let mut changes = UserChanges::from_user(&existing.user);
                let password = user_write::apply_to(&prompt_data, &mut changes);
                if let Err(error) = changes.validate() {
                    return Ok(Outcome::denied(
                        format!("The account cannot be updated: {error}"),
                        "invalid_user",
                    ));
                }
                let phc = hash(password).await?;
                let write = UserWrite::Update {
                    pk,
                    changes: &changes,
                    password: phc.as_deref(),
                };
                let events =
                    events(false).for_user(changes.username.clone(), changes.email.clone());
                store
                    .write_user_claiming(write, claim.as_ref(), run.now, events)
                    .await
            }
            _ => {
                let context_path = plan
                    .context
                    .get("user_path")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                let (mut new_user, password) =
                    user_write::new_user(self, &prompt_data, context_path.as_deref());
                if let Err(error) = new_user.validate() {
                    return Ok(Outcome::denied(
                        format!("The account cannot be created: {error}"),
                        "invalid_user",
                    ));
                }
                new_user.password = hash(password).await?;
                creates = true;
                let groups: Vec<Uuid> = self.create_users_group.into_iter().collect();
                let write = UserWrite::Create {
                    user: &new_user,
                    groups: &groups,
                };
                let events =
                    events(true).for_user(new_user.username.clone(), new_user.email.clone());
                store
                    .write_user_claiming(write, claim.as_ref(), run.now, events)
                    .await
            }
        };
        let metrics = &run.engine.metrics;
        let claimed = claim.is_some();
        let pk = match written {
            Ok(pk) => pk,
            Err(ClaimError::Refused(refusal)) => {
                metrics.claim(refusal.code());
                return Ok(Outcome::refused(refusal));
            }
            Err(ClaimError::Store(StoreError::Unique { .. })) => {
                if claimed {
                    metrics.claim("username_taken");
                }
                return Ok(Outcome::denied(
                    "Username is already taken.",
                    "username_taken",
                ));
            }
            Err(ClaimError::Store(error)) => return Err(error.into()),
        };
        if claimed {
            metrics.claim("claimed");
        }
        if creates {
            metrics.enrollments.inc();
        }
        plan.context.insert(PENDING_USER.into(), Value::from(pk));
        Ok(Outcome::Next)
    }
}
