//! The rules of the support-session flow, as pure functions.
//!
//! Request → decision → start → work → end. Each function takes the state
//! it needs and `now`, and answers what may happen; the caller writes the
//! outcome and its audit event in one transaction.

use crate::audit::{FieldChange, NOT_STORED};
use crate::model::{EndReason, Request, RequestKind, RequestStatus, Role, Session, Staff, Ticket};
use crate::policy::{Action, ActionKind, Approval, Policy, RequireSystem};
use crate::reason::Reason;
use crate::Code;
use crate::{Error, Result, Timestamp};

/// What an agent asked for, before checking.
#[derive(Debug, Clone, Default)]
pub struct RequestInput {
    /// Must be the ticket's account when given.
    pub account_id: Option<String>,
    /// The written reason.
    pub reason: String,
    /// Action names.
    pub actions: Vec<String>,
    /// Duration; the policy default when absent.
    pub minutes: Option<u32>,
}

/// A request that passed every rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedRequest {
    /// The reason.
    pub reason: Reason,
    /// Actions, in policy order, without duplicates.
    pub actions: Vec<String>,
    /// Minutes.
    pub minutes: u32,
    /// Whether a person must approve.
    pub needs_person: bool,
}

/// Checks the actions asked for: at least one, all known, none forbidden.
pub fn check_actions(policy: &Policy, actions: &[String]) -> Result<Vec<String>> {
    if actions.is_empty() {
        return Err(Error::refused(Code::ActionsRequired, Some("actions"), "Name at least one action."));
    }
    for name in actions {
        match policy.action(name) {
            None => {
                return Err(Error::refused(
                    Code::UnknownAction,
                    Some("actions"),
                    format!("\"{name}\" is not an action of the policy."),
                ))
            }
            Some(a) if a.approval == Approval::Forbidden => {
                return Err(Error::refused(
                    Code::ForbiddenAction,
                    Some("actions"),
                    format!("\"{}\" ({name}) is never allowed by the policy.", a.label),
                ))
            }
            Some(_) => {}
        }
    }
    Ok(policy.ordered(actions))
}

/// Checks minutes against the policy: 1 to `max_minutes`.
pub fn check_minutes(policy: &Policy, minutes: Option<u32>) -> Result<u32> {
    let m = minutes.unwrap_or(policy.session.default_minutes);
    if m == 0 {
        return Err(Error::refused(Code::DurationInvalid, Some("minutes"), "The duration must be at least 1 minute."));
    }
    if m > policy.session.max_minutes {
        return Err(Error::refused(
            Code::DurationTooLong,
            Some("minutes"),
            format!("{m} minutes is more than the policy's maximum of {} minutes.", policy.session.max_minutes),
        ));
    }
    Ok(m)
}

/// Whether any of the actions needs a person's approval.
pub fn needs_person(policy: &Policy, actions: &[String]) -> bool {
    actions.iter().any(|a| policy.action(a).is_some_and(|a| a.approval == Approval::Required))
}

/// Checks a new access request against the ticket and the policy.
pub fn check_request(policy: &Policy, ticket: &Ticket, input: &RequestInput) -> Result<CheckedRequest> {
    if let Some(acct) = &input.account_id {
        if acct != &ticket.account_id {
            return Err(Error::refused(
                Code::WrongAccount,
                Some("account_id"),
                format!("Ticket {} is about account {}, not {acct}.", ticket.reference, ticket.account_id),
            ));
        }
    }
    if !ticket.status.takes_requests() {
        return Err(Error::refused(
            Code::TicketClosed,
            Some("ticket"),
            format!(
                "Ticket {} is {}; requests need an open or pending ticket.",
                ticket.reference,
                ticket.status.as_str()
            ),
        ));
    }
    let actions = check_actions(policy, &input.actions)?;
    if ticket.by_hand() {
        let changes = actions.iter().any(|a| policy.action(a).is_some_and(|a| a.kind == ActionKind::Change));
        let refused = match policy.tickets.require_system {
            RequireSystem::Never => None,
            RequireSystem::Changes if changes => Some("a request with a change action"),
            RequireSystem::Changes => None,
            RequireSystem::Always => Some("every request"),
        };
        if let Some(what) = refused {
            return Err(Error::refused(
                Code::TicketByHand,
                Some("ticket"),
                format!(
                    "Ticket {} was typed in by hand; the policy needs a ticket from the ticket system for {what}.",
                    ticket.reference
                ),
            ));
        }
    }
    let minutes = check_minutes(policy, input.minutes)?;
    let reason = Reason::parse(&input.reason, &policy.reason, Some(&ticket.subject))?;
    let needs_person = needs_person(policy, &actions);
    Ok(CheckedRequest { reason, actions, minutes, needs_person })
}

