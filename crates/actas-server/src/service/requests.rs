//! Tickets and requests: from a ticket with a reason to an approved,
//! started session, and scope changes along the way.

use actas_api as api;
use actas_core::audit::{self as text, data, Actor, EventData, NewEvent};
use actas_core::clock::minutes;
use actas_core::connector::TicketChange;
use actas_core::flow::{self, Grant, RequestInput};
use actas_core::id::Secret;
use actas_core::model::{
    Approver, Decision, DecisionKind, EndReason, NewRequest, Request, RequestKind, RequestStatus, Role, Session,
    SessionState, Staff, Ticket, TicketSource, TicketStatus,
};
use actas_core::policy::{Policy, ScopeChange};
use actas_core::Code;
use actas_core::{Error, Result, Timestamp};
use actas_store::{read_fn, write_fn, RequestFilter, SessionFilter, WriteTx};

use super::input::{self, Validate};
use super::{end_session, Committed, Ctx, Principal};
use crate::authz::{self, Act};

/// A required field, trimmed (its bounds were checked by [`Validate`]).
fn required(field: &'static str, v: &str) -> Result<String> {
    let v = v.trim();
    if v.is_empty() {
        return Err(Error::refused(Code::FieldRequired, Some(field), format!("{field} is required.")));
    }
    Ok(v.to_string())
}

/// Records a ticket (`POST /tickets`); answers it and whether it is new.
///
/// Apps need the `tickets` permission: they are the ticket systems without
/// a connector of their own, so a ticket they send again (same reference,
/// same account) is updated as a connector's would be (`ticket.updated`,
/// and a solved or closed ticket ends its live sessions as
/// `ticket_closed`); a field they leave out stays as it was. Staff need
/// the agent role, and a ticket a staff member types in is marked as typed
/// in by hand: it may carry tags, but its status and assignee come only
/// from a ticket system, and the same ticket typed in again is answered as
/// it stands.
pub async fn create_ticket(ctx: &Ctx, by: &Principal, input: api::NewTicket) -> Result<(Ticket, bool)> {
    authz::allow(by, Act::CreateTicket, ctx.clock.now())?;
    input.validate()?;
    let now = ctx.clock.now();
    let source = match by {
        Principal::App(_) => TicketSource::App,
        Principal::Staff(_) | Principal::Token(_) => TicketSource::Hand,
    };
    if source == TicketSource::Hand {
        by_hand_fields(&input)?;
    }
    let tags = match input.tags {
        Some(tags) => Some(tags.iter().map(|t| required("tags", t)).collect::<Result<Vec<_>>>()?),
        None => None,
    };
    let status = input.status;
    // An empty assignee says "nobody".
    let assignee = input.assignee.map(|a| a.trim().to_string()).map(|a| (!a.is_empty()).then_some(a));
    let t = Ticket {
        reference: required("ref", &input.reference)?,
        account_id: required("account_id", &input.account_id)?,
        account_name: input.account_name.map(|n| required("account_name", &n)).transpose()?,
        subject: required("subject", &input.subject)?,
        url: input.url.map(|u| required("url", &u)).transpose()?,
        created_by: by.actor().id,
        created_at: now,
        status: status.unwrap_or(TicketStatus::Open),
        assignee: None,
        tags: tags.clone().unwrap_or_default(),
        source,
        updated_at: now,
    };
    let actor = by.actor();
    let policy = ctx.policy.clone();
    ctx.commit(write_fn(move |tx| {
        Box::pin(async move {
            let existing = tx.get_ticket(&t.reference).await?;
            if let Some(existing) = &existing {
                if existing.account_id != t.account_id {
                    return Err(Error::conflict(
                        Code::TicketExists,
                        format!("Ticket {} exists already, for account {}.", existing.reference, existing.account_id),
                    ));
                }
            }
            let assignee = match assignee {
                Some(Some(a)) => Some(Some(super::connectors::staff_for(tx, &a).await?)),
                other => other,
            };
            match existing {
                Some(old) if source == TicketSource::Hand => Ok(Committed::answer((old, false))),
                Some(old) => {
                    let change = TicketChange {
                        reference: t.reference,
                        account_id: t.account_id,
                        account_name: t.account_name,
                        subject: t.subject,
                        url: t.url,
                        tags: tags.unwrap_or_else(|| old.tags.clone()),
                        status: status.unwrap_or(old.status),
                        assignee: None,
                    };
                    let assignee = assignee.unwrap_or_else(|| old.assignee.clone());
                    let received =
                        super::connectors::update(tx, &policy, &actor, source, old, change, assignee, now).await?;
                    let ended = !received.sessions_ended.is_empty();
                    Ok(Committed::answer((received.ticket, false)).sessions_changed(ended))
                }
                None => {
                    let t = Ticket { assignee: assignee.flatten(), ..t };
                    tx.insert_ticket(&t).await?;
                    tx.append_event(
                        NewEvent::new(
                            t.created_at,
                            actor.clone(),
                            text::ticket_created(&actor.name, &t),
                            EventData::TicketCreated(ticket_created_data(&t)),
                        )
                        .account(&t.account_id)
                        .ticket(&t.reference),
                    )
                    .await?;
                    Ok(Committed::answer((t, true)))
                }
            }
        })
    }))
    .await
}

