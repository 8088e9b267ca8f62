//! authentik's JSON shapes for the objects the API returns, as typed structs: what is
//! serialised is what `/api/v3/schema/` describes (`ToSchema`). Field names and presence
//! follow `authentik-client` 2026.8, whose models reject a response that lacks a required
//! key; a field is required in the schema unless it is an `Option`.

use akin_domain::blueprint_instance::{BlueprintInstance as StoredInstance, InstanceStatus};
use akin_domain::email::{MessageStatus, OutboxMessage as StoredMessage};
use akin_domain::event::Event as StoredEvent;
use akin_domain::group::{Group as StoredGroup, GroupEntry};
use akin_domain::invitation::InvitationState;
use akin_domain::list::{Page, Pagination};
use akin_domain::token::{Token as StoredToken, TokenIntent};
use akin_domain::user::{User as StoredUser, UserEntry, UserType};
use base64::Engine;
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::format::datetime;

/// The pagination envelope of every list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Paginated<T> {
    pub pagination: Pagination,
    pub results: Vec<T>,
    #[schema(value_type = Object)]
    pub autocomplete: Map<String, Value>,
}

impl<T> Paginated<T> {
    /// The page with each item rendered by `item`.
    pub fn of<S>(page: Page<S>, item: impl FnMut(S) -> T) -> Self {
        Paginated {
            pagination: page.pagination,
            results: page.results.into_iter().map(item).collect(),
            autocomplete: Map::new(),
        }
    }

    /// `results` (rendered elsewhere, in order) under `pagination`.
    pub fn with(pagination: Pagination, results: Vec<T>) -> Self {
        Paginated {
            pagination,
            results,
            autocomplete: Map::new(),
        }
    }
}

/// DRF's error for a request on a missing object or one the caller may not make.
#[derive(Debug, Serialize, ToSchema)]
pub struct GenericError {
    pub detail: String,
}

/// DRF's validation error: messages under each field's name (`non_field_errors` for the
/// request as a whole).
#[derive(Debug, Serialize, ToSchema)]
#[schema(value_type = Object)]
pub struct ValidationError(pub Map<String, Value>);

/// A stable opaque id per user and installation (authentik's `uid`).
pub fn uid(install_id: &str, pk: i64) -> String {
    Sha256::digest(format!("{install_id}-{pk}").as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An SVG with the user's initials, as a data URI (authentik's "initials" avatar).
pub fn avatar(user: &StoredUser) -> String {
    let source = user.shown_name();
    let initials: String = source
        .split_whitespace()
        .filter_map(|word| word.chars().next())
        .take(2)
        .flat_map(char::to_uppercase)
        .filter(|c| c.is_alphanumeric())
        .collect();
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"64\" height=\"64\">\
         <rect width=\"64\" height=\"64\" fill=\"#4b5563\"/>\
         <text x=\"50%\" y=\"50%\" dy=\".35em\" text-anchor=\"middle\" fill=\"#ffffff\" \
         font-family=\"sans-serif\" font-size=\"26\">{initials}</text></svg>"
    );
    format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    )
}

/// authentik's `PartialGroup`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PartialGroup {
    pub pk: Uuid,
    pub num_pk: i64,
    pub name: String,
    pub is_superuser: bool,
    #[schema(value_type = Object)]
    pub attributes: Value,
}

pub fn partial_group(g: &StoredGroup) -> PartialGroup {
    PartialGroup {
        pk: g.uuid,
        num_pk: g.num_pk,
        name: g.name.clone(),
        is_superuser: g.is_superuser,
        attributes: g.attributes.clone(),
    }
}

/// authentik's `User`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct User {
    pub pk: i64,
    pub username: String,
    pub name: String,
    pub is_active: bool,
    #[schema(format = DateTime)]
    pub last_login: Option<String>,
    #[schema(format = DateTime)]
    pub date_joined: String,
    pub is_superuser: bool,
    pub groups: Vec<Uuid>,
    /// Filled when the caller asked for groups (`include_groups`).
    pub groups_obj: Option<Vec<PartialGroup>>,
    /// Roles arrive with RBAC: always empty.
    pub roles: Vec<Uuid>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub roles_obj: Option<Vec<Value>>,
    pub email: String,
    pub avatar: String,
    #[schema(value_type = Object)]
    pub attributes: Value,
    pub uid: String,
    pub path: String,
    #[serde(rename = "type")]
    pub user_type: UserType,
    pub uuid: Uuid,
    #[schema(format = DateTime)]
    pub password_change_date: String,
    #[schema(format = DateTime)]
    pub last_updated: String,
}

