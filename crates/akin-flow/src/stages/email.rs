//! Email stage: mails a link carrying a one-time token behind which the plan is parked;
//! whichever browser opens it continues the flow here (the executor restores the plan), and
//! the stage then lets it on, activating the pending user when asked to. Until then the
//! stage shows "email sent"; answering it sends the mail again. Links to one address are
//! limited across flows (`recovery_max_attempts` per `recovery_cache_timeout`). For an
//! identifier without an account nothing is sent, and nothing in the answer says so.

use akin_domain::email::NewMessage;
use akin_domain::event::EventAction;
use akin_domain::flow::options::Designation;
use akin_domain::flow::plan::{EMAIL_SENT, FLOW_TOKEN, IS_RESTORED};
use akin_domain::flow::{Challenge, PlannedStage};
use akin_domain::stage::settings::EmailStageSettings;
use akin_domain::user::UserChanges;
use akin_mail::{Draft, compose};
use serde_json::{Map, Value, json};

use super::{Outcome, Pending, StageKind, StageStep};
use crate::{FlowError, FlowResult, audit};

/// How many times one flow execution may send its link (the first, then resends).
const MAX_SENDS: u64 = 5;

/// How long a parked plan outlives the link's own expiry (authentik: one minute).
const GRACE: time::Duration = time::Duration::minutes(1);

/// The rate-limit bucket of links sent to one address.
const LINKS_TO_ADDRESS: &str = "email_stage_links";

fn one_message(message: String, code: &str) -> Map<String, Value> {
    let mut errors = Map::new();
    errors.insert(
        "non_field_errors".into(),
        json!([{"string": message, "code": code}]),
    );
    errors
}

impl StageKind for EmailStageSettings {
    async fn run(
        &self,
        step: &mut StageStep<'_, '_>,
        stage: &PlannedStage,
        response: Option<Map<String, Value>>,
    ) -> FlowResult<Outcome> {
        if step.plan.is_preview() {
            // A preview sends nothing (and so has no link to wait for).
            return Ok(Outcome::Next);
        }
        let run = step.run;
        let store = &run.engine.store;
        let Some(pending) = super::pending(step.run, step.plan).await? else {
            return Ok(Outcome::denied("No pending user.", "no_pending_user"));
        };

        // Back from the link: the plan was parked for this user.
        if let Some(restored_for) = step.plan.context.remove(IS_RESTORED) {
            let Pending::Account(entry) = &pending else {
                return Ok(Outcome::denied("No pending user.", "no_pending_user"));
            };
            if restored_for.as_i64() != Some(entry.user.pk) {
                return Ok(Outcome::denied(
                    "This link was sent to someone else.",
                    "email_token_user_mismatch",
                ));
            }
            if self.activate_user_on_success && !entry.user.is_active {
                let mut changes = UserChanges::from_user(&entry.user);
                changes.is_active = true;
                store.update_user(entry.user.pk, &changes, run.now).await?;
            }
            return Ok(Outcome::Next);
        }

        // How many times this plan sent the link (authentik's flag, counted here).
        let sent = match step.plan.context.get(EMAIL_SENT) {
            Some(Value::Number(n)) => n.as_u64().unwrap_or(u64::MAX),
            Some(Value::Bool(true)) => 1,
            _ => 0,
        };
        if response.is_none() && sent > 0 {
            return Ok(Outcome::Challenge(Challenge::Email { errors: Map::new() }));
        }
        if sent >= MAX_SENDS {
            // Anyone can start an enrollment with someone else's address: without a limit,
            // answering the stage over and over would make akin mail that address at will.
            return Ok(Outcome::Challenge(Challenge::Email {
                errors: one_message(
                    "The email was sent several times already: look for it in your inbox and spam folder.".into(),
                    "email-limit",
                ),
            }));
        }
        let address = match &pending {
            Pending::Account(entry) => step
                .plan
                .context
                .get("email")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| entry.user.email.clone()),
            Pending::Unknown(identifier) => identifier.clone(),
        };
        let recovery = step.plan.info.designation == Designation::Recovery;
        if address.trim().is_empty() && !recovery {
            return Ok(Outcome::denied(
                "There is no email address to send the link to.",
                "no_email_address",
            ));
        }
        // Across flow executions and nodes, by address (what an unknown identifier is
        // counted by too, so being limited says nothing about the account).
        if let Some(until) = store
            .use_rate_limited(
                LINKS_TO_ADDRESS,
                &address.trim().to_lowercase(),
                u32::try_from(self.recovery_max_attempts.max(0)).unwrap_or(u32::MAX),
                self.recovery_cache_timeout,
                run.now,
            )
            .await?
        {
            let minutes = ((until - run.now).whole_seconds().max(1) + 59) / 60;
            return Ok(Outcome::Challenge(Challenge::Email {
                errors: one_message(
                    format!(
                        "Too many account verification attempts. Please try again after {minutes} minutes."
                    ),
                    "email-rate-limited",
                ),
            }));
        }
        match &pending {
            Pending::Account(entry) if !address.trim().is_empty() => {
                if let Err(error) = send_link(self, stage, step, &entry.user, &address).await? {
                    // authentik's answer to a template that does not render: the stage
                    // fails, and the administrator learns why from the event.
                    audit::record_event(
                        store,
                        run.origin,
                        EventAction::ConfigurationError,
                        None,
                        json!({"message": "the email stage could not compose its mail", "stage": stage.name, "error": error}),
                    )
                    .await;
                    return Ok(Outcome::denied(
                        "The email could not be sent; the administrator has been told why.",
                        "email_configuration_error",
                    ));
                }
            }
            // An identifier without an account, or (in a recovery flow) an account
            // without an address: nothing is sent, and the answer is the same as when
            // something was (authentik pretends too).
            _ => {}
        }
        step.plan
            .context
            .insert(EMAIL_SENT.to_owned(), Value::from(sent + 1));
        // authentik answers every POST with `email-sent` (and sent the mail again).
        let errors = match response {
            Some(_) => one_message("Email Successfully sent.".into(), "email-sent"),
            None => Map::new(),
        };
        Ok(Outcome::Challenge(Challenge::Email { errors }))
    }
}

