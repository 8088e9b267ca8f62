//! The logic of individual stages, free of storage: building challenges and checking
//! responses. The executor (in the HTTP adapter) loads what they need and stores results.

pub mod prompt;
pub mod user_write;
