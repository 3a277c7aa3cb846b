//! The write ports and the writer's side of a batch, for the writer's
//! connection only ([`BatchTx`]): no other type can change anything.

use actas_core::audit::{Checkpoint, Event, NewEvent};
use actas_core::model::{App, Decision, Notice, Request, Session, Staff, Ticket};
use actas_core::webhook::{Delivery, Webhook};
use actas_core::{Code, Error, Result, Timestamp};
use async_trait::async_trait;
use rusqlite::params;

use super::conn::{db_err, exec, unique_or, BatchTx};
use super::reads::event_head;
use super::rows::*;
use crate::convert::{approvers_json, audit_at, join, mapping_json, micros, opt_micros, stepup_json, tags_json};
use crate::ports::*;
use crate::writer::BatchConn;
use crate::{ConsoleSession, EntryCode, KeyRecord, StaffProfile};

#[async_trait]
impl TicketWrites for BatchTx {
    async fn insert_ticket(&mut self, t: &Ticket) -> Result<()> {
        self.change_or(
            concat!(
                "INSERT INTO tickets (",
                ticket_cols!(),
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
            ),
            params![
                t.reference,
                t.account_id,
                t.account_name,
                t.subject,
                t.url,
                t.created_by,
                micros(t.created_at),
                t.status.as_str(),
                t.assignee,
                tags_json(&t.tags)?,
                t.source.as_str(),
                micros(t.updated_at)
            ],
            |e| unique_or(e, Code::TicketExists, "A ticket with this reference exists already."),
        )?;
        Ok(())
    }

    async fn update_ticket(&mut self, t: &Ticket) -> Result<()> {
        self.change(
            "UPDATE tickets SET account_id = ?2, account_name = ?3, subject = ?4, url = ?5, status = ?6, \
             assignee = ?7, tags = ?8, source = ?9, updated_at = ?10 WHERE ref = ?1",
            params![
                t.reference,
                t.account_id,
                t.account_name,
                t.subject,
                t.url,
                t.status.as_str(),
                t.assignee,
                tags_json(&t.tags)?,
                t.source.as_str(),
                micros(t.updated_at)
            ],
        )?;
        Ok(())
    }
}

#[async_trait]
impl StaffWrites for BatchTx {
    async fn insert_staff(&mut self, s: &Staff) -> Result<()> {
        let roles: Vec<String> = s.roles.iter().map(|r| r.as_str().to_string()).collect();
        self.change_or(
            concat!("INSERT INTO staff (", staff_cols!(), ") VALUES (?1, ?2, ?3, ?4, ?5)"),
            params![s.id, s.name, join(&roles), s.disabled, micros(s.created_at)],
            |e| unique_or(e, Code::StaffExists, "A staff member with this login exists already."),
        )?;
        Ok(())
    }

    async fn update_staff(&mut self, s: &Staff) -> Result<()> {
        let roles: Vec<String> = s.roles.iter().map(|r| r.as_str().to_string()).collect();
        self.change(
            "UPDATE staff SET name = ?2, roles = ?3, disabled = ?4 WHERE id = ?1",
            params![s.id, s.name, join(&roles), s.disabled],
        )?;
        Ok(())
    }

    async fn set_staff_password(&mut self, id: &str, hash: Option<&str>) -> Result<()> {
        self.change("UPDATE staff SET password_hash = ?2 WHERE id = ?1", params![id, hash])?;
        Ok(())
    }

    async fn set_staff_profile(&mut self, id: &str, p: &StaffProfile) -> Result<()> {
        self.change_or(
            "UPDATE staff SET external_id = ?2, email = ?3, updated_at = ?4, username = ?5 WHERE id = ?1",
            params![id, p.external_id, p.email, opt_micros(p.updated_at), p.username],
            |e| unique_or(e, Code::StaffExists, "Another staff member has this external id or username."),
        )?;
        Ok(())
    }
}

#[async_trait]
impl ConsoleWrites for BatchTx {
    async fn insert_console_session(&mut self, s: &ConsoleSession) -> Result<()> {
        self.change(
            "INSERT INTO console_sessions (id_hash, staff_id, csrf, created_at, last_seen_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![s.id_hash, s.staff_id, s.csrf, micros(s.created_at), micros(s.last_seen_at)],
        )?;
        Ok(())
    }

