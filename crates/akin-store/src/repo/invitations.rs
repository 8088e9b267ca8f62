//! Invitations, and the claim that makes a single-use invitation yield exactly one account:
//! one conditional update in the transaction that inserts the user.

use akin_domain::invitation::{Invitation, InvitationCursor, InvitationState, Refusal, Revocation};
use akin_domain::user::{NewUser, UserChanges};
use serde_json::{Map, Value};
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::Store;
use super::users::{add_memberships, insert_user, set_password_in, update_user_in};
use crate::db::Tx;
use crate::error::{StoreError, StoreResult};
use crate::types::{DbTime, DbUuid};

const INVITATION_COLUMNS: &str = "invite_uuid, name, flow_uuid, expires, fixed_data, single_use, created_by, uses, max_uses, revoked, revoked_by, replaced_by, groups, allowed_email";
const INVITATION_SELECT: &str = "SELECT invite_uuid, name, flow_uuid, expires, fixed_data, single_use, created_by, uses, max_uses, revoked, revoked_by, replaced_by, groups, allowed_email FROM invitations";

#[derive(sqlx::FromRow)]
struct InvitationRow {
    invite_uuid: DbUuid,
    name: String,
    flow_uuid: Option<DbUuid>,
    expires: Option<DbTime>,
    fixed_data: Json<Value>,
    single_use: bool,
    created_by: Option<i64>,
    uses: i64,
    max_uses: Option<i64>,
    revoked: Option<DbTime>,
    revoked_by: Option<i64>,
    replaced_by: Option<DbUuid>,
    groups: Json<Value>,
    allowed_email: String,
}

impl From<InvitationRow> for Invitation {
    fn from(row: InvitationRow) -> Self {
        Invitation {
            uuid: row.invite_uuid.0,
            name: row.name,
            flow: row.flow_uuid.map(|u| u.0),
            expires: row.expires.map(|t| t.0),
            fixed_data: match row.fixed_data.0 {
                Value::Object(map) => map,
                _ => Map::new(),
            },
            single_use: row.single_use,
            created_by: row.created_by,
            uses: row.uses,
            max_uses: row.max_uses,
            revoked: row.revoked.map(|at| Revocation {
                at: at.0,
                by: row.revoked_by,
            }),
            replaced_by: row.replaced_by.map(|u| u.0),
            groups: row
                .groups
                .0
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|g| g.as_str().and_then(|g| Uuid::parse_str(g).ok()))
                .collect(),
            allowed_email: row.allowed_email,
        }
    }
}

