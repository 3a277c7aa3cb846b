//! Webhooks out (SPEC §10): every chosen audit event is POSTed to a real
//! receiver on an ephemeral port, signed the Standard Webhooks way, in
//! trail order, at least once; a failing receiver is retried with backoff
//! on the test's clock, then paused, and an admin resumes it; the delivery
//! log holds no payload; a replay sends the same event again.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use actas_core::audit::Actor;
use actas_core::webhook::{self, PAUSE_AFTER};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use reqwest::StatusCode;
use serde_json::{json, Value};

use actas_server::service;
use actas_server::testing::*;

/// One POST the receiver took.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    body: Vec<u8>,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// What the receiver keeps and what it answers.
type Shared = (Arc<Mutex<Vec<Received>>>, Arc<AtomicU16>);

/// A receiver on an ephemeral port that answers `status` to every POST.
#[derive(Clone)]
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
    status: Arc<AtomicU16>,
}

impl Receiver {
    async fn start() -> Receiver {
        let got = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(AtomicU16::new(200));
        let state = (got.clone(), status.clone());
        let app = axum::Router::new()
            .route(
                "/hook",
                axum::routing::post(
                    |State((got, status)): State<Shared>, headers: HeaderMap, body: Bytes| async move {
                        let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
                        got.lock().unwrap().push(Received {
                            id: h("webhook-id"),
                            timestamp: h("webhook-timestamp"),
                            signature: h("webhook-signature"),
                            body: body.to_vec(),
                        });
                        AxumStatus::from_u16(status.load(Ordering::SeqCst)).unwrap()
                    },
                ),
            )
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook?token=receiver-secret", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, got, status }
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    fn answer(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }
}

/// Whether `r` carries a valid signature under `secret`.
fn signed_by(r: &Received, secret: &str) -> bool {
    let key = webhook::key_of(secret).unwrap();
    webhook::sign(&key, &r.id, r.timestamp.parse().unwrap(), &r.body) == r.signature
}

async fn add(app: &TestApp, url: &str, events: &[&str]) -> (String, String) {
    let events: Vec<String> = events.iter().map(|e| e.to_string()).collect();
    let (w, secret) = service::add_webhook(&app.ctx, Actor::staff("ada", "Ada Quinn"), url, &events).await.unwrap();
    (w.id, secret.expose().to_string())
}

async fn deliver(app: &TestApp) -> usize {
    service::deliver(&app.ctx).await.unwrap()
}

backend_test!(async fn chosen_events_are_sent_signed_in_trail_order_and_logged_without_payload(app) {
    let rx = Receiver::start().await;
    let (a, secret_a) = add(&app, &rx.url, &["*"]).await;
    let (b, secret_b) = add(&app, &rx.url.replace("/hook", "/hook?b=1").replace("?token=receiver-secret", ""), &["session.ended", "session.started"]).await;
    let s = app.session(&app.maria).actions(&["settings.view"]).start().await;
    app.authorize(&s.token, "settings.view").await;
    app.end(&app.maria, &s.id).await;
    let sent = deliver(&app).await;
    let got = rx.got();
    assert_eq!(sent, got.len());

    let for_a: Vec<&Received> = got.iter().filter(|r| signed_by(r, &secret_a)).collect();
    let for_b: Vec<&Received> = got.iter().filter(|r| signed_by(r, &secret_b)).collect();
    assert_eq!(for_a.len() + for_b.len(), got.len(), "every delivery is signed by its endpoint's secret");
    // A: every event from its own creation on, in order, none missing.
    let trail = app.events().await;
    let first = trail.iter().position(|e| e["type"] == "webhook.created").unwrap();
    let want: Vec<&Value> = trail[first..].iter().collect();
    let seen: Vec<Value> = for_a.iter().map(|r| r.json()).collect();
    assert_eq!(seen.len(), want.len(), "{seen:?}");
    for (r, (body, event)) in for_a.iter().zip(seen.iter().zip(&want)) {
        assert_eq!(&body["data"], *event, "the body carries the event as GET /audit shows it");
        assert_eq!(body["type"], event["type"]);
        assert_eq!(body["timestamp"], event["at"]);
        assert_eq!(r.id, event["id"].as_str().unwrap(), "webhook-id is the event's id");
    }
    // B: only what it chose, in order.
    let kinds: Vec<String> = for_b.iter().map(|r| r.json()["type"].as_str().unwrap().to_string()).collect();
    assert_eq!(kinds, ["session.started", "session.ended"]);
    // A body changed by one byte no longer verifies.
    let mut forged = for_a[0].clone();
    forged.body[2] ^= 1;
    assert!(!signed_by(&forged, &secret_a));

    // Nothing more to send: a second pass sends nothing.
    assert_eq!(deliver(&app).await, 0);
    assert_eq!(rx.got().len(), got.len());

    // The log: every attempt, ok, and not a word of the events.
    let (st, log) = app.get(&format!("/api/v1/webhooks/{a}/deliveries"), &app.ada).await;
    assert_eq!(st, StatusCode::OK, "{log}");
    assert_eq!(log["deliveries"].as_array().unwrap().len(), for_a.len());
    assert!(log["deliveries"].as_array().unwrap().iter().all(|d| d["ok"] == true && d["status"] == 200 && d["attempt"] == 1));
    assert_eq!(log["webhook"]["url"], rx.url.replace("?token=receiver-secret", ""), "shown without its query");
    assert_eq!(log["webhook"]["after_seq"], want.last().unwrap()["seq"]);
    for needle in ["acct_42", "Acme", "Maria", "receiver-secret", &secret_a] {
        assert!(!log.to_string().contains(needle), "the log shows {needle}: {log}");
    }
    let (_, list) = app.get("/api/v1/webhooks", &app.ada).await;
    let hooks = list["webhooks"].as_array().unwrap();
    assert_eq!(hooks.len(), 2);
    let hook_b = hooks.iter().find(|w| w["id"] == b.as_str()).unwrap();
    assert_eq!(hook_b["events"], json!(["session.started", "session.ended"]));
    // The secret and the receiver's token rest sealed.
    assert!(!app.stored_anywhere(&secret_a).await);
    assert!(!app.stored_anywhere("receiver-secret").await);
});

backend_test!(async fn a_failing_receiver_is_retried_in_order_then_paused_and_resumed(app) {
    let rx = Receiver::start().await;
    rx.answer(503);
    let (a, secret) = add(&app, &rx.url, &["*"]).await;
    app.session(&app.maria).actions(&["settings.view"]).start().await;
    assert_eq!(deliver(&app).await, 0);
    let first = rx.got();
    assert_eq!(first.len(), 1, "one attempt, and nothing after the event that failed");
    let stuck = first[0].id.clone();
    assert_eq!(first[0].json()["type"], "webhook.created");
    // Not again before its time: 5 s after the first failure.
    assert_eq!(deliver(&app).await, 0);
    assert_eq!(rx.got().len(), 1);
    for n in 1..PAUSE_AFTER {
        app.clock.advance(webhook::backoff(n));
        deliver(&app).await;
        assert_eq!(rx.got().len() as u32, n + 1, "attempt {} after {} s", n + 1, webhook::backoff(n).num_seconds());
    }
    assert!(rx.got().iter().all(|r| r.id == stuck && signed_by(r, &secret)), "the same event each time");
    let (_, list) = app.get("/api/v1/webhooks", &app.ada).await;
    assert_eq!(list["webhooks"][0]["state"], "paused");
    assert_eq!(list["webhooks"][0]["failures"], PAUSE_AFTER);
    assert_eq!(list["webhooks"][0]["last_error"], "HTTP 503");
    let scraped = app.text("/metrics", &app.ada).await;
    assert!(scraped.contains("actas_webhooks_paused 1\n"), "{scraped}");
    assert!(scraped.contains("actas_webhook_backlog "), "{scraped}");
    let paused = app.events_of_type("webhook.paused").await;
    assert_eq!(paused.len(), 1);
    assert_eq!(paused[0]["data"]["failures"], PAUSE_AFTER);
    assert!(paused[0]["text"].as_str().unwrap().contains("until an admin resumes it"), "{}", paused[0]["text"]);
    let (_, log) = app.get(&format!("/api/v1/webhooks/{a}/deliveries"), &app.ada).await;
    let attempts: Vec<u64> = log["deliveries"].as_array().unwrap().iter().map(|d| d["attempt"].as_u64().unwrap()).collect();
    assert_eq!(attempts, (1..=u64::from(PAUSE_AFTER)).rev().collect::<Vec<_>>());
    assert!(log["deliveries"].as_array().unwrap().iter().all(|d| d["ok"] == false && d["status"] == 503));

    // Paused: nothing goes out, even once the receiver works.
    rx.answer(200);
    app.clock.advance(mins(600));
    assert_eq!(deliver(&app).await, 0);
    // Resumed by an admin: the stuck event first, then the rest in order.
    let (st, v) = app.post(&format!("/api/v1/webhooks/{a}/resume"), &app.ada, json!({})).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["state"], "active");
    assert_problem(&app.post(&format!("/api/v1/webhooks/{a}/resume"), &app.ada, json!({})).await, 409, "not-paused");
    let sent = deliver(&app).await;
    let after: Vec<Value> = rx.got()[PAUSE_AFTER as usize..].iter().map(|r| r.json()).collect();
    assert_eq!(sent, after.len());
    assert_eq!(after[0]["data"]["id"], stuck.as_str());
    let seqs: Vec<i64> = after.iter().map(|b| b["data"]["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "in trail order, none missing: {seqs:?}");
    let kinds: Vec<&str> = after.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert!(kinds.ends_with(&["webhook.paused", "webhook.resumed"]), "{kinds:?}");
});

backend_test!(async fn a_replay_sends_the_same_event_again_and_is_logged(app) {
    let rx = Receiver::start().await;
    let (a, secret) = add(&app, &rx.url, &["webhook.created"]).await;
    deliver(&app).await;
    let (_, log) = app.get(&format!("/api/v1/webhooks/{a}/deliveries"), &app.ada).await;
    let d = log["deliveries"][0]["id"].as_str().unwrap().to_string();
    let (st, v) = app.post(&format!("/api/v1/webhooks/{a}/deliveries/{d}/replay"), &app.ada, json!({})).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    assert_eq!((v["replay"].clone(), v["ok"].clone()), (json!(true), json!(true)));
    let got = rx.got();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].id, got[1].id);
    assert_eq!(got[0].body, got[1].body);
    assert!(signed_by(&got[1], &secret));
    // Only an admin replays, and only this webhook's deliveries.
    let before = app.counts().await;
    for who in [&app.maria, &app.lena, &app.audrey] {
        let (st, _) = app.post(&format!("/api/v1/webhooks/{a}/deliveries/{d}/replay"), who, json!({})).await;
        assert_eq!(st, StatusCode::FORBIDDEN);
    }
    assert_problem(&app.post(&format!("/api/v1/webhooks/{a}/deliveries/whd_other/replay"), &app.ada, json!({})).await, 404, "not-found");
    assert_eq!(rx.got().len(), 2);
    assert_eq!(app.counts().await, before);
});

