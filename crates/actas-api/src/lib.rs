//! Wire types of the actas HTTP API (`/api/v1`), shared by the server and
//! the client crate. Field names are part of the contract in SPEC §5.
//!
//! Inputs refuse unknown fields, so a typo in a request is an error rather
//! than a silently ignored option. Every input string and list has a
//! bound, stated in its schema (`maxLength`, `maxItems`): the server
//! refuses a longer one with `400` (`too-long`, `too-many`) before doing
//! anything, and refuses control characters in one-line fields
//! (`invalid-characters`); the bounds are `actas_core::limits`.
#![warn(missing_docs)]

mod metrics;
pub mod token;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::ToSchema;

pub use metrics::*;

pub use actas_core::audit::{ActorKind, EventType};
pub use actas_core::authorize::Refusal;
pub use actas_core::id::{DecisionId, EventId, NoticeId, RequestId, Secret, SessionId};
pub use actas_core::model::{
    DecisionKind, EndReason, NoticeData, RequestKind, RequestStatus, Role, SessionState, TicketSource, TicketStatus,
};

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Problem {
    /// Stable type URI, `urn:actas:problem:<slug>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short title of the type.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What happened, in a sentence.
    pub detail: String,
    /// The field concerned, for validation problems.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The request's id (also the `X-Request-Id` header): quote it to an
    /// operator, who finds it on every log line of the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// `POST /tickets`
///
/// `ref`, `account_id`, `account_name`, `subject` and `url` are the
/// ticket's; `status`, `assignee` and `tags` tell its life in its ticket
/// system. A ticket system (an app with the `tickets` permission) sends
/// the ticket again whenever it changes: the same `ref` on the same
/// account updates it (`200`, `ticket.updated` when anything differs), and
/// a `solved` or `closed` status ends its live sessions (`ticket_closed`).
/// A field left out of such an update stays as it was. A staff member
/// typing a ticket in by hand may give `tags` (and `status` `open`) only;
/// a by-hand ticket sent again is answered as it stands.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct NewTicket {
    /// The ticket system's reference.
    #[schema(max_length = 100)]
    #[serde(rename = "ref")]
    pub reference: String,
    /// The customer account.
    #[schema(max_length = 100)]
    pub account_id: String,
    /// The account's display name.
    #[schema(max_length = 200)]
    #[serde(default)]
    pub account_name: Option<String>,
    /// Subject line.
    #[schema(max_length = 500)]
    pub subject: String,
    /// Link to the ticket.
    #[schema(max_length = 2000)]
    #[serde(default)]
    pub url: Option<String>,
    /// Where it stands in its ticket system: `open` (the default for a new
    /// ticket), `pending`, `solved` or `closed`. Only a ticket system (an
    /// app key) may send another status than `open`; a `solved` or
    /// `closed` ticket takes no new request and ends its live sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<TicketStatus>,
    /// Who works it, as the ticket system names them: a staff login, or
    /// an e-mail address whose local part is one (stored as the login).
    /// An empty string assigns it to nobody. Only from a ticket system (an
    /// app key).
    #[schema(max_length = 254)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    /// Its tags (each at most 100 characters), matched against the
    /// policy's playbooks to suggest a scope; `[]` removes them.
    #[schema(max_items = 50)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
}

/// A ticket.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Ticket {
    /// The ticket system's reference.
    #[serde(rename = "ref")]
    pub reference: String,
    /// The customer account.
    pub account_id: String,
    /// The account's display name.
    pub account_name: Option<String>,
    /// Subject line.
    pub subject: String,
    /// Link to the ticket.
    pub url: Option<String>,
    /// Who recorded it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Where it stands in its ticket system; only `open` and `pending`
    /// tickets take requests.
    pub status: TicketStatus,
    /// The staff member it is assigned to.
    pub assignee: Option<String>,
    /// Its tags.
    pub tags: Vec<String>,
    /// Where it came from: `hand` when a staff member typed it in.
    pub source: TicketSource,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// The policy's playbook for its tags, when one matches.
    pub playbook: Option<Playbook>,
    /// Its requests (on `GET /tickets/{ref}`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requests: Vec<Request>,
    /// Its sessions (on `GET /tickets/{ref}`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sessions: Vec<Session>,
}

