//! The nouns of actas: staff, apps, tickets, requests, decisions, sessions,
//! notices. Plain data; the rules that move them live in [`crate::flow`].

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use strum::{Display, EnumString, IntoStaticStr, VariantArray};

pub use crate::connector::TicketStatus;
use crate::Timestamp;

/// A role a staff member may hold.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    IntoStaticStr,
    Display,
    VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum Role {
    /// Requests access and works in sessions.
    Agent,
    /// Decides requests, revokes sessions, reviews.
    Lead,
    /// Manages staff, apps and policy; no impersonation power of its own.
    Admin,
    /// Reads the audit trail, nothing else.
    Auditor,
    /// On top of `agent`: may start a session without a lead's approval,
    /// within the policy's `[breakglass]` (SPEC §10).
    Breakglass,
}

impl Role {
    /// The role's name as written in policy, CLI and API.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// People type roles (policy files, the command line): a mistake names the
/// roles there are.
impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Role::VARIANTS
            .iter()
            .copied()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role \"{s}\" (expected agent, lead, admin, auditor or breakglass)"))
    }
}

/// One person on the support team. The login is their stable id everywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staff {
    /// Login, the stable id (`maria`).
    pub id: String,
    /// Display name (`Maria Lopez`).
    pub name: String,
    /// Roles held.
    pub roles: Vec<Role>,
    /// Disabled staff can do nothing and hold no session.
    pub disabled: bool,
    /// When the account was made.
    pub created_at: Timestamp,
}

impl Staff {
    /// Whether this person holds `role`.
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// A host app (or ticket system) that talks to actas with an app key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    /// The app's id, used as the token audience.
    pub id: String,
    /// Display name.
    pub name: String,
    /// May push tickets.
    pub tickets: bool,
    /// May provision staff through SCIM (`/scim/v2`).
    pub scim: bool,
    /// Support may access a customer's account only while the customer's
    /// grant is live (`app add --consent required`).
    pub consent: bool,
    /// Web origins the API answers CORS requests from.
    pub origins: Vec<String>,
    /// Where the host app takes one-time entry codes (`...?code=`); when
    /// unset, `/support/enter` on the app's first origin.
    pub entry_url: Option<String>,
    /// When it was registered.
    pub created_at: Timestamp,
}

impl App {
    /// The address a browser opens with a one-time entry code, if the app
    /// has one.
    pub fn entry_address(&self) -> Option<String> {
        self.entry_url
            .clone()
            .or_else(|| self.origins.first().map(|o| format!("{}/support/enter", o.trim_end_matches('/'))))
    }
}

/// A support ticket naming one customer account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// The ticket system's reference (`48192`).
    pub reference: String,
    /// The customer account the ticket is about.
    pub account_id: String,
    /// The account's display name, when known.
    pub account_name: Option<String>,
    /// The ticket's subject line.
    pub subject: String,
    /// Link to the ticket, when known.
    pub url: Option<String>,
    /// Who created it (staff login or app id).
    pub created_by: String,
    /// When.
    pub created_at: Timestamp,
    /// Where it stands in its own system.
    pub status: TicketStatus,
    /// The staff member it is assigned to, when the ticket system says.
    pub assignee: Option<String>,
    /// Its tags, as the ticket system sent them (playbooks match them).
    pub tags: Vec<String>,
    /// Where it came from.
    pub source: TicketSource,
    /// When it last changed.
    pub updated_at: Timestamp,
}

impl Ticket {
    /// "Acme Corp (acct_42)" or "acct_42".
    pub fn account_label(&self) -> String {
        account_label(&self.account_id, self.account_name.as_deref())
    }

    /// Whether a person typed it in rather than a ticket system sending it.
    pub fn by_hand(&self) -> bool {
        self.source == TicketSource::Hand
    }
}

/// Where a ticket came from.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, IntoStaticStr, EnumString, Display, VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum TicketSource {
    /// Entered by a staff member (console or API), not confirmed by any
    /// ticket system.
    Hand,
    /// Pushed by an app with the `tickets` permission through
    /// `POST /api/v1/tickets`.
    App,
    /// Zendesk's webhook.
    Zendesk,
    /// Jira Service Management's webhook.
    Jira,
}

