//! `GET /queue`: the requests waiting for a lead's decision, oldest first
//! (the live box, `?fragment=1`). Each card says in one glance who asks,
//! under which ticket (its subject and a link to it in its system), for
//! which customer account, why, for how long and until when, and what:
//! the asked actions grouped (view, change, needs a lead, sensitive), what
//! the ticket's playbook suggests and, highlighted, what goes beyond it. A
//! scope request shows the live session's current scope, the session's own
//! reason and only the actions it adds.
//!
//! One click on "Approve" approves as asked; "Change before approving"
//! narrows, expands, shortens and notes; "Deny" needs a reason. They post
//! to `/requests/{id}/approve` and `/requests/{id}/deny`, which answer with
//! a redirect to `/queue?decided={id}` (post/redirect/get), where the
//! decision is confirmed in a sentence read back from the request itself;
//! a refusal comes back next to its request.
use actas_api as api;
use actas_core::limits::{self, one_line};
use actas_core::model::{Request, RequestKind, RequestStatus, Session, Ticket};
use actas_core::policy::{Approval, Policy};
use actas_core::{Error, Timestamp};
use actas_store::{read_fn, RequestFilter};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use maud::{html, Markup};
use serde::Deserialize;

use super::{
    action_choices, clock, clock_words, grouped_labels, minute_choices, refusal, urlencode, Answer, FieldError,
};
use crate::authz::Act;
use crate::console::auth::{permit, Fields, SignedIn};
use crate::console::ui::{action_badges, badge, moment, request_badge};
use crate::console::{fragment, layout, live_box, page, version, ConsoleError};
use crate::service::{self, Principal};
use crate::AppState;

/// A waiting request with what its card shows beside it: its ticket and,
/// for a scope request, the session it would grow.
struct Item {
    request: Request,
    ticket: Option<Ticket>,
    session: Option<Session>,
}

/// Which of a card's forms a refusal came from, so that it opens again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Approve,
    Change,
    Deny,
}

/// A refusal shown at its request.
struct Refusal<'a> {
    id: &'a str,
    form: Form,
    err: &'a FieldError,
}

fn queue_view(policy: &Policy, who: &SignedIn, now: Timestamp, q: &Queue, err: Option<&Refusal>) -> Markup {
    let items = &q.items;
    html! {
        @if !q.glass.is_empty() {
            section #breakglass-review aria-labelledby="breakglass-h" {
                h2 #breakglass-h { "Break-glass: no lead approved these sessions" }
                @for s in &q.glass { (glass_card(policy, who, now, s)) }
            }
        }
        @if items.is_empty() { p.empty { "No request waits for a decision." } }
        @for item in items {
            (card(policy, who, now, item, err.filter(|e| e.id == item.request.id)))
        }
    }
}

/// A break-glass session a lead has not reviewed: live (revoke it) or ended
/// (review it). Every lead is told of it once, by a browser notification.
fn glass_card(policy: &Policy, who: &SignedIn, now: Timestamp, s: &Session) -> Markup {
    let own = s.agent == who.staff.id;
    let sid = &s.id;
    html! {
        article.card.breakglass id=(format!("g-{sid}")) aria-labelledby=(format!("gh-{sid}"))
            data-notify-key=[(!own).then(|| format!("glass-{sid}"))]
            data-notify=[(!own).then(|| format!(
                "Break-glass: {} is in {} without approval", one_line(&s.agent_name), one_line(&s.account_label())
            ))] {
            div.card-head {
                h3 id=(format!("gh-{sid}")) { (s.agent_name) " in " (s.account_label()) }
                @if s.is_live() { (badge("denied", "live, no approval")) } @else { (badge("waiting", "awaits review")) }
            }
            p { "Ticket " (s.ticket) ", started " (moment(now, s.started_at))
                @if s.is_live() { ", ends " (moment(now, s.ends_at)) } @else if let Some(at) = s.ended_at { ", ended " (moment(now, at)) }
                "." }
            p { "Reason: " q { (one_line(&s.reason)) } }
            p { "Allowed: " (policy.labels(&s.scope)) "." }
            p {
                a.button href=(format!("/sessions/{sid}")) {
                    @if s.is_live() { "Watch or revoke it" } @else if own { "Another lead reviews it" } @else { "Review it" }
                }
            }
        }
    }
}