/// A kind of case and the smallest access the policy suggests for it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Playbook {
    /// Stable name.
    pub name: String,
    /// Plain words.
    pub label: String,
    /// The actions suggested.
    pub actions: Vec<ActionRef>,
    /// The minutes suggested.
    pub minutes: u32,
}

/// What a ticket system's webhook did.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Delivery {
    /// The ticket as it stands now.
    pub ticket: Ticket,
    /// `created`, `updated` or `unchanged`.
    pub outcome: String,
    /// The live sessions the change ended (a solved or closed ticket).
    pub sessions_ended: Vec<SessionId>,
}

/// An action with its plain label.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct ActionRef {
    /// Dotted name.
    pub name: String,
    /// Plain label.
    pub label: String,
}

/// `POST /requests`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    /// Ticket reference.
    #[schema(max_length = 100)]
    pub ticket: String,
    /// Must be the ticket's account when given.
    #[schema(max_length = 100)]
    #[serde(default)]
    pub account_id: Option<String>,
    /// Why: at least the policy's `min_chars`, not a vague phrase, and
    /// naming the problem (two specific words, or one from the ticket's
    /// subject; `reason-vague` otherwise). Line breaks and tabs are kept;
    /// other control characters are refused.
    #[schema(max_length = 2000)]
    pub reason: String,
    /// Action names (each at most 100 characters).
    #[schema(max_items = 50)]
    pub actions: Vec<String>,
    /// Duration in minutes; the policy default when absent (for
    /// break-glass, at most the policy's `[breakglass] max_minutes`).
    #[serde(default)]
    pub minutes: Option<u32>,
    /// Break-glass: for an outage when no lead can be reached. Needs the
    /// `breakglass` role; approved at once, by nobody, for the policy's
    /// `[breakglass]` actions only. Every lead is told when it starts, and
    /// a lead reviews the session after it ends.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub breakglass: bool,
}

/// A decision on a request.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Decision {
    /// `dec_...`
    pub id: DecisionId,
    /// By policy, or a person's approval or denial.
    pub kind: DecisionKind,
    /// `policy` or the decider's login.
    pub decider: String,
    /// The decider's display name.
    pub decider_name: String,
    /// Granted actions.
    pub actions: Vec<ActionRef>,
    /// Granted minutes.
    pub minutes: u32,
    /// Asked for, not granted.
    pub removed: Vec<String>,
    /// Granted, not asked for.
    pub added: Vec<String>,
    /// The note.
    pub note: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// A request (access or scope).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Request {
    /// `req_...`
    pub id: RequestId,
    /// Access to an account, or more actions for a live session.
    pub kind: RequestKind,
    /// Where it stands.
    pub status: RequestStatus,
    /// Ticket reference.
    pub ticket: String,
    /// The one account.
    pub account_id: String,
    /// The account's display name.
    pub account_name: Option<String>,
    /// Requester's login.
    pub requester: String,
    /// Requester's display name.
    pub requester_name: String,
    /// The reason.
    pub reason: String,
    /// Actions asked for.
    pub actions: Vec<ActionRef>,
    /// Minutes asked for.
    pub minutes: u32,
    /// Whether a person must approve.
    pub needs_approval: bool,
    /// Actions granted, once decided.
    pub granted_actions: Option<Vec<ActionRef>>,
    /// Minutes granted, once decided.
    pub granted_minutes: Option<u32>,
    /// Who decided.
    pub decided_by: Option<String>,
    /// When decided.
    pub decided_at: Option<DateTime<Utc>>,
    /// The decision's note.
    pub decision_note: Option<String>,
    /// An approved request must be started before this.
    pub start_by: Option<DateTime<Utc>>,
    /// For scope requests: the session extended; for started requests: the
    /// session started.
    pub session_id: Option<SessionId>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// The playbook of the ticket's kind of case, when its tags named one.
    pub playbook: Option<String>,
    /// For a step-up (`kind = "stepup"`): the one change it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stepup: Option<StepUpChange>,
    /// The decision (on `GET /requests/{id}`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub decisions: Vec<Decision>,
    /// Sessions it started (on `GET /requests/{id}`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sessions: Vec<Session>,
}

