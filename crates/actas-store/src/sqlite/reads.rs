//! The read ports, once for every connection ([`HasConn`]): the readers'
//! and, inside a batch, the writer's.
//!
//! Each method runs its statements to the end without awaiting anything:
//! the calls block, which is why reads run on tokio's blocking pool and the
//! writer on a thread of its own.

use actas_core::audit::{Checkpoint, Event, EventType, StoredPage};
use actas_core::model::{App, Decision, Notice, Request, Session, Staff, Ticket};
use actas_core::webhook::{Delivery, Webhook};
use actas_core::{Result, Timestamp};
use async_trait::async_trait;
use rusqlite::Connection;

use super::conn::{db_err, many, one, HasConn, Query, TimeBlock};
use super::rows::*;
use crate::convert::{audit_at, micros};
use crate::ports::*;
use crate::{ConsoleSession, EntryCode, EventFilter, KeyRecord, RequestFilter, SessionFilter, StaffProfile};

#[async_trait]
impl<C: HasConn> TicketReads for C {
    async fn get_ticket(&mut self, reference: &str) -> Result<Option<Ticket>> {
        let sql = concat!("SELECT ", ticket_cols!(), " FROM tickets WHERE ref = ?1");
        one(self.conn(), sql, [reference], ticket_from)
    }

    async fn list_open_tickets(&mut self, assignee: Option<&str>, limit: i64) -> Result<Vec<Ticket>> {
        // The WHERE repeats the partial index's condition, so SQLite walks
        // `tickets_open_by_assignee` backwards and stops at `limit`.
        match assignee {
            Some(who) => many(
                self.conn(),
                concat!(
                    "SELECT ",
                    ticket_cols!(),
                    " FROM tickets WHERE assignee = ?1 AND status IN ('open', 'pending') \
                     ORDER BY updated_at DESC LIMIT ?2"
                ),
                rusqlite::params![who, limit],
                ticket_from,
            ),
            None => many(
                self.conn(),
                concat!(
                    "SELECT ",
                    ticket_cols!(),
                    " FROM tickets WHERE assignee IS NULL AND status IN ('open', 'pending') \
                     ORDER BY updated_at DESC LIMIT ?1"
                ),
                [limit],
                ticket_from,
            ),
        }
    }
}

#[async_trait]
impl<C: HasConn> StaffReads for C {
    async fn get_staff(&mut self, id: &str) -> Result<Option<Staff>> {
        one(self.conn(), concat!("SELECT ", staff_cols!(), " FROM staff WHERE id = ?1"), [id], staff_from)
    }

    async fn list_staff(&mut self) -> Result<Vec<Staff>> {
        many(self.conn(), concat!("SELECT ", staff_cols!(), " FROM staff ORDER BY id"), [], staff_from)
    }

    async fn get_staff_password(&mut self, id: &str) -> Result<Option<String>> {
        let hash = one(self.conn(), "SELECT password_hash FROM staff WHERE id = ?1", [id], |r| {
            get::<Option<String>>(r, 0, "password_hash")
        })?;
        Ok(hash.flatten())
    }

    async fn get_staff_profile(&mut self, id: &str) -> Result<Option<(Staff, StaffProfile)>> {
        let sql = concat!("SELECT ", staff_profile_cols!(), " FROM staff WHERE id = ?1");
        one(self.conn(), sql, [id], staff_profile_from)
    }

    async fn list_staff_profiles(&mut self) -> Result<Vec<(Staff, StaffProfile)>> {
        many(self.conn(), concat!("SELECT ", staff_profile_cols!(), " FROM staff ORDER BY id"), [], staff_profile_from)
    }

    async fn find_staff_by_username(&mut self, username: &str) -> Result<Option<(Staff, StaffProfile)>> {
        let sql = concat!(
            "SELECT ",
            staff_profile_cols!(),
            " FROM staff WHERE username = ?1 UNION ALL SELECT ",
            staff_profile_cols!(),
            " FROM staff WHERE id = ?1 AND username IS NULL LIMIT 1"
        );
        one(self.conn(), sql, [username], staff_profile_from)
    }
}