    async fn touch_console_session(&mut self, id_hash: &str, at: Timestamp) -> Result<()> {
        self.change(
            "UPDATE console_sessions SET last_seen_at = ?2 WHERE id_hash = ?1 AND last_seen_at < ?2",
            params![id_hash, micros(at)],
        )?;
        Ok(())
    }

    async fn delete_console_session(&mut self, id_hash: &str) -> Result<()> {
        self.change("DELETE FROM console_sessions WHERE id_hash = ?1", [id_hash])?;
        Ok(())
    }
}

#[async_trait]
impl CredentialWrites for BatchTx {
    async fn insert_credential(&mut self, hash: &str, owner_kind: &str, owner_id: &str, at: Timestamp) -> Result<()> {
        self.change(
            "INSERT INTO credentials (hash, owner_kind, owner_id, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![hash, owner_kind, owner_id, micros(at)],
        )?;
        Ok(())
    }
}

#[async_trait]
impl AppWrites for BatchTx {
    async fn insert_app(&mut self, a: &App) -> Result<()> {
        self.change_or(
            concat!("INSERT INTO apps (", app_cols!(), ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
            params![a.id, a.name, a.tickets, a.scim, join(&a.origins), a.entry_url, micros(a.created_at), a.consent],
            |e| unique_or(e, Code::AppExists, "An app with this name exists already."),
        )?;
        Ok(())
    }

    async fn insert_entry_code(&mut self, c: &EntryCode) -> Result<()> {
        // A new code voids the session's unused ones.
        self.change("DELETE FROM entry_codes WHERE session_id = ?1 AND used_at IS NULL", [&c.session_id])?;
        self.change(
            "INSERT INTO entry_codes (hash, session_id, created_at, expires_at, used_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![c.hash, c.session_id, micros(c.created_at), micros(c.expires_at), opt_micros(c.used_at)],
        )?;
        Ok(())
    }

    async fn insert_grant(&mut self, g: &actas_core::model::Grant) -> Result<()> {
        self.change(
            "INSERT INTO grants (id, account_id, app_id, granted_by, hours, created_at, expires_at, revoked_at, revoked_by) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                g.id,
                g.account_id,
                g.app_id,
                g.granted_by,
                i64::from(g.hours),
                micros(g.created_at),
                micros(g.expires_at),
                opt_micros(g.revoked_at),
                g.revoked_by,
            ],
        )?;
        Ok(())
    }

    async fn revoke_grant(&mut self, id: &str, at: Timestamp, by: &str) -> Result<()> {
        self.change(
            "UPDATE grants SET revoked_at = ?2, revoked_by = ?3 WHERE id = ?1 AND revoked_at IS NULL",
            params![id, micros(at), by],
        )?;
        Ok(())
    }

    async fn set_account_consent(&mut self, account_id: &str, required: bool, by: &str, at: Timestamp) -> Result<()> {
        self.change(
            "INSERT INTO account_consent (account_id, required, set_by, updated_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (account_id) DO UPDATE SET required = excluded.required, set_by = excluded.set_by, \
             updated_at = excluded.updated_at",
            params![account_id, required, by, micros(at)],
        )?;
        Ok(())
    }

    async fn use_entry_code(&mut self, hash: &str, at: Timestamp) -> Result<bool> {
        let done = self.change(
            "UPDATE entry_codes SET used_at = ?2 WHERE hash = ?1 AND used_at IS NULL",
            params![hash, micros(at)],
        )?;
        Ok(done == 1)
    }

    async fn insert_connector(&mut self, c: &crate::ConnectorRecord) -> Result<()> {
        self.change(
            "INSERT INTO connectors (app_id, kind, secret, mapping, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![c.app_id, c.kind.as_str(), c.secret.as_bytes(), mapping_json(&c.mapping)?, micros(c.created_at)],
        )?;
        Ok(())
    }

    async fn replace_connector(&mut self, c: &crate::ConnectorRecord) -> Result<bool> {
        let done = self.change(
            "UPDATE connectors SET secret = ?2, mapping = ?3 WHERE app_id = ?1",
            params![c.app_id, c.secret.as_bytes(), mapping_json(&c.mapping)?],
        )?;
        Ok(done == 1)
    }

    async fn record_delivery(&mut self, key: &str, at: Timestamp) -> Result<bool> {
        let done = self.change(
            "INSERT INTO connector_deliveries (key, received_at) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
            params![key, micros(at)],
        )?;
        Ok(done == 1)
    }

