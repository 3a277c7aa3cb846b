//! The plain lines of the audit trail.
//!
//! One function per event type. Each returns a sentence a support lead
//! understands in one pass: names, the account with its id, the ticket, the
//! time in UTC, and actions by their plain labels. Quotes mark words that
//! someone typed (reasons, notes).

use chrono::Duration;

use crate::model::{EndReason, Request, Session, Staff, Ticket};
use crate::policy::Policy;
use crate::Timestamp;

use super::NOT_STORED;

/// `14:03 UTC`
pub fn hhmm(t: Timestamp) -> String {
    t.format("%H:%M UTC").to_string()
}

/// `1 minute`, `15 minutes`, `less than a minute`.
pub fn duration_words(d: Duration) -> String {
    match d.num_minutes() {
        m if m <= 0 => "less than a minute".into(),
        1 => "1 minute".into(),
        m => format!("{m} minutes"),
    }
}

fn minutes_words(m: u32) -> String {
    if m == 1 {
        "1 minute".into()
    } else {
        format!("{m} minutes")
    }
}

fn possessive(name: &str) -> String {
    if name.ends_with('s') {
        format!("{name}'")
    } else {
        format!("{name}'s")
    }
}

/// One recorded change, already redacted where needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    /// Field name (`invoice_email`).
    pub field: String,
    /// Old value, or [`NOT_STORED`].
    pub old: Option<String>,
    /// New value, or [`NOT_STORED`].
    pub new: Option<String>,
}

impl FieldChange {
    /// "invoice email from a to b".
    pub fn words(&self) -> String {
        let field = self.field.replace(['_', '.'], " ");
        match (&self.old, &self.new) {
            (Some(o), Some(n)) if o == NOT_STORED && n == NOT_STORED => {
                format!("{field} {NOT_STORED}")
            }
            (Some(o), Some(n)) => format!("{field} from {o} to {n}"),
            (None, Some(n)) => format!("{field} to {n}"),
            (Some(o), None) => format!("{field} (was {o})"),
            (None, None) => field,
        }
    }
}

