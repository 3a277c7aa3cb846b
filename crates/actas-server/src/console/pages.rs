//! The console's pages: home, launch from a ticket and the request form,
//! a request, a session with its timeline, and the approval queue.
//!
//! Handlers are thin: they take the signed-in person and the form, check
//! the CSRF token and the role the page needs, call a `service` operation
//! and render. A refusal with a field is shown next to that field, with the
//! person's input kept.

use actas_api as api;
use actas_core::audit::Event;
use actas_core::model::{Request, RequestKind, RequestStatus, Role, Session, Ticket};
use actas_core::policy::{Approval, Policy};
use actas_core::{Error, Timestamp};
use actas_store::{tx_fn, RequestFilter};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use serde::Deserialize;

use super::auth::{require, Fields, SignedIn};
use super::{layout, page, ConsoleError};
use crate::service::{self, Principal};
use crate::AppState;

type Answer = Result<Response, ConsoleError>;

fn when(t: Timestamp) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn status_words(r: &Request) -> String {
    match r.status {
        RequestStatus::Pending => "Waiting for a lead's decision".into(),
        RequestStatus::Approved => match r.start_by {
            Some(t) => format!("Approved: start it before {}", when(t)),
            None => "Approved".into(),
        },
        RequestStatus::Denied => "Denied".into(),
        RequestStatus::Withdrawn => "Withdrawn".into(),
        RequestStatus::Expired => "Expired: the approval ran out before a session was started".into(),
        RequestStatus::Started => "Started".into(),
    }
}

fn approval_words(policy: &Policy, name: &str) -> String {
    match policy.action(name) {
        Some(a) => match a.approval {
            Approval::None => "no approval needed".into(),
            Approval::Forbidden => "never allowed".into(),
            Approval::Required => {
                let roles: Vec<&str> = a.approvers.iter().map(|r| r.as_str()).collect();
                format!("needs approval by a {}", roles.join(" or "))
            }
        },
        None => "not in the policy".into(),
    }
}

/// Durations offered: common steps up to `max`, with `max` and `default`.
fn minute_choices(max: u32, default: u32) -> Vec<u32> {
    let mut v: Vec<u32> = [5, 10, 15, 20, 25, 30, 45, 60, 90, 120].into_iter().filter(|m| *m <= max).collect();
    v.extend([max, default.min(max)]);
    v.retain(|m| *m > 0);
    v.sort_unstable();
    v.dedup();
    v
}

/// The labels of the allowed and the not-allowed actions for `chosen`.
fn split_lists<'p>(policy: &'p Policy, chosen: &[String]) -> (Vec<&'p str>, Vec<&'p str>) {
    let mut will = Vec::new();
    let mut wont = Vec::new();
    for a in policy.actions() {
        if a.approval != Approval::Forbidden && chosen.contains(&a.name) {
            will.push(a.label.as_str());
        } else {
            wont.push(a.label.as_str());
        }
    }
    (will, wont)
}

fn lists(policy: &Policy, chosen: &[String], live: bool) -> Markup {
    let (will, wont) = split_lists(policy, chosen);
    html! {
        div.lists aria-live=[live.then_some("polite")] {
            div {
                h2 { "You will be able to…" }
                ul #will {
                    @for l in &will { li { (l) } }
                    @if will.is_empty() { li { "Nothing yet: tick at least one action." } }
                }
            }
            div {
                h2 { "You will not be able to…" }
                ul #wont { @for l in &wont { li { (l) } } }
            }
        }
    }
}

/// An error for one field of a form (or the form as a whole).
#[derive(Debug, Clone)]
struct FieldError {
    field: String,
    detail: String,
}

impl FieldError {
    fn at<'a>(err: Option<&'a FieldError>, field: &str) -> Option<&'a str> {
        err.filter(|e| e.field == field).map(|e| e.detail.as_str())
    }
}

fn field_error(id: &str, detail: Option<&str>) -> Markup {
    html! { @if let Some(d) = detail { p.error id=(id) role="alert" { (d) } } }
}

fn signed_in_line(who: &SignedIn) -> Markup {
    let roles: Vec<&str> = who.staff.roles.iter().map(|r| r.as_str()).collect();
    html! { p { "Signed in as " strong { (who.staff.name) } " (" (who.staff.id) "; " (roles.join(", ")) ")." } }
}

