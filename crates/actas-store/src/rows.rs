//! Rows as the tables hold them, and how each becomes the domain's value.
//!
//! One struct per table, one field per column in the column's own type
//! (times as microseconds, lists as space-separated names, JSON as text,
//! see [`crate::convert`]); a backend reads a row into it by column name
//! (`sqlx::FromRow` on PostgreSQL) and [`TryFrom`] turns it into the model,
//! naming the column when a stored value cannot be read.

use actas_core::audit::{Checkpoint, Event, StoredEvent};
use actas_core::model::{App, Decision, Notice, Request, Review, Session, SessionState, Staff, Ticket};
use actas_core::Error;

use crate::convert::{approvers_from, corrupt, minutes, opt_time, parse, split, time};
use crate::{ConsoleSession, EntryCode, KeyRecord, KeyRole, StaffProfile};

fn json<T: serde::de::DeserializeOwned>(col: &str, s: &str) -> Result<T, Error> {
    serde_json::from_str(s).map_err(|e| corrupt(format!("{col}: {e}")))
}

/// A row of `tickets`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct TicketRow {
    #[sqlx(rename = "ref")]
    pub reference: String,
    pub account_id: String,
    pub account_name: Option<String>,
    pub subject: String,
    pub url: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub status: String,
    pub assignee: Option<String>,
    pub tags: String,
    pub source: String,
    pub updated_at: i64,
}

impl TryFrom<TicketRow> for Ticket {
    type Error = Error;
    fn try_from(r: TicketRow) -> Result<Ticket, Error> {
        Ok(Ticket {
            reference: r.reference,
            account_id: r.account_id,
            account_name: r.account_name,
            subject: r.subject,
            url: r.url,
            created_by: r.created_by,
            created_at: time(r.created_at)?,
            status: parse(&r.status)?,
            assignee: r.assignee,
            tags: json("tickets.tags", &r.tags)?,
            source: parse(&r.source)?,
            updated_at: time(r.updated_at)?,
        })
    }
}

/// A row of `connectors`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ConnectorRow {
    pub app_id: String,
    pub kind: String,
    pub secret: Vec<u8>,
    pub mapping: String,
    pub created_at: i64,
}

impl TryFrom<ConnectorRow> for crate::ConnectorRecord {
    type Error = Error;
    fn try_from(r: ConnectorRow) -> Result<crate::ConnectorRecord, Error> {
        Ok(crate::ConnectorRecord {
            app_id: r.app_id,
            kind: parse(&r.kind)?,
            secret: String::from_utf8(r.secret).map_err(|e| corrupt(format!("connectors.secret: {e}")))?,
            mapping: json("connectors.mapping", &r.mapping)?,
            created_at: time(r.created_at)?,
        })
    }
}

/// A row of `staff` (without the password hash).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct StaffRow {
    pub id: String,
    pub name: String,
    pub roles: String,
    pub disabled: bool,
    pub created_at: i64,
}

impl TryFrom<StaffRow> for Staff {
    type Error = Error;
    fn try_from(r: StaffRow) -> Result<Staff, Error> {
        Ok(Staff {
            id: r.id,
            name: r.name,
            roles: split(&r.roles).iter().map(|s| parse(s)).collect::<Result<_, _>>()?,
            disabled: r.disabled,
            created_at: time(r.created_at)?,
        })
    }
}

/// A row of `staff` with what provisioning keeps (without the password
/// hash).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct StaffProfileRow {
    pub id: String,
    pub name: String,
    pub roles: String,
    pub disabled: bool,
    pub created_at: i64,
    pub external_id: Option<String>,
    pub email: Option<String>,
    pub updated_at: Option<i64>,
    pub username: Option<String>,
}

impl TryFrom<StaffProfileRow> for (Staff, StaffProfile) {
    type Error = Error;
    fn try_from(r: StaffProfileRow) -> Result<(Staff, StaffProfile), Error> {
        let profile = StaffProfile {
            external_id: r.external_id,
            email: r.email,
            updated_at: opt_time(r.updated_at)?,
            username: r.username,
        };
        let row = StaffRow { id: r.id, name: r.name, roles: r.roles, disabled: r.disabled, created_at: r.created_at };
        Ok((Staff::try_from(row)?, profile))
    }
}

/// A row of `apps`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AppRow {
    pub id: String,
    pub name: String,
    pub tickets: bool,
    pub scim: bool,
    pub consent: bool,
    pub origins: String,
    pub entry_url: Option<String>,
    pub created_at: i64,
}