    async fn prune_deliveries(&mut self, before: Timestamp) -> Result<u64> {
        let done = self.change("DELETE FROM connector_deliveries WHERE received_at < ?1", [micros(before)])?;
        Ok(done as u64)
    }
}

#[async_trait]
impl RequestWrites for BatchTx {
    async fn insert_request(&mut self, r: &Request) -> Result<()> {
        self.change(
            concat!(
                "INSERT INTO requests (",
                request_cols!(),
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23)"
            ),
            params![
                r.id,
                r.kind.as_str(),
                r.ticket,
                r.account_id,
                r.account_name,
                r.requester,
                r.requester_name,
                r.reason,
                join(&r.actions),
                i64::from(r.minutes),
                r.status.as_str(),
                r.session_id,
                r.granted_actions.as_deref().map(join),
                r.granted_minutes.map(i64::from),
                r.decided_by,
                r.decided_by_name,
                opt_micros(r.decided_at),
                r.decision_note,
                opt_micros(r.start_by),
                micros(r.created_at),
                micros(r.updated_at),
                r.playbook,
                stepup_json(r.stepup.as_ref())?,
            ],
        )?;
        Ok(())
    }

    async fn update_request(&mut self, r: &Request) -> Result<()> {
        self.change(
            "UPDATE requests SET status = ?2, session_id = ?3, granted_actions = ?4, granted_minutes = ?5, \
             decided_by = ?6, decided_by_name = ?7, decided_at = ?8, decision_note = ?9, start_by = ?10, \
             updated_at = ?11, stepup = ?12 WHERE id = ?1",
            params![
                r.id,
                r.status.as_str(),
                r.session_id,
                r.granted_actions.as_deref().map(join),
                r.granted_minutes.map(i64::from),
                r.decided_by,
                r.decided_by_name,
                opt_micros(r.decided_at),
                r.decision_note,
                opt_micros(r.start_by),
                micros(r.updated_at),
                stepup_json(r.stepup.as_ref())?,
            ],
        )?;
        Ok(())
    }

    async fn insert_decision(&mut self, d: &Decision) -> Result<()> {
        self.change_or(
            concat!(
                "INSERT INTO decisions (",
                decision_cols!(),
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
            ),
            params![
                d.id,
                d.request_id,
                d.kind.as_str(),
                d.decider,
                d.decider_name,
                join(&d.actions),
                i64::from(d.minutes),
                join(&d.removed),
                join(&d.added),
                d.note,
                micros(d.at),
            ],
            |e| unique_or(e, Code::AlreadyDecided, "The request was decided already."),
        )?;
        Ok(())
    }
}

#[async_trait]
impl SessionWrites for BatchTx {
    async fn insert_session(&mut self, s: &Session) -> Result<()> {
        self.change_or(
            concat!(
                "INSERT INTO sessions (",
                session_cols!(),
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26)"
            ),
            params![
                s.id,
                s.request_id,
                s.ticket,
                s.account_id,
                s.account_name,
                s.agent,
                s.agent_name,
                s.approver,
                s.approver_name,
                join(&s.scope),
                s.reason,
                micros(s.started_at),
                micros(s.ends_at),
                micros(s.last_activity_at),
                s.state.as_str(),
                s.end_reason.map(|r| r.as_str()),
                opt_micros(s.ended_at),
                s.ended_by,
                s.end_note,
                s.app_id,
                approvers_json(&s.approvers),
                s.breakglass,
                s.review.as_ref().map(|r| &r.by),
                s.review.as_ref().map(|r| &r.by_name),
                s.review.as_ref().map(|r| micros(r.at)),
                s.review.as_ref().map(|r| &r.note),
            ],
            |e| unique_or(e, Code::LiveSessionExists, "The agent has a live session already; end it first."),
        )?;
        Ok(())
    }

    async fn update_session(&mut self, s: &Session) -> Result<()> {
        self.change(
            "UPDATE sessions SET scope = ?2, ends_at = ?3, last_activity_at = ?4, state = ?5, end_reason = ?6, \
             ended_at = ?7, ended_by = ?8, end_note = ?9, approvers = ?10, reviewed_by = ?11, reviewed_by_name = ?12, \
             reviewed_at = ?13, review_note = ?14 WHERE id = ?1",
            params![
                s.id,
                join(&s.scope),
                micros(s.ends_at),
                micros(s.last_activity_at),
                s.state.as_str(),
                s.end_reason.map(|r| r.as_str()),
                opt_micros(s.ended_at),
                s.ended_by,
                s.end_note,
                approvers_json(&s.approvers),
                s.review.as_ref().map(|r| &r.by),
                s.review.as_ref().map(|r| &r.by_name),
                s.review.as_ref().map(|r| micros(r.at)),
                s.review.as_ref().map(|r| &r.note),
            ],
        )?;
        Ok(())
    }

    async fn touch_session(&mut self, id: &str, at: Timestamp) -> Result<()> {
        self.change(
            "UPDATE sessions SET last_activity_at = ?2 WHERE id = ?1 AND state = 'live' AND last_activity_at < ?2",
            params![id, micros(at)],
        )?;
        Ok(())
    }
}

