//! Rows read off SQLite into the structs of [`crate::rows`], column by
//! name; `TryFrom` there turns each into the domain's value, the one place
//! each conversion is written.
//!
//! The column lists are macros so that `concat!` builds each statement's
//! text at compile time: the hot statements cost no formatting, and their
//! text, the key of the statement cache, is the same on every call.

use actas_core::audit::{Checkpoint, Event, StoredEvent};
use actas_core::model::{App, Decision, Notice, Request, Session, Staff, Ticket};
use actas_core::Result;
use rusqlite::types::FromSql;
use rusqlite::Row;

use crate::convert::corrupt;
use crate::rows::*;
use crate::{ConsoleSession, EntryCode, KeyRecord, StaffProfile};

macro_rules! ticket_cols {
    () => {
        "ref, account_id, account_name, subject, url, created_by, created_at, status, assignee, tags, source, updated_at"
    };
}
macro_rules! staff_cols {
    () => {
        "id, name, roles, disabled, created_at"
    };
}
macro_rules! staff_profile_cols {
    () => {
        "id, name, roles, disabled, created_at, external_id, email, updated_at, username"
    };
}
macro_rules! app_cols {
    () => {
        "id, name, tickets, scim, origins, entry_url, created_at, consent"
    };
}
pub(super) use staff_profile_cols;
macro_rules! webhook_cols {
    () => {
        "id, url, events, secret, created_at, created_by, after_seq, state, failures, next_attempt_at, last_error, \
         lease_until"
    };
}
macro_rules! delivery_cols {
    () => {
        "id, webhook_id, seq, event_id, event_type, attempt, at, status, ok, error, replay"
    };
}
macro_rules! request_cols {
    () => {
        "id, kind, ticket, account_id, account_name, requester, requester_name, reason, actions, minutes, status, \
         session_id, granted_actions, granted_minutes, decided_by, decided_by_name, decided_at, decision_note, \
         start_by, created_at, updated_at, playbook, stepup"
    };
}
macro_rules! decision_cols {
    () => {
        "id, request_id, kind, decider, decider_name, actions, minutes, removed, added, note, at"
    };
}
macro_rules! session_cols {
    () => {
        "id, request_id, ticket, account_id, account_name, agent, agent_name, approver, approver_name, scope, \
         reason, started_at, ends_at, last_activity_at, state, end_reason, ended_at, ended_by, end_note, app_id, \
         approvers, breakglass, reviewed_by, reviewed_by_name, reviewed_at, review_note"
    };
}
macro_rules! event_cols {
    () => {
        "seq, id, at, type, actor, account_id, ticket, request_id, session_id, agent, data, text, prev_hash, hash"
    };
}
macro_rules! key_cols {
    () => {
        "kid, role, private_key, public_key, created_at, retired_at"
    };
}
macro_rules! notice_cols {
    () => {
        "seq, id, session_id, account_id, text, data, created_at, delivered_at"
    };
}
pub(super) use {
    app_cols, decision_cols, delivery_cols, event_cols, key_cols, notice_cols, request_cols, session_cols, staff_cols,
    ticket_cols, webhook_cols,
};

/// An `audit_events` row ([`event_cols`]) as it stands, borrowed from the
/// statement: the columns by position, the text as SQLite holds it.
pub(super) fn stored_event<'r>(r: &'r Row) -> Result<StoredEvent<'r>> {
    let column = |i: usize, e: rusqlite::Error| corrupt(format!("audit_events column {i}: {e}"));
    crate::rows::stored_event(
        r.get(0).map_err(|e| column(0, e))?,
        |i| r.get_ref(i).and_then(|v| v.as_str().map_err(Into::into)).map_err(|e| column(i, e)),
        |i| r.get_ref(i).and_then(|v| v.as_str_or_null().map_err(Into::into)).map_err(|e| column(i, e)),
    )
}

/// An `audit_events` row ([`event_cols`]) as the model's event.
pub(super) fn event_from(r: &Row) -> Result<Event> {
    stored_event(r)?.to_event().map_err(corrupt)
}

