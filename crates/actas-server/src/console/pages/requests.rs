//! `GET /requests/{id}`: a request, its decisions and sessions, with
//! Withdraw (`POST /requests/{id}/withdraw`) for its requester and Start
//! (`POST /requests/{id}/start`) once it is approved.
use actas_core::limits::one_line;
use actas_core::model::{Decision, DecisionKind, Request, RequestKind, RequestStatus, Session};
use actas_core::policy::Policy;
use actas_core::Code;
use actas_core::Error;
use actas_core::Timestamp;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use maud::{html, Markup};

use super::{approval_words, field_error, lists, status_words, Answer, FragmentQuery};
use crate::authz::Act;
use crate::console::auth::{permit, Fields, SignedIn};
use crate::console::ui::{action_badges, moment, request_badge, session_badge};
use crate::console::{encode, fragment, layout, live_box, page, version, ConsoleError};
use crate::http::error::ApiError;
use crate::service::{self, Principal};
use crate::AppState;

/// `GET /requests/{id}` (`?fragment=1`: only the live box).
pub async fn request(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
    Query(q): Query<FragmentQuery>,
) -> Answer {
    if q.fragment.is_some() {
        let (r, decisions, sessions) =
            service::get_request(&state.ctx, &Principal::Staff(who.staff.clone()), &id).await?;
        let now = state.ctx.clock.now();
        return Ok(fragment(request_view(&state.ctx.policy, &who, now, &r, &decisions, &sessions, None)));
    }
    request_page(&state, &who, &id, StatusCode::OK, None).await
}

/// `POST /requests/{id}/withdraw`: the requester takes a request back.
pub async fn withdraw(State(state): State<AppState>, who: SignedIn, Path(id): Path<String>, form: Fields) -> Answer {
    who.check_csrf(&form)?;
    match service::withdraw(&state.ctx, &who.staff, &id).await {
        Ok(r) => Ok(Redirect::to(&format!("/requests/{}", r.id)).into_response()),
        Err(e @ (Error::Refused { .. } | Error::Forbidden { .. } | Error::Conflict { .. })) => {
            let (status, _, detail, _) = ApiError::from(e).parts();
            request_page(&state, &who, &id, status, Some(&detail)).await
        }
        Err(e) => Err(e.into()),
    }
}

/// The key of a decision's browser notification (`console.js` shows it when
/// the key first appears after a refresh): only for the requester.
pub(super) fn decision_key(r: &Request) -> Option<String> {
    decision_verb(r).map(|v| format!("decided-{}-{v}", r.id))
}

/// The sentence of that notification.
pub(super) fn decision_words(r: &Request) -> Option<String> {
    decision_verb(r).map(|v| format!("Your request for ticket {} was {v}", one_line(&r.ticket)))
}

fn decision_verb(r: &Request) -> Option<&'static str> {
    match r.status {
        RequestStatus::Approved => Some("approved"),
        RequestStatus::Denied => Some("denied"),
        _ => None,
    }
}

async fn request_page(state: &AppState, who: &SignedIn, id: &str, status: StatusCode, err: Option<&str>) -> Answer {
    let (r, decisions, sessions) = service::get_request(&state.ctx, &Principal::Staff(who.staff.clone()), id).await?;
    let policy = &state.ctx.policy;
    let now = state.ctx.clock.now();
    // The error stays until the request itself changes.
    let v = version(&request_view(policy, who, now, &r, &decisions, &sessions, None));
    let body = live_box(
        "request-live",
        &format!("/requests/{}?fragment=1", encode(&r.id)),
        &v,
        request_view(policy, who, now, &r, &decisions, &sessions, err),
    );
    Ok(page(status, layout("Access request", Some(who), body)))
}

