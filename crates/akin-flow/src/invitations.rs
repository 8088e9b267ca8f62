//! Invitations' lifecycle beyond use and expiry: an administrator withdraws one (revoke)
//! or replaces it by a new one with the same data (reissue). Both keep the old invitation
//! as history; its link is then refused with its own reason (`Invitation::check`).

use akin_domain::catalog;
use akin_domain::error::FieldErrors;
use akin_domain::invitation::Invitation;
use akin_store::StoreError;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Engine;
use crate::objects::{self, WriteError};

/// A revoke's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Revoked {
    /// The invitation as it is now.
    pub invitation: Invitation,
    /// Whether this call withdrew it (`false`: it was withdrawn before; that stays).
    pub now_revoked: bool,
}

impl Engine {
    /// Withdraws invitation `uuid` at `now` (`by` an administrator); `None` when there is
    /// no such invitation.
    pub async fn revoke_invitation(
        &self,
        uuid: Uuid,
        by: Option<i64>,
        now: OffsetDateTime,
    ) -> Result<Option<Revoked>, StoreError> {
        let mut tx = self.store.db().begin().await?;
        let now_revoked = tx.revoke_invitation(uuid, by, now).await?;
        let Some(invitation) = tx.invitation(uuid).await? else {
            return Ok(None);
        };
        tx.commit().await?;
        Ok(Some(Revoked {
            invitation,
            now_revoked,
        }))
    }

    /// Replaces `old` by a new invitation with its name, flow, fixed data, groups, allowed
    /// email and uses allowed,
    /// created by `by`, expiring at `expires` (`None`: the old expiry, which must not have
    /// passed). One transaction: the new invitation exists exactly when the old one is
    /// marked replaced. Refused (by field, in DRF's words) for an expired invitation
    /// without a new expiry, an expiry in the past, or an invitation already revoked or
    /// replaced.
    pub async fn reissue_invitation(
        &self,
        old: &Invitation,
        expires: Option<Option<OffsetDateTime>>,
        by: Option<i64>,
        now: OffsetDateTime,
    ) -> Result<Invitation, WriteError> {
        let refuse =
            |field: &str, message: String| WriteError::Invalid(FieldErrors::single(field, message));
        let expires = match expires {
            Some(given) => given,
            None if old.expires.is_some_and(|e| e <= now) => {
                return Err(refuse(
                    "expires",
                    "This invitation has expired: give the new one's expiry.".into(),
                ));
            }
            None => old.expires,
        };
        if expires.is_some_and(|e| e <= now) {
            return Err(refuse(
                "expires",
                "The expiry must be in the future.".into(),
            ));
        }
        let spec = catalog::spec(catalog::INVITATION).expect("the catalog has invitations");
        let mut input = Map::new();
        input.insert("name".into(), Value::String(old.name.clone()));
        input.insert("flow".into(), json!(old.flow));
        input.insert(
            "expires".into(),
            json!(expires.map(akin_domain::time_format::format_datetime)),
        );
        input.insert("fixed_data".into(), Value::Object(old.fixed_data.clone()));
        input.insert("single_use".into(), Value::Bool(old.single_use));
        input.insert("groups".into(), json!(old.groups));
        input.insert(
            "allowed_email".into(),
            Value::String(old.allowed_email.clone()),
        );
        input.insert("created_by".into(), json!(by));
        let store_error = WriteError::Store;
        let mut tx = self.store.db().begin().await.map_err(store_error)?;
        let fields =
            objects::check(&mut tx, self.expressions.as_ref(), spec, &input, false).await?;
        let pk = objects::save(&mut tx, spec, None, &fields, now).await?;
        tx.set_invitation_max_uses(&pk, old.max_uses)
            .await
            .map_err(store_error)?;
        let new = pk
            .as_str()
            .and_then(|p| Uuid::parse_str(p).ok())
            .ok_or(WriteError::Store(StoreError::MissingReference))?;
        if !tx
            .replace_invitation(old.uuid, new)
            .await
            .map_err(store_error)?
        {
            // Revoked or replaced before (or by a reissue racing this one): the transaction
            // is dropped, and the new invitation with it.
            let current = tx
                .invitation(old.uuid)
                .await
                .map_err(store_error)?
                .unwrap_or_else(|| old.clone());
            return Err(refuse(
                "non_field_errors",
                format!(
                    "This invitation is {} already; it cannot be reissued.",
                    current.status(now).as_str()
                ),
            ));
        }
        let created = tx
            .invitation(new)
            .await
            .map_err(store_error)?
            .ok_or(WriteError::Store(StoreError::MissingReference))?;
        tx.commit().await.map_err(store_error)?;
        Ok(created)
    }
}
