//! Impersonation tokens: arbitrary strings through both verifiers, with a
//! fixed key set.
//!
//! - the server's `KeyRing::verify` (what `authorize` and the admin API run
//!   on a token they are handed) and `KeyRing::knows_kid_of`;
//! - the host-app kit's `Verifier::verify` (what a host app runs on every
//!   request), whose JWKS is served once from 127.0.0.1.
//!
//! Neither may panic. A token the server accepts names a token key (never
//! the checkpoint key). And a token the key ring issues for a session made
//! from the input verifies on both sides with exactly that session's
//! claims.
//!
//! The keys are Ed25519 keys from fixed seeds, SHA-256 of
//! `actas fuzz key A` (token key, current), `... B` (token key, retired)
//! and `... C` (checkpoint key); the seed tokens in
//! `corpus/token_verify` are signed with them.
#![no_main]

use std::io::{Read, Write};
use std::sync::OnceLock;
use std::time::Duration;

use actas_client::Verifier;
use actas_core::model::{Approver, Session, SessionState};
use actas_core::{Clock, SystemClock};
use actas_server::keys::KeyRing;
use actas_server::KeyAccess;
use actas_store::{write_fn, KeyRecord, KeyRole, Options, Store};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use ring::signature::{Ed25519KeyPair, KeyPair};

/// (kid, role, seed in hex, retired).
const KEYS: &[(&str, KeyRole, &str, bool)] = &[
    ("k_1969ca14bee3467b", KeyRole::Token, "9d38fb7b3005b83a48490e8b82d09f49a01d3b54eb0f3087c5c88eb2456e1e7e", true),
    ("k_826e886eda2586b5", KeyRole::Token, "8b8497620603c47bf2d05a8a98458467e48fd7f280ad89d0a4a378b6d66b800f", false),
    (
        "k_bf9d9b474aa8c840",
        KeyRole::Checkpoint,
        "dee8edf142126bed4087af445b77201de6b1cebc7adaf3eea496ff2ec6b44b20",
        false,
    ),
];
const TOKEN_KIDS: &[&str] = &["k_1969ca14bee3467b", "k_826e886eda2586b5"];
const AUDIENCE: &str = "app_fuzz";

struct Fixture {
    rt: tokio::runtime::Runtime,
    ring: KeyRing,
    verifier: Verifier,
    issuer: String,
}

/// An Ed25519 PKCS#8 v2 document (what ring makes and actas stores).
fn pkcs8(seed: &[u8], public: &[u8]) -> Vec<u8> {
    let mut der = vec![0x30, 0x53, 0x02, 0x01, 0x01, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
    der.extend_from_slice(seed);
    der.extend_from_slice(&[0xa1, 0x23, 0x03, 0x21, 0x00]);
    der.extend_from_slice(public);
    der
}

fn records(now: DateTime<Utc>) -> Vec<KeyRecord> {
    KEYS.iter()
        .enumerate()
        .map(|(i, (kid, role, seed, retired))| {
            let seed = hex::decode(seed).expect("seed hex");
            let pair = Ed25519KeyPair::from_seed_unchecked(&seed).expect("seed");
            let public = pair.public_key().as_ref().to_vec();
            KeyRecord {
                kid: kid.to_string(),
                role: *role,
                private_key: URL_SAFE_NO_PAD.encode(pkcs8(&seed, &public)),
                public_key: URL_SAFE_NO_PAD.encode(&public),
                created_at: now - chrono::Duration::hours(3 - i as i64),
                retired_at: retired.then(|| now - chrono::Duration::minutes(1)),
            }
        })
        .collect()
}

/// Answers every request on `listener` with `body`, as JSON.
fn serve(listener: std::net::TcpListener, body: String) {
    for stream in listener.incoming() {
        let Ok(mut s) = stream else { continue };
        let mut req = Vec::new();
        let mut buf = [0u8; 1024];
        while !req.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => req.extend_from_slice(&buf[..n]),
            }
        }
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        let _ = s.write_all(head.as_bytes());
        let _ = s.write_all(body.as_bytes());
    }
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let now = SystemClock.now();
        let dir = tempfile::tempdir().expect("temp dir");
        let ring = rt.block_on(async {
            let url = format!("sqlite://{}", dir.path().join("keys.db").display());
            let store = Store::open(&Options::new(url)).await.expect("store");
            for k in records(now) {
                store
                    .write(write_fn(move |tx| Box::pin(async move { tx.insert_key(&k).await })))
                    .await
                    .expect("insert key");
            }
            KeyRing::load(&store, 30, KeyAccess::Plaintext).await.expect("key ring")
        });
        drop(dir);
        assert_eq!(ring.current_kid(), "k_826e886eda2586b5");

        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let issuer = format!("http://{}", listener.local_addr().expect("addr"));
        let jwks = ring.jwks(now).to_string();
        std::thread::spawn(move || serve(listener, jwks));
        let verifier = Verifier::new(issuer.clone(), AUDIENCE).refetch_every(Duration::from_secs(365 * 24 * 3600));
        let fixture = Fixture { rt, ring, verifier, issuer };
        // Fetch the keys now; from here on an unknown kid never reaches the
        // network.
        let s = session("acct_1\nsam\nSam\nSUP-1\naccount.view\nses_1");
        let t = fixture.ring.issue(&fixture.issuer, AUDIENCE, &s, SystemClock.now(), "jti_1".into()).expect("issue");
        fixture.rt.block_on(fixture.verifier.verify(t.expose())).expect("the client verifies an issued token");
        assert_eq!(fixture.verifier.cached_keys(), 2);
        fixture
    })
}

