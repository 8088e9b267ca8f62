//! Audit events with the request's details, as authentik records them: built here so that
//! the engine, the API and the CLI write the same shape.

use akin_domain::event::{Actor, Event, EventAction};
use akin_store::Store;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::RequestInfo;

/// The acting user as events store it.
pub fn actor_of(user: &akin_domain::user::User) -> Actor {
    Actor {
        pk: user.pk,
        username: user.username.clone(),
        email: user.email.clone(),
    }
}

/// An event with `context` plus the request's details, for recording now or inside the
/// transaction of the change it tells of.
pub fn event(
    request: &RequestInfo,
    action: EventAction,
    actor: Option<&Actor>,
    mut context: serde_json::Value,
) -> Event {
    context["http_request"] = json!({
        "args": {},
        "path": request.path,
        "method": request.method,
        "request_id": request.request_id,
        "user_agent": request.user_agent,
    });
    Event::new(
        Uuid::now_v7(),
        action,
        actor,
        context,
        request.client_ip.clone(),
        OffsetDateTime::now_utc(),
    )
}

/// Records an event with `context` plus the request's details. A failure to record is
/// logged, not returned: what the event describes has already happened.
pub async fn record_event(
    store: &Store,
    request: &RequestInfo,
    action: EventAction,
    actor: Option<&Actor>,
    context: serde_json::Value,
) {
    let event = event(request, action, actor, context);
    if let Err(error) = store.record_event(&event).await {
        tracing::error!(%error, action = action.as_str(), "could not record event");
    }
}