/// Parks the plan behind a fresh key and queues the link to `address`. `Err` (inside):
/// the stage's template or addresses do not make a message.
async fn send_link(
    settings: &EmailStageSettings,
    stage: &PlannedStage,
    step: &mut StageStep<'_, '_>,
    user: &akin_domain::user::User,
    address: &str,
) -> FlowResult<Result<(), String>> {
    let run = step.run;
    let engine = run.engine;
    let key = akin_domain::token::generate_key(|n| rand::random_range(0..n));
    let expires = run.now + settings.token_expiry;
    let mut query: Vec<(String, String)> = form_urlencoded::parse(run.page_query().as_bytes())
        .into_owned()
        .filter(|(k, _)| k != FLOW_TOKEN)
        .collect();
    query.push((FLOW_TOKEN.to_owned(), key.clone()));
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&query)
        .finish();
    let base = engine
        .mail
        .external_url
        .clone()
        .unwrap_or_else(|| run.origin.site.clone());
    let url = format!(
        "{}/if/flow/{}/?{query}",
        base.trim_end_matches('/'),
        run.slug
    );
    let context = json!({
        "url": url,
        "user": {"username": user.username, "name": user.name, "email": user.email},
        "expires": akin_domain::time_format::format_datetime(expires),
        "token": key,
        "title": step.plan.info.title,
    });
    let rendered = match engine.mail.templates.render(&settings.template, &context) {
        Ok(rendered) => rendered,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let to = [address.to_owned()];
    let from = if settings.use_global_settings {
        &engine.mail.smtp.from
    } else {
        &settings.from_address
    };
    let composed = match compose(&Draft {
        from,
        to: &to,
        cc: &[],
        bcc: &[],
        subject: &settings.subject,
        html: &rendered.html,
        text: &rendered.text,
    }) {
        Ok(composed) => composed,
        Err(e) => return Ok(Err(e.to_string())),
    };
    // The plan is parked and the mail queued together: no link without its plan, and no
    // parked plan without its link.
    let plan = serde_json::to_value(&*step.plan)
        .map_err(|e| FlowError::Internal(format!("the plan cannot be parked: {e}")))?;
    let mut tx = engine.store.db().begin().await?;
    tx.park_plan(&key, run.slug, &plan, Some(user.pk), expires + GRACE)
        .await?;
    tx.queue_message(
        &NewMessage {
            message_id: composed.message_id,
            subject: settings.subject.clone(),
            from: composed.sender,
            to: to.to_vec(),
            cc: Vec::new(),
            recipients: composed.recipients,
            raw: composed.raw,
            related: json!({"flow": run.slug, "user": user.pk}),
            transport: stage.stage.filter(|_| !settings.use_global_settings),
        },
        run.now,
    )
    .await?;
    tx.commit().await?;
    engine.outbox_waker.notify_one();
    Ok(Ok(()))
}