#[async_trait]
impl<C: HasConn> ConsoleReads for C {
    async fn get_console_session(&mut self, id_hash: &str) -> Result<Option<ConsoleSession>> {
        one(
            self.conn(),
            "SELECT id_hash, staff_id, csrf, created_at, last_seen_at FROM console_sessions WHERE id_hash = ?1",
            [id_hash],
            console_session_from,
        )
    }
}

#[async_trait]
impl<C: HasConn> CredentialReads for C {
    async fn find_credential(&mut self, hash: &str) -> Result<Option<(String, String)>> {
        one(self.conn(), "SELECT owner_kind, owner_id FROM credentials WHERE hash = ?1", [hash], |r| {
            Ok((get(r, 0, "owner_kind")?, get(r, 1, "owner_id")?))
        })
    }
}

#[async_trait]
impl<C: HasConn> AppReads for C {
    async fn get_app(&mut self, id: &str) -> Result<Option<App>> {
        one(self.conn(), concat!("SELECT ", app_cols!(), " FROM apps WHERE id = ?1"), [id], app_from)
    }

    async fn list_apps(&mut self) -> Result<Vec<App>> {
        many(self.conn(), concat!("SELECT ", app_cols!(), " FROM apps ORDER BY name"), [], app_from)
    }

    async fn list_grants(&mut self, account_id: &str, limit: i64) -> Result<Vec<actas_core::model::Grant>> {
        many(
            self.conn(),
            "SELECT id, account_id, app_id, granted_by, hours, created_at, expires_at, revoked_at, revoked_by \
             FROM grants WHERE account_id = ?1 ORDER BY created_at DESC LIMIT ?2",
            rusqlite::params![account_id, limit],
            grant_from,
        )
    }

    async fn account_consent(&mut self, account_id: &str) -> Result<Option<bool>> {
        let row: Option<bool> =
            one(self.conn(), "SELECT required FROM account_consent WHERE account_id = ?1", [account_id], |r| {
                r.get::<_, bool>(0).map_err(db_err)
            })?;
        Ok(row)
    }

    async fn get_entry_code(&mut self, hash: &str) -> Result<Option<EntryCode>> {
        one(
            self.conn(),
            "SELECT hash, session_id, created_at, expires_at, used_at FROM entry_codes WHERE hash = ?1",
            [hash],
            entry_code_from,
        )
    }

    async fn get_connector(&mut self, app_id: &str) -> Result<Option<crate::ConnectorRecord>> {
        one(
            self.conn(),
            "SELECT app_id, kind, secret, mapping, created_at FROM connectors WHERE app_id = ?1",
            [app_id],
            connector_from,
        )
    }
}

#[async_trait]
impl<C: HasConn> RequestReads for C {
    async fn get_request(&mut self, id: &str) -> Result<Option<Request>> {
        one(self.conn(), concat!("SELECT ", request_cols!(), " FROM requests WHERE id = ?1"), [id], request_from)
    }

    async fn list_requests(&mut self, f: &RequestFilter) -> Result<Vec<Request>> {
        let mut q = Query::new(concat!("SELECT ", request_cols!(), " FROM requests WHERE 1 = 1"));
        if let Some(s) = f.status {
            // A literal, not a parameter: with a bound value here SQLite
            // compiles the statement again on every run, to see whether the
            // partial index on approved requests applies.
            q.push(" AND status = '").push(s.as_str()).push("'");
        }
        if let Some(v) = &f.requester {
            q.push(" AND requester = ").bind(v.clone());
        }
        if let Some(v) = &f.ticket {
            q.push(" AND ticket = ").bind(v.clone());
        }
        if let Some(v) = &f.session_id {
            q.push(" AND session_id = ").bind(v.clone());
        }
        q.push(" ORDER BY created_at, id LIMIT ").bind(f.limit.unwrap_or(1000));
        q.many(self.conn(), request_from)
    }

