//! Break-glass (SPEC §10): staff with the `breakglass` role start a session
//! without a lead's approval, only within the policy's `[breakglass]`;
//! every lead is told when it starts, the session is marked, and a lead
//! reviews it after it ends. Every refusal changes nothing.

use actas_core::model::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::console::Browser;
use actas_server::testing::*;

const REASON: &str = "Sync outage: every account stuck since the 14:00 deploy, no lead reachable";
const NOTE: &str = "Reset one sync during the outage; nothing else touched";

/// Bea Stone, an agent who may break the glass.
async fn bea(app: &TestApp) -> String {
    app.staff("bea").name("Bea Stone").roles([Role::Agent, Role::Breakglass]).add().await
}

async fn break_glass(app: &TestApp, who: &str, actions: &[&str], minutes: Option<u32>) -> (StatusCode, Value) {
    let mut body = json!({"ticket": "48192", "reason": REASON, "actions": actions, "breakglass": true});
    if let Some(m) = minutes {
        body["minutes"] = json!(m);
    }
    app.post("/api/v1/requests", who, body).await
}

/// Bea's break-glass session, started: (session id, token).
async fn glass_session(app: &TestApp, who: &str) -> (String, String) {
    let (st, r) = break_glass(app, who, &["settings.view", "sync.reset"], None).await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    let (st, started) = app.start(who, r["id"].as_str().unwrap()).await;
    assert_eq!(st, StatusCode::CREATED, "{started}");
    (started["session"]["id"].as_str().unwrap().to_string(), started["token"].as_str().unwrap().to_string())
}

async fn review(app: &TestApp, lead: &str, sid: &str, note: Value) -> (StatusCode, Value) {
    app.post(&format!("/api/v1/sessions/{sid}/review"), lead, note).await
}

