//! The plain lines of the audit trail.
//!
//! One function per event type. Each returns a sentence a support lead
//! understands in one pass: names, the account with its id, the ticket, the
//! time in UTC, and actions by their plain labels. Quotes mark words that
//! someone typed (reasons, notes).

use chrono::Duration;

use crate::authorize::Refusal;
use crate::model::{Approver, EndReason, Request, Session, Staff, Ticket, TicketSource};
use crate::policy::Policy;
use crate::Timestamp;

use super::NOT_STORED;

/// `14:03 UTC`
pub fn hhmm(t: Timestamp) -> String {
    t.format("%H:%M UTC").to_string()
}

/// `2026-11-25 14:03 UTC`
pub fn day_hhmm(t: Timestamp) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
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

pub(crate) fn join_and(parts: &[String]) -> String {
    match parts {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// `ticket.created`
pub fn ticket_created(by: &str, t: &Ticket) -> String {
    let how = match t.source {
        TicketSource::Hand => "entered ticket {} by hand (no ticket system confirmed it)",
        TicketSource::App => "recorded ticket {}",
        TicketSource::Zendesk => "sent ticket {} from Zendesk",
        TicketSource::Jira => "sent ticket {} from Jira",
    }
    .replace("{}", &t.reference);
    format!("{by} {how} for {}: \"{}\".", t.account_label(), t.subject)
}

/// The name of a ticket's system in a sentence.
pub fn ticket_system(source: TicketSource) -> &'static str {
    match source {
        TicketSource::Hand => "by hand",
        TicketSource::App => "its ticket system",
        TicketSource::Zendesk => "Zendesk",
        TicketSource::Jira => "Jira",
    }
}

/// `ticket.updated`: `by` sent the change (the app, for a ticket pushed
/// through the API; Zendesk and Jira are named as such), `old` is the
/// ticket before, `new` after; `sessions_ended` how many live sessions the
/// change ended.
pub fn ticket_updated(by: &str, old: &Ticket, new: &Ticket, changed: &[String], sessions_ended: usize) -> String {
    let mut parts = Vec::new();
    for field in changed {
        parts.push(match field.as_str() {
            "status" => format!("status {} to {}", old.status.as_str(), new.status.as_str()),
            "assignee" => match &new.assignee {
                Some(a) => format!("assigned to {a}"),
                None => "unassigned".to_string(),
            },
            "tags" if new.tags.is_empty() => "tags removed".to_string(),
            "tags" => format!("tags {}", new.tags.join(", ")),
            "subject" => format!("subject \"{}\"", new.subject),
            "account_id" => format!("account {} to {}", old.account_id, new.account_id),
            other => format!("{} changed", other.replace('_', " ")),
        });
    }
    let what = if parts.is_empty() { "no change".to_string() } else { join_and(&parts) };
    let tail = match sessions_ended {
        0 => String::new(),
        1 => "; its live session ended".into(),
        n => format!("; its {n} live sessions ended"),
    };
    let who = match new.source {
        TicketSource::Zendesk | TicketSource::Jira => ticket_system(new.source),
        TicketSource::App | TicketSource::Hand => by,
    };
    format!("{who} updated ticket {} for {}: {what}{tail}.", new.reference, new.account_label())
}

/// `request.created`
pub fn request_created(p: &Policy, r: &Request) -> String {
    if r.kind == crate::model::RequestKind::Breakglass {
        return format!(
            "{} broke the glass to act as {} under ticket {} for {}, without a lead's approval: \"{}\". Actions: {}.",
            r.requester_name,
            r.account_label(),
            r.ticket,
            minutes_words(r.minutes),
            r.reason,
            p.labels(&r.actions)
        );
    }
    let mut line = format!(
        "{} asked to act as {} under ticket {} for {}: \"{}\". Actions: {}.",
        r.requester_name,
        r.account_label(),
        r.ticket,
        minutes_words(r.minutes),
        r.reason,
        p.labels(&r.actions)
    );
    if let Some(b) = r.playbook.as_deref().and_then(|n| p.playbook(n)) {
        let beyond = p.beyond(b, &r.actions);
        line.push_str(&format!(" Kind of case: {}", b.label));
        if beyond.is_empty() {
            line.push_str(", within its suggested actions.");
        } else {
            line.push_str(&format!("; beyond its suggestion: {}.", p.labels(&beyond)));
        }
    }
    line
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

/// What a request is called in a sentence: "request", "scope change".
fn request_noun(r: &Request) -> &'static str {
    match r.kind {
        crate::model::RequestKind::Access => "request",
        crate::model::RequestKind::Scope => "scope change",
        crate::model::RequestKind::Stepup => "request for one change",
        crate::model::RequestKind::Breakglass => "break-glass request",
    }
}

/// A step-up's change in words: "Change billing details (plan from basic
/// to pro)".
pub fn stepup_change(p: &Policy, r: &Request) -> String {
    let label = r.actions.first().map(|a| p.label(a)).unwrap_or_default();
    match r.stepup.as_ref().and_then(crate::stepup::StepUp::words) {
        Some(w) => format!("{label} ({w})"),
        None => label.to_string(),
    }
}

/// `stepup.requested`
pub fn stepup_requested(p: &Policy, r: &Request) -> String {
    format!(
        "{} asked a lead for one change on {} under ticket {}: {}, because \"{}\".",
        r.requester_name,
        r.account_label(),
        r.ticket,
        stepup_change(p, r),
        r.reason
    )
}

/// `stepup.approved`
pub fn stepup_approved(p: &Policy, approver: Option<&str>, r: &Request, use_by: Timestamp) -> String {
    let who = approver.unwrap_or("Policy");
    format!(
        "{who} approved one change for {} on {} under ticket {}: {}, once, until {}. The session's allowed actions stay as they were.",
        r.requester_name,
        r.account_label(),
        r.ticket,
        stepup_change(p, r),
        hhmm(use_by)
    )
}

/// `stepup.used`
pub fn stepup_used(p: &Policy, r: &Request, at: Timestamp) -> String {
    format!(
        "{} made the one approved change on {} at {} under ticket {}: {}. The approval is used up.",
        r.requester_name,
        r.account_label(),
        hhmm(at),
        r.ticket,
        stepup_change(p, r)
    )
}

/// `request.approved` / `scope.approved`. `granted` and `minutes` are the decision's.
pub fn request_approved(p: &Policy, approver: Option<&str>, r: &Request, granted: &[String], minutes: u32) -> String {
    let what = request_noun(r);
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
    // A scope change keeps the session's end: no duration to tell.
    let time = if r.kind == crate::model::RequestKind::Scope {
        String::new()
    } else if minutes < r.minutes {
        format!("; {} (asked for {})", minutes_words(minutes), minutes_words(r.minutes))
    } else {
        format!("; {}", minutes_words(minutes))
    };
    match approver {
        Some(name) => format!(
            "{name} approved {} {what} under ticket {}, {how} {}{time}.",
            possessive(&r.requester_name),
            r.ticket,
            p.labels(granted)
        ),
        None => format!(
            "Policy approved {} {what} under ticket {}: {}{time}. None of these actions needs a person's approval.",
            possessive(&r.requester_name),
            r.ticket,
            p.labels(granted)
        ),
    }
}

/// `request.denied` / `scope.denied`
pub fn request_denied(approver: &str, r: &Request, note: &str) -> String {
    let what = request_noun(r);
    format!("{approver} denied {} {what} under ticket {}: \"{note}\".", possessive(&r.requester_name), r.ticket)
}

/// `request.withdrawn`
pub fn request_withdrawn(p: &Policy, r: &Request) -> String {
    if r.kind == crate::model::RequestKind::Stepup {
        return format!(
            "{} withdrew the request for one change on {} under ticket {}: {}.",
            r.requester_name,
            r.account_label(),
            r.ticket,
            stepup_change(p, r)
        );
    }
    format!("{} withdrew the request to act as {} under ticket {}.", r.requester_name, r.account_label(), r.ticket)
}

/// `request.expired`
pub fn request_expired(p: &Policy, r: &Request, at: Timestamp) -> String {
    if r.kind == crate::model::RequestKind::Stepup {
        return format!(
            "{} approval for one change on {} under ticket {} lapsed unused at {}: {}.",
            possessive(&r.requester_name),
            r.account_label(),
            r.ticket,
            hhmm(at),
            stepup_change(p, r)
        );
    }
    format!(
        "{} approved request to act as {} under ticket {} expired at {} without being started.",
        possessive(&r.requester_name),
        r.account_label(),
        r.ticket,
        hhmm(at)
    )
}

/// `session.entered`
pub fn session_entered(s: &Session, app: &str, at: Timestamp) -> String {
    format!(
        "{} entered {} in {app} at {} under ticket {}, with a one-time entry code.",
        s.agent_name,
        s.account_label(),
        hhmm(at),
        s.ticket
    )
}

/// Who approved a session, in words a customer reads: "approved by Sam
/// Lee", "approved automatically by the support policy, then by Sam Lee".
pub fn approved_by(approvers: &[Approver]) -> String {
    if let [first, rest @ ..] = approvers {
        if first.is_breakglass() {
            let glass = "started in an emergency without a lead's approval (break-glass)";
            return if rest.is_empty() { glass.to_string() } else { format!("{glass}, then {}", approved_by(rest)) };
        }
    }
    let words: Vec<String> =
        approvers
            .iter()
            .map(|a| {
                if a.is_policy() {
                    "automatically by the support policy".to_string()
                } else {
                    format!("by {}", a.name)
                }
            })
            .collect();
    match words.as_slice() {
        [] => "approved".to_string(),
        [one] => format!("approved {one}"),
        [first, rest @ ..] => format!("approved {first}, then {}", rest.join(", then ")),
    }
}

/// `session.started`
pub fn session_started(p: &Policy, s: &Session) -> String {
    let approved = if s.approver == "policy" {
        "approved by policy".to_string()
    } else if s.breakglass {
        "with no lead's approval (break-glass)".to_string()
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

/// `breakglass.started`
pub fn breakglass_started(p: &Policy, s: &Session) -> String {
    format!(
        "Break-glass: {} started acting as {} under ticket {} at {}, until {}, with no lead's approval. \
         Allowed: {}. Every lead was told; a lead must review the session once it ends.",
        s.agent_name,
        s.account_label(),
        s.ticket,
        hhmm(s.started_at),
        hhmm(s.ends_at),
        p.labels(&s.scope)
    )
}

/// `session.reviewed`
pub fn session_reviewed(s: &Session, by: &str, note: &str) -> String {
    format!(
        "{by} reviewed {} break-glass session as {} under ticket {} ({}\u{2013}{}): \"{note}\".",
        possessive(&s.agent_name),
        s.account_label(),
        s.ticket,
        hhmm(s.started_at),
        s.ended_at.map_or_else(|| "live".to_string(), hhmm),
    )
}

/// `webhook.created`; `by` is who added it.
pub fn webhook_created(by: &str, url: &str, events: &str) -> String {
    format!("{by} added a webhook: {events} will be sent to {url}, in trail order, signed.")
}

/// `webhook.paused`
pub fn webhook_paused(url: &str, failures: u32, seq: i64, last_error: &str) -> String {
    format!(
        "The webhook to {url} was paused after {failures} failed attempts in a row to send event #{seq} \
         (last: {last_error}). Nothing is sent to it until an admin resumes it."
    )
}

/// `webhook.removed`; `by` is who removed it.
pub fn webhook_removed(by: &str, url: &str, after_seq: i64) -> String {
    format!("{by} removed the webhook to {url}, which had taken the events through #{after_seq}; nothing more is sent to it.")
}

/// `webhook.resumed`; `by` is who resumed it.
pub fn webhook_resumed(by: &str, url: &str, from_seq: i64) -> String {
    format!("{by} resumed the webhook to {url}; it sends again from event #{from_seq}.")
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
        EndReason::TicketClosed => format!(
            "{} session on {acct} ended at {} because ticket {} was solved or closed in {}.",
            possessive(agent),
            hhmm(at),
            s.ticket,
            by.unwrap_or("its ticket system")
        ),
        EndReason::CustomerRevoked => format!(
            "{} session on {acct} ended at {} because the customer withdrew their permission for support to access the account{}.",
            possessive(agent),
            hhmm(at),
            by.map(|b| format!(" ({b})")).unwrap_or_default()
        ),
    }
}

/// `grant.created`
pub fn grant_created(g: &crate::model::Grant, app: &str) -> String {
    format!(
        "{} allowed support to access account {} for {}, until {} (recorded by {app}).",
        g.granted_by,
        g.account_id,
        if g.hours == 1 { "1 hour".to_string() } else { format!("{} hours", g.hours) },
        day_hhmm(g.expires_at),
    )
}

/// `grant.revoked`
pub fn grant_revoked(account: &str, by: &str, app: &str, sessions_ended: usize) -> String {
    let ended = match sessions_ended {
        0 => "No support session was live.".to_string(),
        1 => "The live support session on it ended at once.".to_string(),
        n => format!("The {n} live support sessions on it ended at once."),
    };
    format!("{by} withdrew the permission for support to access account {account} (recorded by {app}). {ended}")
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

/// `action.denied` for a known session. `tried` is the account the host
/// app named, when it is not the session's.
pub fn action_denied(
    p: &Policy,
    s: &Session,
    action: &str,
    why: Refusal,
    tried: Option<&str>,
    at: Timestamp,
) -> String {
    if let Some(other) = tried.filter(|t| *t != s.account_id) {
        return format!(
            "{}, acting as {}, was refused \"{}\" on another account, {other}, at {} under ticket {}: the session is for {} only.",
            s.agent_name,
            s.account_label(),
            p.label(action),
            hhmm(at),
            s.ticket,
            s.account_label(),
        );
    }
    format!(
        "{} was refused \"{}\" on {} at {} under ticket {}: {}.",
        s.agent_name,
        p.label(action),
        s.account_label(),
        hhmm(at),
        s.ticket,
        why.words()
    )
}

/// `action.denied` when no session could be identified.
pub fn action_denied_unknown(app: &str, action: &str, why: Refusal, at: Timestamp) -> String {
    format!("{app} asked about \"{action}\" at {} with a token that was refused: {}.", hhmm(at), why.words())
}

/// `staff.created`
pub fn staff_created(by: &str, s: &Staff) -> String {
    let roles: Vec<&str> = s.roles.iter().map(|r| r.as_str()).collect();
    format!("{by} added staff member {} ({}) with roles: {}.", s.name, s.id, roles.join(", "))
}

/// `staff.updated`; `how` says through what (`at sign-in through the
/// identity provider`, `through SCIM`).
/// `username`: their name at the identity provider, before and after,
/// when it changed.
pub fn staff_updated(before: &Staff, after: &Staff, username: Option<(&str, &str)>, how: &str) -> String {
    let mut parts = Vec::new();
    if let Some((old, new)) = username {
        parts.push(format!("username at the identity provider from {old} to {new}"));
    }
    if before.name != after.name {
        parts.push(format!("name from {} to {}", before.name, after.name));
    }
    if before.roles != after.roles {
        let words = |s: &Staff| {
            let r: Vec<&str> = s.roles.iter().map(|r| r.as_str()).collect();
            if r.is_empty() {
                "none".to_string()
            } else {
                r.join(", ")
            }
        };
        parts.push(format!("roles from {} to {}", words(before), words(after)));
    }
    let what = if parts.is_empty() { "nothing changed".to_string() } else { join_and(&parts) };
    format!("Staff member {} ({}) updated {how}: {what}.", after.name, after.id)
}

/// `staff.enabled`
pub fn staff_enabled(by: &str, s: &Staff) -> String {
    format!("{by} enabled staff member {} ({}) again.", s.name, s.id)
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
pub fn app_created(by: &str, app: &crate::model::App, connector: Option<&str>) -> String {
    let origins = if app.origins.is_empty() {
        "no web origins".to_string()
    } else {
        format!("web origins {}", app.origins.join(", "))
    };
    let tickets = if app.tickets { "may push tickets" } else { "may not push tickets" };
    let mut more = String::new();
    if let Some(c) = connector {
        more.push_str(&format!("; it takes tickets from {c}'s webhook, whose secret is stored sealed"));
    }
    if app.scim {
        more.push_str("; it provisions staff through SCIM");
    }
    format!("{by} registered the app \"{}\" ({}); it {tickets}, {origins}{more}.", app.name, app.id)
}

/// `app.updated`: a connector to `system` (its words, "Zendesk") added to
/// `app`, or (`replaced`) the secret of its connector replaced.
pub fn app_connector_set(by: &str, app: &crate::model::App, system: &str, replaced: bool) -> String {
    if replaced {
        format!(
            "{by} replaced the webhook secret of the {system} connector of the app \"{}\" ({}); the new secret is stored sealed.",
            app.name, app.id
        )
    } else {
        format!(
            "{by} added a {system} connector to the app \"{}\" ({}): it takes tickets from {system}'s webhook, whose secret is stored sealed.",
            app.name, app.id
        )
    }
}

/// `staff.updated`: `by` set the console password of `s` (only its hash
/// is kept, never in the trail).
pub fn staff_password_set(by: &str, s: &Staff) -> String {
    format!("{by} set a new console password for staff member {} ({}).", s.name, s.id)
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

/// `key.rotated`.
///
/// `token` is true for a token signing key, false for a checkpoint key
/// (which signs the audit trail's head).
pub fn key_rotated(by: &str, token: bool, new_kid: &str, old_kid: Option<&str>) -> String {
    match (token, old_kid) {
        (true, Some(old)) => format!("{by} made a new token signing key {new_kid}; key {old} signs no more tokens and is published until its tokens have ended."),
        (true, None) => format!("{by} made the first token signing key {new_kid}."),
        (false, Some(old)) => format!("{by} made a new audit checkpoint key {new_kid}; key {old} signs no more checkpoints and still verifies the ones it signed."),
        (false, None) => format!("{by} made the first audit checkpoint key {new_kid}."),
    }
}

/// `key.rotated` for the key-encryption key: every private signing key
/// (`kids`) sealed again under `new_kek` instead of `old_kek`.
pub fn kek_rotated(by: &str, new_kek: &str, old_kek: &str, kids: &[String]) -> String {
    format!(
        "{by} sealed the signing keys ({}) under a new key-encryption key {new_kek}; key-encryption key {old_kek} opens none of them now.",
        kids.join(", ")
    )
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
        "{} from support accessed your account on {} from {} to {} to help with ticket {}: \"{}\"; {}. {what}",
        s.agent_name,
        s.started_at.format("%Y-%m-%d"),
        hhmm(s.started_at),
        hhmm(ended_at),
        s.ticket,
        s.reason,
        approved_by(&s.approvers)
    )
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::model::{RequestKind, RequestStatus, Role, SessionState};

    fn at(h: u32, m: u32) -> Timestamp {
        Utc.with_ymd_and_hms(2026, 11, 25, h, m, 0).unwrap()
    }

    fn request(kind: RequestKind, actions: &[&str]) -> Request {
        Request {
            id: "req_1".into(),
            kind,
            ticket: "48192".into(),
            account_id: "acct_42".into(),
            account_name: Some("Acme Corp".into()),
            requester: "maria".into(),
            requester_name: "Maria Lopez".into(),
            reason: "Customer can't update tax settings after plan change".into(),
            actions: actions.iter().map(|a| a.to_string()).collect(),
            minutes: 15,
            status: RequestStatus::Pending,
            session_id: None,
            granted_actions: None,
            granted_minutes: None,
            decided_by: None,
            decided_by_name: None,
            decided_at: None,
            decision_note: None,
            start_by: None,
            created_at: at(14, 0),
            updated_at: at(14, 0),
            playbook: None,
            stepup: None,
        }
    }

    fn session() -> Session {
        Session {
            id: "ses_1".into(),
            request_id: "req_1".into(),
            ticket: "48192".into(),
            account_id: "acct_42".into(),
            account_name: Some("Acme Corp".into()),
            agent: "maria".into(),
            agent_name: "Maria Lopez".into(),
            approver: "sam".into(),
            approver_name: "Sam Lee".into(),
            approvers: vec![crate::model::Approver { id: "sam".into(), name: "Sam Lee".into() }],
            app_id: "app_1".into(),
            scope: vec!["settings.view".into(), "invoice_email.update".into()],
            reason: "Customer can't update tax settings after plan change".into(),
            started_at: at(14, 1),
            ends_at: at(14, 16),
            last_activity_at: at(14, 3),
            state: SessionState::Live,
            end_reason: None,
            ended_at: None,
            ended_by: None,
            end_note: None,
            breakglass: false,
            review: None,
        }
    }

    #[test]
    fn approvals_are_named_in_order_in_plain_words() {
        let policy = Approver { id: "policy".into(), name: "Policy".into() };
        let sam = Approver { id: "sam".into(), name: "Sam Lee".into() };
        let lee = Approver { id: "lee".into(), name: "Lee Park".into() };
        assert_eq!(approved_by(std::slice::from_ref(&sam)), "approved by Sam Lee");
        assert_eq!(approved_by(std::slice::from_ref(&policy)), "approved automatically by the support policy");
        assert_eq!(
            approved_by(&[policy, sam.clone()]),
            "approved automatically by the support policy, then by Sam Lee"
        );
        assert_eq!(approved_by(&[sam.clone(), lee]), "approved by Sam Lee, then by Lee Park");
        let glass = Approver::breakglass();
        assert_eq!(
            approved_by(std::slice::from_ref(&glass)),
            "started in an emergency without a lead's approval (break-glass)"
        );
        assert_eq!(
            approved_by(&[glass, sam]),
            "started in an emergency without a lead's approval (break-glass), then approved by Sam Lee"
        );
    }

    /// One sentence per event type (and per way a session ends), locked.
    #[test]
    fn every_event_type_reads_as_a_sentence() {
        let p = Policy::shipped();
        let s = session();
        let ask = request(RequestKind::Access, &["settings.view", "settings.update"]);
        let scope = request(RequestKind::Scope, &["billing.update"]);
        let granted = vec!["settings.view".to_string(), "invoice_email.update".to_string()];
        let ticket = Ticket {
            reference: "48192".into(),
            account_id: "acct_42".into(),
            account_name: Some("Acme Corp".into()),
            subject: "Tax settings broken after plan change".into(),
            url: None,
            created_by: "app_1".into(),
            created_at: at(13, 59),
            status: crate::model::TicketStatus::Open,
            assignee: None,
            tags: vec![],
            source: TicketSource::App,
            updated_at: at(13, 59),
        };
        let zendesk = Ticket {
            source: TicketSource::Zendesk,
            assignee: Some("maria".into()),
            tags: vec!["settings".into(), "billing".into()],
            ..ticket.clone()
        };
        let solved = Ticket { status: crate::model::TicketStatus::Solved, ..zendesk.clone() };
        let by_hand = Ticket { source: TicketSource::Hand, created_by: "maria".into(), ..ticket.clone() };
        let staff = Staff {
            id: "maria".into(),
            name: "Maria Lopez".into(),
            roles: vec![Role::Agent],
            disabled: false,
            created_at: at(9, 0),
        };
        let lead = Staff { roles: vec![Role::Agent, Role::Lead], ..staff.clone() };
        let billing_app = crate::model::App {
            id: "app_1".into(),
            name: "Acme Billing".into(),
            tickets: true,
            scim: false,
            consent: false,
            origins: vec!["https://app.acme.test".into()],
            entry_url: None,
            created_at: at(9, 0),
        };
        let email = FieldChange {
            field: "invoice_email".into(),
            old: Some("old@acme.test".into()),
            new: Some("new@acme.test".into()),
        };
        let password = FieldChange { field: "password".into(), old: None, new: Some(NOT_STORED.into()) };
        let billing = p.action("billing.update").expect("shipped action");
        let grant = crate::model::Grant {
            id: "grt_1".into(),
            account_id: "acct_42".into(),
            app_id: "app_1".into(),
            granted_by: "pat@acme.test".into(),
            hours: 24,
            created_at: at(9, 0),
            expires_at: at(9, 0) + chrono::Duration::hours(24),
            revoked_at: None,
            revoked_by: None,
        };
        let plan = FieldChange { field: "plan".into(), old: Some("Pro".into()), new: Some("Basic".into()) };
        let card = FieldChange { field: "card_number".into(), old: None, new: Some("4242424242424242".into()) };
        let stepup = Request {
            kind: RequestKind::Stepup,
            actions: vec!["billing.update".into()],
            reason: "Customer asked to move from Pro to Basic before the renewal on the 1st".into(),
            stepup: Some(crate::stepup::StepUp::new("req_9", billing, None, vec![plan, card])),
            ..ask.clone()
        };
        let target_only = crate::stepup::StepUp::new(
            "req_9",
            billing,
            Some(crate::audit::data::Target {
                account_id: None,
                kind: Some("invoice".into()),
                id: Some("inv_7".into()),
            }),
            vec![],
        );
        let mut lines = vec![
            format!("ticket.created: {}", ticket_created("Acme Billing", &ticket)),
            format!("ticket.created (Zendesk): {}", ticket_created("Acme Zendesk", &zendesk)),
            format!("ticket.created (by hand): {}", ticket_created("Maria Lopez", &by_hand)),
            format!(
                "ticket.updated: {}",
                ticket_updated("Acme Zendesk", &ticket, &zendesk, &["assignee".into(), "tags".into()], 0)
            ),
            format!(
                "ticket.updated (solved): {}",
                ticket_updated("Acme Zendesk", &zendesk, &solved, &["status".into()], 1)
            ),
            format!(
                "ticket.updated (through the API): {}",
                ticket_updated(
                    "Acme Helpdesk",
                    &ticket,
                    &Ticket { status: crate::model::TicketStatus::Closed, tags: Vec::new(), ..ticket.clone() },
                    &["status".into(), "tags".into()],
                    2
                )
            ),
            format!("request.created: {}", request_created(&p, &ask)),
            format!(
                "request.created (playbook): {}",
                request_created(&p, &Request { playbook: Some("settings_not_saving".into()), ..ask.clone() })
            ),
            format!(
                "request.created (beyond the playbook): {}",
                request_created(
                    &p,
                    &Request {
                        playbook: Some("settings_not_saving".into()),
                        actions: vec!["settings.view".into(), "billing.update".into()],
                        ..ask.clone()
                    }
                )
            ),
            format!(
                "request.refused: {}",
                request_refused(
                    "Maria Lopez",
                    Some("Acme Corp (acct_42)"),
                    Some("48192"),
                    "\"need access\" is too vague."
                )
            ),
            format!("request.approved (person): {}", request_approved(&p, Some("Sam Lee"), &ask, &granted, 10)),
            format!(
                "request.approved (policy): {}",
                request_approved(
                    &p,
                    None,
                    &request(RequestKind::Access, &["settings.view"]),
                    &["settings.view".into()],
                    15
                )
            ),
            format!("request.denied: {}", request_denied("Sam Lee", &ask, "Refunds go through finance")),
            format!("request.withdrawn: {}", request_withdrawn(&p, &ask)),
            format!("request.expired: {}", request_expired(&p, &ask, at(14, 10))),
            format!("session.started: {}", session_started(&p, &s)),
            format!(
                "request.created (break-glass): {}",
                request_created(
                    &p,
                    &Request {
                        kind: RequestKind::Breakglass,
                        reason: "Sync outage: every account stuck since the 14:00 deploy".into(),
                        actions: vec!["settings.view".into(), "sync.reset".into()],
                        ..ask.clone()
                    }
                )
            ),
            format!(
                "session.started (break-glass): {}",
                session_started(&p, &Session { approver: "breakglass".into(), breakglass: true, ..s.clone() })
            ),
            format!(
                "webhook.created: {}",
                webhook_created("Ada Quinn", "https://siem.acme.test/actas", "every event type")
            ),
            format!("webhook.paused: {}", webhook_paused("https://siem.acme.test/actas", 10, 1234, "HTTP 503")),
            format!("webhook.resumed: {}", webhook_resumed("Ada Quinn", "https://siem.acme.test/actas", 1234)),
            format!("webhook.removed: {}", webhook_removed("Ada Quinn", "https://siem.acme.test/actas", 1240)),
            format!("breakglass.started: {}", breakglass_started(&p, &Session { breakglass: true, ..s.clone() })),
            format!(
                "session.reviewed: {}",
                session_reviewed(
                    &Session { breakglass: true, ended_at: Some(at(14, 12)), ..s.clone() },
                    "Sam Lee",
                    "Reset one sync during the outage; nothing else touched"
                )
            ),
            format!("scope.requested: {}", scope_requested(&p, &scope)),
            format!(
                "scope.approved: {}",
                request_approved(&p, Some("Sam Lee"), &scope, &["billing.update".into()], 15)
            ),
            format!("scope.denied: {}", request_denied("Sam Lee", &scope, "Not for this ticket")),
            format!("scope.changed: {}", scope_changed(&p, &s, &["invoice_email.update".into()])),
            format!("grant.created: {}", grant_created(&grant, "Acme Billing")),
            format!("grant.revoked: {}", grant_revoked("acct_42", "pat@acme.test", "Acme Billing", 1)),
            format!("grant.revoked (no session): {}", grant_revoked("acct_42", "pat@acme.test", "Acme Billing", 0)),
            format!("stepup.requested: {}", stepup_requested(&p, &stepup)),
            format!(
                "stepup.requested (target, no values): {}",
                stepup_requested(&p, &Request { stepup: Some(target_only.clone()), ..stepup.clone() })
            ),
            format!("stepup.approved: {}", stepup_approved(&p, Some("Sam Lee"), &stepup, at(14, 9))),
            format!("stepup.denied: {}", request_denied("Sam Lee", &stepup, "Downgrades wait for the customer")),
            format!("stepup.used: {}", stepup_used(&p, &stepup, at(14, 6))),
            format!("request.withdrawn (step-up): {}", request_withdrawn(&p, &stepup)),
            format!("request.expired (step-up): {}", request_expired(&p, &stepup, at(14, 9))),
            format!("action.performed: {}", action_performed(&p, &s, "invoice_email.update", &[email], at(14, 3))),
            format!(
                "action.performed (redacted): {}",
                action_performed(&p, &s, "password.reset", &[password], at(14, 4))
            ),
            format!("action.performed (no changes): {}", action_performed(&p, &s, "data.export", &[], at(14, 5))),
            format!("action.denied: {}", action_denied(&p, &s, "billing.update", Refusal::NotInScope, None, at(14, 6))),
            format!(
                "action.denied (another account): {}",
                action_denied(&p, &s, "settings.view", Refusal::WrongAccount, Some("acct_7"), at(14, 6))
            ),
            format!("session.entered: {}", session_entered(&s, "Acme Billing", at(14, 2))),
            format!(
                "action.denied (bad token): {}",
                action_denied_unknown("Acme Billing", "billing.update", Refusal::BadToken, at(14, 6))
            ),
            format!(
                "record.viewed: {}",
                record_viewed(&p, &s, "sensitive.view", Some("bank account primary"), at(14, 7))
            ),
            format!("staff.created: {}", staff_created("An operator at the command line", &staff)),
            format!("staff.disabled: {}", staff_disabled("Ada Quinn", &staff, 1)),
            format!(
                "staff.updated: {}",
                staff_updated(&staff, &lead, None, "at sign-in through the identity provider")
            ),
            format!(
                "staff.updated (renamed at the identity provider): {}",
                staff_updated(
                    &staff,
                    &staff,
                    Some(("maria@support.example", "m.lopez@support.example")),
                    "by Okta through SCIM"
                )
            ),
            format!("staff.enabled: {}", staff_enabled("The identity provider (SCIM)", &staff)),
            format!("app.created: {}", app_created("actas", &billing_app, None)),
            format!(
                "app.created (connector, SCIM): {}",
                app_created(
                    "Ada Quinn",
                    &crate::model::App {
                        name: "Acme Zendesk".into(),
                        id: "app_2".into(),
                        scim: true,
                        origins: vec![],
                        ..billing_app.clone()
                    },
                    Some("Zendesk")
                )
            ),
            format!(
                "app.updated (connector added): {}",
                app_connector_set("Ada Quinn", &billing_app, "Zendesk", false)
            ),
            format!("app.updated (secret replaced): {}", app_connector_set("Ada Quinn", &billing_app, "Jira", true)),
            format!("staff.updated (password): {}", staff_password_set("Ada Quinn", &staff)),
            format!("policy.loaded: {}", policy_loaded(&p).split(" (sha256").next().unwrap_or_default()),
            format!("key.rotated: {}", key_rotated("actas", true, "k_new", Some("k_old"))),
            format!("key.rotated: {}", key_rotated("actas", false, "k_new", Some("k_old"))),
            format!("key.rotated: {}", key_rotated("actas", false, "k_new", None)),
            format!(
                "key.rotated (key-encryption key): {}",
                kek_rotated("An operator at the command line", "kek_new", "kek_old", &["k_1".into(), "k_2".into()])
            ),
            format!(
                "customer.notified: {}",
                customer_notified("Acme Billing", "Acme Corp (acct_42)", "Maria Lopez", "48192")
            ),
        ];
        for (reason, by, note) in [
            (EndReason::Ended, Some("Maria Lopez"), None),
            (EndReason::Expired, None, None),
            (EndReason::IdleTimeout, None, None),
            (EndReason::Revoked, Some("Sam Lee"), Some("Wrong customer")),
            (EndReason::StaffDisabled, Some("Ada Quinn"), None),
            (EndReason::Superseded, None, None),
            (EndReason::TicketClosed, Some("Zendesk"), None),
            (EndReason::CustomerRevoked, Some("pat@acme.test"), None),
        ] {
            let end = if reason == EndReason::Expired { s.ends_at } else { at(14, 13) };
            lines.push(format!("session end ({}): {}", reason.as_str(), session_end(&s, reason, end, 10, by, note)));
        }
        lines.push(format!(
            "customer note: {}",
            customer_note(&s, &["changed invoice email from old@acme.test to new@acme.test".into()], at(14, 13))
        ));
        insta::assert_snapshot!(lines.join("\n"));
    }
}
