//! Step-up for one change (SPEC §10): the agent, or the host app with the
//! session's token, asks a lead for exactly one change the session's scope
//! lacks; a lead decides it with the requests' `approve` and `deny`; once
//! approved, the next matching `authorize` goes through, once, within five
//! minutes ([`actas_core::stepup`] has the rules), and the scope never grows.

use actas_api as api;
use actas_core::audit::{self as text, data, Actor, EventData, NewEvent};
use actas_core::authorize::Ask;
use actas_core::model::{NewRequest, Request, RequestKind, RequestStatus, Session, Staff};
use actas_core::policy::Policy;
use actas_core::reason::Reason;
use actas_core::stepup::{self, StepUp};
use actas_core::{Error, Result, Timestamp};
use actas_store::{read_fn, write_fn, RequestFilter, WriteTx};

use super::input::Validate;
use super::requests::{approve_by_policy, refused_event};
use super::{end_if_due, Committed, Ctx, Principal};
use crate::authz::{self, Act};

/// Most step-ups `GET /sessions/{id}` lists.
const LISTED: usize = 10;

/// Asks for one change in a live session (`POST /sessions/{id}/stepup`),
/// by its agent or with its token. A refusal is audited as
/// `request.refused` and changes nothing else.
pub async fn request_stepup(ctx: &Ctx, who: &Principal, session_id: &str, input: api::NewStepUp) -> Result<Request> {
    input.validate()?;
    let now = ctx.clock.now();
    let policy = ctx.policy.clone();
    let who = who.clone();
    let sid = session_id.to_string();
    ctx.commit(write_fn(move |tx| {
        Box::pin(async move {
            let s = tx.get_session(&sid).await?.ok_or_else(|| Error::not_found(format!("No session {sid}.")))?;
            authz::allow(&who, Act::AskStepUp(&s), now)?;
            let agent = agent_of(tx, &who, &s).await?;
            let (s, ended) = end_if_due(tx, &policy, s, now).await?;
            if !s.is_live() {
                let over = Error::conflict(actas_core::Code::SessionEnded, "The session has ended.");
                return Ok(Committed::refusal(over).sessions_changed(ended));
            }
            let ticket = tx.get_ticket(&s.ticket).await?;
            let target = input.target.map(|t| data::Target { account_id: t.account_id, kind: t.kind, id: t.id });
            let checked = stepup::check(&policy, &s, &input.action, target.as_ref()).and_then(|def| {
                let subject = ticket.as_ref().map(|t| t.subject.as_str());
                Reason::parse(&input.reason, &policy.reason, subject).map(|r| (def, r))
            });
            let (def, reason) = match checked {
                Ok(v) => v,
                Err(e @ Error::Refused { .. }) => {
                    let asked = data::Asked::Stepup {
                        session_id: s.id.clone(),
                        action: input.action.clone(),
                        reason: input.reason.clone(),
                    };
                    let mut ev = refused_event(&agent, ticket.as_ref(), &s.ticket, &e, now, asked);
                    ev.session_id = Some(s.id.clone());
                    tx.append_event(ev).await?;
                    return Ok(Committed::refusal(e));
                }
                Err(e) => return Err(e),
            };
            let id = tx.new_id("req");
            let changes = input
                .changes
                .unwrap_or_default()
                .into_iter()
                .map(|c| actas_core::audit::FieldChange { field: c.field, old: c.old, new: c.new })
                .collect();
            let change = StepUp::new(&id, def, target, changes);
            let needs_person = actas_core::flow::needs_person(&policy, std::slice::from_ref(&def.name));
            let mut r = Request::pending(
                id,
                NewRequest {
                    kind: RequestKind::Stepup,
                    ticket: s.ticket.clone(),
                    account_id: s.account_id.clone(),
                    account_name: s.account_name.clone(),
                    reason: reason.into_string(),
                    actions: vec![def.name.clone()],
                    minutes: stepup::USE_WITHIN_MINUTES,
                    session_id: Some(s.id.clone()),
                    playbook: ticket.as_ref().and_then(|t| policy.playbook_for(&t.tags)).map(|b| b.name.clone()),
                    stepup: Some(change.clone()),
                },
                &agent,
                now,
            );
            tx.insert_request(&r).await?;
            tx.append_event(
                NewEvent::new(
                    now,
                    Actor::staff(&agent.id, &agent.name),
                    text::stepup_requested(&policy, &r),
                    EventData::StepupRequested(data::StepupRequested {
                        reason: r.reason.clone(),
                        action: def.name.clone(),
                        label: def.label.clone(),
                        target: change.target.clone(),
                        changes: change.changes.clone(),
                        needs_approval: needs_person,
                    }),
                )
                .about_request(&r)
                .session(&s.id),
            )
            .await?;
            if !needs_person {
                approve_by_policy(tx, &policy, &mut r, now).await?;
            }
            Ok(Committed::answer(r).sessions_changed(true))
        })
    }))
    .await
    .inspect(|r| ctx.telemetry.asked(r))
}

/// The staff member a step-up is asked for: the caller, or the agent whose
/// session the token is.
async fn agent_of(tx: &mut dyn WriteTx, who: &Principal, s: &Session) -> Result<Staff> {
    match who {
        Principal::Staff(staff) => Ok(staff.clone()),
        _ => tx.get_staff(&s.agent).await?.ok_or_else(|| Error::not_found("The session's agent is gone.")),
    }
}

/// A session's step-ups, the latest first (at most ten), for whoever may
/// read the session (the caller was checked by [`super::get_session`]).
pub async fn stepups_of(ctx: &Ctx, session: &Session) -> Result<Vec<Request>> {
    let f = RequestFilter { session_id: Some(session.id.clone()), ..Default::default() };
    let mut all = ctx.store.read(read_fn(move |tx| Box::pin(async move { tx.list_requests(&f).await }))).await?;
    all.retain(|r| r.kind == RequestKind::Stepup);
    all.reverse();
    all.truncate(LISTED);
    Ok(all)
}

/// In `authorize`, for an action the scope lacks: the session's approved
/// step-up for exactly `ask`, if one is usable at `now`.
pub(super) async fn usable(tx: &mut dyn WriteTx, s: &Session, ask: &Ask, now: Timestamp) -> Result<Option<Request>> {
    let f =
        RequestFilter { session_id: Some(s.id.clone()), status: Some(RequestStatus::Approved), ..Default::default() };
    let approved = tx.list_requests(&f).await?;
    Ok(stepup::usable(&approved, ask, now).cloned())
}

/// Marks step-up `r` used by the change that `performed` (an
/// `action.performed` event) recorded.
pub(super) async fn spend(
    tx: &mut dyn WriteTx,
    policy: &Policy,
    s: &Session,
    mut r: Request,
    performed: String,
    now: Timestamp,
) -> Result<()> {
    r.status = RequestStatus::Used;
    if let Some(x) = r.stepup.as_mut() {
        x.spend();
    }
    r.updated_at = now;
    tx.update_request(&r).await?;
    let action = r.actions.first().cloned().unwrap_or_default();
    let e = NewEvent::new(
        now,
        Actor::staff(&s.agent, &s.agent_name),
        text::stepup_used(policy, &r, now),
        EventData::StepupUsed(data::StepupUsed { action, performed }),
    )
    .about_request(&r)
    .session(&s.id);
    tx.append_event(e).await?;
    Ok(())
}
