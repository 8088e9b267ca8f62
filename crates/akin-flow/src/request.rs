//! Where a request came from: what policies may see of it and what audit events record.
//! Filled by the HTTP layer (or a test, or the CLI); never cookies or credentials.

/// The request a flow step, a policy or an event belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestInfo {
    pub client_ip: Option<String>,
    pub method: String,
    pub path: String,
    pub user_agent: String,
    pub request_id: String,
    /// Scheme and host the request came to (`https://id.example.com`), for links mailed
    /// from a flow when `AKIN_EXTERNAL_URL` is not set.
    pub site: String,
}