impl TicketSource {
    /// Wire and stored name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl From<crate::connector::Connector> for TicketSource {
    fn from(c: crate::connector::Connector) -> TicketSource {
        match c {
            crate::connector::Connector::Zendesk => TicketSource::Zendesk,
            crate::connector::Connector::Jira => TicketSource::Jira,
        }
    }
}

/// "Acme Corp (acct_42)" or "acct_42" when the name is unknown.
pub fn account_label(id: &str, name: Option<&str>) -> String {
    match name {
        Some(n) if !n.is_empty() => format!("{n} ({id})"),
        _ => id.to_string(),
    }
}

/// What a request is for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, IntoStaticStr, EnumString, Display, VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum RequestKind {
    /// Access to an account, leading to a new session.
    Access,
    /// More actions for a live session.
    Scope,
    /// One change in a live session, used once (SPEC §10).
    Stepup,
    /// Access without a lead's approval, for an outage (SPEC §10).
    Breakglass,
}

impl RequestKind {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Where a request stands.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, IntoStaticStr, EnumString, Display, VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum RequestStatus {
    /// Waiting for a person to decide.
    Pending,
    /// Approved (by policy or a person), not yet started.
    Approved,
    /// Denied with a note.
    Denied,
    /// Withdrawn by the requester.
    Withdrawn,
    /// Approved but not started in time.
    Expired,
    /// Started: a session exists (or, for scope, the scope was applied).
    Started,
    /// A step-up's one change was made.
    Used,
}

impl RequestStatus {
    /// Wire and stored name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A request for access (or for more scope), tied to one ticket and account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `req_...`
    pub id: String,
    /// Access or scope.
    pub kind: RequestKind,
    /// Ticket reference.
    pub ticket: String,
    /// The one account this request is for.
    pub account_id: String,
    /// The account's display name, copied from the ticket.
    pub account_name: Option<String>,
    /// Requester's login.
    pub requester: String,
    /// Requester's display name at the time.
    pub requester_name: String,
    /// The written reason.
    pub reason: String,
    /// Actions asked for, in policy order.
    pub actions: Vec<String>,
    /// Minutes asked for (policy default when none was named).
    pub minutes: u32,
    /// Where it stands.
    pub status: RequestStatus,
    /// For scope requests: the session it extends. For started access
    /// requests: the session it started.
    pub session_id: Option<String>,
    /// Actions granted by the decision.
    pub granted_actions: Option<Vec<String>>,
    /// Minutes granted by the decision.
    pub granted_minutes: Option<u32>,
    /// Who decided (`policy` or a login).
    pub decided_by: Option<String>,
    /// Display name of who decided.
    pub decided_by_name: Option<String>,
    /// When it was decided.
    pub decided_at: Option<Timestamp>,
    /// The decision's note.
    pub decision_note: Option<String>,
    /// An approved request must be started before this.
    pub start_by: Option<Timestamp>,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// The policy's playbook for the ticket's kind of case, when its tags
    /// named one.
    pub playbook: Option<String>,
    /// For a step-up: the one change it is for.
    pub stepup: Option<crate::stepup::StepUp>,
}

/// What a new request is about: the fields that differ between requests.
#[derive(Debug, Clone)]
pub struct NewRequest {
    /// Access or scope.
    pub kind: RequestKind,
    /// Ticket reference.
    pub ticket: String,
    /// The account.
    pub account_id: String,
    /// The account's display name.
    pub account_name: Option<String>,
    /// The checked reason.
    pub reason: String,
    /// Checked actions, in policy order.
    pub actions: Vec<String>,
    /// Minutes.
    pub minutes: u32,
    /// For scope requests: the session it extends.
    pub session_id: Option<String>,
    /// The playbook the ticket's tags named.
    pub playbook: Option<String>,
    /// For a step-up: the one change it is for.
    pub stepup: Option<crate::stepup::StepUp>,
}

impl Request {
    /// A new pending request `id` by `requester`, made at `now`.
    pub fn pending(id: String, new: NewRequest, requester: &Staff, now: Timestamp) -> Request {
        Request {
            id,
            kind: new.kind,
            ticket: new.ticket,
            account_id: new.account_id,
            account_name: new.account_name,
            requester: requester.id.clone(),
            requester_name: requester.name.clone(),
            reason: new.reason,
            actions: new.actions,
            minutes: new.minutes,
            status: RequestStatus::Pending,
            session_id: new.session_id,
            granted_actions: None,
            granted_minutes: None,
            decided_by: None,
            decided_by_name: None,
            decided_at: None,
            decision_note: None,
            start_by: None,
            created_at: now,
            updated_at: now,
            playbook: new.playbook,
            stepup: new.stepup,
        }
    }