/// What a staff member may say of a ticket they type in by hand: not where
/// it stands in a ticket system, nor who works it there.
fn by_hand_fields(input: &api::NewTicket) -> Result<()> {
    if input.status.is_some_and(|s| s != TicketStatus::Open) {
        return Err(Error::refused(
            Code::TicketSystemOnly,
            Some("status"),
            "A ticket typed in by hand is open; only its ticket system (with an app key) may say it is pending, solved or closed.",
        ));
    }
    if input.assignee.is_some() {
        return Err(Error::refused(
            Code::TicketSystemOnly,
            Some("assignee"),
            "A ticket typed in by hand has no assignee; only its ticket system (with an app key) may assign it.",
        ));
    }
    Ok(())
}

/// The `ticket.created` payload of a new ticket.
pub(crate) fn ticket_created_data(t: &Ticket) -> data::TicketCreated {
    data::TicketCreated {
        subject: t.subject.clone(),
        account_name: t.account_name.clone(),
        url: t.url.clone(),
        source: Some(t.source.as_str().to_string()),
        status: (t.source != TicketSource::Hand).then(|| t.status.as_str().to_string()),
        assignee: t.assignee.clone(),
        tags: t.tags.clone(),
    }
}

/// A ticket with the requests and sessions on it that `who` may see (an
/// agent sees only their own).
pub async fn get_ticket(ctx: &Ctx, who: &Principal, reference: &str) -> Result<(Ticket, Vec<Request>, Vec<Session>)> {
    let now = ctx.clock.now();
    authz::allow(who, Act::ReadTicket, now)?;
    let r = reference.to_string();
    let (t, mut reqs, mut sess) = ctx
        .store
        .read(read_fn(move |tx| {
            Box::pin(async move {
                let t = tx.get_ticket(&r).await?.ok_or_else(|| Error::not_found(format!("No ticket {r}.")))?;
                let reqs = tx.list_requests(&RequestFilter { ticket: Some(r.clone()), ..Default::default() }).await?;
                let sess = tx.list_sessions(&SessionFilter { ticket: Some(r.clone()), ..Default::default() }).await?;
                Ok((t, reqs, sess))
            })
        }))
        .await?;
    reqs.retain(|r| authz::sees_request(who, r, now));
    sess.retain(|s| authz::sees_session(who, s, now));
    Ok((t, reqs, sess))
}

/// An agent's open tickets: those assigned to them (by login, or by the
/// e-mail address their identity provider gave, for tickets that arrived
/// before they did), then recent ones assigned to nobody, each list the
/// latest changed first.
pub async fn inbox(ctx: &Ctx, who: &Staff) -> Result<(Vec<Ticket>, Vec<Ticket>)> {
    authz::allow(who, Act::ReadInbox, ctx.clock.now())?;
    let me = who.id.clone();
    ctx.store
        .read(read_fn(move |tx| {
            Box::pin(async move {
                let mut mine = tx.list_open_tickets(Some(&me), INBOX_MINE).await?;
                let email = tx.get_staff_profile(&me).await?.and_then(|(_, p)| p.email);
                if let Some(email) = email.filter(|e| *e != me) {
                    mine.extend(tx.list_open_tickets(Some(&email), INBOX_MINE).await?);
                    mine.sort_by_key(|t| std::cmp::Reverse(t.updated_at));
                    mine.truncate(INBOX_MINE as usize);
                }
                let free = tx.list_open_tickets(None, INBOX_UNASSIGNED).await?;
                Ok((mine, free))
            })
        }))
        .await
}

/// Most tickets an inbox lists as the agent's own.
const INBOX_MINE: i64 = 50;
/// Most unassigned tickets an inbox lists.
const INBOX_UNASSIGNED: i64 = 20;

pub(super) fn refused_event(
    who: &Staff,
    ticket: Option<&Ticket>,
    raw_ticket: &str,
    err: &Error,
    now: Timestamp,
    asked: data::Asked,
) -> NewEvent {
    let detail = err.to_string();
    let code = match err {
        Error::Refused { code, .. } => code.as_str(),
        _ => "refused",
    };
    let line =
        text::request_refused(&who.name, ticket.map(|t| t.account_label()).as_deref(), Some(raw_ticket), &detail);
    let mut e = NewEvent::new(
        now,
        Actor::staff(&who.id, &who.name),
        line,
        EventData::RequestRefused(data::RequestRefused { code: code.to_string(), detail, asked }),
    )
    .agent(&who.id);
    if let Some(t) = ticket {
        e = e.account(&t.account_id).ticket(&t.reference);
    }
    e
}

