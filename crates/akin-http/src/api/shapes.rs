//! authentik's JSON shapes for the objects the API returns. Field names and presence follow
//! `authentik-client` 2026.8, whose models reject a response that lacks a required key.

use akin_domain::event::Event;
use akin_domain::group::{Group, GroupEntry};
use akin_domain::list::Page;
use akin_domain::token::Token;
use akin_domain::user::{User, UserEntry};
use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::format::{datetime, opt_datetime};

/// The pagination envelope of every list.
pub fn paginated<T>(page: Page<T>, item: impl Fn(T) -> Value) -> Value {
    json!({
        "pagination": page.pagination,
        "results": page.results.into_iter().map(item).collect::<Vec<_>>(),
        "autocomplete": {},
    })
}

/// A stable opaque id per user and installation (authentik's `uid`).
pub fn uid(install_id: &str, pk: i64) -> String {
    Sha256::digest(format!("{install_id}-{pk}").as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An SVG with the user's initials, as a data URI (authentik's "initials" avatar).
pub fn avatar(user: &User) -> String {
    let source = if user.name.trim().is_empty() {
        &user.username
    } else {
        &user.name
    };
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

/// authentik's `User`. `groups_obj` is filled when the caller asked for groups.
pub fn user(entry: &UserEntry, install_id: &str, groups_obj: Option<&[Group]>) -> Value {
    let u = &entry.user;
    json!({
        "pk": u.pk,
        "username": u.username,
        "name": u.name,
        "is_active": u.is_active,
        "last_login": opt_datetime(u.last_login),
        "date_joined": datetime(u.date_joined),
        "is_superuser": entry.is_superuser,
        "groups": entry.groups.iter().map(|g| g.uuid).collect::<Vec<_>>(),
        "groups_obj": groups_obj.map(|groups| groups.iter().map(partial_group).collect::<Vec<_>>()),
        "roles": [],
        "roles_obj": null,
        "email": u.email,
        "avatar": avatar(u),
        "attributes": u.attributes,
        "uid": uid(install_id, u.pk),
        "path": u.path,
        "type": u.user_type.as_str(),
        "uuid": u.uuid,
        "password_change_date": datetime(u.password_change_date),
        "last_updated": datetime(u.last_updated),
    })
}

/// authentik's `PartialUser`, used where another object embeds a user.
pub fn partial_user(u: &User, install_id: &str) -> Value {
    json!({
        "pk": u.pk,
        "username": u.username,
        "name": u.name,
        "is_active": u.is_active,
        "last_login": opt_datetime(u.last_login),
        "email": u.email,
        "attributes": u.attributes,
        "uid": uid(install_id, u.pk),
    })
}

/// authentik's `UserSelf`, what `/core/users/me/` returns for the caller.
pub fn user_self(entry: &UserEntry, install_id: &str) -> Value {
    let u = &entry.user;
    json!({
        "pk": u.pk,
        "username": u.username,
        "name": u.name,
        "is_active": u.is_active,
        "is_superuser": entry.is_superuser,
        "is_current": false,
        "groups": entry.groups.iter().map(|g| json!({"name": g.name, "pk": g.uuid.to_string()})).collect::<Vec<_>>(),
        "roles": [],
        "email": u.email,
        "avatar": avatar(u),
        "uid": uid(install_id, u.pk),
        "settings": {},
        "type": u.user_type.as_str(),
        "system_permissions": [],
    })
}

/// authentik's `PartialGroup`.
pub fn partial_group(g: &Group) -> Value {
    json!({
        "pk": g.uuid,
        "num_pk": g.num_pk,
        "name": g.name,
        "is_superuser": g.is_superuser,
        "attributes": g.attributes,
    })
}

/// authentik's `RelatedGroup` (parents and children).
pub fn related_group(g: &Group) -> Value {
    json!({
        "pk": g.uuid,
        "name": g.name,
        "is_superuser": g.is_superuser,
        "attributes": g.attributes,
        "group_uuid": g.uuid,
    })
}

/// What a group response embeds, each only when the caller asked for it.
#[derive(Default)]
pub struct GroupEmbeds<'a> {
    pub users: Option<&'a [User]>,
    pub parents: Option<&'a [Group]>,
    pub children: Option<&'a [Group]>,
}

/// authentik's `Group`.
pub fn group(entry: &GroupEntry, install_id: &str, embeds: &GroupEmbeds<'_>) -> Value {
    let g = &entry.group;
    json!({
        "pk": g.uuid,
        "num_pk": g.num_pk,
        "name": g.name,
        "is_superuser": g.is_superuser,
        "parents": g.parents,
        "parents_obj": embeds.parents.map(|p| p.iter().map(related_group).collect::<Vec<_>>()),
        "users": entry.users,
        "users_obj": embeds.users.map(|u| u.iter().map(|u| partial_user(u, install_id)).collect::<Vec<_>>()),
        "attributes": g.attributes,
        "roles": [],
        "roles_obj": [],
        "inherited_roles_obj": null,
        "children": entry.children,
        "children_obj": embeds.children.map(|c| c.iter().map(related_group).collect::<Vec<_>>()),
    })
}

/// authentik's `Token`; never the key (that is `view_key/`).
pub fn token(t: &Token, owner: &Value) -> Value {
    json!({
        "pk": t.uuid,
        "managed": t.managed,
        "identifier": t.identifier,
        "intent": t.intent.as_str(),
        "user": t.user_pk,
        "user_obj": owner,
        "description": t.description,
        "expires": opt_datetime(t.expires),
        "expiring": t.expiring,
    })
}

/// authentik's `Event`.
pub fn event(e: &Event) -> Value {
    json!({
        "pk": e.uuid,
        "user": e.user,
        "action": e.action,
        "app": e.app,
        "context": e.context,
        "client_ip": e.client_ip,
        "created": datetime(e.created),
        "expires": datetime(e.expires),
        "brand": e.brand,
    })
}

/// authentik's `Flow`, from the stored flow object and the uuids of its bound stages.
pub fn flow(object: &serde_json::Map<String, Value>, stages: &[Value]) -> Value {
    let text = |k: &str| object.get(k).cloned().unwrap_or(Value::Null);
    let slug = object
        .get("slug")
        .and_then(Value::as_str)
        .unwrap_or_default();
    json!({
        "pk": text("pk"),
        "policybindingmodel_ptr_id": text("pk"),
        "name": text("name"),
        "slug": slug,
        "title": text("title"),
        "designation": text("designation"),
        "background": text("background"),
        "background_url": "/static/dist/assets/images/flow_background.jpg",
        "background_themed_urls": null,
        "stages": stages,
        "policies": [],
        "cache_count": 0,
        "policy_engine_mode": text("policy_engine_mode"),
        "compatibility_mode": object.get("compatibility_mode").cloned().unwrap_or(Value::Bool(false)),
        "export_url": format!("/api/v3/flows/instances/{slug}/export/"),
        "layout": text("layout"),
        "denied_action": text("denied_action"),
        "authentication": text("authentication"),
    })
}

/// The creator of objects made without a user (blueprints applied at start-up), shaped as
/// authentik's anonymous user so clients that require `created_by` still parse.
pub fn anonymous_partial_user() -> Value {
    json!({
        "pk": 0,
        "username": "AnonymousUser",
        "name": "",
        "is_active": true,
        "last_login": null,
        "email": "",
        "attributes": {},
        "uid": "",
    })
}

/// authentik's `Invitation`, plus akin's `uses`, `max_uses` and `status`.
pub fn invitation(
    i: &akin_domain::invitation::Invitation,
    created_by: Value,
    flow_obj: Value,
    now: time::OffsetDateTime,
) -> Value {
    json!({
        "pk": i.uuid,
        "name": i.name,
        "expires": opt_datetime(i.expires),
        "fixed_data": i.fixed_data,
        "created_by": created_by,
        "single_use": i.single_use,
        "flow": i.flow,
        "flow_obj": flow_obj,
        "uses": i.uses,
        "max_uses": i.max_uses,
        "status": i.status(now),
    })
}

/// `GET …/{pk}/used_by/`: authentik's `UsedBy` list.
pub fn used_by(referrers: &[akin_store::Referrer]) -> Value {
    Value::Array(
        referrers
            .iter()
            .map(|r| {
                let (app, model_name) = r.app_and_model();
                json!({
                    "app": app,
                    "model_name": model_name,
                    "pk": r.pk,
                    "name": r.name,
                    "action": r.action.as_str(),
                })
            })
            .collect(),
    )
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
