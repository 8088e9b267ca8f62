//! Invitations: who may enroll, with what fixed data, how often. akin consumes an
//! invitation only when the account is written (the store's claim), and every refusal has
//! its own reason.

use crate::choice::choice_enum;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

/// Query parameters that carry an invitation token, in the order they are looked at.
pub const TOKEN_QUERY_KEYS: &[&str] = &["itoken", "token"];
/// A prompt field with this key can carry the token too.
pub const TOKEN_PROMPT_KEY: &str = "token";
/// Plan context keys authentik policies read.
pub const CONTEXT_IN_EFFECT: &str = "invitation_in_effect";
pub const CONTEXT_INVITATION: &str = "invitation";

/// An invitation as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Invitation {
    pub uuid: Uuid,
    pub name: String,
    pub flow: Option<Uuid>,
    pub expires: Option<OffsetDateTime>,
    pub fixed_data: Map<String, Value>,
    pub single_use: bool,
    pub created_by: Option<i64>,
    pub uses: i64,
    /// `None`: unlimited.
    pub max_uses: Option<i64>,
    /// When, and by whom, it was withdrawn: its link is refused from then on.
    pub revoked: Option<Revocation>,
    /// The invitation that replaced it (`reissue/`): its link is refused from then on.
    pub replaced_by: Option<Uuid>,
    /// Groups the account written with it joins (in the claim's transaction).
    pub groups: Vec<Uuid>,
    /// Whose email the account must have: an address (`jane@example.com`), a domain
    /// (`@example.com`), or empty for anyone's ([`email_allowed`]).
    pub allowed_email: String,
}

/// How far people got with invitations' links.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Funnel {
    /// Messages carrying the link (the outbox's, whatever became of them).
    pub sent: i64,
    /// Visits that put it into effect (a link scanner's GET counts here, and only here).
    pub opened: i64,
    /// Visits in which the person answered a step.
    pub started: i64,
    /// Accounts written with it.
    pub completed: i64,
}

/// One of an invitation's visit counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VisitStep {
    Opened,
    Started,
}

/// An account written with an invitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationUse {
    /// `None` once the account is deleted.
    pub user: Option<i64>,
    /// The username it was written with.
    pub username: String,
    pub used: OffsetDateTime,
    pub client_ip: Option<String>,
}

/// Whether `email` satisfies an invitation's `allowed_email` `rule` (letters' case aside):
/// the same address, an address at the domain, or anything when the rule is empty.
pub fn email_allowed(rule: &str, email: &str) -> bool {
    let (rule, email) = (rule.trim().to_lowercase(), email.trim().to_lowercase());
    if rule.is_empty() {
        return true;
    }
    match rule.strip_prefix('@') {
        Some(domain) => email
            .rsplit_once('@')
            .is_some_and(|(local, at)| !local.is_empty() && at == domain),
        None => email == rule,
    }
}

/// What an `allowed_email` rule means, for the person at the prompt.
pub fn email_rule_message(rule: &str) -> String {
    let rule = rule.trim();
    if rule.starts_with('@') {
        format!("This invitation is for addresses ending in {rule}.")
    } else {
        format!("This invitation is for {rule}.")
    }
}

/// Checks an `allowed_email` rule as an administrator writes it; why it is wrong.
pub fn check_email_rule(rule: &str) -> Result<(), String> {
    let rule = rule.trim();
    if rule.is_empty() {
        return Ok(());
    }
    let (local, domain) = match rule.strip_prefix('@') {
        Some(domain) => ("x", domain),
        None => rule.rsplit_once('@').unwrap_or(("", "")),
    };
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
    if local.is_empty() || !domain_ok || local.chars().any(char::is_whitespace) {
        return Err("Enter an email address (jane@example.com) or a domain (@example.com).".into());
    }
    Ok(())
}

/// An invitation's withdrawal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revocation {
    pub at: OffsetDateTime,
    /// The administrator (`None` once their account is gone).
    pub by: Option<i64>,
}