/// Applies a decision by policy: approves, records the decision and event.
pub(super) async fn approve_by_policy(
    tx: &mut dyn WriteTx,
    policy: &Policy,
    r: &mut Request,
    now: Timestamp,
) -> Result<()> {
    let grant = Grant { actions: r.actions.clone(), minutes: r.minutes, removed: vec![], added: vec![] };
    record_approval(tx, policy, r, &grant, None, None, now).await
}

/// Approves a break-glass request as asked, by nobody: a decision of kind
/// `breakglass` and no approval event (`request.created` says it all; the
/// session's start tells every lead).
async fn approve_as_breakglass(tx: &mut dyn WriteTx, policy: &Policy, r: &mut Request, now: Timestamp) -> Result<()> {
    let nobody = Approver::breakglass();
    tx.insert_decision(&Decision {
        id: tx.new_id("dec"),
        request_id: r.id.clone(),
        kind: DecisionKind::Breakglass,
        decider: nobody.id.clone(),
        decider_name: nobody.name.clone(),
        actions: r.actions.clone(),
        minutes: r.minutes,
        removed: Vec::new(),
        added: Vec::new(),
        note: None,
        at: now,
    })
    .await?;
    r.status = RequestStatus::Approved;
    r.granted_actions = Some(r.actions.clone());
    r.granted_minutes = Some(r.minutes);
    r.decided_by = Some(nobody.id);
    r.decided_by_name = Some(nobody.name);
    r.decided_at = Some(now);
    r.start_by = Some(now + minutes(policy.session.approval_valid_minutes));
    r.updated_at = now;
    tx.update_request(r).await
}

/// Records an approval (by a person when `approver` is set, else by policy).
async fn record_approval(
    tx: &mut dyn WriteTx,
    policy: &Policy,
    r: &mut Request,
    grant: &Grant,
    approver: Option<&Staff>,
    note: Option<String>,
    now: Timestamp,
) -> Result<()> {
    let (decider, decider_name, kind) = match approver {
        Some(s) => (s.id.clone(), s.name.clone(), DecisionKind::Approve),
        None => ("policy".to_string(), "Policy".to_string(), DecisionKind::Policy),
    };
    tx.insert_decision(&Decision {
        id: tx.new_id("dec"),
        request_id: r.id.clone(),
        kind,
        decider: decider.clone(),
        decider_name: decider_name.clone(),
        actions: grant.actions.clone(),
        minutes: grant.minutes,
        removed: grant.removed.clone(),
        added: grant.added.clone(),
        note: note.clone(),
        at: now,
    })
    .await?;
    let line = match r.kind {
        RequestKind::Stepup => {
            text::stepup_approved(policy, approver.map(|s| s.name.as_str()), r, now + stepup_window())
        }
        _ => text::request_approved(policy, approver.map(|s| s.name.as_str()), r, &grant.actions, grant.minutes),
    };
    r.status = RequestStatus::Approved;
    r.granted_actions = Some(grant.actions.clone());
    r.granted_minutes = Some(grant.minutes);
    r.decided_by = Some(decider);
    r.decided_by_name = Some(decider_name);
    r.decided_at = Some(now);
    r.decision_note = note.clone();
    r.start_by = Some(match r.kind {
        RequestKind::Stepup => now + stepup_window(),
        _ => now + minutes(policy.session.approval_valid_minutes),
    });
    r.updated_at = now;
    tx.update_request(r).await?;
    let approval = data::Approval {
        asked: data::Grant { actions: r.actions.clone(), minutes: r.minutes },
        granted: data::Grant { actions: grant.actions.clone(), minutes: grant.minutes },
        removed: grant.removed.clone(),
        added: grant.added.clone(),
        note,
        by_policy: approver.is_none(),
    };
    let data = match r.kind {
        RequestKind::Access | RequestKind::Breakglass => EventData::RequestApproved(approval),
        RequestKind::Scope => EventData::ScopeApproved(approval),
        RequestKind::Stepup => EventData::StepupApproved(data::StepupApproved {
            note: approval.note,
            by_policy: approval.by_policy,
            use_by: now + stepup_window(),
        }),
    };
    let actor = approver.map(|s| Actor::staff(&s.id, &s.name)).unwrap_or_else(Actor::policy);
    let mut e = NewEvent::new(now, actor, line, data).about_request(r);
    if let Some(sid) = &r.session_id {
        e = e.session(sid);
    }
    tx.append_event(e).await?;
    Ok(())
}

/// How long an approved step-up may be used.
fn stepup_window() -> chrono::Duration {
    minutes(actas_core::stepup::USE_WITHIN_MINUTES)
}