/// `POST /requests/{id}/approve`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct Approve {
    /// Narrowed or expanded actions (each at most 100 characters); the
    /// request's when absent.
    #[schema(max_items = 50)]
    #[serde(default)]
    pub actions: Option<Vec<String>>,
    /// Shortened duration; the request's when absent.
    #[serde(default)]
    pub minutes: Option<u32>,
    /// A note.
    #[schema(max_length = 2000)]
    #[serde(default)]
    pub note: Option<String>,
}

/// `POST /requests/{id}/deny`, `POST /sessions/{id}/revoke`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct Note {
    /// Why. Required.
    #[schema(max_length = 2000)]
    #[serde(default)]
    pub note: Option<String>,
}

/// A support session.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Session {
    /// `ses_...`
    pub id: SessionId,
    /// The request it came from.
    pub request_id: RequestId,
    /// Ticket reference.
    pub ticket: String,
    /// The customer account.
    pub account_id: String,
    /// The account's display name.
    pub account_name: Option<String>,
    /// Agent's login.
    pub agent: String,
    /// Agent's display name.
    pub agent_name: String,
    /// `policy` or the approver's login.
    pub approver: String,
    /// The approver's display name.
    pub approver_name: String,
    /// Everyone who approved the session's scope, in order (the request's
    /// approver, then each scope change's).
    pub approvers: Vec<Approver>,
    /// Who approved it, in plain words: "approved by Sam Lee",
    /// "approved automatically by the support policy, then by Sam Lee".
    pub approved_by: String,
    /// The host app its tokens are for (the tokens' `aud`).
    pub app_id: String,
    /// Granted actions with labels.
    pub scope: Vec<ActionRef>,
    /// The reason.
    pub reason: String,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// Absolute end.
    pub ends_at: DateTime<Utc>,
    /// When it idles out without activity.
    pub idle_deadline: DateTime<Utc>,
    /// Last activity.
    pub last_activity_at: DateTime<Utc>,
    /// Live or ended.
    pub state: SessionState,
    /// Why it ended.
    pub end_reason: Option<EndReason>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// Who ended it.
    pub ended_by: Option<String>,
    /// The revoke note.
    pub end_note: Option<String>,
    /// The session's step-ups, the latest first (on `GET /sessions/{id}`
    /// only; at most 10).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stepups: Vec<StepUp>,
    /// Started without a lead's approval (break-glass).
    #[serde(default)]
    pub breakglass: bool,
    /// A lead's review of a break-glass session, once given.
    #[serde(default)]
    pub review: Option<Review>,
}

/// A lead's review of a break-glass session (`POST /sessions/{id}/review`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Review {
    /// The lead's login.
    pub by: String,
    /// The lead's display name.
    pub by_name: String,
    /// When.
    pub at: DateTime<Utc>,
    /// What the lead found.
    pub note: String,
}

/// `POST /accounts/{id}/grants`: the customer allows support in.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct NewGrant {
    /// For how many hours (1 to 720).
    #[schema(minimum = 1, maximum = 720)]
    pub hours: u32,
    /// Who grants it, as the host app names the customer's user (an
    /// e-mail address, a login); at most 200 characters.
    #[schema(max_length = 200)]
    pub granted_by: String,
}

/// `PUT /accounts/{id}/consent`: whether one account asks for its
/// customer's grant before any support session.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct AccountConsent {
    /// Whether support needs the customer's grant.
    pub required: bool,
    /// Who set it, as the host app names the customer's user; at most 200
    /// characters.
    #[schema(max_length = 200)]
    pub set_by: String,
}

