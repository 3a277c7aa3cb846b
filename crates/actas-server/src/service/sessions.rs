//! Live sessions: reading, ending, revoking, heartbeats, the timeline, the
//! customer's access log, and the reaper that ends sessions whose time is up.

use actas_api as api;
use actas_core::audit::{self as text, data, Actor, Event, EventData, NewEvent};
use actas_core::id::Secret;
use actas_core::model::{App, EndReason, Session, Staff};
use actas_core::Code;
use actas_core::{Error, Result, Timestamp};
use actas_store::{read_fn, write_fn, EntryCode, EventFilter, SessionFilter};

use crate::credentials;

use super::{end_if_due, end_session, Committed, Ctx, Principal};
use crate::authz::{self, Act};

/// A session, ended first if its time is up (`GET /sessions/{id}`).
pub async fn get_session(ctx: &Ctx, who: &Principal, id: &str) -> Result<Session> {
    let now = ctx.clock.now();
    let policy = ctx.policy.clone();
    let id = id.to_string();
    let s = ctx
        .store
        .read({
            let id = id.clone();
            read_fn(move |tx| Box::pin(async move { tx.get_session(&id).await }))
        })
        .await?
        .ok_or_else(|| Error::not_found(format!("No session {id}.")))?;
    authz::allow(who, Act::ReadSession(&s), now)?;
    if actas_core::flow::due_end(&s, policy.session.idle_minutes, now).is_none() {
        return Ok(s);
    }
    // Its time is up but nobody recorded it yet: record it now.
    ctx.commit(write_fn(move |tx| {
        Box::pin(async move {
            let s = tx.get_session(&id).await?.ok_or_else(|| Error::not_found("session"))?;
            let (s, ended) = end_if_due(tx, &policy, s, now).await?;
            Ok(Committed::answer(s).sessions_changed(ended))
        })
    }))
    .await
}

/// The agent's live session, if any, ended first if its time is up.
pub async fn live_session_of(ctx: &Ctx, agent: &actas_core::model::Staff) -> Result<Option<Session>> {
    let id = agent.id.clone();
    let found = ctx.store.read(read_fn(move |tx| Box::pin(async move { tx.find_live_session(&id).await }))).await?;
    match found {
        None => Ok(None),
        Some(s) => {
            let s = get_session(ctx, &Principal::Staff(agent.clone()), &s.id).await?;
            Ok(s.is_live().then_some(s))
        }
    }
}

/// How long a one-time entry code works.
pub const ENTRY_CODE_MINUTES: i64 = 2;

/// The session's agent asks for a one-time code to enter the host app
/// (`POST /sessions/{id}/entry`). A new code voids the unused ones.
pub async fn open_entry(ctx: &Ctx, agent: &Staff, id: &str) -> Result<api::EntryCode> {
    let now = ctx.clock.now();
    let expires_at = now + chrono::Duration::minutes(ENTRY_CODE_MINUTES);
    let policy = ctx.policy.clone();
    let agent = agent.clone();
    let id = id.to_string();
    let code = ctx.ids.secret(credentials::ENTRY_PREFIX);
    let hash = credentials::secret_hash(code.expose());
    let address = ctx
        .commit(write_fn(move |tx| {
            Box::pin(async move {
                let s = tx.get_session(&id).await?.ok_or_else(|| Error::not_found(format!("No session {id}.")))?;
                authz::allow(&agent, Act::OpenEntry(&s), now)?;
                let (s, ended) = end_if_due(tx, &policy, s, now).await?;
                if !s.is_live() {
                    return Ok(Committed::refusal(session_ended()).sessions_changed(ended));
                }
                let app = tx.get_app(&s.app_id).await?;
                tx.insert_entry_code(&EntryCode {
                    hash,
                    session_id: s.id.clone(),
                    created_at: now,
                    expires_at,
                    used_at: None,
                })
                .await?;
                Ok(Committed::answer(app.and_then(|a| a.entry_address())))
            })
        }))
        .await?;
    Ok(api::EntryCode { url: address.map(|a| format!("{a}?code={}", code.expose())), code, expires_at })
}