impl TryFrom<AppRow> for App {
    type Error = Error;
    fn try_from(r: AppRow) -> Result<App, Error> {
        Ok(App {
            id: r.id,
            name: r.name,
            tickets: r.tickets,
            scim: r.scim,
            consent: r.consent,
            origins: split(&r.origins),
            entry_url: r.entry_url,
            created_at: time(r.created_at)?,
        })
    }
}

/// A row of `requests`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RequestRow {
    pub id: String,
    pub kind: String,
    pub ticket: String,
    pub account_id: String,
    pub account_name: Option<String>,
    pub requester: String,
    pub requester_name: String,
    pub reason: String,
    pub actions: String,
    pub minutes: i64,
    pub status: String,
    pub session_id: Option<String>,
    pub granted_actions: Option<String>,
    pub granted_minutes: Option<i64>,
    pub decided_by: Option<String>,
    pub decided_by_name: Option<String>,
    pub decided_at: Option<i64>,
    pub decision_note: Option<String>,
    pub start_by: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub playbook: Option<String>,
    pub stepup: Option<String>,
}

impl TryFrom<RequestRow> for Request {
    type Error = Error;
    fn try_from(r: RequestRow) -> Result<Request, Error> {
        Ok(Request {
            id: r.id,
            kind: parse(&r.kind)?,
            ticket: r.ticket,
            account_id: r.account_id,
            account_name: r.account_name,
            requester: r.requester,
            requester_name: r.requester_name,
            reason: r.reason,
            actions: split(&r.actions),
            minutes: minutes(r.minutes)?,
            status: parse(&r.status)?,
            session_id: r.session_id,
            granted_actions: r.granted_actions.map(|s| split(&s)),
            granted_minutes: r.granted_minutes.map(minutes).transpose()?,
            decided_by: r.decided_by,
            decided_by_name: r.decided_by_name,
            decided_at: opt_time(r.decided_at)?,
            decision_note: r.decision_note,
            start_by: opt_time(r.start_by)?,
            created_at: time(r.created_at)?,
            updated_at: time(r.updated_at)?,
            playbook: r.playbook,
            stepup: r.stepup.map(|s| json("stepup", &s)).transpose()?,
        })
    }
}

/// A row of `decisions`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct DecisionRow {
    pub id: String,
    pub request_id: String,
    pub kind: String,
    pub decider: String,
    pub decider_name: String,
    pub actions: String,
    pub minutes: i64,
    pub removed: String,
    pub added: String,
    pub note: Option<String>,
    pub at: i64,
}

impl TryFrom<DecisionRow> for Decision {
    type Error = Error;
    fn try_from(r: DecisionRow) -> Result<Decision, Error> {
        Ok(Decision {
            id: r.id,
            request_id: r.request_id,
            kind: parse(&r.kind)?,
            decider: r.decider,
            decider_name: r.decider_name,
            actions: split(&r.actions),
            minutes: minutes(r.minutes)?,
            removed: split(&r.removed),
            added: split(&r.added),
            note: r.note,
            at: time(r.at)?,
        })
    }
}

/// A row of `sessions`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct SessionRow {
    pub id: String,
    pub request_id: String,
    pub ticket: String,
    pub account_id: String,
    pub account_name: Option<String>,
    pub agent: String,
    pub agent_name: String,
    pub approver: String,
    pub approver_name: String,
    pub scope: String,
    pub reason: String,
    pub started_at: i64,
    pub ends_at: i64,
    pub last_activity_at: i64,
    pub state: String,
    pub end_reason: Option<String>,
    pub ended_at: Option<i64>,
    pub ended_by: Option<String>,
    pub end_note: Option<String>,
    pub app_id: String,
    pub approvers: String,
    pub breakglass: bool,
    pub reviewed_by: Option<String>,
    pub reviewed_by_name: Option<String>,
    pub reviewed_at: Option<i64>,
    pub review_note: Option<String>,
}

impl TryFrom<SessionRow> for Session {
    type Error = Error;
    fn try_from(r: SessionRow) -> Result<Session, Error> {
        Ok(Session {
            id: r.id,
            request_id: r.request_id,
            ticket: r.ticket,
            account_id: r.account_id,
            account_name: r.account_name,
            agent: r.agent,
            agent_name: r.agent_name,
            approver: r.approver,
            approver_name: r.approver_name,
            scope: split(&r.scope),
            reason: r.reason,
            started_at: time(r.started_at)?,
            ends_at: time(r.ends_at)?,
            last_activity_at: time(r.last_activity_at)?,
            state: if r.state == "live" { SessionState::Live } else { SessionState::Ended },
            end_reason: r.end_reason.map(|s| parse(&s)).transpose()?,
            ended_at: opt_time(r.ended_at)?,
            ended_by: r.ended_by,
            end_note: r.end_note,
            app_id: r.app_id,
            approvers: approvers_from(&r.approvers)?,
            breakglass: r.breakglass,
            review: match (r.reviewed_by, r.reviewed_at) {
                (Some(by), Some(at)) => Some(Review {
                    by_name: r.reviewed_by_name.unwrap_or_else(|| by.clone()),
                    by,
                    at: time(at)?,
                    note: r.review_note.unwrap_or_default(),
                }),
                _ => None,
            },
        })
    }
}

