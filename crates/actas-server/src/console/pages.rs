//! The console's pages: home, launch from a ticket and the request form,
//! a request (withdraw), a session with its timeline (end, more actions,
//! revoke), the approval queue, and an account's access log. The home
//! page, the queue and the session state answer `?fragment=` with only
//! their live box.
//!
//! Handlers are thin: they take the signed-in person and the form, check
//! the CSRF token and the role the page needs, call a `service` operation
//! and render. A refusal with a field is shown next to that field, with the
//! person's input kept.

use actas_api as api;
use actas_core::audit::Event;
use actas_core::limits::{self, one_line};
use actas_core::model::{Request, RequestKind, RequestStatus, Role, Session, Ticket};
use actas_core::policy::{Approval, Policy};
use actas_core::{Error, Timestamp};
use actas_store::{tx_fn, RequestFilter};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use serde::Deserialize;

use super::auth::{permit, Fields, SignedIn};
use super::{encode, fragment, layout, links, live_box, page, version, ConsoleError};
use crate::authz::Act;

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
pub(super) struct FieldError {
    pub(super) field: String,
    pub(super) detail: String,
}

impl FieldError {
    pub(super) fn at<'a>(err: Option<&'a FieldError>, field: &str) -> Option<&'a str> {
        err.filter(|e| e.field == field).map(|e| e.detail.as_str())
    }
}

pub(super) fn field_error(id: &str, detail: Option<&str>) -> Markup {
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

/// `?fragment=` of a page with a live box: answer only the box's content.
#[derive(Debug, Default, Deserialize)]
pub struct FragmentQuery {
    #[serde(default)]
    fragment: Option<String>,
    /// `?started=1`: the page right after Start.
    #[serde(default)]
    started: Option<String>,
}

fn account_form(value: &str, err: Option<&str>) -> Markup {
    html! {
        form #account-lookup method="get" action="/accounts" {
            label for="account-id" { "Customer account id" }
            (field_error("account-id-error", err))
            div.row {
                input type="text" id="account-id" name="id" value=(value) required
                    aria-describedby=[err.map(|_| "account-id-error")];
                button type="submit" { "Show who accessed it" }
            }
        }
    }
}

/// The part of the home page that refreshes itself.
async fn home_live(state: &AppState, who: &SignedIn) -> Result<Markup, ConsoleError> {
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
    Ok(html! {
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
                h2 { "My requests" }
                @if mine.is_empty() { p { "You have not asked for access yet." } }
                ul #my-requests {
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
    })
}

