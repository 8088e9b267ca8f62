//! One module per kind of object; each adds its methods to [`Store`].

mod blueprint_instances;
mod directory;
mod events;
mod flow_tokens;
mod groups;
mod idempotency;
mod invitations;
mod object_lists;
mod objects;
mod outbox;
mod rate_limits;
mod reputations;
mod sessions;
mod settings;
mod tables;
mod tokens;
mod used_by;
mod users;
mod versions;

use akin_domain::list::{ListQuery, Page, Pagination};

use crate::db::{AnyRow, Db, Sql};
use crate::error::{StoreError, StoreResult};

pub use blueprint_instances::InstanceFilter;
pub use directory::TokenUser;
pub use flow_tokens::ParkedPlan;
pub use groups::GroupWriteError;
pub use idempotency::EarlierRequest;
pub use invitations::{Claim, ClaimError, InvitationFilter, InvitationsByCursor, UserWrite};
pub use object_lists::FieldMatch;
pub use outbox::OutboxFilter;
pub use reputations::ReputationChange;
pub use sessions::SessionRecord;
pub use settings::SECRET_KEY_SETTING;
pub use tables::stores;
pub use tokens::key_digest;
pub use used_by::{DeleteAction, Referrer};
pub use versions::{RECHECK, VersionedMap};

/// The repositories over one database.
#[derive(Debug, Clone)]
pub struct Store {
    db: Db,
    /// Sessions read without a query (see `sessions`).
    sessions: std::sync::Arc<sessions::SessionCache>,
    /// API tokens and their users, on both backends (see `directory`).
    directory: std::sync::Arc<directory::DirectoryCache>,
    /// What flows are built from, as a version (see `versions`).
    flow_definitions: std::sync::Arc<versions::VersionWatch>,
}

impl Store {
    pub fn new(db: Db) -> Self {
        let sessions = sessions::session_cache(db.backend());
        Self {
            db,
            sessions,
            directory: Default::default(),
            flow_definitions: std::sync::Arc::new(versions::VersionWatch::new(
                "SELECT version FROM flow_definitions_version WHERE id = 1",
            )),
        }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }
}

/// Appends ` WHERE a AND b …` to a statement, one condition at a time.
pub(crate) struct Where<'a> {
    sql: &'a mut Sql,
    started: bool,
}

impl<'a> Where<'a> {
    pub(crate) fn new(sql: &'a mut Sql) -> Self {
        Self {
            sql,
            started: false,
        }
    }

    /// Starts the next condition and returns the statement to write it into.
    pub(crate) fn and(&mut self) -> &mut Sql {
        self.sql
            .push(if self.started { " AND " } else { " WHERE " });
        self.started = true;
        self.sql
    }

    /// `column = value` when `value` is given.
    pub(crate) fn eq<T: Into<crate::db::Arg>>(&mut self, column: &str, value: Option<T>) {
        if let Some(value) = value {
            self.and().push(column).push(" = ").arg(value);
        }
    }

    /// Case-insensitive substring match over several columns.
    pub(crate) fn search(&mut self, columns: &[&str], term: Option<&str>) {
        let Some(term) = term.map(str::trim).filter(|t| !t.is_empty()) else {
            return;
        };
        let pattern = format!("%{}%", escape_like(&term.to_lowercase()));
        let sql = self.and();
        sql.push("(");
        for (i, column) in columns.iter().enumerate() {
            if i > 0 {
                sql.push(" OR ");
            }
            sql.push("LOWER(")
                .push(column)
                .push(") LIKE ")
                .arg(pattern.clone())
                .push(" ESCAPE '\\'");
        }
        sql.push(")");
    }
}

fn escape_like(term: &str) -> String {
    term.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// How one list endpoint pages: the `FROM` clause, a filter writer, the sortable fields.
pub(crate) struct Listing<'a> {
    /// Text before `SELECT` (a `WITH` clause), if any.
    pub prefix: &'a str,
    pub select: &'a str,
    pub from: &'a str,
    /// `ordering` names the client may use, each with its SQL expression.
    pub sortable: &'a [(&'a str, &'a str)],
    /// Used when the client gives no usable ordering.
    pub default_order: &'a str,
    /// Appended last so pages never overlap.
    pub tiebreak: &'a str,
    /// A unique column to fetch a page by, when an index holds the order and the filters'
    /// columns: deep pages then skip rows inside the index.
    pub page_by_key: Option<&'a str>,
}

impl Store {
    /// Counts, checks the page, then fetches it: the same filters written twice.
    pub(crate) async fn list_page<R: AnyRow>(
        &self,
        listing: &Listing<'_>,
        query: &ListQuery,
        filters: impl Fn(&mut Where<'_>),
    ) -> StoreResult<Page<R>> {
        let total = self.count_rows(listing, &filters).await?;
        self.fetch_page(listing, query, total, filters).await
    }

    /// The number of rows the filters match.
    pub(crate) async fn count_rows(
        &self,
        listing: &Listing<'_>,
        filters: impl Fn(&mut Where<'_>),
    ) -> StoreResult<i64> {
        let mut count = self.db.sql(listing.prefix);
        count.push(" SELECT COUNT(*) FROM ").push(listing.from);
        filters(&mut Where::new(&mut count));
        let (total,): (i64,) = self.db.fetch_one(count).await?;
        Ok(total)
    }

    /// Checks the page against `total` (the number of rows the filters match, however it
    /// was found), then fetches it.
    pub(crate) async fn fetch_page<R: AnyRow>(
        &self,
        listing: &Listing<'_>,
        query: &ListQuery,
        total: i64,
        filters: impl Fn(&mut Where<'_>),
    ) -> StoreResult<Page<R>> {
        let pagination = Pagination::compute(query.page, total.max(0) as u64)
            .map_err(|_| StoreError::InvalidPage)?;

        let mut order = String::new();
        for key in &query.ordering {
            if let Some((_, expr)) = listing.sortable.iter().find(|(name, _)| *name == key.field) {
                order.push_str(expr);
                order.push_str(if key.descending { " DESC, " } else { " ASC, " });
            }
        }
        if order.is_empty() {
            order.push_str(listing.default_order);
            order.push_str(", ");
        }
        order.push_str(listing.tiebreak);

        let mut page = self.db.sql(listing.prefix);
        page.push(" SELECT ")
            .push(listing.select)
            .push(" FROM ")
            .push(listing.from);
        // Keys first, rows after: the page's keys are found (and the rows before it
        // skipped) inside an index that holds the filters' columns, and only the page's
        // rows are read. PostgreSQL cannot skip rows of a plain index scan without reading
        // them.
        if let Some(key) = listing.page_by_key {
            page.push(" WHERE ")
                .push(key)
                .push(" IN (SELECT ")
                .push(key)
                .push(" FROM ")
                .push(listing.from);
        }
        filters(&mut Where::new(&mut page));
        page.push(" ORDER BY ").push(&order);
        page.push(" LIMIT ")
            .arg(query.page.page_size as i64)
            .push(" OFFSET ")
            .arg(query.page.offset() as i64);
        if listing.page_by_key.is_some() {
            page.push(") ORDER BY ").push(&order);
        }
        let results = self.db.fetch_all(page).await?;
        Ok(Page {
            pagination,
            results,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(super::escape_like("50%_a\\b"), "50\\%\\_a\\\\b");
    }
}