/// authentik's `User`. `groups_obj` is filled when the caller asked for groups.
pub fn user(entry: &UserEntry, install_id: &str, groups_obj: Option<&[StoredGroup]>) -> User {
    let u = &entry.user;
    User {
        pk: u.pk,
        username: u.username.clone(),
        name: u.name.clone(),
        is_active: u.is_active,
        last_login: u.last_login.map(datetime),
        date_joined: datetime(u.date_joined),
        is_superuser: entry.is_superuser,
        groups: entry.groups.iter().map(|g| g.uuid).collect(),
        groups_obj: groups_obj.map(|groups| groups.iter().map(partial_group).collect()),
        roles: Vec::new(),
        roles_obj: None,
        email: u.email.clone(),
        avatar: avatar(u),
        attributes: u.attributes.clone(),
        uid: uid(install_id, u.pk),
        path: u.path.clone(),
        user_type: u.user_type,
        uuid: u.uuid,
        password_change_date: datetime(u.password_change_date),
        last_updated: datetime(u.last_updated),
    }
}

/// authentik's `PartialUser`, used where another object embeds a user.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PartialUser {
    pub pk: i64,
    pub username: String,
    pub name: String,
    pub is_active: bool,
    #[schema(format = DateTime)]
    pub last_login: Option<String>,
    pub email: String,
    #[schema(value_type = Object)]
    pub attributes: Value,
    pub uid: String,
}

pub fn partial_user(u: &StoredUser, install_id: &str) -> PartialUser {
    PartialUser {
        pk: u.pk,
        username: u.username.clone(),
        name: u.name.clone(),
        is_active: u.is_active,
        last_login: u.last_login.map(datetime),
        email: u.email.clone(),
        attributes: u.attributes.clone(),
        uid: uid(install_id, u.pk),
    }
}

/// The creator of objects made without a user (blueprints applied at start-up), shaped as
/// authentik's anonymous user so clients that require `created_by` still parse.
pub fn anonymous_partial_user() -> PartialUser {
    PartialUser {
        pk: 0,
        username: "AnonymousUser".into(),
        name: String::new(),
        is_active: true,
        last_login: None,
        email: String::new(),
        attributes: Value::Object(Map::new()),
        uid: String::new(),
    }
}

/// A group as `UserSelf` lists it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserSelfGroup {
    pub name: String,
    pub pk: String,
}

/// authentik's `UserSelf`, what `/core/users/me/` returns for the caller.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserSelf {
    pub pk: i64,
    pub username: String,
    pub name: String,
    pub is_active: bool,
    pub is_superuser: bool,
    pub is_current: bool,
    pub groups: Vec<UserSelfGroup>,
    pub roles: Vec<Uuid>,
    pub email: String,
    pub avatar: String,
    pub uid: String,
    #[schema(value_type = Object)]
    pub settings: Map<String, Value>,
    #[serde(rename = "type")]
    pub user_type: UserType,
    pub system_permissions: Vec<String>,
}

pub fn user_self(entry: &UserEntry, install_id: &str, is_current: bool) -> UserSelf {
    let u = &entry.user;
    UserSelf {
        pk: u.pk,
        username: u.username.clone(),
        name: u.name.clone(),
        is_active: u.is_active,
        is_superuser: entry.is_superuser,
        is_current,
        groups: entry
            .groups
            .iter()
            .map(|g| UserSelfGroup {
                name: g.name.clone(),
                pk: g.uuid.to_string(),
            })
            .collect(),
        roles: Vec::new(),
        email: u.email.clone(),
        avatar: avatar(u),
        uid: uid(install_id, u.pk),
        settings: Map::new(),
        user_type: u.user_type,
        system_permissions: Vec::new(),
    }
}

/// authentik's `SessionUser`: who is signed in (and whom they impersonate: never, here).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SessionUser {
    pub user: UserSelf,
    pub original: Option<UserSelf>,
    pub users: Vec<UserSelf>,
}

/// authentik's `RelatedGroup` (parents and children).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RelatedGroup {
    pub pk: Uuid,
    pub name: String,
    pub is_superuser: bool,
    #[schema(value_type = Object)]
    pub attributes: Value,
    pub group_uuid: Uuid,
}

pub fn related_group(g: &StoredGroup) -> RelatedGroup {
    RelatedGroup {
        pk: g.uuid,
        name: g.name.clone(),
        is_superuser: g.is_superuser,
        attributes: g.attributes.clone(),
        group_uuid: g.uuid,
    }
}

