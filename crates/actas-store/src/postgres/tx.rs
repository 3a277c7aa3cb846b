//! The PostgreSQL transaction: every port, on one pooled connection.
//!
//! A read runs on a `REPEATABLE READ READ ONLY` transaction; a write batch
//! on the writer's connection, holding the chain's advisory lock (see the
//! module above).

use sqlx::postgres::PgRow;

/// Opens a batch and takes the advisory lock that serializes writers across
/// nodes ("actas" in ASCII), in one round trip.
const BEGIN_BATCH: &str = "BEGIN; SELECT pg_advisory_xact_lock(6386449766077811)";
const BEGIN_READ: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
use actas_core::audit::{Checkpoint, Event, EventType, NewEvent, StoredPage};
use actas_core::model::{App, Decision, Notice, Request, Session, Staff, Ticket};
use actas_core::webhook::{Delivery, Webhook};
use actas_core::{Result, Timestamp};
use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::{QueryBuilder, Row};

use crate::convert::*;
use crate::ports::*;
use crate::rows::*;
use crate::{ConsoleSession, EntryCode, EventFilter, KeyRecord, RequestFilter, SessionFilter, StaffProfile};

/// A transaction on one pooled connection.
///
/// Dropped while its transaction is open (the future running it was
/// cancelled, a closure panicked, ROLLBACK failed), or after the
/// writer gave up on it, the connection is closed instead of going
/// back to the pool: closing ends the transaction in the database,
/// and no later caller inherits it.
pub(crate) struct SqlTx {
    pub(crate) conn: Conn,
    pub(crate) head: Option<(i64, String)>,
    pub(crate) appended: bool,
    /// Blocks of `audit_time_index` this batch's events fall in,
    /// with their earliest and latest `at`, stored before commit.
    times: crate::plan::TimeBlocks,
    /// This batch's appended events, inserted together (see [`Pending`]).
    pending: Pending,
    /// This batch's session touches, applied together (see [`Touches`]).
    touches: Touches,
    /// Sessions this batch has read, as they stand in it: the writer holds
    /// the lock every write takes, so nothing else changes them meanwhile.
    sessions: std::collections::HashMap<String, Session>,
    /// The current job's `SAVEPOINT`, not sent yet: it goes with the job's
    /// first statement, so a job that only reads what the batch holds and
    /// appends (an authorization on a session read earlier in the batch)
    /// costs no round trip.
    savepoint_due: bool,
    /// The current job's `SAVEPOINT` was sent.
    savepoint_sent: bool,
    /// A `SAVEPOINT` failed: the transaction may be aborted with no
    /// savepoint to return to, so the batch must not commit.
    poisoned: bool,
    /// A `RELEASE SAVEPOINT` not sent yet: it goes with the next
    /// `SAVEPOINT`, in one round trip, or is left to `COMMIT`.
    release_due: bool,
    ids: std::sync::Arc<dyn actas_core::id::Ids>,
    /// A transaction is open on `conn`.
    open: bool,
    /// `conn` must not be used again.
    discard: bool,
}

impl SqlTx {
    pub(crate) fn new(conn: Conn, ids: std::sync::Arc<dyn actas_core::id::Ids>) -> Self {
        SqlTx {
            conn,
            head: None,
            appended: false,
            times: crate::plan::TimeBlocks::default(),
            pending: Pending::default(),
            touches: Touches::default(),
            sessions: std::collections::HashMap::new(),
            savepoint_due: false,
            savepoint_sent: false,
            poisoned: false,
            release_due: false,
            ids,
            open: false,
            discard: false,
        }
    }

    /// Runs a statement that opens, keeps or ends the transaction,
    /// and tracks whether one is open. Several statements may be sent
    /// in one string (no parameters).
    async fn control(&mut self, sql: &str) -> Result<()> {
        let opens = sql.starts_with("BEGIN");
        let ends = sql == "COMMIT" || sql == "ROLLBACK";
        if opens {
            // Open as soon as BEGIN is sent: cancelled before its
            // answer, the connection may be inside a transaction.
            self.open = true;
        }
        // A plain string runs unprepared (simple protocol), several statements at once.
        sqlx::Executor::execute(&mut *self.conn, sql).await.map_err(db_err)?; // control: no savepoint
        if ends {
            self.open = false;
        }
        Ok(())
    }

    /// The connection, for a statement of the current job: its savepoint
    /// (and the last job's release) is sent first when it is still due.
    async fn db(&mut self) -> Result<&mut sqlx::PgConnection> {
        if std::mem::take(&mut self.savepoint_due) {
            let sql = if std::mem::take(&mut self.release_due) {
                "RELEASE SAVEPOINT job; SAVEPOINT job"
            } else {
                "SAVEPOINT job"
            };
            if let Err(e) = self.control(sql).await {
                self.poisoned = true;
                return Err(e);
            }
            self.savepoint_sent = true;
        }
        Ok(&mut *self.conn)
    }

    /// Applies the batch's session touches not applied yet, in one
    /// statement.
    async fn flush_touches(&mut self) -> Result<()> {
        let todo = &self.touches.list[self.touches.flushed..];
        if todo.is_empty() {
            return Ok(());
        }
        // The latest time of each session, once: an UPDATE ... FROM meets
        // each row once.
        let mut latest: std::collections::BTreeMap<&str, i64> = std::collections::BTreeMap::new();
        for (id, at) in todo {
            let t = latest.entry(id.as_str()).or_insert(*at);
            *t = (*t).max(*at);
        }
        let (ids, ats): (Vec<String>, Vec<i64>) = latest.into_iter().map(|(id, at)| (id.to_string(), at)).unzip();
        sqlx::query(
            "UPDATE sessions s SET last_activity_at = t.at FROM unnest($1::text[], $2::bigint[]) AS t (id, at) \
             WHERE s.id = t.id AND s.state = 'live' AND s.last_activity_at < t.at",
        )
        .bind(ids)
        .bind(ats)
        .execute(self.db().await?)
        .await
        .map_err(db_err)?;
        self.touches.flushed = self.touches.list.len();
        Ok(())
    }

    /// Inserts the batch's events not inserted yet, in one statement.
    async fn flush_events(&mut self) -> Result<()> {
        if self.pending.inserted == self.pending.events.len() {
            return Ok(());
        }
        self.db().await?;
        let todo = &self.pending.events[self.pending.inserted..];
        for chunk in todo.chunks(EVENTS_PER_INSERT) {
            let mut qb = QueryBuilder::<sqlx::Postgres>::new(format!("INSERT INTO audit_events ({EVENT_COLS}) "));
            qb.push_values(chunk, |mut b, ev| {
                b.push_bind(ev.seq)
                    .push_bind(ev.id.clone())
                    .push_bind(audit_at(ev.at))
                    .push_bind(ev.kind.as_str())
                    .push_bind(ev.actor.to_json().to_string())
                    .push_bind(ev.account_id.clone())
                    .push_bind(ev.ticket.clone())
                    .push_bind(ev.request_id.clone())
                    .push_bind(ev.session_id.clone())
                    .push_bind(ev.agent.clone())
                    .push_bind(ev.data.to_string())
                    .push_bind(ev.text.clone())
                    .push_bind(ev.prev_hash.clone())
                    .push_bind(ev.hash.clone());
            });
            qb.build().execute(&mut *self.conn).await.map_err(db_err)?;
        }
        self.pending.inserted = self.pending.events.len();
        Ok(())
    }
}