/// The host app exchanges a one-time entry code for the session's token
/// (`POST /entry`). A used, expired, replaced or unknown code is refused
/// and changes nothing.
pub async fn exchange_entry(ctx: &Ctx, app: &App, code: &Secret) -> Result<(Session, Secret)> {
    super::input::entry_code(code.expose())?;
    let now = ctx.clock.now();
    let policy = ctx.policy.clone();
    let app = app.clone();
    let hash = credentials::secret_hash(code.expose().trim());
    let s = ctx
        .commit(write_fn(move |tx| {
            Box::pin(async move {
                let again = "open the host app again from the staff console";
                let Some(c) = tx.get_entry_code(&hash).await? else {
                    return Err(Error::refused(
                        Code::EntryCodeUnknown,
                        Some("code"),
                        format!("This entry code is unknown or a newer one replaced it; {again}."),
                    ));
                };
                if c.used_at.is_some() {
                    return Err(Error::refused(
                        Code::EntryCodeUsed,
                        Some("code"),
                        format!("This entry code was used already; {again}."),
                    ));
                }
                if now >= c.expires_at {
                    return Err(Error::refused(
                        Code::EntryCodeExpired,
                        Some("code"),
                        format!("This entry code has expired; {again}."),
                    ));
                }
                let s = tx
                    .get_session(&c.session_id)
                    .await?
                    .ok_or_else(|| Error::not_found(format!("No session {}.", c.session_id)))?;
                // Another app's code reads as unknown: it learns nothing of the session.
                if authz::allow(&app, Act::ExchangeEntry(&s), now).is_err() {
                    return Err(Error::refused(
                        Code::EntryCodeUnknown,
                        Some("code"),
                        format!("This entry code is unknown or a newer one replaced it; {again}."),
                    ));
                }
                let (s, ended) = end_if_due(tx, &policy, s, now).await?;
                if !s.is_live() {
                    return Ok(Committed::refusal(session_ended()).sessions_changed(ended));
                }
                if !tx.use_entry_code(&hash, now).await? {
                    return Err(Error::refused(
                        Code::EntryCodeUsed,
                        Some("code"),
                        format!("This entry code was used already; {again}."),
                    ));
                }
                tx.touch_session(&s.id, now).await?;
                tx.append_event(
                    NewEvent::new(
                        now,
                        Actor::staff(&s.agent, &s.agent_name),
                        text::session_entered(&s, &app.name, now),
                        EventData::SessionEntered(data::SessionEntered { app: app.id.clone() }),
                    )
                    .about_session(&s),
                )
                .await?;
                Ok(Committed::answer(s))
            })
        }))
        .await?;
    let token = ctx.keys.issue(&ctx.base_url, &s.app_id, &s, now, ctx.ids.id("jti"))?;
    Ok((s, token))
}

/// How a session is being ended by a person.
enum Ending {
    ByAgent,
    Revoke(String),
}

async fn end_by(ctx: &Ctx, who: &Principal, id: &str, how: Ending) -> Result<Session> {
    let now = ctx.clock.now();
    let policy = ctx.policy.clone();
    let who = who.clone();
    let id = id.to_string();
    ctx.commit(write_fn(move |tx| {
        Box::pin(async move {
            let s = tx.get_session(&id).await?.ok_or_else(|| Error::not_found(format!("No session {id}.")))?;
            match &how {
                Ending::ByAgent => authz::allow(&who, Act::EndSession(&s), now)?,
                Ending::Revoke(_) => authz::allow(&who, Act::Revoke(&s), now)?,
            }
            let (s, ended) = end_if_due(tx, &policy, s, now).await?;
            if !s.is_live() {
                let already = Error::conflict(Code::SessionEnded, "The session had already ended.");
                return Ok(Committed::refusal(already).sessions_changed(ended));
            }
            let actor = who.actor();
            let (reason, note) = match how {
                Ending::ByAgent => (EndReason::Ended, None),
                Ending::Revoke(n) => (EndReason::Revoked, Some(n)),
            };
            let s = end_session(tx, &policy, s, reason, now, Some(&actor), note).await?;
            Ok(Committed::answer(s).sessions_changed(true))
        })
    }))
    .await
}

