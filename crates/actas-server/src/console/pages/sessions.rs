//! `GET /sessions/{id}`: a session's state and scope (the live box,
//! `?fragment=1`) and its timeline (`?fragment=timeline`), with End, Open
//! in the host app (a one-time entry code), Ask for more actions and, for a
//! lead, Revoke with a note; a refused form comes back with its sentence
//! next to its field. `GET /sessions/{id}/story` tells the same session's
//! story on a page made for printing, to whoever may read the session.
use actas_api as api;
use actas_core::audit::Event;
use actas_core::limits::{self, one_line};
use actas_core::model::{Request, RequestKind, Role, Session};
use actas_core::policy::Approval;
use actas_core::Error;
use actas_store::{read_fn, RequestFilter};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use maud::{html, Markup};

use super::{action_choices, field_error, refusal, status_words, when, Answer, FieldError, FragmentQuery};
use crate::authz::Act;
use crate::console::auth::{permit, Fields, SignedIn};
use crate::console::ui::{event_class, moment, session_badge};
use crate::console::{encode, fragment, layout, live_box, origin_of, page, page_with_form_to, version, ConsoleError};
use crate::service::{self, Principal};
use crate::AppState;

fn end_words(s: &Session) -> String {
    match (s.end_reason, s.ended_at) {
        (Some(r), Some(at)) => format!("Ended at {}: {}", when(at), r.words()),
        _ => "Ended".into(),
    }
}

/// How a session ended, its time relative to `now`:
/// "Ended 3 min ago · 14:00 UTC: the agent ended it".
fn end_line(now: actas_core::Timestamp, s: &Session) -> Markup {
    html! {
        @match (s.end_reason, s.ended_at) {
            (Some(r), Some(at)) => { "Ended " (moment(now, at)) ": " (r.words()) }
            _ => "Ended",
        }
    }
}

/// `s` with its first letter in capitals.
fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
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
    let now = state.ctx.clock.now();
    html! {
        div.card {
            div.card-head {
                h2 { (s.account_label()) }
                (session_badge(s.state, s.end_reason))
            }
            p { "State: " span.status #state {
                @if s.is_live() {
                    "Live: ends " (moment(now, s.ends_at)) ", or " (moment(now, idle)) " without activity"
                } @else { (end_line(now, s)) }
            } }
            p.meta {
                "Started " (moment(now, s.started_at))
                @if s.is_live() { "; ends " (moment(now, s.ends_at)) } @else if let Some(at) = s.ended_at { "; ended " (moment(now, at)) }
            }
            @if let Some(n) = &s.end_note { p { "Note: " q { (one_line(n)) } } }
            p { "Customer account " strong { (s.account_label()) } ", ticket " (s.ticket) }
            p { "Agent: " (s.agent_name) ", " (actas_core::audit::approved_by(&s.approvers)) "." }
            p { "Reason: " q { (one_line(&s.reason)) } }
            @if s.breakglass {
                (breakglass_line(now, s))
            }
        }
        h2 { "Allowed" }
        ul #scope { @for a in &s.scope { li { (policy.label(a)) } } }
        @let (stepups, scopes): (Vec<&Request>, Vec<&Request>) = scope_reqs.iter().partition(|r| r.kind == RequestKind::Stepup);
        @if !scopes.is_empty() {
            h2 { "More actions asked for" }
            ul #scope-requests {
                @for r in scopes {
                    li {
                        a href=(format!("/requests/{}", r.id)) { (policy.labels(&r.actions)) }
                        " — " span.status { (status_words(now, r)) } " (asked " (moment(now, r.created_at)) ")"
                    }
                }
            }
        }
        @if !stepups.is_empty() {
            h2 { "One change asked of a lead" }
            ul #stepups {
                @for r in stepups {
                    li {
                        a href=(format!("/requests/{}", r.id)) { (actas_core::audit::stepup_change(policy, r)) }
                        " — " span.status { (status_words(now, r)) } " (asked " (moment(now, r.created_at)) ")"
                    }
                }
            }
        }
    }
}