/// The browser notification of a request new in the queue (`console.js`
/// shows it when the card first appears after a refresh).
fn new_request_words(r: &Request) -> String {
    let what = match r.kind {
        RequestKind::Access => "New request from",
        RequestKind::Scope => "More actions asked by",
        RequestKind::Stepup => "One change asked by",
        RequestKind::Breakglass => "Break-glass by",
    };
    format!("{what} {} for ticket {}", one_line(&r.requester_name), one_line(&r.ticket))
}

/// One request's card.
fn card(policy: &Policy, who: &SignedIn, now: Timestamp, item: &Item, err: Option<&Refusal>) -> Markup {
    let r = &item.request;
    let rid = &r.id;
    let scope = r.kind == RequestKind::Scope;
    // A scope request adds to the live session: only what it does not allow yet.
    let current: &[String] = item.session.as_ref().map(|s| s.scope.as_slice()).unwrap_or(&[]);
    let asked: Vec<String> = r.actions.iter().filter(|a| !current.contains(a)).cloned().collect();
    let playbook = r.playbook.as_deref().and_then(|n| policy.playbook(n));
    let beyond = playbook.map(|b| policy.beyond(b, &asked)).unwrap_or_default();
    let own = r.requester == who.staff.id;
    if r.kind == RequestKind::Stepup {
        return stepup_card(policy, who, now, item, err);
    }
    html! {
        article.card.decision id=(format!("r-{rid}")) aria-labelledby=(format!("h-{rid}"))
            data-notify-key=[(!own).then(|| format!("new-{rid}"))]
            data-notify=[(!own).then(|| new_request_words(r))] {
            div.card-head {
                h2 id=(format!("h-{rid}")) {
                    (r.requester_name) ", ticket " (r.ticket)
                    @if scope { " (more actions for a live session)" }
                }
                p.meta { (request_badge(r.status)) " asked " (moment(now, r.created_at)) }
            }
            (ticket_line(r, item.ticket.as_ref()))
            dl.facts {
                dt { "Customer account" }
                dd { strong { (r.account_label()) } }
                @if scope {
                    dt { "Why the session was opened" }
                    dd { @match &item.session { Some(s) => { q { (one_line(&s.reason)) } } None => { "—" } } }
                    dt { "Why more actions now" }
                    dd { q { (one_line(&r.reason)) } }
                    dt { "The session" }
                    dd { (session_line(item.session.as_ref(), now)) }
                } @else {
                    dt { "Reason" }
                    dd { q { (one_line(&r.reason)) } }
                    dt { "Time" }
                    dd { (time_line(policy, r, now)) }
                }
            }
            @if scope {
                div.scope-now {
                    h3 { "The session allows now" }
                    @if current.is_empty() { p.hint { "Nothing: the session is no longer live." } }
                    @else { (grouped_labels(policy, current, &[])) }
                }
                div.scope-add {
                    h3 { "It asks to add" }
                    (grouped_labels(policy, &asked, &beyond))
                }
            } @else {
                div.scope-add {
                    h3 { "Asked for" }
                    (grouped_labels(policy, &asked, &beyond))
                }
            }
            @if let Some(b) = playbook {
                p.suggestion {
                    "Suggested for this kind of case (" (b.label) "): " (policy.labels(&b.actions)) "; " (b.minutes) " minutes."
                }
                @let longer = !scope && r.minutes > b.minutes;
                @if beyond.is_empty() && !longer {
                    p.within { "Nothing is asked beyond the suggestion." }
                } @else {
                    p.beyond {
                        strong { "Beyond the suggestion: " }
                        @if !beyond.is_empty() { (policy.labels(&beyond)) }
                        @if longer {
                            @if !beyond.is_empty() { "; " }
                            (r.minutes) " minutes instead of " (b.minutes)
                        }
                        "."
                    }
                }
            }
            @if let Some(e) = err { p.alert role="alert" id=(format!("e-{rid}")) { (e.err.detail) } }
            @if own {
                p.hint { "You asked for this; another lead decides it." }
            } @else {
                (decide(policy, who, r, current, &asked, err.map(|e| e.form)))
            }
        }
    }
}

