//! `akin backup FILE`.

use std::path::Path;

use crate::error::AppError;

/// `akin backup FILE`: the SQLite database copied while it serves (see
/// `Db::backup_sqlite`); for PostgreSQL, how to use pg_dump.
pub async fn run(url: &str, file: &Path) -> Result<(), AppError> {
    let Some(path) = akin_store::sqlite_path(url) else {
        return Err(AppError::Usage(format!(
            "{} is PostgreSQL: back it up with pg_dump (pg_dump --format=custom --file=akin.dump '{}'; restore with pg_restore --clean --dbname=… akin.dump)",
            akin_store::redact_url(url),
            akin_store::redact_url(url)
        )));
    };
    if !Path::new(path).is_file() {
        return Err(AppError::Usage(format!("{path}: no database there")));
    }
    if file.exists() {
        return Err(AppError::Usage(format!(
            "{}: already exists; name a new file",
            file.display()
        )));
    }
    let db = akin_store::Db::connect(url).await?;
    let copied = db.backup_sqlite(file).await;
    db.close().await;
    copied?;
    let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    println!(
        "backed up {path} to {} ({size} bytes, integrity ok)",
        file.display()
    );
    Ok(())
}