/// A row of `entry_codes`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct EntryCodeRow {
    pub hash: String,
    pub session_id: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

impl TryFrom<EntryCodeRow> for EntryCode {
    type Error = Error;
    fn try_from(r: EntryCodeRow) -> Result<EntryCode, Error> {
        Ok(EntryCode {
            hash: r.hash,
            session_id: r.session_id,
            created_at: time(r.created_at)?,
            expires_at: time(r.expires_at)?,
            used_at: opt_time(r.used_at)?,
        })
    }
}

/// A row of `grants`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct GrantRow {
    pub id: String,
    pub account_id: String,
    pub app_id: String,
    pub granted_by: String,
    pub hours: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub revoked_by: Option<String>,
}

impl TryFrom<GrantRow> for actas_core::model::Grant {
    type Error = Error;
    fn try_from(r: GrantRow) -> Result<actas_core::model::Grant, Error> {
        Ok(actas_core::model::Grant {
            id: r.id,
            account_id: r.account_id,
            app_id: r.app_id,
            granted_by: r.granted_by,
            hours: u32::try_from(r.hours).map_err(|_| corrupt(format!("grants.hours: {}", r.hours)))?,
            created_at: time(r.created_at)?,
            expires_at: time(r.expires_at)?,
            revoked_at: opt_time(r.revoked_at)?,
            revoked_by: r.revoked_by,
        })
    }
}

/// A row of `signing_keys`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct KeyRow {
    pub kid: String,
    pub role: String,
    pub private_key: String,
    pub public_key: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

impl TryFrom<KeyRow> for KeyRecord {
    type Error = Error;
    fn try_from(r: KeyRow) -> Result<KeyRecord, Error> {
        Ok(KeyRecord {
            role: KeyRole::parse(&r.role).ok_or_else(|| corrupt(format!("key role {}", r.role)))?,
            kid: r.kid,
            private_key: r.private_key,
            public_key: r.public_key,
            created_at: time(r.created_at)?,
            retired_at: opt_time(r.retired_at)?,
        })
    }
}

/// A row of `audit_events`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct EventRow {
    pub seq: i64,
    pub id: String,
    pub at: String,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub actor: String,
    pub account_id: Option<String>,
    pub ticket: Option<String>,
    pub request_id: Option<String>,
    pub session_id: Option<String>,
    pub agent: Option<String>,
    pub data: String,
    pub text: String,
    pub prev_hash: String,
    pub hash: String,
}

impl TryFrom<EventRow> for Event {
    type Error = Error;
    fn try_from(r: EventRow) -> Result<Event, Error> {
        r.stored().to_event().map_err(corrupt)
    }
}

/// An `audit_events` row read by position, its columns in the order of
/// the store's event column lists (`seq, id, at, type, actor, account_id,
/// ticket, request_id, session_id, agent, data, text, prev_hash, hash`):
/// `text(i)` and `optional(i)` borrow column `i` from the backend's row.
pub(crate) fn stored_event<'r>(
    seq: i64,
    text: impl Fn(usize) -> Result<&'r str, Error>,
    optional: impl Fn(usize) -> Result<Option<&'r str>, Error>,
) -> Result<StoredEvent<'r>, Error> {
    Ok(StoredEvent {
        seq,
        id: text(1)?,
        at: text(2)?,
        kind: text(3)?,
        actor: text(4)?,
        account_id: optional(5)?,
        ticket: optional(6)?,
        request_id: optional(7)?,
        session_id: optional(8)?,
        agent: optional(9)?,
        data: text(10)?,
        text: text(11)?,
        prev_hash: text(12)?,
        hash: text(13)?,
    })
}

impl EventRow {
    /// The row's columns, borrowed.
    pub(crate) fn stored(&self) -> StoredEvent<'_> {
        StoredEvent {
            seq: self.seq,
            id: &self.id,
            at: &self.at,
            kind: &self.kind,
            actor: &self.actor,
            account_id: self.account_id.as_deref(),
            ticket: self.ticket.as_deref(),
            request_id: self.request_id.as_deref(),
            session_id: self.session_id.as_deref(),
            agent: self.agent.as_deref(),
            data: &self.data,
            text: &self.text,
            prev_hash: &self.prev_hash,
            hash: &self.hash,
        }
    }
}

