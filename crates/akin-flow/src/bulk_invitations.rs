//! Many invitations at once: a row each from a CSV file (`email`, `name`, `groups`, and any
//! other column as fixed data), or one invitation used as the template for a list of
//! addresses. Every row is checked and created in one transaction: rows that are wrong are
//! reported and skipped, or, when the request is atomic, nothing is created. A request with
//! an idempotency key takes the key in that same transaction and keeps its report there, so
//! a retry gets the first report and creates nothing twice. Mail for the created
//! invitations, when asked for, is queued in the transaction too.

use std::collections::HashMap;

use akin_domain::catalog;
use akin_domain::error::FieldErrors;
use akin_domain::invitation::{self, Invitation};
use akin_store::{StoreError, Tx};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Engine;
use crate::mail::InvitationMail;
use crate::objects::{self, WriteError};

/// The most rows one request may have.
pub const MAX_ROWS: usize = 20_000;

/// How long an idempotency key and its report are kept.
const KEY_LIFETIME: time::Duration = time::Duration::days(1);

/// The idempotency scope of bulk invitations (keys are per administrator within it).
const SCOPE: &str = "invitations.bulk";

/// One invitation a bulk request asks for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BulkRow {
    /// Where it came from: the CSV line, or the address's place in the list (from 1).
    pub line: usize,
    pub email: Option<String>,
    pub name: Option<String>,
    /// Group names or pks.
    pub groups: Vec<String>,
    /// Fixed data of this row (over the template's).
    pub fixed: Map<String, Value>,
}

/// What every row of a request shares.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BulkTemplate {
    pub flow: Option<Uuid>,
    pub expires: Option<OffsetDateTime>,
    pub single_use: bool,
    pub max_uses: Option<i64>,
    pub fixed_data: Map<String, Value>,
    pub groups: Vec<Uuid>,
    pub allowed_email: String,
    /// Names made up for rows without one start with this (`team-` → `team-jane-example-com`).
    pub name_prefix: String,
}

/// How one row went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum BulkOutcome {
    Created {
        pk: Uuid,
    },
    /// The row is wrong, by field.
    Invalid {
        errors: FieldErrors,
    },
    /// The row was fine, but the request was atomic and another row was not.
    NotCreated,
}

/// One row's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BulkRowResult {
    pub line: usize,
    pub email: Option<String>,
    pub name: String,
    #[serde(flatten)]
    pub outcome: BulkOutcome,
}

/// What a bulk request did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BulkReport {
    pub created: usize,
    pub invalid: usize,
    /// Whether every row had to be right for any to be created.
    pub atomic: bool,
    /// Messages queued (one per created invitation with an address, when mail was asked).
    pub mailed: usize,
    pub rows: Vec<BulkRowResult>,
}

/// Mail for each created invitation with an address.
#[derive(Debug, Clone)]
pub struct BulkMail<'a> {
    pub base_url: &'a str,
    pub inviter: Option<&'a str>,
    pub template: &'a str,
}

/// A bulk request.
pub struct BulkRequest<'a> {
    pub template: BulkTemplate,
    pub rows: Vec<BulkRow>,
    pub atomic: bool,
    /// The administrator creating them.
    pub by: Option<i64>,
    pub now: OffsetDateTime,
    /// The client's `Idempotency-Key`.
    pub idempotency_key: Option<String>,
    pub mail: Option<BulkMail<'a>>,
    /// Called with the number of rows done so far (a progress bar).
    pub progress: Option<&'a (dyn Fn(usize) + Send + Sync)>,
}

/// How a bulk request was answered.
#[derive(Debug, Clone, PartialEq)]
pub enum BulkAnswer {
    /// Done now.
    Done(BulkReport),
    /// Done before, under the same idempotency key: the first report, nothing done now.
    Replayed(BulkReport),
    /// The key was used for a different request (or that one is still running).
    KeyConflict,
}

