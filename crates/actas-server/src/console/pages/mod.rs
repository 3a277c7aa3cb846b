//! The console's pages, one module per URL group, like `crate::routes`:
//! `home` (`/`), `launch` (`/launch` and `POST /requests`, the request
//! form), `requests` (`/requests/{id}`: withdraw and start), `sessions`
//! (`/sessions/{id}`: end, open, more actions, revoke), `queue` (`/queue`
//! and the decisions posted from it to `/requests/{id}/approve|deny`),
//! `accounts` (`/accounts` and an account's access log), `measures`
//! (`/measures`, the support metrics with their charts, and its CSV), `audit`
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
pub mod measures;
pub mod queue;
pub mod requests;
pub mod sessions;
pub mod webhooks;

use actas_core::limits::one_line;
use actas_core::model::{Request, RequestKind, RequestStatus, Ticket};
use actas_core::policy::{Action, ActionKind, Approval, Policy};
use actas_core::{Error, Timestamp};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;

use super::ui::moment;
use super::ConsoleError;
use crate::http::error::ApiError;

/// What a page handler answers.
type Answer = Result<Response, ConsoleError>;

/// A time as pages show it, to the minute.
fn when(t: Timestamp) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A time as a clock reading, "14:03 UTC", in a `<time>` with the full
/// moment in its `datetime`.
fn clock(t: Timestamp) -> Markup {
    html! { time datetime=(t.format("%Y-%m-%dT%H:%M:%SZ").to_string()) { (clock_words(t)) } }
}

/// The words of [`clock`]: "14:03 UTC".
fn clock_words(t: Timestamp) -> String {
    t.format("%H:%M UTC").to_string()
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

/// Where a request stands, in words; the time an approval runs out is said
/// relative to `now` ("in 8 min · 14:10 UTC").
fn status_words(now: Timestamp, r: &Request) -> Markup {
    html! {
        @match r.status {
            RequestStatus::Pending => "Waiting for a lead's decision",
            RequestStatus::Approved if r.kind == RequestKind::Stepup => @match r.start_by {
                Some(t) => { "Approved: the one change may be made once, until " (moment(now, t)) }
                None => "Approved",
            },
            RequestStatus::Approved => @match r.start_by {
                Some(t) => { "Approved: start it; the approval runs out " (moment(now, t)) }
                None => "Approved",
            },
            RequestStatus::Denied => "Denied",
            RequestStatus::Withdrawn => "Withdrawn",
            RequestStatus::Expired if r.kind == RequestKind::Stepup => "Expired: the approval ran out unused",
            RequestStatus::Expired => "Expired: the approval ran out before a session was started",
            RequestStatus::Started => "Started",
            RequestStatus::Used => "Used: the one change was made",
        }
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

/// The four groups the console shows actions in, so that a person sees at
/// a glance what only looks, what changes, what needs a lead and what
/// shows sensitive data. Every action is in exactly one group: a sensitive
/// view in Sensitive, then anything a lead must approve in "Needs a lead's
/// approval", then by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Group {
    View,
    Change,
    Lead,
    Sensitive,
}

impl Group {
    /// In the order pages show them.
    pub(super) const ALL: [Group; 4] = [Group::View, Group::Change, Group::Lead, Group::Sensitive];

    pub(super) fn of(a: &Action) -> Group {
        if a.sensitive {
            Group::Sensitive
        } else if a.approval == Approval::Required {
            Group::Lead
        } else if a.kind == ActionKind::Change {
            Group::Change
        } else {
            Group::View
        }
    }

    /// The group's heading.
    pub(super) fn heading(self) -> &'static str {
        match self {
            Group::View => "View",
            Group::Change => "Change",
            Group::Lead => "Needs a lead's approval",
            Group::Sensitive => "Sensitive",
        }
    }

    /// What the actions of the group need, beside its heading.
    pub(super) fn hint(self) -> &'static str {
        match self {
            Group::View | Group::Change => "no approval needed",
            Group::Lead => "a lead approves them first",
            Group::Sensitive => "shows sensitive data; every view is recorded",
        }
    }

    /// The group's short name, for ids and classes.
    pub(super) fn key(self) -> &'static str {
        match self {
            Group::View => "view",
            Group::Change => "change",
            Group::Lead => "lead",
            Group::Sensitive => "sensitive",
        }
    }
}