/// Checks a break-glass request: every rule of [`check_request`] but
/// approval, within the policy's `[breakglass]` actions and minutes. The
/// requester's `breakglass` role is the authorization module's to check.
pub fn check_breakglass(policy: &Policy, ticket: &Ticket, input: &RequestInput) -> Result<CheckedRequest> {
    let Some(glass) = &policy.breakglass else {
        return Err(Error::refused(
            Code::BreakglassOff,
            Some("breakglass"),
            "Break-glass is turned off: the policy has no [breakglass] section. Ask a lead to approve a request.",
        ));
    };
    let minutes = input.minutes.unwrap_or(policy.session.default_minutes.min(glass.max_minutes));
    let checked = check_request(policy, ticket, &RequestInput { minutes: Some(minutes), ..input.clone() })?;
    let outside: Vec<String> = checked.actions.iter().filter(|a| !glass.actions.contains(a)).cloned().collect();
    if !outside.is_empty() {
        return Err(Error::refused(
            Code::BreakglassActions,
            Some("actions"),
            format!(
                "Break-glass allows only: {}. Ask a lead to approve {}.",
                policy.labels(&glass.actions),
                policy.labels(&outside)
            ),
        ));
    }
    if checked.minutes > glass.max_minutes {
        return Err(Error::refused(
            Code::DurationTooLong,
            Some("minutes"),
            format!("A break-glass session lasts at most {} minutes.", glass.max_minutes),
        ));
    }
    Ok(CheckedRequest { needs_person: false, ..checked })
}

/// What a decision grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Granted actions in policy order.
    pub actions: Vec<String>,
    /// Granted minutes.
    pub minutes: u32,
    /// Asked for, not granted.
    pub removed: Vec<String>,
    /// Granted, not asked for.
    pub added: Vec<String>,
}

/// Checks that `approver` may decide `request` at all: it is pending, and
/// the approver is not the requester and is a staff member who can approve.
pub fn check_decider(request: &Request, approver: &Staff) -> Result<()> {
    if request.status != RequestStatus::Pending {
        return Err(Error::conflict(
            Code::AlreadyDecided,
            format!("The request is {}, not pending.", request.status.as_str()),
        ));
    }
    if approver.id == request.requester {
        return Err(Error::forbidden(Code::SelfApproval, "Nobody may decide their own request."));
    }
    if !approver.has(Role::Lead) {
        return Err(Error::forbidden(Code::NotAnApprover, "Only leads decide requests."));
    }
    Ok(())
}

