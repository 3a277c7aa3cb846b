//! What the store keeps, one port per aggregate, each split into what a
//! read may do and what only a write may do.
//!
//! A read transaction ([`ReadTx`]) has every `...Reads` port; a write
//! transaction ([`WriteTx`]) has those and every `...Writes` port, so an event
//! can be appended, a session ended or a key retired only inside
//! [`Store::write`](crate::Store::write), which the compiler checks. Both
//! backends implement every port; the server's operations see only these
//! traits.
//!
//! Method names are verb + noun. Inserts that break a uniqueness rule answer
//! [`Error::Conflict`](actas_core::Error::Conflict) with the rule's code;
//! other database failures answer
//! [`Error::Unavailable`](actas_core::Error::Unavailable).

use actas_core::audit::{Checkpoint, Event, EventType, NewEvent, StoredPage};
use actas_core::model::{App, Decision, Notice, Request, Session, Staff, Ticket};
use actas_core::webhook::{Delivery, Webhook};
use actas_core::{Result, Timestamp};
use async_trait::async_trait;

use crate::{
    ConnectorRecord, ConsoleSession, EntryCode, EventFilter, KeyRecord, RequestFilter, Segment, SessionFilter,
    StaffProfile,
};

/// Tickets, read.
#[async_trait]
pub trait TicketReads: Send {
    /// One ticket.
    async fn get_ticket(&mut self, reference: &str) -> Result<Option<Ticket>>;
    /// Open and pending tickets assigned to `assignee` (or, with `None`,
    /// to nobody), the latest changed first.
    async fn list_open_tickets(&mut self, assignee: Option<&str>, limit: i64) -> Result<Vec<Ticket>>;
}

/// Tickets, written.
#[async_trait]
pub trait TicketWrites: Send {
    /// Records a ticket. Conflict `ticket-exists` when the ref is taken.
    async fn insert_ticket(&mut self, t: &Ticket) -> Result<()>;
    /// Stores everything of a ticket but its reference, creator and
    /// creation time.
    async fn update_ticket(&mut self, t: &Ticket) -> Result<()>;
}

/// Staff, their passwords, read.
#[async_trait]
pub trait StaffReads: Send {
    /// One staff member.
    async fn get_staff(&mut self, id: &str) -> Result<Option<Staff>>;
    /// Everyone, by login.
    async fn list_staff(&mut self) -> Result<Vec<Staff>>;
    /// A staff member's password hash.
    async fn get_staff_password(&mut self, id: &str) -> Result<Option<String>>;
    /// One staff member with what provisioning keeps of them.
    async fn get_staff_profile(&mut self, id: &str) -> Result<Option<(Staff, StaffProfile)>>;
    /// Everyone with what provisioning keeps of them, by login.
    async fn list_staff_profiles(&mut self) -> Result<Vec<(Staff, StaffProfile)>>;
    /// The staff member the identity provider knows by `username`
    /// (lowercased): the one renamed to it, else the one whose login it is
    /// and who was never renamed.
    async fn find_staff_by_username(&mut self, username: &str) -> Result<Option<(Staff, StaffProfile)>>;
}

/// Staff, written.
#[async_trait]
pub trait StaffWrites: Send {
    /// Adds a staff member. Conflict `staff-exists` when the login is taken.
    async fn insert_staff(&mut self, s: &Staff) -> Result<()>;
    /// Stores name, roles and disabled flag.
    async fn update_staff(&mut self, s: &Staff) -> Result<()>;
    /// Sets (or clears) a staff member's password hash.
    async fn set_staff_password(&mut self, id: &str, hash: Option<&str>) -> Result<()>;
    /// Stores what provisioning keeps of a staff member. Conflict
    /// `staff-exists` when another has the same external id.
    async fn set_staff_profile(&mut self, id: &str, p: &StaffProfile) -> Result<()>;
}

/// Console sign-ins, read.
#[async_trait]
pub trait ConsoleReads: Send {
    /// One console session, by the hash of its id.
    async fn get_console_session(&mut self, id_hash: &str) -> Result<Option<ConsoleSession>>;
}