#[async_trait]
impl KeyWrites for BatchTx {
    async fn insert_key(&mut self, k: &KeyRecord) -> Result<()> {
        self.change(
            concat!("INSERT INTO signing_keys (", key_cols!(), ") VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
            params![
                k.kid,
                k.role.as_str(),
                k.private_key,
                k.public_key,
                micros(k.created_at),
                opt_micros(k.retired_at)
            ],
        )?;
        Ok(())
    }

    async fn retire_key(&mut self, kid: &str, at: Timestamp) -> Result<()> {
        self.change(
            "UPDATE signing_keys SET retired_at = ?2 WHERE kid = ?1 AND retired_at IS NULL",
            params![kid, micros(at)],
        )?;
        Ok(())
    }

    async fn update_key_secret(&mut self, kid: &str, private_key: &str) -> Result<()> {
        self.change("UPDATE signing_keys SET private_key = ?2 WHERE kid = ?1", [kid, private_key])?;
        Ok(())
    }
}

#[async_trait]
impl AuditWrites for BatchTx {
    async fn append_event(&mut self, mut e: NewEvent) -> Result<Event> {
        let head = match self.head.clone() {
            Some(h) => Some(h),
            None => event_head(&self.conn)?,
        };
        let (seq, prev) = match head {
            Some((seq, hash)) => (seq + 1, hash),
            None => (1, actas_core::audit::GENESIS.to_string()),
        };
        e.id = self.ids.ordered_id("evt", u64::try_from(seq).unwrap_or_default());
        let ev = e.seal(seq, &prev);
        let at = audit_at(ev.at);
        self.change(
            concat!(
                "INSERT INTO audit_events (",
                event_cols!(),
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
            ),
            params![
                ev.seq,
                ev.id,
                at,
                ev.kind.as_str(),
                ev.actor.to_json().to_string(),
                ev.account_id,
                ev.ticket,
                ev.request_id,
                ev.session_id,
                ev.agent,
                ev.data.to_string(),
                ev.text,
                ev.prev_hash,
                ev.hash,
            ],
        )?;
        self.head = Some((ev.seq, ev.hash.clone()));
        self.appended = true;
        self.times.note(ev.seq, at);
        Ok(ev)
    }

    async fn insert_checkpoint(&mut self, c: &Checkpoint) -> Result<()> {
        self.change(
            "INSERT INTO audit_checkpoints (seq, hash, kid, signature, at) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (seq) DO NOTHING",
            params![c.seq, c.hash, c.kid, c.signature, micros(c.at)],
        )?;
        Ok(())
    }

    async fn insert_segment(&mut self, s: &crate::Segment) -> Result<()> {
        self.change(
            "INSERT INTO audit_segments (last_seq, first_seq, manifest, sealed_at) VALUES (?1, ?2, ?3, ?4)",
            params![s.last_seq, s.first_seq, s.manifest, micros(s.sealed_at)],
        )?;
        Ok(())
    }

    async fn remove_sealed_events(&mut self, through: i64, limit: i64) -> Result<u64> {
        let gone = self.change(
            "DELETE FROM audit_events WHERE seq <= ?1 AND seq < (SELECT min(seq) FROM audit_events) + ?2",
            params![through, limit],
        )?;
        Ok(gone as u64)
    }
}

#[async_trait]
impl NoticeWrites for BatchTx {
    async fn insert_notice(&mut self, n: &Notice) -> Result<Notice> {
        self.in_batch()?;
        let data = serde_json::to_string(&n.data).map_err(|e| Error::Internal(e.into()))?;
        let mut stmt = self
            .conn
            .prepare_cached(
                "INSERT INTO notices (id, session_id, account_id, text, data, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING seq",
            )
            .map_err(db_err)?;
        let seq: i64 = stmt
            .query_row(params![n.id, n.session_id, n.account_id, n.text, data, micros(n.created_at)], |r| r.get(0))
            .map_err(db_err)?;
        Ok(Notice { seq, ..n.clone() })
    }

