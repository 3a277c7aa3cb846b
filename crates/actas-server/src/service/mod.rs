//! The operations of actas: each loads state inside one write (or read)
//! transaction, asks the core rules, and writes the outcome together with
//! its audit event. Roles are checked here, once, for every surface (HTTP,
//! command line).
//!
//! **Invariant:** every state change appends exactly one audit event (or a
//! few, for compound changes) in the same transaction; a refusal that the
//! SPEC audits (`request.refused`, `action.denied`) commits its event and
//! nothing else.

mod admin;
mod archive;
mod audit;
mod authorize;
mod breakglass;
mod connectors;
mod consent;
pub mod input;
mod metrics;
mod requests;
mod scim;
mod sessions;
mod stepup;
mod webhooks;

use std::collections::HashMap;

use actas_core::audit::{self as text, data, Actor, EventData, EventType, NewEvent};
use actas_core::model::{EndReason, Notice, NoticeData, Session, SessionState};
use actas_core::policy::Policy;
use actas_core::{Error, Result, Timestamp};
use actas_store::{WriteFn, WriteTx};

pub use admin::*;
pub use archive::*;
pub use audit::*;
pub use authorize::*;
pub use breakglass::*;
pub use connectors::*;
pub use consent::*;
pub use metrics::*;
pub use requests::*;
pub use scim::*;
pub use sessions::*;
pub use stepup::*;
pub use webhooks::*;

pub use crate::ctx::{Ctx, Principal};

/// What one operation's write transaction answers.
///
/// Whenever the job returns `Ok(Committed)` the transaction commits, also
/// when the answer is a refusal: the refusal's audit event
/// (`request.refused`), or a session found over its time and ended on the
/// way, is kept while the caller is told no. An `Err` from the job rolls
/// everything back.
#[must_use]
pub(crate) struct Committed<T> {
    answer: Result<T>,
    sessions_changed: bool,
}

impl<T> Committed<T> {
    /// Commit, and answer `value`.
    pub(crate) fn answer(value: T) -> Self {
        Committed { answer: Ok(value), sessions_changed: false }
    }

    /// Commit, but answer `refusal`.
    pub(crate) fn refusal(refusal: Error) -> Self {
        Committed { answer: Err(refusal), sessions_changed: false }
    }

    /// Says whether a session started, ended or changed scope in this
    /// transaction, so that the session feed sends it at once.
    pub(crate) fn sessions_changed(mut self, changed: bool) -> Self {
        self.sessions_changed |= changed;
        self
    }
}

impl Ctx {
    /// Runs `job` in one write transaction and answers its answer, waking
    /// the session feed when the job changed a session, or after any
    /// commit while a console stream is open on this node (the console
    /// shows requests too).
    pub(crate) async fn commit<T: Send + 'static>(&self, job: WriteFn<Committed<T>>) -> Result<T> {
        let done = self.store.write(job).await?;
        if done.sessions_changed || self.feed.console_watchers() > 0 {
            self.publish();
        }
        done.answer
    }
}

/// The event of a session ending this way.
pub fn end_event(reason: EndReason, end: data::SessionEnd) -> EventData {
    match reason {
        EndReason::Ended | EndReason::StaffDisabled | EndReason::Superseded => EventData::SessionEnded(end),
        EndReason::Expired => EventData::SessionExpired(end),
        EndReason::IdleTimeout => EventData::SessionIdleTimeout(end),
        EndReason::Revoked => EventData::SessionRevoked(end),
        EndReason::TicketClosed => EventData::SessionTicketClosed(end),
        EndReason::CustomerRevoked => EventData::SessionCustomerRevoked(end),
    }
}

/// Ends a live session inside `tx`: stores the end, appends its event and
/// queues the customer note. `by` is the person who ended it, if a person did.
pub(crate) async fn end_session(
    tx: &mut dyn WriteTx,
    policy: &Policy,
    mut s: Session,
    reason: EndReason,
    at: Timestamp,
    by: Option<&Actor>,
    note: Option<String>,
) -> Result<Session> {
    s.state = SessionState::Ended;
    s.end_reason = Some(reason);
    s.ended_at = Some(at);
    s.ended_by = Some(by.map(|a| a.id.clone()).unwrap_or_else(|| "system".into()));
    s.end_note = note.clone();
    tx.update_session(&s).await?;
    let line =
        text::session_end(&s, reason, at, policy.session.idle_minutes, by.map(|a| a.name.as_str()), note.as_deref());
    let actor = by.cloned().unwrap_or_else(Actor::system);
    let end = data::SessionEnd { end_reason: reason.as_str().into(), note, started_at: s.started_at };
    tx.append_event(NewEvent::new(at, actor, line, end_event(reason, end)).about_session(&s)).await?;
    queue_notice(tx, &s, at).await?;
    Ok(s)
}

/// What was changed in each of the sessions, in plain words, oldest first:
/// the summaries of their `action.performed` events.
pub(crate) async fn sessions_changes(
    tx: &mut dyn actas_store::ReadTx,
    session_ids: &[String],
) -> Result<HashMap<String, Vec<String>>> {
    let limit = i64::try_from(session_ids.len()).unwrap_or(i64::MAX).saturating_mul(CHANGES_PER_SESSION);
    let events = tx.list_session_events(session_ids, EventType::ActionPerformed, limit).await?;
    let mut changes: HashMap<String, Vec<String>> = HashMap::with_capacity(session_ids.len());
    for e in events {
        if let (Some(id), Ok(EventData::ActionPerformed(done))) = (e.session_id.clone(), e.payload()) {
            changes.entry(id).or_default().push(done.summary);
        }
    }
    Ok(changes)
}

/// What was changed in a session (see [`sessions_changes`]).
pub(crate) async fn session_changes(tx: &mut dyn actas_store::ReadTx, session_id: &str) -> Result<Vec<String>> {
    let id = session_id.to_string();
    Ok(sessions_changes(tx, std::slice::from_ref(&id)).await?.remove(&id).unwrap_or_default())
}

/// Most changes told per session: far above what 30 minutes of work makes.
const CHANGES_PER_SESSION: i64 = 1000;

async fn queue_notice(tx: &mut dyn WriteTx, s: &Session, at: Timestamp) -> Result<()> {
    let changes = session_changes(tx, &s.id).await?;
    let note = text::customer_note(s, &changes, at);
    let n = Notice {
        id: tx.new_id("ntc"),
        seq: 0,
        session_id: s.id.clone(),
        account_id: s.account_id.clone(),
        text: note,
        data: NoticeData {
            agent_name: s.agent_name.clone(),
            approver_name: s.approver_name.clone(),
            changes,
            end_reason: s.end_reason,
            ended_at: at,
            reason: s.reason.clone(),
            started_at: s.started_at,
            ticket: s.ticket.clone(),
        },
        created_at: at,
        delivered_at: None,
    };
    tx.insert_notice(&n).await?;
    Ok(())
}

/// Ends the session in `tx` if its time is up at `now`; answers the
/// session and whether this call ended it.
pub(crate) async fn end_if_due(
    tx: &mut dyn WriteTx,
    policy: &Policy,
    s: Session,
    now: Timestamp,
) -> Result<(Session, bool)> {
    match actas_core::flow::due_end(&s, policy.session.idle_minutes, now) {
        Some((reason, at)) => Ok((end_session(tx, policy, s, reason, at, None, None).await?, true)),
        None => Ok((s, false)),
    }
}