/// Console sign-ins, written.
#[async_trait]
pub trait ConsoleWrites: Send {
    /// Stores a new console session.
    async fn insert_console_session(&mut self, s: &ConsoleSession) -> Result<()>;
    /// Records activity: moves `last_seen_at` forward (never back).
    async fn touch_console_session(&mut self, id_hash: &str, at: Timestamp) -> Result<()>;
    /// Ends a console session (sign-out, timeout).
    async fn delete_console_session(&mut self, id_hash: &str) -> Result<()>;
}

/// Personal tokens and app keys (their hashes), read.
#[async_trait]
pub trait CredentialReads: Send {
    /// Who a credential hash belongs to: `(owner_kind, owner_id)`.
    async fn find_credential(&mut self, hash: &str) -> Result<Option<(String, String)>>;
}

/// Personal tokens and app keys (their hashes), written.
#[async_trait]
pub trait CredentialWrites: Send {
    /// Stores the hash of a credential (personal token or app key).
    async fn insert_credential(&mut self, hash: &str, owner_kind: &str, owner_id: &str, at: Timestamp) -> Result<()>;
}

/// Host apps and the entry codes that carry a session to one, read.
#[async_trait]
pub trait AppReads: Send {
    /// One app.
    async fn get_app(&mut self, id: &str) -> Result<Option<App>>;
    /// Every app, by name.
    async fn list_apps(&mut self) -> Result<Vec<App>>;
    /// One entry code, by the hash of the code.
    async fn get_entry_code(&mut self, hash: &str) -> Result<Option<EntryCode>>;
    /// An app's ticket-system webhook, when it has one.
    async fn get_connector(&mut self, app_id: &str) -> Result<Option<ConnectorRecord>>;
    /// A customer account's grants, the latest first.
    async fn list_grants(&mut self, account_id: &str, limit: i64) -> Result<Vec<actas_core::model::Grant>>;
    /// Whether one account asks for its customer's grant (`Some(true)`),
    /// says it does not (`Some(false)`), or says nothing (`None`).
    async fn account_consent(&mut self, account_id: &str) -> Result<Option<bool>>;
}

/// Host apps and entry codes, written.
#[async_trait]
pub trait AppWrites: Send {
    /// Registers an app. Conflict `app-exists` when the name is taken.
    async fn insert_app(&mut self, a: &App) -> Result<()>;
    /// Records a customer's grant.
    async fn insert_grant(&mut self, g: &actas_core::model::Grant) -> Result<()>;
    /// Withdraws a grant (no change when it was withdrawn already).
    async fn revoke_grant(&mut self, id: &str, at: Timestamp, by: &str) -> Result<()>;
    /// Sets whether one account asks for its customer's grant.
    async fn set_account_consent(&mut self, account_id: &str, required: bool, by: &str, at: Timestamp) -> Result<()>;
    /// Stores a new entry code and voids the session's unused ones.
    async fn insert_entry_code(&mut self, c: &EntryCode) -> Result<()>;
    /// Marks an entry code used; `false` when it was used already.
    async fn use_entry_code(&mut self, hash: &str, at: Timestamp) -> Result<bool>;
    /// Sets up an app's ticket-system webhook.
    async fn insert_connector(&mut self, c: &ConnectorRecord) -> Result<()>;
    /// Replaces the secret and mapping of the webhook `c.app_id` has
    /// (its kind and creation time stay); `false` when it has none.
    async fn replace_connector(&mut self, c: &ConnectorRecord) -> Result<bool>;
    /// Takes note of a webhook delivery; `false` when one with this key
    /// was taken before (a replay).
    async fn record_delivery(&mut self, key: &str, at: Timestamp) -> Result<bool>;
    /// Forgets deliveries taken before `before`; answers how many.
    async fn prune_deliveries(&mut self, before: Timestamp) -> Result<u64>;
}

/// Requests and their decisions, read.
#[async_trait]
pub trait RequestReads: Send {
    /// One request.
    async fn get_request(&mut self, id: &str) -> Result<Option<Request>>;
    /// Requests, oldest first.
    async fn list_requests(&mut self, f: &RequestFilter) -> Result<Vec<Request>>;
    /// Approved requests whose `start_by` is at or before `now`.
    async fn list_lapsed_requests(&mut self, now: Timestamp) -> Result<Vec<Request>>;
    /// A request's decisions (zero or one).
    async fn list_decisions(&mut self, request_id: &str) -> Result<Vec<Decision>>;
    /// The requests with these ids, in no particular order; unknown ids
    /// are left out. One statement, by the primary key, for any number.
    async fn get_requests(&mut self, ids: &[String]) -> Result<Vec<Request>>;
}