/// The request's page, all of it in the live box.
fn request_view(
    policy: &Policy,
    who: &SignedIn,
    now: Timestamp,
    r: &Request,
    decisions: &[Decision],
    sessions: &[Session],
    err: Option<&str>,
) -> Markup {
    let allowed = r.granted_actions.clone().unwrap_or_else(|| r.actions.clone());
    let decided = matches!(r.status, RequestStatus::Approved | RequestStatus::Started | RequestStatus::Expired);
    let withdrawable =
        r.requester == who.staff.id && matches!(r.status, RequestStatus::Pending | RequestStatus::Approved);
    let own = r.requester == who.staff.id;
    let stepup = r.kind == RequestKind::Stepup;
    html! {
        div.card {
            div.card-head {
                h2 { (r.account_label()) }
                (request_badge(r.status))
            }
            p { "Status: " span.status #status data-notify-key=[own.then(|| decision_key(r)).flatten()]
                data-notify=[own.then(|| decision_words(r)).flatten()] { (status_words(now, r)) } }
            p { "Ticket " (r.ticket) ", customer account " strong { (r.account_label()) } }
            @if stepup {
                p { "Asked by " (r.requester_name) ", " (moment(now, r.created_at)) "." }
            } @else {
                p { "Asked by " (r.requester_name) ", " (moment(now, r.created_at)) ", for " (r.minutes) " minutes." }
            }
            p { "Reason: " q { (one_line(&r.reason)) } }
            @if r.kind == RequestKind::Scope { p { "More actions for a live session." } }
            @if r.kind == RequestKind::Breakglass {
                p.alert.breakglass #breakglass-mark {
                    strong { "Break-glass. " }
                    "No lead approved this access. When the session starts every lead is told, "
                    "and a lead reviews it after it ends."
                }
            }
            @if let (true, Some(sid)) = (stepup, &r.session_id) {
                p #stepup-change {
                    "One change in a " a href=(format!("/sessions/{sid}")) { "live session" } ": "
                    strong { (actas_core::audit::stepup_change(policy, r)) }
                    ". Approved, it may be made once within " (actas_core::stepup::USE_WITHIN_MINUTES)
                    " minutes; the session's allowed actions do not grow."
                }
            }
        }
        @if !stepup {
            @if decided {
                h2 { "Allowed" }
                (lists(policy, &allowed, false))
                p { "For " (r.granted_minutes.unwrap_or(r.minutes)) " minutes." }
            } @else {
                h2 { "Asked for" }
                ul {
                    @for a in &r.actions {
                        li {
                            (policy.label(a)) " " span.hint { "(" (approval_words(policy, a)) ")" }
                            @if let Some(action) = policy.action(a) { (action_badges(action)) }
                        }
                    }
                }
            }
        }
        @for d in decisions.iter().filter(|d| d.kind != DecisionKind::Breakglass) {
            p { "Decided by " (d.decider_name) ", " (moment(now, d.at)) "."
                @if let Some(n) = &d.note { " Note: " q { (one_line(n)) } } }
        }
        @if own && r.status == RequestStatus::Approved && !stepup {
            form method="post" action=(format!("/requests/{}/start", r.id)) {
                input type="hidden" name="csrf" value=(who.csrf);
                p.hint { "Starting gives you a link into the host app; the session is recorded from that moment." }
                button.primary type="submit" { "Start the session" }
            }
        }
        @if withdrawable {
            form method="post" action=(format!("/requests/{}/withdraw", r.id)) {
                input type="hidden" name="csrf" value=(who.csrf);
                (field_error("withdraw-error", err))
                p.hint #withdraw-hint { "Withdrawing cancels the request for good; ask again if you need access later." }
                button.danger type="submit" aria-describedby="withdraw-hint" { "Withdraw the request" }
            }
        } @else if let Some(e) = err {
            p.alert role="alert" #withdraw-error { (e) }
        }
        @if !sessions.is_empty() {
            h2 { "Sessions" }
            ul {
                @for s in sessions {
                    li {
                        a href=(format!("/sessions/{}", s.id)) { "Session started " (moment(now, s.started_at)) }
                        " " (session_badge(s.state, s.end_reason))
                    }
                }
            }
        }
    }
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
        Err(Error::Conflict { code: Code::LiveSessionExists, detail }) => {
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