/// Works out what an approval grants and checks that the approver's roles
/// cover every granted action that needs approval.
pub fn check_approval(
    policy: &Policy,
    request: &Request,
    approver: &Staff,
    actions: Option<&[String]>,
    minutes: Option<u32>,
) -> Result<Grant> {
    check_decider(request, approver)?;
    let granted = match actions {
        Some(a) => check_actions(policy, a)?,
        None => request.actions.clone(),
    };
    let minutes = match minutes {
        None => request.minutes,
        Some(0) => {
            return Err(Error::refused(
                Code::DurationInvalid,
                Some("minutes"),
                "The duration must be at least 1 minute.",
            ))
        }
        Some(m) if m > request.minutes => {
            return Err(Error::refused(
                Code::DurationLongerThanAsked,
                Some("minutes"),
                format!(
                    "An approval may shorten the duration, not lengthen it: {m} minutes is more than the {} asked for.",
                    request.minutes
                ),
            ))
        }
        Some(m) => m,
    };
    for name in &granted {
        if let Some(a) = policy.action(name) {
            if a.approval == Approval::Required && !a.approvers.iter().any(|r| approver.has(*r)) {
                let roles: Vec<&str> = a.approvers.iter().map(|r| r.as_str()).collect();
                return Err(Error::forbidden(
                    Code::ApproverLacksRole,
                    format!(
                        "\"{}\" must be approved by a {}; {} does not hold that role.",
                        a.label,
                        roles.join(" or "),
                        approver.name
                    ),
                ));
            }
        }
    }
    let removed = request.actions.iter().filter(|a| !granted.contains(a)).cloned().collect();
    let added = granted.iter().filter(|a| !request.actions.contains(a)).cloned().collect();
    Ok(Grant { actions: granted, minutes, removed, added })
}

/// Checks a denial: a note is required.
pub fn check_denial(request: &Request, approver: &Staff, note: Option<&str>) -> Result<String> {
    check_decider(request, approver)?;
    match note.map(str::trim) {
        Some(n) if !n.is_empty() => Ok(n.to_string()),
        _ => Err(Error::refused(Code::NoteRequired, Some("note"), "A denial needs a note that says why.")),
    }
}

/// Whether an approved request can still be started, and if not, when its
/// approval ran out.
pub fn approval_lapsed(request: &Request, now: Timestamp) -> Option<Timestamp> {
    match (request.status, request.start_by) {
        (RequestStatus::Approved, Some(by)) if now >= by => Some(by),
        _ => None,
    }
}

/// Checks that `who` may start `request` now.
pub fn check_start(request: &Request, who: &str, now: Timestamp) -> Result<()> {
    if request.requester != who {
        return Err(Error::forbidden(Code::NotRequester, "Only the person who asked may start the session."));
    }
    if request.kind == RequestKind::Stepup {
        return Err(Error::conflict(
            Code::NotStartable,
            "A step-up starts no session: once approved, the host app's next matching change goes through.",
        ));
    }
    if request.kind == RequestKind::Scope && request.status == RequestStatus::Started {
        return Err(Error::conflict(Code::AlreadyStarted, "This scope change was applied to the live session."));
    }
    match request.status {
        RequestStatus::Approved => {}
        RequestStatus::Pending => {
            return Err(Error::conflict(Code::NotApproved, "The request is still waiting for a decision."))
        }
        other => {
            return Err(Error::conflict(
                Code::NotApproved,
                format!("The request is {}; it cannot be started.", other.as_str()),
            ))
        }
    }
    if approval_lapsed(request, now).is_some() {
        return Err(Error::conflict(
            Code::ApprovalExpired,
            "The approval ran out before the session was started; ask again.",
        ));
    }
    Ok(())
}

/// If a live session's time is up at `now`, why and when it ended: the
/// earlier of its absolute end and its idle deadline.
pub fn due_end(session: &Session, idle_minutes: u32, now: Timestamp) -> Option<(EndReason, Timestamp)> {
    if !session.is_live() {
        return None;
    }
    let idle = session.idle_deadline(idle_minutes);
    let (reason, at) =
        if idle < session.ends_at { (EndReason::IdleTimeout, idle) } else { (EndReason::Expired, session.ends_at) };
    (now >= at).then_some((reason, at))
}

/// Applies redaction: values of a `redact` action, of any secret-looking
/// field, and of fields an action's `store_values` leaves out become
/// [`NOT_STORED`] ([`Action::stores_value`] has the rules); the field's
/// name and whether it had an old or new value are kept, and absent values
/// stay absent.
pub fn redact(action: &Action, changes: Vec<FieldChange>) -> Vec<FieldChange> {
    changes
        .into_iter()
        .map(|mut c| {
            if !action.stores_value(&c.field) {
                c.old = c.old.map(|_| NOT_STORED.to_string());
                c.new = c.new.map(|_| NOT_STORED.to_string());
            }
            c
        })
        .collect()
}