/// Why an account was not written.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error("the invitation cannot be used: {}", .0.code())]
    Refused(Refusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Store {
    pub async fn invitation(&self, uuid: Uuid) -> StoreResult<Option<Invitation>> {
        let sql = self
            .db()
            .sql(INVITATION_SELECT)
            .then(" WHERE invite_uuid = ")
            .bind(uuid);
        Ok(self
            .db()
            .fetch_optional::<InvitationRow>(sql)
            .await?
            .map(Into::into))
    }

    /// Writes the account (creates it, or updates the flow's pending user) and, when
    /// `claim` names an invitation and the flow being run, takes one use of it, all in one
    /// transaction. The use is taken by a single conditional update, so however many
    /// requests race for a single-use invitation, on however many nodes, one account is
    /// written and the others get the reason. Returns the user's pk.
    pub async fn write_user_claiming(
        &self,
        write: UserWrite<'_>,
        claim: Option<&Claim>,
        now: OffsetDateTime,
        events: impl FnOnce(i64) -> Vec<akin_domain::event::Event>,
    ) -> Result<i64, ClaimError> {
        let mut tx = self.db().begin().await?;
        let mut claimed = None;
        if let Some(&Claim {
            invitation, flow, ..
        }) = claim
        {
            // First statement of the transaction: on SQLite it takes the write lock at once.
            let sql = tx
                .sql("UPDATE invitations SET uses = uses + 1 WHERE invite_uuid = ")
                .bind(invitation)
                .then(
                    " AND (max_uses IS NULL OR uses < max_uses) AND (expires IS NULL OR expires > ",
                )
                .bind(now)
                .then(") AND (flow_uuid IS NULL OR flow_uuid = ")
                .bind(flow)
                .then(") AND revoked IS NULL AND replaced_by IS NULL");
            if tx.execute(sql).await? == 0 {
                return Err(ClaimError::Refused(
                    refusal(&mut tx, invitation, flow, now).await?,
                ));
            }
            let taken = tx
                .invitation(invitation)
                .await?
                .ok_or(StoreError::MissingReference)?;
            // Dropping the transaction gives the use back.
            if !akin_domain::invitation::email_allowed(&taken.allowed_email, write.email()) {
                return Err(ClaimError::Refused(Refusal::EmailNotAllowed));
            }
            claimed = Some(taken);
        }
        let pk = match write {
            UserWrite::Create { user, groups } => {
                let pk = insert_user(&mut tx, user, now, false)
                    .await?
                    .ok_or(StoreError::MissingReference)?;
                add_memberships(&mut tx, pk, groups).await?;
                pk
            }
            UserWrite::Update {
                pk,
                changes,
                password,
            } => {
                if !update_user_in(&mut tx, pk, changes, now).await? {
                    return Err(StoreError::MissingReference.into());
                }
                if let Some(phc) = password {
                    set_password_in(&mut tx, pk, phc, now).await?;
                }
                pk
            }
        };
        if let (Some(invitation), Some(claim)) = (&claimed, claim) {
            join_groups(&mut tx, &invitation.groups, pk).await?;
            let sql = tx
                .sql("INSERT INTO invitation_uses (invite_uuid, user_id, username, used, client_ip) SELECT ")
                .bind(invitation.uuid)
                .then(", id, username, ")
                .bind(now)
                .then(", ")
                .bind(crate::db::Arg::OptText(claim.client_ip.clone()))
                .then(" FROM users WHERE id = ")
                .bind(pk);
            tx.execute(sql).await?;
        }
        // The audit events of the write commit with it, or not at all.
        for event in events(pk) {
            tx.record_event(&event).await?;
        }
        tx.commit().await?;
        Ok(pk)
    }
}

/// The invitation a write claims a use of, in the flow being run, and who asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub invitation: Uuid,
    pub flow: Uuid,
    /// Recorded with the use.
    pub client_ip: Option<String>,
}

/// Adds `user` to those of `groups` that still exist.
async fn join_groups(tx: &mut Tx, groups: &[Uuid], user: i64) -> StoreResult<()> {
    if groups.is_empty() {
        return Ok(());
    }
    let mut sql = tx
        .sql("INSERT INTO group_members (group_uuid, user_id) SELECT group_uuid, ")
        .bind(user)
        .then(" FROM groups WHERE group_uuid IN ");
    sql.arg_list(groups.iter().map(|g| crate::db::Arg::Uuid(*g)));
    let sql = sql.then(" ON CONFLICT DO NOTHING");
    tx.execute(sql).await?;
    Ok(())
}

/// What a user write stage writes.
pub enum UserWrite<'a> {
    /// A new account, in these groups.
    Create {
        user: &'a NewUser,
        groups: &'a [Uuid],
    },
    /// The pending user, changed; a new password hash when one was entered.
    Update {
        pk: i64,
        changes: &'a UserChanges,
        password: Option<&'a str>,
    },
}

impl UserWrite<'_> {
    /// The account's email as written.
    fn email(&self) -> &str {
        match self {
            UserWrite::Create { user, .. } => &user.email,
            UserWrite::Update { changes, .. } => &changes.email,
        }
    }
}

/// Why a claim matched no row.
async fn refusal(
    tx: &mut Tx,
    invitation: Uuid,
    flow: Uuid,
    now: OffsetDateTime,
) -> StoreResult<Refusal> {
    let sql = tx
        .sql(INVITATION_SELECT)
        .then(" WHERE invite_uuid = ")
        .bind(invitation);
    let found: Option<Invitation> = tx
        .fetch_optional::<InvitationRow>(sql)
        .await?
        .map(Into::into);
    Ok(match found {
        None => Refusal::NotFound,
        Some(invitation) => invitation
            .check(flow, now)
            .err()
            .unwrap_or(Refusal::AlreadyUsed),
    })
}

/// What an invitation list may be narrowed to.
#[derive(Debug, Clone, PartialEq)]
pub struct InvitationFilter {
    pub name: Option<String>,
    pub created_by_username: Option<String>,
    pub expires: Option<OffsetDateTime>,
    pub flow_slug: Option<String>,
    /// Where they stand; `None`: all of them.
    pub status: Option<InvitationState>,
}

/// The active ones, as authentik's list shows them.
impl Default for InvitationFilter {
    fn default() -> Self {
        InvitationFilter {
            name: None,
            created_by_username: None,
            expires: None,
            flow_slug: None,
            status: Some(InvitationState::Active),
        }
    }
}