/// The break-glass mark on a session: whether a lead reviewed it.
fn breakglass_line(now: actas_core::Timestamp, s: &Session) -> Markup {
    html! {
        @match &s.review {
            Some(r) => p.breakglass #breakglass-mark {
                strong { "Break-glass" } ", reviewed by " (r.by_name) " " (moment(now, r.at)) ": " q { (one_line(&r.note)) }
            },
            None if s.is_live() => p.alert.breakglass #breakglass-mark {
                strong { "Break-glass: " } "no lead approved this session. Every lead was told; "
                "a lead reviews it once it ends, and may revoke it now."
            },
            None => p.alert.breakglass #breakglass-mark {
                strong { "Break-glass: " } "no lead approved this session, and no lead has reviewed it yet."
            },
        }
    }
}

fn timeline_list(now: actas_core::Timestamp, events: &[Event]) -> Markup {
    html! { ol { @for e in events { li class=[event_class(e.kind)] { span.hint { (moment(now, e.at)) } " " (one_line(&e.text)) } } } }
}

fn scope_form(state: &AppState, who: &SignedIn, s: &Session, f: &SessionForm) -> Markup {
    let policy = &state.ctx.policy;
    let more: Vec<_> =
        policy.actions().iter().filter(|a| a.approval != Approval::Forbidden && !s.scope.contains(&a.name)).collect();
    // Ticked again only when the form comes back refused.
    let checked: &[String] = if f.which == "scope" { &f.actions } else { &[] };
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
                    (action_choices(policy, "scope", |a| more.iter().any(|m| m.name == a.name), checked, |_| None))
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
            p { button.danger type="submit" { "Revoke the session" } }
        }
    }
}

fn review_form(who: &SignedIn, s: &Session, f: &SessionForm) -> Markup {
    let note_err = f.error("review", "note");
    html! {
        form #review-form method="post" action=(format!("/sessions/{}/review", s.id)) {
            @if let Some(e) = f.general("review", &["note"]) { p.alert role="alert" #review-error { (e) } }
            input type="hidden" name="csrf" value=(who.csrf);
            p.hint #review-hint {
                "Read the timeline below first. Say what was done, and whether breaking the glass was warranted; "
                "the note goes into the audit trail."
            }
            label for="review-note" { "What you found (required)" }
            (field_error("review-note-error", note_err))
            textarea #review-note name="note" required maxlength=(limits::NOTE_CHARS)
                aria-describedby=(if note_err.is_some() { "review-hint review-note-error" } else { "review-hint" }) {
                @if f.which == "review" { (f.reason) }
            }
            p { button.primary type="submit" { "Mark as reviewed" } }
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
    let timeline = timeline_list(state.ctx.clock.now(), d.events);
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
                        (moment(state.ctx.clock.now(), c.expires_at)) "; it works once:" }
                    p { code { (c.code.expose()) } }
                }
            }
            div.card #controls {
                div.actions {
                    form #open-host method="post" action=(format!("/sessions/{}/open", s.id)) {
                        input type="hidden" name="csrf" value=(who.csrf);
                        button.primary type="submit" aria-describedby="open-host-hint" { "Open in the host app" }
                    }
                    form method="post" action=(format!("/sessions/{}/end", s.id)) {
                        input type="hidden" name="csrf" value=(who.csrf);
                        button.danger type="submit" { "End the session" }
                    }
                }
                p.hint #open-host-hint { "Each click makes a new one-time link that works once, for "
                    (service::ENTRY_CODE_MINUTES) " minutes; the token itself never appears in an address." }
            }
            (scope_form(state, who, s, f))
        }
        @if s.is_live() && who.staff.has(Role::Lead) {
            h2 { "Revoke" }
            (revoke_form(who, s, f))
        }
        @if s.awaits_review() && !s.is_live() && who.staff.has(Role::Lead) && s.agent != who.staff.id {
            h2 { "Review this break-glass session" }
            (review_form(who, s, f))
        }
        div.card-head {
            h2 { "Timeline" }
            a.button href=(format!("/sessions/{}/story", s.id)) { "Print this session's story" }
        }
        (live_box("timeline", &format!("/sessions/{}?fragment=timeline", s.id), &v_timeline, timeline))
    }
}

