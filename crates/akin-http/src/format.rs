//! How values are written and read on the wire, as authentik does it. The rules live in
//! the domain so that blueprints and the API agree.

pub use akin_domain::time_format::{format_datetime as datetime, parse_datetime};
use time::OffsetDateTime;

pub fn opt_datetime(t: Option<OffsetDateTime>) -> serde_json::Value {
    t.map_or(serde_json::Value::Null, |t| datetime(t).into())
}