/// What a group response embeds, each only when the caller asked for it.
#[derive(Default)]
pub struct GroupEmbeds<'a> {
    pub users: Option<&'a [StoredUser]>,
    pub parents: Option<&'a [StoredGroup]>,
    pub children: Option<&'a [StoredGroup]>,
}

/// authentik's `Group`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Group {
    pub pk: Uuid,
    pub num_pk: i64,
    pub name: String,
    pub is_superuser: bool,
    pub parents: Vec<Uuid>,
    pub parents_obj: Option<Vec<RelatedGroup>>,
    pub users: Vec<i64>,
    pub users_obj: Option<Vec<PartialUser>>,
    #[schema(value_type = Object)]
    pub attributes: Value,
    pub roles: Vec<Uuid>,
    #[schema(value_type = Vec<Object>)]
    pub roles_obj: Vec<Value>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub inherited_roles_obj: Option<Vec<Value>>,
    pub children: Vec<Uuid>,
    pub children_obj: Option<Vec<RelatedGroup>>,
}

pub fn group(entry: &GroupEntry, install_id: &str, embeds: &GroupEmbeds<'_>) -> Group {
    let g = &entry.group;
    Group {
        pk: g.uuid,
        num_pk: g.num_pk,
        name: g.name.clone(),
        is_superuser: g.is_superuser,
        parents: g.parents.clone(),
        parents_obj: embeds
            .parents
            .map(|p| p.iter().map(related_group).collect()),
        users: entry.users.clone(),
        users_obj: embeds
            .users
            .map(|u| u.iter().map(|u| partial_user(u, install_id)).collect()),
        attributes: g.attributes.clone(),
        roles: Vec::new(),
        roles_obj: Vec::new(),
        inherited_roles_obj: None,
        children: entry.children.clone(),
        children_obj: embeds
            .children
            .map(|c| c.iter().map(related_group).collect()),
    }
}

/// authentik's `Token`; never the key (that is `view_key/`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Token {
    pub pk: Uuid,
    pub managed: Option<String>,
    pub identifier: String,
    pub intent: TokenIntent,
    pub user: i64,
    /// The owner, or null where the owner is gone.
    pub user_obj: Option<User>,
    pub description: String,
    #[schema(format = DateTime)]
    pub expires: Option<String>,
    pub expiring: bool,
}

pub fn token(t: &StoredToken, owner: Option<User>) -> Token {
    Token {
        pk: t.uuid,
        managed: t.managed.clone(),
        identifier: t.identifier.clone(),
        intent: t.intent,
        user: t.user_pk,
        user_obj: owner,
        description: t.description.clone(),
        expires: t.expires.map(datetime),
        expiring: t.expiring,
    }
}

/// `view_key/`: a token's secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    pub key: String,
}

/// authentik's `Reputation` (a sign-in reputation score). akin has no GeoIP or ASN
/// databases: their data is always empty.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Reputation {
    pub pk: Uuid,
    pub identifier: String,
    pub ip: String,
    #[schema(value_type = Object)]
    pub ip_geo_data: Value,
    #[schema(value_type = Object)]
    pub ip_asn_data: Value,
    pub score: i64,
    #[schema(format = DateTime)]
    pub updated: String,
}

pub fn reputation(r: &akin_domain::policy::ReputationScore) -> Reputation {
    Reputation {
        pk: r.uuid,
        identifier: r.identifier.clone(),
        ip: r.ip.clone(),
        ip_geo_data: Value::Object(Default::default()),
        ip_asn_data: Value::Object(Default::default()),
        score: r.score,
        updated: crate::format::datetime(r.updated),
    }
}

/// authentik's `Event`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Event {
    pub pk: Uuid,
    #[schema(value_type = Object)]
    pub user: Value,
    pub action: String,
    pub app: String,
    #[schema(value_type = Object)]
    pub context: Value,
    pub client_ip: Option<String>,
    #[schema(format = DateTime)]
    pub created: String,
    #[schema(format = DateTime)]
    pub expires: String,
    #[schema(value_type = Option<Object>)]
    pub brand: Value,
}

pub fn event(e: &StoredEvent) -> Event {
    Event {
        pk: e.uuid,
        user: e.user.clone(),
        action: e.action.clone(),
        app: e.app.clone(),
        context: e.context.clone(),
        client_ip: e.client_ip.clone(),
        created: datetime(e.created),
        expires: datetime(e.expires),
        brand: e.brand.clone(),
    }
}