/// The scope requests and step-ups of a session, oldest first.
async fn scope_requests(state: &AppState, sid: &str) -> Result<Vec<Request>, ConsoleError> {
    let f = RequestFilter { session_id: Some(sid.to_string()), ..Default::default() };
    let all = state.ctx.store.read(read_fn(move |tx| Box::pin(async move { tx.list_requests(&f).await }))).await?;
    Ok(all.into_iter().filter(|r| r.kind != RequestKind::Access).collect())
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
        let app = ctx.store.read(read_fn(move |tx| Box::pin(async move { tx.get_app(&app_id).await }))).await?;
        app.and_then(|a| a.entry_address()).and_then(|u| origin_of(&u))
    } else {
        None
    };
    let d = SessionData { s: &s, events: &events, scope_reqs: &scope_reqs, started: started && s.is_live(), code };
    let markup = layout("Support session", Some(who), session_view(state, who, d, f));
    Ok(page_with_form_to(status, markup, entry_origin.as_deref()))
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
        return Ok(fragment(timeline_list(ctx.clock.now(), &events)));
    }
    let scope_reqs = scope_requests(&state, &s.id).await?;
    Ok(fragment(session_live(&state, &s, &scope_reqs)))
}

/// `GET /sessions/{id}/story`: the session's story in plain sentences, on a
/// page made for printing (the console's `@media print` style leaves out
/// the frame and the forms). Whoever may read the session page may read it,
/// through the same service calls.
pub async fn story(State(state): State<AppState>, who: SignedIn, Path(id): Path<String>) -> Answer {
    let ctx = &state.ctx;
    let s = service::get_session(ctx, &Principal::Staff(who.staff.clone()), &id).await?;
    let events = service::timeline(ctx, &who.staff, &s.id).await?;
    let policy = &ctx.policy;
    let now = ctx.clock.now();
    let full = |t: actas_core::Timestamp| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    let body = html! {
        div.actions.no-print {
            a.button href=(format!("/sessions/{}", s.id)) { "Back to the session" }
        }
        p.hint.no-print { "Print this page with your browser's Print command (Ctrl+P or ⌘P); the console's frame and buttons are left out of the print." }
        div.card #story-summary {
            div.card-head {
                h2 { (s.account_label()) }
                (session_badge(s.state, s.end_reason))
            }
            dl.facts {
                dt { "Ticket" } dd { (s.ticket) }
                dt { "Agent" } dd { (s.agent_name) " (" (s.agent) ")" }
                dt { "Approval" } dd { (capitalized(&actas_core::audit::approved_by(&s.approvers))) }
                dt { "Reason" } dd { q { (one_line(&s.reason)) } }
                dt { "Allowed" } dd { (policy.labels(&s.scope)) }
                dt { "Started" } dd { (full(s.started_at)) }
                @if s.is_live() {
                    dt { "Ends" } dd { (full(s.ends_at)) " at the latest (still live)" }
                } @else {
                    dt { "Ended" } dd { (end_words(&s)) }
                }
                @if let Some(n) = &s.end_note { dt { "Note" } dd { q { (one_line(n)) } } }
            }
        }
        h2 { "What happened, in order" }
        @if events.is_empty() { p { "Nothing is recorded for this session yet." } }
        ol.story #story {
            @for e in &events {
                li class=[event_class(e.kind)] {
                    span.when { (full(e.at)) }
                    (one_line(&e.text))
                }
            }
        }
        p.meta {
            "Session " code { (s.id) } ". Told from the audit trail on " (full(now))
            "; the trail's chain can be checked with " code { "actas audit verify" } "."
        }
    };
    Ok(page(StatusCode::OK, layout("The story of a support session", Some(&who), body)))
}

/// The session page again with a refused form's sentence next to its field.
async fn session_refused(state: &AppState, who: &SignedIn, id: &str, e: Error, mut f: SessionForm) -> Answer {
    if !matches!(e, Error::Refused { .. } | Error::BadRequest { .. } | Error::Forbidden { .. } | Error::Conflict { .. })
    {
        return Err(e.into());
    }
    let (status, err) = refusal(e);
    f.err = Some(err);
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

/// `POST /sessions/{id}/review`: a lead reviews a break-glass session that
/// ended, with a note.
pub async fn review(State(state): State<AppState>, who: SignedIn, Path(id): Path<String>, form: Fields) -> Answer {
    who.check_csrf(&form)?;
    permit(&state, &who, Act::ReadQueue, "Reviewing a break-glass session")?;
    let note = form.get("note").to_string();
    match service::review(&state.ctx, &who.staff, &id, api::Note { note: Some(note.clone()) }).await {
        Ok(s) => Ok(Redirect::to(&format!("/sessions/{}", encode(&s.id))).into_response()),
        Err(e) => {
            let f = SessionForm { which: "review", err: None, actions: Vec::new(), reason: note };
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
