//! Step-up for one change (SPEC §10). Mid-session the agent asks a lead for
//! exactly one change the session's scope lacks: an action and, when named,
//! its target and new values. Approved, it lets exactly one matching
//! `authorize` through, once, within [`USE_WITHIN_MINUTES`]; the session's
//! scope never grows.
//!
//! A step-up is a request of kind `stepup`, decided with the same calls as
//! any other. What it is for is a [`StepUp`], kept with the request. The
//! lead reads its changes as the trail would keep them (a value the policy
//! does not store reads "(value not stored)"); the new values themselves
//! are matched through a digest that is dropped once the step-up can no
//! longer be used, so that no value rests longer than the step-up lives.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::audit::data::{StoredChange, Target};
use crate::audit::FieldChange;
use crate::authorize::Ask;
use crate::error::{Code, Error, Result};
use crate::flow;
use crate::model::{Request, RequestKind, RequestStatus, Session};
use crate::policy::{Action, ActionKind, Approval, Policy};
use crate::Timestamp;

/// How long an approved step-up may be used.
pub const USE_WITHIN_MINUTES: u32 = 5;

/// The one change a step-up is for.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StepUp {
    /// What it may be done to; anything on the session's account when
    /// absent, else each part named must match.
    pub target: Option<Target>,
    /// The changes, redacted as the trail keeps them. Empty: any changes.
    pub changes: Vec<StoredChange>,
    /// Hex SHA-256 of the request id and each change's field and new value,
    /// while the step-up may still be used; `None` once it cannot, or when
    /// no changes were named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<String>,
}

impl StepUp {
    /// The step-up `request_id` for `action` on `target` with `changes` (as
    /// the agent named them).
    pub fn new(request_id: &str, action: &Action, target: Option<Target>, changes: Vec<FieldChange>) -> StepUp {
        let values = (!changes.is_empty()).then(|| values_digest(request_id, &changes));
        let changes = flow::redact(action, changes).iter().map(StoredChange::from).collect();
        StepUp { target, changes, values }
    }

    /// Whether `ask` is the change this step-up (of request `request_id`)
    /// is for: the same target parts where named, the same fields with the
    /// same new values where changes were named.
    pub fn matches(&self, request_id: &str, ask: &Ask) -> bool {
        if let Some(want) = &self.target {
            let got = ask.target.clone().unwrap_or_default();
            let same = |w: &Option<String>, g: &Option<String>| w.is_none() || w == g;
            if !same(&want.account_id, &got.account_id) || !same(&want.kind, &got.kind) || !same(&want.id, &got.id) {
                return false;
            }
        }
        match &self.values {
            None => self.changes.is_empty(),
            Some(want) => {
                let got = values_digest(request_id, &ask.changes);
                bool::from(want.as_bytes().ct_eq(got.as_bytes()))
            }
        }
    }

    /// Forgets the new values: the step-up was used, denied or lapsed.
    pub fn spend(&mut self) {
        self.values = None;
    }

    /// "plan from basic to pro on invoice inv_7", for sentences.
    pub fn words(&self) -> Option<String> {
        let changes: Vec<String> = self
            .changes
            .iter()
            .map(|c| FieldChange { field: c.field.clone(), old: c.old.clone(), new: c.new.clone() }.words())
            .collect();
        let target = self.target.as_ref().and_then(Target::words);
        match (changes.is_empty(), target) {
            (true, None) => None,
            (true, Some(t)) => Some(format!("on {t}")),
            (false, None) => Some(crate::audit::join_and(&changes)),
            (false, Some(t)) => Some(format!("{} on {t}", crate::audit::join_and(&changes))),
        }
    }
}

/// The digest of the fields and new values of `changes`, in field order,
/// keyed to one request.
fn values_digest(request_id: &str, changes: &[FieldChange]) -> String {
    let mut sorted: Vec<(&str, Option<&str>)> = changes.iter().map(|c| (c.field.as_str(), c.new.as_deref())).collect();
    sorted.sort_unstable();
    let mut h = Sha256::new();
    let mut put = |b: &[u8]| {
        h.update((b.len() as u64).to_be_bytes());
        h.update(b);
    };
    put(b"actas stepup values v1");
    put(request_id.as_bytes());
    for (field, new) in sorted {
        put(field.as_bytes());
        match new {
            Some(v) => {
                put(b"new");
                put(v.as_bytes());
            }
            None => put(b"none"),
        }
    }
    hex::encode(h.finalize())
}