/// Why a bulk request could not be done at all.
#[derive(Debug, thiserror::Error)]
pub enum BulkError {
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Mail(#[from] akin_mail::MailError),
}

/// Rows from a CSV file with a header line. `email`, `name` and `groups` (names or pks,
/// separated by `;` or `|`) are read as such; any other column is fixed data (`attributes.team`
/// nests), its value JSON when it parses as a number, `true`/`false` or JSON object, else
/// text. Empty cells are left out.
pub fn rows_from_csv(data: &[u8]) -> Result<Vec<BulkRow>, BulkError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(data);
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| BulkError::Input(format!("the CSV header cannot be read: {e}")))?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_lowercase())
        .collect();
    if headers.iter().all(|h| h.is_empty()) {
        return Err(BulkError::Input("the CSV file has no header line".into()));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            BulkError::Input(format!("CSV line {line}: {e}"))
        })?;
        if rows.len() >= MAX_ROWS {
            return Err(BulkError::Input(format!(
                "more than {MAX_ROWS} rows: split the file"
            )));
        }
        let line = record
            .position()
            .map_or(rows.len() + 2, |p| p.line() as usize);
        let mut row = BulkRow {
            line,
            ..BulkRow::default()
        };
        for (header, cell) in headers.iter().zip(record.iter()) {
            if cell.is_empty() || header.is_empty() {
                continue;
            }
            match header.as_str() {
                "email" => row.email = Some(cell.to_owned()),
                "name" => row.name = Some(cell.to_owned()),
                "groups" => {
                    row.groups = cell
                        .split([';', '|'])
                        .map(str::trim)
                        .filter(|g| !g.is_empty())
                        .map(str::to_owned)
                        .collect();
                }
                key => set_fixed(&mut row.fixed, key, cell_value(cell)),
            }
        }
        rows.push(row);
    }
    Ok(rows)
}

/// A cell as fixed data: a number, a boolean or a JSON object when it reads as one.
fn cell_value(cell: &str) -> Value {
    match serde_json::from_str::<Value>(cell) {
        Ok(value @ (Value::Number(_) | Value::Bool(_) | Value::Object(_))) => value,
        _ => Value::String(cell.to_owned()),
    }
}

/// Puts `value` at a dotted key (`attributes.team`) in fixed data.
pub fn set_fixed(fixed: &mut Map<String, Value>, key: &str, value: Value) {
    let mut current = fixed;
    let mut parts = key.split('.').peekable();
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            current.insert(part.to_owned(), value);
            return;
        }
        let entry = current
            .entry(part.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        current = entry.as_object_mut().expect("an object");
    }
}

/// A name made from an address (`jane.doe@example.com` → `jane-doe-example-com`): letters,
/// digits, `-` and `_` only, as invitation names are.
fn name_from(prefix: &str, email: &str, line: usize) -> String {
    let mut name: String = email
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    name = name.trim_matches('-').to_owned();
    if name.is_empty() {
        name = format!("invitation-{line}");
    }
    format!("{prefix}{name}")
}