/// A customer's grant.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct Grant {
    /// `grt_...`
    pub id: String,
    /// The customer account.
    pub account_id: String,
    /// The host app that recorded it.
    pub app_id: String,
    /// Who granted it.
    pub granted_by: String,
    /// For how many hours.
    pub hours: u32,
    /// When it was granted.
    pub created_at: DateTime<Utc>,
    /// When it runs out.
    pub expires_at: DateTime<Utc>,
    /// When it was withdrawn.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Who withdrew it.
    pub revoked_by: Option<String>,
    /// Whether support may access the account under it now.
    pub live: bool,
}

/// `GET /accounts/{id}/grants` (and `DELETE`'s answer): an account's consent.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct Consent {
    /// The customer account.
    pub account_id: String,
    /// Whether support needs the customer's grant for it.
    pub required: bool,
    /// The live grant, if any.
    pub grant: Option<Grant>,
    /// The latest grants, newest first (at most 20).
    pub grants: Vec<Grant>,
    /// On `DELETE`: how many live sessions the withdrawal ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions_ended: Option<u32>,
}

/// `POST /sessions/{id}/stepup`: one change the session's scope lacks.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct NewStepUp {
    /// The action's dotted name (at most 100 characters): a change the
    /// policy allows and the session's scope lacks.
    #[schema(max_length = 100)]
    pub action: String,
    /// What it will be done to; when given, only that target matches.
    #[serde(default)]
    pub target: Option<Target>,
    /// The changes it will make; when given, only the same fields with the
    /// same new values match (old values are not compared). Their values
    /// are kept only where the policy stores them.
    #[schema(max_items = 50)]
    #[serde(default)]
    pub changes: Option<Vec<Change>>,
    /// Why, naming what the customer asked for.
    #[schema(max_length = 2000)]
    pub reason: String,
}

/// What a step-up is for.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct StepUpChange {
    /// The target named, if any.
    pub target: Option<Target>,
    /// The changes named, as the trail keeps them (`(value not stored)`
    /// where the policy stores no value); empty when none were named.
    pub changes: Vec<Change>,
}

/// A step-up of a session, as the agent's banner and the lead see it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct StepUp {
    /// The request (`req_...`), decided with `approve` and `deny`.
    pub id: RequestId,
    /// The one action.
    pub action: ActionRef,
    /// What it is for.
    pub change: StepUpChange,
    /// The change in words: "Change billing details (plan from Pro to
    /// Basic on subscription sub_9)".
    pub summary: String,
    /// The agent's reason.
    pub reason: String,
    /// `pending`, `approved` (usable once until `use_by`), `used`,
    /// `denied`, `withdrawn` or `expired`.
    pub status: RequestStatus,
    /// Who decided, by display name.
    pub decided_by: Option<String>,
    /// The decision's note (a denial's reason).
    pub decision_note: Option<String>,
    /// Approved: usable once until then.
    pub use_by: Option<DateTime<Utc>>,
    /// When it was asked.
    pub created_at: DateTime<Utc>,
}

/// One approval of a session's scope.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct Approver {
    /// `policy` or the approver's login.
    pub id: String,
    /// Display name.
    pub name: String,
}

/// `POST /sessions/{id}/entry` answer: a one-time code that lets the
/// browser into the host app without carrying the token in a URL.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EntryCode {
    /// The code; it works once, until `expires_at`, and a newer code of
    /// the same session voids it.
    #[schema(value_type = String)]
    pub code: Secret,
    /// The host app's entry address with the code, when the app has one.
    pub url: Option<String>,
    /// When the code stops working.
    pub expires_at: DateTime<Utc>,
}

/// `POST /entry`: the host app exchanges a one-time code.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntryExchange {
    /// The code the browser brought.
    #[schema(value_type = String, max_length = 100)]
    pub code: Secret,
}

/// `POST /requests/{id}/start` answer (and `POST /entry`'s).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Started {
    /// The new session.
    pub session: Session,
    /// The signed impersonation token for the host app.
    #[schema(value_type = String)]
    pub token: Secret,
}