const INVITATION_SORTABLE: &[(&str, &str)] = &[
    ("name", "i.name"),
    ("expires", "i.expires"),
    ("created", "i.created"),
    ("uses", "i.uses"),
];

const INVITATION_LISTING: super::Listing<'static> = super::Listing {
    prefix: "",
    select: "i.invite_uuid, i.name, i.flow_uuid, i.expires, i.fixed_data, i.single_use, i.created_by, i.uses, i.max_uses, i.revoked, i.revoked_by, i.replaced_by, i.groups, i.allowed_email",
    from: "invitations i",
    sortable: INVITATION_SORTABLE,
    // authentik's default: -expires (never-expiring first, as PostgreSQL sorts NULLs).
    // `list_invitations_after` seeks in this order, and the list order index holds it.
    default_order: "(i.expires IS NULL) DESC, i.expires DESC",
    tiebreak: "i.created DESC, i.invite_uuid ASC",
    page_by_key: Some("i.invite_uuid"),
};

/// A page of the invitation list by cursor.
#[derive(Debug, Clone, PartialEq)]
pub struct InvitationsByCursor {
    /// All the invitations the filters match, as `pagination.count` says.
    pub count: u64,
    pub results: Vec<Invitation>,
    /// Where the next page starts; `None` on the last.
    pub next: Option<InvitationCursor>,
}

#[derive(sqlx::FromRow)]
struct KeyedInvitationRow {
    #[sqlx(flatten)]
    row: InvitationRow,
    created: DbTime,
}

impl Store {
    pub async fn list_invitations(
        &self,
        filter: &InvitationFilter,
        query: &akin_domain::list::ListQuery,
        now: OffsetDateTime,
    ) -> StoreResult<akin_domain::list::Page<Invitation>> {
        let search = query.search.as_deref();
        let filters = self.invitation_filters(filter, search, now);
        let page: akin_domain::list::Page<InvitationRow> =
            match self.tallied_total(filter, search, now).await? {
                Some(total) => {
                    self.fetch_page(&INVITATION_LISTING, query, total, filters)
                        .await?
                }
                None => self.list_page(&INVITATION_LISTING, query, filters).await?,
            };
        Ok(page.map(Into::into))
    }

    /// The page of `page_size` invitations after `after` (from the top when `None`) in the
    /// list's default order, and the cursor of the next page when there is one. Each page
    /// is a seek in the order's index, however deep: no rows before it are read.
    pub async fn list_invitations_after(
        &self,
        filter: &InvitationFilter,
        search: Option<&str>,
        after: Option<InvitationCursor>,
        page_size: u64,
        now: OffsetDateTime,
    ) -> StoreResult<InvitationsByCursor> {
        let sqlite = self.db.backend() == crate::db::Backend::Sqlite;
        let filters = self.invitation_filters(filter, search, now);
        let count = match self.tallied_total(filter, search, now).await? {
            Some(total) => total,
            None => self.count_rows(&INVITATION_LISTING, &filters).await?,
        };
        // The order has two parts, never-expiring invitations first: each part is one
        // range of the index, sought separately so that each query is a plain seek.
        let parts: &[(bool, Option<InvitationCursor>)] = match after {
            None => &[(true, None), (false, None)],
            Some(cursor) if cursor.expires.is_none() => &[(true, Some(cursor)), (false, None)],
            Some(cursor) => &[(false, Some(cursor))],
        };
        let wanted = page_size as usize + 1;
        let mut rows: Vec<KeyedInvitationRow> = Vec::with_capacity(wanted);
        for &(never, after) in parts {
            if rows.len() >= wanted {
                break;
            }
            let mut sql = self.db.sql("SELECT ");
            sql.push(INVITATION_LISTING.select)
                .push(", i.created FROM ")
                .push(INVITATION_LISTING.from);
            let mut w = super::Where::new(&mut sql);
            filters(&mut w);
            // Written so that each database seeks (checked with its planner): SQLite
            // binds the list order index's first column by `= TRUE/FALSE`; PostgreSQL
            // reads the never-expiring part from its own index (migration 0017) and binds
            // the first column only by `IS FALSE` (it turns `= FALSE` into `IS NOT NULL`).
            w.and().push(match (never, sqlite) {
                (true, _) => "(i.expires IS NULL) = TRUE AND i.expires IS NULL",
                (false, true) => "(i.expires IS NULL) = FALSE",
                (false, false) => "(i.expires IS NULL) IS FALSE",
            });
            if let Some(cursor) = after {
                let created = cursor.created;
                let later = w.and();
                if let Some(expires) = cursor.expires {
                    later
                        .push("i.expires <= ")
                        .arg(expires)
                        .push(" AND (i.expires < ")
                        .arg(expires)
                        .push(" OR ");
                } else {
                    // The bound the seek starts from; the OR below cannot be one.
                    later.push("i.created <= ").arg(created).push(" AND (");
                }
                later
                    .push("i.created < ")
                    .arg(created)
                    .push(" OR (i.created = ")
                    .arg(created)
                    .push(" AND i.invite_uuid > ")
                    .arg(cursor.uuid)
                    .push("))");
            }
            // The order within the part: SQLite sorts again when the order names the
            // index's first column, which the part holds equal.
            sql.push(if never {
                " ORDER BY i.created DESC, i.invite_uuid ASC"
            } else {
                " ORDER BY i.expires DESC, i.created DESC, i.invite_uuid ASC"
            })
            .push(" LIMIT ")
            .arg((wanted - rows.len()) as i64);
            rows.extend(self.db.fetch_all::<KeyedInvitationRow>(sql).await?);
        }
        let next = if rows.len() > page_size as usize {
            rows.truncate(page_size as usize);
            rows.last().map(|last| InvitationCursor {
                expires: last.row.expires.as_ref().map(|t| t.0),
                created: last.created.0,
                uuid: last.row.invite_uuid.0,
            })
        } else {
            None
        };
        Ok(InvitationsByCursor {
            count: count.max(0) as u64,
            results: rows.into_iter().map(|keyed| keyed.row.into()).collect(),
            next,
        })
    }

