//! akin's storage: the directory, the audit log, settings and sessions on SQLite (embedded,
//! the default) or PostgreSQL (several nodes on one database), behind one API.
//!
//! Every query is written once in portable SQL; [`db::Sql`] numbers placeholders and
//! [`types`] makes uuids and timestamps look the same from both backends.

pub mod db;
pub mod error;
pub mod repo;
pub mod types;

pub use db::{Backend, Db, Sql, Tx, redact_url, sqlite_path};
pub use error::{StoreError, StoreResult};
pub use repo::{
    Claim, ClaimError, DeleteAction, EarlierRequest, FieldMatch, GroupWriteError, InstanceFilter,
    InvitationFilter, InvitationsByCursor, OutboxFilter, ParkedPlan, RECHECK, Referrer,
    ReputationChange, SECRET_KEY_SETTING, SessionRecord, Store, UserWrite, VersionedMap,
    key_digest, stores,
};
