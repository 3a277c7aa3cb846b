//! Break-glass (SPEC §10): for an outage when no lead can be reached, staff
//! with the `breakglass` role start a session without approval, within the
//! policy's `[breakglass]` actions and minutes. The request side lives with
//! the other requests ([`super::create_request`], [`super::start`]); this
//! is what follows: every lead sees the session until one of them reviews
//! it after it ended (`session.reviewed`).

use actas_api as api;
use actas_core::audit::{self as text, data, Actor, EventData, NewEvent};
use actas_core::model::{Review, Session, Staff};
use actas_core::{Code, Error, Result};
use actas_store::{read_fn, write_fn, SessionFilter};

use super::input::Validate;
use super::{end_if_due, Committed, Ctx};
use crate::authz::{self, Act};

/// Break-glass sessions listed for review at most: far above what an
/// outage makes, and the list is the leads' to clear.
pub const AWAITING_REVIEW_SHOWN: i64 = 200;

/// A lead reviews a break-glass session after it ended
/// (`POST /sessions/{id}/review`), with a note of what they found.
pub async fn review(ctx: &Ctx, lead: &Staff, id: &str, input: api::Note) -> Result<Session> {
    authz::require_lead(lead)?;
    input.validate()?;
    let note =
        match input.note.map(|n| n.trim().to_string()) {
            Some(n) if !n.is_empty() => n,
            _ => return Err(Error::refused(
                Code::NoteRequired,
                Some("note"),
                "A review needs a note: what was done in the session, and whether breaking the glass was warranted.",
            )),
        };
    let now = ctx.clock.now();
    let policy = ctx.policy.clone();
    let lead = lead.clone();
    let id = id.to_string();
    ctx.commit(write_fn(move |tx| {
        Box::pin(async move {
            let s = tx.get_session(&id).await?.ok_or_else(|| Error::not_found(format!("No session {id}.")))?;
            authz::allow(&lead, Act::Review(&s), now)?;
            // A session past its end is ended first: then it can be reviewed.
            let (mut s, ended) = end_if_due(tx, &policy, s, now).await?;
            let refused = if !s.breakglass {
                Some(Error::conflict(
                    Code::NotBreakglass,
                    format!("This session was {}; only break-glass sessions are reviewed.", s.approver_words()),
                ))
            } else if s.is_live() {
                Some(Error::conflict(
                    Code::SessionLive,
                    "The session is still live: review it once it ends, or revoke it now if it must stop.",
                ))
            } else {
                s.review.as_ref().map(|r| {
                    Error::conflict(
                        Code::AlreadyReviewed,
                        format!("{} reviewed this session at {}.", r.by_name, text::hhmm(r.at)),
                    )
                })
            };
            if let Some(e) = refused {
                return Ok(Committed::refusal(e).sessions_changed(ended));
            }
            s.review = Some(Review { by: lead.id.clone(), by_name: lead.name.clone(), at: now, note: note.clone() });
            tx.update_session(&s).await?;
            tx.append_event(
                NewEvent::new(
                    now,
                    Actor::staff(&lead.id, &lead.name),
                    text::session_reviewed(&s, &lead.name, &note),
                    EventData::SessionReviewed(data::SessionReviewed { note, agent: s.agent.clone() }),
                )
                .about_session(&s),
            )
            .await?;
            Ok(Committed::answer(s).sessions_changed(true))
        })
    }))
    .await
}

/// Break-glass sessions no lead has reviewed yet, the newest first: live
/// ones (which leads may revoke) and ended ones (which await a review).
pub async fn awaiting_review(ctx: &Ctx, who: &Staff) -> Result<Vec<Session>> {
    let now = ctx.clock.now();
    authz::allow(who, Act::ReadQueue, now)?;
    let f = SessionFilter { awaiting_review: true, limit: Some(AWAITING_REVIEW_SHOWN), ..Default::default() };
    let list = ctx.store.read(read_fn(move |tx| Box::pin(async move { tx.list_sessions(&f).await }))).await?;
    Ok(list.into_iter().filter(|s| authz::sees_session(who, s, now)).collect())
}
