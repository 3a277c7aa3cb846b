//! The audit trail: append-only events in one hash chain.
//!
//! Every state change writes exactly one event in the same transaction.
//! Each event's `hash` is SHA-256 over the previous event's hash and the
//! event's canonical bytes ([`canonical_bytes`]), so editing, deleting or
//! reordering a row breaks the chain at that row; signed checkpoints of the
//! head (see [`checkpoint_message`]) make a cut tail visible too.

pub mod data;
pub mod segment;
mod stored;
mod text;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use strum::{Display, EnumString, IntoStaticStr, VariantArray};

pub use stored::{StoredEvent, StoredPage};
pub use text::*;

use crate::clock::format_ms;
use crate::Timestamp;

/// The `prev_hash` of the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Written in place of a value that must never be stored.
pub const NOT_STORED: &str = "(value not stored)";

macro_rules! events {
    ($($variant:ident($payload:ty) => $name:literal, $doc:literal;)*) => {
        /// The kinds of audit event. The names are part of the contract.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, IntoStaticStr, EnumString, Display, VariantArray)]
        pub enum EventType {
            $(#[doc = $doc] #[serde(rename = $name)] #[strum(serialize = $name)] $variant,)*
        }

        impl EventType {
            /// The dotted name, as stored and sent.
            pub fn as_str(self) -> &'static str {
                self.into()
            }
        }

        // The schema is written out: utoipa's derive does not read a
        // variant's name from inside this macro.
        #[cfg(feature = "schema")]
        impl utoipa::PartialSchema for EventType {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .description(Some("The kind of audit event."))
                    .enum_values(Some(EventType::VARIANTS.iter().map(|t| t.as_str())))
                    .into()
            }
        }

        #[cfg(feature = "schema")]
        impl utoipa::ToSchema for EventType {}

        /// An event's type with its typed `data`: the one way to say what
        /// happened.
        #[derive(Debug, Clone, PartialEq)]
        pub enum EventData {
            $(#[doc = $doc] $variant($payload),)*
        }

        impl EventData {
            /// The event type.
            pub fn kind(&self) -> EventType {
                match self { $(EventData::$variant(_) => EventType::$variant,)* }
            }

            /// The stored JSON.
            pub fn to_json(&self) -> Value {
                let v = match self { $(EventData::$variant(d) => serde_json::to_value(d),)* };
                // Plain structs of strings, numbers and lists always serialize.
                v.unwrap_or(Value::Null)
            }

            /// Reads stored JSON back as the payload of `kind`.
            pub fn from_json(kind: EventType, v: &Value) -> Result<EventData, serde_json::Error> {
                Ok(match kind { $(EventType::$variant => EventData::$variant(<$payload>::deserialize(v)?),)* })
            }
        }
    };
}

events! {
    TicketCreated(data::TicketCreated) => "ticket.created", "A ticket was recorded.";
    TicketUpdated(data::TicketUpdated) => "ticket.updated", "A ticket system sent a change to a ticket.";
    RequestCreated(data::RequestCreated) => "request.created", "An agent asked for access.";
    RequestRefused(data::RequestRefused) => "request.refused", "A request broke a rule and was refused.";
    RequestApproved(data::Approval) => "request.approved", "A request was approved, by policy or a person.";
    RequestDenied(data::Denial) => "request.denied", "A request was denied.";
    RequestWithdrawn(data::Nothing) => "request.withdrawn", "The requester withdrew a request.";
    RequestExpired(data::Nothing) => "request.expired", "An approved request was not started in time.";
    SessionStarted(data::SessionStarted) => "session.started", "A session started.";
    SessionEnded(data::SessionEnd) => "session.ended", "A session ended (by the agent, a disabled account or a new session).";
    SessionExpired(data::SessionEnd) => "session.expired", "A session reached its end.";
    SessionIdleTimeout(data::SessionEnd) => "session.idle_timeout", "A session idled out.";
    SessionRevoked(data::SessionEnd) => "session.revoked", "A lead revoked a session.";
    SessionTicketClosed(data::SessionEnd) => "session.ticket_closed", "A session ended because its ticket was solved or closed.";
    ScopeRequested(data::ScopeRequested) => "scope.requested", "An agent asked for more actions mid-session.";
    ScopeApproved(data::Approval) => "scope.approved", "A scope request was approved.";
    ScopeDenied(data::Denial) => "scope.denied", "A scope request was denied.";
    ScopeChanged(data::ScopeChanged) => "scope.changed", "A live session's scope changed.";
    StepupRequested(data::StepupRequested) => "stepup.requested", "An agent asked a lead for one change the session's scope lacks.";
    StepupApproved(data::StepupApproved) => "stepup.approved", "A step-up was approved: its one change may be made once, within 5 minutes.";
    StepupDenied(data::Denial) => "stepup.denied", "A step-up was denied.";
    StepupUsed(data::StepupUsed) => "stepup.used", "A step-up's one change was made; it cannot be used again.";
    ActionPerformed(data::ActionPerformed) => "action.performed", "The host app was told yes for a change.";
    ActionDenied(data::ActionDenied) => "action.denied", "The host app was told no.";
    RecordViewed(data::RecordViewed) => "record.viewed", "The host app was told yes for a view.";
    StaffCreated(data::StaffCreated) => "staff.created", "A staff member was added.";
    StaffDisabled(data::StaffDisabled) => "staff.disabled", "A staff member was disabled.";
    StaffUpdated(data::StaffUpdated) => "staff.updated", "A staff member's name, roles or console password changed.";
    StaffEnabled(data::StaffEnabled) => "staff.enabled", "A disabled staff member was enabled again.";
    AppCreated(data::AppCreated) => "app.created", "A host app was registered.";
    AppUpdated(data::AppUpdated) => "app.updated", "A host app's ticket-system connector was added, or its secret replaced.";
    PolicyLoaded(data::PolicyLoaded) => "policy.loaded", "A server loaded a policy.";
    KeyRotated(data::KeyRotated) => "key.rotated", "A new signing key was made, or the keys were sealed under a new key-encryption key.";
    CustomerNotified(data::CustomerNotified) => "customer.notified", "The host app delivered a customer note.";
    SessionEntered(data::SessionEntered) => "session.entered", "The host app exchanged a one-time entry code for the session's token.";
    GrantCreated(data::GrantCreated) => "grant.created", "A customer allowed support to access their account for some hours.";
    GrantRevoked(data::GrantRevoked) => "grant.revoked", "A customer withdrew their permission for support to access their account.";
    SessionCustomerRevoked(data::SessionEnd) => "session.customer_revoked", "A session ended because the customer withdrew their permission.";
    BreakglassStarted(data::BreakglassStarted) => "breakglass.started", "A session started without a lead's approval (break-glass); every lead is told.";
    SessionReviewed(data::SessionReviewed) => "session.reviewed", "A lead reviewed a break-glass session after it ended.";
    WebhookCreated(data::WebhookCreated) => "webhook.created", "An endpoint was added to receive audit events.";
    WebhookPaused(data::WebhookPaused) => "webhook.paused", "An endpoint kept failing and was paused; an admin is told.";
    WebhookResumed(data::WebhookResumed) => "webhook.resumed", "An admin resumed a paused endpoint.";
    WebhookRemoved(data::WebhookRemoved) => "webhook.removed", "An admin removed an endpoint; nothing more is sent to it.";
}

