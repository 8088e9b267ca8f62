/// What can go wrong in storage.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL is not one akin can use.
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://USER@HOST:PORT/DB")]
    UnsupportedUrl(String),
    /// A unique constraint refused the write; `field` names the column.
    #[error("a row with this {field} already exists")]
    Unique { field: String },
    /// A foreign key pointed nowhere (e.g. a membership for a deleted user).
    #[error("a referenced object does not exist")]
    MissingReference,
    #[error("could not prepare the database folder {path}: {source}")]
    Folder {
        path: String,
        source: std::io::Error,
    },
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// No table holds this model.
    #[error("akin does not store {0}")]
    UnsupportedModel(String),
    /// A value does not fit its column (a malformed uuid, say).
    #[error("invalid value {0}")]
    InvalidValue(String),
    /// The requested page lies beyond the last one.
    #[error("Invalid page.")]
    InvalidPage,
    /// An operation only SQLite databases have (`akin backup`).
    #[error("this is not a SQLite database")]
    NotSqlite,
    /// The change would leave no active superuser: nobody could administer akin any more.
    #[error("This is the last active superuser: make another user a superuser first.")]
    LastSuperuser,
    #[error("database error: {0}")]
    Database(sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &error {
            if db.is_unique_violation() {
                return StoreError::Unique {
                    field: unique_field(db.as_ref()),
                };
            }
            if db.is_foreign_key_violation() {
                return StoreError::MissingReference;
            }
        }
        StoreError::Database(error)
    }
}

/// The column a unique violation is about. PostgreSQL names the constraint
/// (`users_username_key`); SQLite names the column in its message
/// (`UNIQUE constraint failed: users.username`).
fn unique_field(error: &dyn sqlx::error::DatabaseError) -> String {
    if let Some(constraint) = error.constraint() {
        let trimmed = constraint
            .strip_suffix("_key")
            .or_else(|| constraint.strip_suffix("_pkey"))
            .unwrap_or(constraint);
        // `<table>_<column…>_key`: the table name may itself hold underscores.
        let columns = error
            .table()
            .and_then(|table| trimmed.strip_prefix(table))
            .and_then(|rest| rest.strip_prefix('_'))
            .or_else(|| trimmed.split_once('_').map(|(_, rest)| rest));
        if let Some(columns) = columns {
            return columns.to_owned();
        }
    }
    let message = error.message();
    message
        .rsplit_once('.')
        .map(|(_, column)| column.trim().to_owned())
        .unwrap_or_else(|| "value".to_owned())
}

pub type StoreResult<T> = Result<T, StoreError>;