backend_test!(async fn a_break_glass_session_needs_no_approval_tells_every_lead_and_waits_for_a_review(app) {
    let bea = bea(&app).await;
    let (st, r) = break_glass(&app, &bea, &["sync.reset", "settings.view"], None).await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    assert_eq!(r["kind"], "breakglass");
    assert_eq!(r["status"], "approved", "approved at once, by nobody");
    assert_eq!(r["minutes"], 15, "the policy's default, within break-glass's 15 minutes");
    let id = r["id"].as_str().unwrap();
    let (_, queue) = app.get("/api/v1/requests?status=pending", &app.lena).await;
    assert!(queue["requests"].as_array().unwrap().iter().all(|q| q["id"] != id), "nothing for a lead to decide");
    let (_, full) = app.get(&format!("/api/v1/requests/{id}"), &app.lena).await;
    assert_eq!(full["decisions"][0]["kind"], "breakglass", "{full}");
    assert!(app.events_of_type("request.approved").await.is_empty(), "no approval to tell");
    let created = app.events_of_type("request.created").await;
    assert!(
        created[0]["text"].as_str().unwrap().starts_with("Bea Stone broke the glass to act as Acme Corp (acct_42) under ticket 48192"),
        "{}",
        created[0]["text"]
    );
    assert_eq!(created[0]["data"]["breakglass"], true);

    let (st, started) = app.start(&bea, id).await;
    assert_eq!(st, StatusCode::CREATED, "{started}");
    let s = &started["session"];
    let sid = s["id"].as_str().unwrap();
    let token = started["token"].as_str().unwrap();
    assert_eq!(s["breakglass"], true);
    assert_eq!(s["review"], Value::Null);
    assert_eq!(s["approver"], "breakglass");
    assert_eq!(s["approved_by"], "started in an emergency without a lead's approval (break-glass)");

    // Every lead is told: an event of its own, in the session's timeline.
    let told = app.events_of_type("breakglass.started").await;
    assert_eq!(told.len(), 1);
    assert_eq!(told[0]["session_id"], sid);
    assert_eq!(told[0]["data"]["request"], id);
    assert_eq!(told[0]["data"]["scope"], json!(["settings.view", "sync.reset"]));
    assert!(told[0]["text"].as_str().unwrap().starts_with("Break-glass: Bea Stone started acting as Acme Corp"), "{}", told[0]["text"]);

    // Within break-glass's actions only.
    assert!(app.authorize(token, "sync.reset").await.allowed);
    assert!(!app.authorize(token, "refund.issue").await.allowed);

    // Live: a lead may revoke it, not review it yet.
    let before = app.counts().await;
    assert_problem(&review(&app, &app.lena, sid, json!({"note": NOTE})).await, 409, "session-live");
    assert_eq!(app.counts().await.events, before.events, "a refusal writes nothing");

    app.clock.advance(mins(1));
    app.end(&bea, sid).await;
    let (_, m) = app.get("/api/v1/metrics/support", &app.lena).await;
    assert_eq!((m["sessions"]["breakglass"].as_u64(), m["sessions"]["awaiting_review"].as_u64()), (Some(1), Some(1)), "{m}");

    let scraped = app.text("/metrics", &app.ada).await;
    assert!(scraped.contains("actas_breakglass_awaiting_review 1\n"), "{scraped}");
    // The customer is told how the session was let in.
    let notes = app.client.notices(0).await.unwrap();
    let note = notes.iter().find(|n| n.session_id.as_str() == sid).expect("a note for the customer");
    assert!(note.text.contains("started in an emergency without a lead's approval (break-glass)"), "{}", note.text);
    // Not without a note, and not twice.
    assert_problem(&review(&app, &app.lena, sid, json!({"note": "  "})).await, 422, "note-required");
    assert_problem(&review(&app, &app.lena, sid, json!({})).await, 422, "note-required");
    assert_eq!(app.counts().await.events, before.events + 1, "only the end was written");
    app.clock.advance(mins(30));
    let (st, v) = review(&app, &app.lena, sid, json!({"note": NOTE})).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["review"]["by"], "lena");
    assert_eq!(v["review"]["note"], NOTE);
    assert_eq!(v["review"]["at"], json!(app.clock.now()));
    let (_, read) = app.get(&format!("/api/v1/sessions/{sid}"), &app.audrey).await;
    assert_eq!(read["review"], v["review"]);
    let reviewed = app.events_of_type("session.reviewed").await;
    assert_eq!(reviewed.len(), 1);
    assert_eq!(reviewed[0]["actor"]["id"], "lena");
    assert_eq!(reviewed[0]["session_id"], sid);
    assert_eq!(reviewed[0]["data"], json!({"note": NOTE, "agent": "bea"}));
    assert!(reviewed[0]["text"].as_str().unwrap().starts_with("Lena Ortiz reviewed Bea Stone's break-glass session"), "{}", reviewed[0]["text"]);
    let again = review(&app, &app.sam, sid, json!({"note": "Seen it too"})).await;
    assert_problem(&again, 409, "already-reviewed");
    assert!(again.1["detail"].as_str().unwrap().contains("Lena Ortiz reviewed this session"), "{}", again.1);
    assert_eq!(app.events_of_type("session.reviewed").await.len(), 1);

    let (_, m) = app.get("/api/v1/metrics/support", &app.lena).await;
    assert_eq!((m["sessions"]["breakglass"].as_u64(), m["sessions"]["awaiting_review"].as_u64()), (Some(1), Some(0)), "{m}");
    assert_eq!(app.verify().await["ok"], true, "the trail still verifies");
});