/// What kind of party did something.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, IntoStaticStr, EnumString, Display, VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum ActorKind {
    /// A person on the support team.
    Staff,
    /// A host app or ticket system.
    App,
    /// The policy (approval by policy).
    Policy,
    /// actas itself (expiry, idle timeout, start-up) or its command line.
    System,
}

impl ActorKind {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Who did it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// Staff, app, policy or system.
    pub kind: ActorKind,
    /// Login, app id, `policy` or `system`.
    pub id: String,
    /// Display name.
    pub name: String,
}

impl Actor {
    /// A staff member.
    pub fn staff(id: &str, name: &str) -> Actor {
        Actor { kind: ActorKind::Staff, id: id.into(), name: name.into() }
    }
    /// A host app.
    pub fn app(id: &str, name: &str) -> Actor {
        Actor { kind: ActorKind::App, id: id.into(), name: name.into() }
    }
    /// The policy.
    pub fn policy() -> Actor {
        Actor { kind: ActorKind::Policy, id: "policy".into(), name: "Policy".into() }
    }
    /// actas itself.
    pub fn system() -> Actor {
        Actor { kind: ActorKind::System, id: "system".into(), name: "actas".into() }
    }

    /// The actor as JSON, the form stored in the `actor` column.
    pub fn to_json(&self) -> Value {
        // Three strings always serialize.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Reads the stored JSON form back.
    pub fn from_json(v: &Value) -> Result<Actor, String> {
        Actor::deserialize(v).map_err(|e| format!("actor: {e}"))
    }
}

/// An event about to be appended: everything but its place in the chain.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// `evt_...`, given by the store when it appends the event.
    pub id: String,
    /// When it happened (milliseconds).
    pub at: Timestamp,
    /// What happened.
    pub kind: EventType,
    /// Who did it.
    pub actor: Actor,
    /// The customer account concerned.
    pub account_id: Option<String>,
    /// The ticket concerned.
    pub ticket: Option<String>,
    /// The request concerned.
    pub request_id: Option<String>,
    /// The session concerned.
    pub session_id: Option<String>,
    /// The staff member whose access the event is about (requester, agent).
    pub agent: Option<String>,
    /// Type-specific detail.
    pub data: Value,
    /// The plain line.
    pub text: String,
}

impl NewEvent {
    /// A new event with no subject fields; chain the `with_*` setters.
    pub fn new(at: Timestamp, actor: Actor, text: String, data: EventData) -> NewEvent {
        NewEvent {
            id: String::new(),
            at: crate::clock::millis(at),
            kind: data.kind(),
            actor,
            account_id: None,
            ticket: None,
            request_id: None,
            session_id: None,
            agent: None,
            data: data.to_json(),
            text,
        }
    }

    /// Sets the account.
    pub fn account(mut self, id: &str) -> Self {
        self.account_id = Some(id.to_string());
        self
    }
    /// Sets the ticket.
    pub fn ticket(mut self, reference: &str) -> Self {
        self.ticket = Some(reference.to_string());
        self
    }
    /// Sets the request.
    pub fn request(mut self, id: &str) -> Self {
        self.request_id = Some(id.to_string());
        self
    }
    /// Sets the session.
    pub fn session(mut self, id: &str) -> Self {
        self.session_id = Some(id.to_string());
        self
    }
    /// Sets the staff member whose access this is about.
    pub fn agent(mut self, login: &str) -> Self {
        self.agent = Some(login.to_string());
        self
    }

    /// Sets account, ticket, request and requester from a request.
    pub fn about_request(self, r: &crate::model::Request) -> Self {
        self.account(&r.account_id).ticket(&r.ticket).request(&r.id).agent(&r.requester)
    }

    /// Sets account, ticket, request, session and agent from a session.
    pub fn about_session(self, s: &crate::model::Session) -> Self {
        self.account(&s.account_id).ticket(&s.ticket).request(&s.request_id).session(&s.id).agent(&s.agent)
    }

    /// Places the event after `prev_hash` as number `seq`.
    pub fn seal(self, seq: i64, prev_hash: &str) -> Event {
        let mut e = Event { seq, body: self, prev_hash: prev_hash.to_string(), hash: String::new() };
        e.hash = e.compute_hash();
        e
    }
}

/// An event in the chain: a [`NewEvent`] with its place. Its fields read
/// through (`e.text`, `e.kind`).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Position in the chain, from 1, without gaps.
    pub seq: i64,
    /// What happened, who did it, to what.
    pub body: NewEvent,
    /// Hash of the previous event ([`GENESIS`] for the first).
    pub prev_hash: String,
    /// SHA-256(prev_hash ‖ canonical bytes), hex.
    pub hash: String,
}

impl std::ops::Deref for Event {
    type Target = NewEvent;
    fn deref(&self) -> &NewEvent {
        &self.body
    }
}

impl Event {
    /// The stored `data`, typed by the event's type. An error means the
    /// row holds data no version of actas wrote for its type.
    pub fn payload(&self) -> Result<EventData, serde_json::Error> {
        EventData::from_json(self.kind, &self.data)
    }

    /// The hash this event should have, from its fields and `prev_hash`.
    pub fn compute_hash(&self) -> String {
        hex::encode(EventHasher::default().hash(self))
    }
}