/// Why an invitation cannot be used. Each has a code for machines and words for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A stage requires an invitation and the link carried none.
    Missing,
    NotFound,
    Expired,
    AlreadyUsed,
    OtherFlow,
    Revoked,
    Replaced,
    /// The account's email is not the one the invitation is for (`allowed_email`).
    EmailNotAllowed,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Refusal::Missing => "invitation_missing",
            Refusal::NotFound => "invitation_not_found",
            Refusal::Expired => "invitation_expired",
            Refusal::AlreadyUsed => "invitation_used",
            Refusal::OtherFlow => "invitation_other_flow",
            Refusal::Revoked => "invitation_revoked",
            Refusal::Replaced => "invitation_replaced",
            Refusal::EmailNotAllowed => "invitation_email_mismatch",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Refusal::Missing => {
                "You need an invitation to sign up here. Open the link from your invitation."
            }
            Refusal::NotFound => {
                "This invitation link is not valid. Ask the person who invited you for a new one."
            }
            Refusal::Expired => {
                "This invitation has expired. Ask the person who invited you for a new one."
            }
            Refusal::AlreadyUsed => "This invitation has already been used.",
            Refusal::OtherFlow => "This invitation is for a different sign-up page.",
            Refusal::Revoked => {
                "This invitation has been withdrawn. Ask the person who invited you if you still need one."
            }
            Refusal::Replaced => {
                "This invitation was replaced by a newer one. Use the link from your latest invitation."
            }
            Refusal::EmailNotAllowed => {
                "This invitation is for another email address. Use the address it was sent to."
            }
        }
    }
}

choice_enum! {
    /// Where an invitation stands (its `status` in the API).
    pub enum InvitationState {
        Active = "active",
        Used = "used",
        Expired = "expired",
        /// Withdrawn by an administrator (`revoke/`).
        Revoked = "revoked",
        /// A newer invitation took its place (`reissue/`).
        Replaced = "replaced",
    }
}

impl InvitationState {
    /// A list's `?status=`: one state, or `all` (`Some(None)`); `None` for anything else.
    pub fn parse_filter(text: &str) -> Option<Option<InvitationState>> {
        match text {
            "all" => Some(None),
            other => InvitationState::parse(other).map(Some),
        }
    }

    /// What `?status=` accepts, for messages.
    pub const FILTER_CHOICES: &'static str = "active, used, expired, revoked, replaced, all";
}

impl Invitation {
    /// Whether the invitation may be used in flow `flow` at `now`, and if not, why. An
    /// administrator's decision (revoked, replaced) is said first; expiry is checked
    /// before use count so an old, used link says "expired".
    pub fn check(&self, flow: Uuid, now: OffsetDateTime) -> Result<(), Refusal> {
        if self.revoked.is_some() {
            return Err(Refusal::Revoked);
        }
        if self.replaced_by.is_some() {
            return Err(Refusal::Replaced);
        }
        if self.expires.is_some_and(|e| e <= now) {
            return Err(Refusal::Expired);
        }
        if self.max_uses.is_some_and(|max| self.uses >= max) {
            return Err(Refusal::AlreadyUsed);
        }
        if self.flow.is_some_and(|f| f != flow) {
            return Err(Refusal::OtherFlow);
        }
        Ok(())
    }

    /// Where it stands: what the admin list filters on.
    pub fn status(&self, now: OffsetDateTime) -> InvitationState {
        if self.revoked.is_some() {
            InvitationState::Revoked
        } else if self.replaced_by.is_some() {
            InvitationState::Replaced
        } else if self.max_uses.is_some_and(|max| self.uses >= max) {
            InvitationState::Used
        } else if self.expires.is_some_and(|e| e <= now) {
            InvitationState::Expired
        } else {
            InvitationState::Active
        }
    }

    /// The data the flow fills in and the invitee cannot change: `fixed_data`, with the
    /// `email` of an invitation bound to one address.
    pub fn effective_fixed_data(&self) -> Map<String, Value> {
        let mut fixed = self.fixed_data.clone();
        let rule = self.allowed_email.trim();
        if !rule.is_empty() && !rule.starts_with('@') && !fixed.contains_key("email") {
            fixed.insert("email".into(), Value::String(rule.to_owned()));
        }
        fixed
    }

    /// What the plan context holds (authentik keeps the model object there).
    pub fn to_context(&self) -> Value {
        serde_json::json!({
            "pk": self.uuid,
            "name": self.name,
            "flow": self.flow,
            "fixed_data": self.effective_fixed_data(),
            "single_use": self.single_use,
            "allowed_email": self.allowed_email,
        })
    }
}

