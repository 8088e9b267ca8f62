//! Stages' settings and the rules that need no I/O: what a prompt shows and accepts, how
//! `prompt_data` becomes an account. Running a stage is the engine's (`akin-flow`).

pub mod prompt;
pub mod settings;
pub mod user_write;

pub use settings::StageSettings;