    /// "Acme Corp (acct_42)".
    pub fn account_label(&self) -> String {
        account_label(&self.account_id, self.account_name.as_deref())
    }
}

/// How a request was decided.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, IntoStaticStr, EnumString, Display, VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum DecisionKind {
    /// Approved because every action needs no approval.
    Policy,
    /// Approved by a person.
    Approve,
    /// Denied by a person.
    Deny,
    /// Approved by nobody: the requester broke the glass.
    Breakglass,
}

impl DecisionKind {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The one decision on a request. The store refuses a second one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// `dec_...`
    pub id: String,
    /// The request decided.
    pub request_id: String,
    /// Policy, approve or deny.
    pub kind: DecisionKind,
    /// `policy` or the decider's login.
    pub decider: String,
    /// The decider's display name.
    pub decider_name: String,
    /// Actions granted (empty for a denial).
    pub actions: Vec<String>,
    /// Minutes granted (0 for a denial).
    pub minutes: u32,
    /// Actions removed from the request.
    pub removed: Vec<String>,
    /// Actions added to the request.
    pub added: Vec<String>,
    /// The note, required for a denial.
    pub note: Option<String>,
    /// When.
    pub at: Timestamp,
}

/// Whether a session is live.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, IntoStaticStr, EnumString, Display, VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum SessionState {
    /// In progress.
    Live,
    /// Over, for good.
    Ended,
}

impl SessionState {
    /// Wire and stored name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A customer's permission for support to access their account, recorded
/// by a host app, for some hours; withdrawn at any moment (the kill switch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// `grt_...`
    pub id: String,
    /// The customer account.
    pub account_id: String,
    /// The host app that recorded it.
    pub app_id: String,
    /// Who granted it, as the host app names the customer's user.
    pub granted_by: String,
    /// For how many hours.
    pub hours: u32,
    /// When it was granted.
    pub created_at: Timestamp,
    /// When it runs out.
    pub expires_at: Timestamp,
    /// When it was withdrawn, if it was.
    pub revoked_at: Option<Timestamp>,
    /// Who withdrew it.
    pub revoked_by: Option<String>,
}

impl Grant {
    /// Whether support may access the account under it at `now`.
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

/// Why a session ended. Each reason is its own event.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, IntoStaticStr, EnumString, Display, VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum EndReason {
    /// The agent ended it.
    Ended,
    /// It reached its absolute end.
    Expired,
    /// No activity for `idle_minutes`.
    IdleTimeout,
    /// A lead revoked it.
    Revoked,
    /// The agent was disabled.
    StaffDisabled,
    /// A scope change in `new_session` mode replaced it.
    Superseded,
    /// Its ticket was solved or closed in the ticket system.
    TicketClosed,
    /// The customer withdrew their permission (their grant) for support to
    /// access the account.
    CustomerRevoked,
}

impl EndReason {
    /// Wire and stored name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Why the session ended, in plain words ("a lead revoked it").
    pub fn words(self) -> &'static str {
        match self {
            EndReason::Ended => "the agent ended it",
            EndReason::Expired => "its time was up",
            EndReason::IdleTimeout => "nothing happened in it for too long",
            EndReason::Revoked => "a lead revoked it",
            EndReason::StaffDisabled => "the agent's account was disabled",
            EndReason::Superseded => "a new session replaced it after a scope change",
            EndReason::TicketClosed => "its ticket was solved or closed",
            EndReason::CustomerRevoked => "the customer withdrew their permission",
        }
    }
}

/// What a customer note says, field by field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct NoticeData {
    /// Who from support.
    pub agent_name: String,
    /// Who approved (`Policy` for access the policy grants).
    pub approver_name: String,
    /// What the agent changed, in plain words.
    pub changes: Vec<String>,
    /// Why the session ended.
    pub end_reason: Option<EndReason>,
    /// When it ended.
    #[serde(with = "crate::clock::millis_text")]
    #[cfg_attr(feature = "schema", schema(value_type = String, format = DateTime))]
    pub ended_at: Timestamp,
    /// Why support went in.
    pub reason: String,
    /// When it started.
    #[serde(with = "crate::clock::millis_text")]
    #[cfg_attr(feature = "schema", schema(value_type = String, format = DateTime))]
    pub started_at: Timestamp,
    /// The ticket.
    pub ticket: String,
}

