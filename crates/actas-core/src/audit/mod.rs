//! The audit trail: append-only events in one hash chain.
//!
//! Every state change writes exactly one event in the same transaction.
//! Each event's `hash` is SHA-256 over the previous event's hash and the
//! event's canonical bytes ([`canonical_bytes`]), so editing, deleting or
//! reordering a row breaks the chain at that row; signed checkpoints of the
//! head (see [`checkpoint_message`]) make a cut tail visible too.

pub mod data;
mod text;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use strum::{Display, EnumString, IntoStaticStr, VariantArray};

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
    ScopeRequested(data::ScopeRequested) => "scope.requested", "An agent asked for more actions mid-session.";
    ScopeApproved(data::Approval) => "scope.approved", "A scope request was approved.";
    ScopeDenied(data::Denial) => "scope.denied", "A scope request was denied.";
    ScopeChanged(data::ScopeChanged) => "scope.changed", "A live session's scope changed.";
    ActionPerformed(data::ActionPerformed) => "action.performed", "The host app was told yes for a change.";
    ActionDenied(data::ActionDenied) => "action.denied", "The host app was told no.";
    RecordViewed(data::RecordViewed) => "record.viewed", "The host app was told yes for a view.";
    StaffCreated(data::StaffCreated) => "staff.created", "A staff member was added.";
    StaffDisabled(data::StaffDisabled) => "staff.disabled", "A staff member was disabled.";
    AppCreated(data::AppCreated) => "app.created", "A host app was registered.";
    PolicyLoaded(data::PolicyLoaded) => "policy.loaded", "A server loaded a policy.";
    KeyRotated(data::KeyRotated) => "key.rotated", "A new signing key was made, or the keys were sealed under a new key-encryption key.";
    CustomerNotified(data::CustomerNotified) => "customer.notified", "The host app delivered a customer note.";
    SessionEntered(data::SessionEntered) => "session.entered", "The host app exchanged a one-time entry code for the session's token.";
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
        let mut h = Sha256::new();
        h.update(self.prev_hash.as_bytes());
        h.update(canonical_bytes(self));
        hex::encode(h.finalize())
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
    write_canonical(&v, &mut out);
    out.into_bytes()
}

fn write_canonical(v: &Value, out: &mut String) {
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
                write_canonical(&map[*k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
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
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier { expected_seq: 1, prev_hash: GENESIS.to_string(), count: 0 }
    }
}

impl ChainVerifier {
    /// Checks the next event.
    pub fn push(&mut self, e: &Event) -> Result<(), BadEvent> {
        let bad = |problem: String| BadEvent { seq: e.seq, id: Some(e.id.clone()), problem };
        if e.seq != self.expected_seq {
            return Err(BadEvent {
                seq: self.expected_seq,
                id: Some(e.id.clone()),
                problem: format!("event {} is missing (the next stored event is {})", self.expected_seq, e.seq),
            });
        }
        if e.prev_hash != self.prev_hash {
            return Err(bad(format!(
                "event {} does not follow event {}: its prev_hash does not match",
                e.seq,
                e.seq - 1
            )));
        }
        if e.compute_hash() != e.hash {
            return Err(bad(format!("event {} was altered: its content does not match its hash", e.seq)));
        }
        self.expected_seq += 1;
        self.prev_hash = e.hash.clone();
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
    use chrono::{TimeZone, Utc};

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
    fn every_event_type_round_trips() {
        assert_eq!(EventType::VARIANTS.len(), 26);
        for t in EventType::VARIANTS {
            assert_eq!(t.as_str().parse::<EventType>().unwrap(), *t);
        }
    }
}
