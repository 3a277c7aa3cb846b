//! `GET /queue`: the requests waiting for a lead's decision, oldest first
//! (the live box, `?fragment=1`), each with its Approve form (narrow,
//! expand, shorten, note) and Deny form, which post to
//! `/requests/{id}/approve` and `/requests/{id}/deny`; a refusal comes back
//! next to its request.
use actas_api as api;
use actas_core::limits::{self, one_line};
use actas_core::model::{Request, RequestKind, RequestStatus};
use actas_core::policy::{Approval, Policy};
use actas_core::Error;
use actas_store::RequestFilter;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use maud::{html, Markup};

use super::{minute_choices, playbook_note, refusal, when, Answer, FieldError, FragmentQuery};
use crate::authz::Act;
use crate::console::auth::{permit, Fields, SignedIn};
use crate::console::{fragment, layout, live_box, page, version, ConsoleError};
use crate::service;
use crate::AppState;

fn queue_view(policy: &Policy, who: &SignedIn, reqs: &[Request], err: Option<(&str, &FieldError)>) -> Markup {
    html! {
        @if reqs.is_empty() { p { "No request waits for a decision." } }
        @for r in reqs {
            @let rid = &r.id;
            @let e = err.filter(|(id, _)| *id == rid.as_str()).map(|(_, e)| e);
            @let playbook = r.playbook.as_deref().and_then(|n| policy.playbook(n));
            article.card aria-labelledby=(format!("h-{rid}")) {
                h2 id=(format!("h-{rid}")) {
                    (r.requester_name) ", ticket " (r.ticket)
                    @if r.kind == RequestKind::Scope { " (more actions for a live session)" }
                }
                p { "Customer account " strong { (r.account_label()) } ". Asked " (when(r.created_at)) " for " (r.minutes) " minutes." }
                p { "Reason: " q { (one_line(&r.reason)) } }
                p { "Asked for: " (policy.labels(&r.actions)) "." }
                (playbook_note(policy, r.playbook.as_deref(), &r.actions))
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
                                        @if r.actions.contains(&a.name) && playbook.is_some_and(|b| !b.actions.contains(&a.name)) {
                                            " " span.suggested.beyond-mark { "beyond the suggestion" }
                                        }
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
    let (status, err) = refusal(e);
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