    async fn set_notice_delivered(&mut self, id: &str, at: Timestamp) -> Result<()> {
        self.change(
            "UPDATE notices SET delivered_at = ?2 WHERE id = ?1 AND delivered_at IS NULL",
            params![id, micros(at)],
        )?;
        Ok(())
    }
}

impl WriteTx for BatchTx {
    fn new_id(&self, prefix: &str) -> String {
        self.ids.id(prefix)
    }
}

#[async_trait]
impl BatchConn for BatchTx {
    async fn begin(&mut self) -> Result<()> {
        self.head = None;
        self.appended = false;
        self.times.take();
        exec(&self.conn, "BEGIN IMMEDIATE", []).map_err(db_err)?;
        Ok(())
    }

    async fn exec(&mut self, sql: &'static str) -> Result<()> {
        exec(&self.conn, sql, []).map_err(db_err)?;
        Ok(())
    }

    async fn probe(&mut self) -> Result<()> {
        self.change(
            "INSERT INTO writer_probe (id, n) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET n = writer_probe.n + 1",
            [],
        )?;
        Ok(())
    }

    /// Nothing to mark: the writer's connection is never pooled, and the
    /// writer drops it after this, which closes it.
    fn discard(&mut self) {}

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

    /// Stores the time blocks of this batch's events.
    async fn finish(&mut self) -> Result<()> {
        for t in self.times.take() {
            self.change(crate::plan::STORE_BLOCK, params![t.block, t.first, t.last])?;
        }
        Ok(())
    }
}

#[async_trait]
impl WebhookWrites for BatchTx {
    async fn insert_webhook(&mut self, w: &Webhook) -> Result<()> {
        self.change(
            concat!(
                "INSERT INTO webhooks (",
                webhook_cols!(),
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
            ),
            params![
                w.id,
                w.url,
                w.events.names().join(" "),
                w.secret,
                micros(w.created_at),
                w.created_by,
                w.after_seq,
                w.state.as_str(),
                i64::from(w.failures),
                opt_micros(w.next_attempt_at),
                w.last_error,
                opt_micros(w.lease_until),
            ],
        )?;
        Ok(())
    }

    async fn update_webhook(&mut self, w: &Webhook) -> Result<()> {
        self.change(
            "UPDATE webhooks SET after_seq = ?2, state = ?3, failures = ?4, next_attempt_at = ?5, last_error = ?6, \
             lease_until = ?7 WHERE id = ?1",
            params![
                w.id,
                w.after_seq,
                w.state.as_str(),
                i64::from(w.failures),
                opt_micros(w.next_attempt_at),
                w.last_error,
                opt_micros(w.lease_until),
            ],
        )?;
        Ok(())
    }

    async fn lease_webhook(&mut self, id: &str, now: Timestamp, until: Timestamp) -> Result<bool> {
        let n = self.change(
            "UPDATE webhooks SET lease_until = ?3 WHERE id = ?1 AND state = 'active' \
             AND (lease_until IS NULL OR lease_until < ?2)",
            params![id, micros(now), micros(until)],
        )?;
        Ok(n == 1)
    }

    async fn delete_webhook(&mut self, id: &str) -> Result<()> {
        self.change("DELETE FROM webhook_deliveries WHERE webhook_id = ?1", [id])?;
        self.change("DELETE FROM webhooks WHERE id = ?1", [id])?;
        Ok(())
    }

    async fn insert_delivery(&mut self, d: &Delivery) -> Result<()> {
        self.change(
            concat!(
                "INSERT INTO webhook_deliveries (",
                delivery_cols!(),
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
            ),
            params![
                d.id,
                d.webhook_id,
                d.seq,
                d.event_id,
                d.event_type.as_str(),
                i64::from(d.attempt),
                micros(d.at),
                d.status.map(i64::from),
                d.ok,
                d.error,
                d.replay,
            ],
        )?;
        Ok(())
    }
}
