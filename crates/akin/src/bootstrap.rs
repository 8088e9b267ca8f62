//! First-start setup from `AKIN_BOOTSTRAP_*`: the superuser `akadmin` in the admin group, and
//! an API token with a key the operator chose. Idempotent: it only ever creates (and gives
//! akadmin the password while it has none); a restart, or a changed value, never resets
//! what exists.

use akin_domain::group::{ADMIN_GROUP_NAME, GroupFields};
use akin_domain::ports::PasswordHasher;
use akin_domain::token::{BOOTSTRAP_TOKEN_IDENTIFIER, TokenFields, TokenIntent};
use akin_domain::user::{BOOTSTRAP_USERNAME, NewUser};
use akin_store::Store;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::error::AppError;

#[derive(Debug, Clone, Default)]
pub struct BootstrapSettings {
    pub password: Option<String>,
    pub token: Option<String>,
    pub email: Option<String>,
}

impl BootstrapSettings {
    fn is_empty(&self) -> bool {
        self.password.is_none() && self.token.is_none()
    }
}

/// The admin group, created when missing.
pub fn admin_group() -> GroupFields {
    GroupFields {
        is_superuser: true,
        ..GroupFields::named(ADMIN_GROUP_NAME)
    }
}

/// Applies the bootstrap settings in one transaction.
pub async fn apply(
    store: &Store,
    hasher: &dyn PasswordHasher,
    settings: &BootstrapSettings,
) -> Result<(), AppError> {
    if settings.is_empty() {
        let can_sign_in = serde_json::json!({
            "is_superuser": true,
            "is_active": true,
            "has_usable_password": true,
        });
        let filters = can_sign_in.as_object().expect("an object");
        if store.user_matching(filters).await?.is_some() {
            return Ok(());
        }
        tracing::warn!(
            "no administrator can sign in yet: open /if/flow/initial-setup/ in a browser to set \
             akadmin's email and password, create one with \
             `akin user create --superuser USERNAME`, or start once with \
             AKIN_BOOTSTRAP_PASSWORD set"
        );
        if store.has_superuser().await? {
            return Ok(());
        }
        // A fresh install: akadmin without a password, for the initial-setup flow.
    }

    let existing = store.user_by_username(BOOTSTRAP_USERNAME).await?;
    let exists = existing.is_some();
    // The password is set when akadmin is created, or while it has none (a first plain
    // start made it for the initial-setup flow); never over one it has.
    let without_password = existing.as_ref().is_some_and(|e| e.user.password.is_none());
    let password = match &settings.password {
        Some(password) if !exists || without_password => Some(hasher.hash(password)?),
        _ => None,
    };
    if exists && !without_password && settings.password.is_some() {
        tracing::warn!(
            "akadmin has a password already; AKIN_BOOTSTRAP_PASSWORD was not applied (change it \
             in the admin pages, Directory -> Users, or with the API's set_password)"
        );
    }

    let now = OffsetDateTime::now_utc();
    let mut tx = store.db().begin().await?;
    let new_admin = NewUser {
        name: "akin administrator".to_owned(),
        email: settings.email.clone().unwrap_or_default(),
        password,
        ..NewUser::named(BOOTSTRAP_USERNAME)
    };
    let (admin_pk, created) = store.ensure_user(&mut tx, &new_admin, now).await?;
    if !created && let Some(hash) = &new_admin.password {
        tx.set_user_password(admin_pk, hash, now).await?;
        tracing::info!("set akadmin's password from AKIN_BOOTSTRAP_PASSWORD (it had none)");
    }
    if created {
        let group = store.ensure_group(&mut tx, &admin_group()).await?;
        store.add_member_in(&mut tx, group, admin_pk).await?;
        tracing::info!(group = ADMIN_GROUP_NAME, "created superuser akadmin");
    }

    if let Some(key) = &settings.token {
        let fields = TokenFields {
            identifier: BOOTSTRAP_TOKEN_IDENTIFIER.to_owned(),
            intent: TokenIntent::Api,
            user_pk: admin_pk,
            description: "Created from AKIN_BOOTSTRAP_TOKEN".to_owned(),
            expires: None,
            expiring: false,
            managed: None,
        };
        let (token, created) = store.ensure_token(&mut tx, &fields, key).await?;
        if created {
            tracing::info!(
                identifier = BOOTSTRAP_TOKEN_IDENTIFIER,
                "created bootstrap API token"
            );
        } else if !bool::from(token.key.as_bytes().ct_eq(key.as_bytes())) {
            tracing::warn!(
                identifier = BOOTSTRAP_TOKEN_IDENTIFIER,
                "AKIN_BOOTSTRAP_TOKEN differs from the stored bootstrap token, which is kept; \
                 delete the token to have it created again with the new value"
            );
        }
    }
    tx.commit().await?;
    Ok(())
}