/// Column `col` of a row, expected at position `at`; a value of the wrong
/// type is stored data this build cannot read.
///
/// Looking a column up by name compares it with every column's name, and
/// the hot reads (a session per authorization) have 26: the position is
/// tried first, and the name only when the statement's columns come in
/// another order.
pub(super) fn get<T: FromSql>(r: &Row, at: usize, col: &str) -> Result<T> {
    let got = if r.as_ref().column_name(at).is_ok_and(|name| name == col) { r.get(at) } else { r.get(col) };
    got.map_err(|e| corrupt(format!("{col}: {e}")))
}

/// Reads the row struct `$row` field by field (each field's column named as
/// the field, or as given, and expected in the order of the fields) and
/// turns it into the model's value.
macro_rules! read_rows {
    ($($f:ident: $row:ident => $model:ty { $($field:ident $(= $col:literal)?),* $(,)? })*) => {$(
        pub(super) fn $f(r: &Row) -> Result<$model> {
            let mut at = 0..;
            // Fields are evaluated in the order written, so `at` counts columns.
            <$model>::try_from($row {
                $($field: get(r, at.next().unwrap_or_default(), read_rows!(@col $field $($col)?))?),*
            })
        }
    )*};
    (@col $field:ident $col:literal) => { $col };
    (@col $field:ident) => { stringify!($field) };
}

read_rows! {
    ticket_from: TicketRow => Ticket {
        reference = "ref", account_id, account_name, subject, url, created_by, created_at, status, assignee, tags,
        source, updated_at,
    }
    connector_from: ConnectorRow => crate::ConnectorRecord { app_id, kind, secret, mapping, created_at }
    staff_from: StaffRow => Staff { id, name, roles, disabled, created_at }
    staff_profile_from: StaffProfileRow => (Staff, StaffProfile) {
        id, name, roles, disabled, created_at, external_id, email, updated_at, username,
    }
    app_from: AppRow => App { id, name, tickets, scim, origins, entry_url, created_at, consent }
    webhook_from: WebhookRow => actas_core::webhook::Webhook {
        id, url, events, secret, created_at, created_by, after_seq, state, failures, next_attempt_at, last_error,
        lease_until,
    }
    delivery_from: DeliveryRow => actas_core::webhook::Delivery {
        id, webhook_id, seq, event_id, event_type, attempt, at, status, ok, error, replay,
    }
    grant_from: GrantRow => actas_core::model::Grant {
        id, account_id, app_id, granted_by, hours, created_at, expires_at, revoked_at, revoked_by,
    }
    request_from: RequestRow => Request {
        id, kind, ticket, account_id, account_name, requester, requester_name, reason, actions, minutes, status,
        session_id, granted_actions, granted_minutes, decided_by, decided_by_name, decided_at, decision_note,
        start_by, created_at, updated_at, playbook, stepup,
    }
    decision_from: DecisionRow => Decision {
        id, request_id, kind, decider, decider_name, actions, minutes, removed, added, note, at,
    }
    session_from: SessionRow => Session {
        id, request_id, ticket, account_id, account_name, agent, agent_name, approver, approver_name, scope,
        reason, started_at, ends_at, last_activity_at, state, end_reason, ended_at, ended_by, end_note, app_id,
        approvers, breakglass, reviewed_by, reviewed_by_name, reviewed_at, review_note,
    }
    entry_code_from: EntryCodeRow => EntryCode { hash, session_id, created_at, expires_at, used_at }
    key_from: KeyRow => KeyRecord { kid, role, private_key, public_key, created_at, retired_at }
    checkpoint_from: CheckpointRow => Checkpoint { seq, hash, kid, signature, at }
    console_session_from: ConsoleSessionRow => ConsoleSession { id_hash, staff_id, csrf, created_at, last_seen_at }
    notice_from: NoticeRow => Notice { seq, id, session_id, account_id, text, data, created_at, delivered_at }
}
