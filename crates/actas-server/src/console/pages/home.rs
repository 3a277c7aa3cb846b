//! `GET /`: who is signed in, the agent's live session and requests, the
//! lead's waiting count (the live box, also at `?fragment=1`), and the
//! forms and links a person's roles open.
use actas_core::limits::one_line;
use actas_core::model::{RequestStatus, Role, Ticket};
use actas_core::policy::Policy;
use actas_store::RequestFilter;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use maud::{html, Markup};

use super::accounts::account_form;
use super::launch::ticket_form;
use super::requests::{decision_key, decision_words};
use super::{status_words, urlencode, Answer, FragmentQuery};
use crate::authz::Act;
use crate::console::auth::SignedIn;
use crate::console::ui::{moment, request_badge, session_badge};
use crate::console::{fragment, layout, links, live_box, page, version, ConsoleError};
use crate::service;
use crate::AppState;

fn signed_in_line(who: &SignedIn) -> Markup {
    let roles: Vec<&str> = who.staff.roles.iter().map(|r| r.as_str()).collect();
    html! { p { "Signed in as " strong { (who.staff.name) } " (" (who.staff.id) "; " (roles.join(", ")) ")." } }
}

/// What a page of the nav is for, in a sentence.
fn page_purpose(href: &str) -> &'static str {
    match href {
        "/queue" => "Requests waiting for a lead's decision: approve, narrow or deny them.",
        "/audit" => "Search every event; download what you find as JSON lines, CSV or plain text.",
        "/audit/verify" => "Check that no event of the trail was changed, removed or reordered.",
        "/staff" => "Who may sign in, with which roles, and who is disabled.",
        "/apps" => "The host apps and ticket systems that talk to actas.",
        "/policy" => "What each action needs before it is granted, and how long sessions last.",
        "/webhooks" => "Where audit events are sent (a SIEM), and whether each receiver takes them.",
        "/measures" => "Whether support solves cases fast, keeps access narrow and can explain every session.",
        _ => "",
    }
}

/// Open tickets with their customer, subject, kind of case, a link back to
/// their system and a Launch button to the request form.
fn ticket_table(policy: &Policy, caption: &str, id: &str, tickets: &[Ticket]) -> Markup {
    html! {
        div.wide {
            table.tickets.data id=(id) {
                caption { (caption) }
                thead { tr { th scope="col" { "Ticket" } th scope="col" { "Customer" } th scope="col" { "Subject" } th scope="col" { "Kind of case" } th scope="col" { span.visually-hidden { "Launch" } } } }
                tbody {
                    @for t in tickets {
                        tr {
                            td data-label="Ticket" {
                                @match &t.url {
                                    Some(url) => { a href=(url) rel="noopener noreferrer" target="_blank" { (t.reference) } }
                                    None => { (t.reference) }
                                }
                                br; span.hint { (t.status.as_str()) }
                            }
                            td data-label="Customer" { (t.account_label()) }
                            td data-label="Subject" { (one_line(&t.subject)) }
                            td data-label="Kind of case" {
                                @match policy.playbook_for(&t.tags) {
                                    Some(b) => { (b.label) }
                                    None => { span.hint { "none named" } }
                                }
                            }
                            td {
                                a.button href=(format!("/launch?ticket={}", urlencode(&t.reference)))
                                    aria-label=(format!("Launch a request for ticket {}", t.reference)) { "Launch" }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The part of the home page that refreshes itself.
async fn home_live(state: &AppState, who: &SignedIn) -> Result<Markup, ConsoleError> {
    let ctx = &state.ctx;
    let now = ctx.clock.now();
    let agent = who.staff.has(Role::Agent);
    let lead = who.staff.has(Role::Lead);
    let (live, mine, inbox) = if agent {
        let live = service::live_session_of(ctx, &who.staff).await?;
        let f = RequestFilter { requester: Some(who.staff.id.clone()), ..Default::default() };
        let mut mine = service::list_requests(ctx, &who.staff, f).await?;
        mine.reverse();
        mine.truncate(20);
        (live, mine, Some(service::inbox(ctx, &who.staff).await?))
    } else {
        (None, Vec::new(), None)
    };
    let pending = if lead {
        let f = RequestFilter { status: Some(RequestStatus::Pending), ..Default::default() };
        service::list_requests(ctx, &who.staff, f).await?.into_iter().filter(|r| r.requester != who.staff.id).count()
    } else {
        0
    };
    Ok(html! {
        @if let Some((assigned, unassigned)) = &inbox {
            section #inbox {
                h2 { "Your tickets" }
                @if assigned.is_empty() && unassigned.is_empty() {
                    p { "No open ticket is assigned to you or waiting for someone." }
                }
                @if !assigned.is_empty() { (ticket_table(&state.ctx.policy, "Assigned to you", "assigned", assigned)) }
                @if !unassigned.is_empty() {
                    (ticket_table(&state.ctx.policy, "Not assigned yet, newest first", "unassigned", unassigned))
                }
            }
        }
        @if agent {
            section {
                h2 { "Your live session" }
                @match &live {
                    Some(s) => {
                        div.card {
                            div.card-head {
                                h3 { "Ticket " (s.ticket) }
                                (session_badge(s.state, s.end_reason))
                            }
                            p { "Acting as " strong { (s.account_label()) } " under ticket " (s.ticket) "." }
                            p.meta { "Ends " (moment(now, s.ends_at)) " at the latest." }
                            div.actions {
                                a.button.primary href=(format!("/sessions/{}", s.id)) { "Open the session and its timeline" }
                                form method="post" action=(format!("/sessions/{}/end", s.id)) {
                                    input type="hidden" name="csrf" value=(who.csrf);
                                    button.danger type="submit" { "End the session" }
                                }
                            }
                        }
                    }
                    None => { p { "You have no live session." } }
                }
            }
            section {
                h2 { "My requests" }
                @if mine.is_empty() { p { "You have not asked for access yet." } }
                ul #my-requests .boxed {
                    @for r in &mine {
                        li data-notify-key=[decision_key(r)] data-notify=[decision_words(r)] {
                            (request_badge(r.status)) " "
                            a href=(format!("/requests/{}", r.id)) { "Ticket " (r.ticket) ", " (r.account_label()) }
                            br;
                            span.meta { span.status { (status_words(now, r)) } " · asked " (moment(now, r.created_at)) }
                        }
                    }
                }
            }
        }
        @if lead {
            section {
                h2 { "Approval queue" }
                p { (pending) @if pending == 1 { " request waits" } @else { " requests wait" } " for your decision." }
                div.actions { a.button.primary href="/queue" { "Open the approval queue" } }
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
    // An admin is told of webhooks that kept failing and were paused.
    let hooks =
        if who.staff.has(Role::Admin) { service::list_webhooks(&state.ctx, &who.staff).await? } else { Vec::new() };
    let body = html! {
        (signed_in_line(&who))
        (super::webhooks::paused_alert(&hooks))
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
                ul.boxed {
                    @for (href, text) in &others {
                        li { a href=(href) { (text) } br; span.meta { (page_purpose(href)) } }
                    }
                }
            }
        }
    };
    Ok(page(StatusCode::OK, layout("Home", Some(&who), body)))
}