/// A step-up's card: the one change, old to new, and its two decisions.
fn stepup_card(policy: &Policy, who: &SignedIn, now: Timestamp, item: &Item, err: Option<&Refusal>) -> Markup {
    let r = &item.request;
    let rid = &r.id;
    let own = r.requester == who.staff.id;
    let change = r.stepup.clone().unwrap_or_default();
    let action = r.actions.first().map(String::as_str).unwrap_or_default();
    let current: &[String] = item.session.as_ref().map(|s| s.scope.as_slice()).unwrap_or(&[]);
    html! {
        article.card.decision.stepup id=(format!("r-{rid}")) aria-labelledby=(format!("h-{rid}"))
            data-notify-key=[(!own).then(|| format!("new-{rid}"))]
            data-notify=[(!own).then(|| new_request_words(r))] {
            div.card-head {
                h2 id=(format!("h-{rid}")) { (r.requester_name) ", ticket " (r.ticket) " (one change in a live session)" }
                p.meta { (request_badge(r.status)) " asked " (moment(now, r.created_at)) }
            }
            (ticket_line(r, item.ticket.as_ref()))
            dl.facts {
                dt { "Customer account" }
                dd { strong { (r.account_label()) } }
                dt { "Why the session was opened" }
                dd { @match &item.session { Some(s) => { q { (one_line(&s.reason)) } } None => { "—" } } }
                dt { "Why this change" }
                dd { q { (one_line(&r.reason)) } }
                dt { "The session" }
                dd {
                    @match &item.session {
                        Some(s) if s.is_live() && s.ends_at > now => {
                            a href=(format!("/sessions/{}", urlencode(&s.id))) { "Live" } " until " (clock(s.ends_at)) "."
                        }
                        Some(s) => { a href=(format!("/sessions/{}", urlencode(&s.id))) { "Ended" } ": approving it changes nothing." }
                        None => { "Not found." }
                    }
                }
            }
            div.scope-add {
                h3 { "The one change" }
                p.change-action {
                    strong { (policy.label(action)) }
                    @if let Some(a) = policy.action(action) { (action_badges(a)) }
                    @if let Some(t) = change.target.as_ref().and_then(actas_core::audit::data::Target::words) { " on " (t) }
                }
                @if change.changes.is_empty() {
                    p.hint { "No values were named: any change of this kind is allowed, once." }
                } @else {
                    table.data.changes {
                        thead { tr { th scope="col" { "Field" } th scope="col" { "Now" } th scope="col" { "Would become" } } }
                        tbody {
                            @for c in &change.changes {
                                tr {
                                    th scope="row" { (one_line(&c.field.replace(['_', '.'], " "))) }
                                    td { (one_line(c.old.as_deref().unwrap_or("—"))) }
                                    td { strong { (one_line(c.new.as_deref().unwrap_or("—"))) } }
                                }
                            }
                        }
                    }
                }
                p.hint {
                    "Approved, it may be made once within " (actas_core::stepup::USE_WITHIN_MINUTES)
                    " minutes; the session keeps allowing only what it allows now"
                    @if !current.is_empty() { " (" (policy.labels(current)) ")" }
                    "."
                }
            }
            @if let Some(e) = err { p.alert role="alert" id=(format!("e-{rid}")) { (e.err.detail) } }
            @if own {
                p.hint { "You asked for this; another lead decides it." }
            } @else {
                div.decide {
                    form.approve method="post" action=(format!("/requests/{rid}/approve")) {
                        input type="hidden" name="csrf" value=(who.csrf);
                        input type="hidden" name="as_asked" value="1";
                        button.primary type="submit" { "Approve this one change" }
                    }
                    details.deny id=(format!("d-{rid}")) open[err.map(|e| e.form) == Some(Form::Deny)] {
                        summary { "Deny…" }
                        form method="post" action=(format!("/requests/{rid}/deny")) {
                            input type="hidden" name="csrf" value=(who.csrf);
                            label for=(format!("dn-{rid}")) { "Why deny it (required; " (r.requester_name) " reads it)" }
                            textarea id=(format!("dn-{rid}")) name="note" required maxlength=(limits::NOTE_CHARS) {}
                            p { button.danger type="submit" { "Deny" } }
                        }
                    }
                }
            }
        }
    }
}