/// Checks a step-up asked in `session`: the action exists, is a change the
/// policy does not forbid and that the scope lacks, the target is on the
/// session's account. Answers the policy's action.
pub fn check<'p>(policy: &'p Policy, session: &Session, action: &str, target: Option<&Target>) -> Result<&'p Action> {
    let Some(def) = policy.action(action) else {
        return Err(Error::refused(
            Code::UnknownAction,
            Some("action"),
            format!("\"{action}\" is not an action of the policy."),
        ));
    };
    if def.approval == Approval::Forbidden {
        return Err(Error::refused(
            Code::ForbiddenAction,
            Some("action"),
            format!("\"{}\" is never allowed to support staff, not even once.", def.label),
        ));
    }
    if def.kind != ActionKind::Change {
        return Err(Error::refused(
            Code::NotAChange,
            Some("action"),
            format!("\"{}\" is a view; ask for more actions instead of one change.", def.label),
        ));
    }
    if session.scope.iter().any(|a| a == action) {
        return Err(Error::refused(
            Code::NothingNew,
            Some("action"),
            format!("The session allows \"{}\" already.", def.label),
        ));
    }
    if let Some(acct) = target.and_then(|t| t.account_id.as_deref()) {
        if acct != session.account_id {
            return Err(Error::refused(
                Code::WrongAccount,
                Some("target"),
                format!("The session is on account {}, not {acct}.", session.account_id),
            ));
        }
    }
    Ok(def)
}

/// The first of `requests` (a session's) that is an approved step-up, still
/// usable at `now`, for exactly `ask`.
pub fn usable<'r>(requests: &'r [Request], ask: &Ask, now: Timestamp) -> Option<&'r Request> {
    requests.iter().find(|r| {
        r.kind == RequestKind::Stepup
            && r.status == RequestStatus::Approved
            && r.start_by.is_some_and(|by| now < by)
            && r.actions.len() == 1
            && r.actions[0] == ask.action
            && r.stepup.as_ref().is_some_and(|s| s.matches(&r.id, ask))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(target: Option<Target>, changes: &[(&str, Option<&str>, Option<&str>)]) -> Ask {
        Ask {
            app_id: "app_1".into(),
            app_name: "Acme Billing".into(),
            action: "billing.update".into(),
            target,
            changes: changes
                .iter()
                .map(|(f, o, n)| FieldChange {
                    field: f.to_string(),
                    old: o.map(str::to_string),
                    new: n.map(str::to_string),
                })
                .collect(),
        }
    }

    fn policy() -> Policy {
        Policy::shipped()
    }

    fn stepup(target: Option<Target>, changes: &[(&str, Option<&str>, Option<&str>)]) -> StepUp {
        let p = policy();
        let a = ask(target.clone(), changes);
        StepUp::new("req_1", p.action("billing.update").unwrap(), target, a.changes)
    }

    #[test]
    fn named_values_must_match_exactly_and_old_values_do_not_count() {
        let s = stepup(None, &[("plan", Some("basic"), Some("pro"))]);
        assert!(s.matches("req_1", &ask(None, &[("plan", Some("basic"), Some("pro"))])));
        assert!(s.matches("req_1", &ask(None, &[("plan", None, Some("pro"))])));
        assert!(!s.matches("req_1", &ask(None, &[("plan", Some("basic"), Some("enterprise"))])));
        assert!(!s.matches("req_1", &ask(None, &[])));
        assert!(!s.matches("req_1", &ask(None, &[("plan", None, Some("pro")), ("seats", None, Some("9"))])));
        assert!(!s.matches("req_2", &ask(None, &[("plan", None, Some("pro"))])), "keyed to its request");
    }

    #[test]
    fn without_named_changes_any_changes_match_and_spent_matches_nothing_named() {
        let any = stepup(None, &[]);
        assert!(any.matches("req_1", &ask(None, &[("plan", None, Some("pro"))])));
        let mut s = stepup(None, &[("plan", None, Some("pro"))]);
        s.spend();
        assert!(!s.matches("req_1", &ask(None, &[("plan", None, Some("pro"))])));
    }

    #[test]
    fn a_named_target_must_match_in_every_part_named() {
        let t = Target { account_id: None, kind: Some("invoice".into()), id: Some("inv_7".into()) };
        let s = stepup(Some(t.clone()), &[]);
        assert!(s.matches("req_1", &ask(Some(t.clone()), &[])));
        let mut other = t.clone();
        other.id = Some("inv_8".into());
        assert!(!s.matches("req_1", &ask(Some(other), &[])));
        assert!(!s.matches("req_1", &ask(None, &[])));
        let mut wider = t;
        wider.account_id = Some("acct_42".into());
        assert!(s.matches("req_1", &ask(Some(wider), &[])), "parts not named are free");
    }

    #[test]
    fn values_the_policy_does_not_store_are_matched_but_not_kept() {
        let p = policy();
        let def = p.action("billing.update").unwrap();
        let a = ask(None, &[("api_token", None, Some("s3cret-value"))]);
        let s = StepUp::new("req_1", def, None, a.changes.clone());
        let json = serde_json::to_string(&s).unwrap();
        assert!(!json.contains("s3cret-value"), "{json}");
        assert!(s.matches("req_1", &a));
    }
}
