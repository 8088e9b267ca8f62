//! What akin *is*: the directory (users, groups, API tokens), the audit log, and the rules
//! that hold for them whatever stores or serves them.
//!
//! Pure Rust: no HTTP, no SQL, no clock or randomness it does not receive. The adapters
//! (`akin-store`, `akin-http`, the `akin` binary) depend on this crate, never the reverse.

pub mod blueprint_instance;
pub mod catalog;
mod choice;
pub mod email;
pub mod error;
pub mod event;
pub mod flow;
pub mod group;
pub mod invitation;
pub mod list;
pub mod policy;
pub mod ports;
pub mod stage;
pub mod time_format;
pub mod token;
pub mod user;

pub use error::{DomainError, FieldErrors};
