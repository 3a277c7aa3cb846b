//! The audit event's canonical encoding and hash.
//!
//! The input is a JSON object with an event's fields (the shape of the
//! canonical bytes, plus `prev_hash`); fields of the wrong type take a
//! default. For the event it makes:
//!
//! - `canonical_bytes` and `compute_hash` are deterministic;
//! - the canonical bytes decode, the way the store reads an event back,
//!   to the same event, which encodes to the same bytes (so no two events
//!   share an encoding);
//! - the sealed event verifies as the first of a chain;
//! - changing one character of any text field (or a value inside `data`),
//!   the seq, the time, the type, the actor's kind, or setting or clearing
//!   an optional field, changes the bytes and the hash, and the chain no
//!   longer verifies.
#![no_main]

use actas_core::audit::{canonical_bytes, Actor, ActorKind, ChainVerifier, Event, EventType, NewEvent, GENESIS};
use actas_core::VariantArray;
use chrono::{DateTime, Datelike, Utc};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

fn string(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or_default().to_string()
}

fn optional(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

/// What the trail stores, to the millisecond, in years the store reads back.
fn time(v: Option<&Value>) -> DateTime<Utc> {
    let t = match v {
        Some(Value::String(s)) => DateTime::parse_from_rfc3339(s).ok().map(|t| t.to_utc()),
        Some(Value::Number(n)) => n.as_i64().and_then(DateTime::from_timestamp_millis),
        _ => None,
    };
    let t = actas_core::clock::millis(t.unwrap_or_default());
    if (0..=9999).contains(&t.year()) {
        t
    } else {
        DateTime::default()
    }
}

fn event_of(v: &Value) -> Event {
    let kind = v.get("type").and_then(Value::as_str).and_then(|s| s.parse().ok()).unwrap_or(EventType::TicketCreated);
    let actor = v.get("actor").cloned().unwrap_or_default();
    let actor = Actor {
        kind: actor.get("kind").and_then(Value::as_str).and_then(|s| s.parse().ok()).unwrap_or(ActorKind::System),
        id: string(&actor, "id"),
        name: string(&actor, "name"),
    };
    Event {
        seq: v.get("seq").and_then(Value::as_i64).unwrap_or(1),
        body: NewEvent {
            id: string(v, "id"),
            at: time(v.get("at")),
            kind,
            actor,
            account_id: optional(v, "account_id"),
            ticket: optional(v, "ticket"),
            request_id: optional(v, "request_id"),
            session_id: optional(v, "session_id"),
            agent: optional(v, "agent"),
            data: v.get("data").cloned().unwrap_or_default(),
            text: string(v, "text"),
        },
        prev_hash: optional(v, "prev_hash").unwrap_or_else(|| GENESIS.to_string()),
        hash: String::new(),
    }
}

/// Reads canonical bytes back as the store reads a row: strict, every
/// field of its type.
fn decode(bytes: &[u8], prev_hash: &str) -> Event {
    let v: Value = serde_json::from_slice(bytes).expect("canonical bytes are JSON");
    let o = v.as_object().expect("an object");
    let keys: Vec<&str> = o.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "account_id",
            "actor",
            "agent",
            "at",
            "data",
            "id",
            "request_id",
            "seq",
            "session_id",
            "text",
            "ticket",
            "type"
        ]
    );
    let s = |k: &str| o[k].as_str().expect("a string").to_string();
    let opt = |k: &str| match &o[k] {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => panic!("{k} is {other}"),
    };
    Event {
        seq: o["seq"].as_i64().expect("seq"),
        body: NewEvent {
            id: s("id"),
            at: DateTime::parse_from_rfc3339(&s("at")).expect("at").to_utc(),
            kind: s("type").parse().expect("type"),
            actor: Actor::from_json(&o["actor"]).expect("actor"),
            account_id: opt("account_id"),
            ticket: opt("ticket"),
            request_id: opt("request_id"),
            session_id: opt("session_id"),
            agent: opt("agent"),
            data: o["data"].clone(),
            text: s("text"),
        },
        prev_hash: prev_hash.to_string(),
        hash: String::new(),
    }
}

/// Copies of `s` with one character changed: the first, the last and one
/// in the middle; or one character added when it is empty.
fn one_char_changed(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    if chars.is_empty() {
        return vec!["a".into()];
    }
    let mut at = vec![0, chars.len() / 2, chars.len() - 1];
    at.dedup();
    at.into_iter()
        .map(|i| {
            let mut c = chars.clone();
            c[i] = if c[i] == 'a' { 'b' } else { 'a' };
            c.into_iter().collect()
        })
        .collect()
}