/// Opens a request (`POST /requests`). A refusal is audited as
/// `request.refused` and changes nothing else.
///
/// With `breakglass`, the request needs the `breakglass` role, stays within
/// the policy's `[breakglass]`, and is approved at once by nobody; its
/// session is marked and every lead is told when it starts.
pub async fn create_request(ctx: &Ctx, agent: &Staff, input: api::NewRequest) -> Result<Request> {
    let breakglass = input.breakglass;
    authz::allow(agent, if breakglass { Act::BreakGlass } else { Act::CreateRequest }, ctx.clock.now())?;
    input.validate()?;
    let now = ctx.clock.now();
    let policy = ctx.policy.clone();
    let agent = agent.clone();
    ctx.commit(write_fn(move |tx| {
        Box::pin(async move {
            let asked = data::Asked::Access {
                ticket: input.ticket.clone(),
                account_id: input.account_id.clone(),
                actions: input.actions.clone(),
                minutes: input.minutes,
                reason: input.reason.clone(),
            };
            let ticket = tx.get_ticket(&input.ticket).await?;
            let checked = match &ticket {
                None => Err(Error::refused(
                    Code::UnknownTicket,
                    Some("ticket"),
                    format!("There is no ticket {}; record it first.", input.ticket),
                )),
                Some(t) => {
                    let asked = RequestInput {
                        account_id: input.account_id.clone(),
                        reason: input.reason.clone(),
                        actions: input.actions.clone(),
                        minutes: input.minutes,
                    };
                    if breakglass {
                        flow::check_breakglass(&policy, t, &asked)
                    } else {
                        flow::check_request(&policy, t, &asked)
                    }
                }
            };
            // An account that lets support in only with its customer's grant.
            let checked = match (checked, &ticket) {
                (Ok(c), Some(t)) => super::consent::require_grant(tx, &t.account_id, now).await.map(|_| c),
                (other, _) => other,
            };
            let checked = match checked {
                Ok(c) => c,
                Err(e @ Error::Refused { .. }) => {
                    tx.append_event(refused_event(&agent, ticket.as_ref(), &input.ticket, &e, now, asked)).await?;
                    return Ok(Committed::refusal(e));
                }
                Err(e) => return Err(e),
            };
            let Some(t) = ticket else { return Err(Error::not_found("ticket")) };
            let mut r = Request::pending(
                tx.new_id("req"),
                NewRequest {
                    kind: if breakglass { RequestKind::Breakglass } else { RequestKind::Access },
                    ticket: t.reference.clone(),
                    account_id: t.account_id.clone(),
                    account_name: t.account_name.clone(),
                    reason: checked.reason.into_string(),
                    actions: checked.actions,
                    minutes: checked.minutes,
                    session_id: None,
                    playbook: policy.playbook_for(&t.tags).map(|b| b.name.clone()),
                    stepup: None,
                },
                &agent,
                now,
            );
            tx.insert_request(&r).await?;
            tx.append_event(
                NewEvent::new(
                    now,
                    Actor::staff(&agent.id, &agent.name),
                    text::request_created(&policy, &r),
                    EventData::RequestCreated(data::RequestCreated {
                        reason: r.reason.clone(),
                        actions: r.actions.clone(),
                        minutes: r.minutes,
                        needs_approval: checked.needs_person,
                        playbook: r.playbook.clone(),
                        beyond_playbook: r
                            .playbook
                            .as_deref()
                            .and_then(|n| policy.playbook(n))
                            .map(|b| policy.beyond(b, &r.actions))
                            .unwrap_or_default(),
                        breakglass,
                    }),
                )
                .about_request(&r),
            )
            .await?;
            if breakglass {
                approve_as_breakglass(tx, &policy, &mut r, now).await?;
            } else if !checked.needs_person {
                approve_by_policy(tx, &policy, &mut r, now).await?;
            }
            Ok(Committed::answer(r))
        })
    }))
    .await
    .inspect(|r| ctx.telemetry.asked(r))
}

/// Lists requests. Leads see the queue; agents see their own.
pub async fn list_requests(ctx: &Ctx, who: &Staff, mut f: RequestFilter) -> Result<Vec<Request>> {
    let now = ctx.clock.now();
    authz::allow(who, Act::ListRequests, now)?;
    if !who.has(Role::Lead) && !who.has(Role::Auditor) {
        f.requester = Some(who.id.clone());
    }
    let mut list = ctx.store.read(read_fn(move |tx| Box::pin(async move { tx.list_requests(&f).await }))).await?;
    list.retain(|r| authz::sees_request(who, r, now));
    Ok(list)
}

/// A request with its decisions and sessions.
pub async fn get_request(ctx: &Ctx, who: &Principal, id: &str) -> Result<(Request, Vec<Decision>, Vec<Session>)> {
    let now = ctx.clock.now();
    let id = id.to_string();
    let (r, d, s) = ctx
        .store
        .read(read_fn(move |tx| {
            Box::pin(async move {
                let r = tx.get_request(&id).await?.ok_or_else(|| Error::not_found(format!("No request {id}.")))?;
                let d = tx.list_decisions(&id).await?;
                let s = tx.list_sessions(&SessionFilter { request_id: Some(id.clone()), ..Default::default() }).await?;
                Ok((r, d, s))
            })
        }))
        .await?;
    authz::allow(who, Act::ReadRequest(&r), now)?;
    Ok((r, d, s))
}