backend_test!(async fn refused_webhooks_store_nothing(app) {
    let before = app.counts().await;
    for (url, events, slug) in [
        ("ftp://siem.acme.test/in", vec!["*"], "webhook-url-invalid"),
        ("http://siem.acme.test/in", vec!["*"], "webhook-url-invalid"),
        ("https://user:pw@siem.acme.test/in", vec!["*"], "webhook-url-invalid"),
        ("https://siem.acme.test/in#x", vec!["*"], "webhook-url-invalid"),
        ("siem.acme.test", vec!["*"], "webhook-url-invalid"),
        ("https://siem.acme.test/in", vec![], "events-invalid"),
        ("https://siem.acme.test/in", vec!["session.strated"], "events-invalid"),
        ("https://siem.acme.test/in", vec!["*", "session.started"], "events-invalid"),
    ] {
        let events: Vec<String> = events.iter().map(|e| e.to_string()).collect();
        match service::add_webhook(&app.ctx, Actor::system(), url, &events).await {
            Err(actas_core::Error::Refused { code, .. }) => assert_eq!(code.as_str(), slug, "{url} {events:?}"),
            other => panic!("{url} {events:?}: {other:?}"),
        }
    }
    assert_eq!(app.counts().await, before);
    let (_, list) = app.get("/api/v1/webhooks", &app.ada).await;
    assert_eq!(list["webhooks"], json!([]));
    assert_problem(&app.get("/api/v1/webhooks/whk_none/deliveries", &app.ada).await, 404, "not-found");
    assert_problem(&app.post("/api/v1/webhooks/whk_none/resume", &app.ada, json!({})).await, 404, "not-found");
    // At most WEBHOOKS_MAX endpoints: one more is refused and nothing is stored.
    for n in 0..service::WEBHOOKS_MAX {
        add(&app, &format!("https://siem{n}.acme.test/in"), &["*"]).await;
    }
    let events = app.events().await.len();
    match service::add_webhook(&app.ctx, Actor::system(), "https://one-more.acme.test/in", &["*".to_string()]).await {
        Err(actas_core::Error::Refused { code, .. }) => assert_eq!(code.as_str(), "too-many"),
        other => panic!("{other:?}"),
    }
    assert_eq!(app.events().await.len(), events);
    let (_, list) = app.get("/api/v1/webhooks", &app.ada).await;
    assert_eq!(list["webhooks"].as_array().unwrap().len(), service::WEBHOOKS_MAX);
});