/// `POST /sessions/{id}/scope`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ScopeChange {
    /// Actions to add (each at most 100 characters).
    #[schema(max_items = 50)]
    pub actions: Vec<String>,
    /// Why.
    #[schema(max_length = 2000)]
    pub reason: String,
}

/// The target of an action.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Must be the token's `sub` when given.
    #[schema(max_length = 100)]
    #[serde(default)]
    pub account_id: Option<String>,
    /// Record type.
    #[schema(max_length = 100)]
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Record id.
    #[schema(max_length = 100)]
    #[serde(default)]
    pub id: Option<String>,
}

/// One changed field.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Change {
    /// Field name.
    #[schema(max_length = 100)]
    pub field: String,
    /// Old value, as the host app shows it (any text but NUL). Stored only
    /// where the policy allows (`redact`, `store_values`, secret-looking
    /// field names).
    #[schema(max_length = 1000)]
    #[serde(default)]
    pub old: Option<String>,
    /// New value, stored as `old` is.
    #[schema(max_length = 1000)]
    #[serde(default)]
    pub new: Option<String>,
}

/// `POST /authorize`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeRequest {
    /// The impersonation token.
    #[schema(value_type = String)]
    pub token: Secret,
    /// The action's dotted name.
    #[schema(max_length = 100)]
    pub action: String,
    /// What it acts on.
    #[serde(default)]
    pub target: Option<Target>,
    /// The changes it makes; their old and new values together at most
    /// 10,000 characters.
    #[schema(max_items = 50)]
    #[serde(default)]
    pub changes: Option<Vec<Change>>,
}

/// `POST /authorize` answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct AuthorizeResponse {
    /// Whether the host app may go ahead.
    pub allowed: bool,
    /// `ok`, or why not.
    pub reason: AuthorizeReason,
    /// The audit event recording the answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<EventId>,
}

/// Who did it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Actor {
    /// Staff, app, policy or system.
    pub kind: ActorKind,
    /// Login, app id, `policy` or `system`.
    pub id: String,
    /// Display name.
    pub name: String,
}

/// An audit event.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct AuditEvent {
    /// Position in the chain.
    pub seq: i64,
    /// `evt_...`
    pub id: EventId,
    /// When (UTC, milliseconds).
    pub at: String,
    /// Event type.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// Who.
    pub actor: Actor,
    /// Customer account.
    pub account_id: Option<String>,
    /// Ticket.
    pub ticket: Option<String>,
    /// Request.
    pub request_id: Option<RequestId>,
    /// Session.
    pub session_id: Option<SessionId>,
    /// The staff member whose access the event is about.
    pub agent: Option<String>,
    /// Type-specific detail.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    /// The plain line.
    pub text: String,
    /// Previous event's hash.
    pub prev_hash: String,
    /// This event's hash.
    pub hash: String,
}

/// The body of a webhook delivery: Standard Webhooks' envelope around one
/// audit event. Headers: `webhook-id` (the event's id, the same on every
/// retry), `webhook-timestamp` (Unix seconds of the attempt) and
/// `webhook-signature` (`v1,` and the base64 HMAC-SHA256 of
/// `id.timestamp.body`, keyed with the secret's bytes).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct WebhookPayload {
    /// The event's type.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// When the event happened (its `at`).
    pub timestamp: String,
    /// The event, as `GET /audit` shows it.
    pub data: AuditEvent,
}

/// An endpoint that receives audit events (`actas webhook add`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Webhook {
    /// `whk_...`
    pub id: String,
    /// Where it sends, without its query.
    pub url: String,
    /// The event types it receives; `["*"]`: every one.
    pub events: Vec<String>,
    /// `active`, or `paused` after it kept failing.
    pub state: String,
    /// Every event up to this seq was delivered (or not chosen).
    pub after_seq: i64,
    /// Failed attempts in a row at the next event.
    pub failures: u32,
    /// When the next event is tried again, after a failure.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// What the last failed attempt met.
    pub last_error: Option<String>,
    /// When it was added.
    pub created_at: DateTime<Utc>,
}