/// A token as a uuid; anything else is simply not found.
pub fn parse_token(token: &str) -> Option<Uuid> {
    Uuid::parse_str(token.trim()).ok()
}

/// deepmerge's `always_merger`, as authentik merges fixed data into prompt data: mappings
/// merge recursively, lists append, other values from `from` win.
pub fn deep_merge(into: &mut Map<String, Value>, from: &Map<String, Value>) {
    for (key, value) in from {
        match (into.get_mut(key), value) {
            (Some(Value::Object(existing)), Value::Object(incoming)) => {
                deep_merge(existing, incoming)
            }
            (Some(Value::Array(existing)), Value::Array(incoming)) => {
                existing.extend(incoming.iter().cloned())
            }
            _ => {
                into.insert(key.clone(), value.clone());
            }
        }
    }
}

/// The fixed value for a prompt field key, looking through `attributes.` paths.
pub fn fixed_value<'a>(fixed: &'a Map<String, Value>, field_key: &str) -> Option<&'a Value> {
    if let Some(v) = fixed.get(field_key) {
        return Some(v);
    }
    let mut parts = field_key.split('.');
    let mut current = fixed.get(parts.next()?)?;
    for part in parts {
        current = current.as_object()?.get(part)?;
    }
    Some(current)
}

/// The link an invitation is used with, `<base>/if/flow/<slug>/?itoken=<pk>`: the format
/// authentik's UI shows and mails. `base` is scheme and host (a trailing `/` is dropped).
pub fn link(base: &str, flow_slug: &str, invitation: Uuid) -> String {
    format!(
        "{}/if/flow/{flow_slug}/?itoken={invitation}",
        base.trim_end_matches('/')
    )
}

/// Where a page of the invitation list ends, in its default order (never expiring first,
/// then the latest expiry, the latest created, the lowest id): the next page starts after
/// it. It carries the values themselves rather than a row's id, so a page still follows
/// when the invitation it ended on has been deleted since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvitationCursor {
    pub expires: Option<OffsetDateTime>,
    pub created: OffsetDateTime,
    pub uuid: Uuid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Invalid cursor.")]
pub struct InvalidCursor;

/// `<expires>.<created>.<id>`: the times in microseconds since 1970 (what the database
/// keeps), `-` for never. Clients pass it back as they got it.
impl std::fmt::Display for InvitationCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let micros = |t: OffsetDateTime| t.unix_timestamp_nanos() / 1_000;
        match self.expires {
            Some(expires) => write!(f, "{}.", micros(expires))?,
            None => f.write_str("-.")?,
        }
        write!(f, "{}.{}", micros(self.created), self.uuid.simple())
    }
}

impl std::str::FromStr for InvitationCursor {
    type Err = InvalidCursor;