    /// The conditions that narrow the invitation list to `filter` and `search`.
    fn invitation_filters<'q>(
        &self,
        filter: &'q InvitationFilter,
        search: Option<&'q str>,
        now: OffsetDateTime,
    ) -> impl Fn(&mut super::Where<'_>) + 'q {
        let sqlite = self.db.backend() == crate::db::Backend::Sqlite;
        move |w: &mut super::Where<'_>| {
            w.eq("i.name", filter.name.clone());
            w.eq("i.expires", filter.expires);
            if let Some(username) = &filter.created_by_username {
                w.and()
                    .push("i.created_by IN (SELECT id FROM users WHERE username = ")
                    .arg(username.clone())
                    .push(")");
            }
            if let Some(slug) = &filter.flow_slug {
                w.and()
                    .push("i.flow_uuid IN (SELECT flow_uuid FROM flows WHERE slug = ")
                    .arg(slug.clone())
                    .push(")");
            }
            // The same order of precedence as `Invitation::status`.
            let live = "i.revoked IS NULL AND i.replaced_by IS NULL";
            let used = "(i.max_uses IS NOT NULL AND i.uses >= i.max_uses)";
            match filter.status {
                Some(InvitationState::Active) => {
                    w.and()
                        .push(live)
                        .push(" AND NOT ")
                        .push(used)
                        // Not `expires IS NULL OR expires > now`: SQLite would answer
                        // that OR through two index ranges and a sort, where a page by
                        // cursor walks the list order index.
                        .push(" AND COALESCE(i.expires > ")
                        .arg(now)
                        .push(", TRUE)");
                }
                Some(InvitationState::Used) => {
                    w.and().push(live).push(" AND ").push(used);
                }
                Some(InvitationState::Expired) => {
                    w.and()
                        .push(live)
                        .push(" AND NOT ")
                        .push(used)
                        .push(" AND i.expires IS NOT NULL AND i.expires <= ")
                        .arg(now);
                }
                Some(InvitationState::Revoked) => {
                    w.and().push("i.revoked IS NOT NULL");
                }
                Some(InvitationState::Replaced) => {
                    w.and()
                        .push("i.revoked IS NULL AND i.replaced_by IS NOT NULL");
                }
                None => {}
            }
            match search.map(str::trim) {
                // SQLite: the trigram index (migration 0014) answers three characters
                // or more; the term is one FTS5 phrase, its quotes doubled.
                Some(term) if sqlite && term.chars().count() >= 3 => {
                    w.and()
                        .push("i.search_rowid IN (SELECT rowid FROM invitations_search WHERE invitations_search MATCH ")
                        .arg(format!("\"{}\"", term.replace('"', "\"\"")))
                        .push(")");
                }
                // PostgreSQL's trigram index serves this LIKE itself.
                _ => w.search(&["i.name"], search),
            }
        }
    }

    /// The number of invitations the list shows, from the tallies (migration 0015) when
    /// only the status (active or all) and the flow narrow it; `None` when other filters
    /// do, which narrow through their own indexes and are counted exactly.
    async fn tallied_total(
        &self,
        filter: &InvitationFilter,
        search: Option<&str>,
        now: OffsetDateTime,
    ) -> StoreResult<Option<i64>> {
        let searched = search.is_some_and(|t| !t.trim().is_empty());
        if filter.name.is_some()
            || filter.created_by_username.is_some()
            || filter.expires.is_some()
            || searched
        {
            return Ok(None);
        }
        let of_flow = |sql| of_flow(sql, filter.flow_slug.as_deref());
        let total = match filter.status {
            None => {
                let sql = self.db.sql(
                    "SELECT CAST(COALESCE(SUM(invitations), 0) AS BIGINT) FROM invitation_tallies_now WHERE 1 = 1",
                );
                let (all,): (i64,) = self.db.fetch_one(of_flow(sql)).await?;
                all
            }
            Some(InvitationState::Active) => {
                // Open ones expiring after this hour, or never…
                let hour = now.to_offset(time::UtcOffset::UTC);
                let hour_start = hour.replace_time(
                    time::Time::from_hms(hour.hour(), 0, 0).unwrap_or(time::Time::MIDNIGHT),
                );
                let key = format!(
                    "{:04}-{:02}-{:02}T{:02}",
                    hour.year(),
                    u8::from(hour.month()),
                    hour.day(),
                    hour.hour()
                );
                let later = self
                    .db
                    .sql("SELECT CAST(COALESCE(SUM(open), 0) AS BIGINT) FROM invitation_tallies_now WHERE (expiry_hour = '' OR expiry_hour > ")
                    .bind(key)
                    .then(")");
                let (later,): (i64,) = self.db.fetch_one(of_flow(later)).await?;
                // …and those of this hour not yet expired, counted through the expiry index.
                let this_hour = self
                    .db
                    .sql("SELECT COUNT(*) FROM invitations WHERE revoked IS NULL AND replaced_by IS NULL AND (max_uses IS NULL OR uses < max_uses) AND expires > ")
                    .bind(now)
                    .then(" AND expires < ")
                    .bind(hour_start + time::Duration::HOUR);
                let (this_hour,): (i64,) = self.db.fetch_one(of_flow(this_hour)).await?;
                later + this_hour
            }
            Some(_) => return Ok(None),
        };
        Ok(Some(total))
    }
}

