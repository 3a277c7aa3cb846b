//! `POST /authorize` as a pure decision: whether a host app may let the
//! agent do an action now ([`verdict`]), why not ([`Refusal`]), and the one
//! audit event that records the answer ([`answer_event`]).
//!
//! A valid signature is necessary, never sufficient: the token must be for
//! the asking app and the session's account, the session live, the target
//! on that account and the action in scope.

use serde::{Deserialize, Serialize};
use strum::{Display, EnumString, IntoStaticStr, VariantArray};

use crate::audit::data::{self, StoredChange, Target};
use crate::audit::{self as text, Actor, EventData, FieldChange, NewEvent};
use crate::model::{EndReason, Session};
use crate::policy::{Action, ActionKind, Policy};
use crate::Timestamp;

/// Why `authorize` says no. The names are part of the contract.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, IntoStaticStr, EnumString, Display, VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum Refusal {
    /// The token is not one actas signed, or not for this session's account.
    BadToken,
    /// The token was issued for another host app.
    WrongApp,
    /// The target is another customer account.
    WrongAccount,
    /// The policy has no such action.
    UnknownAction,
    /// The action is not in the session's scope.
    NotInScope,
    /// The agent (or a new session) ended the session.
    SessionEnded,
    /// The session reached its end.
    SessionExpired,
    /// The session idled out.
    IdleTimeout,
    /// A lead revoked the session.
    SessionRevoked,
    /// The agent's account was disabled.
    StaffDisabled,
    /// The session's ticket was solved or closed.
    TicketClosed,
    /// The customer withdrew their permission for support to access the account.
    CustomerRevoked,
}

impl Refusal {
    /// The code, as sent.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Why, in words that follow "refused because".
    pub fn words(self) -> &'static str {
        match self {
            Refusal::NotInScope => "it is not in the session's allowed actions",
            Refusal::SessionEnded => "the session had ended",
            Refusal::SessionExpired => "the session had expired",
            Refusal::IdleTimeout => "the session had idled out",
            Refusal::SessionRevoked => "the session had been revoked",
            Refusal::StaffDisabled => "the agent's account is disabled",
            Refusal::TicketClosed => "the session's ticket was solved or closed",
            Refusal::CustomerRevoked => "the customer withdrew their permission",
            Refusal::WrongAccount => "it targets another customer account",
            Refusal::UnknownAction => "the policy has no such action",
            Refusal::WrongApp => "the token was issued for another app",
            Refusal::BadToken => "the token is not valid",
        }
    }

    /// Whether the call came from the session's own app with the session's
    /// own token, so that it counts as activity (keeps the session awake).
    pub fn from_the_session(self) -> bool {
        !matches!(self, Refusal::WrongApp | Refusal::BadToken)
    }

    /// Whether the session is over for good, so the host app can drop it.
    pub fn session_is_over(self) -> bool {
        matches!(
            self,
            Refusal::SessionEnded
                | Refusal::SessionExpired
                | Refusal::IdleTimeout
                | Refusal::SessionRevoked
                | Refusal::StaffDisabled
                | Refusal::TicketClosed
                | Refusal::CustomerRevoked
        )
    }

    /// How a session that ended this way answers.
    pub fn ended(reason: EndReason) -> Refusal {
        match reason {
            EndReason::Ended | EndReason::Superseded => Refusal::SessionEnded,
            EndReason::Expired => Refusal::SessionExpired,
            EndReason::IdleTimeout => Refusal::IdleTimeout,
            EndReason::Revoked => Refusal::SessionRevoked,
            EndReason::StaffDisabled => Refusal::StaffDisabled,
            EndReason::TicketClosed => Refusal::TicketClosed,
            EndReason::CustomerRevoked => Refusal::CustomerRevoked,
        }
    }
}

/// What the host app asked.
#[derive(Debug, Clone, PartialEq)]
pub struct Ask {
    /// The asking app's id.
    pub app_id: String,
    /// The asking app's name.
    pub app_name: String,
    /// The action's dotted name.
    pub action: String,
    /// What it acts on.
    pub target: Option<Target>,
    /// The changes it makes, as sent.
    pub changes: Vec<FieldChange>,
}