/// Copies of `v` each with one value inside changed (at most `budget`).
fn data_changed(v: &Value, budget: &mut usize) -> Vec<Value> {
    if *budget == 0 {
        return Vec::new();
    }
    let mut out = Vec::new();
    match v {
        Value::Null => out.push(Value::Bool(false)),
        Value::Bool(b) => out.push(Value::Bool(!b)),
        Value::Number(n) => out.push(match n.as_i64() {
            Some(i) if i != 0 => Value::from(0),
            Some(_) => Value::from(1),
            None => Value::from(-1),
        }),
        Value::String(s) => out.extend(one_char_changed(s).into_iter().map(Value::String)),
        Value::Array(items) => {
            let mut shorter = items.clone();
            if shorter.pop().is_some() {
                out.push(Value::Array(shorter));
            }
            for (i, item) in items.iter().enumerate() {
                for changed in data_changed(item, budget) {
                    let mut a = items.clone();
                    a[i] = changed;
                    out.push(Value::Array(a));
                }
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                for renamed in one_char_changed(k) {
                    if !map.contains_key(&renamed) {
                        let mut m: Map<String, Value> = map.clone();
                        let moved = m.remove(k).unwrap_or_default();
                        m.insert(renamed, moved);
                        out.push(Value::Object(m));
                    }
                }
                for changed in data_changed(item, budget) {
                    let mut m = map.clone();
                    m.insert(k.clone(), changed);
                    out.push(Value::Object(m));
                }
            }
        }
    }
    *budget = budget.saturating_sub(out.len());
    out
}

/// One of an event's optional text fields.
type OptionalField = fn(&mut Event) -> &mut Option<String>;

fn variants(e: &Event) -> Vec<(String, Event)> {
    let mut out = Vec::new();
    let mut push = |what: String, f: &dyn Fn(&mut Event)| {
        let mut x = e.clone();
        f(&mut x);
        out.push((what, x));
    };
    push("seq".into(), &|x| x.seq = x.seq.wrapping_add(1));
    push("at".into(), &|x| {
        x.body.at = if x.body.at.year() < 9999 {
            x.body.at + chrono::Duration::milliseconds(1)
        } else {
            x.body.at - chrono::Duration::milliseconds(1)
        }
    });
    push("type".into(), &|x| {
        let i = EventType::VARIANTS.iter().position(|t| *t == x.body.kind).unwrap_or(0);
        x.body.kind = EventType::VARIANTS[(i + 1) % EventType::VARIANTS.len()];
    });
    push("actor.kind".into(), &|x| {
        x.body.actor.kind = if x.body.actor.kind == ActorKind::Staff { ActorKind::App } else { ActorKind::Staff }
    });
    for s in one_char_changed(&e.id) {
        push(format!("id {s:?}"), &|x| x.body.id = s.clone());
    }
    for s in one_char_changed(&e.actor.id) {
        push(format!("actor.id {s:?}"), &|x| x.body.actor.id = s.clone());
    }
    for s in one_char_changed(&e.actor.name) {
        push(format!("actor.name {s:?}"), &|x| x.body.actor.name = s.clone());
    }
    for s in one_char_changed(&e.text) {
        push(format!("text {s:?}"), &|x| x.body.text = s.clone());
    }
    let fields: [(&str, OptionalField); 5] = [
        ("account_id", |x| &mut x.body.account_id),
        ("ticket", |x| &mut x.body.ticket),
        ("request_id", |x| &mut x.body.request_id),
        ("session_id", |x| &mut x.body.session_id),
        ("agent", |x| &mut x.body.agent),
    ];
    for (name, field) in fields {
        let mut probe = e.clone();
        match field(&mut probe).clone() {
            None => {
                push(format!("{name} set"), &|x| *field(x) = Some(String::new()));
            }
            Some(v) => {
                push(format!("{name} cleared"), &|x| *field(x) = None);
                for s in one_char_changed(&v) {
                    push(format!("{name} {s:?}"), &|x| *field(x) = Some(s.clone()));
                }
            }
        }
    }
    let mut budget = 64;
    for d in data_changed(&e.data, &mut budget) {
        push(format!("data {d}"), &|x| x.body.data = d.clone());
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_json::from_slice::<Value>(data) else { return };
    let mut e = event_of(&v);

    let bytes = canonical_bytes(&e);
    assert_eq!(canonical_bytes(&e.clone()), bytes, "canonical bytes are deterministic");
    let hash = e.compute_hash();
    assert_eq!(e.clone().compute_hash(), hash, "the hash is deterministic");
    assert_eq!(hash.len(), 64);

    let back = decode(&bytes, &e.prev_hash);
    assert_eq!(back, e, "canonical bytes decode to the event");
    assert_eq!(canonical_bytes(&back), bytes, "and encode to the same bytes");

    // The first event of a chain.
    e.seq = 1;
    e.prev_hash = GENESIS.to_string();
    e.hash = e.compute_hash();
    let mut chain = ChainVerifier::default();
    chain.push(&e).expect("a sealed event verifies");

    // prev_hash is not in the bytes, but it is in the hash.
    for s in one_char_changed(&e.prev_hash) {
        let mut x = e.clone();
        x.prev_hash = s;
        assert_ne!(x.compute_hash(), e.hash, "prev_hash: same hash");
    }
    for (what, mut x) in variants(&e) {
        assert_ne!(canonical_bytes(&x), canonical_bytes(&e), "{what}: same bytes");
        let h = x.compute_hash();
        assert_ne!(h, e.hash, "{what}: same hash");
        if x.seq == 1 {
            // Changed after it was sealed: the chain names it.
            assert!(ChainVerifier::default().push(&x).is_err(), "{what}: still verifies");
        }
        x.hash = h;
        let _ = ChainVerifier::default().push(&x);
    }
});