/// `sql` (a statement ending in a `WHERE` clause) narrowed to the invitations, or their
/// tallies, of the flow `slug`.
fn of_flow(sql: crate::db::Sql, slug: Option<&str>) -> crate::db::Sql {
    match slug {
        Some(slug) => sql
            .then(" AND flow_uuid IN (SELECT flow_uuid FROM flows WHERE slug = ")
            .bind(slug.to_owned())
            .then(")"),
        None => sql,
    }
}

impl Store {
    /// On PostgreSQL, moves the changes to the invitation tallies appended since the last
    /// call into the tallies (migration 0015); SQLite updates them in place.
    ///
    /// Every reader of a total sums what is left in `invitation_tally_deltas`, and the
    /// rows deleted here stay in its pages until vacuumed: after a bulk import of a
    /// million invitations every list would read a million dead rows until autovacuum came
    /// by (up to a minute). So the table is vacuumed here once many rows died in it.
    pub async fn fold_invitation_tallies(&self) -> StoreResult<()> {
        const VACUUM_AFTER: i64 = 10_000;
        if self.db.backend() != crate::db::Backend::Postgres {
            return Ok(());
        }
        self.db
            .execute(self.db.sql("SELECT fold_invitation_tallies()"))
            .await?;
        let (dead,): (i64,) = self
            .db
            .fetch_one(self.db.sql(
                "SELECT COALESCE(MAX(n_dead_tup), 0) FROM pg_stat_user_tables WHERE relname = 'invitation_tally_deltas'",
            ))
            .await?;
        if dead > VACUUM_AFTER {
            self.db
                .execute(self.db.sql("VACUUM invitation_tally_deltas"))
                .await?;
        }
        Ok(())
    }