    async fn list_lapsed_requests(&mut self, now: Timestamp) -> Result<Vec<Request>> {
        let sql = concat!(
            "SELECT ",
            request_cols!(),
            " FROM requests WHERE status = 'approved' AND start_by <= ?1 ORDER BY start_by LIMIT 500"
        );
        many(self.conn(), sql, [micros(now)], request_from)
    }

    async fn list_decisions(&mut self, request_id: &str) -> Result<Vec<Decision>> {
        let sql = concat!("SELECT ", decision_cols!(), " FROM decisions WHERE request_id = ?1 ORDER BY at");
        many(self.conn(), sql, [request_id], decision_from)
    }

    async fn get_requests(&mut self, ids: &[String]) -> Result<Vec<Request>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = Query::new(concat!("SELECT ", request_cols!(), " FROM requests WHERE id IN ("));
        for (n, id) in ids.iter().enumerate() {
            if n > 0 {
                q.push(", ");
            }
            q.bind(id.clone());
        }
        q.push(")");
        q.many(self.conn(), request_from)
    }
}

#[async_trait]
impl<C: HasConn> SessionReads for C {
    async fn get_session(&mut self, id: &str) -> Result<Option<Session>> {
        one(self.conn(), concat!("SELECT ", session_cols!(), " FROM sessions WHERE id = ?1"), [id], session_from)
    }

    async fn find_live_session(&mut self, agent: &str) -> Result<Option<Session>> {
        let sql = concat!("SELECT ", session_cols!(), " FROM sessions WHERE agent = ?1 AND state = 'live'");
        one(self.conn(), sql, [agent], session_from)
    }

    async fn list_sessions(&mut self, f: &SessionFilter) -> Result<Vec<Session>> {
        let mut q = Query::new(concat!("SELECT ", session_cols!(), " FROM sessions WHERE 1 = 1"));
        if let Some(v) = &f.account_id {
            q.push(" AND account_id = ").bind(v.clone());
        }
        if let Some(v) = &f.ticket {
            q.push(" AND ticket = ").bind(v.clone());
        }
        if let Some(v) = &f.agent {
            q.push(" AND agent = ").bind(v.clone());
        }
        if let Some(v) = &f.request_id {
            q.push(" AND request_id = ").bind(v.clone());
        }
        if let Some(v) = &f.app_id {
            q.push(" AND app_id = ").bind(v.clone());
        }
        if f.live_only {
            q.push(" AND state = 'live'");
        }
        if f.awaiting_review {
            q.push(" AND breakglass AND reviewed_at IS NULL");
        }
        q.push(" ORDER BY started_at DESC, id LIMIT ").bind(f.limit.unwrap_or(1000));
        q.many(self.conn(), session_from)
    }

    async fn get_sessions(&mut self, ids: &[String]) -> Result<Vec<Session>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = Query::new(concat!("SELECT ", session_cols!(), " FROM sessions WHERE id IN ("));
        for (n, id) in ids.iter().enumerate() {
            if n > 0 {
                q.push(", ");
            }
            q.bind(id.clone());
        }
        q.push(")");
        q.many(self.conn(), session_from)
    }

    async fn list_due_sessions(
        &mut self,
        ends_by: Timestamp,
        idle_since: Timestamp,
        limit: i64,
    ) -> Result<Vec<Session>> {
        let mut due: Vec<Session> = Vec::new();
        for (sql, at) in [
            (
                concat!(
                    "SELECT ",
                    session_cols!(),
                    " FROM sessions WHERE state = 'live' AND ends_at <= ?1 ORDER BY ends_at LIMIT ?2"
                ),
                ends_by,
            ),
            (
                concat!(
                    "SELECT ",
                    session_cols!(),
                    " FROM sessions WHERE state = 'live' AND last_activity_at <= ?1 ORDER BY last_activity_at LIMIT ?2"
                ),
                idle_since,
            ),
        ] {
            for s in many(self.conn(), sql, [micros(at), limit], session_from)? {
                if !due.iter().any(|d| d.id == s.id) {
                    due.push(s);
                }
            }
        }
        Ok(due)
    }
}

