//! authentik blueprints: the YAML format administrators share flows in, read exactly as
//! authentik reads it. [`yaml`] turns text into a tree with positions; `resolve` evaluates
//! the tags; `apply` turns entries into creates, updates and deletes.

pub mod apply;
pub mod blueprint;
pub mod env;
pub mod error;
pub mod export;
pub mod resolve;
pub mod shipped;
pub mod yaml;

pub use error::{BlueprintError, BlueprintResult, Pos};