/// A support session: one agent acting as one customer account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// `ses_...`
    pub id: String,
    /// The access request it came from.
    pub request_id: String,
    /// Ticket reference.
    pub ticket: String,
    /// Customer account.
    pub account_id: String,
    /// Customer account's display name.
    pub account_name: Option<String>,
    /// Agent's login.
    pub agent: String,
    /// Agent's display name.
    pub agent_name: String,
    /// `policy` or the approver's login.
    pub approver: String,
    /// Approver's display name.
    pub approver_name: String,
    /// Everyone who approved the session's scope, in order: the approver of
    /// the request first, then the approver of each scope change.
    pub approvers: Vec<Approver>,
    /// The host app its tokens are for (the tokens' `aud`).
    pub app_id: String,
    /// Granted actions.
    pub scope: Vec<String>,
    /// The reason of the request.
    pub reason: String,
    /// Start time.
    pub started_at: Timestamp,
    /// Absolute end.
    pub ends_at: Timestamp,
    /// Last activity (start, authorize, heartbeat).
    pub last_activity_at: Timestamp,
    /// Live or ended.
    pub state: SessionState,
    /// Why it ended.
    pub end_reason: Option<EndReason>,
    /// When it ended.
    pub ended_at: Option<Timestamp>,
    /// Who ended it (login, or `system`).
    pub ended_by: Option<String>,
    /// Note given on revoke.
    pub end_note: Option<String>,
    /// Started without a lead's approval (break-glass).
    pub breakglass: bool,
    /// A lead's review of a break-glass session, once given.
    pub review: Option<Review>,
}

/// A lead's review of a break-glass session, after it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    /// The lead's login.
    pub by: String,
    /// The lead's display name.
    pub by_name: String,
    /// When.
    pub at: Timestamp,
    /// What the lead found.
    pub note: String,
}

impl Session {
    /// A break-glass session no lead has reviewed yet.
    pub fn awaits_review(&self) -> bool {
        self.breakglass && self.review.is_none()
    }

    /// "Acme Corp (acct_42)".
    pub fn account_label(&self) -> String {
        account_label(&self.account_id, self.account_name.as_deref())
    }

    /// When the session idles out if nothing happens before.
    pub fn idle_deadline(&self, idle_minutes: u32) -> Timestamp {
        self.last_activity_at + crate::clock::minutes(idle_minutes)
    }

    /// How its access was approved, in words: "approved by Sam Lee",
    /// "approved by policy", "started without a lead's approval".
    pub fn approver_words(&self) -> String {
        if self.breakglass {
            "started without a lead's approval (break-glass)".to_string()
        } else if self.approver == "policy" {
            "approved by policy".to_string()
        } else {
            format!("approved by {}", self.approver_name)
        }
    }

    /// Whether the session is live.
    pub fn is_live(&self) -> bool {
        self.state == SessionState::Live
    }
}

/// One approval of a session's scope: a person, or the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approver {
    /// `policy` or the approver's login.
    pub id: String,
    /// Display name.
    pub name: String,
}

impl Approver {
    /// Whether the policy approved (no person was needed).
    pub fn is_policy(&self) -> bool {
        self.id == "policy"
    }

    /// Nobody approved: the agent broke the glass.
    pub fn is_breakglass(&self) -> bool {
        self.id == Approver::BREAKGLASS
    }

    /// The approver recorded for a break-glass session: nobody.
    pub const BREAKGLASS: &'static str = "breakglass";

    /// The approver of a break-glass session.
    pub fn breakglass() -> Approver {
        Approver { id: Approver::BREAKGLASS.into(), name: "No one (break-glass)".into() }
    }
}

/// A note for the customer about an ended session, queued for the host app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// `ntc_...`; also the queue position is `seq`.
    pub id: String,
    /// Queue position, increasing.
    pub seq: i64,
    /// Session it tells about.
    pub session_id: String,
    /// The customer account.
    pub account_id: String,
    /// The plain note.
    pub text: String,
    /// Structured detail: who, when, why, what changed.
    pub data: NoticeData,
    /// When it was queued.
    pub created_at: Timestamp,
    /// When the host app said it delivered it.
    pub delivered_at: Option<Timestamp>,
}
