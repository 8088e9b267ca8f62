//! The one write path for the catalog's models (flows, stages, prompts, bindings,
//! policies, invitations): the API, blueprint import and the admin pages all go through
//! [`check`] then [`save`], so each model is validated, checked and written — and refused
//! in the same words — whoever writes it.

use akin_domain::catalog::{self, FieldType, ModelSpec};
use akin_domain::policy::ExpressionEngine;
use akin_domain::{FieldErrors, user};
use akin_store::{StoreError, Tx};
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// Why a write was refused.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The input is wrong, in DRF's words, by field.
    #[error("{0}")]
    Invalid(FieldErrors),
    /// The database failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for WriteError {
    fn from(error: StoreError) -> Self {
        WriteError::Store(error)
    }
}

fn invalid(field: &str, message: impl Into<String>) -> WriteError {
    WriteError::Invalid(FieldErrors::single(field, message))
}

/// The most groups one invitation may add its account to.
const MAX_INVITATION_GROUPS: usize = 100;

/// Checks `input` for a write of `spec`'s model and returns the fields to store: the
/// catalog's coercions and defaults (on create), expressions that compile, exactly one
/// subject on a policy binding, and references to objects that exist — read through `tx`,
/// so the check and the write see the same rows.
pub async fn check(
    tx: &mut Tx,
    expressions: &dyn ExpressionEngine,
    spec: &ModelSpec,
    input: &Map<String, Value>,
    partial: bool,
) -> Result<Map<String, Value>, WriteError> {
    let mut fields = catalog::validate(spec, input, partial).map_err(WriteError::Invalid)?;
    if spec.name == catalog::USER {
        // The users API's own rules (username characters, email, path), whoever writes.
        let mut errors = FieldErrors::new();
        let text = |field: &str| fields.get(field).and_then(Value::as_str);
        if let Some(username) = text("username") {
            user::validate_username(username, &mut errors);
        }
        if let Some(email) = text("email") {
            user::validate_email(email, &mut errors);
        }
        if let Some(path) = text("path") {
            user::validate_path(path, &mut errors);
        }
        if !errors.is_empty() {
            return Err(WriteError::Invalid(errors));
        }
    }
    if spec.name == catalog::INVITATION {
        if let Some(rule) = fields.get("allowed_email").and_then(Value::as_str) {
            akin_domain::invitation::check_email_rule(rule)
                .map_err(|message| invalid("allowed_email", message))?;
        }
        // Each group is looked up below: a bound keeps one write from costing thousands.
        if fields
            .get("groups")
            .and_then(Value::as_array)
            .is_some_and(|g| g.len() > MAX_INVITATION_GROUPS)
        {
            return Err(invalid(
                "groups",
                format!("Ensure this field has no more than {MAX_INVITATION_GROUPS} elements."),
            ));
        }
    }
    if spec.name == catalog::TOKEN && !partial && !fields.contains_key("key") {
        // authentik's default: a random key for a token written without one.
        fields.insert(
            "key".to_owned(),
            Value::String(akin_domain::token::generate_key(|n| {
                rand::random_range(0..n)
            })),
        );
    }
    if spec.name == catalog::EXPRESSION_POLICY
        && let Some(expression) = fields.get("expression").and_then(Value::as_str)
    {
        expressions
            .validate(expression)
            .map_err(|e| invalid("expression", format!("Expression Syntax Error: {e}")))?;
    }
    if spec.name == catalog::PASSWORD_POLICY {
        use akin_domain::policy::password::{MAX_ZXCVBN_THRESHOLD, NON_NEGATIVE_FIELDS};
        for field in NON_NEGATIVE_FIELDS {
            let value = fields.get(*field).and_then(Value::as_i64);
            if value.is_some_and(|n| n < 0) {
                return Err(invalid(
                    field,
                    "Ensure this value is greater than or equal to 0.",
                ));
            }
            // Stored values must read back: a policy that does not would be left out.
            if value.is_some_and(|n| n > i64::from(u32::MAX)) {
                return Err(invalid(
                    field,
                    format!("Ensure this value is less than or equal to {}.", u32::MAX),
                ));
            }
        }
        if fields
            .get("zxcvbn_score_threshold")
            .and_then(Value::as_i64)
            .is_some_and(|n| n > i64::from(MAX_ZXCVBN_THRESHOLD))
        {
            // zxcvbn's scores end at 4: a higher threshold would refuse every password.
            return Err(invalid(
                "zxcvbn_score_threshold",
                format!("Ensure this value is less than or equal to {MAX_ZXCVBN_THRESHOLD}."),
            ));
        }
    }
    if spec.name == catalog::REPUTATION_POLICY {
        // On a partial write only what it sets can be judged: both checks turned off.
        let off = |field: &str| fields.get(field) == Some(&Value::Bool(false));
        let nothing_checked = off("check_ip") && off("check_username");
        if nothing_checked {
            return Err(invalid(
                "non_field_errors",
                akin_domain::policy::ReputationPolicy::NOTHING_CHECKED,
            ));
        }
    }
    if spec.name == catalog::POLICY_BINDING && !partial {
        let subjects = ["policy", "group", "user"]
            .iter()
            .filter(|k| fields.get(**k).is_some_and(|v| !v.is_null()))
            .count();
        // authentik's words (PolicyBindingSerializer.validate).
        if subjects > 1 {
            return Err(invalid(
                "non_field_errors",
                "Only one of 'group', 'policy', 'user' can be set.",
            ));
        }
        if subjects < 1 {
            return Err(invalid(
                "non_field_errors",
                "One of 'group', 'policy', 'user' must be set.",
            ));
        }
    }
    for field in spec.fields {
        let (target, values): (&str, Vec<&Value>) = match (field.ty, fields.get(field.name)) {
            (FieldType::Ref(model), Some(v)) if !v.is_null() => (model, vec![v]),
            (FieldType::RefList(model), Some(Value::Array(items))) => {
                (model, items.iter().collect())
            }
            _ => continue,
        };
        for value in values {
            if !tx.object_exists(target, value).await? {
                let shown = value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_owned);
                return Err(invalid(
                    field.name,
                    format!("Invalid pk \"{shown}\" - object does not exist."),
                ));
            }
        }
    }
    Ok(fields)
}

/// Stores checked `fields`: a new object (`pk` is `None`) or changes to one; returns its
/// primary key. A unique violation is refused on its field, in DRF's words.
pub async fn save(
    tx: &mut Tx,
    spec: &ModelSpec,
    pk: Option<&Value>,
    fields: &Map<String, Value>,
    now: OffsetDateTime,
) -> Result<Value, WriteError> {
    let written = match pk {
        Some(pk) => tx
            .update_object(spec.name, pk, fields, now)
            .await
            .map(|()| pk.clone()),
        None => tx.create_object(spec.name, fields, now).await,
    };
    written.map_err(|error| match error {
        StoreError::Unique { field } if field.contains("binding_order") => invalid(
            "non_field_errors",
            "The fields target, stage, order must make a unique set.",
        ),
        StoreError::Unique { field } => invalid(
            &field,
            format!("{} with this {field} already exists.", spec.verbose),
        ),
        StoreError::MissingReference => {
            invalid("non_field_errors", "A referenced object does not exist.")
        }
        other => WriteError::Store(other),
    })
}