#[async_trait]
impl<C: HasConn> KeyReads for C {
    async fn list_keys(&mut self) -> Result<Vec<KeyRecord>> {
        many(self.conn(), concat!("SELECT ", key_cols!(), " FROM signing_keys ORDER BY created_at, kid"), [], key_from)
    }
}

#[async_trait]
impl<C: HasConn> AuditReads for C {
    async fn list_events(&mut self, f: &EventFilter) -> Result<Vec<Event>> {
        let Some(window) = seq_window(self.conn(), self.pending_times(), f)? else { return Ok(Vec::new()) };
        match crate::plan::per_type(f) {
            Some(searches) => {
                let mut all = Vec::new();
                for one in &searches {
                    all.extend(events_in(self.conn(), one, window)?);
                }
                Ok(crate::plan::merge(all, f.limit))
            }
            None => events_in(self.conn(), f, window),
        }
    }

    async fn list_session_events(&mut self, session_ids: &[String], kind: EventType, limit: i64) -> Result<Vec<Event>> {
        if session_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = Query::new(concat!(
            "SELECT ",
            event_cols!(),
            " FROM audit_events INDEXED BY audit_by_session WHERE type = "
        ));
        q.bind(kind.as_str().to_string()).push(" AND session_id IN (");
        for (n, id) in session_ids.iter().enumerate() {
            if n > 0 {
                q.push(", ");
            }
            q.bind(id.clone());
        }
        q.push(") ORDER BY session_id, seq LIMIT ").bind(limit);
        q.many(self.conn(), event_from)
    }

    async fn get_event_head(&mut self) -> Result<Option<(i64, String)>> {
        event_head(self.conn())
    }

    async fn read_chain(&mut self, after_seq: i64, limit: i64) -> Result<StoredPage> {
        let sql = concat!("SELECT ", event_cols!(), " FROM audit_events WHERE seq > ?1 ORDER BY seq LIMIT ?2");
        let mut stmt = self.conn().prepare_cached(sql).map_err(db_err)?;
        let mut rows = stmt.query(rusqlite::params![after_seq, limit]).map_err(db_err)?;
        let mut page = StoredPage::for_rows(usize::try_from(limit).unwrap_or(0).min(4096));
        while let Some(r) = rows.next().map_err(db_err)? {
            page.push(&stored_event(r)?);
        }
        Ok(page)
    }

    async fn list_checkpoints(&mut self, after_seq: i64, through_seq: i64) -> Result<Vec<Checkpoint>> {
        many(
            self.conn(),
            "SELECT seq, hash, kid, signature, at FROM audit_checkpoints WHERE seq > ?1 AND seq <= ?2 ORDER BY seq",
            [after_seq, through_seq],
            checkpoint_from,
        )
    }

    async fn count_checkpoints(&mut self, after_seq: i64) -> Result<i64> {
        let mut stmt =
            self.conn().prepare_cached("SELECT count(*) FROM audit_checkpoints WHERE seq > ?1").map_err(db_err)?;
        stmt.query_row([after_seq], |r| r.get(0)).map_err(db_err)
    }

    async fn list_segments(&mut self) -> Result<Vec<crate::Segment>> {
        many(
            self.conn(),
            "SELECT first_seq, last_seq, manifest, sealed_at FROM audit_segments ORDER BY last_seq",
            [],
            |r| {
                Ok(crate::Segment {
                    first_seq: get(r, 0, "first_seq")?,
                    last_seq: get(r, 1, "last_seq")?,
                    manifest: get(r, 2, "manifest")?,
                    sealed_at: crate::convert::time(get(r, 3, "sealed_at")?)?,
                })
            },
        )
    }
}

#[async_trait]
impl<C: HasConn> NoticeReads for C {
    async fn list_notices(&mut self, app_id: &str, after: i64, limit: i64) -> Result<Vec<Notice>> {
        let sql = "SELECT n.seq, n.id, n.session_id, n.account_id, n.text, n.data, n.created_at, n.delivered_at \
                   FROM notices n JOIN sessions s ON s.id = n.session_id \
                   WHERE s.app_id = ?1 AND n.seq > ?2 ORDER BY n.seq LIMIT ?3";
        many(self.conn(), sql, rusqlite::params![app_id, after, limit], notice_from)
    }

