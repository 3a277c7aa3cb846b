//! `GET /metrics/support`: the measures of success of support access.
//! Support solves real cases faster (the medians), access stays narrow
//! (the share of granted actions used, and what to take out of a
//! playbook), and every session is easy to explain after the fact (the
//! share of ended sessions with everything a reviewer needs).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{EndReason, SessionId};

/// The support metrics of a window of time.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct SupportMetrics {
    /// Start of the window (inclusive).
    pub since: DateTime<Utc>,
    /// End of the window (exclusive).
    pub until: DateTime<Utc>,
    /// The sessions started in the window.
    pub sessions: SessionCounts,
    /// How long each step took, for the sessions started in the window.
    pub median_minutes: MedianMinutes,
    /// Which granted actions were used.
    pub actions: ActionUse,
    /// Requests a lead denied in the window, by the lead's note.
    pub denials: Tally,
    /// Refused requests and refused `authorize` calls in the window.
    pub refusals: Refusals,
    /// Whether the ended sessions of the window can be explained.
    pub explainable: Explainability,
}

/// Sessions started in the window.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct SessionCounts {
    /// Started in the window.
    pub started: u64,
    /// Of those, ended by now.
    pub ended: u64,
    /// Of those, still live.
    pub live: u64,
    /// Of those, started without a lead's approval (break-glass).
    pub breakglass: u64,
    /// Of the break-glass ones, ended and not reviewed by a lead yet.
    pub awaiting_review: u64,
}

/// Medians in minutes; `null` when no session had the step.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct MedianMinutes {
    /// From the request to its decision (0 when the policy approved it).
    pub request_to_decision: Option<f64>,
    /// From the decision to the session's start.
    pub decision_to_start: Option<f64>,
    /// From the start to the end, for ended sessions.
    pub start_to_end: Option<f64>,
}

/// Granted actions and the ones used. An action is used in a session when
/// an allowed `authorize` call named it there (`action.performed` or
/// `record.viewed`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ActionUse {
    /// Actions granted, summed over the sessions (a session's final scope).
    pub granted: u64,
    /// Of those, used in their session.
    pub used: u64,
    /// `used / granted`, from 0 to 1 (four decimals); `null` when nothing
    /// was granted.
    pub used_share: Option<f64>,
    /// The same per playbook the requests were made under; requests
    /// without one are under `playbook: null`. Named playbooks first, by
    /// name.
    pub playbooks: Vec<PlaybookUse>,
    /// Actions a playbook grants in most (> 50 %) of its sessions but that
    /// were used in fewer than 20 % of the sessions they were granted in.
    pub suggestions: Vec<Suggestion>,
}

/// One playbook's sessions and their actions.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct PlaybookUse {
    /// The playbook's name; `null` for requests made under none.
    pub playbook: Option<String>,
    /// The playbook's label, when the policy still has it.
    pub label: Option<String>,
    /// Sessions under it.
    pub sessions: u64,
    /// Actions granted, summed over those sessions.
    pub granted: u64,
    /// Of those, used.
    pub used: u64,
    /// `used / granted` (four decimals); `null` when nothing was granted.
    pub used_share: Option<f64>,
    /// Each action granted under it, in policy order.
    pub actions: Vec<ActionCount>,
}

/// One action under one playbook.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ActionCount {
    /// The action's name.
    pub action: String,
    /// Its label.
    pub label: String,
    /// Sessions that were granted it.
    pub granted_in: u64,
    /// Of those, sessions that used it.
    pub used_in: u64,
}

/// An action a playbook could leave out.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Suggestion {
    /// The playbook.
    pub playbook: String,
    /// The action.
    pub action: String,
    /// The suggestion in plain words.
    pub text: String,
}

/// Counts by reason, most frequent first (then by reason).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Tally {
    /// How many in all.
    pub total: u64,
    /// How many for each reason.
    pub by_reason: Vec<ReasonCount>,
}

/// One reason and how often it came.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ReasonCount {
    /// The reason: a refusal code, or a lead's note.
    pub reason: String,
    /// How often.
    pub count: u64,
}

/// Refusals in the window.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Refusals {
    /// Requests refused by a rule (`request.refused`), by code
    /// (`reason-vague`, `duration-too-long`, ...).
    pub requests: Tally,
    /// `authorize` calls answered `allowed: false` (`action.denied`), by
    /// reason (`not_in_scope`, `session_expired`, ...).
    pub authorize: Tally,
}

/// Whether the ended sessions of the window can be explained after the
/// fact: a ticket, a specific reason (not empty, not a vague phrase of
/// the policy, at least its `min_chars`), an approver or the policy, an
/// end reason, and the customer note delivered.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Explainability {
    /// Sessions started in the window and ended by now.
    pub ended: u64,
    /// Of those, explainable.
    pub explainable: u64,
    /// `explainable / ended` (four decimals); `null` when none ended.
    pub share: Option<f64>,
    /// Those that are not, oldest first.
    pub not_explainable: Vec<Unexplained>,
}

/// A session that cannot be fully explained, and why.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Unexplained {
    /// The session.
    pub session_id: SessionId,
    /// Its ticket.
    pub ticket: String,
    /// Its agent's login.
    pub agent: String,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// How it ended.
    pub end_reason: Option<EndReason>,
    /// What is missing, each in plain words.
    pub missing: Vec<String>,
}