/// Requests and their decisions, written.
#[async_trait]
pub trait RequestWrites: Send {
    /// Stores a new request.
    async fn insert_request(&mut self, r: &Request) -> Result<()>;
    /// Stores a request's new state.
    async fn update_request(&mut self, r: &Request) -> Result<()>;
    /// Stores the decision. Conflict `already-decided` when one exists.
    async fn insert_decision(&mut self, d: &Decision) -> Result<()>;
}

/// Impersonation sessions, read.
#[async_trait]
pub trait SessionReads: Send {
    /// One session.
    async fn get_session(&mut self, id: &str) -> Result<Option<Session>>;
    /// The agent's live session.
    async fn find_live_session(&mut self, agent: &str) -> Result<Option<Session>>;
    /// Sessions, newest first.
    async fn list_sessions(&mut self, f: &SessionFilter) -> Result<Vec<Session>>;
    /// The sessions with these ids, in no particular order; unknown ids
    /// are left out. One statement, by the primary key, for any number.
    async fn get_sessions(&mut self, ids: &[String]) -> Result<Vec<Session>>;
    /// Live sessions whose time is up: `ends_at` at or before `ends_by`, or
    /// last activity at or before `idle_since`; at most `limit` of each.
    async fn list_due_sessions(
        &mut self,
        ends_by: Timestamp,
        idle_since: Timestamp,
        limit: i64,
    ) -> Result<Vec<Session>>;
}

/// Impersonation sessions, written.
#[async_trait]
pub trait SessionWrites: Send {
    /// Stores a new session. Conflict `live-session-exists` when the agent
    /// already has a live one.
    async fn insert_session(&mut self, s: &Session) -> Result<()>;
    /// Stores a session's new state.
    async fn update_session(&mut self, s: &Session) -> Result<()>;
    /// Records activity: moves `last_activity_at` forward (never back).
    async fn touch_session(&mut self, id: &str, at: Timestamp) -> Result<()>;
}

/// Signing keys, read.
#[async_trait]
pub trait KeyReads: Send {
    /// Every key, oldest first.
    async fn list_keys(&mut self) -> Result<Vec<KeyRecord>>;
}

/// Signing keys, written.
#[async_trait]
pub trait KeyWrites: Send {
    /// Stores a signing key.
    async fn insert_key(&mut self, k: &KeyRecord) -> Result<()>;
    /// Marks a key retired.
    async fn retire_key(&mut self, kid: &str, at: Timestamp) -> Result<()>;
    /// Replaces a key's stored private part (sealing it, or sealing it again
    /// under another key-encryption key).
    async fn update_key_secret(&mut self, kid: &str, private_key: &str) -> Result<()>;
}

/// The audit trail and its signed checkpoints, read.
#[async_trait]
pub trait AuditReads: Send {
    /// Events matching the filter, oldest first. Its cost follows what it
    /// returns, not the trail's length (see `plan`).
    async fn list_events(&mut self, f: &EventFilter) -> Result<Vec<Event>>;
    /// The events of type `kind` of the given sessions, ordered by session
    /// id and then seq; at most `limit` in all. One statement, walking the
    /// session index, for any number of sessions.
    async fn list_session_events(&mut self, session_ids: &[String], kind: EventType, limit: i64) -> Result<Vec<Event>>;
    /// The chain's head: `(seq, hash)`.
    async fn get_event_head(&mut self) -> Result<Option<(i64, String)>>;
    /// Up to `limit` events after `after_seq` in seq order, as stored:
    /// for checking the chain without reading each event in full.
    async fn read_chain(&mut self, after_seq: i64, limit: i64) -> Result<StoredPage>;
    /// The checkpoints with `after_seq < seq <= through_seq`, oldest first.
    async fn list_checkpoints(&mut self, after_seq: i64, through_seq: i64) -> Result<Vec<Checkpoint>>;
    /// How many checkpoints there are with `seq > after_seq`.
    async fn count_checkpoints(&mut self, after_seq: i64) -> Result<i64>;
    /// The sealed segments (`audit archive`), oldest first.
    async fn list_segments(&mut self) -> Result<Vec<Segment>>;
}

