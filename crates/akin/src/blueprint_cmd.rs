//! `akin blueprint apply|validate FILE…`: imports from the command line, with errors as
//! `file:line:column: message` so editors and CI annotate the right place.

use akin_blueprint::apply::Action;
use akin_flow::blueprints::{ImportRequest, import};
use serde_json::Map;

use crate::cli::{BlueprintOptions, ExpressionOptions};
use crate::error::AppError;
use crate::serve::open_store;

pub async fn run(
    database_url: &str,
    options: BlueprintOptions,
    dry_run: bool,
) -> Result<(), AppError> {
    let store = open_store(database_url).await?;
    let expressions = ExpressionOptions::default().engine()?;
    let context: Map<String, serde_json::Value> = options.context.into_iter().collect();
    let mut failed = 0;
    for file in &options.files {
        let shown = file.display();
        let bytes = match std::fs::read(file) {
            Ok(bytes) => bytes,
            Err(e) => {
                eprintln!("{shown}: cannot read: {e}");
                failed += 1;
                continue;
            }
        };
        let report = import(
            &store,
            ImportRequest {
                bytes: &bytes,
                context: context.clone(),
                files: file.parent(),
                acting_user: None,
                dry_run,
                expressions: &expressions,
                // A file the operator names: authentik's full `!Env`.
                env: &akin_blueprint::env::EnvAccess::All,
            },
        )
        .await?;
        if let Some(error) = &report.error {
            match error.at {
                Some(at) => eprintln!("{shown}:{}:{}: {}", at.line, at.col, message(error)),
                None => eprintln!("{shown}: {}", message(error)),
            }
            failed += 1;
            continue;
        }
        for change in report.changes.iter().filter(|c| c.permissions_deferred) {
            println!(
                "{shown}: entry {}: permissions noted; akin applies them once it has RBAC",
                change.entry
            );
        }
        let count = |action: Action| report.changes.iter().filter(|c| c.action == action).count();
        let verb = if dry_run { "would be" } else { "were" };
        if dry_run {
            for change in report
                .changes
                .iter()
                .filter(|c| c.action != Action::Unchanged)
            {
                let identifiers: Vec<String> = change
                    .identifiers
                    .iter()
                    .map(|(k, v)| format!("{k}={}", akin_blueprint::resolve::scalar_text(v)))
                    .collect();
                println!(
                    "{shown}: entry {}: {} {} {}",
                    change.entry,
                    change.action.as_str(),
                    change.model,
                    identifiers.join(" ")
                );
            }
        }
        println!(
            "{shown}: ok: {} {verb} created, {} updated, {} deleted; {} unchanged, {} skipped",
            count(Action::Created),
            count(Action::Updated),
            count(Action::Deleted),
            count(Action::Unchanged),
            count(Action::Skipped),
        );
    }
    store.db().close().await;
    if failed > 0 {
        return Err(AppError::Usage(format!(
            "{failed} of {} blueprint file(s) failed",
            options.files.len()
        )));
    }
    Ok(())
}

/// The error without its position (the caller prints that first).
fn message(error: &akin_blueprint::BlueprintError) -> String {
    match error.entry {
        Some(entry) => format!("entry {entry}: {}", error.message),
        None => error.message.clone(),
    }
}