/// authentik's `Flow`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Flow {
    #[schema(value_type = Uuid)]
    pub pk: Value,
    #[schema(value_type = Uuid)]
    pub policybindingmodel_ptr_id: Value,
    #[schema(value_type = String)]
    pub name: Value,
    pub slug: String,
    #[schema(value_type = String)]
    pub title: Value,
    #[schema(value_type = akin_domain::flow::options::Designation)]
    pub designation: Value,
    #[schema(value_type = Option<String>)]
    pub background: Value,
    pub background_url: String,
    #[schema(value_type = Option<Object>)]
    pub background_themed_urls: Option<Value>,
    /// The uuids of the stages bound to it.
    #[schema(value_type = Vec<Uuid>)]
    pub stages: Vec<Value>,
    pub policies: Vec<Uuid>,
    pub cache_count: u64,
    #[schema(value_type = String)]
    pub policy_engine_mode: Value,
    #[schema(value_type = bool)]
    pub compatibility_mode: Value,
    pub export_url: String,
    #[schema(value_type = String)]
    pub layout: Value,
    #[schema(value_type = String)]
    pub denied_action: Value,
    #[schema(value_type = String)]
    pub authentication: Value,
}

/// authentik's `Flow`, from the stored flow object and the uuids of its bound stages.
pub fn flow(object: &Map<String, Value>, stages: &[Value]) -> Flow {
    let text = |k: &str| object.get(k).cloned().unwrap_or(Value::Null);
    let slug = object
        .get("slug")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Flow {
        pk: text("pk"),
        policybindingmodel_ptr_id: text("pk"),
        name: text("name"),
        slug: slug.to_owned(),
        title: text("title"),
        designation: text("designation"),
        background: text("background"),
        background_url: "/static/dist/assets/images/flow_background.jpg".into(),
        background_themed_urls: None,
        stages: stages.to_vec(),
        policies: Vec::new(),
        cache_count: 0,
        policy_engine_mode: text("policy_engine_mode"),
        compatibility_mode: object
            .get("compatibility_mode")
            .cloned()
            .unwrap_or(Value::Bool(false)),
        export_url: format!("/api/v3/flows/instances/{slug}/export/"),
        layout: text("layout"),
        denied_action: text("denied_action"),
        authentication: text("authentication"),
    }
}

/// authentik's `Invitation`, plus akin's `uses`, `max_uses` and `status`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Invitation {
    pub pk: Uuid,
    pub name: String,
    #[schema(format = DateTime)]
    pub expires: Option<String>,
    #[schema(value_type = Object)]
    pub fixed_data: Map<String, Value>,
    pub created_by: PartialUser,
    pub single_use: bool,
    pub flow: Option<Uuid>,
    pub flow_obj: Option<Flow>,
    pub uses: i64,
    pub max_uses: Option<i64>,
    pub status: InvitationState,
    /// akin's: where the invitation was mailed (`send_email/`), in order.
    pub sent_to: Vec<String>,
    /// akin's: when it was withdrawn (`revoke/`), and by whom.
    #[schema(format = DateTime)]
    pub revoked: Option<String>,
    pub revoked_by: Option<PartialUser>,
    /// akin's: the invitation that replaced it (`reissue/`).
    pub replaced_by: Option<Uuid>,
    /// akin's: groups the account written with it joins.
    pub groups: Vec<Uuid>,
    /// akin's: whose email the account must have: `jane@example.com`, `@example.com`, or
    /// empty for anyone's.
    pub allowed_email: String,
}

/// akin's: how far people got with invitations' links (`funnel/`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Funnel {
    /// Messages carrying the link.
    pub sent: i64,
    /// Visits that put it into effect (a link scanner's GET counts here, and only here).
    pub opened: i64,
    /// Visits in which the person answered a step.
    pub started: i64,
    /// Accounts written with it.
    pub completed: i64,
}

pub fn funnel(f: &akin_domain::invitation::Funnel) -> Funnel {
    Funnel {
        sent: f.sent,
        opened: f.opened,
        started: f.started,
        completed: f.completed,
    }
}

/// akin's: what `invitations/bulk/` did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BulkResult {
    pub created: usize,
    pub invalid: usize,
    /// Messages queued (`send_email`).
    pub mailed: usize,
    /// Whether every row had to be right for any to be created (`?atomic=true`).
    pub atomic: bool,
    pub results: Vec<BulkRowResult>,
}

