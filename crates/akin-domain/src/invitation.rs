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

    /// What the plan context holds (authentik keeps the model object there).
    pub fn to_context(&self) -> Value {
        serde_json::json!({
            "pk": self.uuid,
            "name": self.name,
            "flow": self.flow,
            "fixed_data": self.fixed_data,
            "single_use": self.single_use,
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
        }
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
}