/// The canonical encoding of an event's fields (everything but the two
/// hashes): JSON with object keys sorted, no white space, `at` as
/// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
///
/// Written by hand on purpose. Every stored hash depends on these bytes, so
/// they must not move when a dependency does: `serde_json`'s own output
/// keeps keys in whatever order its map holds them, and any crate in the
/// build that turns on `serde_json/preserve_order` would switch that map
/// from sorted to insertion order and silently change every hash. Here the
/// keys are sorted explicitly at every level; only strings and numbers
/// are written by `serde_json` (escaping and number formatting, which that
/// feature does not touch). A test below builds the same object in two
/// insertion orders and requires the same bytes. RFC 8785 (JCS) would
/// differ in number formatting and key order (UTF-16 code units); our data
/// holds only integers and ASCII keys, where the two agree.
pub fn canonical_bytes(e: &Event) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    write_canonical_event(e, &mut out);
    out
}

/// Appends an event's canonical bytes ([`canonical_bytes`]) to `out`.
///
/// The event's own keys are few and fixed, so they are written in their
/// sorted order as they stand (`account_id`, `actor`, `agent`, `at`,
/// `data`, `id`, `request_id`, `seq`, `session_id`, `text`, `ticket`,
/// `type`; the actor's `id`, `kind`, `name`); only `data` has keys to sort.
pub fn write_canonical_event(e: &Event, out: &mut Vec<u8>) {
    write_canonical(
        &Fields {
            account_id: e.account_id.as_deref(),
            actor: Json::Actor(&e.actor),
            agent: e.agent.as_deref(),
            at: At::Time(e.at),
            data: Json::Tree(&e.data),
            id: &e.id,
            request_id: e.request_id.as_deref(),
            seq: e.seq,
            session_id: e.session_id.as_deref(),
            text: &e.text,
            ticket: e.ticket.as_deref(),
            kind: e.kind.as_str(),
        },
        out,
    );
}

/// An event's fields for its canonical bytes: from an [`Event`], or as
/// stored ([`StoredEvent`]).
struct Fields<'a> {
    account_id: Option<&'a str>,
    actor: Json<'a>,
    agent: Option<&'a str>,
    at: At<'a>,
    data: Json<'a>,
    id: &'a str,
    request_id: Option<&'a str>,
    seq: i64,
    session_id: Option<&'a str>,
    text: &'a str,
    ticket: Option<&'a str>,
    kind: &'a str,
}

/// A JSON member's value: the actor, any value (keys sorted on the way
/// out), or stored text taken as it stands.
enum Json<'a> {
    Actor(&'a Actor),
    Tree(&'a Value),
    Raw(&'a str),
}

/// A time, or stored text taken as it stands.
enum At<'a> {
    Time(Timestamp),
    Text(&'a str),
}

fn write_canonical(f: &Fields<'_>, out: &mut Vec<u8>) {
    let json = |v: &Json<'_>, out: &mut Vec<u8>| match v {
        Json::Actor(a) => {
            out.extend_from_slice(b"{\"id\":");
            write_str(&a.id, out);
            out.extend_from_slice(b",\"kind\":");
            write_str(a.kind.as_str(), out);
            out.extend_from_slice(b",\"name\":");
            write_str(&a.name, out);
            out.push(b'}');
        }
        Json::Tree(v) => write_value(v, out),
        Json::Raw(s) => out.extend_from_slice(s.as_bytes()),
    };
    out.extend_from_slice(b"{\"account_id\":");
    write_opt(f.account_id, out);
    out.extend_from_slice(b",\"actor\":");
    json(&f.actor, out);
    out.extend_from_slice(b",\"agent\":");
    write_opt(f.agent, out);
    out.extend_from_slice(b",\"at\":");
    match f.at {
        At::Time(t) => write_at(t, out),
        At::Text(s) => write_str(s, out),
    }
    out.extend_from_slice(b",\"data\":");
    json(&f.data, out);
    out.extend_from_slice(b",\"id\":");
    write_str(f.id, out);
    out.extend_from_slice(b",\"request_id\":");
    write_opt(f.request_id, out);
    out.extend_from_slice(b",\"seq\":");
    write_json(&f.seq, out);
    out.extend_from_slice(b",\"session_id\":");
    write_opt(f.session_id, out);
    out.extend_from_slice(b",\"text\":");
    write_str(f.text, out);
    out.extend_from_slice(b",\"ticket\":");
    write_opt(f.ticket, out);
    out.extend_from_slice(b",\"type\":");
    write_str(f.kind, out);
    out.push(b'}');
}

/// A scalar (string, number, boolean, null) as `serde_json` writes it.
fn write_json<T: Serialize + ?Sized>(v: &T, out: &mut Vec<u8>) {
    // Writing a scalar into a Vec cannot fail: no I/O, no map keys to refuse.
    let _ = serde_json::to_writer(out, v);
}

/// A string as `serde_json` writes it: quoted, with `"`, `\\` and control
/// characters escaped and nothing else. Most have none of those and are
/// copied as they stand.
fn write_str(s: &str, out: &mut Vec<u8>) {
    // Every byte is looked at, without stopping at the first that needs
    // escaping: a loop the compiler turns into vector instructions.
    if s.bytes().fold(true, |plain, b| plain & (b >= 0x20) & (b != b'"') & (b != b'\\')) {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        write_json(s, out);
    }
}

fn write_opt(s: Option<&str>, out: &mut Vec<u8>) {
    match s {
        Some(s) => write_str(s, out),
        None => out.extend_from_slice(b"null"),
    }
}

/// A time as [`format_ms`] writes it, quoted. Years 0 to 9999 outside a
/// leap second are written digit by digit; any other time by `format_ms`.
fn write_at(t: Timestamp, out: &mut Vec<u8>) {
    use chrono::{Datelike, Timelike};
    let (year, nanos) = (t.year(), t.nanosecond());
    let Ok(year @ 0..=9999) = u32::try_from(year) else {
        return write_str(&format_ms(t), out);
    };
    if nanos >= 1_000_000_000 {
        return write_str(&format_ms(t), out);
    }
    let mut b = *b"\"0000-00-00T00:00:00.000Z\"";
    let mut put = |at: usize, width: usize, mut v: u32| {
        for i in (at..at + width).rev() {
            // A digit: `v % 10` is below 10.
            b[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(1, 4, year);
    put(6, 2, t.month());
    put(9, 2, t.day());
    put(12, 2, t.hour());
    put(15, 2, t.minute());
    put(18, 2, t.second());
    put(21, 3, nanos / 1_000_000);
    out.extend_from_slice(&b);
}

/// Any JSON value, object keys sorted at every level.
fn write_value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(map) => {
            out.push(b'{');
            let mut first = true;
            let mut member = |k: &String, v: &Value, out: &mut Vec<u8>| {
                if !std::mem::take(&mut first) {
                    out.push(b',');
                }
                write_str(k, out);
                out.push(b':');
                write_value(v, out);
            };
            // The map iterates in key order unless serde_json was built to
            // keep insertion order; only then is a sorted list made.
            if map.keys().is_sorted() {
                for (k, v) in map {
                    member(k, v, out);
                }
            } else {
                let mut members: Vec<(&String, &Value)> = map.iter().collect();
                members.sort_by(|a, b| a.0.cmp(b.0));
                for (k, v) in members {
                    member(k, v, out);
                }
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out);
            }
            out.push(b']');
        }
        scalar => write_json(scalar, out),
    }
}

/// Hashes events, reusing one buffer for their canonical bytes.
#[derive(Debug, Clone, Default)]
pub struct EventHasher {
    buf: Vec<u8>,
}

impl EventHasher {
    /// SHA-256(prev_hash ‖ canonical bytes) of `e`.
    pub fn hash(&mut self, e: &Event) -> [u8; 32] {
        self.buf.clear();
        write_canonical_event(e, &mut self.buf);
        let mut h = Sha256::new();
        h.update(e.prev_hash.as_bytes());
        h.update(&self.buf);
        h.finalize().into()
    }

    /// Whether `e.hash` is the hash its fields and `prev_hash` give, as
    /// [`Event::compute_hash`] writes it (lowercase hex).
    pub fn matches(&mut self, e: &Event) -> bool {
        let hash = self.hash(e);
        same_hex(hash, &e.hash)
    }

    /// [`EventHasher::matches`] for a stored row: its text as it stands
    /// first, then, when that does not match, the event it holds; an error
    /// says what in the row cannot be read.
    pub fn matches_stored(&mut self, e: &StoredEvent<'_>) -> Result<bool, String> {
        self.buf.clear();
        if e.write_as_stored(&mut self.buf) {
            let mut h = Sha256::new();
            h.update(e.prev_hash.as_bytes());
            h.update(&self.buf);
            if same_hex(h.finalize().into(), e.hash) {
                return Ok(true);
            }
        }
        Ok(self.matches(&e.to_event()?))
    }
}

/// Whether `hash` written in lowercase hex is `hex`.
fn same_hex(hash: [u8; 32], hex: &str) -> bool {
    let mut out = [0u8; 64];
    hex::encode_to_slice(hash, &mut out).is_ok() && out.as_slice() == hex.as_bytes()
}

/// The bytes a checkpoint signs: `actas-audit-head\n{seq}\n{hash}`.
pub fn checkpoint_message(seq: i64, hash: &str) -> Vec<u8> {
    format!("actas-audit-head\n{seq}\n{hash}").into_bytes()
}

/// A signed statement of the chain's head at some moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The head's seq.
    pub seq: i64,
    /// The head's hash.
    pub hash: String,
    /// The signing key's id.
    pub kid: String,
    /// Ed25519 signature over [`checkpoint_message`], base64url.
    pub signature: String,
    /// When it was made.
    pub at: Timestamp,
}

