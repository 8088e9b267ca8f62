//! Mail through the outbox: composing and queueing messages (in the caller's transaction
//! where there is one), and the delivery worker with its retries.

use std::sync::Arc;
use std::time::Duration;

use akin_domain::catalog::{self, EMAIL_STAGE};
use akin_domain::email::{MAX_ATTEMPTS, NewMessage, OutboxMessage, retry_delay};
use akin_domain::event::EventAction;
use akin_domain::invitation::Invitation;
use akin_domain::policy::{ExpressionMail, MailBody};
use akin_domain::stage::settings::EmailStageTransport;
use akin_mail::{Draft, EmailSettings, MailError, Mailer, Templates, compose};
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Engine;
use crate::audit::record_event;
use crate::error::FlowError;
use crate::request::RequestInfo;

/// How many messages a node delivers at once: SMTP round trips overlap, and a slow
/// recipient server does not hold up the others.
const DELIVERIES_IN_FLIGHT: usize = 8;

/// What the engine sends mail with.
#[derive(Debug, Clone)]
pub struct MailSettings {
    pub smtp: EmailSettings,
    pub templates: Templates,
    /// The delay after a first failed attempt; later ones grow (see `retry_delay`).
    pub first_retry: Duration,
    /// Scheme and host people reach akin at (`AKIN_EXTERNAL_URL`), for links in mail and
    /// on the admin pages; `None`: the host each request came to.
    pub external_url: Option<String>,
}

impl Default for MailSettings {
    fn default() -> Self {
        MailSettings {
            smtp: EmailSettings::default(),
            templates: Templates::default(),
            first_retry: Duration::from_secs(60),
            external_url: None,
        }
    }
}

/// An invitation to send: to whom, with which template, and the link's base.
#[derive(Debug, Clone)]
pub struct InvitationMail<'a> {
    pub invitation: &'a Invitation,
    pub flow_slug: &'a str,
    pub to: &'a [String],
    pub cc: &'a [String],
    pub bcc: &'a [String],
    pub template: &'a str,
    /// Scheme and host the link is built on (`https://id.example.com`).
    pub base_url: &'a str,
    /// Who sent it (their name or username), shown in the mail.
    pub inviter: Option<&'a str>,
}