fn ticket_form(value: &str) -> Markup {
    html! {
        form method="get" action="/launch" {
            label for="ticket" { "Ticket reference" }
            div.row {
                input type="text" id="ticket" name="ticket" value=(value) required inputmode="text";
                button type="submit" { "Open the request form" }
            }
        }
    }
}

/// `GET /`.
pub async fn home(State(state): State<AppState>, who: SignedIn) -> Answer {
    let ctx = &state.ctx;
    let agent = who.staff.has(Role::Agent);
    let lead = who.staff.has(Role::Lead);
    let (live, mine) = if agent {
        let live = service::live_session_of(ctx, &who.staff).await?;
        let f = RequestFilter { requester: Some(who.staff.id.clone()), ..Default::default() };
        let mut mine = service::list_requests(ctx, &who.staff, f).await?;
        mine.reverse();
        mine.truncate(20);
        (live, mine)
    } else {
        (None, Vec::new())
    };
    let pending = if lead {
        let f = RequestFilter { status: Some(RequestStatus::Pending), ..Default::default() };
        service::list_requests(ctx, &who.staff, f).await?.into_iter().filter(|r| r.requester != who.staff.id).count()
    } else {
        0
    };
    let body = html! {
        (signed_in_line(&who))
        @if agent {
            section {
                h2 { "Your live session" }
                @match &live {
                    Some(s) => {
                        div.card {
                            p { "Acting as " strong { (s.account_label()) } " under ticket " (s.ticket) ", until " (when(s.ends_at)) "." }
                            p { a href=(format!("/sessions/{}", s.id)) { "Open the session and its timeline" } }
                            form method="post" action=(format!("/sessions/{}/end", s.id)) {
                                input type="hidden" name="csrf" value=(who.csrf);
                                button type="submit" { "End the session" }
                            }
                        }
                    }
                    None => { p { "You have no live session." } }
                }
            }
            section {
                h2 { "Ask for access from a ticket" }
                (ticket_form(""))
            }
            section {
                h2 { "My requests" }
                @if mine.is_empty() { p { "You have not asked for access yet." } }
                ul {
                    @for r in &mine {
                        li {
                            a href=(format!("/requests/{}", r.id)) { "Ticket " (r.ticket) ", " (r.account_label()) }
                            " — " span.status { (status_words(r)) } " (asked " (when(r.created_at)) ")"
                        }
                    }
                }
            }
        }
        @if lead {
            section {
                h2 { "Approval queue" }
                p { (pending) @if pending == 1 { " request waits" } @else { " requests wait" } " for your decision. " a href="/queue" { "Open the approval queue" } }
            }
        }
        @if !agent && !lead {
            p { "The console has no pages for your roles yet. The audit trail and administration are reached through the API and the actas command." }
        }
    };
    Ok(page(StatusCode::OK, layout("Home", Some(&who), body)))
}

/// `GET /launch?ticket=REF` query.
#[derive(Debug, Deserialize)]
pub struct LaunchQuery {
    #[serde(default)]
    ticket: String,
}

struct Draft {
    reason: String,
    actions: Vec<String>,
    minutes: u32,
}