/// The agent (or the banner with the session's token) ends the session.
pub async fn end(ctx: &Ctx, who: &Principal, id: &str) -> Result<Session> {
    end_by(ctx, who, id, Ending::ByAgent).await
}

/// A lead revokes a session, with a note.
pub async fn revoke(ctx: &Ctx, lead: &actas_core::model::Staff, id: &str, note: Option<String>) -> Result<Session> {
    authz::require_lead(lead)?;
    super::input::note(note.as_deref())?;
    let note = match note.map(|n| n.trim().to_string()) {
        Some(n) if !n.is_empty() => n,
        _ => return Err(Error::refused(Code::NoteRequired, Some("note"), "A revocation needs a note that says why.")),
    };
    end_by(ctx, &Principal::Staff(lead.clone()), id, Ending::Revoke(note)).await
}

/// Activity from the agent's screen: moves the idle deadline.
pub async fn heartbeat(ctx: &Ctx, who: &Principal, id: &str) -> Result<Session> {
    let now = ctx.clock.now();
    let policy = ctx.policy.clone();
    let who = who.clone();
    let id = id.to_string();
    ctx.commit(write_fn(move |tx| {
        Box::pin(async move {
            let s = tx.get_session(&id).await?.ok_or_else(|| Error::not_found(format!("No session {id}.")))?;
            authz::allow(&who, Act::Heartbeat(&s), now)?;
            let (mut s, ended) = end_if_due(tx, &policy, s, now).await?;
            if !s.is_live() {
                return Ok(Committed::refusal(session_ended()).sessions_changed(ended));
            }
            tx.touch_session(&s.id, now).await?;
            s.last_activity_at = s.last_activity_at.max(now);
            Ok(Committed::answer(s))
        })
    }))
    .await
}

/// The session's events and its request's, oldest first.
pub async fn timeline(ctx: &Ctx, who: &actas_core::model::Staff, id: &str) -> Result<Vec<Event>> {
    let now = ctx.clock.now();
    let who = who.clone();
    let id = id.to_string();
    ctx.store
        .read(read_fn(move |tx| {
            Box::pin(async move {
                let s = tx.get_session(&id).await?.ok_or_else(|| Error::not_found(format!("No session {id}.")))?;
                authz::allow(&who, Act::ReadTimeline(&s), now)?;
                let mut events = tx
                    .list_events(&EventFilter {
                        // The request's events carry its ticket: the ticket's
                        // index finds them.
                        ticket: Some(s.ticket.clone()),
                        request_id: Some(s.request_id.clone()),
                        limit: 10_000,
                        ..Default::default()
                    })
                    .await?;
                events.extend(
                    tx.list_events(&EventFilter {
                        session_id: Some(s.id.clone()),
                        limit: 10_000,
                        ..Default::default()
                    })
                    .await?,
                );
                events.sort_by_key(|e| e.seq);
                events.dedup_by_key(|e| e.seq);
                Ok(events)
            })
        }))
        .await
}