/// The ticket: its reference, its subject, and a link to it in its system.
fn ticket_line(r: &Request, t: Option<&Ticket>) -> Markup {
    html! {
        p.ticket {
            @match t {
                Some(t) => {
                    "Ticket " (r.ticket) ": " span.subject { (one_line(&t.subject)) }
                    @if t.by_hand() {
                        " " (badge("hand", "typed in by hand"))
                    } @else if let Some(url) = &t.url {
                        " · " a href=(url) rel="noopener noreferrer" target="_blank" {
                            "Open it in " (actas_core::audit::ticket_system(t.source))
                        }
                    }
                }
                None => { "Ticket " (r.ticket) }
            }
        }
    }
}

/// Minutes, planned start and planned end of an access request approved
/// now: the agent starts it when they choose, at the latest when the
/// approval runs out; it ends at the latest that many minutes later.
fn time_line(policy: &Policy, r: &Request, now: Timestamp) -> Markup {
    let start_by = now + actas_core::clock::minutes(policy.session.approval_valid_minutes);
    let end_by = start_by + actas_core::clock::minutes(r.minutes);
    html! {
        strong { (r.minutes) " minutes" }
        " · starts when " (r.requester_name) " starts it, at the latest " (clock(start_by))
        " · ends at the latest " (clock(end_by))
    }
}

/// The live session a scope request would grow: until when it runs.
fn session_line(s: Option<&Session>, now: Timestamp) -> Markup {
    html! {
        @match s {
            Some(s) if s.is_live() && s.ends_at > now => {
                a href=(format!("/sessions/{}", urlencode(&s.id))) { "Live" } " until " (clock(s.ends_at))
                "; more actions do not make it longer."
            }
            Some(s) => { a href=(format!("/sessions/{}", urlencode(&s.id))) { "Ended" } ": approving it changes nothing." }
            None => { "Not found." }
        }
    }
}

