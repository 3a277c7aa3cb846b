//! The console's pages, one module per URL group, like `crate::routes`:
//! `home` (`/`), `launch` (`/launch` and `POST /requests`, the request
//! form), `requests` (`/requests/{id}`: withdraw and start), `sessions`
//! (`/sessions/{id}`: end, open, more actions, revoke), `queue` (`/queue`
//! and the decisions posted from it to `/requests/{id}/approve|deny`),
//! `accounts` (`/accounts` and an account's access log), `audit`
//! (`/audit`, its downloads and the chain's verification) and `admin`
//! (`/staff`, `/apps`, `/policy`). This file holds what several of them
//! share; the frame of every page (`layout`, `page`, live boxes) is in
//! `crate::console`. The home page, the queue and the session state answer
//! `?fragment=` with only their live box.
//!
//! Handlers are thin: they take the signed-in person and the form, check
//! the CSRF token and the role the page needs, call a `service` operation
//! and render. A refusal with a field is shown next to that field, with the
//! person's input kept.

pub mod accounts;
pub mod admin;
pub mod audit;
pub mod home;
pub mod launch;
pub mod queue;
pub mod requests;
pub mod sessions;

use actas_core::limits::one_line;
use actas_core::model::{Request, RequestStatus, Ticket};
use actas_core::policy::{Approval, Policy};
use actas_core::{Error, Timestamp};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;

use super::ConsoleError;
use crate::http::error::ApiError;

/// What a page handler answers.
type Answer = Result<Response, ConsoleError>;

/// A time as pages show it, to the minute.
fn when(t: Timestamp) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A ticket reference (or any text) as a query value.
fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A ticket at a glance: its account, subject, status, where it came from
/// (a ticket typed in by hand says so), its link back to its system, and
/// the playbook its tags name.
fn ticket_card(policy: &Policy, t: &Ticket) -> Markup {
    let playbook = policy.playbook_for(&t.tags);
    html! {
        section.card {
            h2 { "Ticket " (t.reference) }
            p { "Customer account: " strong { (t.account_label()) } }
            p { "Subject: " (one_line(&t.subject)) }
            p {
                "Status: " span.status { (t.status.as_str()) }
                @if let Some(a) = &t.assignee { ". Assigned to " (a) }
                "."
            }
            @if t.by_hand() {
                p.badge.hand { "Typed in by hand: no ticket system confirmed this ticket." }
            } @else if let Some(url) = &t.url {
                p { a href=(url) rel="noopener noreferrer" target="_blank" { "Open the ticket in " (actas_core::audit::ticket_system(t.source)) } }
            }
            @if !t.status.takes_requests() {
                p.alert role="alert" { "This ticket is " (t.status.as_str()) ": requests need an open or pending ticket." }
            }
            @if let Some(b) = playbook {
                p { "Kind of case: " strong { (b.label) } " (playbook " code { (b.name) } ")." }
            }
        }
    }
}

/// A request's actions against the playbook of its ticket's kind of case:
/// what it suggests, and what was asked beyond it.
fn playbook_note(policy: &Policy, playbook: Option<&str>, asked: &[String]) -> Markup {
    let Some(b) = playbook.and_then(|n| policy.playbook(n)) else { return html! {} };
    let beyond = policy.beyond(b, asked);
    html! {
        p.playbook {
            "Suggested for this kind of case (" (b.label) "): " (policy.labels(&b.actions)) ", " (b.minutes) " minutes."
        }
        @if !beyond.is_empty() {
            p.beyond { strong { "Beyond the suggestion: " } (policy.labels(&beyond)) "." }
        }
    }
}

/// Where a request stands, in words.
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

/// What granting an action needs, in words.
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

/// The "You will (not) be able to…" lists for `chosen`.
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

/// The sentence of a field's error, under the id its input refers to.
pub(super) fn field_error(id: &str, detail: Option<&str>) -> Markup {
    html! { @if let Some(d) = detail { p.error id=(id) role="alert" { (d) } } }
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

/// A refusal's status, and its sentence for the field it names (`form`
/// when it names none).
fn refusal(e: Error) -> (StatusCode, FieldError) {
    let (status, _, detail, field) = ApiError::from(e).parts();
    (status, FieldError { field: field.unwrap_or_else(|| "form".into()), detail })
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