    /// Counts one more visit reaching `step` with invitation `uuid`.
    pub async fn count_invitation_visit(
        &self,
        uuid: Uuid,
        step: akin_domain::invitation::VisitStep,
    ) -> StoreResult<()> {
        let column = match step {
            akin_domain::invitation::VisitStep::Opened => "opened",
            akin_domain::invitation::VisitStep::Started => "started",
        };
        let sql = self
            .db()
            .sql(&format!(
                "UPDATE invitations SET {column} = {column} + 1 WHERE invite_uuid = "
            ))
            .bind(uuid);
        self.db().execute(sql).await?;
        Ok(())
    }

    /// The funnel of invitation `uuid`, or of all invitations of the flow `flow_slug`
    /// (`None`: of every invitation): the invitation's own counters, or the sums the
    /// tallies keep of them (migration 0015).
    pub async fn invitation_funnel(
        &self,
        invitation: Option<Uuid>,
        flow_slug: Option<&str>,
    ) -> StoreResult<akin_domain::invitation::Funnel> {
        let sql = match invitation {
            Some(uuid) => {
                let sql = self
                    .db()
                    .sql("SELECT sent, opened, started, uses FROM invitations WHERE invite_uuid = ")
                    .bind(uuid);
                of_flow(sql, flow_slug)
            }
            // PostgreSQL sums BIGINTs as NUMERIC: back to BIGINT.
            None => {
                let sql = self.db().sql(
                    "SELECT CAST(COALESCE(SUM(sent), 0) AS BIGINT), CAST(COALESCE(SUM(opened), 0) AS BIGINT), CAST(COALESCE(SUM(started), 0) AS BIGINT), CAST(COALESCE(SUM(uses), 0) AS BIGINT) FROM invitation_tallies_now WHERE 1 = 1",
                );
                of_flow(sql, flow_slug)
            }
        };
        let (sent, opened, started, completed): (i64, i64, i64, i64) =
            self.db().fetch_optional(sql).await?.unwrap_or_default();
        Ok(akin_domain::invitation::Funnel {
            sent,
            opened,
            started,
            completed,
        })
    }

    /// The accounts written with invitation `uuid`, oldest first.
    pub async fn invitation_uses(
        &self,
        uuid: Uuid,
    ) -> StoreResult<Vec<akin_domain::invitation::InvitationUse>> {
        let sql = self
            .db()
            .sql("SELECT user_id, username, used, client_ip FROM invitation_uses WHERE invite_uuid = ")
            .bind(uuid)
            .then(" ORDER BY used, username");
        let rows: Vec<(Option<i64>, String, DbTime, Option<String>)> =
            self.db().fetch_all(sql).await?;
        Ok(rows
            .into_iter()
            .map(
                |(user, username, used, client_ip)| akin_domain::invitation::InvitationUse {
                    user,
                    username,
                    used: used.0,
                    client_ip,
                },
            )
            .collect())
    }
}

impl Tx {
    /// Withdraws the invitation (`by` an administrator) at `now`; `false` when it is gone
    /// or was withdrawn already (the first withdrawal is kept).
    pub async fn revoke_invitation(
        &mut self,
        uuid: Uuid,
        by: Option<i64>,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let sql = self
            .sql("UPDATE invitations SET revoked = ")
            .bind(now)
            .then(", revoked_by = ")
            .bind(crate::db::Arg::OptInt(by))
            .then(" WHERE revoked IS NULL AND invite_uuid = ")
            .bind(uuid);
        Ok(self.execute(sql).await? == 1)
    }

    /// Marks `old` as replaced by `new`; `false` when `old` was revoked or replaced
    /// already (by a reissue racing this one).
    pub async fn replace_invitation(&mut self, old: Uuid, new: Uuid) -> StoreResult<bool> {
        let sql = self
            .sql("UPDATE invitations SET replaced_by = ")
            .bind(new)
            .then(" WHERE revoked IS NULL AND replaced_by IS NULL AND invite_uuid = ")
            .bind(old);
        Ok(self.execute(sql).await? == 1)
    }

    pub async fn invitation(&mut self, uuid: Uuid) -> StoreResult<Option<Invitation>> {
        let sql = self
            .sql(&format!("SELECT {INVITATION_COLUMNS} FROM invitations"))
            .then(" WHERE invite_uuid = ")
            .bind(uuid);
        Ok(self
            .fetch_optional::<InvitationRow>(sql)
            .await?
            .map(Into::into))
    }
}