/// The forms that decide: Approve as asked, Change before approving, Deny.
fn decide(
    policy: &Policy,
    who: &SignedIn,
    r: &Request,
    current: &[String],
    asked: &[String],
    open: Option<Form>,
) -> Markup {
    let rid = &r.id;
    let scope = r.kind == RequestKind::Scope;
    let approve = format!("/requests/{rid}/approve");
    let asked_beyond_playbook = |name: &str| {
        let b = r.playbook.as_deref().and_then(|n| policy.playbook(n));
        asked.iter().any(|a| a == name) && b.is_some_and(|b| !b.actions.iter().any(|x| x == name))
    };
    html! {
        div.decide {
            form.approve method="post" action=(approve) {
                input type="hidden" name="csrf" value=(who.csrf);
                @for a in asked { input type="hidden" name="actions" value=(a); }
                button.primary type="submit" { "Approve" }
            }
            details.change id=(format!("c-{rid}")) open[open == Some(Form::Change)] {
                summary { "Change before approving" }
                form method="post" action=(approve) {
                    input type="hidden" name="csrf" value=(who.csrf);
                    p.hint {
                        @if scope { "Untick to narrow, tick to add more; what the session allows now stays." }
                        @else { "Untick to narrow, tick to expand, or shorten the time." }
                    }
                    (action_choices(
                        policy,
                        &format!("g-{rid}"),
                        |a| a.approval != Approval::Forbidden && !current.contains(&a.name),
                        asked,
                        |a| asked_beyond_playbook(&a.name).then(|| html! { span.beyond-mark { "beyond the suggestion" } }),
                    ))
                    div.row {
                        @if !scope {
                            label for=(format!("m-{rid}")) { "Minutes" }
                            select id=(format!("m-{rid}")) name="minutes" {
                                @for m in minute_choices(r.minutes, r.minutes) {
                                    option value=(m) selected[m == r.minutes] { (m) " minutes" }
                                }
                            }
                        }
                        label for=(format!("n-{rid}")) { "Note (optional)" }
                        input type="text" id=(format!("n-{rid}")) name="note" maxlength=(limits::NOTE_CHARS);
                    }
                    p { button.primary type="submit" { "Approve with these changes" } }
                }
            }
            details.deny id=(format!("d-{rid}")) open[open == Some(Form::Deny)] {
                summary { "Deny…" }
                form method="post" action=(format!("/requests/{rid}/deny")) {
                    input type="hidden" name="csrf" value=(who.csrf);
                    label for=(format!("dn-{rid}")) { "Why deny it (required; " (r.requester_name) " reads it)" }
                    textarea id=(format!("dn-{rid}")) name="note" required maxlength=(limits::NOTE_CHARS) {}
                    p { button.danger type="submit" { "Deny" } }
                }
            }
        }
    }
}

/// What the queue shows: break-glass sessions to look at, then requests.
struct Queue {
    glass: Vec<Session>,
    items: Vec<Item>,
}

async fn queue_of(state: &AppState, who: &SignedIn) -> Result<Queue, ConsoleError> {
    let glass = service::awaiting_review(&state.ctx, &who.staff).await?;
    Ok(Queue { glass, items: pending(state, who).await? })
}

async fn pending(state: &AppState, who: &SignedIn) -> Result<Vec<Item>, ConsoleError> {
    let f = RequestFilter { status: Some(RequestStatus::Pending), ..Default::default() };
    let reqs = service::list_requests(&state.ctx, &who.staff, f).await?;
    // A lead reads every ticket and session: the cards' tickets and
    // sessions in one read.
    let wanted: Vec<(String, Option<String>)> = reqs
        .iter()
        .map(|r| (r.ticket.clone(), r.session_id.clone().filter(|_| r.kind != RequestKind::Access)))
        .collect();
    let found = state
        .ctx
        .store
        .read(read_fn(move |tx| {
            Box::pin(async move {
                let mut out = Vec::with_capacity(wanted.len());
                for (t, s) in &wanted {
                    let ticket = tx.get_ticket(t).await?;
                    let session = match s {
                        Some(s) => tx.get_session(s).await?,
                        None => None,
                    };
                    out.push((ticket, session));
                }
                Ok(out)
            })
        }))
        .await?;
    Ok(reqs.into_iter().zip(found).map(|(request, (ticket, session))| Item { request, ticket, session }).collect())
}

/// The queue in its live box; `err` is shown without changing the box's
/// version, so the sentence stays until the queue itself changes.
fn queue_box(policy: &Policy, who: &SignedIn, now: Timestamp, q: &Queue, err: Option<&Refusal>) -> Markup {
    let v = version(&queue_view(policy, who, now, q, None));
    live_box("queue-list", "/queue?fragment=1", &v, queue_view(policy, who, now, q, err))
}

/// `GET /queue` query: `?fragment=1` for the live box, `?decided=ID` right
/// after a decision.
#[derive(Debug, Default, Deserialize)]
pub struct QueueQuery {
    #[serde(default)]
    fragment: Option<String>,
    #[serde(default)]
    decided: Option<String>,
}

