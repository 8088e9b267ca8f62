//! The outbox: messages written with what caused them, claimed one at a time by a
//! delivery worker (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so nodes never claim the same
//! message; SQLite has one writer), and their attempts.

use akin_domain::email::{MessageStatus, NewMessage, OutboxMessage};
use akin_domain::list::{ListQuery, Page};
use serde_json::Value;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Listing, Store};
use std::collections::HashMap;

use crate::db::{Arg, Backend, Tx};
use crate::error::StoreResult;
use crate::types::{DbTime, DbUuid};

const MESSAGE_SELECT: &str = "message_uuid, created, message_id, subject, sender, to_addresses, \
    cc_addresses, recipients, raw, status, attempts, next_attempt, claimed_until, \
    last_response, sent, related, transport_stage";

const MESSAGE_SORTABLE: &[(&str, &str)] = &[
    ("created", "created"),
    ("status", "status"),
    ("subject", "subject"),
    ("next_attempt", "next_attempt"),
    ("attempts", "attempts"),
];

/// Newest first by default.
const MESSAGE_LISTING: Listing<'static> = Listing {
    prefix: "",
    select: MESSAGE_SELECT,
    from: "outbox",
    sortable: MESSAGE_SORTABLE,
    default_order: "created DESC",
    tiebreak: "message_uuid ASC",
    page_by_key: None,
};

#[derive(sqlx::FromRow)]
struct MessageRow {
    message_uuid: DbUuid,
    created: DbTime,
    message_id: String,
    subject: String,
    sender: String,
    to_addresses: Json<Value>,
    cc_addresses: Json<Value>,
    recipients: Json<Value>,
    raw: String,
    status: String,
    attempts: i64,
    next_attempt: DbTime,
    claimed_until: Option<DbTime>,
    last_response: String,
    sent: Option<DbTime>,
    related: Json<Value>,
    transport_stage: Option<DbUuid>,
}

