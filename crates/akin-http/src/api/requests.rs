//! The request bodies of the resources with handlers of their own, as `/api/v3/schema/`
//! describes them. Handlers read bodies with DRF's coercions and messages (`extract::Fields`:
//! every field's errors at once, `"true"` for `true`, …), which serde cannot give; these
//! types are the contract those readers implement, field for field. Each has a
//! `Patched…` twin in the document with nothing required (see `openapi`).

use akin_domain::token::TokenIntent;
use akin_domain::user::UserType;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

/// authentik's `UserRequest`.
#[derive(ToSchema)]
pub struct UserRequest {
    #[schema(min_length = 1, max_length = 150)]
    pub username: String,
    pub name: String,
    pub is_active: Option<bool>,
    #[schema(format = DateTime)]
    pub last_login: Option<String>,
    pub groups: Option<Vec<Uuid>>,
    pub roles: Option<Vec<Uuid>>,
    pub email: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Map<String, Value>>,
    pub path: Option<String>,
    #[schema(rename = "type")]
    pub user_type: Option<UserType>,
}

/// authentik's `GroupRequest`.
#[derive(ToSchema)]
pub struct GroupRequest {
    #[schema(min_length = 1)]
    pub name: String,
    pub is_superuser: Option<bool>,
    pub parents: Option<Vec<Uuid>>,
    pub users: Option<Vec<i64>>,
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Map<String, Value>>,
}

/// authentik's `TokenRequest`.
#[derive(ToSchema)]
pub struct TokenRequest {
    #[schema(min_length = 1)]
    pub identifier: String,
    pub intent: Option<TokenIntent>,
    pub user: Option<i64>,
    pub description: Option<String>,
    #[schema(format = DateTime)]
    pub expires: Option<String>,
    pub expiring: Option<bool>,
    pub managed: Option<String>,
}

/// `set_password/`: authentik's `UserPasswordSetRequest`.
#[derive(ToSchema)]
pub struct UserPasswordSetRequest {
    pub password: String,
}

/// `add_user/` and `remove_user/`: authentik's `UserAccountRequest`.
#[derive(ToSchema)]
pub struct UserAccountRequest {
    pub pk: i64,
}

/// `set_key/`: authentik's `TokenSetKeyRequest`.
#[derive(ToSchema)]
pub struct TokenSetKeyRequest {
    #[schema(min_length = 1)]
    pub key: String,
}

/// `policies/all/{pk}/test/`: authentik's `PolicyTestRequest`.
#[derive(ToSchema)]
pub struct PolicyTestRequest {
    pub user: i64,
    #[schema(value_type = Option<Object>)]
    pub context: Option<Map<String, Value>>,
}

/// authentik's `BlueprintInstanceRequest`: a blueprint file (`path`) or inline `content`.
#[derive(ToSchema)]
pub struct BlueprintInstanceRequest {
    #[schema(min_length = 1)]
    pub name: String,
    pub path: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub context: Option<Map<String, Value>>,
    pub enabled: Option<bool>,
    pub content: Option<String>,
}

/// authentik's `InvitationSendEmailRequest`.
#[derive(ToSchema)]
pub struct InvitationSendEmailRequest {
    pub email_addresses: Vec<String>,
    pub cc_addresses: Option<Vec<String>>,
    pub bcc_addresses: Option<Vec<String>>,
    /// An email template, `email/invitation.html` by default.
    pub template: Option<String>,
}

/// `POST …/invitations/{pk}/reissue/` (akin's): the body is optional.
#[derive(ToSchema)]
pub struct InvitationReissueRequest {
    /// The new invitation's expiry; by default the old one's (required when that passed).
    #[schema(format = DateTime)]
    pub expires: Option<String>,
}

/// `POST …/invitations/bulk/` as JSON (akin's): an invitation per address, with the
/// settings of the `template` invitation. (A CSV upload is multipart/form-data instead:
/// `file`, `flow`, and optionally `expires`, `single_use`, `max_uses`, `send_email`.)
#[derive(ToSchema)]
pub struct InvitationBulkRequest {
    pub template: Uuid,
    pub emails: Vec<String>,
    /// Mail each its link.
    pub send_email: Option<bool>,
}