backend_test!(async fn break_glass_stays_within_its_section_and_refusals_store_nothing(app) {
    let bea = bea(&app).await;
    let before = app.counts().await;
    // Without the role: refused before anything is read or written.
    let (st, v) = break_glass(&app, &app.maria, &["settings.view"], None).await;
    assert_problem(&(st, v), 403, "role-required");
    assert_eq!(app.counts().await, before, "nothing stored, nothing audited");
    // A lead who is no agent may not either.
    assert_problem(&break_glass(&app, &app.lena, &["settings.view"], None).await, 403, "role-required");
    assert_eq!(app.counts().await, before);

    // Outside the section's actions or minutes, or a vague reason: refused
    // and audited as request.refused; no request is stored.
    let outside = break_glass(&app, &bea, &["settings.view", "refund.issue"], None).await;
    assert_problem(&outside, 422, "breakglass-actions");
    assert!(outside.1["detail"].as_str().unwrap().contains("Issue a refund"), "{}", outside.1);
    assert_problem(&break_glass(&app, &bea, &["settings.view"], Some(20)).await, 422, "duration-too-long");
    let (st, v) = app
        .post("/api/v1/requests", &bea, json!({"ticket": "48192", "reason": "need access", "actions": ["settings.view"], "breakglass": true}))
        .await;
    assert_problem(&(st, v), 422, "reason-vague");
    let after = app.counts().await;
    assert_eq!(after.requests, before.requests, "no request stored");
    assert_eq!(after.events, before.events + 3, "three refusals audited");
    let refused = app.events_of_type("request.refused").await;
    assert_eq!(refused.len(), 3);
    assert_eq!(refused[0]["data"]["code"], "breakglass-actions");

    // A session a lead approved is not reviewed.
    let s = app.session(&app.maria).actions(&["settings.view"]).start().await;
    app.end(&app.maria, &s.id).await;
    let before = app.counts().await;
    assert_problem(&review(&app, &app.lena, &s.id, json!({"note": NOTE})).await, 409, "not-breakglass");
    assert_problem(&review(&app, &app.lena, "ses_nothing", json!({"note": NOTE})).await, 404, "not-found");
    assert_eq!(app.counts().await, before);
});

backend_test!(async fn only_another_lead_reviews_and_a_session_past_its_end_is_ended_first(app) {
    // Gil is a lead who may break the glass: never his own review.
    let gil = app.staff("gil").name("Gil Moss").roles([Role::Agent, Role::Lead, Role::Breakglass]).add().await;
    let (sid, token) = glass_session(&app, &gil).await;
    // Idle past its deadline (10 minutes): the review ends it first, then reviews.
    app.clock.advance(mins(11));
    let before = app.counts().await;
    assert_problem(&review(&app, &gil, &sid, json!({"note": NOTE})).await, 403, "self-review");
    assert_problem(&review(&app, &app.maria, &sid, json!({"note": NOTE})).await, 403, "role-required");
    assert_problem(&review(&app, &app.audrey, &sid, json!({"note": NOTE})).await, 403, "role-required");
    assert_problem(&review(&app, &app.app, &sid, json!({"note": NOTE})).await, 403, "staff-only");
    let (st, _) = review(&app, &token, &sid, json!({"note": NOTE})).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "the session's own token reviews nothing");
    assert_eq!(app.counts().await.events, before.events);
    let (st, v) = review(&app, &app.sam, &sid, json!({"note": NOTE})).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["state"], "ended");
    assert_eq!(v["end_reason"], "idle_timeout");
    assert_eq!(v["review"]["by_name"], "Sam Lee");
    let kinds: Vec<String> = app.audit(&app.audrey, &format!("session={sid}")).await.iter().map(|e| e["type"].as_str().unwrap().to_string()).collect();
    assert_eq!(&kinds[kinds.len() - 2..], ["session.idle_timeout", "session.reviewed"], "{kinds:?}");
});

backend_test!(async fn the_customer_grant_binds_break_glass_too(app) {
    let bea = bea(&app).await;
    app.api
        .send(reqwest::Method::PUT, "/api/v1/accounts/acct_42/consent", Some(&app.app), Some(json!({"required": true, "set_by": "pat"})))
        .await;
    let before = app.counts().await;
    assert_problem(&break_glass(&app, &bea, &["settings.view"], None).await, 422, "no-customer-grant");
    assert_eq!(app.counts().await.requests, before.requests);
});