/// Where a chain verification stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadEvent {
    /// The seq at which the chain breaks (the expected seq for a gap).
    pub seq: i64,
    /// The event's id, when a row exists there.
    pub id: Option<String>,
    /// What is wrong, in plain words.
    pub problem: String,
}

/// Re-computes a chain incrementally. Feed events in seq order.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    expected_seq: i64,
    prev_hash: String,
    count: u64,
    hasher: EventHasher,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier { expected_seq: 1, prev_hash: GENESIS.to_string(), count: 0, hasher: EventHasher::default() }
    }
}

impl ChainVerifier {
    /// A verifier whose next event is the one after seq `seq`, whose hash
    /// was `hash`: the live part of a trail whose older part is sealed in
    /// an archive.
    pub fn after(seq: i64, hash: &str) -> ChainVerifier {
        ChainVerifier { expected_seq: seq + 1, prev_hash: hash.to_string(), ..ChainVerifier::default() }
    }

    /// Goes on after seq `seq`, whose hash was `hash`, keeping the count of
    /// events checked up to there: past a part sealed away meanwhile, or
    /// back to where a sealed part begins, to check it from its files
    /// (the events counted after `seq` are then counted again as they are
    /// checked again).
    pub fn resume_after(&mut self, seq: i64, hash: &str) {
        let (head, _) = self.head();
        let again = u64::try_from(head - seq).unwrap_or(0);
        self.count = self.count.saturating_sub(again);
        self.expected_seq = seq + 1;
        self.prev_hash.clear();
        self.prev_hash.push_str(hash);
    }

    /// Checks the next event.
    pub fn push(&mut self, e: &Event) -> Result<(), BadEvent> {
        self.link(e.seq, &e.id, &e.prev_hash, &e.hash, |h| Ok(h.matches(e)))
    }

    /// [`ChainVerifier::push`] for a stored row ([`StoredEvent`]), which
    /// is read in full only when its text as it stands does not match.
    pub fn push_stored(&mut self, e: &StoredEvent<'_>) -> Result<(), BadEvent> {
        self.link(e.seq, e.id, e.prev_hash, e.hash, |h| h.matches_stored(e))
    }

    /// [`ChainVerifier::push_stored`] for a row whose own hash was checked
    /// already: `matched` is what [`EventHasher::matches_stored`] said of
    /// it (see [`StoredPage::first_unmatched`]).
    pub fn push_checked(&mut self, e: &StoredEvent<'_>, matched: Result<bool, String>) -> Result<(), BadEvent> {
        self.link(e.seq, e.id, e.prev_hash, e.hash, |_| matched)
    }

    /// Checks that an event is the next, follows the head and matches its
    /// hash (`matches`: whether it does, or what in it cannot be read).
    fn link(
        &mut self,
        seq: i64,
        id: &str,
        prev_hash: &str,
        hash: &str,
        matches: impl FnOnce(&mut EventHasher) -> Result<bool, String>,
    ) -> Result<(), BadEvent> {
        let bad = |problem: String| BadEvent { seq, id: Some(id.to_string()), problem };
        if seq != self.expected_seq {
            return Err(BadEvent {
                seq: self.expected_seq,
                id: Some(id.to_string()),
                problem: format!("event {} is missing (the next stored event is {seq})", self.expected_seq),
            });
        }
        if prev_hash != self.prev_hash {
            return Err(bad(format!("event {seq} does not follow event {}: its prev_hash does not match", seq - 1)));
        }
        match matches(&mut self.hasher) {
            Ok(true) => {}
            Ok(false) => return Err(bad(format!("event {seq} was altered: its content does not match its hash"))),
            Err(unreadable) => return Err(bad(format!("event {seq} was altered: it cannot be read ({unreadable})"))),
        }
        self.expected_seq += 1;
        self.prev_hash.clear();
        self.prev_hash.push_str(hash);
        self.count += 1;
        Ok(())
    }

