//! Webhooks out (SPEC §10): what an endpoint chose, how a delivery is
//! signed the Standard Webhooks way, and when a failed one is tried again.
//!
//! A delivery carries one audit event. Its `webhook-id` is the event's id
//! (the same on every retry and replay, so a receiver drops repeats), its
//! `webhook-timestamp` the attempt's time in Unix seconds, and its
//! `webhook-signature` is `v1,` and the base64 HMAC-SHA256, keyed with the
//! secret's bytes, of `id.timestamp.body`. The secret is `whsec_` and 32
//! random bytes in standard base64, as the reference libraries read it.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use strum::VariantArray;

use crate::audit::EventType;
use crate::id::Secret;
use crate::Timestamp;

/// The prefix of a signing secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// Failed attempts in a row after which an endpoint is paused (nearly
/// eight hours of retries with [`backoff`]); an admin resumes it.
pub const PAUSE_AFTER: u32 = 10;

/// How long one attempt may take, connection to last byte.
pub const ATTEMPT_TIMEOUT_SECS: u64 = 10;

/// A new signing secret.
pub fn new_secret() -> Secret {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    Secret::from(format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes)))
}

/// The key bytes of a `whsec_...` secret; `None` when it is not one.
pub fn key_of(secret: &str) -> Option<Vec<u8>> {
    STANDARD.decode(secret.strip_prefix(SECRET_PREFIX)?).ok().filter(|k| k.len() >= 24)
}

/// The `webhook-signature` header of one attempt: `v1,<base64>`.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length.
    #[allow(clippy::expect_used)]
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// How long to wait before the next attempt, after `failures` failed ones
/// in a row: 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, then every 2 h.
pub fn backoff(failures: u32) -> chrono::Duration {
    let secs = match failures {
        0 => 0,
        1 => 5,
        2 => 30,
        3 => 120,
        4 => 600,
        5 => 1800,
        6 => 3600,
        _ => 7200,
    };
    chrono::Duration::seconds(secs)
}

/// The event types an endpoint chose: every one, or a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// `*`: every event.
    All,
    /// These types, in the order of [`EventType`].
    Only(Vec<EventType>),
}

impl Selection {
    /// Reads `*` or type names; a mistake names the types there are.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Selection, String> {
        let names: Vec<&str> = names.iter().map(|n| n.as_ref().trim()).filter(|n| !n.is_empty()).collect();
        if names.is_empty() {
            return Err("name the event types to send, or * for every one".into());
        }
        if names.contains(&"*") {
            return if names.len() == 1 {
                Ok(Selection::All)
            } else {
                Err("* already means every event type; name nothing beside it".into())
            };
        }
        let mut types = Vec::with_capacity(names.len());
        for n in names {
            let t = EventType::from_str(n).map_err(|_| {
                format!("unknown event type \"{n}\" (for example session.started, breakglass.started, or *)")
            })?;
            if !types.contains(&t) {
                types.push(t);
            }
        }
        types.sort_by_key(|t| EventType::VARIANTS.iter().position(|v| v == t));
        Ok(Selection::Only(types))
    }

    /// Whether an event of type `t` is sent.
    pub fn wants(&self, t: EventType) -> bool {
        match self {
            Selection::All => true,
            Selection::Only(types) => types.contains(&t),
        }
    }

    /// The names, as stored and shown: `["*"]` or the types.
    pub fn names(&self) -> Vec<String> {
        match self {
            Selection::All => vec!["*".to_string()],
            Selection::Only(types) => types.iter().map(|t| t.as_str().to_string()).collect(),
        }
    }
}

impl fmt::Display for Selection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selection::All => f.write_str("every event type"),
            Selection::Only(types) => {
                let names: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
                f.write_str(&names.join(", "))
            }
        }
    }
}

/// Whether an endpoint is sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookState {
    /// Deliveries go out.
    Active,
    /// It kept failing; nothing goes out until an admin resumes it.
    Paused,
}

impl WebhookState {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookState::Active => "active",
            WebhookState::Paused => "paused",
        }
    }
}