/// Most events in one `INSERT` (14 parameters each, under PostgreSQL's
/// 65,535).
const EVENTS_PER_INSERT: usize = 1000;

/// The events a batch appended, kept until they are inserted together: at
/// the batch's end, or before anything in the batch reads the trail.
/// A job rolled back to its savepoint takes its own events with it, and
/// earlier jobs' events that were inserted after that savepoint are
/// inserted again.
#[derive(Default)]
struct Pending {
    events: Vec<Event>,
    /// How many of `events` are in the database.
    inserted: usize,
    /// At the current job's savepoint: `(events.len(), inserted)`.
    mark: (usize, usize),
}

/// The session touches a batch made (`touch_session`), applied together at
/// the batch's end or before a read that lists sessions; kept like
/// [`Pending`] across a job rolled back to its savepoint.
#[derive(Default)]
struct Touches {
    list: Vec<(String, i64)>,
    /// How many of `list` are applied in the database.
    flushed: usize,
    /// At the current job's savepoint: `(list.len(), flushed)`.
    mark: (usize, usize),
}

/// What a touch at `at` (microseconds) does to a session: the same as the
/// statement that applies it.
fn touch(s: &mut Session, at: i64) {
    if s.state == actas_core::model::SessionState::Live && micros(s.last_activity_at) < at {
        if let Ok(t) = time(at) {
            s.last_activity_at = t;
        }
    }
}

impl Drop for SqlTx {
    fn drop(&mut self) {
        if self.open || self.discard {
            if let Conn::Pooled(c) = &mut self.conn {
                c.close_on_drop();
            }
        }
    }
}

/// A transaction's connection: a reader's, from the pool, or the writer's
/// own, opened on the writer's thread (see [`super::open`]) and closed
/// when dropped.
pub(crate) enum Conn {
    Pooled(PoolConnection<sqlx::Postgres>),
    Own(sqlx::PgConnection),
}

impl std::ops::Deref for Conn {
    type Target = sqlx::PgConnection;

    fn deref(&self) -> &sqlx::PgConnection {
        match self {
            Conn::Pooled(c) => c,
            Conn::Own(c) => c,
        }
    }
}

impl std::ops::DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut sqlx::PgConnection {
        match self {
            Conn::Pooled(c) => c,
            Conn::Own(c) => c,
        }
    }
}

const TICKET_COLS: &str =
    "ref, account_id, account_name, subject, url, created_by, created_at, status, assignee, tags, source, updated_at";
const STAFF_COLS: &str = "id, name, roles, disabled, created_at";
const STAFF_PROFILE_COLS: &str = "id, name, roles, disabled, created_at, external_id, email, updated_at, username";
const APP_COLS: &str = "id, name, tickets, scim, origins, entry_url, created_at, consent";
const REQUEST_COLS: &str = "id, kind, ticket, account_id, account_name, requester, requester_name, reason, actions, minutes, status, session_id, granted_actions, granted_minutes, decided_by, decided_by_name, decided_at, decision_note, start_by, created_at, updated_at, playbook, stepup";
const DECISION_COLS: &str = "id, request_id, kind, decider, decider_name, actions, minutes, removed, added, note, at";
const SESSION_COLS: &str = "id, request_id, ticket, account_id, account_name, agent, agent_name, approver, approver_name, scope, reason, started_at, ends_at, last_activity_at, state, end_reason, ended_at, ended_by, end_note, app_id, approvers, breakglass, reviewed_by, reviewed_by_name, reviewed_at, review_note";
const EVENT_COLS: &str =
    "seq, id, at, type, actor, account_id, ticket, request_id, session_id, agent, data, text, prev_hash, hash";
const WEBHOOK_COLS: &str = "id, url, events, secret, created_at, created_by, after_seq, state, failures, next_attempt_at, last_error, lease_until";
const DELIVERY_COLS: &str = "id, webhook_id, seq, event_id, event_type, attempt, at, status, ok, error, replay";
const NOTICE_COLS: &str = "seq, id, session_id, account_id, text, data, created_at, delivered_at";

fn get<'r, T>(row: &'r PgRow, col: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(col).map_err(|e| corrupt(format!("{col}: {e}")))
}

/// Reads a row into its table's row type `R`, then into the model `T`.
fn typed<R, T>(row: &PgRow) -> Result<T>
where
    R: for<'r> sqlx::FromRow<'r, PgRow>,
    T: TryFrom<R, Error = actas_core::Error>,
{
    let r = R::from_row(row).map_err(|e| corrupt(e.to_string()))?;
    T::try_from(r)
}

impl SqlTx {
    async fn one<T>(&mut self, sql: &str, key: &str, f: fn(&PgRow) -> Result<T>) -> Result<Option<T>> {
        let row = sqlx::query(sql).bind(key).fetch_optional(self.db().await?).await.map_err(db_err)?;
        row.as_ref().map(f).transpose()
    }

    async fn many<T>(
        &mut self,
        mut qb: QueryBuilder<'_, sqlx::Postgres>,
        f: fn(&PgRow) -> Result<T>,
    ) -> Result<Vec<T>> {
        let rows = qb.build().fetch_all(self.db().await?).await.map_err(db_err)?;
        rows.iter().map(f).collect()
    }

    /// The seqs `f` can match (see [`crate::plan::window`]).
    async fn seq_window(&mut self, f: &EventFilter) -> Result<Option<(i64, i64)>> {
        let mut stored = crate::plan::StoredBlocks::default();
        if let Some(since) = f.since {
            stored.first = self.block(crate::plan::FIRST_BLOCK, audit_at(since)).await?;
        }
        if let Some(until) = f.until {
            stored.last = self.block(crate::plan::LAST_BLOCK, audit_at(until)).await?;
        }
        Ok(crate::plan::window(f, self.times.pending(), stored))
    }

    /// The one block an aggregate over `audit_time_index` answers, if any.
    async fn block(&mut self, sql: &str, at: String) -> Result<Option<i64>> {
        sqlx::query_scalar(sql).bind(at).fetch_one(self.db().await?).await.map_err(db_err)
    }

    /// Events matching `f` with seqs in `window`, oldest first: one
    /// walk of one index (see [`crate::plan::driver`]) in seq order.
    async fn events_in(&mut self, f: &EventFilter, (from, to): (i64, i64)) -> Result<Vec<Event>> {
        // PostgreSQL's planner picks the index from its statistics.
        let mut qb = QueryBuilder::new(format!("SELECT {EVENT_COLS} FROM audit_events WHERE seq >= "));
        qb.push_bind(from);
        if to < i64::MAX {
            qb.push(" AND seq < ").push_bind(to);
        }
        for (sql, v) in crate::plan::conditions(f) {
            qb.push(sql).push_bind(v);
        }
        if !f.types.is_empty() {
            qb.push(" AND type IN (");
            let mut sep = qb.separated(", ");
            for t in &f.types {
                sep.push_bind(t.as_str());
            }
            qb.push(")");
        }
        qb.push(" ORDER BY seq LIMIT ").push_bind(f.limit);
        self.many(qb, typed::<EventRow, Event>).await
    }