/// `GET /webhooks`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WebhookList {
    /// Every endpoint, the oldest first.
    pub webhooks: Vec<Webhook>,
}

/// One attempt to deliver one event: which, when and what the receiver
/// answered; never the payload.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct WebhookDelivery {
    /// `whd_...`
    pub id: String,
    /// The event (the `webhook-id` header).
    pub event_id: String,
    /// The event's seq.
    pub seq: i64,
    /// The event's type.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// 1 for the first attempt at this event, then 2, ...
    pub attempt: u32,
    /// When it was sent.
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    /// Whether the receiver took it (2xx).
    pub ok: bool,
    /// Why it failed.
    pub error: Option<String>,
    /// Sent again by hand from the log.
    pub replay: bool,
}

/// `GET /webhooks/{id}/deliveries`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WebhookDeliveries {
    /// The endpoint.
    pub webhook: Webhook,
    /// Its latest attempts, the latest first.
    pub deliveries: Vec<WebhookDelivery>,
}

/// `GET /audit` answer (format `json`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    /// Events, oldest first.
    pub events: Vec<AuditEvent>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// `GET /audit/verify` answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Verification {
    /// Whether the whole chain and every checkpoint check out.
    pub ok: bool,
    /// Events checked.
    pub events: u64,
    /// The head's hash.
    pub head: Option<String>,
    /// The first bad event's seq.
    pub first_bad: Option<i64>,
    /// What is wrong, in plain words.
    pub problem: Option<String>,
    /// Checkpoints checked.
    pub checkpoints: u64,
}

/// A public key that signs the audit trail's head (an OKP JWK with dates).
/// Checkpoint keys never sign tokens and are not in the token JWKS.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditKey {
    /// Key id, as in checkpoints and witness lines.
    pub kid: String,
    /// `OKP`.
    pub kty: String,
    /// `Ed25519`.
    pub crv: String,
    /// `EdDSA`.
    pub alg: String,
    /// The raw public key, base64url.
    pub x: String,
    /// What it signs.
    pub role: AuditKeyRole,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When a newer key replaced it; it still verifies what it signed.
    pub retired_at: Option<DateTime<Utc>>,
}

/// `GET /audit/keys` answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditKeys {
    /// Every key that signs or signed checkpoints, oldest first.
    pub keys: Vec<AuditKey>,
    /// What a checkpoint signature covers, with `{seq}` and `{hash}` (the
    /// head event's hex hash) filled in: `actas-audit-head\n{seq}\n{hash}`.
    pub signed_message: String,
}

/// A customer note about an ended session.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Notice {
    /// `ntc_...`
    pub id: NoticeId,
    /// Queue position; pass the last one seen as `after`.
    pub seq: i64,
    /// Session.
    pub session_id: SessionId,
    /// Customer account.
    pub account_id: String,
    /// The note, in plain words.
    pub text: String,
    /// Who, when, why, what changed.
    pub data: NoticeData,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// When the host app delivered it.
    pub delivered_at: Option<DateTime<Utc>>,
}

/// One entry of an account's access log, as a customer would see it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccessLogEntry {
    /// Session.
    pub session_id: SessionId,
    /// Who from support.
    pub agent_name: String,
    /// Who approved (`Policy` for view-only access).
    pub approver_name: String,
    /// Who approved, in plain words for the customer: "approved by Sam
    /// Lee", "approved automatically by the support policy, then by Sam Lee".
    pub approved_by: String,
    /// Ticket.
    pub ticket: String,
    /// Why.
    pub reason: String,
    /// What they were allowed to do.
    pub allowed: Vec<String>,
    /// What they changed, in plain words.
    pub changes: Vec<String>,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End (or planned end while live).
    pub ended_at: DateTime<Utc>,
    /// Live or ended.
    pub state: SessionState,
    /// Why it ended.
    pub end_reason: Option<EndReason>,
}