async fn load_request(tx: &mut dyn WriteTx, id: &str) -> Result<Request> {
    tx.get_request(id).await?.ok_or_else(|| Error::not_found(format!("No request {id}.")))
}

/// Approves a request, possibly narrowed, expanded or shortened.
pub async fn approve(ctx: &Ctx, approver: &Staff, id: &str, input: api::Approve) -> Result<Request> {
    let now = ctx.clock.now();
    authz::require_lead(approver)?;
    input.validate()?;
    let policy = ctx.policy.clone();
    let approver = approver.clone();
    let id = id.to_string();
    ctx.commit(write_fn(move |tx| {
        Box::pin(async move {
            let mut r = load_request(tx, &id).await?;
            authz::allow(&approver, Act::Decide(&r), now)?;
            if r.kind == RequestKind::Stepup && (input.actions.is_some() || input.minutes.is_some()) {
                return Err(Error::refused(
                    Code::StepupAsAsked,
                    Some("actions"),
                    "A step-up is approved or denied as asked: it allows its one change once, within 5 minutes.",
                ));
            }
            let grant = flow::check_approval(&policy, &r, &approver, input.actions.as_deref(), input.minutes)?;
            let note = input.note.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
            if r.kind == RequestKind::Stepup {
                let sid = r.session_id.clone().unwrap_or_default();
                let s = tx.get_session(&sid).await?.ok_or_else(|| Error::not_found("session"))?;
                let (s, ended) = super::end_if_due(tx, &policy, s, now).await?;
                if !s.is_live() {
                    let over = Error::conflict(Code::SessionEnded, "The session this change is for has ended.");
                    return Ok(Committed::refusal(over).sessions_changed(ended));
                }
                record_approval(tx, &policy, &mut r, &grant, Some(&approver), note, now).await?;
                return Ok(Committed::answer(r).sessions_changed(true));
            }
            if r.kind == RequestKind::Scope {
                let sid = r.session_id.clone().unwrap_or_default();
                let s = tx.get_session(&sid).await?.ok_or_else(|| Error::not_found("session"))?;
                let (s, ended) = super::end_if_due(tx, &policy, s, now).await?;
                if !s.is_live() {
                    let over = Error::conflict(Code::SessionEnded, "The session this scope change is for has ended.");
                    return Ok(Committed::refusal(over).sessions_changed(ended));
                }
                record_approval(tx, &policy, &mut r, &grant, Some(&approver), note, now).await?;
                apply_scope(tx, &policy, &mut r, s, &grant.actions, now).await?;
                return Ok(Committed::answer(r).sessions_changed(true));
            }
            record_approval(tx, &policy, &mut r, &grant, Some(&approver), note, now).await?;
            Ok(Committed::answer(r))
        })
    }))
    .await
    .inspect(|_| ctx.telemetry.decided(DecisionKind::Approve))
}

/// Applies an approved scope change to its live session (which changes
/// it, or ends it for a new one).
async fn apply_scope(
    tx: &mut dyn WriteTx,
    policy: &Policy,
    r: &mut Request,
    mut s: Session,
    granted: &[String],
    now: Timestamp,
) -> Result<()> {
    let old = s.scope.clone();
    let mut union = s.scope.clone();
    union.extend(granted.iter().cloned());
    let union = policy.ordered(&union);
    let added: Vec<String> = union.iter().filter(|a| !old.contains(a)).cloned().collect();
    match policy.session.scope_change {
        ScopeChange::Reapprove => {
            s.scope = union;
            let by = match (&r.decided_by, &r.decided_by_name) {
                (Some(id), Some(name)) => Approver { id: id.clone(), name: name.clone() },
                _ => Approver { id: "policy".into(), name: "Policy".into() },
            };
            if s.approvers.last() != Some(&by) {
                s.approvers.push(by);
            }
            s.last_activity_at = s.last_activity_at.max(now);
            tx.update_session(&s).await?;
            tx.append_event(
                NewEvent::new(
                    now,
                    Actor::system(),
                    text::scope_changed(policy, &s, &added),
                    EventData::ScopeChanged(data::ScopeChanged {
                        old,
                        new: s.scope.clone(),
                        added,
                        scope_request: r.id.clone(),
                    }),
                )
                .about_session(&s),
            )
            .await?;
            r.status = RequestStatus::Started;
            r.updated_at = now;
            tx.update_request(r).await?;
            Ok(())
        }
        ScopeChange::NewSession => {
            // The old session ends; the scope request becomes startable with
            // the whole new scope.
            end_session(tx, policy, s, EndReason::Superseded, now, None, None).await?;
            r.granted_actions = Some(union);
            r.updated_at = now;
            tx.update_request(r).await?;
            Ok(())
        }
    }
}