/// `GET /queue`: pending requests, oldest first (`?fragment=1`: the list only).
pub async fn queue(State(state): State<AppState>, who: SignedIn, Query(q): Query<QueueQuery>) -> Answer {
    permit(&state, &who, Act::ReadQueue, "The approval queue")?;
    let items = queue_of(&state, &who).await?;
    let policy = &state.ctx.policy;
    let now = state.ctx.clock.now();
    if q.fragment.is_some() {
        return Ok(fragment(queue_view(policy, &who, now, &items, None)));
    }
    let done = match q.decided.as_deref() {
        Some(id) => confirmation(&state, &who, id).await,
        None => None,
    };
    let body = html! {
        @if let Some(line) = done { p.ok role="status" #decided { (line) } }
        (queue_box(policy, &who, now, &items, None))
    };
    Ok(page(StatusCode::OK, layout("Approval queue", Some(&who), body)))
}

/// The sentence that confirms the signed-in lead's decision on request
/// `id`, read back from the request (nothing when they did not decide it).
async fn confirmation(state: &AppState, who: &SignedIn, id: &str) -> Option<String> {
    let (r, _, _) = service::get_request(&state.ctx, &Principal::Staff(who.staff.clone()), id).await.ok()?;
    if r.decided_by.as_deref() != Some(who.staff.id.as_str()) {
        return None;
    }
    confirmation_words(&state.ctx.policy, &r)
}

fn confirmation_words(policy: &Policy, r: &Request) -> Option<String> {
    let whose = format!("{}'s request", r.requester_name);
    let granted = r.granted_actions.clone().unwrap_or_default();
    Some(match (r.kind, r.status) {
        (RequestKind::Access, RequestStatus::Approved) => {
            let by = r.start_by?;
            let minutes = r.granted_minutes.unwrap_or(r.minutes);
            let end = by + actas_core::clock::minutes(minutes);
            let changed = if granted != r.actions || minutes != r.minutes {
                format!(" As changed: {}; {minutes} minutes.", policy.labels(&granted))
            } else {
                String::new()
            };
            format!(
                "Approved {whose} for ticket {}: it can be started until {} and ends at the latest {}.{changed}",
                r.ticket,
                clock_words(by),
                clock_words(end)
            )
        }
        (RequestKind::Access, RequestStatus::Started) => {
            format!("Approved {whose} for ticket {}: the session has started.", r.ticket)
        }
        (RequestKind::Scope, RequestStatus::Started) => format!(
            "Approved {whose} for more actions under ticket {}: the live session now also allows {}.",
            r.ticket,
            policy.labels(&granted)
        ),
        (RequestKind::Scope, RequestStatus::Approved) => format!(
            "Approved {whose} for more actions under ticket {}: the old session ended, and a new one with {} can be started until {}.",
            r.ticket,
            policy.labels(&granted),
            clock_words(r.start_by?)
        ),
        (RequestKind::Stepup, RequestStatus::Approved) => format!(
            "Approved {whose} for one change under ticket {}: {}, once, until {}.",
            r.ticket,
            actas_core::audit::stepup_change(policy, r),
            clock_words(r.start_by?)
        ),
        (_, RequestStatus::Denied) => format!(
            "Denied {whose} for ticket {}. Your reason is on the request: \u{201c}{}\u{201d}",
            r.ticket,
            one_line(r.decision_note.as_deref().unwrap_or_default())
        ),
        _ => return None,
    })
}

/// Answers a decision: on success the queue with its confirmation (by a
/// redirect, so a reload posts nothing again); on a refusal the queue with
/// the sentence next to its request.
async fn decided(
    state: &AppState,
    who: &SignedIn,
    id: &str,
    form: Form,
    outcome: actas_core::Result<Request>,
) -> Answer {
    let e = match outcome {
        Ok(_) => return Ok(Redirect::to(&format!("/queue?decided={}", urlencode(id))).into_response()),
        Err(
            e @ (Error::Refused { .. } | Error::BadRequest { .. } | Error::Forbidden { .. } | Error::Conflict { .. }),
        ) => e,
        Err(e) => return Err(e.into()),
    };
    let (status, err) = refusal(e);
    let items = queue_of(state, who).await?;
    let now = state.ctx.clock.now();
    // A refusal of the one-click approval about the actions or minutes is
    // mended in "Change before approving".
    let form = match (form, err.field.as_str()) {
        (Form::Approve, "actions" | "minutes") => Form::Change,
        (f, _) => f,
    };
    let at = Refusal { id, form, err: &err };
    let body = queue_box(&state.ctx.policy, who, now, &items, Some(&at));
    let body = if items.items.iter().any(|i| i.request.id == id) {
        body
    } else {
        html! { p.alert role="alert" { (err.detail) } (body) }
    };
    Ok(page(status, layout("Approval queue", Some(who), body)))
}

/// `POST /requests/{id}/approve`: approve as asked, or narrowed, expanded
/// or shortened ("Change before approving").
pub async fn approve(State(state): State<AppState>, who: SignedIn, Path(id): Path<String>, form: Fields) -> Answer {
    who.check_csrf(&form)?;
    permit(&state, &who, Act::ReadQueue, "Deciding requests")?;
    let minutes = form.get("minutes").trim().parse::<u32>().ok();
    let note = Some(form.get("note").to_string()).filter(|n| !n.trim().is_empty());
    // The one-click form sends only what was asked; the change form also
    // sends its note field (empty or not).
    let which = if form.0.iter().any(|(k, _)| k == "note") { Form::Change } else { Form::Approve };
    // A step-up's form approves it as asked: it names no actions.
    let actions = (form.get("as_asked") != "1").then(|| form.all("actions"));
    let input = api::Approve { actions, minutes, note };
    let outcome = service::approve(&state.ctx, &who.staff, &id, input).await;
    decided(&state, &who, &id, which, outcome).await
}

/// `POST /requests/{id}/deny`: deny with a note.
pub async fn deny(State(state): State<AppState>, who: SignedIn, Path(id): Path<String>, form: Fields) -> Answer {
    who.check_csrf(&form)?;
    permit(&state, &who, Act::ReadQueue, "Deciding requests")?;
    let outcome = service::deny(&state.ctx, &who.staff, &id, Some(form.get("note").to_string())).await;
    decided(&state, &who, &id, Form::Deny, outcome).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_denial_is_confirmed_with_its_reason_and_an_approval_with_its_clock_times() {
        let p = Policy::shipped();
        let at = |h, m| chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, 25, h, m, 0).single().unwrap();
        let mut r = Request::pending(
            "req_1".into(),
            actas_core::model::NewRequest {
                kind: RequestKind::Access,
                ticket: "48192".into(),
                account_id: "acct_42".into(),
                account_name: None,
                reason: "Customer can't update tax settings".into(),
                actions: vec!["settings.view".into()],
                minutes: 15,
                session_id: None,
                playbook: None,
                stepup: None,
            },
            &actas_core::model::Staff {
                id: "maria".into(),
                name: "Maria Lopez".into(),
                roles: vec![actas_core::model::Role::Agent],
                disabled: false,
                created_at: at(14, 0),
            },
            at(14, 0),
        );
        r.status = RequestStatus::Approved;
        r.granted_actions = Some(r.actions.clone());
        r.granted_minutes = Some(15);
        r.start_by = Some(at(14, 10));
        assert_eq!(
            confirmation_words(&p, &r).unwrap(),
            "Approved Maria Lopez's request for ticket 48192: it can be started until 14:10 UTC and ends at the latest 14:25 UTC."
        );
        r.status = RequestStatus::Denied;
        r.decision_note = Some("Billing goes through finance".into());
        assert_eq!(
            confirmation_words(&p, &r).unwrap(),
            "Denied Maria Lopez's request for ticket 48192. Your reason is on the request: \u{201c}Billing goes through finance\u{201d}"
        );
        r.status = RequestStatus::Withdrawn;
        assert_eq!(confirmation_words(&p, &r), None);
    }
}