backend_test!(async fn without_a_breakglass_section_break_glass_is_off(app = {
    let src = actas_core::policy::DEFAULT_POLICY_TOML;
    let (head, tail) = src.split_at(src.find("[breakglass]").unwrap());
    Policy::parse(&format!("{head}{}", &tail[tail.find("\n\n").unwrap()..])).unwrap()
}) {
    let bea = bea(&app).await;
    let before = app.counts().await;
    let off = break_glass(&app, &bea, &["settings.view"], None).await;
    assert_problem(&off, 422, "breakglass-off");
    assert_eq!(app.counts().await.requests, before.requests);
    // And the request form offers no glass to break.
    let (mut b, _) = Browser::signed_in(&app, "bea").await;
    assert!(!b.get("/launch?ticket=48192").await.html.contains(r#"id="breakglass""#));
});

backend_test!(async fn the_console_offers_the_glass_marks_the_session_and_keeps_it_before_every_lead(app) {
    let bea = bea(&app).await;
    // Only staff with the role see the choice.
    let (mut maria, _) = Browser::signed_in(&app, "maria").await;
    assert!(!maria.get("/launch?ticket=48192").await.html.contains(r#"id="breakglass""#));
    let (mut b, _) = Browser::signed_in(&app, "bea").await;
    let form = b.get("/launch?ticket=48192").await;
    assert!(form.html.contains(r#"id="breakglass""#), "{}", form.html);
    assert!(form.html.contains("for at most 15 minutes"), "{}", form.html);
    let csrf = form.csrf();
    // Outside its actions: the sentence comes back at the actions, the box still ticked.
    let p = b
        .post(
            "/requests",
            &[("csrf", &csrf), ("ticket", "48192"), ("actions", "refund.issue"), ("reason", REASON), ("minutes", "15"), ("breakglass", "1")],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.html);
    assert!(p.html.contains("Break-glass allows only"), "{}", p.html);
    assert!(p.html.contains(r#"name="breakglass" value="1" checked"#), "{}", p.html);
    let p = b
        .post(
            "/requests",
            &[("csrf", &csrf), ("ticket", "48192"), ("actions", "sync.reset"), ("reason", REASON), ("minutes", "15"), ("breakglass", "1")],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    let request = b.get(p.location()).await;
    assert!(request.html.contains(r#"id="breakglass-mark""#), "{}", request.html);
    let rid = p.location().trim_start_matches("/requests/").to_string();
    let p = b.post(&format!("/requests/{rid}/start"), &[("csrf", &csrf)]).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.html);
    let sid = app.events_of_type("breakglass.started").await[0]["session_id"].as_str().unwrap().to_string();

    // Every lead's queue shows it, with a notification, until one reviews it.
    let (mut lena, _) = Browser::signed_in(&app, "lena").await;
    let queue = lena.get("/queue").await;
    assert!(queue.html.contains(r#"id="breakglass-review""#), "{}", queue.html);
    assert!(queue.html.contains(&format!(r#"data-notify-key="glass-{sid}""#)), "{}", queue.html);
    assert!(queue.html.contains("live, no approval"), "{}", queue.html);
    let page = lena.get(&format!("/sessions/{sid}")).await;
    assert!(page.html.contains("no lead approved this session. Every lead was told"), "{}", page.html);
    assert!(!page.html.contains(r#"id="review-form""#), "no review while it is live");

    app.end(&bea, &sid).await;
    app.clock.advance(mins(1));
    let measures = lena.get("/measures").await;
    assert!(measures.html.contains("1 session started without a lead's approval; 1 ended and still waits"), "{}", measures.html);
    let queue = lena.get("/queue?fragment=1").await;
    assert!(queue.html.contains("awaits review"), "{}", queue.html);
    let page = lena.get(&format!("/sessions/{sid}")).await;
    assert!(page.html.contains(r#"id="review-form""#), "{}", page.html);
    let lcsrf = page.csrf();
    let p = lena.post(&format!("/sessions/{sid}/review"), &[("csrf", &lcsrf), ("note", "")]).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.html);
    assert!(p.html.contains(r#"id="review-note-error""#), "{}", p.html);
    let p = lena.post(&format!("/sessions/{sid}/review"), &[("csrf", &lcsrf), ("note", NOTE)]).await;
    assert_eq!((p.status, p.location()), (StatusCode::SEE_OTHER, format!("/sessions/{sid}").as_str()), "{}", p.html);
    let page = lena.get(&format!("/sessions/{sid}")).await;
    assert!(page.html.contains("reviewed by Lena Ortiz"), "{}", page.html);
    assert!(!lena.get("/queue").await.html.contains(r#"id="breakglass-review""#), "reviewed: off the queue");
    assert!(lena.get("/measures").await.html.contains("every one was reviewed"));
});