/// The customer-facing access log of an account, newest first.
pub async fn access_log(ctx: &Ctx, who: &Principal, account_id: &str, limit: i64) -> Result<Vec<api::AccessLogEntry>> {
    authz::allow(who, Act::ReadAccessLog, ctx.clock.now())?;
    // An app sees only the sessions issued for it.
    let app_id = match who {
        Principal::App(a) => Some(a.id.clone()),
        _ => None,
    };
    let policy = ctx.policy.clone();
    let account = account_id.to_string();
    ctx.store
        .read(read_fn(move |tx| {
            Box::pin(async move {
                let sessions = tx
                    .list_sessions(&SessionFilter {
                        account_id: Some(account),
                        app_id,
                        limit: Some(limit),
                        ..Default::default()
                    })
                    .await?;
                let ids: Vec<String> = sessions.iter().map(|s| s.id.clone()).collect();
                let mut changes = super::sessions_changes(tx, &ids).await?;
                let mut out = Vec::with_capacity(sessions.len());
                for s in sessions {
                    let changes = changes.remove(&s.id).unwrap_or_default();
                    out.push(api::AccessLogEntry {
                        session_id: s.id.clone().into(),
                        agent_name: s.agent_name.clone(),
                        approver_name: s.approver_name.clone(),
                        approved_by: text::approved_by(&s.approvers),
                        ticket: s.ticket.clone(),
                        reason: s.reason.clone(),
                        allowed: s.scope.iter().map(|a| policy.label(a).to_string()).collect(),
                        changes,
                        started_at: s.started_at,
                        ended_at: s.ended_at.unwrap_or(s.ends_at),
                        state: s.state,
                        end_reason: s.end_reason,
                    });
                }
                Ok(out)
            })
        }))
        .await
}

/// Most sessions one round of the reaper ends of each kind (expired, idle):
/// one write holds the lock for them all, so a backlog is worked off over
/// a few rounds instead of stalling every other write.
const REAP_AT_ONCE: i64 = 64;

/// Ends the live sessions whose time is up (at most 64 of
/// each kind a round) and expires lapsed approvals,
/// each event at its deadline. Safe to run on every node at once: each end
/// re-reads its session inside the writer's lock.
pub async fn reap(ctx: &Ctx) -> Result<usize> {
    let now = ctx.clock.now();
    let policy = ctx.policy.clone();
    let idle_since = now - actas_core::clock::minutes(policy.session.idle_minutes);
    let due: Vec<String> = ctx
        .store
        .read(read_fn(move |tx| Box::pin(async move { tx.list_due_sessions(now, idle_since, REAP_AT_ONCE).await })))
        .await?
        .into_iter()
        .filter(|s| actas_core::flow::due_end(s, policy.session.idle_minutes, now).is_some())
        .map(|s| s.id)
        .collect();
    let lapsed = ctx.store.read(read_fn(move |tx| Box::pin(async move { tx.list_lapsed_requests(now).await }))).await?;
    if due.is_empty() && lapsed.is_empty() {
        return Ok(0);
    }
    ctx.commit(write_fn(move |tx| {
        Box::pin(async move {
            let mut ended = 0;
            for id in due {
                if let Some(s) = tx.get_session(&id).await? {
                    ended += usize::from(end_if_due(tx, &policy, s, now).await?.1);
                }
            }
            let mut n = ended;
            for r in lapsed {
                if let Some(r) = tx.get_request(&r.id).await? {
                    if let Some(at) = actas_core::flow::approval_lapsed(&r, now) {
                        super::requests::expire_request(tx, &policy, r, at).await?;
                        n += 1;
                    }
                }
            }
            Ok(Committed::answer(n).sessions_changed(ended > 0))
        })
    }))
    .await
}

/// Ends a session because its agent was disabled (inside a larger write).
pub(crate) async fn end_for_disabled(
    tx: &mut dyn actas_store::WriteTx,
    policy: &actas_core::policy::Policy,
    agent: &str,
    by: &Actor,
    now: Timestamp,
) -> Result<Vec<Session>> {
    let mut ended = Vec::new();
    if let Some(s) = tx.find_live_session(agent).await? {
        let (s, ended_now) = end_if_due(tx, policy, s, now).await?;
        if ended_now {
            ended.push(s);
        } else if s.is_live() {
            ended.push(end_session(tx, policy, s, EndReason::StaffDisabled, now, Some(by), None).await?);
        }
    }
    Ok(ended)
}

/// The refusal for a session that is over.
fn session_ended() -> Error {
    Error::conflict(Code::SessionEnded, "The session has ended.")
}