/// An endpoint that receives audit events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// `whk_...`
    pub id: String,
    /// Where deliveries are POSTed.
    pub url: String,
    /// The event types it receives.
    pub events: Selection,
    /// The signing secret, sealed under the key-encryption key.
    pub secret: String,
    /// When it was added.
    pub created_at: Timestamp,
    /// Who added it.
    pub created_by: String,
    /// Every event up to this seq was delivered (or was not chosen).
    pub after_seq: i64,
    /// Active or paused.
    pub state: WebhookState,
    /// Failed attempts in a row at the event after `after_seq`.
    pub failures: u32,
    /// When that event may be tried again.
    pub next_attempt_at: Option<Timestamp>,
    /// What the last failed attempt met.
    pub last_error: Option<String>,
    /// A node sending to it holds it until then.
    pub lease_until: Option<Timestamp>,
}

/// One attempt to deliver one event to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// `whd_...`
    pub id: String,
    /// The endpoint.
    pub webhook_id: String,
    /// The event's seq.
    pub seq: i64,
    /// The event's id (the `webhook-id` header).
    pub event_id: String,
    /// The event's type.
    pub event_type: EventType,
    /// 1 for the first attempt at this event, then 2, ...
    pub attempt: u32,
    /// When it was sent.
    pub at: Timestamp,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    /// Whether the receiver took it (2xx).
    pub ok: bool,
    /// Why it failed, in a few words.
    pub error: Option<String>,
    /// Sent again by hand from the delivery log.
    pub replay: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_is_signed_over_id_timestamp_and_body() {
        let key = key_of("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let a = sign(&key, "evt_1", 1614265330, b"{}");
        assert!(a.starts_with("v1,"));
        assert_ne!(a, sign(&key, "evt_2", 1614265330, b"{}"));
        assert_ne!(a, sign(&key, "evt_1", 1614265331, b"{}"));
        assert_ne!(a, sign(&key, "evt_1", 1614265330, b"{ }"));
    }

    #[test]
    fn the_signature_is_the_one_the_reference_library_makes() {
        // Made by the `standardwebhooks` npm package's `Webhook.sign`.
        let key = key_of("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"type":"session.started","timestamp":"2021-02-25T15:02:10Z","data":{"id":"evt_test_1"}}"#;
        assert_eq!(sign(&key, "evt_test_1", 1614265330, body), "v1,tbY0+E3Gp9tfcEaLG+KfNFYa8fxEAtfEYT0E9zPbyVo=");
    }

    #[test]
    fn a_secret_is_whsec_and_32_bytes() {
        let s = new_secret();
        assert_eq!(key_of(s.expose()).map(|k| k.len()), Some(32));
        assert_eq!(key_of("whsec_short"), None);
        assert_eq!(key_of("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), None);
    }

    #[test]
    fn the_selection_is_every_type_or_known_ones() {
        assert_eq!(Selection::parse(&["*"]), Ok(Selection::All));
        assert!(Selection::parse(&["*", "session.started"]).is_err());
        assert!(Selection::parse::<&str>(&[]).is_err());
        let e = Selection::parse(&["session.strated"]).unwrap_err();
        assert!(e.contains("unknown event type \"session.strated\""), "{e}");
        let s = Selection::parse(&["session.ended", "session.started", "session.ended"]).unwrap();
        assert_eq!(s.names(), ["session.started", "session.ended"]);
        assert!(s.wants(EventType::SessionStarted));
        assert!(!s.wants(EventType::ActionPerformed));
        assert!(Selection::All.wants(EventType::BreakglassStarted));
    }

    #[test]
    fn retries_back_off_and_level_out() {
        let waits: Vec<i64> = (1..=8).map(|n| backoff(n).num_seconds()).collect();
        assert_eq!(waits, [5, 30, 120, 600, 1800, 3600, 7200, 7200]);
        let total: i64 = (1..PAUSE_AFTER).map(|n| backoff(n).num_seconds()).sum();
        assert!(total > 7 * 3600, "an endpoint is retried for hours before it pauses: {total} s");
    }
}