    /// Events checked so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The head: last seq and hash checked.
    pub fn head(&self) -> (i64, &str) {
        (self.expected_seq - 1, &self.prev_hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone, Utc};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn ev(n: i64, prev: &str) -> Event {
        let mut e = NewEvent::new(
            Utc.with_ymd_and_hms(2026, 11, 25, 14, 3, 0).unwrap(),
            Actor::system(),
            format!("line {n}"),
            EventData::RequestWithdrawn(data::Nothing {}),
        );
        // Any JSON the column may hold: nested, unsorted, not ASCII.
        e.data = serde_json::json!({"b": 1, "a": [1, {"z": null, "y": "é"}]});
        e.seal(n, prev)
    }

    #[test]
    fn canonical_bytes_sort_keys_and_have_no_space() {
        let e = ev(1, GENESIS);
        let s = String::from_utf8(canonical_bytes(&e)).unwrap();
        assert!(s.starts_with("{\"account_id\":null,\"actor\":{\"id\":\"system\",\"kind\":\"system\",\"name\":\"actas\"},\"agent\":null,\"at\":\"2026-11-25T14:03:00.000Z\",\"data\":{\"a\":[1,{\"y\":\"é\",\"z\":null}],\"b\":1}"), "{s}");
    }

    #[test]
    fn canonical_bytes_do_not_depend_on_the_order_keys_were_inserted() {
        let mut a = ev(1, GENESIS);
        let mut b = a.clone();
        let mut forward = serde_json::Map::new();
        let mut backward = serde_json::Map::new();
        for k in ["zeta", "alpha", "mid"] {
            forward.insert(k.to_string(), Value::from(k.len()));
        }
        for k in ["mid", "alpha", "zeta"] {
            backward.insert(k.to_string(), Value::from(k.len()));
        }
        a.body.data = Value::Object(forward);
        b.body.data = Value::Object(backward);
        assert_eq!(canonical_bytes(&a), canonical_bytes(&b));
        let s = String::from_utf8(canonical_bytes(&a)).unwrap();
        assert!(s.contains(r#""data":{"alpha":5,"mid":3,"zeta":4}"#), "{s}");
    }

    #[test]
    fn a_chain_verifies_and_each_kind_of_tampering_is_named() {
        let a = ev(1, GENESIS);
        let b = ev(2, &a.hash);
        let c = ev(3, &b.hash);
        let mut v = ChainVerifier::default();
        for e in [&a, &b, &c] {
            v.push(e).unwrap();
        }
        assert_eq!(v.head(), (3, c.hash.as_str()));

        let mut edited = b.clone();
        edited.body.text = "nothing happened".into();
        let mut v = ChainVerifier::default();
        v.push(&a).unwrap();
        let bad = v.push(&edited).unwrap_err();
        assert_eq!(bad.seq, 2);
        assert!(bad.problem.contains("altered"));

        let mut v = ChainVerifier::default();
        v.push(&a).unwrap();
        let bad = v.push(&c).unwrap_err();
        assert_eq!(bad.seq, 2);
        assert!(bad.problem.contains("missing"));
    }

    #[test]
    fn a_verifier_resumes_past_a_sealed_part_or_back_at_its_start_counting_each_event_once() {
        let mut chain = vec![ev(1, GENESIS)];
        for n in 2..=6 {
            let prev = chain[chain.len() - 1].hash.clone();
            chain.push(ev(n, &prev));
        }
        let mut v = ChainVerifier::default();
        for e in &chain[..3] {
            v.push(e).unwrap();
        }
        // Events 4 and 5 were sealed away: on from 5's head.
        v.resume_after(5, &chain[4].hash);
        assert_eq!((v.head(), v.count()), ((5, chain[4].hash.as_str()), 3));
        v.push(&chain[5]).unwrap();
        assert_eq!(v.count(), 4);
        // Back to event 1's head to check 2 to 6 again: counted once.
        let mut v = ChainVerifier::default();
        for e in &chain[..4] {
            v.push(e).unwrap();
        }
        v.resume_after(1, &chain[0].hash);
        assert_eq!(v.count(), 1);
        for e in &chain[1..] {
            v.push(e).unwrap();
        }
        assert_eq!((v.head(), v.count()), ((6, chain[5].hash.as_str()), 6));
        // A head that is not the one before the next event still breaks.
        v.resume_after(6, &chain[3].hash);
        let next = ev(7, &chain[5].hash);
        assert!(v.push(&next).unwrap_err().problem.contains("does not follow"));
    }

    #[test]
    fn every_event_type_round_trips() {
        assert_eq!(EventType::VARIANTS.len(), 44);
        for t in EventType::VARIANTS {
            assert_eq!(t.as_str().parse::<EventType>().unwrap(), *t);
        }
    }

    /// The encoding as it was first written: a `serde_json` tree of the
    /// event, walked with its keys sorted. Kept as the reference that
    /// [`canonical_bytes`] must match byte for byte.
    fn canonical_bytes_by_tree(e: &Event) -> Vec<u8> {
        let opt = |o: &Option<String>| o.clone().map(Value::String).unwrap_or(Value::Null);
        let v = serde_json::json!({
            "seq": e.seq,
            "id": e.id,
            "at": format_ms(e.at),
            "type": e.kind.as_str(),
            "actor": e.actor.to_json(),
            "account_id": opt(&e.account_id),
            "ticket": opt(&e.ticket),
            "request_id": opt(&e.request_id),
            "session_id": opt(&e.session_id),
            "agent": opt(&e.agent),
            "data": e.data,
            "text": e.text,
        });
        let mut out = String::with_capacity(512);
        write_canonical_tree(&v, &mut out);
        out.into_bytes()
    }

    fn write_canonical_tree(v: &Value, out: &mut String) {
        match v {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String((*k).clone()).to_string());
                    out.push(':');
                    write_canonical_tree(&map[*k], out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_canonical_tree(item, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }

    /// A string of up to `max` characters: plain text, JSON's special
    /// characters, every control character, line and paragraph separators,
    /// bidi controls, accents, other scripts and characters outside the BMP.
    fn text(rng: &mut StdRng, max: usize) -> String {
        const ODD: &str = "\"\\/\u{7f}\u{80}\u{a0}éßø中文😀\u{1F3F3}\u{200B}\u{200E}\u{2028}\u{2029}\u{202A}\u{202E}\u{2066}\u{2069}\u{FEFF}\u{FFFD}\u{FFFF}\u{10FFFF}";
        let odd: Vec<char> = ODD.chars().collect();
        let len = rng.gen_range(0..=max);
        (0..len)
            .map(|_| match rng.gen_range(0..10) {
                0 => char::from(rng.gen_range(0u8..0x20)),
                1 | 2 => odd[rng.gen_range(0..odd.len())],
                _ => char::from(rng.gen_range(0x20u8..0x7f)),
            })
            .collect()
    }

    fn maybe(rng: &mut StdRng, max: usize) -> Option<String> {
        rng.gen_bool(0.5).then(|| text(rng, max))
    }

    fn texts(rng: &mut StdRng) -> Vec<String> {
        let n = rng.gen_range(0..4);
        (0..n).map(|_| text(rng, 12)).collect()
    }

    /// Any time from about year -3000 to 12000, to the nanosecond, or one
    /// of the edges: the first and last instants of four-digit years, and
    /// leap seconds (nanoseconds past one billion).
    fn time(rng: &mut StdRng) -> Timestamp {
        let edge = |y: i32, m: u32, d: u32, h: u32, mi: u32, s: u32, nano: u32| {
            NaiveDate::from_ymd_opt(y, m, d).and_then(|d| d.and_hms_nano_opt(h, mi, s, nano)).unwrap().and_utc()
        };
        match rng.gen_range(0..12) {
            0 => edge(0, 1, 1, 0, 0, 0, 0),
            1 => edge(-1, 12, 31, 23, 59, 59, 999_999_999),
            2 => edge(9999, 12, 31, 23, 59, 59, 999_999_999),
            3 => edge(10000, 1, 1, 0, 0, 0, 0),
            4 => edge(2016, 12, 31, 23, 59, 59, rng.gen_range(1_000_000_000..2_000_000_000)),
            5 => edge(rng.gen_range(0..10000), 6, 30, 23, 59, 59, 1_000_000_000),
            _ => {
                let (from, to) = (-156_000_000_000_000i64, 316_000_000_000_000i64);
                let ms = rng.gen_range(from..to);
                let t = chrono::DateTime::from_timestamp_millis(ms).unwrap();
                if rng.gen_bool(0.5) {
                    crate::clock::millis(t)
                } else {
                    t + chrono::Duration::nanoseconds(rng.gen_range(0..1_000_000))
                }
            }
        }
    }

    /// A typed payload of `kind` with random words in every field.
    fn payload(kind: EventType, rng: &mut StdRng) -> EventData {
        use data::*;
        let grant = |rng: &mut StdRng| Grant { actions: texts(rng), minutes: rng.gen() };
        let approval = |rng: &mut StdRng| Approval {
            asked: grant(rng),
            granted: grant(rng),
            removed: texts(rng),
            added: texts(rng),
            note: maybe(rng, 30),
            by_policy: rng.gen(),
        };
        let end =
            |rng: &mut StdRng| SessionEnd { end_reason: text(rng, 10), note: maybe(rng, 30), started_at: time(rng) };
        let target = |rng: &mut StdRng| {
            rng.gen_bool(0.7).then(|| Target { account_id: maybe(rng, 10), kind: maybe(rng, 10), id: maybe(rng, 10) })
        };
        match kind {
            EventType::TicketCreated => EventData::TicketCreated(TicketCreated {
                subject: text(rng, 40),
                account_name: maybe(rng, 20),
                url: maybe(rng, 40),
                source: maybe(rng, 8),
                status: maybe(rng, 8),
                assignee: maybe(rng, 10),
                tags: texts(rng),
            }),
            EventType::TicketUpdated => EventData::TicketUpdated(TicketUpdated {
                source: text(rng, 8),
                changed: texts(rng),
                old_status: text(rng, 8),
                status: text(rng, 8),
                subject: text(rng, 40),
                assignee: maybe(rng, 10),
                old_assignee: None,
                tags: texts(rng),
                sessions_ended: texts(rng),
            }),
            EventType::RequestCreated => EventData::RequestCreated(RequestCreated {
                reason: text(rng, 60),
                actions: texts(rng),
                minutes: rng.gen(),
                needs_approval: rng.gen(),
                playbook: maybe(rng, 12),
                beyond_playbook: texts(rng),
                breakglass: rng.gen(),
            }),
            EventType::RequestRefused => EventData::RequestRefused(RequestRefused {
                code: text(rng, 10),
                detail: text(rng, 40),
                asked: if rng.gen() {
                    Asked::Access {
                        ticket: text(rng, 10),
                        account_id: maybe(rng, 10),
                        actions: texts(rng),
                        minutes: rng.gen_bool(0.5).then(|| rng.gen()),
                        reason: text(rng, 40),
                    }
                } else if rng.gen() {
                    Asked::Scope { session_id: text(rng, 10), actions: texts(rng), reason: text(rng, 40) }
                } else {
                    Asked::Stepup { session_id: text(rng, 10), action: text(rng, 12), reason: text(rng, 40) }
                },
            }),
            EventType::RequestApproved => EventData::RequestApproved(approval(rng)),
            EventType::RequestDenied => EventData::RequestDenied(Denial { note: text(rng, 30) }),
            EventType::RequestWithdrawn => EventData::RequestWithdrawn(Nothing {}),
            EventType::RequestExpired => EventData::RequestExpired(Nothing {}),
            EventType::SessionStarted => EventData::SessionStarted(SessionStarted {
                scope: texts(rng),
                ends_at: time(rng),
                approver: text(rng, 10),
                audience: text(rng, 10),
            }),
            EventType::SessionEnded => EventData::SessionEnded(end(rng)),
            EventType::SessionExpired => EventData::SessionExpired(end(rng)),
            EventType::SessionIdleTimeout => EventData::SessionIdleTimeout(end(rng)),
            EventType::SessionRevoked => EventData::SessionRevoked(end(rng)),
            EventType::SessionTicketClosed => EventData::SessionTicketClosed(end(rng)),
            EventType::ScopeRequested => EventData::ScopeRequested(ScopeRequested {
                reason: text(rng, 40),
                actions: texts(rng),
                current: texts(rng),
                needs_approval: rng.gen(),
            }),
            EventType::ScopeApproved => EventData::ScopeApproved(approval(rng)),
            EventType::ScopeDenied => EventData::ScopeDenied(Denial { note: text(rng, 30) }),
            EventType::GrantCreated => EventData::GrantCreated(GrantCreated {
                grant: text(rng, 10),
                granted_by: text(rng, 20),
                hours: rng.gen(),
                expires_at: time(rng),
                app: text(rng, 10),
            }),
            EventType::GrantRevoked => EventData::GrantRevoked(GrantRevoked {
                grants: texts(rng),
                revoked_by: text(rng, 20),
                app: text(rng, 10),
                sessions_ended: texts(rng),
            }),
            EventType::SessionCustomerRevoked => EventData::SessionCustomerRevoked(end(rng)),
            EventType::BreakglassStarted => EventData::BreakglassStarted(BreakglassStarted {
                request: text(rng, 10),
                scope: texts(rng),
                ends_at: time(rng),
                reason: text(rng, 40),
            }),
            EventType::SessionReviewed => {
                EventData::SessionReviewed(SessionReviewed { note: text(rng, 40), agent: text(rng, 10) })
            }
            EventType::WebhookCreated => EventData::WebhookCreated(WebhookCreated {
                webhook: text(rng, 10),
                url: text(rng, 30),
                events: texts(rng),
            }),
            EventType::WebhookPaused => EventData::WebhookPaused(WebhookPaused {
                webhook: text(rng, 10),
                url: text(rng, 30),
                failures: rng.gen(),
                seq: rng.gen(),
                last_error: text(rng, 20),
            }),
            EventType::WebhookResumed => EventData::WebhookResumed(WebhookResumed {
                webhook: text(rng, 10),
                url: text(rng, 30),
                from_seq: rng.gen(),
            }),
            EventType::WebhookRemoved => EventData::WebhookRemoved(WebhookRemoved {
                webhook: text(rng, 10),
                url: text(rng, 30),
                after_seq: rng.gen(),
            }),
            EventType::StepupRequested => EventData::StepupRequested(StepupRequested {
                reason: text(rng, 40),
                action: text(rng, 12),
                label: text(rng, 20),
                target: target(rng),
                changes: Vec::new(),
                needs_approval: rng.gen(),
            }),
            EventType::StepupApproved => EventData::StepupApproved(StepupApproved {
                note: maybe(rng, 30),
                by_policy: rng.gen(),
                use_by: time(rng),
            }),
            EventType::StepupDenied => EventData::StepupDenied(Denial { note: text(rng, 30) }),
            EventType::StepupUsed => {
                EventData::StepupUsed(StepupUsed { action: text(rng, 12), performed: text(rng, 10) })
            }
            EventType::ScopeChanged => EventData::ScopeChanged(ScopeChanged {
                old: texts(rng),
                new: texts(rng),
                added: texts(rng),
                scope_request: text(rng, 10),
            }),
            EventType::ActionPerformed => EventData::ActionPerformed(ActionPerformed {
                action: text(rng, 20),
                label: text(rng, 20),
                allowed: rng.gen(),
                reason: text(rng, 5),
                target: target(rng),
                changes: (0..rng.gen_range(0..3))
                    .map(|_| StoredChange { field: text(rng, 10), old: maybe(rng, 20), new: maybe(rng, 20) })
                    .collect(),
                summary: text(rng, 60),
                app: text(rng, 10),
            }),
            EventType::ActionDenied => EventData::ActionDenied(ActionDenied {
                action: text(rng, 20),
                label: maybe(rng, 20),
                allowed: rng.gen(),
                reason: text(rng, 10),
                target: target(rng),
                app: maybe(rng, 10),
            }),
            EventType::RecordViewed => EventData::RecordViewed(RecordViewed {
                action: text(rng, 20),
                label: text(rng, 20),
                allowed: rng.gen(),
                reason: text(rng, 5),
                target: target(rng),
                sensitive: rng.gen(),
                app: text(rng, 10),
            }),
            EventType::StaffCreated => {
                EventData::StaffCreated(StaffCreated { login: text(rng, 10), name: text(rng, 20), roles: texts(rng) })
            }
            EventType::StaffDisabled => {
                EventData::StaffDisabled(StaffDisabled { login: text(rng, 10), sessions_ended: texts(rng) })
            }
            EventType::StaffUpdated => EventData::StaffUpdated(StaffUpdated {
                login: text(rng, 10),
                name: text(rng, 20),
                roles: texts(rng),
                changed: texts(rng),
                username: rng.gen_bool(0.5).then(|| text(rng, 12)),
            }),
            EventType::StaffEnabled => EventData::StaffEnabled(StaffEnabled { login: text(rng, 10) }),
            EventType::AppCreated => EventData::AppCreated(AppCreated {
                scim: rng.gen(),
                consent: rng.gen(),
                connector: maybe(rng, 8),
                app: text(rng, 10),
                name: text(rng, 20),
                tickets: rng.gen(),
                origins: texts(rng),
            }),
            EventType::AppUpdated => EventData::AppUpdated(AppUpdated {
                app: text(rng, 10),
                name: text(rng, 20),
                changed: texts(rng),
                connector: text(rng, 8),
            }),
            EventType::PolicyLoaded => EventData::PolicyLoaded(PolicyLoaded {
                sha256: text(rng, 64),
                actions: rng.gen(),
                scope_change: text(rng, 10),
            }),
            EventType::KeyRotated => EventData::KeyRotated(if rng.gen() {
                KeyRotated::SigningKey { kid: text(rng, 10), role: text(rng, 10), retired: texts(rng) }
            } else {
                KeyRotated::KeyEncryptionKey {
                    key_encryption_key: text(rng, 10),
                    retired: text(rng, 10),
                    kids: texts(rng),
                }
            }),
            EventType::CustomerNotified => {
                EventData::CustomerNotified(CustomerNotified { notice: text(rng, 10), text: text(rng, 80) })
            }
            EventType::SessionEntered => EventData::SessionEntered(SessionEntered { app: text(rng, 10) }),
        }
    }

    /// Any JSON at all, as a tampered or future row may hold: nested
    /// objects and lists, keys that need escaping, every kind of number.
    fn any_json(rng: &mut StdRng, depth: u32) -> Value {
        match rng.gen_range(0..if depth == 0 { 6 } else { 8 }) {
            0 => Value::Null,
            1 => Value::Bool(rng.gen()),
            2 => Value::from(rng.gen::<i64>()),
            3 => Value::from(rng.gen::<u64>()),
            4 => {
                const FLOATS: &[f64] = &[0.0, -0.0, 1.5, -2.25, 1e21, 1e-7, 5e-324, f64::MAX, f64::MIN_POSITIVE];
                let f = if rng.gen() { FLOATS[rng.gen_range(0..FLOATS.len())] } else { rng.gen::<f64>() * 1e6 };
                serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
            }
            5 => Value::String(text(rng, 20)),
            6 => Value::Array((0..rng.gen_range(0..4)).map(|_| any_json(rng, depth - 1)).collect()),
            _ => Value::Object((0..rng.gen_range(0..5)).map(|_| (text(rng, 8), any_json(rng, depth - 1))).collect()),
        }
    }

    fn random_event(rng: &mut StdRng) -> Event {
        let kind = EventType::VARIANTS[rng.gen_range(0..EventType::VARIANTS.len())];
        let actor = Actor {
            kind: ActorKind::VARIANTS[rng.gen_range(0..ActorKind::VARIANTS.len())],
            id: text(rng, 12),
            name: text(rng, 24),
        };
        let mut e = NewEvent::new(time(rng), actor, text(rng, 120), payload(kind, rng));
        e.id = text(rng, 16);
        e.account_id = maybe(rng, 12);
        e.ticket = maybe(rng, 12);
        e.request_id = maybe(rng, 12);
        e.session_id = maybe(rng, 12);
        e.agent = maybe(rng, 12);
        // A row's time is what its text says, which need not be whole
        // milliseconds; its data any JSON the column may hold.
        e.at = time(rng);
        if rng.gen_bool(0.2) {
            e.data = any_json(rng, 3);
        }
        let seq = match rng.gen_range(0..10) {
            0 => rng.gen(),
            1 => -rng.gen_range(0..1000),
            _ => rng.gen_range(1..10_000_000),
        };
        e.seal(seq, &hex::encode(rng.gen::<[u8; 32]>()))
    }

    #[test]
    fn canonical_bytes_are_those_of_the_tree_they_replaced() {
        let mut rng = StdRng::seed_from_u64(20261125);
        let mut kinds = std::collections::HashSet::new();
        let mut hasher = EventHasher::default();
        for _ in 0..20_000 {
            let e = random_event(&mut rng);
            kinds.insert(e.kind);
            let old = canonical_bytes_by_tree(&e);
            assert_eq!(
                canonical_bytes(&e),
                old,
                "{}\n{}",
                String::from_utf8_lossy(&canonical_bytes(&e)),
                String::from_utf8_lossy(&old)
            );
            let mut h = Sha256::new();
            h.update(e.prev_hash.as_bytes());
            h.update(&old);
            assert_eq!(e.hash, hex::encode(h.finalize()));
            assert!(hasher.matches(&e));
        }
        assert_eq!(kinds.len(), EventType::VARIANTS.len());
        // The golden sample of each type, as in `data.rs`, with and without subjects.
        for kind in EventType::VARIANTS {
            let e = NewEvent::new(
                Utc.with_ymd_and_hms(2026, 11, 25, 14, 3, 0).unwrap(),
                Actor::staff("maria", "Maria López"),
                "Maria \"López\" did\u{2028}it".into(),
                payload(*kind, &mut StdRng::seed_from_u64(7)),
            );
            let bare = e.clone().seal(1, GENESIS);
            assert_eq!(canonical_bytes(&bare), canonical_bytes_by_tree(&bare), "{kind}");
            let full =
                e.account("acct_42").ticket("48192").request("req_1").session("ses_1").agent("maria").seal(2, GENESIS);
            assert_eq!(canonical_bytes(&full), canonical_bytes_by_tree(&full), "{kind}");
        }
    }

    #[test]
    fn times_are_written_as_format_ms_writes_them() {
        let mut rng = StdRng::seed_from_u64(42);
        for _ in 0..100_000 {
            let t = time(&mut rng);
            let mut out = Vec::new();
            write_at(t, &mut out);
            assert_eq!(String::from_utf8(out).unwrap(), format!("\"{}\"", format_ms(t)), "{t:?}");
        }
    }

    #[test]
    fn a_full_event_has_the_bytes_and_hash_it_always_had() {
        let mut e = NewEvent::new(
            Utc.with_ymd_and_hms(2026, 11, 25, 14, 3, 0).unwrap() + chrono::Duration::milliseconds(42),
            Actor::staff("maria", "Maria López"),
            "Maria López viewed \"invoice\" inv_7\u{2028}(line two)\u{1}.".into(),
            EventData::RecordViewed(data::RecordViewed {
                action: "settings.view".into(),
                label: "View account settings".into(),
                allowed: true,
                reason: "ok".into(),
                target: Some(data::Target {
                    account_id: Some("acct_42".into()),
                    kind: Some("invoice".into()),
                    id: None,
                }),
                sensitive: false,
                app: "app_1".into(),
            }),
        )
        .account("acct_42")
        .ticket("48192")
        .request("req_1")
        .session("ses_1")
        .agent("maria");
        e.id = "evt_1".into();
        let e = e.seal(7, GENESIS);
        // Checked outside Rust too: Python's json.dumps(sort_keys=True,
        // separators=(",", ":"), ensure_ascii=False) gives the same bytes.
        assert_eq!(
            String::from_utf8(canonical_bytes(&e)).unwrap(),
            "{\"account_id\":\"acct_42\",\"actor\":{\"id\":\"maria\",\"kind\":\"staff\",\"name\":\"Maria López\"},\
             \"agent\":\"maria\",\"at\":\"2026-11-25T14:03:00.042Z\",\"data\":{\"action\":\"settings.view\",\
             \"allowed\":true,\"app\":\"app_1\",\"label\":\"View account settings\",\"reason\":\"ok\",\
             \"sensitive\":false,\"target\":{\"account_id\":\"acct_42\",\"id\":null,\"type\":\"invoice\"}},\
             \"id\":\"evt_1\",\"request_id\":\"req_1\",\"seq\":7,\"session_id\":\"ses_1\",\
             \"text\":\"Maria López viewed \\\"invoice\\\" inv_7\u{2028}(line two)\\u0001.\",\
             \"ticket\":\"48192\",\"type\":\"record.viewed\"}"
        );
        assert_eq!(e.hash, "1902e1eaa80811af48eeccdadd5403a0913c82e8e602dbae822c6942e150ff8b");
    }
}