/// Denies a request with a note.
pub async fn deny(ctx: &Ctx, approver: &Staff, id: &str, note: Option<String>) -> Result<Request> {
    let now = ctx.clock.now();
    authz::require_lead(approver)?;
    input::note(note.as_deref())?;
    let approver = approver.clone();
    let id = id.to_string();
    ctx.store
        .write(write_fn(move |tx| {
            Box::pin(async move {
                let mut r = load_request(tx, &id).await?;
                authz::allow(&approver, Act::Decide(&r), now)?;
                let note = flow::check_denial(&r, &approver, note.as_deref())?;
                tx.insert_decision(&Decision {
                    id: tx.new_id("dec"),
                    request_id: r.id.clone(),
                    kind: DecisionKind::Deny,
                    decider: approver.id.clone(),
                    decider_name: approver.name.clone(),
                    actions: vec![],
                    minutes: 0,
                    removed: r.actions.clone(),
                    added: vec![],
                    note: Some(note.clone()),
                    at: now,
                })
                .await?;
                r.status = RequestStatus::Denied;
                if let Some(x) = r.stepup.as_mut() {
                    x.spend();
                }
                r.decided_by = Some(approver.id.clone());
                r.decided_by_name = Some(approver.name.clone());
                r.decided_at = Some(now);
                r.decision_note = Some(note.clone());
                r.updated_at = now;
                tx.update_request(&r).await?;
                let line = text::request_denied(&approver.name, &r, &note);
                let denial = data::Denial { note };
                let data = match r.kind {
                    RequestKind::Access | RequestKind::Breakglass => EventData::RequestDenied(denial),
                    RequestKind::Scope => EventData::ScopeDenied(denial),
                    RequestKind::Stepup => EventData::StepupDenied(denial),
                };
                let mut e =
                    NewEvent::new(now, Actor::staff(&approver.id, &approver.name), line, data).about_request(&r);
                if let Some(sid) = &r.session_id {
                    e = e.session(sid);
                }
                tx.append_event(e).await?;
                Ok(r)
            })
        }))
        .await
        .inspect(|_| ctx.telemetry.decided(DecisionKind::Deny))
}

/// Withdraws a pending or approved request; only its requester may.
pub async fn withdraw(ctx: &Ctx, who: &Staff, id: &str) -> Result<Request> {
    let now = ctx.clock.now();
    let policy = ctx.policy.clone();
    let who = who.clone();
    let id = id.to_string();
    ctx.store
        .write(write_fn(move |tx| {
            Box::pin(async move {
                let mut r = load_request(tx, &id).await?;
                authz::allow(&who, Act::Withdraw(&r), now)?;
                if !matches!(r.status, RequestStatus::Pending | RequestStatus::Approved)
                    || (r.kind == RequestKind::Scope && r.status == RequestStatus::Started)
                {
                    return Err(Error::conflict(
                        Code::NotWithdrawable,
                        format!("The request is {}; it cannot be withdrawn.", r.status.as_str()),
                    ));
                }
                r.status = RequestStatus::Withdrawn;
                if let Some(x) = r.stepup.as_mut() {
                    x.spend();
                }
                r.updated_at = now;
                tx.update_request(&r).await?;
                let e = NewEvent::new(
                    now,
                    Actor::staff(&who.id, &who.name),
                    text::request_withdrawn(&policy, &r),
                    EventData::RequestWithdrawn(data::Nothing {}),
                );
                tx.append_event(about_stepup(e.about_request(&r), &r)).await?;
                Ok(r)
            })
        }))
        .await
}

/// A step-up's events are its session's too (its timeline tells them).
fn about_stepup(e: NewEvent, r: &Request) -> NewEvent {
    match (&r.kind, &r.session_id) {
        (RequestKind::Stepup, Some(sid)) => e.session(sid),
        _ => e,
    }
}

/// Marks an approved request expired (its approval ran out unstarted, or a
/// step-up's unused).
pub(crate) async fn expire_request(
    tx: &mut dyn WriteTx,
    policy: &Policy,
    mut r: Request,
    at: Timestamp,
) -> Result<Request> {
    r.status = RequestStatus::Expired;
    if let Some(x) = r.stepup.as_mut() {
        x.spend();
    }
    r.updated_at = at;
    tx.update_request(&r).await?;
    let e = NewEvent::new(
        at,
        Actor::system(),
        text::request_expired(policy, &r, at),
        EventData::RequestExpired(data::Nothing {}),
    );
    tx.append_event(about_stepup(e.about_request(&r), &r)).await?;
    Ok(r)
}