    /// Stores the time blocks of this batch's events.
    pub(crate) async fn store_times(&mut self) -> Result<()> {
        for t in self.times.take() {
            sqlx::query(crate::plan::STORE_BLOCK)
                .bind(t.block)
                .bind(t.first)
                .bind(t.last)
                .execute(self.db().await?)
                .await
                .map_err(db_err)?;
        }
        Ok(())
    }
}

#[async_trait]
impl crate::ports::TicketReads for SqlTx {
    async fn get_ticket(&mut self, reference: &str) -> Result<Option<Ticket>> {
        self.one(&format!("SELECT {TICKET_COLS} FROM tickets WHERE ref = $1"), reference, typed::<TicketRow, Ticket>)
            .await
    }

    async fn list_open_tickets(&mut self, assignee: Option<&str>, limit: i64) -> Result<Vec<Ticket>> {
        // The WHERE repeats the partial index's condition.
        let mut qb = QueryBuilder::new(format!("SELECT {TICKET_COLS} FROM tickets WHERE "));
        match assignee {
            Some(who) => qb.push("assignee = ").push_bind(who.to_string()),
            None => qb.push("assignee IS NULL"),
        };
        qb.push(" AND status IN ('open', 'pending') ORDER BY updated_at DESC LIMIT ").push_bind(limit);
        self.many(qb, typed::<TicketRow, Ticket>).await
    }
}

#[async_trait]
impl crate::ports::TicketWrites for SqlTx {
    async fn insert_ticket(&mut self, t: &Ticket) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO tickets ({TICKET_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ))
        .bind(&t.reference)
        .bind(&t.account_id)
        .bind(&t.account_name)
        .bind(&t.subject)
        .bind(&t.url)
        .bind(&t.created_by)
        .bind(micros(t.created_at))
        .bind(t.status.as_str())
        .bind(&t.assignee)
        .bind(tags_json(&t.tags)?)
        .bind(t.source.as_str())
        .bind(micros(t.updated_at))
        .execute(self.db().await?)
        .await
        .map_err(|e| unique_or(e, actas_core::Code::TicketExists, "A ticket with this reference exists already."))?;
        Ok(())
    }

    async fn update_ticket(&mut self, t: &Ticket) -> Result<()> {
        sqlx::query(
            "UPDATE tickets SET account_id = $2, account_name = $3, subject = $4, url = $5, status = $6, \
             assignee = $7, tags = $8, source = $9, updated_at = $10 WHERE ref = $1",
        )
        .bind(&t.reference)
        .bind(&t.account_id)
        .bind(&t.account_name)
        .bind(&t.subject)
        .bind(&t.url)
        .bind(t.status.as_str())
        .bind(&t.assignee)
        .bind(tags_json(&t.tags)?)
        .bind(t.source.as_str())
        .bind(micros(t.updated_at))
        .execute(self.db().await?)
        .await
        .map_err(db_err)?;
        Ok(())
    }
}

#[async_trait]
impl crate::ports::StaffReads for SqlTx {
    async fn get_staff(&mut self, id: &str) -> Result<Option<Staff>> {
        self.one(&format!("SELECT {STAFF_COLS} FROM staff WHERE id = $1"), id, typed::<StaffRow, Staff>).await
    }

    async fn list_staff(&mut self) -> Result<Vec<Staff>> {
        self.many(QueryBuilder::new(format!("SELECT {STAFF_COLS} FROM staff ORDER BY id")), typed::<StaffRow, Staff>)
            .await
    }

    async fn get_staff_password(&mut self, id: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT password_hash FROM staff WHERE id = $1")
            .bind(id)
            .fetch_optional(self.db().await?)
            .await
            .map_err(db_err)?;
        match row {
            Some(r) => get(&r, "password_hash"),
            None => Ok(None),
        }
    }

    async fn get_staff_profile(&mut self, id: &str) -> Result<Option<(Staff, StaffProfile)>> {
        let sql = format!("SELECT {STAFF_PROFILE_COLS} FROM staff WHERE id = $1");
        self.one(&sql, id, typed::<StaffProfileRow, (Staff, StaffProfile)>).await
    }

    async fn list_staff_profiles(&mut self) -> Result<Vec<(Staff, StaffProfile)>> {
        let sql = format!("SELECT {STAFF_PROFILE_COLS} FROM staff ORDER BY id");
        self.many(QueryBuilder::new(sql), typed::<StaffProfileRow, (Staff, StaffProfile)>).await
    }

    async fn find_staff_by_username(&mut self, username: &str) -> Result<Option<(Staff, StaffProfile)>> {
        let sql = format!(
            "SELECT {STAFF_PROFILE_COLS} FROM staff WHERE username = $1 \
             UNION ALL SELECT {STAFF_PROFILE_COLS} FROM staff WHERE id = $1 AND username IS NULL LIMIT 1"
        );
        self.one(&sql, username, typed::<StaffProfileRow, (Staff, StaffProfile)>).await
    }
}