/// One row of a bulk request.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BulkRowResult {
    /// The CSV line (the header is line 1), or the address's place in the list.
    pub line: usize,
    pub email: Option<String>,
    pub name: String,
    /// `created`, `invalid`, or `not_created` (right, but the atomic request failed).
    pub status: String,
    pub pk: Option<Uuid>,
    pub link: Option<String>,
    /// DRF's errors by field, for an invalid row.
    #[schema(value_type = Option<Object>)]
    pub errors: Option<akin_domain::error::FieldErrors>,
}

pub fn bulk_result(
    report: &akin_flow::bulk_invitations::BulkReport,
    link: impl Fn(Uuid) -> Option<String>,
) -> BulkResult {
    use akin_flow::bulk_invitations::BulkOutcome;
    BulkResult {
        created: report.created,
        invalid: report.invalid,
        mailed: report.mailed,
        atomic: report.atomic,
        results: report
            .rows
            .iter()
            .map(|row| {
                let (status, pk, errors) = match &row.outcome {
                    BulkOutcome::Created { pk } => ("created", Some(*pk), None),
                    BulkOutcome::Invalid { errors } => ("invalid", None, Some(errors.clone())),
                    BulkOutcome::NotCreated => ("not_created", None, None),
                };
                BulkRowResult {
                    line: row.line,
                    email: row.email.clone(),
                    name: row.name.clone(),
                    status: status.to_owned(),
                    pk,
                    link: pk.and_then(&link),
                    errors,
                }
            })
            .collect(),
    }
}

/// akin's: an account written with an invitation (`uses/`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvitationUse {
    /// The account's pk; null once it is deleted.
    pub user: Option<i64>,
    /// Its username when it was written.
    pub username: String,
    #[schema(format = DateTime)]
    pub created: String,
    pub client_ip: Option<String>,
}

pub fn invitation_use(u: &akin_domain::invitation::InvitationUse) -> InvitationUse {
    InvitationUse {
        user: u.user,
        username: u.username.clone(),
        created: datetime(u.used),
        client_ip: u.client_ip.clone(),
    }
}

/// Who an invitation is about besides itself: its creator and who withdrew it.
pub struct InvitationPeople {
    pub created_by: PartialUser,
    pub revoked_by: Option<PartialUser>,
}

pub fn invitation(
    i: &akin_domain::invitation::Invitation,
    people: InvitationPeople,
    flow_obj: Option<Flow>,
    sent_to: Vec<String>,
    now: time::OffsetDateTime,
) -> Invitation {
    Invitation {
        pk: i.uuid,
        name: i.name.clone(),
        expires: i.expires.map(datetime),
        fixed_data: i.fixed_data.clone(),
        created_by: people.created_by,
        single_use: i.single_use,
        flow: i.flow,
        flow_obj,
        uses: i.uses,
        max_uses: i.max_uses,
        status: i.status(now),
        sent_to,
        revoked: i.revoked.map(|r| datetime(r.at)),
        revoked_by: people.revoked_by,
        replaced_by: i.replaced_by,
        groups: i.groups.clone(),
        allowed_email: i.allowed_email.clone(),
    }
}

/// authentik's `UsedBy`: an object that refers to the one asked about, and what deleting
/// that one does to it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UsedBy {
    pub app: String,
    pub model_name: String,
    pub pk: String,
    pub name: String,
    #[schema(value_type = String, pattern = "^(cascade|cascade_many|set_null|set_default|left_dangling)$")]
    pub action: &'static str,
}

/// `GET …/{pk}/used_by/`: authentik's `UsedBy` list.
pub fn used_by(referrers: &[akin_store::Referrer]) -> Vec<UsedBy> {
    referrers
        .iter()
        .map(|r| {
            let (app, model_name) = r.app_and_model();
            UsedBy {
                app: app.to_owned(),
                model_name: model_name.to_owned(),
                pk: r.pk.clone(),
                name: r.name.clone(),
                action: r.action.as_str(),
            }
        })
        .collect()
}

/// authentik's `TypeCreate`: a kind of stage or policy the admin interface offers to create.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TypeCreate {
    pub name: String,
    pub description: &'static str,
    pub component: &'static str,
    pub model_name: &'static str,
    pub icon_url: Option<String>,
    pub requires_enterprise: bool,
}

/// authentik's `Config`: what its UI reads first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Config {
    #[schema(value_type = Object)]
    pub error_reporting: Value,
    pub capabilities: Vec<String>,
    pub cache_timeout: u32,
    pub cache_timeout_flows: u32,
    pub cache_timeout_policies: u32,
}