/// Starts the session of an approved request (`POST /requests/{id}/start`).
/// Answers the session and its token for the host app `audience`.
pub async fn start(ctx: &Ctx, agent: &Staff, id: &str, audience: Option<String>) -> Result<(Session, Secret)> {
    input::app(audience.as_deref())?;
    let now = ctx.clock.now();
    let policy = ctx.policy.clone();
    let agent = agent.clone();
    let id = id.to_string();
    let (s, aud) = ctx
        .commit(write_fn(move |tx| {
            Box::pin(async move {
                let mut r = load_request(tx, &id).await?;
                authz::allow(&agent, Act::Start(&r), now)?;
                if r.requester == agent.id && r.kind != RequestKind::Stepup {
                    if let Some(at) = flow::approval_lapsed(&r, now) {
                        expire_request(tx, &policy, r, at).await?;
                        return Ok(Committed::refusal(Error::conflict(
                            Code::ApprovalExpired,
                            "The approval ran out before the session was started; ask again.",
                        )));
                    }
                }
                flow::check_start(&r, &agent.id, now)?;
                // A ticket solved or closed since the approval starts nothing.
                if let Some(t) = tx.get_ticket(&r.ticket).await? {
                    if !t.status.takes_requests() {
                        return Err(Error::conflict(
                            Code::TicketClosed,
                            format!("Ticket {} is {}; no session starts on it.", t.reference, t.status.as_str()),
                        ));
                    }
                }
                // The customer's grant, when the account needs one: live now,
                // and the session ends no later than it.
                let grant = super::consent::require_grant(tx, &r.account_id, now).await?;
                let aud = audience_for(tx, audience).await?;
                if let Some(live) = tx.find_live_session(&agent.id).await? {
                    let (live, _) = super::end_if_due(tx, &policy, live, now).await?;
                    if live.is_live() {
                        return Err(Error::conflict(
                            Code::LiveSessionExists,
                            format!("You have a live session ({}); end it first.", live.id),
                        ));
                    }
                }
                let granted = r.granted_actions.clone().unwrap_or_else(|| r.actions.clone());
                let mins = r.granted_minutes.unwrap_or(r.minutes);
                let (approver, approver_name) = match (&r.decided_by, &r.decided_by_name) {
                    (Some(a), Some(n)) => (a.clone(), n.clone()),
                    _ => ("policy".to_string(), "Policy".to_string()),
                };
                // A session that replaces one after a scope change keeps its approvers.
                let mut approvers = match &r.session_id {
                    Some(old) => tx.get_session(old).await?.map(|o| o.approvers).unwrap_or_default(),
                    None => Vec::new(),
                };
                approvers.push(Approver { id: approver.clone(), name: approver_name.clone() });
                let s = Session {
                    id: tx.new_id("ses"),
                    request_id: r.id.clone(),
                    ticket: r.ticket.clone(),
                    account_id: r.account_id.clone(),
                    account_name: r.account_name.clone(),
                    agent: agent.id.clone(),
                    agent_name: agent.name.clone(),
                    approver,
                    approver_name,
                    approvers,
                    app_id: aud.clone(),
                    scope: granted,
                    reason: r.reason.clone(),
                    started_at: now,
                    ends_at: grant.map_or(now + minutes(mins), |g| (now + minutes(mins)).min(g.expires_at)),
                    last_activity_at: now,
                    state: SessionState::Live,
                    end_reason: None,
                    ended_at: None,
                    ended_by: None,
                    end_note: None,
                    breakglass: r.kind == RequestKind::Breakglass,
                    review: None,
                };
                tx.insert_session(&s).await?;
                r.status = RequestStatus::Started;
                r.session_id = Some(s.id.clone());
                r.updated_at = now;
                tx.update_request(&r).await?;
                tx.append_event(
                    NewEvent::new(
                        now,
                        Actor::staff(&agent.id, &agent.name),
                        text::session_started(&policy, &s),
                        EventData::SessionStarted(data::SessionStarted {
                            scope: s.scope.clone(),
                            ends_at: s.ends_at,
                            approver: s.approver.clone(),
                            audience: aud.clone(),
                        }),
                    )
                    .about_session(&s),
                )
                .await?;
                if s.breakglass {
                    tx.append_event(
                        NewEvent::new(
                            now,
                            Actor::staff(&agent.id, &agent.name),
                            text::breakglass_started(&policy, &s),
                            EventData::BreakglassStarted(data::BreakglassStarted {
                                request: r.id.clone(),
                                scope: s.scope.clone(),
                                ends_at: s.ends_at,
                                reason: s.reason.clone(),
                            }),
                        )
                        .about_session(&s),
                    )
                    .await?;
                }
                Ok(Committed::answer((s, aud)).sessions_changed(true))
            })
        }))
        .await?;
    let token = ctx.keys.issue(&ctx.base_url, &aud, &s, now, ctx.ids.id("jti"))?;
    Ok((s, token))
}