    async fn get_notice(&mut self, id: &str) -> Result<Option<Notice>> {
        one(self.conn(), concat!("SELECT ", notice_cols!(), " FROM notices WHERE id = ?1"), [id], notice_from)
    }
}

/// The chain's head as stored: `(seq, hash)`.
pub(super) fn event_head(c: &Connection) -> Result<Option<(i64, String)>> {
    one(c, "SELECT seq, hash FROM audit_events WHERE seq = (SELECT max(seq) FROM audit_events)", [], |r| {
        Ok((get(r, 0, "seq")?, get(r, 1, "hash")?))
    })
}

/// The seqs `f` can match (see [`crate::plan::window`]).
fn seq_window(c: &Connection, pending: &[TimeBlock], f: &EventFilter) -> Result<Option<(i64, i64)>> {
    let mut stored = crate::plan::StoredBlocks::default();
    if let Some(since) = f.since {
        stored.first = block(c, crate::plan::FIRST_BLOCK, &audit_at(since))?;
    }
    if let Some(until) = f.until {
        stored.last = block(c, crate::plan::LAST_BLOCK, &audit_at(until))?;
    }
    Ok(crate::plan::window(f, pending, stored))
}

/// The one block an aggregate over `audit_time_index` answers, if any.
fn block(c: &Connection, sql: &str, at: &str) -> Result<Option<i64>> {
    let mut stmt = c.prepare_cached(sql).map_err(db_err)?;
    stmt.query_row([at], |r| r.get(0)).map_err(db_err)
}

/// Events matching `f` with seqs in `window`, oldest first: one walk of one
/// index (see [`crate::plan::driver`], named to SQLite with `INDEXED BY`,
/// since its planner has no statistics to choose by) in seq order.
fn events_in(c: &Connection, f: &EventFilter, (from, to): (i64, i64)) -> Result<Vec<Event>> {
    let indexed = crate::plan::driver(f).map(|i| format!(" INDEXED BY {i}")).unwrap_or_default();
    let mut q = Query::new(format!(concat!("SELECT ", event_cols!(), " FROM audit_events{} WHERE seq >= "), indexed));
    q.bind(from);
    if to < i64::MAX {
        q.push(" AND seq < ").bind(to);
    }
    for (sql, v) in crate::plan::conditions(f) {
        q.push(sql).bind(v);
    }
    if !f.types.is_empty() {
        q.push(" AND type IN (");
        for (n, t) in f.types.iter().enumerate() {
            if n > 0 {
                q.push(", ");
            }
            q.bind(t.as_str().to_string());
        }
        q.push(")");
    }
    q.push(" ORDER BY seq LIMIT ").bind(f.limit);
    q.many(c, event_from)
}

#[async_trait]
impl<C: HasConn> WebhookReads for C {
    async fn list_webhooks(&mut self) -> Result<Vec<Webhook>> {
        many(
            self.conn(),
            concat!("SELECT ", webhook_cols!(), " FROM webhooks ORDER BY created_at, id"),
            [],
            webhook_from,
        )
    }

    async fn get_webhook(&mut self, id: &str) -> Result<Option<Webhook>> {
        one(self.conn(), concat!("SELECT ", webhook_cols!(), " FROM webhooks WHERE id = ?1"), [id], webhook_from)
    }

    async fn list_deliveries(&mut self, webhook_id: &str, limit: i64) -> Result<Vec<Delivery>> {
        many(
            self.conn(),
            concat!(
                "SELECT ",
                delivery_cols!(),
                " FROM webhook_deliveries WHERE webhook_id = ?1 ORDER BY at DESC, id DESC LIMIT ?2"
            ),
            rusqlite::params![webhook_id, limit],
            delivery_from,
        )
    }

    async fn get_delivery(&mut self, id: &str) -> Result<Option<Delivery>> {
        one(
            self.conn(),
            concat!("SELECT ", delivery_cols!(), " FROM webhook_deliveries WHERE id = ?1"),
            [id],
            delivery_from,
        )
    }
}