/// The policy's actions that `keep` keeps, in their groups (each in policy
/// order), empty groups left out.
pub(super) fn grouped(policy: &Policy, keep: impl Fn(&Action) -> bool) -> Vec<(Group, Vec<&Action>)> {
    Group::ALL
        .into_iter()
        .map(|g| (g, policy.actions().iter().filter(|a| Group::of(a) == g && keep(a)).collect::<Vec<&Action>>()))
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

/// Checkboxes named `actions`, grouped under headings (`View`, `Change`,
/// `Needs a lead's approval`, `Sensitive`), each with its badges and the
/// `note` a page adds to it (suggested, beyond the suggestion, …); the
/// whole row is the label, so the whole row ticks the box. `prefix` keeps
/// the headings' ids apart when a page has several such lists.
pub(super) fn action_choices(
    policy: &Policy,
    prefix: &str,
    offer: impl Fn(&Action) -> bool,
    checked: &[String],
    note: impl Fn(&Action) -> Option<Markup>,
) -> Markup {
    html! {
        div.choices {
            @for (g, actions) in grouped(policy, offer) {
                @let hid = format!("{prefix}-{}", g.key());
                div class={ "group g-" (g.key()) } role="group" aria-labelledby=(hid) {
                    h3 id=(hid) { (g.heading()) " " span.hint { (g.hint()) } }
                    @for a in actions {
                        label.choice {
                            input type="checkbox" name="actions" value=(a.name) data-label=(a.label)
                                data-approval=(a.approval.as_str()) checked[checked.contains(&a.name)]
                                disabled[a.approval == Approval::Forbidden];
                            span.choice-text {
                                span.choice-label { (a.label) }
                                (crate::console::ui::action_badges(a))
                                @if let Some(n) = note(a) { " " (n) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The labels of `names` in their groups, compactly: one line per group,
/// the groups that need a lead or show sensitive data flagged by a badge;
/// `beyond` (what goes past a playbook's suggestion) is highlighted.
/// Names the policy no longer knows are listed as they are.
pub(super) fn grouped_labels(policy: &Policy, names: &[String], beyond: &[String]) -> Markup {
    use crate::console::ui::badge;
    let unknown: Vec<&String> = names.iter().filter(|n| policy.action(n).is_none()).collect();
    html! {
        ul.asked {
            @for (g, actions) in grouped(policy, |a| names.contains(&a.name)) {
                li class={ "g-" (g.key()) } {
                    @match g {
                        Group::Lead => { (badge("risky", "Needs a lead")) }
                        Group::Sensitive => { (badge("sensitive", "Sensitive")) }
                        _ => { span.group-name { (g.heading()) } }
                    }
                    " "
                    @for (i, a) in actions.iter().enumerate() {
                        @if i > 0 { ", " }
                        @if beyond.contains(&a.name) { mark.beyond-mark { (a.label) } } @else { (a.label) }
                    }
                }
            }
            @if !unknown.is_empty() {
                li { span.group-name { "Not in the policy" } " " @for (i, n) in unknown.iter().enumerate() { @if i > 0 { ", " } code { (n) } } }
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
    fn every_action_is_in_exactly_one_group_sensitive_views_and_risky_changes_apart() {
        let p = Policy::shipped();
        let groups = grouped(&p, |_| true);
        let count: usize = groups.iter().map(|(_, v)| v.len()).sum();
        assert_eq!(count, p.actions().len());
        let of = |name: &str| Group::of(p.action(name).unwrap());
        assert_eq!(of("settings.view"), Group::View);
        assert_eq!(of("settings.update"), Group::Lead);
        assert_eq!(of("password.reset"), Group::Lead);
        assert_eq!(of("sensitive.view"), Group::Sensitive);
        let order: Vec<Group> = groups.iter().map(|(g, _)| *g).collect();
        assert_eq!(
            order,
            vec![Group::View, Group::Lead, Group::Sensitive],
            "no change needs no lead in the shipped policy"
        );
    }

    #[test]
    fn the_two_lists_cover_every_action_once() {
        let p = Policy::shipped();
        let (will, wont) = split_lists(&p, &["settings.view".to_string(), "settings.update".to_string()]);
        assert_eq!(will, vec!["View account settings", "Update account settings"]);
        assert_eq!(will.len() + wont.len(), p.actions().len());
    }
}
