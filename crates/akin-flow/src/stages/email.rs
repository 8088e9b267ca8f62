//! Email stage: mails a link carrying a one-time token behind which the plan is parked;
//! whichever browser opens it continues the flow here (the executor restores the plan), and
//! the stage then lets it on, activating the pending user when asked to. Until then the
//! stage shows "email sent"; answering it sends the mail again.

use akin_domain::email::NewMessage;
use akin_domain::flow::plan::{EMAIL_SENT, FLOW_TOKEN, IS_RESTORED};
use akin_domain::flow::{Challenge, PlannedStage};
use akin_domain::stage::settings::EmailStageSettings;
use akin_domain::user::UserChanges;
use akin_mail::{Draft, compose};
use serde_json::{Map, Value, json};

use super::{Outcome, StageKind, StageStep};
use crate::{FlowError, FlowResult};

/// How many times one flow execution may send its link (the first, then resends).
const MAX_SENDS: u64 = 5;

/// How long a parked plan outlives the link's own expiry (authentik: one minute).
const GRACE: time::Duration = time::Duration::minutes(1);

impl StageKind for EmailStageSettings {
    async fn run(
        &self,
        step: &mut StageStep<'_, '_>,
        _stage: &PlannedStage,
        response: Option<Map<String, Value>>,
    ) -> FlowResult<Outcome> {
        let run = step.run;
        let store = &run.engine.store;
        let Some(entry) = super::pending_user(step.run, step.plan).await? else {
            return Ok(Outcome::denied("No pending user.", "no_pending_user"));
        };

        // Back from the link: the plan was parked for this user.
        if let Some(restored_for) = step.plan.context.remove(IS_RESTORED) {
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
            let mut errors = Map::new();
            errors.insert(
                "non_field_errors".into(),
                json!([{"string": "The email was sent several times already: look for it in your inbox and spam folder.", "code": "email-limit"}]),
            );
            return Ok(Outcome::Challenge(Challenge::Email { errors }));
        }
        let address = step
            .plan
            .context
            .get("email")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| entry.user.email.clone());
        if address.trim().is_empty() {
            return Ok(Outcome::denied(
                "There is no email address to send the link to.",
                "no_email_address",
            ));
        }
        send_link(self, step, &entry.user, &address).await?;
        step.plan
            .context
            .insert(EMAIL_SENT.to_owned(), Value::from(sent + 1));
        // authentik answers every POST with `email-sent` (and sent the mail again).
        let mut errors = Map::new();
        if response.is_some() {
            errors.insert(
                "non_field_errors".into(),
                json!([{"string": "Email Successfully sent.", "code": "email-sent"}]),
            );
        }
        Ok(Outcome::Challenge(Challenge::Email { errors }))
    }
}

/// Parks the plan behind a fresh key and queues the link to `address`.
async fn send_link(
    settings: &EmailStageSettings,
    step: &mut StageStep<'_, '_>,
    user: &akin_domain::user::User,
    address: &str,
) -> FlowResult<()> {
    let run = step.run;
    let engine = run.engine;
    let key = akin_domain::token::generate_key(|n| rand::random_range(0..n));
    let expires = run.now + settings.token_expiry;
    let plan = serde_json::to_value(&*step.plan)
        .map_err(|e| FlowError::Internal(format!("the plan cannot be parked: {e}")))?;
    engine
        .store
        .park_plan(&key, run.slug, &plan, Some(user.pk), expires + GRACE)
        .await?;
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
    let fail = |e: akin_mail::MailError| FlowError::Internal(format!("the email stage: {e}"));
    let rendered = engine
        .mail
        .templates
        .render(&settings.template, &context)
        .map_err(fail)?;
    let to = [address.to_owned()];
    let composed = compose(&Draft {
        from: &engine.mail.smtp.from,
        to: &to,
        cc: &[],
        bcc: &[],
        subject: &settings.subject,
        html: &rendered.html,
        text: &rendered.text,
    })
    .map_err(fail)?;
    engine
        .store
        .queue_message(
            &NewMessage {
                message_id: composed.message_id,
                subject: settings.subject.clone(),
                from: composed.sender,
                to: to.to_vec(),
                cc: Vec::new(),
                recipients: composed.recipients,
                raw: composed.raw,
                related: json!({"flow": run.slug, "user": user.pk}),
            },
            run.now,
        )
        .await?;
    engine.outbox_waker.notify_one();
    Ok(())
}