fn join_and(parts: &[String]) -> String {
    match parts {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// `ticket.created`
pub fn ticket_created(by: &str, t: &Ticket) -> String {
    format!("{by} recorded ticket {} for {}: \"{}\".", t.reference, t.account_label(), t.subject)
}

/// `request.created`
pub fn request_created(p: &Policy, r: &Request) -> String {
    format!(
        "{} asked to act as {} under ticket {} for {}: \"{}\". Actions: {}.",
        r.requester_name,
        r.account_label(),
        r.ticket,
        minutes_words(r.minutes),
        r.reason,
        p.labels(&r.actions)
    )
}

/// `request.refused`; `account` is the label when known, `detail` the refusal sentence.
pub fn request_refused(who: &str, account: Option<&str>, ticket: Option<&str>, detail: &str) -> String {
    let mut s = format!("{} request", possessive(who));
    if let Some(a) = account {
        s.push_str(&format!(" to act as {a}"));
    }
    if let Some(t) = ticket {
        s.push_str(&format!(" under ticket {t}"));
    }
    format!("{s} was refused: {detail}")
}

/// `request.approved` / `scope.approved`. `granted` and `minutes` are the decision's.
pub fn request_approved(p: &Policy, approver: Option<&str>, r: &Request, granted: &[String], minutes: u32) -> String {
    let what = if r.kind == crate::model::RequestKind::Scope { "scope change" } else { "request" };
    let asked: std::collections::HashSet<&String> = r.actions.iter().collect();
    let given: std::collections::HashSet<&String> = granted.iter().collect();
    let narrowed = asked.iter().any(|a| !given.contains(a));
    let expanded = given.iter().any(|a| !asked.contains(a));
    let how = match (narrowed, expanded) {
        (false, false) => "as asked:",
        (true, false) => "narrowed to:",
        (false, true) => "expanded to:",
        (true, true) => "narrowed to:",
    };
    let time = if minutes < r.minutes {
        format!("{} (asked for {})", minutes_words(minutes), minutes_words(r.minutes))
    } else {
        minutes_words(minutes)
    };
    match approver {
        Some(name) => format!(
            "{name} approved {} {what} under ticket {}, {how} {}; {time}.",
            possessive(&r.requester_name),
            r.ticket,
            p.labels(granted)
        ),
        None => format!(
            "Policy approved {} {what} under ticket {}: {}; {time}. None of these actions needs a person's approval.",
            possessive(&r.requester_name),
            r.ticket,
            p.labels(granted)
        ),
    }
}

/// `request.denied` / `scope.denied`
pub fn request_denied(approver: &str, r: &Request, note: &str) -> String {
    let what = if r.kind == crate::model::RequestKind::Scope { "scope change" } else { "request" };
    format!("{approver} denied {} {what} under ticket {}: \"{note}\".", possessive(&r.requester_name), r.ticket)
}

/// `request.withdrawn`
pub fn request_withdrawn(r: &Request) -> String {
    format!("{} withdrew the request to act as {} under ticket {}.", r.requester_name, r.account_label(), r.ticket)
}

/// `request.expired`
pub fn request_expired(r: &Request, at: Timestamp) -> String {
    format!(
        "{} approved request to act as {} under ticket {} expired at {} without being started.",
        possessive(&r.requester_name),
        r.account_label(),
        r.ticket,
        hhmm(at)
    )
}

/// `session.started`
pub fn session_started(p: &Policy, s: &Session) -> String {
    let approved = if s.approver == "policy" {
        "approved by policy".to_string()
    } else {
        format!("approved by {}", s.approver_name)
    };
    format!(
        "{} started acting as {} under ticket {} at {}, until {}, {approved}. Allowed: {}.",
        s.agent_name,
        s.account_label(),
        s.ticket,
        hhmm(s.started_at),
        hhmm(s.ends_at),
        p.labels(&s.scope)
    )
}

/// `session.ended`, `session.expired`, `session.idle_timeout`, `session.revoked`.
/// `by` is the display name of who ended it, where a person did.
pub fn session_end(
    s: &Session,
    reason: EndReason,
    at: Timestamp,
    idle_minutes: u32,
    by: Option<&str>,
    note: Option<&str>,
) -> String {
    let after = duration_words(at - s.started_at);
    let acct = s.account_label();
    let agent = &s.agent_name;
    match reason {
        EndReason::Ended => format!("{agent} ended the session on {acct} at {} after {after}.", hhmm(at)),
        EndReason::Expired => format!(
            "{} session on {acct} expired at {}, at the end of its {}.",
            possessive(agent),
            hhmm(at),
            duration_words(s.ends_at - s.started_at)
        ),
        EndReason::IdleTimeout => format!(
            "{} session on {acct} ended by idle timeout at {} after {} without activity.",
            possessive(agent),
            hhmm(at),
            minutes_words(idle_minutes)
        ),
        EndReason::Revoked => format!(
            "{} revoked {} session on {acct} at {}: \"{}\".",
            by.unwrap_or("A lead"),
            possessive(agent),
            hhmm(at),
            note.unwrap_or_default()
        ),
        EndReason::StaffDisabled => format!(
            "{} session on {acct} ended at {} because {} disabled {} account.",
            possessive(agent),
            hhmm(at),
            by.unwrap_or("an admin"),
            possessive(agent)
        ),
        EndReason::Superseded => format!(
            "{} session on {acct} ended at {}: the approved scope change needs a new session.",
            possessive(agent),
            hhmm(at)
        ),
    }
}

/// `scope.requested`
pub fn scope_requested(p: &Policy, r: &Request) -> String {
    format!(
        "{} asked for more on {} under ticket {}: \"{}\". Adding: {}.",
        r.requester_name,
        r.account_label(),
        r.ticket,
        r.reason,
        p.labels(&r.actions)
    )
}

/// `scope.changed`
pub fn scope_changed(p: &Policy, s: &Session, added: &[String]) -> String {
    format!(
        "{} session on {} now allows: {} (added: {}).",
        possessive(&s.agent_name),
        s.account_label(),
        p.labels(&s.scope),
        p.labels(added)
    )
}

/// `action.performed`
pub fn action_performed(p: &Policy, s: &Session, action: &str, changes: &[FieldChange], at: Timestamp) -> String {
    let what = if changes.is_empty() {
        format!("performed \"{}\"", p.label(action))
    } else {
        format!("changed {}", join_and(&changes.iter().map(FieldChange::words).collect::<Vec<_>>()))
    };
    format!(
        "{} {what} on {} at {} under ticket {}, acting as the customer.",
        s.agent_name,
        s.account_label(),
        hhmm(at),
        s.ticket
    )
}

/// `record.viewed`
pub fn record_viewed(p: &Policy, s: &Session, action: &str, target: Option<&str>, at: Timestamp) -> String {
    let target = target.map(|t| format!(" ({t})")).unwrap_or_default();
    let label = p.label(action);
    let what = match label.strip_prefix("View ") {
        Some(rest) => rest.to_string(),
        None => format!("\"{label}\""),
    };
    format!(
        "{} viewed {what}{target} on {} at {} under ticket {}, acting as the customer.",
        s.agent_name,
        s.account_label(),
        hhmm(at),
        s.ticket
    )
}

/// The plain words for an `authorize` refusal code.
pub fn refusal_words(code: &str) -> &'static str {
    match code {
        "not_in_scope" => "it is not in the session's allowed actions",
        "session_ended" => "the session had ended",
        "session_expired" => "the session had expired",
        "idle_timeout" => "the session had idled out",
        "session_revoked" => "the session had been revoked",
        "staff_disabled" => "the agent's account is disabled",
        "wrong_account" => "it targets another customer account",
        "unknown_action" => "the policy has no such action",
        "wrong_app" => "the token was issued for another app",
        _ => "the token is not valid",
    }
}

/// `action.denied` for a known session.
pub fn action_denied(p: &Policy, s: &Session, action: &str, code: &str, at: Timestamp) -> String {
    format!(
        "{} was refused \"{}\" on {} at {} under ticket {}: {}.",
        s.agent_name,
        p.label(action),
        s.account_label(),
        hhmm(at),
        s.ticket,
        refusal_words(code)
    )
}

/// `action.denied` when no session could be identified.
pub fn action_denied_unknown(app: &str, action: &str, code: &str, at: Timestamp) -> String {
    format!("{app} asked about \"{action}\" at {} with a token that was refused: {}.", hhmm(at), refusal_words(code))
}

/// `staff.created`
pub fn staff_created(by: &str, s: &Staff) -> String {
    let roles: Vec<&str> = s.roles.iter().map(|r| r.as_str()).collect();
    format!("{by} added staff member {} ({}) with roles: {}.", s.name, s.id, roles.join(", "))
}

/// `staff.disabled`
pub fn staff_disabled(by: &str, s: &Staff, sessions_ended: usize) -> String {
    let tail = match sessions_ended {
        0 => String::new(),
        1 => "; their live session ended".into(),
        n => format!("; {n} live sessions ended"),
    };
    format!("{by} disabled staff member {} ({}){tail}.", s.name, s.id)
}

/// `app.created`
pub fn app_created(by: &str, name: &str, id: &str, tickets: bool, origins: &[String]) -> String {
    let origins =
        if origins.is_empty() { "no web origins".to_string() } else { format!("web origins {}", origins.join(", ")) };
    let tickets = if tickets { "may push tickets" } else { "may not push tickets" };
    format!("{by} registered the app \"{name}\" ({id}); it {tickets}, {origins}.")
}

/// `policy.loaded`
pub fn policy_loaded(p: &Policy) -> String {
    format!(
        "Policy loaded: {} actions; sessions last {} by default and at most {}, idle timeout {}; approved requests must start within {}; scope changes {} (sha256 {}).",
        p.actions().len(),
        minutes_words(p.session.default_minutes),
        minutes_words(p.session.max_minutes),
        minutes_words(p.session.idle_minutes),
        minutes_words(p.session.approval_valid_minutes),
        if p.session.scope_change == crate::policy::ScopeChange::Reapprove { "are re-approved in place" } else { "start a new session" },
        &p.digest()[..12]
    )
}

/// `key.rotated`
pub fn key_rotated(by: &str, new_kid: &str, old_kid: Option<&str>) -> String {
    match old_kid {
        Some(old) => format!("{by} made a new token signing key {new_kid}; key {old} signs no more tokens and is published until its tokens have ended."),
        None => format!("{by} made the first token signing key {new_kid}."),
    }
}

/// `customer.notified`
pub fn customer_notified(app: &str, account: &str, agent: &str, ticket: &str) -> String {
    format!("{app} told {account} about {} session under ticket {ticket}.", possessive(agent))
}

/// The customer-facing note about an ended session (who, when, why, what changed).
pub fn customer_note(s: &Session, changes: &[String], ended_at: Timestamp) -> String {
    let what = if changes.is_empty() {
        "No changes were made.".to_string()
    } else {
        format!("Changes: {}.", changes.join("; "))
    };
    format!(
        "{} from support accessed your account on {} from {} to {} to help with ticket {}: \"{}\". {what}",
        s.agent_name,
        s.started_at.format("%Y-%m-%d"),
        hhmm(s.started_at),
        hhmm(ended_at),
        s.ticket,
        s.reason
    )
}