/// What a verified token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenSays<'a> {
    /// The app it was issued for (`aud`).
    pub app: &'a str,
    /// The customer account (`sub`).
    pub account: &'a str,
}

/// Whether `ask` may go ahead in `session` (already ended if its time was
/// up), with a token saying `token`. Answers the policy's action.
pub fn verdict<'p>(
    policy: &'p Policy,
    session: &Session,
    token: TokenSays<'_>,
    ask: &Ask,
) -> Result<&'p Action, Refusal> {
    if token.app != ask.app_id {
        return Err(Refusal::WrongApp);
    }
    if token.account != session.account_id {
        return Err(Refusal::BadToken);
    }
    if let Some(reason) = session.end_reason {
        return Err(Refusal::ended(reason));
    }
    if ask.target.as_ref().and_then(|t| t.account_id.as_deref()).is_some_and(|a| a != session.account_id) {
        return Err(Refusal::WrongAccount);
    }
    let action = policy.action(&ask.action).ok_or(Refusal::UnknownAction)?;
    if !session.scope.contains(&ask.action) {
        return Err(Refusal::NotInScope);
    }
    Ok(action)
}

/// The event that records the answer to `ask`: `record.viewed` or
/// `action.performed` (with its changes redacted) when allowed,
/// `action.denied` when not; without a session (a token that is not one
/// of ours, or whose session is gone) only the app and the action are known.
pub fn answer_event(
    policy: &Policy,
    session: Option<&Session>,
    ask: Ask,
    verdict: Result<&Action, Refusal>,
    now: Timestamp,
) -> NewEvent {
    let app = Actor::app(&ask.app_id, &ask.app_name);
    let Some(s) = session else {
        let refusal = verdict.err().unwrap_or(Refusal::BadToken);
        let line = text::action_denied_unknown(&ask.app_name, &ask.action, refusal, now);
        let data = data::ActionDenied {
            action: ask.action,
            label: None,
            allowed: false,
            reason: refusal.as_str().into(),
            target: ask.target,
            app: None,
        };
        return NewEvent::new(now, app, line, EventData::ActionDenied(data));
    };
    let agent = Actor::staff(&s.agent, &s.agent_name);
    let (line, data) = match verdict {
        Err(refusal) => {
            let tried = ask.target.as_ref().and_then(|t| t.account_id.as_deref());
            let line = text::action_denied(policy, s, &ask.action, refusal, tried, now);
            let data = data::ActionDenied {
                label: Some(policy.label(&ask.action).to_string()),
                action: ask.action,
                allowed: false,
                reason: refusal.as_str().into(),
                target: ask.target,
                app: Some(ask.app_id),
            };
            (line, EventData::ActionDenied(data))
        }
        Ok(def) if def.kind == ActionKind::View => {
            let what = ask.target.as_ref().and_then(Target::words);
            let line = text::record_viewed(policy, s, &ask.action, what.as_deref(), now);
            let data = data::RecordViewed {
                action: ask.action,
                label: def.label.clone(),
                allowed: true,
                reason: "ok".into(),
                target: ask.target,
                sensitive: def.sensitive,
                app: ask.app_id,
            };
            (line, EventData::RecordViewed(data))
        }
        Ok(def) => {
            let changes = crate::flow::redact(def, ask.changes);
            let line = text::action_performed(policy, s, &ask.action, &changes, now);
            let summary = if changes.is_empty() {
                def.label.clone()
            } else {
                format!("changed {}", changes.iter().map(FieldChange::words).collect::<Vec<_>>().join(", "))
            };
            let data = data::ActionPerformed {
                action: ask.action,
                label: def.label.clone(),
                allowed: true,
                reason: "ok".into(),
                target: ask.target,
                changes: changes.iter().map(StoredChange::from).collect(),
                summary,
                app: ask.app_id,
            };
            (line, EventData::ActionPerformed(data))
        }
    };
    NewEvent::new(now, agent, line, data).about_session(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_code_round_trips_through_json() {
        for r in Refusal::VARIANTS {
            let json = serde_json::to_value(r).unwrap();
            assert_eq!(json, r.as_str());
            assert_eq!(serde_json::from_value::<Refusal>(json).unwrap(), *r);
        }
    }
}