fn request_form(policy: &Policy, who: &SignedIn, t: &Ticket, d: &Draft, err: Option<&FieldError>) -> Markup {
    let general = err.filter(|e| !matches!(e.field.as_str(), "reason" | "actions" | "minutes"));
    let actions_err = FieldError::at(err, "actions");
    let reason_err = FieldError::at(err, "reason");
    let minutes_err = FieldError::at(err, "minutes");
    let needs = service_needs_person(policy, &d.actions);
    let needs_text = "A lead must approve this request before you can start the session.";
    let none_text = "Approved by policy at once: every action ticked needs no approval.";
    html! {
        section.card {
            h2 { "Ticket " (t.reference) }
            p { "Customer account: " strong { (t.account_label()) } }
            p { "Subject: " (t.subject) }
        }
        form #request-form method="post" action="/requests" {
            @if let Some(e) = general { p.alert role="alert" { (e.detail) } }
            input type="hidden" name="csrf" value=(who.csrf);
            input type="hidden" name="ticket" value=(t.reference);
            fieldset aria-describedby=[actions_err.map(|_| "actions-error")] {
                legend { "What do you need to do?" }
                (field_error("actions-error", actions_err))
                @for a in policy.actions() {
                    label {
                        input type="checkbox" name="actions" value=(a.name) data-label=(a.label)
                            data-approval=(a.approval.as_str()) checked[d.actions.contains(&a.name)]
                            disabled[a.approval == Approval::Forbidden];
                        " " (a.label) " "
                        span.hint { "(" (approval_words(policy, &a.name)) ")" }
                    }
                }
            }
            label for="reason" { "Reason" }
            p.hint #reason-hint { "At least " (policy.reason.min_chars) " characters: say what the customer's problem is." }
            (field_error("reason-error", reason_err))
            textarea #reason name="reason" required
                aria-describedby=(if reason_err.is_some() { "reason-hint reason-error" } else { "reason-hint" }) { (d.reason) }
            label for="minutes" { "For how long" }
            (field_error("minutes-error", minutes_err))
            select #minutes name="minutes" aria-describedby=[minutes_err.map(|_| "minutes-error")] {
                @for m in minute_choices(policy.session.max_minutes, policy.session.default_minutes) {
                    option value=(m) selected[m == d.minutes] { (m) " minutes" }
                }
            }
            (lists(policy, &d.actions, true))
            p #approval data-needs=(needs_text) data-none=(none_text) {
                @if d.actions.is_empty() { "Tick at least one action." } @else if needs { (needs_text) } @else { (none_text) }
            }
            p { button type="submit" { "Ask for access" } }
        }
    }
}

fn service_needs_person(policy: &Policy, actions: &[String]) -> bool {
    actas_core::flow::needs_person(policy, actions)
}