/// The host app a token is for: the one named, or the only host app.
async fn audience_for(tx: &mut dyn WriteTx, named: Option<String>) -> Result<String> {
    let apps = tx.list_apps().await?;
    if let Some(n) = named {
        let app = apps
            .iter()
            .find(|a| a.id == n || a.name == n)
            .ok_or_else(|| Error::refused(Code::UnknownApp, Some("app"), format!("There is no app {n}.")))?;
        if authz::is_ticket_only(app) {
            return Err(Error::refused(
                Code::NotAHostApp,
                Some("app"),
                format!("{} only pushes tickets; a session is for a host app.", app.name),
            ));
        }
        return Ok(app.id.clone());
    }
    let hosts: Vec<_> = apps.iter().filter(|a| !authz::is_ticket_only(a)).collect();
    match (hosts.as_slice(), apps.as_slice()) {
        ([one], _) => Ok(one.id.clone()),
        (_, [one]) => Ok(one.id.clone()),
        (_, []) => Err(Error::conflict(Code::NoHostApp, "No host app is registered; add one with `actas app add`.")),
        _ => Err(Error::refused(
            Code::AppRequired,
            Some("app"),
            "Several apps are registered: name the host app to start the session in.",
        )),
    }
}

/// Asks for more actions in a live session (`POST /sessions/{id}/scope`).
pub async fn request_scope(ctx: &Ctx, agent: &Staff, session_id: &str, input: api::ScopeChange) -> Result<Request> {
    input.validate()?;
    let now = ctx.clock.now();
    let policy = ctx.policy.clone();
    let agent = agent.clone();
    let sid = session_id.to_string();
    ctx.commit(write_fn(move |tx| {
        Box::pin(async move {
            let s = tx.get_session(&sid).await?.ok_or_else(|| Error::not_found(format!("No session {sid}.")))?;
            authz::allow(&agent, Act::AskScope(&s), now)?;
            let (s, ended) = super::end_if_due(tx, &policy, s, now).await?;
            if !s.is_live() {
                let over = Error::conflict(Code::SessionEnded, "The session has ended.");
                return Ok(Committed::refusal(over).sessions_changed(ended));
            }
            let ticket = tx.get_ticket(&s.ticket).await?;
            let asked = data::Asked::Scope {
                session_id: sid.clone(),
                actions: input.actions.clone(),
                reason: input.reason.clone(),
            };
            let checked = flow::check_actions(&policy, &input.actions).and_then(|a| {
                let new: Vec<String> = a.into_iter().filter(|x| !s.scope.contains(x)).collect();
                if new.is_empty() {
                    return Err(Error::refused(
                        Code::NothingNew,
                        Some("actions"),
                        "The session allows these actions already.",
                    ));
                }
                Ok(new)
            });
            let subject = ticket.as_ref().map(|t| t.subject.as_str());
            let checked = checked.and_then(|a| {
                actas_core::reason::Reason::parse(&input.reason, &policy.reason, subject).map(|r| (a, r))
            });
            let (actions, reason) = match checked {
                Ok(v) => v,
                Err(e @ Error::Refused { .. }) => {
                    let mut ev = refused_event(&agent, ticket.as_ref(), &s.ticket, &e, now, asked);
                    ev.session_id = Some(s.id.clone());
                    tx.append_event(ev).await?;
                    return Ok(Committed::refusal(e));
                }
                Err(e) => return Err(e),
            };
            let needs_person = flow::needs_person(&policy, &actions);
            let mut r = Request::pending(
                tx.new_id("req"),
                NewRequest {
                    kind: RequestKind::Scope,
                    ticket: s.ticket.clone(),
                    account_id: s.account_id.clone(),
                    account_name: s.account_name.clone(),
                    reason: reason.into_string(),
                    actions,
                    minutes: ((s.ends_at - now).num_minutes().max(1) as u32).min(policy.session.max_minutes),
                    session_id: Some(s.id.clone()),
                    playbook: ticket.as_ref().and_then(|t| policy.playbook_for(&t.tags)).map(|b| b.name.clone()),
                    stepup: None,
                },
                &agent,
                now,
            );
            tx.insert_request(&r).await?;
            tx.append_event(
                NewEvent::new(
                    now,
                    Actor::staff(&agent.id, &agent.name),
                    text::scope_requested(&policy, &r),
                    EventData::ScopeRequested(data::ScopeRequested {
                        reason: r.reason.clone(),
                        actions: r.actions.clone(),
                        current: s.scope.clone(),
                        needs_approval: needs_person,
                    }),
                )
                .account(&r.account_id)
                .ticket(&r.ticket)
                .request(&r.id)
                .session(&s.id)
                .agent(&agent.id),
            )
            .await?;
            if needs_person {
                return Ok(Committed::answer(r));
            }
            approve_by_policy(tx, &policy, &mut r, now).await?;
            let granted = r.actions.clone();
            apply_scope(tx, &policy, &mut r, s, &granted, now).await?;
            Ok(Committed::answer(r).sessions_changed(true))
        })
    }))
    .await
    .inspect(|r| ctx.telemetry.asked(r))
}