/// Why mail could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error(transparent)]
    Mail(#[from] MailError),
    #[error(transparent)]
    Flow(#[from] FlowError),
}

impl From<akin_store::StoreError> for QueueError {
    fn from(error: akin_store::StoreError) -> Self {
        QueueError::Flow(error.into())
    }
}

impl Engine {
    /// Queues one message per address of `mail.to` (each with the copies), as authentik
    /// sends invitations, all in one transaction. Returns the queued messages' ids.
    pub async fn queue_invitation_mail(
        &self,
        mail: &InvitationMail<'_>,
    ) -> Result<Vec<Uuid>, QueueError> {
        let messages = self.invitation_messages(mail)?;
        let now = OffsetDateTime::now_utc();
        let mut tx = self.store.db().begin().await?;
        let mut queued = Vec::new();
        for message in &messages {
            queued.push(tx.queue_message(message, now).await?);
        }
        tx.commit().await?;
        self.outbox_waker.notify_one();
        Ok(queued)
    }

    /// The messages [`Engine::queue_invitation_mail`] queues, for a caller that queues
    /// them in its own transaction.
    pub fn invitation_messages(
        &self,
        mail: &InvitationMail<'_>,
    ) -> Result<Vec<NewMessage>, MailError> {
        let base = mail.base_url.trim_end_matches('/');
        let host = base.split("://").nth(1).unwrap_or(base).to_owned();
        let url = akin_domain::invitation::link(base, mail.flow_slug, mail.invitation.uuid);
        let expires = mail
            .invitation
            .expires
            .map(akin_domain::time_format::format_datetime);
        let context = json!({
            "url": url,
            "host": host,
            "expires": expires,
            "inviter": mail.inviter,
            "invitation": {"name": mail.invitation.name, "pk": mail.invitation.uuid},
        });
        let rendered = self.mail.templates.render(mail.template, &context)?;
        let subject = format!("You have been invited to {host}");
        let mut messages = Vec::new();
        for address in mail.to {
            let to = std::slice::from_ref(address);
            let composed = compose(&Draft {
                from: &self.mail.smtp.from,
                to,
                cc: mail.cc,
                bcc: mail.bcc,
                subject: &subject,
                html: &rendered.html,
                text: &rendered.text,
            })?;
            messages.push(NewMessage {
                message_id: composed.message_id,
                subject: subject.clone(),
                from: composed.sender,
                to: to.to_vec(),
                cc: mail.cc.to_vec(),
                recipients: composed.recipients,
                raw: composed.raw,
                related: json!({"invitation": mail.invitation.uuid}),
                transport: None,
            });
        }
        Ok(messages)
    }

    /// Queues what an expression asked for (`ak_send_email`): its text (also as HTML) or
    /// template, through the email stage it names or the global settings. `Err`: why it
    /// cannot be sent, for the expression's error.
    pub async fn queue_expression_mail(&self, mail: &ExpressionMail) -> Result<Uuid, String> {
        let (from, transport) = match &mail.stage {
            None => (self.mail.smtp.from.clone(), None),
            Some(name) => {
                let rows = self
                    .store
                    .find_objects(EMAIL_STAGE, &[("name".to_owned(), json!(name))])
                    .await
                    .map_err(|e| e.to_string())?;
                let row = rows
                    .first()
                    .ok_or_else(|| format!("there is no email stage named {name:?}"))?;
                let own: EmailStageTransport = catalog::typed(EMAIL_STAGE, row)
                    .map_err(|e| format!("the email stage's settings are invalid: {e}"))?;
                let pk = row["pk"].as_str().and_then(|p| Uuid::parse_str(p).ok());
                if own.use_global_settings {
                    (self.mail.smtp.from.clone(), None)
                } else {
                    (own.from_address, pk)
                }
            }
        };
        let (html, text) = match &mail.body {
            MailBody::Text(text) => (akin_mail::text_as_html(text), text.clone()),
            MailBody::Template { name, context } => {
                if !self.mail.templates.exists(name) {
                    return Err(format!("there is no template {name:?}"));
                }
                let rendered = self
                    .mail
                    .templates
                    .render(name, &Value::Object(context.clone()))
                    .map_err(|e| e.to_string())?;
                (rendered.html, rendered.text)
            }
        };
        let composed = compose(&Draft {
            from: &from,
            to: &mail.to,
            cc: &mail.cc,
            bcc: &mail.bcc,
            subject: &mail.subject,
            html: &html,
            text: &text,
        })
        .map_err(|e| e.to_string())?;
        let message = NewMessage {
            message_id: composed.message_id,
            subject: mail.subject.clone(),
            from: composed.sender,
            to: mail.to.clone(),
            cc: mail.cc.clone(),
            recipients: composed.recipients,
            raw: composed.raw,
            related: json!({"expression": true}),
            transport,
        };
        let queued = self
            .store
            .queue_message(&message, OffsetDateTime::now_utc())
            .await
            .map_err(|e| e.to_string())?;
        self.outbox_waker.notify_one();
        Ok(queued)
    }

    /// Delivers every message that is due, with several deliveries in flight at once (each
    /// claims its own message); returns how many were sent. An idle outbox costs one query.
    pub async fn deliver_due_mail(&self, mailer: &Mailer) -> Result<usize, FlowError> {
        let Some(first) = self.claim_due().await? else {
            return Ok(0);
        };
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..DELIVERIES_IN_FLIGHT {
            let (engine, mailer) = (self.clone(), mailer.clone());
            workers.spawn(async move { engine.deliver_until_none_due(&mailer).await });
        }
        let mut sent = usize::from(self.deliver(mailer, &first).await?);
        let mut failure = None;
        while let Some(joined) = workers.join_next().await {
            match joined.map_err(FlowError::from).and_then(|r| r) {
                Ok(n) => sent += n,
                Err(error) => failure = Some(error),
            }
        }
        match failure {
            Some(error) if sent == 0 => Err(error),
            _ => Ok(sent),
        }
    }

    /// Claims the message due first, for long enough to deliver it: well past the SMTP
    /// timeout, so only a node that died gives one up to another.
    async fn claim_due(&self) -> Result<Option<OutboxMessage>, FlowError> {
        let claim = self.mail.smtp.timeout * 3 + Duration::from_secs(15);
        let now = OffsetDateTime::now_utc();
        Ok(self.store.claim_due_message(now, now + claim).await?)
    }

    /// Claims and delivers messages one after another until none is due.
    async fn deliver_until_none_due(&self, mailer: &Mailer) -> Result<usize, FlowError> {
        let mut sent = 0;
        while let Some(message) = self.claim_due().await? {
            if self.deliver(mailer, &message).await? {
                sent += 1;
            }
        }
        Ok(sent)
    }

    /// What delivers `message`: the global mailer, or the settings of the email stage that
    /// queued it, read now (`Err`: why they cannot be used, a permanent failure).
    async fn transport_for(
        &self,
        global: &Mailer,
        message: &OutboxMessage,
    ) -> Result<Result<Mailer, String>, FlowError> {
        let Some(stage) = message.transport else {
            return Ok(Ok(global.clone()));
        };
        let rows = self
            .store
            .find_objects(EMAIL_STAGE, &[("pk".to_owned(), json!(stage))])
            .await?;
        let Some(row) = rows.first() else {
            return Ok(Err(format!(
                "the email stage {stage} that queued it no longer exists"
            )));
        };
        let own: EmailStageTransport = match catalog::typed(EMAIL_STAGE, row) {
            Ok(own) => own,
            Err(e) => return Ok(Err(format!("the email stage's settings are invalid: {e}"))),
        };
        if own.use_global_settings {
            return Ok(Ok(global.clone()));
        }
        let login = (!own.username.is_empty()).then_some((own.username, own.password));
        let settings = EmailSettings {
            host: own.host,
            port: own.port,
            username: login.as_ref().map(|(u, _)| u.clone()),
            password: login.map(|(_, p)| p),
            use_tls: own.use_tls,
            use_ssl: own.use_ssl,
            timeout: Duration::from_secs(own.timeout.clamp(1, 600)),
            from: own.from_address,
        };
        if settings.timeout > self.mail.smtp.timeout {
            // The claim was made for the global timeout: keep it for this one.
            let until = OffsetDateTime::now_utc() + settings.timeout * 3 + Duration::from_secs(15);
            self.store.extend_claim(message.uuid, until).await?;
        }
        Ok(Mailer::new(&settings).map_err(|e| format!("the email stage's settings: {e}")))
    }

    /// One attempt at `message`, recorded; `true` when the server accepted it.
    async fn deliver(&self, mailer: &Mailer, message: &OutboxMessage) -> Result<bool, FlowError> {
        let outcome = match self.transport_for(mailer, message).await? {
            Ok(mailer) => {
                mailer
                    .send_raw(&message.from, &message.recipients, &message.raw)
                    .await
            }
            Err(why) => Err(MailError::Permanent(why)),
        };
        let now = OffsetDateTime::now_utc();
        let context = |extra: Value| {
            let mut context = json!({
                "message": message.uuid,
                "message_id": message.message_id,
                "subject": message.subject,
                "to": message.to,
                "attempt": message.attempts,
            });
            if let (Value::Object(c), Value::Object(e)) = (&mut context, extra) {
                c.extend(e);
            }
            context
        };
        let request = RequestInfo::default();
        match outcome {
            Ok(answer) => {
                self.store.message_sent(message.uuid, &answer, now).await?;
                record_event(
                    &self.store,
                    &request,
                    EventAction::EmailSent,
                    None,
                    context(json!({"response": answer})),
                )
                .await;
                Ok(true)
            }
            Err(error) => {
                let why = error.to_string();
                let give_up = matches!(error, MailError::Permanent(_) | MailError::Address(..))
                    || message.attempts >= MAX_ATTEMPTS;
                let next =
                    (!give_up).then(|| now + retry_delay(message.attempts, self.mail.first_retry));
                self.store
                    .message_not_sent(message.uuid, &why, next)
                    .await?;
                if give_up {
                    record_event(
                        &self.store,
                        &request,
                        EventAction::EmailFailed,
                        None,
                        context(json!({"error": why})),
                    )
                    .await;
                } else {
                    tracing::info!(message = %message.uuid, error = %why, "mail not delivered; it will be tried again");
                }
                Ok(false)
            }
        }
    }
}

/// The mail settings shared by the engine's clones.
pub type SharedMail = Arc<MailSettings>;