/// A live session whose fields are the input's lines.
fn session(text: &str) -> Session {
    let mut lines = text.split('\n');
    let mut next = || lines.next().unwrap_or_default().to_string();
    let (account_id, agent, agent_name, ticket) = (next(), next(), next(), next());
    let scope = next().split_whitespace().map(str::to_string).collect();
    let id = next();
    let now = SystemClock.now();
    Session {
        id,
        request_id: "req_1".into(),
        ticket,
        account_id,
        account_name: None,
        agent,
        agent_name,
        approver: "policy".into(),
        approver_name: "Policy".into(),
        approvers: vec![Approver { id: "policy".into(), name: "Policy".into() }],
        app_id: AUDIENCE.into(),
        scope,
        reason: "Customer cannot update the invoice email".into(),
        started_at: now,
        ends_at: now + chrono::Duration::minutes(30),
        last_activity_at: now,
        state: SessionState::Live,
        end_reason: None,
        ended_at: None,
        ended_by: None,
        end_note: None,
        breakglass: false,
        review: None,
    }
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let text = String::from_utf8_lossy(data);

    // The input as a token.
    let server = f.ring.verify(&text);
    if let Ok(claims) = &server {
        let kid = header_kid(&text);
        assert!(TOKEN_KIDS.contains(&kid.as_str()), "accepted a token signed by {kid}: {claims:?}");
        assert!(f.ring.knows_kid_of(&text));
    }
    let _ = f.ring.knows_kid_of(&text);
    let client = f.rt.block_on(f.verifier.verify(&text));
    if let Ok(who) = &client {
        assert_eq!(who.token.expose(), text);
    }

    // The input as a session: what is issued verifies as it was issued.
    let s = session(&text);
    let token = f.ring.issue(&f.issuer, AUDIENCE, &s, SystemClock.now(), "jti_1".into()).expect("issue");
    let token = token.expose();
    let claims = f.ring.verify(token).expect("the server verifies the token it issued");
    assert_eq!(
        (&claims.sub, &claims.act.sub, &claims.act.name, &claims.sid, &claims.ticket, &claims.aud),
        (&s.account_id, &s.agent, &s.agent_name, &s.id, &s.ticket, &AUDIENCE.to_string())
    );
    assert_eq!(claims.scope, s.scope.join(" "));
    assert_eq!(claims.exp, s.ends_at.timestamp());
    let who = f.rt.block_on(f.verifier.verify(token)).expect("the client verifies the token the server issued");
    assert_eq!(
        (&who.account_id, &who.agent, &who.agent_name, &who.session_id, &who.ticket, &who.scope),
        (&s.account_id, &s.agent, &s.agent_name, &s.id, &s.ticket, &s.scope)
    );
    assert_eq!(who.expires_at, s.ends_at.timestamp());
});

/// The `kid` in a token's header, read without the libraries under test.
fn header_kid(token: &str) -> String {
    let header = token.split('.').next().unwrap_or_default();
    URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|h| serde_json::from_slice::<serde_json::Value>(&h).ok())
        .and_then(|h| h.get("kid").and_then(|k| k.as_str()).map(str::to_string))
        .unwrap_or_default()
}