/// `GET /` (and `?fragment=1`: only the live box).
pub async fn home(State(state): State<AppState>, who: SignedIn, Query(q): Query<FragmentQuery>) -> Answer {
    let live = home_live(&state, &who).await?;
    if q.fragment.is_some() {
        return Ok(fragment(live));
    }
    let agent = who.staff.has(Role::Agent);
    let lead = who.staff.has(Role::Lead);
    let others = links(&who.staff);
    let access_logs = crate::authz::allow(&who.staff, Act::ReadAccessLog, state.ctx.clock.now()).is_ok();
    let v = version(&live);
    let body = html! {
        (signed_in_line(&who))
        @if agent || lead { (live_box("home-live", "/?fragment=1", &v, live)) }
        @if agent {
            section {
                h2 { "Ask for access from a ticket" }
                (ticket_form(""))
            }
        }
        @if access_logs {
            section {
                h2 { "An account's access log" }
                p.hint { "Who from support entered a customer's account, why, and what they changed." }
                (account_form("", None))
            }
        }
        @if !others.is_empty() {
            section {
                h2 { "Your pages" }
                ul { @for (href, text) in &others { li { a href=(href) { (text) } } } }
            }
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
            p { "Subject: " (one_line(&t.subject)) }
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
            textarea #reason name="reason" required maxlength=(limits::REASON_CHARS)
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

async fn find_ticket_as(state: &AppState, who: &SignedIn, reference: &str) -> Result<Option<Ticket>, ConsoleError> {
    match service::get_ticket(&state.ctx, &Principal::Staff(who.staff.clone()), reference).await {
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
    permit(&state, &who, Act::CreateRequest, "Asking for access")?;
    let reference = q.ticket.trim();
    if reference.is_empty() {
        let body = ticket_form("");
        return Ok(page(StatusCode::OK, layout("Ask for access", Some(&who), body)));
    }
    let Some(t) = find_ticket_as(&state, &who, reference).await? else { return Ok(no_ticket(&who, reference)) };
    let policy = &state.ctx.policy;
    let draft = Draft { reason: String::new(), actions: Vec::new(), minutes: policy.session.default_minutes };
    let body = request_form(policy, &who, &t, &draft, None);
    Ok(page(StatusCode::OK, layout("Ask for access", Some(&who), body)))
}

/// `POST /requests`: opens a request; a refusal shows the form again.
pub async fn create_request(State(state): State<AppState>, who: SignedIn, form: Fields) -> Answer {
    who.check_csrf(&form)?;
    permit(&state, &who, Act::CreateRequest, "Asking for access")?;
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
        Err(e @ (Error::Refused { .. } | Error::BadRequest { .. })) => {
            let Some(t) = find_ticket_as(&state, &who, &reference).await? else {
                return Ok(no_ticket(&who, &reference));
            };
            let (status, _, detail, field) = crate::http::error::ApiError::from(e).parts();
            let err = FieldError { field: field.unwrap_or_else(|| "form".into()), detail };
            let body = request_form(&policy, &who, &t, &draft, Some(&err));
            Ok(page(status, layout("Ask for access", Some(&who), body)))
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /requests/{id}`.
pub async fn request(State(state): State<AppState>, who: SignedIn, Path(id): Path<String>) -> Answer {
    request_page(&state, &who, &id, StatusCode::OK, None).await
}

/// `POST /requests/{id}/withdraw`: the requester takes a request back.
pub async fn withdraw(State(state): State<AppState>, who: SignedIn, Path(id): Path<String>, form: Fields) -> Answer {
    who.check_csrf(&form)?;
    match service::withdraw(&state.ctx, &who.staff, &id).await {
        Ok(r) => Ok(Redirect::to(&format!("/requests/{}", r.id)).into_response()),
        Err(e @ (Error::Refused { .. } | Error::Forbidden { .. } | Error::Conflict { .. })) => {
            let (status, _, detail, _) = crate::http::error::ApiError::from(e).parts();
            request_page(&state, &who, &id, status, Some(&detail)).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn request_page(state: &AppState, who: &SignedIn, id: &str, status: StatusCode, err: Option<&str>) -> Answer {
    let (r, decisions, sessions) = service::get_request(&state.ctx, &Principal::Staff(who.staff.clone()), id).await?;
    let policy = &state.ctx.policy;
    let allowed = r.granted_actions.clone().unwrap_or_else(|| r.actions.clone());
    let decided = matches!(r.status, RequestStatus::Approved | RequestStatus::Started | RequestStatus::Expired);
    let withdrawable =
        r.requester == who.staff.id && matches!(r.status, RequestStatus::Pending | RequestStatus::Approved);
    let body = html! {
        div.card {
            p { "Status: " span.status #status { (status_words(&r)) } }
            p { "Ticket " (r.ticket) ", customer account " strong { (r.account_label()) } }
            p { "Asked by " (r.requester_name) " at " (when(r.created_at)) " for " (r.minutes) " minutes." }
            p { "Reason: " q { (one_line(&r.reason)) } }
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
                @if let Some(n) = &d.note { " Note: " q { (one_line(n)) } } }
        }
        @if r.requester == who.staff.id && r.status == RequestStatus::Approved {
            form method="post" action=(format!("/requests/{}/start", r.id)) {
                input type="hidden" name="csrf" value=(who.csrf);
                p.hint { "Starting gives you a link into the host app; the session is recorded from that moment." }
                button type="submit" { "Start the session" }
            }
        }
        @if withdrawable {
            form method="post" action=(format!("/requests/{}/withdraw", r.id)) {
                input type="hidden" name="csrf" value=(who.csrf);
                (field_error("withdraw-error", err))
                p.hint #withdraw-hint { "Withdrawing cancels the request for good; ask again if you need access later." }
                button type="submit" aria-describedby="withdraw-hint" { "Withdraw the request" }
            }
        } @else if let Some(e) = err {
            p.alert role="alert" #withdraw-error { (e) }
        }
        @if !sessions.is_empty() {
            h2 { "Sessions" }
            ul { @for s in &sessions { li { a href=(format!("/sessions/{}", s.id)) { "Session started " (when(s.started_at)) } " — " (s.state.as_str()) } } }
        }
    };
    Ok(page(status, layout("Access request", Some(who), body)))
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

fn end_words(s: &Session) -> String {
    match (s.end_reason, s.ended_at) {
        (Some(r), Some(at)) => format!("Ended at {}: {}", when(at), r.words()),
        _ => "Ended".into(),
    }
}

/// What a refused session form sends back: which form, the sentence, and
/// the person's input.
#[derive(Debug, Default)]
struct SessionForm {
    which: &'static str,
    err: Option<FieldError>,
    actions: Vec<String>,
    reason: String,
}

impl SessionForm {
    fn error(&self, which: &str, field: &str) -> Option<&str> {
        if self.which == which {
            FieldError::at(self.err.as_ref(), field)
        } else {
            None
        }
    }

    /// The sentence of `which` that belongs to no field of its form.
    fn general(&self, which: &str, fields: &[&str]) -> Option<&str> {
        self.err
            .as_ref()
            .filter(|e| self.which == which && !fields.contains(&e.field.as_str()))
            .map(|e| e.detail.as_str())
    }
}

/// The session's state, scope and scope requests: the part that refreshes.
fn session_live(state: &AppState, s: &Session, scope_reqs: &[Request]) -> Markup {
    let policy = &state.ctx.policy;
    let idle = s.idle_deadline(policy.session.idle_minutes).min(s.ends_at);
    html! {
        div.card {
            p { "State: " span.status #state {
                @if s.is_live() { "Live until " (when(s.ends_at)) ", or " (when(idle)) " without activity" } @else { (end_words(s)) }
            } }
            @if let Some(n) = &s.end_note { p { "Note: " q { (one_line(n)) } } }
            p { "Customer account " strong { (s.account_label()) } ", ticket " (s.ticket) }
            p { "Agent: " (s.agent_name) ", " (actas_core::audit::approved_by(&s.approvers)) "." }
            p { "Reason: " q { (one_line(&s.reason)) } }
        }
        h2 { "Allowed" }
        ul #scope { @for a in &s.scope { li { (policy.label(a)) } } }
        @if !scope_reqs.is_empty() {
            h2 { "More actions asked for" }
            ul #scope-requests {
                @for r in scope_reqs {
                    li {
                        a href=(format!("/requests/{}", r.id)) { (policy.labels(&r.actions)) }
                        " — " span.status { (status_words(r)) } " (asked " (when(r.created_at)) ")"
                    }
                }
            }
        }
    }
}

fn timeline_list(events: &[Event]) -> Markup {
    html! { ol { @for e in events { li { span.hint { (when(e.at)) } " " (one_line(&e.text)) } } } }
}

fn scope_form(state: &AppState, who: &SignedIn, s: &Session, f: &SessionForm) -> Markup {
    let policy = &state.ctx.policy;
    let more: Vec<_> =
        policy.actions().iter().filter(|a| a.approval != Approval::Forbidden && !s.scope.contains(&a.name)).collect();
    let actions_err = f.error("scope", "actions");
    let reason_err = f.error("scope", "reason");
    html! {
        h2 { "Ask for more actions" }
        @if more.is_empty() {
            p { "The session already allows every action the policy permits." }
        } @else {
            form #scope-form method="post" action=(format!("/sessions/{}/scope", s.id)) {
                @if let Some(e) = f.general("scope", &["actions", "reason"]) { p.alert role="alert" #scope-error { (e) } }
                input type="hidden" name="csrf" value=(who.csrf);
                fieldset aria-describedby=[actions_err.map(|_| "scope-actions-error")] {
                    legend { "Actions to add" }
                    (field_error("scope-actions-error", actions_err))
                    @for a in &more {
                        label {
                            input type="checkbox" name="actions" value=(a.name) checked[f.actions.contains(&a.name)];
                            " " (a.label) " " span.hint { "(" (approval_words(policy, &a.name)) ")" }
                        }
                    }
                }
                label for="scope-reason" { "Why you need them" }
                (field_error("scope-reason-error", reason_err))
                textarea #scope-reason name="reason" required maxlength=(limits::REASON_CHARS) aria-describedby=[reason_err.map(|_| "scope-reason-error")] {
                    @if f.which == "scope" { (f.reason) }
                }
                p { button type="submit" { "Ask for these actions" } }
            }
        }
    }
}

fn revoke_form(who: &SignedIn, s: &Session, f: &SessionForm) -> Markup {
    let note_err = f.error("revoke", "note");
    html! {
        form #revoke-form method="post" action=(format!("/sessions/{}/revoke", s.id)) {
            @if let Some(e) = f.general("revoke", &["note"]) { p.alert role="alert" #revoke-error { (e) } }
            input type="hidden" name="csrf" value=(who.csrf);
            label for="revoke-note" { "Why revoke it (required)" }
            (field_error("revoke-note-error", note_err))
            textarea #revoke-note name="note" required maxlength=(limits::NOTE_CHARS) aria-describedby=[note_err.map(|_| "revoke-note-error")] {
                @if f.which == "revoke" { (f.reason) }
            }
            p { button type="submit" { "Revoke the session" } }
        }
    }
}

struct SessionData<'a> {
    s: &'a Session,
    events: &'a [Event],
    scope_reqs: &'a [Request],
    /// The page answers Start.
    started: bool,
    /// A one-time code to show, for an app without an entry address.
    code: Option<&'a actas_api::EntryCode>,
}

fn session_view(state: &AppState, who: &SignedIn, d: SessionData<'_>, f: &SessionForm) -> Markup {
    let s = d.s;
    let live = session_live(state, s, d.scope_reqs);
    let timeline = timeline_list(d.events);
    let (v_live, v_timeline) = (version(&live), version(&timeline));
    html! {
        @if d.started {
            div.ok role="status" #started { p { "The session has started." } }
        }
        (live_box("session-live", &format!("/sessions/{}?fragment=1", s.id), &v_live, live))
        @if s.is_live() && s.agent == who.staff.id {
            @if let Some(c) = d.code {
                div.ok role="status" #entry-code {
                    p { "This host app has no entry address. Give it this one-time code before "
                        (when(c.expires_at)) "; it works once:" }
                    p { code { (c.code) } }
                }
            }
            form #open-host method="post" action=(format!("/sessions/{}/open", s.id)) {
                input type="hidden" name="csrf" value=(who.csrf);
                button type="submit" { "Open in the host app" }
                p.hint { "Each click makes a new one-time link that works once, for "
                    (service::ENTRY_CODE_MINUTES) " minutes; the token itself never appears in an address." }
            }
            form method="post" action=(format!("/sessions/{}/end", s.id)) {
                input type="hidden" name="csrf" value=(who.csrf);
                button type="submit" { "End the session" }
            }
            (scope_form(state, who, s, f))
        }
        @if s.is_live() && who.staff.has(Role::Lead) {
            h2 { "Revoke" }
            (revoke_form(who, s, f))
        }
        h2 { "Timeline" }
        (live_box("timeline", &format!("/sessions/{}?fragment=timeline", s.id), &v_timeline, timeline))
    }
}

/// The scope requests of a session, oldest first.
async fn scope_requests(state: &AppState, sid: &str) -> Result<Vec<Request>, ConsoleError> {
    let f = RequestFilter { session_id: Some(sid.to_string()), ..Default::default() };
    let all = state.ctx.store.read(tx_fn(move |tx| Box::pin(async move { tx.list_requests(&f).await }))).await?;
    Ok(all.into_iter().filter(|r| r.kind == RequestKind::Scope).collect())
}

/// `POST /requests/{id}/start`: starts the session and sends the browser to
/// its page (so a reload does not post again), which offers "Open in the
/// host app" while the session is live. The console never holds the
/// token: the browser enters the host app with a one-time code.
pub async fn start(State(state): State<AppState>, who: SignedIn, Path(id): Path<String>, form: Fields) -> Answer {
    who.check_csrf(&form)?;
    permit(&state, &who, Act::CreateRequest, "Starting a session")?;
    let ctx = &state.ctx;
    let (s, _token) = match service::start(ctx, &who.staff, &id, None).await {
        Err(Error::Conflict { code: "live-session-exists", detail }) => {
            return Err(match service::live_session_of(ctx, &who.staff).await? {
                Some(live) => ConsoleError::Linked(
                    StatusCode::CONFLICT,
                    format!(
                        "You have a live session on {} under ticket {}; end it before starting another.",
                        live.account_label(),
                        live.ticket
                    ),
                    format!("/sessions/{}", live.id),
                    "Go to your live session".into(),
                ),
                None => ConsoleError::Page(StatusCode::CONFLICT, detail),
            });
        }
        started => started?,
    };
    Ok(Redirect::to(&format!("/sessions/{}?started=1", s.id)).into_response())
}

/// `POST /sessions/{id}/open`: a new one-time entry code; the browser goes
/// to the host app's entry address with it (or the page shows the code
/// when the app has no entry address).
pub async fn open(State(state): State<AppState>, who: SignedIn, Path(id): Path<String>, form: Fields) -> Answer {
    who.check_csrf(&form)?;
    let code = service::open_entry(&state.ctx, &who.staff, &id).await?;
    if let Some(url) = &code.url {
        return Ok(Redirect::to(url).into_response());
    }
    session_page_with(&state, &who, &id, StatusCode::OK, &SessionForm::default(), Some(&code), false).await
}

async fn session_page(state: &AppState, who: &SignedIn, id: &str, status: StatusCode, f: &SessionForm) -> Answer {
    session_page_with(state, who, id, status, f, None, false).await
}

async fn session_page_with(
    state: &AppState,
    who: &SignedIn,
    id: &str,
    status: StatusCode,
    f: &SessionForm,
    code: Option<&actas_api::EntryCode>,
    started: bool,
) -> Answer {
    let ctx = &state.ctx;
    let s = service::get_session(ctx, &Principal::Staff(who.staff.clone()), id).await?;
    let events = service::timeline(ctx, &who.staff, &s.id).await?;
    let scope_reqs = scope_requests(state, &s.id).await?;
    // The agent's "Open in the host app" leads to the app's entry address.
    let entry_origin = if s.is_live() && s.agent == who.staff.id {
        let app_id = s.app_id.clone();
        let app = ctx.store.read(tx_fn(move |tx| Box::pin(async move { tx.get_app(&app_id).await }))).await?;
        app.and_then(|a| a.entry_address()).and_then(|u| super::origin_of(&u))
    } else {
        None
    };
    let d = SessionData { s: &s, events: &events, scope_reqs: &scope_reqs, started: started && s.is_live(), code };
    let markup = layout("Support session", Some(who), session_view(state, who, d, f));
    Ok(super::page_with_form_to(status, markup, entry_origin.as_deref()))
}

/// `GET /sessions/{id}` (`?fragment=1`: state and scope; `?fragment=timeline`).
pub async fn session(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
    Query(q): Query<FragmentQuery>,
) -> Answer {
    let Some(which) = q.fragment else {
        let started = q.started.is_some();
        return session_page_with(&state, &who, &id, StatusCode::OK, &SessionForm::default(), None, started).await;
    };
    let ctx = &state.ctx;
    let s = service::get_session(ctx, &Principal::Staff(who.staff.clone()), &id).await?;
    if which == "timeline" {
        let events = service::timeline(ctx, &who.staff, &s.id).await?;
        return Ok(fragment(timeline_list(&events)));
    }
    let scope_reqs = scope_requests(&state, &s.id).await?;
    Ok(fragment(session_live(&state, &s, &scope_reqs)))
}

/// The session page again with a refused form's sentence next to its field.
async fn session_refused(state: &AppState, who: &SignedIn, id: &str, e: Error, mut f: SessionForm) -> Answer {
    if !matches!(e, Error::Refused { .. } | Error::BadRequest { .. } | Error::Forbidden { .. } | Error::Conflict { .. })
    {
        return Err(e.into());
    }
    let (status, _, detail, field) = crate::http::error::ApiError::from(e).parts();
    f.err = Some(FieldError { field: field.unwrap_or_else(|| "form".into()), detail });
    session_page(state, who, id, status, &f).await
}

/// `POST /sessions/{id}/scope`: the agent asks for more actions.
pub async fn scope(State(state): State<AppState>, who: SignedIn, Path(id): Path<String>, form: Fields) -> Answer {
    who.check_csrf(&form)?;
    permit(&state, &who, Act::CreateRequest, "Asking for more actions")?;
    let f = SessionForm { which: "scope", err: None, actions: form.all("actions"), reason: form.get("reason").into() };
    let input = api::ScopeChange { actions: f.actions.clone(), reason: f.reason.clone() };
    match service::request_scope(&state.ctx, &who.staff, &id, input).await {
        Ok(_) => Ok(Redirect::to(&format!("/sessions/{}", encode(&id))).into_response()),
        Err(e) => session_refused(&state, &who, &id, e, f).await,
    }
}

/// `POST /sessions/{id}/revoke`: a lead ends a session, with a note.
pub async fn revoke(State(state): State<AppState>, who: SignedIn, Path(id): Path<String>, form: Fields) -> Answer {
    who.check_csrf(&form)?;
    permit(&state, &who, Act::ReadQueue, "Revoking a session")?;
    let note = form.get("note").to_string();
    match service::revoke(&state.ctx, &who.staff, &id, Some(note.clone())).await {
        Ok(s) => Ok(Redirect::to(&format!("/sessions/{}", encode(&s.id))).into_response()),
        Err(e) => {
            let f = SessionForm { which: "revoke", err: None, actions: Vec::new(), reason: note };
            session_refused(&state, &who, &id, e, f).await
        }
    }
}

/// `POST /sessions/{id}/end`.
pub async fn end(State(state): State<AppState>, who: SignedIn, Path(id): Path<String>, form: Fields) -> Answer {
    who.check_csrf(&form)?;
    let s = service::end(&state.ctx, &Principal::Staff(who.staff.clone()), &id).await?;
    Ok(Redirect::to(&format!("/sessions/{}", s.id)).into_response())
}

/// `GET /accounts?id=`: the account look-up form leads to the access log.
pub async fn find_account(State(state): State<AppState>, who: SignedIn, Query(q): Query<AccountQuery>) -> Answer {
    permit(&state, &who, Act::ReadAccessLog, "An account's access log")?;
    let id = q.id.trim();
    if id.is_empty() {
        let body = account_form("", Some("Write the customer account id, like acct_42."));
        return Ok(page(StatusCode::BAD_REQUEST, layout("An account's access log", Some(&who), body)));
    }
    Ok(Redirect::to(&format!("/accounts/{}/access-log", encode(id))).into_response())
}

/// `GET /accounts?id=` query.
#[derive(Debug, Default, Deserialize)]
pub struct AccountQuery {
    #[serde(default)]
    id: String,
}

/// `GET /accounts/{id}/access-log`: who entered the account, newest first.
pub async fn access_log(State(state): State<AppState>, who: SignedIn, Path(id): Path<String>) -> Answer {
    let entries = service::access_log(&state.ctx, &Principal::Staff(who.staff.clone()), &id, 200).await?;
    let reviewer = who.staff.has(Role::Lead) || who.staff.has(Role::Auditor) || who.staff.has(Role::Admin);
    let body = html! {
        p { "Support sessions on account " strong { (id) } ", newest first, as the customer is told about them." }
        (account_form(&id, None))
        @if entries.is_empty() { p #no-sessions { "No one from support has entered this account." } }
        @for e in &entries {
            article.card.access {
                h2 { (e.agent_name) ", ticket " (e.ticket) }
                p {
                    @if e.state == "live" {
                        "From " (when(e.started_at)) ", " strong { "in progress" } " (until " (when(e.ended_at)) " at the latest)."
                    } @else {
                        "From " (when(e.started_at)) " to " (when(e.ended_at))
                        @if let Some(r) = &e.end_reason { " (" (r.replace('_', " ")) ")" } "."
                    }
                }
                p { (capitalized(&e.approved_by)) "." }
                p { "Reason: " q { (one_line(&e.reason)) } }
                p { "Allowed: " (e.allowed.join(", ")) "." }
                @if e.changes.is_empty() {
                    p { "Nothing was changed." }
                } @else {
                    p { "What changed:" }
                    ul.changes { @for c in &e.changes { li { (c) } } }
                }
                @if reviewer { p { a href=(format!("/sessions/{}", e.session_id)) { "The session and its timeline" } } }
            }
        }
    };
    Ok(page(StatusCode::OK, layout("Access log", Some(&who), body)))
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
                p { "Reason: " q { (one_line(&r.reason)) } }
                p { "Asked for: " (policy.labels(&r.actions)) "." }
                @if r.requester == who.staff.id {
                    @if let Some(e) = e { p.alert role="alert" id=(format!("e-{rid}")) { (e.detail) } }
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
                        input type="text" id=(format!("n-{rid}")) name="note" maxlength=(limits::NOTE_CHARS);
                        p { button type="submit" { "Approve" } }
                    }
                    form method="post" action=(format!("/requests/{rid}/deny")) {
                        input type="hidden" name="csrf" value=(who.csrf);
                        label for=(format!("d-{rid}")) { "Why deny it (required)" }
                        textarea id=(format!("d-{rid}")) name="note" required maxlength=(limits::NOTE_CHARS) {}
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

/// The queue in its live box; `err` is shown without changing the box's
/// version, so the sentence stays until the queue itself changes.
fn queue_box(policy: &Policy, who: &SignedIn, reqs: &[Request], err: Option<(&str, &FieldError)>) -> Markup {
    let v = version(&queue_view(policy, who, reqs, None));
    live_box("queue-list", "/queue?fragment=1", &v, queue_view(policy, who, reqs, err))
}

/// `GET /queue`: pending requests, oldest first (`?fragment=1`: the list only).
pub async fn queue(State(state): State<AppState>, who: SignedIn, Query(q): Query<FragmentQuery>) -> Answer {
    permit(&state, &who, Act::ReadQueue, "The approval queue")?;
    let reqs = pending(&state, &who).await?;
    let policy = &state.ctx.policy;
    if q.fragment.is_some() {
        return Ok(fragment(queue_view(policy, &who, &reqs, None)));
    }
    Ok(page(StatusCode::OK, layout("Approval queue", Some(&who), queue_box(policy, &who, &reqs, None))))
}

/// Shows the queue again with the decision's refusal next to its request.
async fn decided(state: &AppState, who: &SignedIn, id: &str, outcome: actas_core::Result<Request>) -> Answer {
    let e = match outcome {
        Ok(_) => return Ok(Redirect::to("/queue").into_response()),
        Err(
            e @ (Error::Refused { .. } | Error::BadRequest { .. } | Error::Forbidden { .. } | Error::Conflict { .. }),
        ) => e,
        Err(e) => return Err(e.into()),
    };
    let (status, _, detail, field) = crate::http::error::ApiError::from(e).parts();
    let err = FieldError { field: field.unwrap_or_else(|| "form".into()), detail };
    let reqs = pending(state, who).await?;
    let body = queue_box(&state.ctx.policy, who, &reqs, Some((id, &err)));
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
    permit(&state, &who, Act::ReadQueue, "Deciding requests")?;
    let minutes = form.get("minutes").trim().parse::<u32>().ok();
    let note = Some(form.get("note").to_string()).filter(|n| !n.trim().is_empty());
    let input = api::Approve { actions: Some(form.all("actions")), minutes, note };
    let outcome = service::approve(&state.ctx, &who.staff, &id, input).await;
    decided(&state, &who, &id, outcome).await
}

/// `POST /requests/{id}/deny`: deny with a note.
pub async fn deny(State(state): State<AppState>, who: SignedIn, Path(id): Path<String>, form: Fields) -> Answer {
    who.check_csrf(&form)?;
    permit(&state, &who, Act::ReadQueue, "Deciding requests")?;
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