/// The digest of what a request asks for, to tell a retry from a different request.
fn digest(template: &BulkTemplate, rows: &[BulkRow], atomic: bool, mail: bool) -> String {
    let text = serde_json::to_string(&json!({
        "template": template, "rows": rows, "atomic": atomic, "mail": mail,
    }))
    .unwrap_or_default();
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Engine {
    /// Creates the invitations `request` asks for (see the module's documentation).
    pub async fn create_invitations(
        &self,
        request: BulkRequest<'_>,
    ) -> Result<BulkAnswer, BulkError> {
        if request.rows.len() > MAX_ROWS {
            return Err(BulkError::Input(format!(
                "more than {MAX_ROWS} rows: split the request"
            )));
        }
        let mut tx = self.store.db().begin().await?;
        let scope = format!("{SCOPE}:{}", request.by.unwrap_or_default());
        if let Some(key) = &request.idempotency_key {
            let digest = digest(
                &request.template,
                &request.rows,
                request.atomic,
                request.mail.is_some(),
            );
            let until = request.now + KEY_LIFETIME;
            if let Some(earlier) = tx
                .take_idempotency_key(&scope, key, &digest, request.now, until)
                .await?
            {
                return Ok(
                    match earlier
                        .response
                        .filter(|_| earlier.digest == digest)
                        .and_then(|r| serde_json::from_value(r).ok())
                    {
                        Some(report) => BulkAnswer::Replayed(report),
                        None => BulkAnswer::KeyConflict,
                    },
                );
            }
        }
        let groups = self.resolve_groups(&mut tx, &request.rows).await?;
        let flow_slug = match request.template.flow {
            Some(flow) => tx.flow_slug(flow).await?,
            None => None,
        };
        let spec = catalog::spec(catalog::INVITATION).expect("the catalog has invitations");
        let mut report = BulkReport {
            created: 0,
            invalid: 0,
            atomic: request.atomic,
            mailed: 0,
            rows: Vec::with_capacity(request.rows.len()),
        };
        let mut created = Vec::new();
        for (done, row) in request.rows.iter().enumerate() {
            let template = &request.template;
            let name = row.name.clone().unwrap_or_else(|| {
                name_from(
                    &template.name_prefix,
                    row.email.as_deref().unwrap_or_default(),
                    row.line,
                )
            });
            let mut fixed = template.fixed_data.clone();
            invitation::deep_merge(&mut fixed, &row.fixed);
            if let Some(email) = &row.email {
                fixed.insert("email".into(), Value::String(email.clone()));
            }
            let mut row_groups: Vec<Uuid> = template.groups.clone();
            let mut errors = FieldErrors::new();
            for group in &row.groups {
                match groups.get(group) {
                    Some(pk) if !row_groups.contains(pk) => row_groups.push(*pk),
                    Some(_) => {}
                    None => errors.add("groups", format!("There is no group {group:?}.")),
                }
            }
            if let Some(email) = &row.email
                && !email.contains('@')
            {
                errors.add("email", format!("{email:?} is not an email address."));
            }
            let outcome = if errors.is_empty() {
                let mut input = Map::new();
                input.insert("name".into(), Value::String(name.clone()));
                input.insert("flow".into(), json!(template.flow));
                input.insert(
                    "expires".into(),
                    json!(
                        template
                            .expires
                            .map(akin_domain::time_format::format_datetime)
                    ),
                );
                input.insert("fixed_data".into(), Value::Object(fixed));
                input.insert("single_use".into(), Value::Bool(template.single_use));
                input.insert("groups".into(), json!(row_groups));
                input.insert(
                    "allowed_email".into(),
                    Value::String(template.allowed_email.clone()),
                );
                input.insert("created_by".into(), json!(request.by));
                match self
                    .create_one(&mut tx, spec, &input, template.max_uses, request.now)
                    .await
                {
                    Ok(pk) => {
                        created.push((pk, row.email.clone()));
                        BulkOutcome::Created { pk }
                    }
                    Err(WriteError::Invalid(errors)) => BulkOutcome::Invalid { errors },
                    Err(WriteError::Store(error)) => return Err(error.into()),
                }
            } else {
                BulkOutcome::Invalid { errors }
            };
            match &outcome {
                BulkOutcome::Created { .. } => report.created += 1,
                BulkOutcome::Invalid { .. } => report.invalid += 1,
                BulkOutcome::NotCreated => {}
            }
            report.rows.push(BulkRowResult {
                line: row.line,
                email: row.email.clone(),
                name,
                outcome,
            });
            if let Some(progress) = request.progress {
                progress(done + 1);
            }
        }
        if request.atomic && report.invalid > 0 {
            // Nothing is created: the transaction (and the key with it) is dropped.
            for row in &mut report.rows {
                if matches!(row.outcome, BulkOutcome::Created { .. }) {
                    row.outcome = BulkOutcome::NotCreated;
                }
            }
            report.created = 0;
            return Ok(BulkAnswer::Done(report));
        }
        if let (Some(mail), Some(slug)) = (&request.mail, &flow_slug) {
            for (pk, email) in &created {
                let Some(email) = email else { continue };
                let Some(invitation) = tx.invitation(*pk).await? else {
                    continue;
                };
                let messages = self.invitation_messages(&InvitationMail {
                    invitation: &invitation,
                    flow_slug: slug,
                    to: std::slice::from_ref(email),
                    cc: &[],
                    bcc: &[],
                    template: mail.template,
                    base_url: mail.base_url,
                    inviter: mail.inviter,
                })?;
                for message in &messages {
                    tx.queue_message(message, request.now).await?;
                    report.mailed += 1;
                }
            }
        }
        if let Some(key) = &request.idempotency_key {
            let stored = serde_json::to_value(&report).unwrap_or_default();
            tx.answer_idempotency_key(&scope, key, &stored).await?;
        }
        tx.commit().await?;
        if report.mailed > 0 {
            self.outbox_waker.notify_one();
        }
        Ok(BulkAnswer::Done(report))
    }

    /// Checks and stores one invitation in `tx`.
    async fn create_one(
        &self,
        tx: &mut Tx,
        spec: &catalog::ModelSpec,
        input: &Map<String, Value>,
        max_uses: Option<i64>,
        now: OffsetDateTime,
    ) -> Result<Uuid, WriteError> {
        let fields = objects::check(tx, self.expressions.as_ref(), spec, input, false).await?;
        let pk = objects::save(tx, spec, None, &fields, now).await?;
        if max_uses.is_some() {
            tx.set_invitation_max_uses(&pk, max_uses)
                .await
                .map_err(WriteError::Store)?;
        }
        pk.as_str()
            .and_then(|p| Uuid::parse_str(p).ok())
            .ok_or(WriteError::Store(StoreError::MissingReference))
    }

    /// The groups rows name (by name or pk), each looked up once; unknown ones are left out.
    async fn resolve_groups(
        &self,
        tx: &mut Tx,
        rows: &[BulkRow],
    ) -> Result<HashMap<String, Uuid>, StoreError> {
        let mut resolved = HashMap::new();
        for group in rows.iter().flat_map(|r| &r.groups) {
            if resolved.contains_key(group) {
                continue;
            }
            let mut found = tx
                .find_objects(catalog::GROUP, &[("name".to_owned(), json!(group))])
                .await?;
            if found.is_empty() && Uuid::parse_str(group).is_ok() {
                found = tx
                    .find_objects(catalog::GROUP, &[("pk".to_owned(), json!(group))])
                    .await?;
            }
            let pk = found
                .first()
                .and_then(|g| g["pk"].as_str())
                .and_then(|p| Uuid::parse_str(p).ok());
            if let Some(pk) = pk {
                resolved.insert(group.clone(), pk);
            }
        }
        Ok(resolved)
    }
}

/// The invitations a report created, for callers that show them (links, API objects).
pub async fn created_invitations(
    engine: &Engine,
    report: &BulkReport,
) -> Result<Vec<Invitation>, StoreError> {
    let mut out = Vec::new();
    for row in &report.rows {
        if let BulkOutcome::Created { pk } = row.outcome
            && let Some(invitation) = engine.store.invitation(pk).await?
        {
            out.push(invitation);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_read_their_columns_and_fixed_data() {
        let rows = rows_from_csv(
            b"\xef\xbb\xbfEmail,name,groups,attributes.team,attributes.level,note\n\
              jane@example.com,,ops; dev,blue,3,\"hello, world\"\n\
              joe@example.com,joe-x,,,,\n",
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].line, 2);
        assert_eq!(rows[0].email.as_deref(), Some("jane@example.com"));
        assert_eq!(rows[0].name, None);
        assert_eq!(rows[0].groups, ["ops", "dev"]);
        assert_eq!(
            Value::Object(rows[0].fixed.clone()),
            json!({"attributes": {"team": "blue", "level": 3}, "note": "hello, world"})
        );
        assert_eq!(rows[1].name.as_deref(), Some("joe-x"));
        assert!(rows[1].fixed.is_empty());
        assert!(
            rows_from_csv(b"email,name\njane@example.com\n").is_err(),
            "a short row"
        );
        assert_eq!(
            name_from("team-", "Jane.Doe@Example.com", 2),
            "team-jane-doe-example-com"
        );
        assert_eq!(name_from("", "@@", 7), "invitation-7");
    }
}