async fn find_ticket(state: &AppState, reference: &str) -> Result<Option<Ticket>, ConsoleError> {
    match service::get_ticket(&state.ctx, reference).await {
        Ok((t, _, _)) => Ok(Some(t)),
        Err(Error::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn no_ticket(who: &SignedIn, reference: &str) -> Response {
    let body = html! {
        p.alert role="alert" { "There is no ticket " (reference) ". Check the reference, or ask for the ticket to be sent to actas first." }
        (ticket_form(reference))
    };
    page(StatusCode::NOT_FOUND, layout("No such ticket", Some(who), body))
}

/// `GET /launch?ticket=REF`: the request form for a ticket.
pub async fn launch(State(state): State<AppState>, who: SignedIn, Query(q): Query<LaunchQuery>) -> Answer {
    require(&who, Role::Agent, "Asking for access")?;
    let reference = q.ticket.trim();
    if reference.is_empty() {
        let body = ticket_form("");
        return Ok(page(StatusCode::OK, layout("Ask for access", Some(&who), body)));
    }
    let Some(t) = find_ticket(&state, reference).await? else { return Ok(no_ticket(&who, reference)) };
    let policy = &state.ctx.policy;
    let draft = Draft { reason: String::new(), actions: Vec::new(), minutes: policy.session.default_minutes };
    let body = request_form(policy, &who, &t, &draft, None);
    Ok(page(StatusCode::OK, layout("Ask for access", Some(&who), body)))
}

/// `POST /requests`: opens a request; a refusal shows the form again.
pub async fn create_request(State(state): State<AppState>, who: SignedIn, form: Fields) -> Answer {
    who.check_csrf(&form)?;
    require(&who, Role::Agent, "Asking for access")?;
    let policy = state.ctx.policy.clone();
    let reference = form.get("ticket").trim().to_string();
    let minutes = form.get("minutes").trim().parse::<u32>().ok();
    let draft = Draft {
        reason: form.get("reason").to_string(),
        actions: form.all("actions"),
        minutes: minutes.unwrap_or(policy.session.default_minutes),
    };
    let outcome = match minutes {
        None => Err(Error::refused("duration-invalid", Some("minutes"), "Pick a duration from the list.")),
        Some(m) => {
            let input = api::NewRequest {
                ticket: reference.clone(),
                account_id: None,
                reason: draft.reason.clone(),
                actions: draft.actions.clone(),
                minutes: Some(m),
            };
            service::create_request(&state.ctx, &who.staff, input).await
        }
    };
    match outcome {
        Ok(r) => Ok(Redirect::to(&format!("/requests/{}", r.id)).into_response()),
        Err(Error::Refused { field, detail, .. }) => {
            let Some(t) = find_ticket(&state, &reference).await? else { return Ok(no_ticket(&who, &reference)) };
            let err = FieldError { field: field.unwrap_or("form").to_string(), detail };
            let body = request_form(&policy, &who, &t, &draft, Some(&err));
            Ok(page(StatusCode::UNPROCESSABLE_ENTITY, layout("Ask for access", Some(&who), body)))
        }
        Err(e) => Err(e.into()),
    }
}

fn may_see(who: &SignedIn, owner: &str) -> Result<(), ConsoleError> {
    let s = &who.staff;
    if s.id == owner || s.has(Role::Lead) || s.has(Role::Auditor) || s.has(Role::Admin) {
        Ok(())
    } else {
        Err(ConsoleError::forbidden("This belongs to another agent; only they, leads and auditors may see it."))
    }
}

/// `GET /requests/{id}`.
pub async fn request(State(state): State<AppState>, who: SignedIn, Path(id): Path<String>) -> Answer {
    let (r, decisions, sessions) = service::get_request(&state.ctx, &id).await?;
    may_see(&who, &r.requester)?;
    let policy = &state.ctx.policy;
    let allowed = r.granted_actions.clone().unwrap_or_else(|| r.actions.clone());
    let decided = matches!(r.status, RequestStatus::Approved | RequestStatus::Started | RequestStatus::Expired);
    let body = html! {
        div.card {
            p { "Status: " span.status #status { (status_words(&r)) } }
            p { "Ticket " (r.ticket) ", customer account " strong { (r.account_label()) } }
            p { "Asked by " (r.requester_name) " at " (when(r.created_at)) " for " (r.minutes) " minutes." }
            p { "Reason: " q { (r.reason) } }
            @if r.kind == RequestKind::Scope { p { "More actions for a live session." } }
        }
        @if decided {
            h2 { "Allowed" }
            (lists(policy, &allowed, false))
            p { "For " (r.granted_minutes.unwrap_or(r.minutes)) " minutes." }
        } @else {
            h2 { "Asked for" }
            ul { @for a in &r.actions { li { (policy.label(a)) " (" (approval_words(policy, a)) ")" } } }
        }
        @for d in &decisions {
            p { "Decided by " (d.decider_name) " at " (when(d.at)) "."
                @if let Some(n) = &d.note { " Note: " q { (n) } } }
        }
        @if r.requester == who.staff.id && r.status == RequestStatus::Approved {
            form method="post" action=(format!("/requests/{}/start", r.id)) {
                input type="hidden" name="csrf" value=(who.csrf);
                p.hint { "Starting gives you a link into the host app; the session is recorded from that moment." }
                button type="submit" { "Start the session" }
            }
        }
        @if !sessions.is_empty() {
            h2 { "Sessions" }
            ul { @for s in &sessions { li { a href=(format!("/sessions/{}", s.id)) { "Session started " (when(s.started_at)) } " — " (s.state.as_str()) } } }
        }
    };
    Ok(page(StatusCode::OK, layout("Access request", Some(&who), body)))
}

fn end_words(s: &Session) -> String {
    match (s.end_reason, s.ended_at) {
        (Some(r), Some(at)) => format!("Ended ({}) at {}", r.as_str().replace('_', " "), when(at)),
        _ => "Ended".into(),
    }
}

fn session_view(state: &AppState, who: &SignedIn, s: &Session, events: &[Event], host: Option<HostLink>) -> Markup {
    let policy = &state.ctx.policy;
    let idle = s.idle_deadline(policy.session.idle_minutes).min(s.ends_at);
    html! {
        @if let Some(h) = &host {
            div.ok role="status" {
                p { "The session has started." }
                @match &h.origin {
                    Some(o) => {
                        p { a #host-link href=(format!("{o}/support/enter?token={}", h.token)) { "Open in the host app" } }
                        p.hint { "The link works once per session; it is not shown again." }
                    }
                    None => {
                        label for="token" { "Token for the host app (not shown again)" }
                        textarea #token readonly { (h.token) }
                    }
                }
            }
        }
        div.card {
            p { "State: " span.status #state {
                @if s.is_live() { "Live until " (when(s.ends_at)) ", or " (when(idle)) " without activity" } @else { (end_words(s)) }
            } }
            p { "Customer account " strong { (s.account_label()) } ", ticket " (s.ticket) }
            p { "Agent: " (s.agent_name) ". Approved by " (s.approver_name) "." }
            p { "Reason: " q { (s.reason) } }
        }
        h2 { "Allowed" }
        ul { @for a in &s.scope { li { (policy.label(a)) } } }
        @if s.is_live() && s.agent == who.staff.id {
            form method="post" action=(format!("/sessions/{}/end", s.id)) {
                input type="hidden" name="csrf" value=(who.csrf);
                button type="submit" { "End the session" }
            }
        }
        h2 { "Timeline" }
        ol #timeline {
            @for e in events { li { span.hint { (when(e.at)) } " " (e.text) } }
        }
    }
}

struct HostLink {
    origin: Option<String>,
    token: String,
}

/// `POST /requests/{id}/start`: starts the session and shows the link
/// into the host app (the token exists only in this answer).
pub async fn start(State(state): State<AppState>, who: SignedIn, Path(id): Path<String>, form: Fields) -> Answer {
    who.check_csrf(&form)?;
    require(&who, Role::Agent, "Starting a session")?;
    let ctx = &state.ctx;
    let (s, token) = service::start(ctx, &who.staff, &id, None).await?;
    let aud = ctx.keys.verify(&token).map(|c| c.aud).unwrap_or_default();
    let app = ctx.store.read(tx_fn(move |tx| Box::pin(async move { tx.get_app(&aud).await }))).await?;
    let origin = app.and_then(|a| a.origins.first().cloned());
    let events = service::timeline(ctx, &who.staff, &s.id).await?;
    let body = session_view(&state, &who, &s, &events, Some(HostLink { origin, token }));
    Ok(page(StatusCode::CREATED, layout("Support session", Some(&who), body)))
}

/// `GET /sessions/{id}`.
pub async fn session(State(state): State<AppState>, who: SignedIn, Path(id): Path<String>) -> Answer {
    let ctx = &state.ctx;
    let s = service::get_session(ctx, &Principal::Staff(who.staff.clone()), &id).await?;
    may_see(&who, &s.agent)?;
    let events = service::timeline(ctx, &who.staff, &s.id).await?;
    Ok(page(StatusCode::OK, layout("Support session", Some(&who), session_view(&state, &who, &s, &events, None))))
}

/// `POST /sessions/{id}/end`.
pub async fn end(State(state): State<AppState>, who: SignedIn, Path(id): Path<String>, form: Fields) -> Answer {
    who.check_csrf(&form)?;
    let s = service::end(&state.ctx, &Principal::Staff(who.staff.clone()), &id).await?;
    Ok(Redirect::to(&format!("/sessions/{}", s.id)).into_response())
}

fn queue_view(policy: &Policy, who: &SignedIn, reqs: &[Request], err: Option<(&str, &FieldError)>) -> Markup {
    html! {
        @if reqs.is_empty() { p { "No request waits for a decision." } }
        @for r in reqs {
            @let rid = &r.id;
            @let e = err.filter(|(id, _)| *id == rid.as_str()).map(|(_, e)| e);
            article.card aria-labelledby=(format!("h-{rid}")) {
                h2 id=(format!("h-{rid}")) {
                    (r.requester_name) ", ticket " (r.ticket)
                    @if r.kind == RequestKind::Scope { " (more actions for a live session)" }
                }
                p { "Customer account " strong { (r.account_label()) } ". Asked " (when(r.created_at)) " for " (r.minutes) " minutes." }
                p { "Reason: " q { (r.reason) } }
                p { "Asked for: " (policy.labels(&r.actions)) "." }
                @if r.requester == who.staff.id {
                    p { "You asked for this; another lead decides it." }
                } @else {
                    @if let Some(e) = e { p.alert role="alert" id=(format!("e-{rid}")) { (e.detail) } }
                    form method="post" action=(format!("/requests/{rid}/approve")) {
                        input type="hidden" name="csrf" value=(who.csrf);
                        fieldset {
                            legend { "Actions to allow (untick to narrow, tick to expand)" }
                            @for a in policy.actions() {
                                @if a.approval != Approval::Forbidden {
                                    label {
                                        input type="checkbox" name="actions" value=(a.name) checked[r.actions.contains(&a.name)];
                                        " " (a.label)
                                    }
                                }
                            }
                        }
                        label for=(format!("m-{rid}")) { "Minutes" }
                        select id=(format!("m-{rid}")) name="minutes" {
                            @for m in minute_choices(r.minutes, r.minutes) {
                                option value=(m) selected[m == r.minutes] { (m) " minutes" }
                            }
                        }
                        label for=(format!("n-{rid}")) { "Note (optional)" }
                        input type="text" id=(format!("n-{rid}")) name="note";
                        p { button type="submit" { "Approve" } }
                    }
                    form method="post" action=(format!("/requests/{rid}/deny")) {
                        input type="hidden" name="csrf" value=(who.csrf);
                        label for=(format!("d-{rid}")) { "Why deny it (required)" }
                        textarea id=(format!("d-{rid}")) name="note" required {}
                        p { button type="submit" { "Deny" } }
                    }
                }
            }
        }
    }
}

async fn pending(state: &AppState, who: &SignedIn) -> Result<Vec<Request>, ConsoleError> {
    let f = RequestFilter { status: Some(RequestStatus::Pending), ..Default::default() };
    Ok(service::list_requests(&state.ctx, &who.staff, f).await?)
}

/// `GET /queue`: pending requests, oldest first.
pub async fn queue(State(state): State<AppState>, who: SignedIn) -> Answer {
    require(&who, Role::Lead, "The approval queue")?;
    let reqs = pending(&state, &who).await?;
    Ok(page(StatusCode::OK, layout("Approval queue", Some(&who), queue_view(&state.ctx.policy, &who, &reqs, None))))
}

/// Shows the queue again with the decision's refusal next to its request.
async fn decided(state: &AppState, who: &SignedIn, id: &str, outcome: actas_core::Result<Request>) -> Answer {
    let e = match outcome {
        Ok(_) => return Ok(Redirect::to("/queue").into_response()),
        Err(e @ (Error::Refused { .. } | Error::Forbidden { .. } | Error::Conflict { .. })) => e,
        Err(e) => return Err(e.into()),
    };
    let (status, _, detail, field) = crate::http::error::ApiError::from(e).parts();
    let err = FieldError { field: field.unwrap_or_else(|| "form".into()), detail };
    let reqs = pending(state, who).await?;
    let body = queue_view(&state.ctx.policy, who, &reqs, Some((id, &err)));
    let body = if reqs.iter().any(|r| r.id == id) {
        body
    } else {
        html! { p.alert role="alert" { (err.detail) } (body) }
    };
    Ok(page(status, layout("Approval queue", Some(who), body)))
}

/// `POST /requests/{id}/approve`: approve, narrowed, expanded or shortened.
pub async fn approve(State(state): State<AppState>, who: SignedIn, Path(id): Path<String>, form: Fields) -> Answer {
    who.check_csrf(&form)?;
    require(&who, Role::Lead, "Deciding requests")?;
    let minutes = form.get("minutes").trim().parse::<u32>().ok();
    let note = Some(form.get("note").to_string()).filter(|n| !n.trim().is_empty());
    let input = api::Approve { actions: Some(form.all("actions")), minutes, note };
    let outcome = service::approve(&state.ctx, &who.staff, &id, input).await;
    decided(&state, &who, &id, outcome).await
}

/// `POST /requests/{id}/deny`: deny with a note.
pub async fn deny(State(state): State<AppState>, who: SignedIn, Path(id): Path<String>, form: Fields) -> Answer {
    who.check_csrf(&form)?;
    require(&who, Role::Lead, "Deciding requests")?;
    let outcome = service::deny(&state.ctx, &who.staff, &id, Some(form.get("note").to_string())).await;
    decided(&state, &who, &id, outcome).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_offered_stop_at_the_maximum_and_include_the_default() {
        assert_eq!(minute_choices(30, 15), vec![5, 10, 15, 20, 25, 30]);
        assert_eq!(minute_choices(12, 7), vec![5, 7, 10, 12]);
        assert_eq!(minute_choices(3, 3), vec![3]);
    }

    #[test]
    fn the_two_lists_cover_every_action_once() {
        let p = Policy::shipped();
        let (will, wont) = split_lists(&p, &["settings.view".to_string(), "settings.update".to_string()]);
        assert_eq!(will, vec!["View account settings", "Update account settings"]);
        assert_eq!(will.len() + wont.len(), p.actions().len());
    }
}