    fn from_str(text: &str) -> Result<Self, InvalidCursor> {
        let time = |part: &str| {
            let micros: i128 = part.parse().map_err(|_| InvalidCursor)?;
            OffsetDateTime::from_unix_timestamp_nanos(micros * 1_000).map_err(|_| InvalidCursor)
        };
        let mut parts = text.split('.');
        let (Some(expires), Some(created), Some(uuid), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(InvalidCursor);
        };
        Ok(InvitationCursor {
            expires: match expires {
                "-" => None,
                micros => Some(time(micros)?),
            },
            created: time(created)?,
            uuid: Uuid::try_parse(uuid).map_err(|_| InvalidCursor)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::Duration;

    fn invitation() -> Invitation {
        Invitation {
            uuid: Uuid::new_v4(),
            name: "i".into(),
            flow: None,
            expires: None,
            fixed_data: Map::new(),
            single_use: true,
            created_by: None,
            uses: 0,
            max_uses: Some(1),
            revoked: None,
            replaced_by: None,
            groups: Vec::new(),
            allowed_email: String::new(),
        }
    }

    #[test]
    fn allowed_email_rules() {
        assert!(email_allowed("", "anyone@anywhere.test"));
        assert!(email_allowed("Jane@Example.com", " jane@example.COM"));
        assert!(!email_allowed("jane@example.com", "joe@example.com"));
        assert!(email_allowed("@example.com", "joe@EXAMPLE.com"));
        assert!(!email_allowed("@example.com", "joe@example.com.evil.test"));
        assert!(!email_allowed("@example.com", "joe@sub.example.com"));
        assert!(!email_allowed("@example.com", "@example.com"));
        for good in [
            "",
            "jane@example.com",
            "@example.com",
            "@mail.example.co.uk",
        ] {
            assert_eq!(check_email_rule(good), Ok(()), "{good}");
        }
        for bad in [
            "example.com",
            "@",
            "@localhost",
            "jane@",
            "a b@example.com",
            "@exa mple.com",
        ] {
            assert!(check_email_rule(bad).is_err(), "{bad}");
        }
        let bound = Invitation {
            allowed_email: "jane@example.com".into(),
            ..invitation()
        };
        assert_eq!(bound.effective_fixed_data()["email"], "jane@example.com");
        let domain = Invitation {
            allowed_email: "@example.com".into(),
            ..invitation()
        };
        assert!(domain.effective_fixed_data().get("email").is_none());
    }

    #[test]
    fn each_refusal_has_its_reason() {
        let now = OffsetDateTime::now_utc();
        let flow = Uuid::new_v4();
        assert_eq!(invitation().check(flow, now), Ok(()));
        let expired = Invitation {
            expires: Some(now - Duration::seconds(1)),
            ..invitation()
        };
        assert_eq!(expired.check(flow, now), Err(Refusal::Expired));
        let used = Invitation {
            uses: 1,
            ..invitation()
        };
        assert_eq!(used.check(flow, now), Err(Refusal::AlreadyUsed));
        let elsewhere = Invitation {
            flow: Some(Uuid::new_v4()),
            ..invitation()
        };
        assert_eq!(elsewhere.check(flow, now), Err(Refusal::OtherFlow));
        let unlimited = Invitation {
            uses: 40,
            max_uses: None,
            ..invitation()
        };
        assert_eq!(unlimited.check(flow, now), Ok(()));
        assert_eq!(used.status(now), InvitationState::Used);
        assert_eq!(expired.status(now), InvitationState::Expired);
        // An administrator's decision is what a used or expired link says first.
        let revoked = Invitation {
            revoked: Some(Revocation { at: now, by: None }),
            ..expired.clone()
        };
        assert_eq!(revoked.check(flow, now), Err(Refusal::Revoked));
        assert_eq!(revoked.status(now), InvitationState::Revoked);
        let replaced = Invitation {
            replaced_by: Some(Uuid::new_v4()),
            ..used.clone()
        };
        assert_eq!(replaced.check(flow, now), Err(Refusal::Replaced));
        assert_eq!(replaced.status(now), InvitationState::Replaced);
    }

    #[test]
    fn fixed_data_merges_deeply_and_wins() {
        let mut prompt = json!({"email": "typed@x", "attributes": {"a": 1, "tags": ["x"]}})
            .as_object()
            .unwrap()
            .clone();
        let fixed = json!({"email": "fixed@x", "attributes": {"b": 2, "tags": ["y"]}})
            .as_object()
            .unwrap()
            .clone();
        deep_merge(&mut prompt, &fixed);
        assert_eq!(
            Value::Object(prompt),
            json!({"email": "fixed@x", "attributes": {"a": 1, "b": 2, "tags": ["x", "y"]}})
        );
        let fixed = json!({"attributes": {"department": "Eng"}})
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(
            fixed_value(&fixed, "attributes.department"),
            Some(&json!("Eng"))
        );
        assert_eq!(parse_token("not-a-uuid"), None);
    }

    #[test]
    fn cursors_read_back_what_they_wrote_and_refuse_the_rest() {
        let at = |micros: i128| OffsetDateTime::from_unix_timestamp_nanos(micros * 1_000).unwrap();
        for cursor in [
            InvitationCursor {
                expires: Some(at(1_767_225_600_123_456)),
                created: at(1_700_000_000_000_001),
                uuid: Uuid::from_u128(42),
            },
            InvitationCursor {
                expires: None,
                created: at(-5),
                uuid: Uuid::from_u128(u128::MAX),
            },
        ] {
            assert_eq!(cursor.to_string().parse(), Ok(cursor));
        }
        for bad in [
            "",
            "-.1",
            "-.1.zz",
            "x.1.00000000000000000000000000000000",
            "-.1.00000000000000000000000000000000.9",
            "-.99999999999999999999999.00000000000000000000000000000000",
        ] {
            assert_eq!(bad.parse::<InvitationCursor>(), Err(InvalidCursor), "{bad}");
        }
    }
}