backend_test!(async fn two_nodes_send_each_event_once(app) {
    let rx = Receiver::start().await;
    add(&app, &rx.url, &["*"]).await;
    for _ in 0..3 {
        let s = app.session(&app.maria).actions(&["settings.view"]).start().await;
        app.end(&app.maria, &s.id).await;
    }
    let node = app.second_node().await;
    let (one, two) = tokio::join!(service::deliver(&app.ctx), service::deliver(&node.ctx));
    assert_eq!(one.unwrap() + two.unwrap(), rx.got().len());
    let mut ids: Vec<String> = rx.got().iter().map(|r| r.id.clone()).collect();
    let all = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), all, "no event twice");
    let trail = app.events().await;
    let first = trail.iter().position(|e| e["type"] == "webhook.created").unwrap();
    assert_eq!(all, trail.len() - first);
});

backend_test!(async fn the_console_shows_admins_each_webhook_its_log_a_pause_and_lets_them_resume_and_replay(app) {
    let rx = Receiver::start().await;
    let (a, _) = add(&app, &rx.url, &["*"]).await;
    rx.answer(500);
    deliver(&app).await;
    for n in 1..PAUSE_AFTER {
        app.clock.advance(webhook::backoff(n));
        deliver(&app).await;
    }
    let (mut ada, home) = crate::console::Browser::signed_in(&app, "ada").await;
    assert!(home.html.contains(r#"id="webhooks-paused""#), "an admin is told at home: {}", home.html);
    let list = ada.get("/webhooks").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.html.contains("paused"), "{}", list.html);
    assert!(!list.html.contains("receiver-secret"), "the address is shown without its query");
    let page = ada.get(&format!("/webhooks/{a}")).await;
    assert!(page.html.contains(r#"id="resume-form""#), "{}", page.html);
    assert_eq!(page.html.matches("Send again</button>").count(), PAUSE_AFTER as usize);
    assert!(page.html.contains("HTTP 500"));
    let csrf = page.csrf();

    rx.answer(200);
    let p = ada.post(&format!("/webhooks/{a}/resume"), &[("csrf", &csrf)]).await;
    assert_eq!((p.status, p.location()), (StatusCode::SEE_OTHER, format!("/webhooks/{a}?resumed=1").as_str()));
    assert!(ada.get(p.location()).await.html.contains(r#"id="resumed""#));
    deliver(&app).await;
    let (_, log) = app.get(&format!("/api/v1/webhooks/{a}/deliveries"), &app.ada).await;
    let ok = log["deliveries"].as_array().unwrap().iter().find(|d| d["ok"] == true).unwrap()["id"].as_str().unwrap().to_string();
    let before = rx.got().len();
    let p = ada.post(&format!("/webhooks/{a}/deliveries/{ok}/replay"), &[("csrf", &csrf)]).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    let shown = ada.get(p.location()).await;
    assert!(shown.html.contains("the receiver took it"), "{}", shown.html);
    assert_eq!(rx.got().len(), before + 1);
    // Without the form's token, or for anyone but an admin: nothing is sent.
    let p = ada.post(&format!("/webhooks/{a}/deliveries/{ok}/replay"), &[("csrf", "forged")]).await;
    assert!(p.status.is_client_error());
    let (mut lena, _) = crate::console::Browser::signed_in(&app, "lena").await;
    assert_eq!(lena.get("/webhooks").await.status, StatusCode::FORBIDDEN);
    assert_eq!(rx.got().len(), before + 1);
    // Removed from its page.
    let p = ada.post(&format!("/webhooks/{a}/remove"), &[("csrf", &csrf)]).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    assert!(ada.get("/webhooks").await.html.contains("No webhook is set up."));
});

backend_test!(async fn a_removed_webhook_is_sent_nothing_more_and_its_log_goes(app) {
    let rx = Receiver::start().await;
    let (a, _) = add(&app, &rx.url, &["*"]).await;
    deliver(&app).await;
    let sent = rx.got().len();
    assert!(sent > 0);
    // Only an admin removes it; a refusal changes nothing.
    for who in [&app.maria, &app.lena, &app.audrey] {
        let (st, _) = app.api.send(reqwest::Method::DELETE, &format!("/api/v1/webhooks/{a}"), Some(who), None).await;
        assert_eq!(st, StatusCode::FORBIDDEN);
    }
    assert_eq!(app.get("/api/v1/webhooks", &app.ada).await.1["webhooks"].as_array().unwrap().len(), 1);
    let (st, v) = app.api.send(reqwest::Method::DELETE, &format!("/api/v1/webhooks/{a}"), Some(&app.ada), None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["id"], a.as_str());
    let removed = app.events_of_type("webhook.removed").await;
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0]["actor"]["id"], "ada");
    assert!(removed[0]["text"].as_str().unwrap().starts_with("Ada Quinn removed the webhook to http://127.0.0.1:"), "{}", removed[0]["text"]);
    assert_eq!(app.get("/api/v1/webhooks", &app.ada).await.1["webhooks"], json!([]));
    assert_problem(&app.get(&format!("/api/v1/webhooks/{a}/deliveries"), &app.ada).await, 404, "not-found");
    assert_problem(&app.api.send(reqwest::Method::DELETE, &format!("/api/v1/webhooks/{a}"), Some(&app.ada), None).await, 404, "not-found");
    app.session(&app.maria).actions(&["settings.view"]).start().await;
    assert_eq!(deliver(&app).await, 0);
    assert_eq!(rx.got().len(), sent, "nothing more is sent");
});