/// Whether an allowed use of this action is a view (`record.viewed`) or a
/// change (`action.performed`).
pub fn is_view(action: &Action) -> bool {
    action.kind == ActionKind::View
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redaction::tests::{ORDINARY, SECRETS};
    use chrono::{TimeZone, Utc};

    fn t(h: u32, m: u32) -> Timestamp {
        Utc.with_ymd_and_hms(2026, 11, 25, h, m, 0).unwrap()
    }

    fn ticket() -> Ticket {
        Ticket {
            reference: "48192".into(),
            account_id: "acct_42".into(),
            account_name: Some("Acme Corp".into()),
            subject: "Tax settings".into(),
            url: None,
            created_by: "zendesk".into(),
            created_at: t(13, 0),
            status: crate::model::TicketStatus::Open,
            assignee: None,
            tags: vec![],
            source: crate::model::TicketSource::Zendesk,
            updated_at: t(13, 0),
        }
    }

    fn input(actions: &[&str]) -> RequestInput {
        RequestInput {
            account_id: None,
            reason: "Customer can't update tax settings after plan change".into(),
            actions: actions.iter().map(|s| s.to_string()).collect(),
            minutes: None,
        }
    }

    fn staff(id: &str, roles: &[Role]) -> Staff {
        Staff { id: id.into(), name: id.to_uppercase(), roles: roles.to_vec(), disabled: false, created_at: t(9, 0) }
    }

    fn code<T: std::fmt::Debug>(r: Result<T>) -> &'static str {
        match r {
            Err(Error::Refused { code, .. } | Error::Forbidden { code, .. } | Error::Conflict { code, .. }) => {
                code.as_str()
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    fn request(actions: &[&str]) -> Request {
        Request {
            id: "req_1".into(),
            kind: RequestKind::Access,
            ticket: "48192".into(),
            account_id: "acct_42".into(),
            account_name: None,
            requester: "maria".into(),
            requester_name: "Maria Lopez".into(),
            reason: "Customer can't update tax settings after plan change".into(),
            actions: actions.iter().map(|s| s.to_string()).collect(),
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
            created_at: t(14, 0),
            updated_at: t(14, 0),
            playbook: None,
            stepup: None,
        }
    }

    #[test]
    fn view_only_request_is_approved_by_policy_and_changes_need_a_person() {
        let p = Policy::shipped();
        let c = check_request(&p, &ticket(), &input(&["settings.view"])).unwrap();
        assert!(!c.needs_person);
        assert_eq!(c.minutes, 15);
        let c = check_request(&p, &ticket(), &input(&["settings.update", "settings.view"])).unwrap();
        assert!(c.needs_person);
        assert_eq!(c.actions, vec!["settings.view", "settings.update"]);
    }

    #[test]
    fn break_glass_needs_no_person_but_stays_within_its_section() {
        let p = Policy::shipped();
        let glass = p.breakglass.clone().unwrap();
        let c = check_breakglass(&p, &ticket(), &input(&["settings.view", "sync.reset"])).unwrap();
        assert!(!c.needs_person);
        assert_eq!(c.minutes, p.session.default_minutes.min(glass.max_minutes));
        assert_eq!(code(check_breakglass(&p, &ticket(), &input(&["refund.issue"]))), "breakglass-actions");
        let long = RequestInput { minutes: Some(glass.max_minutes + 1), ..input(&["settings.view"]) };
        assert_eq!(code(check_breakglass(&p, &ticket(), &long)), "duration-too-long");
        // Every other rule of a request still holds: the reason, the ticket.
        let vague = RequestInput { reason: "need access".into(), ..input(&["settings.view"]) };
        assert_eq!(code(check_breakglass(&p, &ticket(), &vague)), "reason-vague");
        let closed = Ticket { status: crate::model::TicketStatus::Closed, ..ticket() };
        assert_eq!(code(check_breakglass(&p, &closed, &input(&["settings.view"]))), "ticket-closed");
        // The shipped policy without its [breakglass] section turns it off.
        let src = crate::policy::DEFAULT_POLICY_TOML;
        let (head, tail) = src.split_at(src.find("[breakglass]").unwrap());
        let off = Policy::parse(&format!("{head}{}", &tail[tail.find("\n\n").unwrap()..])).unwrap();
        assert_eq!(off.breakglass, None);
        assert_eq!(code(check_breakglass(&off, &ticket(), &input(&["settings.view"]))), "breakglass-off");
    }

    #[test]
    fn each_request_rule_refuses_with_its_own_code() {
        let p = Policy::shipped();
        let mut i = input(&["settings.view"]);
        i.account_id = Some("acct_7".into());
        assert_eq!(code(check_request(&p, &ticket(), &i)), "wrong-account");
        assert_eq!(code(check_request(&p, &ticket(), &input(&["teleport.now"]))), "unknown-action");
        assert_eq!(code(check_request(&p, &ticket(), &input(&[]))), "actions-required");
        let mut i = input(&["settings.view"]);
        i.minutes = Some(31);
        assert_eq!(code(check_request(&p, &ticket(), &i)), "duration-too-long");
        i.minutes = Some(0);
        assert_eq!(code(check_request(&p, &ticket(), &i)), "duration-invalid");
        let mut i = input(&["settings.view"]);
        i.reason = "Need access".into();
        assert_eq!(code(check_request(&p, &ticket(), &i)), "reason-vague");

        let forbidding =
            Policy::parse("[[action]]\nname = \"a.view\"\nlabel = \"A\"\nkind = \"view\"\napproval = \"forbidden\"\n")
                .unwrap();
        assert_eq!(code(check_request(&forbidding, &ticket(), &input(&["a.view"]))), "forbidden-action");
    }

    #[test]
    fn requests_need_an_open_or_pending_ticket() {
        use crate::model::TicketStatus;
        let p = Policy::shipped();
        for status in [TicketStatus::Open, TicketStatus::Pending] {
            let t = Ticket { status, ..ticket() };
            assert!(check_request(&p, &t, &input(&["settings.view"])).is_ok(), "{status:?}");
        }
        for status in [TicketStatus::Solved, TicketStatus::Closed] {
            let t = Ticket { status, ..ticket() };
            let e = check_request(&p, &t, &input(&["settings.view"])).unwrap_err();
            assert_eq!(code(Err::<CheckedRequest, _>(e)), "ticket-closed", "{status:?}");
        }
    }

    #[test]
    fn the_policy_may_refuse_tickets_typed_in_by_hand() {
        use crate::model::TicketSource;
        let by_hand = Ticket { source: TicketSource::Hand, ..ticket() };
        let policy = |rule: &str| {
            let src = crate::policy::DEFAULT_POLICY_TOML
                .replace("require_system = \"never\"", &format!("require_system = \"{rule}\""));
            Policy::parse(&src).unwrap()
        };
        let view = input(&["settings.view"]);
        let change = input(&["settings.update"]);
        // never: hand-typed tickets are taken.
        assert!(check_request(&policy("never"), &by_hand, &change).is_ok());
        // changes: a view passes, a change does not.
        assert!(check_request(&policy("changes"), &by_hand, &view).is_ok());
        assert_eq!(code(check_request(&policy("changes"), &by_hand, &change)), "ticket-by-hand");
        // always: nothing passes on a hand-typed ticket...
        assert_eq!(code(check_request(&policy("always"), &by_hand, &view)), "ticket-by-hand");
        // ...and everything on one the ticket system sent.
        for source in [TicketSource::App, TicketSource::Zendesk, TicketSource::Jira] {
            let t = Ticket { source, ..ticket() };
            assert!(check_request(&policy("always"), &t, &change).is_ok(), "{source:?}");
        }
        assert!(Policy::parse("[tickets]\nrequire_system = \"sometimes\"\n").is_err());
    }

    #[test]
    fn approvals_refuse_self_approval_missing_roles_and_longer_durations() {
        let p = Policy::shipped();
        let r = request(&["settings.view", "settings.update"]);
        assert_eq!(
            code(check_approval(&p, &r, &staff("maria", &[Role::Agent, Role::Lead]), None, None)),
            "self-approval"
        );
        assert_eq!(code(check_approval(&p, &r, &staff("ada", &[Role::Admin]), None, None)), "not-an-approver");
        assert_eq!(code(check_approval(&p, &r, &staff("bob", &[Role::Agent]), None, None)), "not-an-approver");
        assert_eq!(
            code(check_approval(&p, &r, &staff("sam", &[Role::Lead]), None, Some(20))),
            "duration-longer-than-asked"
        );
        let mut decided = r.clone();
        decided.status = RequestStatus::Denied;
        assert_eq!(code(check_approval(&p, &decided, &staff("sam", &[Role::Lead]), None, None)), "already-decided");
    }

    #[test]
    fn approval_records_what_was_narrowed_and_expanded() {
        let p = Policy::shipped();
        let r = request(&["settings.view", "settings.update"]);
        let g = check_approval(
            &p,
            &r,
            &staff("sam", &[Role::Lead]),
            Some(&["invoice_email.update".to_string(), "settings.view".to_string()]),
            Some(10),
        )
        .unwrap();
        assert_eq!(g.actions, vec!["settings.view", "invoice_email.update"]);
        assert_eq!(g.removed, vec!["settings.update"]);
        assert_eq!(g.added, vec!["invoice_email.update"]);
        assert_eq!(g.minutes, 10);
    }

    #[test]
    fn denial_needs_a_note() {
        let r = request(&["settings.update"]);
        assert_eq!(code(check_denial(&r, &staff("sam", &[Role::Lead]), Some("  "))), "note-required");
        assert_eq!(check_denial(&r, &staff("sam", &[Role::Lead]), Some(" no ticket link ")).unwrap(), "no ticket link");
    }

    #[test]
    fn only_the_requester_starts_and_only_in_time() {
        let mut r = request(&["settings.view"]);
        r.status = RequestStatus::Approved;
        r.start_by = Some(t(14, 10));
        assert_eq!(code(check_start(&r, "sam", t(14, 1))), "not-requester");
        assert_eq!(code(check_start(&r, "maria", t(14, 10))), "approval-expired");
        check_start(&r, "maria", t(14, 9)).unwrap();
    }

    #[test]
    fn the_earlier_deadline_ends_a_session() {
        let s = Session {
            id: "ses_1".into(),
            request_id: "req_1".into(),
            ticket: "48192".into(),
            account_id: "acct_42".into(),
            account_name: None,
            agent: "maria".into(),
            agent_name: "Maria Lopez".into(),
            approver: "policy".into(),
            approver_name: "Policy".into(),
            approvers: vec![crate::model::Approver { id: "policy".into(), name: "Policy".into() }],
            app_id: "app_1".into(),
            scope: vec!["settings.view".into()],
            reason: "r".into(),
            started_at: t(14, 0),
            ends_at: t(14, 15),
            last_activity_at: t(14, 2),
            state: crate::model::SessionState::Live,
            end_reason: None,
            ended_at: None,
            ended_by: None,
            end_note: None,
            breakglass: false,
            review: None,
        };
        assert_eq!(due_end(&s, 10, t(14, 11)), None);
        assert_eq!(due_end(&s, 10, t(14, 12)), Some((EndReason::IdleTimeout, t(14, 12))));
        assert_eq!(due_end(&s, 20, t(14, 16)), Some((EndReason::Expired, t(14, 15))));

        // What authorize answers for this session.
        use crate::authorize::{verdict, Ask, Refusal, TokenSays};
        let p = Policy::shipped();
        let token = TokenSays { app: "app_1", account: "acct_42" };
        let ask = |action: &str, account: Option<&str>| Ask {
            app_id: "app_1".into(),
            app_name: "Acme Billing".into(),
            action: action.into(),
            target: account.map(|a| crate::audit::data::Target { account_id: Some(a.into()), ..Default::default() }),
            changes: vec![],
        };
        let answer = |t: TokenSays<'_>, a: Ask, s: &Session| verdict(&p, s, t, &a).map(|d| d.name.clone());
        assert_eq!(answer(token, ask("settings.view", Some("acct_42")), &s), Ok("settings.view".into()));
        assert_eq!(answer(token, ask("settings.view", Some("acct_7")), &s), Err(Refusal::WrongAccount));
        assert_eq!(answer(token, ask("billing.update", None), &s), Err(Refusal::NotInScope));
        assert_eq!(answer(token, ask("nope.nope", None), &s), Err(Refusal::UnknownAction));
        let other_app = TokenSays { app: "app_2", ..token };
        assert_eq!(answer(other_app, ask("settings.view", None), &s), Err(Refusal::WrongApp));
        let other_account = TokenSays { account: "acct_7", ..token };
        assert_eq!(answer(other_account, ask("settings.view", None), &s), Err(Refusal::BadToken));
        let ended = Session { end_reason: Some(EndReason::Revoked), ..s.clone() };
        assert_eq!(answer(token, ask("settings.view", None), &ended), Err(Refusal::SessionRevoked));
    }

    #[test]
    fn redaction_hides_values_of_redacted_actions_secret_fields_and_unlisted_fields() {
        use crate::audit::NOT_STORED;
        let p = Policy::shipped();
        let ch = |f: &str| FieldChange { field: f.into(), old: Some("old".into()), new: Some("hunter2".into()) };
        let r = redact(p.action("password.reset").unwrap(), vec![ch("note")]);
        assert_eq!(r[0].new.as_deref(), Some(NOT_STORED));
        let r = redact(p.action("settings.update").unwrap(), vec![ch("api_key"), ch("timezone"), ch("nickname")]);
        assert_eq!(r[0].old.as_deref(), Some(NOT_STORED));
        assert_eq!(r[1].new.as_deref(), Some("hunter2"));
        assert_eq!(r[2].new.as_deref(), Some(NOT_STORED), "not on the action's store_values");
    }

    fn ch(field: &str) -> FieldChange {
        FieldChange { field: field.into(), old: Some("before".into()), new: Some("after".into()) }
    }

    #[test]
    fn values_are_stored_only_where_every_rule_allows() {
        let p = Policy::shipped();
        let all: Vec<FieldChange> = SECRETS.iter().chain(ORDINARY).map(|n| ch(n)).collect();
        // No list: every ordinary field is stored, no secret-looking one.
        let open =
            Policy::parse("[[action]]\nname = \"a.update\"\nlabel = \"A\"\nkind = \"change\"\napproval = \"none\"\n")
                .unwrap();
        for c in redact(open.action("a.update").unwrap(), all.clone()) {
            let stored = c.new.as_deref() == Some("after");
            assert_eq!(stored, ORDINARY.contains(&c.field.as_str()), "{}", c.field);
            assert_eq!(c.old.as_deref() == Some("before"), stored, "{}", c.field);
        }
        // A redacted action stores nothing.
        for c in redact(p.action("password.reset").unwrap(), all.clone()) {
            assert_eq!(c.new.as_deref(), Some(NOT_STORED), "{}", c.field);
        }
        // A list stores exactly the listed fields.
        let listed = p.action("settings.update").unwrap();
        let kept: Vec<String> =
            redact(listed, all).into_iter().filter(|c| c.new.as_deref() == Some("after")).map(|c| c.field).collect();
        assert_eq!(kept, ["timezone", "tax_id", "language", "company_name"]);
        // Absent values stay absent.
        let c = FieldChange { field: "password".into(), old: None, new: None };
        assert_eq!(redact(listed, vec![c.clone()]), vec![c]);
    }
}