#[async_trait]
impl crate::ports::StaffWrites for SqlTx {
    async fn insert_staff(&mut self, s: &Staff) -> Result<()> {
        let roles: Vec<String> = s.roles.iter().map(|r| r.as_str().to_string()).collect();
        sqlx::query("INSERT INTO staff (id, name, roles, disabled, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&s.id)
            .bind(&s.name)
            .bind(join(&roles))
            .bind(s.disabled)
            .bind(micros(s.created_at))
            .execute(self.db().await?)
            .await
            .map_err(|e| {
                unique_or(e, actas_core::Code::StaffExists, "A staff member with this login exists already.")
            })?;
        Ok(())
    }

    async fn update_staff(&mut self, s: &Staff) -> Result<()> {
        let roles: Vec<String> = s.roles.iter().map(|r| r.as_str().to_string()).collect();
        sqlx::query("UPDATE staff SET name = $2, roles = $3, disabled = $4 WHERE id = $1")
            .bind(&s.id)
            .bind(&s.name)
            .bind(join(&roles))
            .bind(s.disabled)
            .execute(self.db().await?)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn set_staff_password(&mut self, id: &str, hash: Option<&str>) -> Result<()> {
        sqlx::query("UPDATE staff SET password_hash = $2 WHERE id = $1")
            .bind(id)
            .bind(hash)
            .execute(self.db().await?)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn set_staff_profile(&mut self, id: &str, p: &StaffProfile) -> Result<()> {
        sqlx::query("UPDATE staff SET external_id = $2, email = $3, updated_at = $4, username = $5 WHERE id = $1")
            .bind(id)
            .bind(&p.external_id)
            .bind(&p.email)
            .bind(opt_micros(p.updated_at))
            .bind(&p.username)
            .execute(self.db().await?)
            .await
            .map_err(|e| {
                unique_or(e, actas_core::Code::StaffExists, "Another staff member has this external id or username.")
            })?;
        Ok(())
    }
}

#[async_trait]
impl crate::ports::ConsoleReads for SqlTx {
    async fn get_console_session(&mut self, id_hash: &str) -> Result<Option<ConsoleSession>> {
        self.one(
            "SELECT id_hash, staff_id, csrf, created_at, last_seen_at FROM console_sessions WHERE id_hash = $1",
            id_hash,
            typed::<ConsoleSessionRow, ConsoleSession>,
        )
        .await
    }
}

#[async_trait]
impl crate::ports::ConsoleWrites for SqlTx {
    async fn insert_console_session(&mut self, s: &ConsoleSession) -> Result<()> {
        sqlx::query(
            "INSERT INTO console_sessions (id_hash, staff_id, csrf, created_at, last_seen_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&s.id_hash)
        .bind(&s.staff_id)
        .bind(&s.csrf)
        .bind(micros(s.created_at))
        .bind(micros(s.last_seen_at))
        .execute(self.db().await?)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn touch_console_session(&mut self, id_hash: &str, at: Timestamp) -> Result<()> {
        sqlx::query("UPDATE console_sessions SET last_seen_at = $2 WHERE id_hash = $1 AND last_seen_at < $2")
            .bind(id_hash)
            .bind(micros(at))
            .execute(self.db().await?)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn delete_console_session(&mut self, id_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(self.db().await?)
            .await
            .map_err(db_err)?;
        Ok(())
    }
}

#[async_trait]
impl crate::ports::CredentialReads for SqlTx {
    async fn find_credential(&mut self, hash: &str) -> Result<Option<(String, String)>> {
        let row = sqlx::query("SELECT owner_kind, owner_id FROM credentials WHERE hash = $1")
            .bind(hash)
            .fetch_optional(self.db().await?)
            .await
            .map_err(db_err)?;
        row.map(|r| Ok((get(&r, "owner_kind")?, get(&r, "owner_id")?))).transpose()
    }
}

#[async_trait]
impl crate::ports::CredentialWrites for SqlTx {
    async fn insert_credential(&mut self, hash: &str, owner_kind: &str, owner_id: &str, at: Timestamp) -> Result<()> {
        sqlx::query("INSERT INTO credentials (hash, owner_kind, owner_id, created_at) VALUES ($1, $2, $3, $4)")
            .bind(hash)
            .bind(owner_kind)
            .bind(owner_id)
            .bind(micros(at))
            .execute(self.db().await?)
            .await
            .map_err(db_err)?;
        Ok(())
    }
}

#[async_trait]
impl crate::ports::AppReads for SqlTx {
    async fn get_app(&mut self, id: &str) -> Result<Option<App>> {
        self.one(&format!("SELECT {APP_COLS} FROM apps WHERE id = $1"), id, typed::<AppRow, App>).await
    }

    async fn list_apps(&mut self) -> Result<Vec<App>> {
        self.many(QueryBuilder::new(format!("SELECT {APP_COLS} FROM apps ORDER BY name")), typed::<AppRow, App>).await
    }

    async fn list_grants(&mut self, account_id: &str, limit: i64) -> Result<Vec<actas_core::model::Grant>> {
        let mut q = QueryBuilder::new(
            "SELECT id, account_id, app_id, granted_by, hours, created_at, expires_at, revoked_at, revoked_by FROM grants WHERE account_id = ",
        );
        q.push_bind(account_id.to_string());
        q.push(" ORDER BY created_at DESC LIMIT ");
        q.push_bind(limit);
        self.many(q, typed::<crate::rows::GrantRow, actas_core::model::Grant>).await
    }

    async fn account_consent(&mut self, account_id: &str) -> Result<Option<bool>> {
        let row: Option<(bool,)> = sqlx::query_as("SELECT required FROM account_consent WHERE account_id = $1")
            .bind(account_id)
            .fetch_optional(self.db().await?)
            .await
            .map_err(db_err)?;
        Ok(row.map(|r| r.0))
    }

    async fn get_entry_code(&mut self, hash: &str) -> Result<Option<EntryCode>> {
        self.one(
            "SELECT hash, session_id, created_at, expires_at, used_at FROM entry_codes WHERE hash = $1",
            hash,
            typed::<EntryCodeRow, EntryCode>,
        )
        .await
    }

    async fn get_connector(&mut self, app_id: &str) -> Result<Option<crate::ConnectorRecord>> {
        self.one(
            "SELECT app_id, kind, secret, mapping, created_at FROM connectors WHERE app_id = $1",
            app_id,
            typed::<ConnectorRow, crate::ConnectorRecord>,
        )
        .await
    }
}

#[async_trait]
impl crate::ports::AppWrites for SqlTx {
    async fn insert_app(&mut self, a: &App) -> Result<()> {
        sqlx::query(&format!("INSERT INTO apps ({APP_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"))
            .bind(&a.id)
            .bind(&a.name)
            .bind(a.tickets)
            .bind(a.scim)
            .bind(join(&a.origins))
            .bind(&a.entry_url)
            .bind(micros(a.created_at))
            .bind(a.consent)
            .execute(self.db().await?)
            .await
            .map_err(|e| unique_or(e, actas_core::Code::AppExists, "An app with this name exists already."))?;
        Ok(())
    }

    async fn insert_entry_code(&mut self, c: &EntryCode) -> Result<()> {
        // A new code voids the session's unused ones.
        sqlx::query("DELETE FROM entry_codes WHERE session_id = $1 AND used_at IS NULL")
            .bind(&c.session_id)
            .execute(self.db().await?)
            .await
            .map_err(db_err)?;
        sqlx::query(
            "INSERT INTO entry_codes (hash, session_id, created_at, expires_at, used_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&c.hash)
        .bind(&c.session_id)
        .bind(micros(c.created_at))
        .bind(micros(c.expires_at))
        .bind(opt_micros(c.used_at))
        .execute(self.db().await?)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn insert_grant(&mut self, g: &actas_core::model::Grant) -> Result<()> {
        sqlx::query(
            "INSERT INTO grants (id, account_id, app_id, granted_by, hours, created_at, expires_at, revoked_at, revoked_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&g.id)
        .bind(&g.account_id)
        .bind(&g.app_id)
        .bind(&g.granted_by)
        .bind(i64::from(g.hours))
        .bind(micros(g.created_at))
        .bind(micros(g.expires_at))
        .bind(opt_micros(g.revoked_at))
        .bind(&g.revoked_by)
        .execute(self.db().await?)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn revoke_grant(&mut self, id: &str, at: Timestamp, by: &str) -> Result<()> {
        sqlx::query("UPDATE grants SET revoked_at = $2, revoked_by = $3 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(micros(at))
            .bind(by)
            .execute(self.db().await?)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn set_account_consent(&mut self, account_id: &str, required: bool, by: &str, at: Timestamp) -> Result<()> {
        sqlx::query(
            "INSERT INTO account_consent (account_id, required, set_by, updated_at) VALUES ($1, $2, $3, $4) ON CONFLICT (account_id) DO UPDATE SET required = excluded.required, set_by = excluded.set_by, updated_at = excluded.updated_at",
        )
        .bind(account_id)
        .bind(required)
        .bind(by)
        .bind(micros(at))
        .execute(self.db().await?)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn use_entry_code(&mut self, hash: &str, at: Timestamp) -> Result<bool> {
        let done = sqlx::query("UPDATE entry_codes SET used_at = $2 WHERE hash = $1 AND used_at IS NULL")
            .bind(hash)
            .bind(micros(at))
            .execute(self.db().await?)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_connector(&mut self, c: &crate::ConnectorRecord) -> Result<()> {
        sqlx::query("INSERT INTO connectors (app_id, kind, secret, mapping, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&c.app_id)
            .bind(c.kind.as_str())
            .bind(c.secret.as_bytes())
            .bind(mapping_json(&c.mapping)?)
            .bind(micros(c.created_at))
            .execute(self.db().await?)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn replace_connector(&mut self, c: &crate::ConnectorRecord) -> Result<bool> {
        let done = sqlx::query("UPDATE connectors SET secret = $2, mapping = $3 WHERE app_id = $1")
            .bind(&c.app_id)
            .bind(c.secret.as_bytes())
            .bind(mapping_json(&c.mapping)?)
            .execute(self.db().await?)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn record_delivery(&mut self, key: &str, at: Timestamp) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO connector_deliveries (key, received_at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(micros(at))
        .execute(self.db().await?)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn prune_deliveries(&mut self, before: Timestamp) -> Result<u64> {
        let done = sqlx::query("DELETE FROM connector_deliveries WHERE received_at < $1")
            .bind(micros(before))
            .execute(self.db().await?)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl crate::ports::RequestReads for SqlTx {
    async fn get_request(&mut self, id: &str) -> Result<Option<Request>> {
        self.one(&format!("SELECT {REQUEST_COLS} FROM requests WHERE id = $1"), id, typed::<RequestRow, Request>).await
    }

    async fn list_requests(&mut self, f: &RequestFilter) -> Result<Vec<Request>> {
        let mut qb = QueryBuilder::new(format!("SELECT {REQUEST_COLS} FROM requests WHERE 1 = 1"));
        if let Some(s) = f.status {
            qb.push(" AND status = ").push_bind(s.as_str());
        }
        if let Some(v) = &f.requester {
            qb.push(" AND requester = ").push_bind(v.clone());
        }
        if let Some(v) = &f.ticket {
            qb.push(" AND ticket = ").push_bind(v.clone());
        }
        if let Some(v) = &f.session_id {
            qb.push(" AND session_id = ").push_bind(v.clone());
        }
        qb.push(" ORDER BY created_at, id LIMIT ").push_bind(f.limit.unwrap_or(1000));
        self.many(qb, typed::<RequestRow, Request>).await
    }

    async fn list_lapsed_requests(&mut self, now: Timestamp) -> Result<Vec<Request>> {
        let mut qb = QueryBuilder::new(format!(
            "SELECT {REQUEST_COLS} FROM requests WHERE status = 'approved' AND start_by <= "
        ));
        qb.push_bind(micros(now)).push(" ORDER BY start_by LIMIT 500");
        self.many(qb, typed::<RequestRow, Request>).await
    }

    async fn list_decisions(&mut self, request_id: &str) -> Result<Vec<Decision>> {
        let mut qb = QueryBuilder::new(format!("SELECT {DECISION_COLS} FROM decisions WHERE request_id = "));
        qb.push_bind(request_id.to_string()).push(" ORDER BY at");
        self.many(qb, typed::<DecisionRow, Decision>).await
    }

    async fn get_requests(&mut self, ids: &[String]) -> Result<Vec<Request>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut qb = QueryBuilder::new(format!("SELECT {REQUEST_COLS} FROM requests WHERE id = ANY("));
        qb.push_bind(ids.to_vec()).push(")");
        self.many(qb, typed::<RequestRow, Request>).await
    }
}

#[async_trait]
impl crate::ports::RequestWrites for SqlTx {
    async fn insert_request(&mut self, r: &Request) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO requests ({REQUEST_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)"
        ))
        .bind(&r.id)
        .bind(r.kind.as_str())
        .bind(&r.ticket)
        .bind(&r.account_id)
        .bind(&r.account_name)
        .bind(&r.requester)
        .bind(&r.requester_name)
        .bind(&r.reason)
        .bind(join(&r.actions))
        .bind(i64::from(r.minutes))
        .bind(r.status.as_str())
        .bind(&r.session_id)
        .bind(r.granted_actions.as_deref().map(join))
        .bind(r.granted_minutes.map(i64::from))
        .bind(&r.decided_by)
        .bind(&r.decided_by_name)
        .bind(opt_micros(r.decided_at))
        .bind(&r.decision_note)
        .bind(opt_micros(r.start_by))
        .bind(micros(r.created_at))
        .bind(micros(r.updated_at))
        .bind(&r.playbook)
        .bind(stepup_json(r.stepup.as_ref())?)
        .execute(self.db().await?)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn update_request(&mut self, r: &Request) -> Result<()> {
        sqlx::query(
            "UPDATE requests SET status = $2, session_id = $3, granted_actions = $4, granted_minutes = $5, decided_by = $6, decided_by_name = $7, decided_at = $8, decision_note = $9, start_by = $10, updated_at = $11, stepup = $12 WHERE id = $1",
        )
        .bind(&r.id)
        .bind(r.status.as_str())
        .bind(&r.session_id)
        .bind(r.granted_actions.as_deref().map(join))
        .bind(r.granted_minutes.map(i64::from))
        .bind(&r.decided_by)
        .bind(&r.decided_by_name)
        .bind(opt_micros(r.decided_at))
        .bind(&r.decision_note)
        .bind(opt_micros(r.start_by))
        .bind(micros(r.updated_at))
        .bind(stepup_json(r.stepup.as_ref())?)
        .execute(self.db().await?)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn insert_decision(&mut self, d: &Decision) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO decisions ({DECISION_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(&d.id)
        .bind(&d.request_id)
        .bind(d.kind.as_str())
        .bind(&d.decider)
        .bind(&d.decider_name)
        .bind(join(&d.actions))
        .bind(i64::from(d.minutes))
        .bind(join(&d.removed))
        .bind(join(&d.added))
        .bind(&d.note)
        .bind(micros(d.at))
        .execute(self.db().await?)
        .await
        .map_err(|e| unique_or(e, actas_core::Code::AlreadyDecided, "The request was decided already."))?;
        Ok(())
    }
}

#[async_trait]
impl crate::ports::SessionReads for SqlTx {
    async fn get_session(&mut self, id: &str) -> Result<Option<Session>> {
        if let Some(s) = self.sessions.get(id) {
            return Ok(Some(s.clone()));
        }
        let found = self
            .one(&format!("SELECT {SESSION_COLS} FROM sessions WHERE id = $1"), id, typed::<SessionRow, Session>)
            .await?;
        let Some(mut s) = found else { return Ok(None) };
        for (_, at) in self.touches.list[self.touches.flushed..].iter().filter(|(t, _)| t == id) {
            touch(&mut s, *at);
        }
        if self.open {
            self.sessions.insert(s.id.clone(), s.clone());
        }
        Ok(Some(s))
    }

    async fn find_live_session(&mut self, agent: &str) -> Result<Option<Session>> {
        self.flush_touches().await?;
        self.one(
            &format!("SELECT {SESSION_COLS} FROM sessions WHERE agent = $1 AND state = 'live'"),
            agent,
            typed::<SessionRow, Session>,
        )
        .await
    }

    async fn list_sessions(&mut self, f: &SessionFilter) -> Result<Vec<Session>> {
        self.flush_touches().await?;
        let mut qb = QueryBuilder::new(format!("SELECT {SESSION_COLS} FROM sessions WHERE 1 = 1"));
        if let Some(v) = &f.account_id {
            qb.push(" AND account_id = ").push_bind(v.clone());
        }
        if let Some(v) = &f.ticket {
            qb.push(" AND ticket = ").push_bind(v.clone());
        }
        if let Some(v) = &f.agent {
            qb.push(" AND agent = ").push_bind(v.clone());
        }
        if let Some(v) = &f.request_id {
            qb.push(" AND request_id = ").push_bind(v.clone());
        }
        if let Some(v) = &f.app_id {
            qb.push(" AND app_id = ").push_bind(v.clone());
        }
        if f.live_only {
            qb.push(" AND state = 'live'");
        }
        if f.awaiting_review {
            qb.push(" AND breakglass AND reviewed_at IS NULL");
        }
        qb.push(" ORDER BY started_at DESC, id LIMIT ").push_bind(f.limit.unwrap_or(1000));
        self.many(qb, typed::<SessionRow, Session>).await
    }

    async fn get_sessions(&mut self, ids: &[String]) -> Result<Vec<Session>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.flush_touches().await?;
        let mut qb = QueryBuilder::new(format!("SELECT {SESSION_COLS} FROM sessions WHERE id = ANY("));
        qb.push_bind(ids.to_vec()).push(")");
        self.many(qb, typed::<SessionRow, Session>).await
    }

    async fn list_due_sessions(
        &mut self,
        ends_by: Timestamp,
        idle_since: Timestamp,
        limit: i64,
    ) -> Result<Vec<Session>> {
        self.flush_touches().await?;
        let mut due = Vec::new();
        for (sql, at) in [
            (format!("SELECT {SESSION_COLS} FROM sessions WHERE state = 'live' AND ends_at <= $1 ORDER BY ends_at LIMIT $2"), ends_by),
            (format!("SELECT {SESSION_COLS} FROM sessions WHERE state = 'live' AND last_activity_at <= $1 ORDER BY last_activity_at LIMIT $2"), idle_since),
        ] {
            let rows = sqlx::query(&sql).bind(micros(at)).bind(limit).fetch_all(self.db().await?).await.map_err(db_err)?;
            for r in &rows {
                let s = typed::<SessionRow, Session>(r)?;
                if !due.iter().any(|d: &Session| d.id == s.id) {
                    due.push(s);
                }
            }
        }
        Ok(due)
    }
}

#[async_trait]
impl crate::ports::SessionWrites for SqlTx {
    async fn insert_session(&mut self, s: &Session) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO sessions ({SESSION_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26)"
        ))
        .bind(&s.id)
        .bind(&s.request_id)
        .bind(&s.ticket)
        .bind(&s.account_id)
        .bind(&s.account_name)
        .bind(&s.agent)
        .bind(&s.agent_name)
        .bind(&s.approver)
        .bind(&s.approver_name)
        .bind(join(&s.scope))
        .bind(&s.reason)
        .bind(micros(s.started_at))
        .bind(micros(s.ends_at))
        .bind(micros(s.last_activity_at))
        .bind(s.state.as_str())
        .bind(s.end_reason.map(|r| r.as_str()))
        .bind(opt_micros(s.ended_at))
        .bind(&s.ended_by)
        .bind(&s.end_note)
        .bind(&s.app_id)
        .bind(approvers_json(&s.approvers))
        .bind(s.breakglass)
        .bind(s.review.as_ref().map(|r| &r.by))
        .bind(s.review.as_ref().map(|r| &r.by_name))
        .bind(s.review.as_ref().map(|r| micros(r.at)))
        .bind(s.review.as_ref().map(|r| &r.note))
        .execute(self.db().await?)
        .await
        .map_err(|e| unique_or(e, actas_core::Code::LiveSessionExists, "The agent has a live session already; end it first."))?;
        Ok(())
    }

    async fn update_session(&mut self, s: &Session) -> Result<()> {
        self.sessions.remove(&s.id);
        sqlx::query(
            "UPDATE sessions SET scope = $2, ends_at = $3, last_activity_at = $4, state = $5, end_reason = $6, ended_at = $7, ended_by = $8, end_note = $9, approvers = $10, reviewed_by = $11, reviewed_by_name = $12, reviewed_at = $13, review_note = $14 WHERE id = $1",
        )
        .bind(&s.id)
        .bind(join(&s.scope))
        .bind(micros(s.ends_at))
        .bind(micros(s.last_activity_at))
        .bind(s.state.as_str())
        .bind(s.end_reason.map(|r| r.as_str()))
        .bind(opt_micros(s.ended_at))
        .bind(&s.ended_by)
        .bind(&s.end_note)
        .bind(approvers_json(&s.approvers))
        .bind(s.review.as_ref().map(|r| &r.by))
        .bind(s.review.as_ref().map(|r| &r.by_name))
        .bind(s.review.as_ref().map(|r| micros(r.at)))
        .bind(s.review.as_ref().map(|r| &r.note))
        .execute(self.db().await?)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn touch_session(&mut self, id: &str, at: Timestamp) -> Result<()> {
        let at = micros(at);
        if let Some(s) = self.sessions.get_mut(id) {
            touch(s, at);
        }
        self.touches.list.push((id.to_string(), at));
        Ok(())
    }
}

#[async_trait]
impl crate::ports::KeyReads for SqlTx {
    async fn list_keys(&mut self) -> Result<Vec<KeyRecord>> {
        self.many(
            QueryBuilder::new("SELECT kid, role, private_key, public_key, created_at, retired_at FROM signing_keys ORDER BY created_at, kid"),
            typed::<KeyRow, KeyRecord>,
        )
        .await
    }
}

#[async_trait]
impl crate::ports::KeyWrites for SqlTx {
    async fn insert_key(&mut self, k: &KeyRecord) -> Result<()> {
        sqlx::query("INSERT INTO signing_keys (kid, role, private_key, public_key, created_at, retired_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&k.kid)
            .bind(k.role.as_str())
            .bind(&k.private_key)
            .bind(&k.public_key)
            .bind(micros(k.created_at))
            .bind(opt_micros(k.retired_at))
            .execute(self.db().await?)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn retire_key(&mut self, kid: &str, at: Timestamp) -> Result<()> {
        sqlx::query("UPDATE signing_keys SET retired_at = $2 WHERE kid = $1 AND retired_at IS NULL")
            .bind(kid)
            .bind(micros(at))
            .execute(self.db().await?)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn update_key_secret(&mut self, kid: &str, private_key: &str) -> Result<()> {
        sqlx::query("UPDATE signing_keys SET private_key = $2 WHERE kid = $1")
            .bind(kid)
            .bind(private_key)
            .execute(self.db().await?)
            .await
            .map_err(db_err)?;
        Ok(())
    }
}

#[async_trait]
impl crate::ports::AuditReads for SqlTx {
    async fn list_events(&mut self, f: &EventFilter) -> Result<Vec<Event>> {
        self.flush_events().await?;
        let Some(window) = self.seq_window(f).await? else { return Ok(Vec::new()) };
        match crate::plan::per_type(f) {
            Some(searches) => {
                let mut all = Vec::new();
                for one in &searches {
                    all.extend(self.events_in(one, window).await?);
                }
                Ok(crate::plan::merge(all, f.limit))
            }
            None => self.events_in(f, window).await,
        }
    }

    async fn list_session_events(&mut self, session_ids: &[String], kind: EventType, limit: i64) -> Result<Vec<Event>> {
        if session_ids.is_empty() {
            return Ok(Vec::new());
        }
        self.flush_events().await?;
        let mut qb = QueryBuilder::new(format!("SELECT {EVENT_COLS} FROM audit_events WHERE type = "));
        qb.push_bind(kind.as_str())
            .push(" AND session_id = ANY(")
            .push_bind(session_ids.to_vec())
            .push(") ORDER BY session_id, seq LIMIT ")
            .push_bind(limit);
        self.many(qb, typed::<EventRow, Event>).await
    }

    async fn get_event_head(&mut self) -> Result<Option<(i64, String)>> {
        self.flush_events().await?;
        let row = sqlx::query("SELECT seq, hash FROM audit_events WHERE seq = (SELECT max(seq) FROM audit_events)")
            .fetch_optional(self.db().await?)
            .await
            .map_err(db_err)?;
        row.map(|r| Ok((get(&r, "seq")?, get(&r, "hash")?))).transpose()
    }

    async fn read_chain(&mut self, after_seq: i64, limit: i64) -> Result<StoredPage> {
        self.flush_events().await?;
        let rows = sqlx::query(&format!("SELECT {EVENT_COLS} FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2"))
            .bind(after_seq)
            .bind(limit)
            .fetch_all(self.db().await?)
            .await
            .map_err(db_err)?;
        let mut page = StoredPage::for_rows(rows.len());
        for r in &rows {
            let column = |i: usize, e: sqlx::Error| corrupt(format!("audit_events column {i}: {e}"));
            page.push(&crate::rows::stored_event(
                r.try_get(0).map_err(|e| column(0, e))?,
                |i| r.try_get::<&str, _>(i).map_err(|e| column(i, e)),
                |i| r.try_get::<Option<&str>, _>(i).map_err(|e| column(i, e)),
            )?);
        }
        Ok(page)
    }

    async fn list_checkpoints(&mut self, after_seq: i64, through_seq: i64) -> Result<Vec<Checkpoint>> {
        let mut qb = QueryBuilder::new("SELECT seq, hash, kid, signature, at FROM audit_checkpoints WHERE seq > ");
        qb.push_bind(after_seq).push(" AND seq <= ").push_bind(through_seq).push(" ORDER BY seq");
        self.many(qb, typed::<CheckpointRow, Checkpoint>).await
    }

    async fn count_checkpoints(&mut self, after_seq: i64) -> Result<i64> {
        sqlx::query_scalar("SELECT count(*) FROM audit_checkpoints WHERE seq > $1")
            .bind(after_seq)
            .fetch_one(self.db().await?)
            .await
            .map_err(db_err)
    }

    async fn list_segments(&mut self) -> Result<Vec<crate::Segment>> {
        let rows: Vec<(i64, i64, String, i64)> =
            sqlx::query_as("SELECT first_seq, last_seq, manifest, sealed_at FROM audit_segments ORDER BY last_seq")
                .fetch_all(self.db().await?)
                .await
                .map_err(db_err)?;
        rows.into_iter()
            .map(|(first_seq, last_seq, manifest, at)| {
                Ok(crate::Segment { first_seq, last_seq, manifest, sealed_at: crate::convert::time(at)? })
            })
            .collect()
    }
}

#[async_trait]
impl crate::ports::AuditWrites for SqlTx {
    async fn append_event(&mut self, mut e: NewEvent) -> Result<Event> {
        let head = match self.head.clone() {
            Some(h) => Some(h),
            None => self.get_event_head().await?,
        };
        let (seq, prev) = match head {
            Some((seq, hash)) => (seq + 1, hash),
            None => (1, actas_core::audit::GENESIS.to_string()),
        };
        e.id = self.ids.ordered_id("evt", u64::try_from(seq).unwrap_or_default());
        let ev = e.seal(seq, &prev);
        self.head = Some((ev.seq, ev.hash.clone()));
        self.appended = true;
        self.times.note(ev.seq, audit_at(ev.at));
        self.pending.events.push(ev.clone());
        Ok(ev)
    }

    async fn insert_checkpoint(&mut self, c: &Checkpoint) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_checkpoints (seq, hash, kid, signature, at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (seq) DO NOTHING",
        )
        .bind(c.seq)
        .bind(&c.hash)
        .bind(&c.kid)
        .bind(&c.signature)
        .bind(micros(c.at))
        .execute(self.db().await?)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn insert_segment(&mut self, s: &crate::Segment) -> Result<()> {
        sqlx::query("INSERT INTO audit_segments (last_seq, first_seq, manifest, sealed_at) VALUES ($1, $2, $3, $4)")
            .bind(s.last_seq)
            .bind(s.first_seq)
            .bind(&s.manifest)
            .bind(micros(s.sealed_at))
            .execute(self.db().await?)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn remove_sealed_events(&mut self, through: i64, limit: i64) -> Result<u64> {
        self.flush_events().await?;
        let done =
            sqlx::query("DELETE FROM audit_events WHERE seq <= $1 AND seq < (SELECT min(seq) FROM audit_events) + $2")
                .bind(through)
                .bind(limit)
                .execute(self.db().await?)
                .await
                .map_err(db_err)?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl crate::ports::NoticeReads for SqlTx {
    async fn list_notices(&mut self, app_id: &str, after: i64, limit: i64) -> Result<Vec<Notice>> {
        let cols = NOTICE_COLS.split(", ").map(|c| format!("n.{c}")).collect::<Vec<_>>().join(", ");
        let mut qb = QueryBuilder::new(format!(
            "SELECT {cols} FROM notices n JOIN sessions s ON s.id = n.session_id WHERE s.app_id = "
        ));
        qb.push_bind(app_id.to_string())
            .push(" AND n.seq > ")
            .push_bind(after)
            .push(" ORDER BY n.seq LIMIT ")
            .push_bind(limit);
        self.many(qb, typed::<NoticeRow, Notice>).await
    }

    async fn get_notice(&mut self, id: &str) -> Result<Option<Notice>> {
        self.one(&format!("SELECT {NOTICE_COLS} FROM notices WHERE id = $1"), id, typed::<NoticeRow, Notice>).await
    }
}

#[async_trait]
impl crate::ports::NoticeWrites for SqlTx {
    async fn insert_notice(&mut self, n: &Notice) -> Result<Notice> {
        let row = sqlx::query(
            "INSERT INTO notices (id, session_id, account_id, text, data, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq",
        )
        .bind(&n.id)
        .bind(&n.session_id)
        .bind(&n.account_id)
        .bind(&n.text)
        .bind(serde_json::to_string(&n.data).map_err(|e| actas_core::Error::Internal(e.into()))?)
        .bind(micros(n.created_at))
        .fetch_one(self.db().await?)
        .await
        .map_err(db_err)?;
        Ok(Notice { seq: get(&row, "seq")?, ..n.clone() })
    }

    async fn set_notice_delivered(&mut self, id: &str, at: Timestamp) -> Result<()> {
        sqlx::query("UPDATE notices SET delivered_at = $2 WHERE id = $1 AND delivered_at IS NULL")
            .bind(id)
            .bind(micros(at))
            .execute(self.db().await?)
            .await
            .map_err(db_err)?;
        Ok(())
    }
}

impl crate::ports::WriteTx for SqlTx {
    fn new_id(&self, prefix: &str) -> String {
        self.ids.id(prefix)
    }
}

#[async_trait]
impl crate::writer::BatchConn for SqlTx {
    async fn begin(&mut self) -> Result<()> {
        self.head = None;
        self.appended = false;
        self.times.take();
        self.pending = Pending::default();
        self.touches = Touches::default();
        self.sessions.clear();
        self.savepoint_due = false;
        self.savepoint_sent = false;
        self.poisoned = false;
        self.release_due = false;
        self.control(BEGIN_BATCH).await
    }

    async fn exec(&mut self, sql: &'static str) -> Result<()> {
        match sql {
            // Sent with the job's first statement (see `db`).
            "SAVEPOINT job" => {
                self.pending.mark = (self.pending.events.len(), self.pending.inserted);
                self.touches.mark = (self.touches.list.len(), self.touches.flushed);
                self.savepoint_due = true;
                self.savepoint_sent = false;
                Ok(())
            }
            // Sent with the next SAVEPOINT; COMMIT releases it anyway.
            "RELEASE SAVEPOINT job" => {
                self.release_due |= std::mem::take(&mut self.savepoint_sent);
                self.savepoint_due = false;
                Ok(())
            }
            "ROLLBACK TO SAVEPOINT job" => {
                let (len, inserted) = self.pending.mark;
                self.pending.events.truncate(len);
                self.pending.inserted = inserted.min(len);
                let (len, flushed) = self.touches.mark;
                self.touches.list.truncate(len);
                self.touches.flushed = flushed.min(len);
                self.sessions.clear();
                self.savepoint_due = false;
                // A job that sent no statement changed nothing in the
                // database; one whose savepoint failed cannot be undone.
                if self.savepoint_sent {
                    self.control(sql).await
                } else if self.poisoned {
                    Err(actas_core::Error::Unavailable(anyhow::anyhow!("a savepoint failed; the batch cannot commit")))
                } else {
                    Ok(())
                }
            }
            "COMMIT" if self.poisoned => {
                Err(actas_core::Error::Unavailable(anyhow::anyhow!("a savepoint failed; the batch cannot commit")))
            }
            _ => {
                if sql == "COMMIT" || sql == "ROLLBACK" {
                    self.release_due = false;
                    self.savepoint_due = false;
                    self.savepoint_sent = false;
                    self.sessions.clear();
                }
                self.control(sql).await
            }
        }
    }

    async fn probe(&mut self) -> Result<()> {
        sqlx::query(
            "INSERT INTO writer_probe (id, n) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET n = writer_probe.n + 1",
        )
        .execute(self.db().await?)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    fn discard(&mut self) {
        self.discard = true;
    }

    fn tx(&mut self) -> &mut dyn WriteTx {
        self
    }

    fn cached_head(&self) -> Option<(i64, String)> {
        self.head.clone()
    }

    fn set_cached_head(&mut self, head: Option<(i64, String)>) {
        self.head = head;
    }

    fn appended(&self) -> bool {
        self.appended
    }

    async fn finish(&mut self) -> Result<()> {
        self.flush_events().await?;
        self.flush_touches().await?;
        self.store_times().await
    }
}

/// Runs a read closure in a read-only transaction. Cancelled at any
/// await, the connection is closed rather than pooled (see [`SqlTx`]).
pub(crate) async fn read_in<T>(
    pool: &sqlx::Pool<sqlx::Postgres>,
    ids: &std::sync::Arc<dyn actas_core::id::Ids>,
    f: crate::ReadFn<T>,
) -> Result<T> {
    let conn = pool.acquire().await.map_err(db_err)?;
    let mut tx = SqlTx::new(Conn::Pooled(conn), ids.clone());
    tx.control(BEGIN_READ).await?;
    let out = f(&mut tx).await;
    if let Err(e) = tx.control("ROLLBACK").await {
        tracing::warn!(error = %e, "could not end a read transaction; closing its connection");
    }
    out
}

#[async_trait]
impl crate::ports::WebhookReads for SqlTx {
    async fn list_webhooks(&mut self) -> Result<Vec<Webhook>> {
        self.many(
            QueryBuilder::new(format!("SELECT {WEBHOOK_COLS} FROM webhooks ORDER BY created_at, id")),
            typed::<WebhookRow, Webhook>,
        )
        .await
    }

    async fn get_webhook(&mut self, id: &str) -> Result<Option<Webhook>> {
        self.one(&format!("SELECT {WEBHOOK_COLS} FROM webhooks WHERE id = $1"), id, typed::<WebhookRow, Webhook>).await
    }

    async fn list_deliveries(&mut self, webhook_id: &str, limit: i64) -> Result<Vec<Delivery>> {
        let mut q = QueryBuilder::new(format!("SELECT {DELIVERY_COLS} FROM webhook_deliveries WHERE webhook_id = "));
        q.push_bind(webhook_id.to_string());
        q.push(" ORDER BY at DESC, id DESC LIMIT ");
        q.push_bind(limit);
        self.many(q, typed::<DeliveryRow, Delivery>).await
    }

    async fn get_delivery(&mut self, id: &str) -> Result<Option<Delivery>> {
        self.one(
            &format!("SELECT {DELIVERY_COLS} FROM webhook_deliveries WHERE id = $1"),
            id,
            typed::<DeliveryRow, Delivery>,
        )
        .await
    }
}

#[async_trait]
impl crate::ports::WebhookWrites for SqlTx {
    async fn insert_webhook(&mut self, w: &Webhook) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO webhooks ({WEBHOOK_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ))
        .bind(&w.id)
        .bind(&w.url)
        .bind(w.events.names().join(" "))
        .bind(&w.secret)
        .bind(micros(w.created_at))
        .bind(&w.created_by)
        .bind(w.after_seq)
        .bind(w.state.as_str())
        .bind(i64::from(w.failures))
        .bind(opt_micros(w.next_attempt_at))
        .bind(&w.last_error)
        .bind(opt_micros(w.lease_until))
        .execute(self.db().await?)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn update_webhook(&mut self, w: &Webhook) -> Result<()> {
        sqlx::query(
            "UPDATE webhooks SET after_seq = $2, state = $3, failures = $4, next_attempt_at = $5, last_error = $6, lease_until = $7 WHERE id = $1",
        )
        .bind(&w.id)
        .bind(w.after_seq)
        .bind(w.state.as_str())
        .bind(i64::from(w.failures))
        .bind(opt_micros(w.next_attempt_at))
        .bind(&w.last_error)
        .bind(opt_micros(w.lease_until))
        .execute(self.db().await?)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn lease_webhook(&mut self, id: &str, now: Timestamp, until: Timestamp) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE webhooks SET lease_until = $3 WHERE id = $1 AND state = 'active' AND (lease_until IS NULL OR lease_until < $2)",
        )
        .bind(id)
        .bind(micros(now))
        .bind(micros(until))
        .execute(self.db().await?)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_webhook(&mut self, id: &str) -> Result<()> {
        for sql in ["DELETE FROM webhook_deliveries WHERE webhook_id = $1", "DELETE FROM webhooks WHERE id = $1"] {
            sqlx::query(sql).bind(id).execute(self.db().await?).await.map_err(db_err)?;
        }
        Ok(())
    }

    async fn insert_delivery(&mut self, d: &Delivery) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO webhook_deliveries ({DELIVERY_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ))
        .bind(&d.id)
        .bind(&d.webhook_id)
        .bind(d.seq)
        .bind(&d.event_id)
        .bind(d.event_type.as_str())
        .bind(i64::from(d.attempt))
        .bind(micros(d.at))
        .bind(d.status.map(i64::from))
        .bind(d.ok)
        .bind(&d.error)
        .bind(d.replay)
        .execute(self.db().await?)
        .await
        .map_err(db_err)?;
        Ok(())
    }
}