/// authentik's `Version`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Version {
    pub version_current: &'static str,
    pub version_latest: &'static str,
    pub version_latest_valid: bool,
    pub build_hash: &'static str,
    pub outdated: bool,
    pub outpost_outdated: bool,
}

/// What a blueprint import answers (200 applied, 400 refused): whether it was applied and
/// its log, one entry per object.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImportResult {
    pub success: bool,
    #[schema(value_type = Vec<Object>)]
    pub logs: Vec<Value>,
}

/// `policies/all/{pk}/test/`: authentik's `PolicyTestResult`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PolicyTestResult {
    pub passing: bool,
    pub messages: Vec<String>,
    #[schema(value_type = Vec<Object>)]
    pub log_messages: Vec<Value>,
}

/// A flow executor challenge: `component` names the stage's kind (`ak-stage-prompt`,
/// `xak-flow-redirect`, …) and decides the other keys, as authentik's polymorphic types.
/// Also what a stage's response is posted as.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Challenge {
    pub component: String,
}

/// A blueprint import form: the file, or the `path` of a blueprint akin ships, and the
/// context as JSON text.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImportFormSchema {
    #[schema(value_type = Option<String>, format = Binary)]
    pub file: Option<Vec<u8>>,
    pub path: Option<String>,
    pub context: Option<String>,
}

/// authentik's `BlueprintFile`: a blueprint that can be imported or instantiated by path.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BlueprintFile {
    pub path: String,
    #[schema(format = DateTime)]
    pub last_m: String,
    pub hash: String,
    /// The blueprint's `metadata` (`name`, `labels`).
    #[schema(value_type = Option<Object>)]
    pub meta: Option<Value>,
}

/// authentik's `BlueprintInstance`, plus akin's `logs` (the last apply's log).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BlueprintInstance {
    pub pk: Uuid,
    pub name: String,
    pub path: String,
    #[schema(value_type = Object)]
    pub context: Map<String, Value>,
    #[schema(format = DateTime)]
    pub last_applied: Option<String>,
    pub last_applied_hash: String,
    pub status: InstanceStatus,
    pub enabled: bool,
    pub managed_models: Vec<String>,
    #[schema(value_type = Object)]
    pub metadata: Value,
    pub content: String,
    #[schema(value_type = Vec<Object>)]
    pub logs: Vec<Value>,
}

pub fn blueprint_instance(i: &StoredInstance) -> BlueprintInstance {
    BlueprintInstance {
        pk: i.uuid,
        name: i.name.clone(),
        path: i.path.clone(),
        context: i.context.clone(),
        last_applied: i.last_applied.map(datetime),
        last_applied_hash: i.last_applied_hash.clone(),
        status: i.status,
        enabled: i.enabled,
        managed_models: i.managed_models.clone(),
        metadata: i.metadata.clone(),
        content: i.content.clone(),
        logs: i.logs.clone(),
    }
}

/// `send_email/`'s refusal, in authentik's shape.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SendEmailError {
    pub error: String,
}

/// A message in akin's outbox (akin's own resource; see `docs/api.md`). The body is not
/// shown: it may carry one-time links.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OutboxMessage {
    pub pk: Uuid,
    #[schema(format = DateTime)]
    pub created: String,
    pub message_id: String,
    pub subject: String,
    pub from: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub status: MessageStatus,
    pub attempts: u32,
    #[schema(format = DateTime)]
    pub next_attempt: String,
    /// The SMTP server's last answer, or why it could not be reached.
    pub last_response: String,
    #[schema(format = DateTime)]
    pub sent: Option<String>,
    /// What the message is about (`{"invitation": pk}`).
    #[schema(value_type = Object)]
    pub related: Value,
}

pub fn outbox_message(m: &StoredMessage) -> OutboxMessage {
    OutboxMessage {
        pk: m.uuid,
        created: datetime(m.created),
        message_id: m.message_id.clone(),
        subject: m.subject.clone(),
        from: m.from.clone(),
        to: m.to.clone(),
        cc: m.cc.clone(),
        status: m.status,
        attempts: m.attempts,
        next_attempt: datetime(m.next_attempt),
        last_response: m.last_response.clone(),
        sent: m.sent.map(datetime),
        related: m.related.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_is_stable_hex_per_installation() {
        assert_eq!(uid("a", 1), uid("a", 1));
        assert_ne!(uid("a", 1), uid("b", 1));
        assert_eq!(uid("a", 1).len(), 64);
    }
}