fn strings(value: Value) -> Vec<String> {
    match value {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

impl From<MessageRow> for OutboxMessage {
    fn from(row: MessageRow) -> Self {
        OutboxMessage {
            uuid: row.message_uuid.0,
            created: row.created.0,
            message_id: row.message_id,
            subject: row.subject,
            from: row.sender,
            to: strings(row.to_addresses.0),
            cc: strings(row.cc_addresses.0),
            recipients: strings(row.recipients.0),
            raw: row.raw,
            status: MessageStatus::parse(&row.status).unwrap_or_default(),
            attempts: u32::try_from(row.attempts).unwrap_or(u32::MAX),
            next_attempt: row.next_attempt.0,
            claimed_until: row.claimed_until.map(|t| t.0),
            last_response: row.last_response,
            sent: row.sent.map(|t| t.0),
            related: row.related.0,
            transport: row.transport_stage.map(|u| u.0),
        }
    }
}

/// How `list_outbox` narrows the list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutboxFilter {
    pub status: Option<MessageStatus>,
}

impl Tx {
    /// Queues `message` in this transaction: it is sent only if the transaction commits.
    pub async fn queue_message(
        &mut self,
        message: &NewMessage,
        now: OffsetDateTime,
    ) -> StoreResult<Uuid> {
        let uuid = Uuid::new_v4();
        let sql = self
            .sql("INSERT INTO outbox (message_uuid, created, message_id, subject, sender, to_addresses, cc_addresses, recipients, raw, next_attempt, related, invitation_uuid, transport_stage) VALUES (")
            .bind(uuid)
            .then(", ")
            .bind(now)
            .then(", ")
            .bind(message.message_id.clone())
            .then(", ")
            .bind(message.subject.clone())
            .then(", ")
            .bind(message.from.clone())
            .then(", ")
            .bind(Value::from(message.to.clone()))
            .then(", ")
            .bind(Value::from(message.cc.clone()))
            .then(", ")
            .bind(Value::from(message.recipients.clone()))
            .then(", ")
            .bind(message.raw.clone())
            .then(", ")
            .bind(now)
            .then(", ")
            .bind(message.related.clone())
            .then(", ")
            .bind(Arg::OptUuid(
                message.related["invitation"]
                    .as_str()
                    .and_then(|u| Uuid::parse_str(u).ok()),
            ))
            .then(", ")
            .bind(Arg::OptUuid(message.transport))
            .then(")");
        self.execute(sql).await?;
        Ok(uuid)
    }
}

impl Store {
    /// Queues `message` on its own.
    pub async fn queue_message(
        &self,
        message: &NewMessage,
        now: OffsetDateTime,
    ) -> StoreResult<Uuid> {
        let mut tx = self.db().begin().await?;
        let uuid = tx.queue_message(message, now).await?;
        tx.commit().await?;
        Ok(uuid)
    }

    /// Claims the message due first (queued and due, or `sending` by a worker whose claim
    /// ran out: a node that died mid-delivery) until `until`, counting the attempt.
    pub async fn claim_due_message(
        &self,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> StoreResult<Option<OutboxMessage>> {
        let lock = match self.db().backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = self
            .db()
            .sql("UPDATE outbox SET status = 'sending', attempts = attempts + 1, claimed_until = ")
            .bind(until)
            .then(" WHERE message_uuid = (SELECT message_uuid FROM outbox WHERE (status = 'queued' AND next_attempt <= ")
            .bind(now)
            .then(") OR (status = 'sending' AND claimed_until < ")
            .bind(now)
            .then(&format!(
                ") ORDER BY next_attempt LIMIT 1{lock}) RETURNING {MESSAGE_SELECT}"
            ));
        let row: Option<MessageRow> = self.db().fetch_optional(sql).await?;
        Ok(row.map(Into::into))
    }

    /// Keeps the claim on a message being delivered until `until` (a transport whose
    /// timeout is longer than the one the claim was made for).
    pub async fn extend_claim(&self, uuid: Uuid, until: OffsetDateTime) -> StoreResult<()> {
        let sql = self
            .db()
            .sql("UPDATE outbox SET claimed_until = ")
            .bind(until)
            .then(" WHERE status = 'sending' AND message_uuid = ")
            .bind(uuid);
        self.db().execute(sql).await?;
        Ok(())
    }

    /// The server accepted it.
    pub async fn message_sent(
        &self,
        uuid: Uuid,
        answer: &str,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let sql = self
            .db()
            .sql("UPDATE outbox SET status = 'sent', claimed_until = NULL, last_response = ")
            .bind(answer.to_owned())
            .then(", sent = ")
            .bind(now)
            .then(" WHERE message_uuid = ")
            .bind(uuid);
        self.db().execute(sql).await?;
        Ok(())
    }

    /// Not this time: `why`, and the next attempt at `next` (`None`: given up).
    pub async fn message_not_sent(
        &self,
        uuid: Uuid,
        why: &str,
        next: Option<OffsetDateTime>,
    ) -> StoreResult<()> {
        let status = if next.is_some() {
            MessageStatus::Queued
        } else {
            MessageStatus::Failed
        };
        let mut sql = self
            .db()
            .sql("UPDATE outbox SET status = ")
            .bind(status.as_str())
            .then(", claimed_until = NULL, last_response = ")
            .bind(why.to_owned());
        if let Some(next) = next {
            sql = sql.then(", next_attempt = ").bind(next);
        }
        let sql = sql.then(" WHERE message_uuid = ").bind(uuid);
        self.db().execute(sql).await?;
        Ok(())
    }

    /// The addresses each of `invitations` was mailed to (the `to` of its messages, each
    /// once, in the order they were queued; alphabetically among those queued together).
    pub async fn invitation_recipients(
        &self,
        invitations: &[Uuid],
    ) -> StoreResult<HashMap<Uuid, Vec<String>>> {
        let mut out: HashMap<Uuid, Vec<String>> = HashMap::new();
        if invitations.is_empty() {
            return Ok(out);
        }
        let mut sql = self
            .db()
            .sql("SELECT invitation_uuid, to_addresses FROM outbox WHERE invitation_uuid IN ");
        sql.arg_list(invitations.iter().copied());
        sql.push(" ORDER BY created, CAST(to_addresses AS TEXT)");
        let rows: Vec<(DbUuid, Json<Value>)> = self.db().fetch_all(sql).await?;
        for (invitation, to) in rows {
            let seen = out.entry(invitation.0).or_default();
            for address in strings(to.0) {
                if !seen.contains(&address) {
                    seen.push(address);
                }
            }
        }
        Ok(out)
    }

    /// Queues a failed or waiting message for an attempt now; `false` when there is no such
    /// message or it is sent or being sent.
    pub async fn retry_message(&self, uuid: Uuid, now: OffsetDateTime) -> StoreResult<bool> {
        let sql = self
            .db()
            .sql("UPDATE outbox SET status = 'queued', next_attempt = ")
            .bind(now)
            .then(" WHERE message_uuid = ")
            .bind(uuid)
            .then(" AND status IN ('queued', 'failed')");
        Ok(self.db().execute(sql).await? > 0)
    }

    /// Messages not sent yet, by status (`queued`, `failed`), each status present.
    pub async fn unsent_messages(&self) -> StoreResult<Vec<(String, i64)>> {
        let mut counts = Vec::new();
        for status in ["queued", "failed"] {
            // One count per status, through the due index (sent messages are most).
            let sql = self
                .db
                .sql("SELECT COUNT(*) FROM outbox WHERE status = ")
                .bind(status);
            let (n,): (i64,) = self.db.fetch_one(sql).await?;
            counts.push((status.to_owned(), n));
        }
        Ok(counts)
    }

    pub async fn outbox_message(&self, uuid: Uuid) -> StoreResult<Option<OutboxMessage>> {
        let sql = self
            .db()
            .sql(&format!(
                "SELECT {MESSAGE_SELECT} FROM outbox WHERE message_uuid = "
            ))
            .bind(uuid);
        let row: Option<MessageRow> = self.db().fetch_optional(sql).await?;
        Ok(row.map(Into::into))
    }

    /// Newest first by default; `search` looks in the subject and the recipients.
    pub async fn list_outbox(
        &self,
        filter: &OutboxFilter,
        query: &ListQuery,
    ) -> StoreResult<Page<OutboxMessage>> {
        let page: Page<MessageRow> = self
            .list_page(&MESSAGE_LISTING, query, |w| {
                w.eq("status", filter.status.map(|s| s.as_str()));
                w.search(
                    &["subject", "CAST(recipients AS TEXT)"],
                    query.search.as_deref(),
                );
            })
            .await?;
        Ok(page.map(Into::into))
    }
}
