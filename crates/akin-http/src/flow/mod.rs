//! Running flows over HTTP: the server-side session and authentik's executor API, as JSON
//! (`/api/v3/flows/executor/`) and as HTML pages (`/if/flow/`). The engine (`akin_flow`)
//! plans and runs the flow; this module lends it the browser's session, stores the session
//! afterwards and speaks the protocol.

pub mod executor;
mod interface;
mod redirects;
pub mod session;

pub(crate) use interface::router as interface_router;
pub(crate) use redirects::router as redirects_router;
