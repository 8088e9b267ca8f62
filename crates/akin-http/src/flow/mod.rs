//! Running flows over HTTP: the server-side session and authentik's executor API. The rules
//! (plans, stages, invitations) are in `akin_domain`; this module loads what they need,
//! stores what they decide and speaks the protocol.

pub mod executor;
mod interface;
mod redirects;
pub mod session;

pub(crate) use interface::router as interface_router;
pub(crate) use redirects::router as redirects_router;