/// A row of `audit_checkpoints`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct CheckpointRow {
    pub seq: i64,
    pub hash: String,
    pub kid: String,
    pub signature: String,
    pub at: i64,
}

impl TryFrom<CheckpointRow> for Checkpoint {
    type Error = Error;
    fn try_from(r: CheckpointRow) -> Result<Checkpoint, Error> {
        Ok(Checkpoint { seq: r.seq, hash: r.hash, kid: r.kid, signature: r.signature, at: time(r.at)? })
    }
}

/// A row of `console_sessions`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ConsoleSessionRow {
    pub id_hash: String,
    pub staff_id: String,
    pub csrf: String,
    pub created_at: i64,
    pub last_seen_at: i64,
}

impl TryFrom<ConsoleSessionRow> for ConsoleSession {
    type Error = Error;
    fn try_from(r: ConsoleSessionRow) -> Result<ConsoleSession, Error> {
        Ok(ConsoleSession {
            id_hash: r.id_hash,
            staff_id: r.staff_id,
            csrf: r.csrf,
            created_at: time(r.created_at)?,
            last_seen_at: time(r.last_seen_at)?,
        })
    }
}

/// A row of `notices`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct NoticeRow {
    pub seq: i64,
    pub id: String,
    pub session_id: String,
    pub account_id: String,
    pub text: String,
    pub data: String,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}

impl TryFrom<NoticeRow> for Notice {
    type Error = Error;
    fn try_from(r: NoticeRow) -> Result<Notice, Error> {
        Ok(Notice {
            seq: r.seq,
            id: r.id,
            session_id: r.session_id,
            account_id: r.account_id,
            text: r.text,
            data: json("data", &r.data)?,
            created_at: time(r.created_at)?,
            delivered_at: opt_time(r.delivered_at)?,
        })
    }
}

/// A row of `webhooks`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct WebhookRow {
    pub id: String,
    pub url: String,
    pub events: String,
    pub secret: String,
    pub created_at: i64,
    pub created_by: String,
    pub after_seq: i64,
    pub state: String,
    pub failures: i64,
    pub next_attempt_at: Option<i64>,
    pub last_error: Option<String>,
    pub lease_until: Option<i64>,
}

impl TryFrom<WebhookRow> for actas_core::webhook::Webhook {
    type Error = Error;
    fn try_from(r: WebhookRow) -> Result<actas_core::webhook::Webhook, Error> {
        use actas_core::webhook::{Selection, WebhookState};
        Ok(actas_core::webhook::Webhook {
            events: Selection::parse(&split(&r.events)).map_err(|e| corrupt(format!("webhooks.events: {e}")))?,
            state: match r.state.as_str() {
                "active" => WebhookState::Active,
                "paused" => WebhookState::Paused,
                other => return Err(corrupt(format!("webhooks.state: {other}"))),
            },
            failures: u32::try_from(r.failures).map_err(|_| corrupt("webhooks.failures"))?,
            created_at: time(r.created_at)?,
            next_attempt_at: opt_time(r.next_attempt_at)?,
            lease_until: opt_time(r.lease_until)?,
            id: r.id,
            url: r.url,
            secret: r.secret,
            created_by: r.created_by,
            after_seq: r.after_seq,
            last_error: r.last_error,
        })
    }
}

/// A row of `webhook_deliveries`.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct DeliveryRow {
    pub id: String,
    pub webhook_id: String,
    pub seq: i64,
    pub event_id: String,
    pub event_type: String,
    pub attempt: i64,
    pub at: i64,
    pub status: Option<i64>,
    pub ok: bool,
    pub error: Option<String>,
    pub replay: bool,
}

impl TryFrom<DeliveryRow> for actas_core::webhook::Delivery {
    type Error = Error;
    fn try_from(r: DeliveryRow) -> Result<actas_core::webhook::Delivery, Error> {
        Ok(actas_core::webhook::Delivery {
            event_type: parse(&r.event_type)?,
            attempt: u32::try_from(r.attempt).map_err(|_| corrupt("webhook_deliveries.attempt"))?,
            at: time(r.at)?,
            status: r.status.map(|s| u16::try_from(s).map_err(|_| corrupt("webhook_deliveries.status"))).transpose()?,
            id: r.id,
            webhook_id: r.webhook_id,
            seq: r.seq,
            event_id: r.event_id,
            ok: r.ok,
            error: r.error,
            replay: r.replay,
        })
    }
}