/// The audit trail, appended to.
#[async_trait]
pub trait AuditWrites: Send {
    /// Appends an event to the chain, naming it (`evt_...`).
    async fn append_event(&mut self, e: NewEvent) -> Result<Event>;
    /// Stores a checkpoint.
    async fn insert_checkpoint(&mut self, c: &Checkpoint) -> Result<()>;
    /// Records a sealed segment; its events may then be removed.
    async fn insert_segment(&mut self, s: &Segment) -> Result<()>;
    /// Removes the oldest stored events, at most `limit` of them and none
    /// after seq `through`, which a recorded segment must seal (the
    /// database refuses otherwise); answers how many went.
    async fn remove_sealed_events(&mut self, through: i64, limit: i64) -> Result<u64>;
}

/// Customer notes, read.
#[async_trait]
pub trait NoticeReads: Send {
    /// Notices of the sessions issued for `app_id` after `seq`, oldest first.
    async fn list_notices(&mut self, app_id: &str, after: i64, limit: i64) -> Result<Vec<Notice>>;
    /// One notice.
    async fn get_notice(&mut self, id: &str) -> Result<Option<Notice>>;
}

/// Customer notes, written.
#[async_trait]
pub trait NoticeWrites: Send {
    /// Queues a customer note. Its `seq` is assigned by the store.
    async fn insert_notice(&mut self, n: &Notice) -> Result<Notice>;
    /// Marks a notice delivered.
    async fn set_notice_delivered(&mut self, id: &str, at: Timestamp) -> Result<()>;
}

/// A read transaction: every `...Reads` port, on one consistent snapshot.
pub trait ReadTx:
    TicketReads
    + StaffReads
    + ConsoleReads
    + CredentialReads
    + AppReads
    + RequestReads
    + SessionReads
    + KeyReads
    + AuditReads
    + NoticeReads
    + WebhookReads
{
}

/// Webhooks out and their delivery log, read.
#[async_trait]
pub trait WebhookReads: Send {
    /// Every endpoint, the oldest first.
    async fn list_webhooks(&mut self) -> Result<Vec<Webhook>>;
    /// One endpoint.
    async fn get_webhook(&mut self, id: &str) -> Result<Option<Webhook>>;
    /// An endpoint's attempts, the latest first.
    async fn list_deliveries(&mut self, webhook_id: &str, limit: i64) -> Result<Vec<Delivery>>;
    /// One attempt.
    async fn get_delivery(&mut self, id: &str) -> Result<Option<Delivery>>;
}

/// Webhooks out and their delivery log, written.
#[async_trait]
pub trait WebhookWrites: Send {
    /// Records an endpoint.
    async fn insert_webhook(&mut self, w: &Webhook) -> Result<()>;
    /// Stores an endpoint's progress and state (everything but its id,
    /// address, choice, secret and creation).
    async fn update_webhook(&mut self, w: &Webhook) -> Result<()>;
    /// Takes an active endpoint for this node until `until`, unless another
    /// node holds it past `now`; whether it was taken.
    async fn lease_webhook(&mut self, id: &str, now: Timestamp, until: Timestamp) -> Result<bool>;
    /// Logs an attempt.
    async fn insert_delivery(&mut self, d: &Delivery) -> Result<()>;
    /// Removes an endpoint and its delivery log.
    async fn delete_webhook(&mut self, id: &str) -> Result<()>;
}

impl<T> ReadTx for T where
    T: TicketReads
        + StaffReads
        + ConsoleReads
        + CredentialReads
        + AppReads
        + RequestReads
        + SessionReads
        + KeyReads
        + AuditReads
        + NoticeReads
        + WebhookReads
{
}

/// A write transaction: every port, read and written, inside the node's
/// writer (see [`Store::write`](crate::Store::write)).
pub trait WriteTx:
    ReadTx
    + TicketWrites
    + StaffWrites
    + ConsoleWrites
    + CredentialWrites
    + AppWrites
    + RequestWrites
    + SessionWrites
    + KeyWrites
    + AuditWrites
    + NoticeWrites
    + WebhookWrites
{
    /// A new id for something this transaction makes (`dec`, `ses`, ...),
    /// from the store's [`Ids`](actas_core::id::Ids).
    fn new_id(&self, prefix: &str) -> String;
}