/// A session state change on `GET /sessions/feed`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct SessionChange {
    /// `session.started`, `session.ended`, ... or `scope.changed`.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// The session after the change.
    pub session: Session,
    /// The audit event's seq.
    pub seq: i64,
}

/// `GET /healthz`
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// Whether the server can answer.
    pub status: HealthStatus,
    /// Which database it runs on.
    pub database: Database,
    /// Why the server is unavailable: `database unreachable`,
    /// `writes cannot be committed` or `writer stopped`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `POST /requests/{id}/start` (optional body).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct StartSession {
    /// The host app's id (or name) the token is for; may be left out when
    /// only one host app is registered.
    #[schema(max_length = 100)]
    #[serde(default)]
    pub app: Option<String>,
}

/// A list of requests.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RequestList {
    /// Requests, oldest first.
    pub requests: Vec<Request>,
}

/// A session's timeline.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Timeline {
    /// The session.
    pub session_id: SessionId,
    /// Its events and its request's, oldest first. Each `text` is one line:
    /// line breaks, tabs, other control characters, line separators and
    /// bidirectional controls appear as escapes (`\n`, `\u{1b}`,
    /// `\u{2028}`) and a backslash as `\\`. `GET /audit` answers the text
    /// as stored, which the hash covers.
    pub events: Vec<AuditEvent>,
}

/// An account's access log.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccessLog {
    /// The account.
    pub account_id: String,
    /// Sessions on it, newest first.
    pub entries: Vec<AccessLogEntry>,
}

/// Queued customer notes.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NoticeList {
    /// Notes, oldest first.
    pub notices: Vec<Notice>,
}

/// `POST /authorize`'s `reason`: `ok`, or the refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizeReason {
    /// The host app may go ahead.
    Ok,
    /// Why not.
    Refused(Refusal),
}

impl AuthorizeReason {
    /// The code, as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthorizeReason::Ok => "ok",
            AuthorizeReason::Refused(r) => r.as_str(),
        }
    }

    /// The refusal, when it is one.
    pub fn refusal(self) -> Option<Refusal> {
        match self {
            AuthorizeReason::Ok => None,
            AuthorizeReason::Refused(r) => Some(r),
        }
    }
}

impl std::fmt::Display for AuthorizeReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for AuthorizeReason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for AuthorizeReason {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = String::deserialize(d)?;
        if code == "ok" {
            return Ok(AuthorizeReason::Ok);
        }
        code.parse()
            .map(AuthorizeReason::Refused)
            .map_err(|_| serde::de::Error::custom(format!("unknown reason \"{code}\"")))
    }
}

impl utoipa::PartialSchema for AuthorizeReason {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use strum::VariantArray;
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        let codes = std::iter::once("ok").chain(Refusal::VARIANTS.iter().map(|r| r.as_str()));
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("`ok`, or why not."))
            .enum_values(Some(codes))
            .into()
    }
}

impl ToSchema for AuthorizeReason {}

/// What an audit key signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditKeyRole {
    /// Checkpoints of the trail's head.
    Checkpoint,
    /// A key from before token and checkpoint keys were split: it signed both.
    Legacy,
}

/// Whether a server can answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// It can read and commit.
    Ok,
    /// It cannot; `reason` says why.
    Unavailable,
}

/// The database a server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Database {
    /// An embedded SQLite file.
    Sqlite,
    /// PostgreSQL, shared by every node.
    Postgres,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorize_reason_reads_back_what_it_writes_and_refuses_unknown_codes() {
        for reason in [AuthorizeReason::Ok, AuthorizeReason::Refused(Refusal::NotInScope)] {
            let json = serde_json::to_value(reason).expect("a string");
            assert_eq!(json, reason.as_str());
            assert_eq!(serde_json::from_value::<AuthorizeReason>(json).expect("known"), reason);
        }
        let err = serde_json::from_value::<AuthorizeReason>("maybe".into()).expect_err("unknown");
        assert!(err.to_string().contains("unknown reason \"maybe\""), "{err}");
    }
}
