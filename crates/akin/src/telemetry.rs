//! Logging to standard error (standard output is for what commands print, such as
//! invitation links): human-readable text or one JSON object per line, filtered by
//! `AKIN_LOG_LEVEL`. sqlx's per-statement and notice lines are kept at warn unless the
//! filter names sqlx itself.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

pub fn init(format: LogFormat, level: &str) {
    let directives = if level.contains("sqlx") {
        level.to_owned()
    } else {
        format!("{level},sqlx=warn")
    };
    let filter =
        EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}
