//! Customer consent (SPEC §10): an app (or one account) that lets support
//! in only with the customer's grant; the grant, its hours, and the
//! customer's kill switch, which ends live sessions on the account at once.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use actas_server::testing::*;

use crate::console::Browser;

const REASON: &str = "Customer cannot change the invoice email after the plan change";

async fn grant(app: &TestApp, key: &str, account: &str, body: Value) -> (StatusCode, Value) {
    app.post(&format!("/api/v1/accounts/{account}/grants"), key, body).await
}

async fn withdraw(app: &TestApp, key: &str, account: &str) -> (StatusCode, Value) {
    app.api
        .send(Method::DELETE, &format!("/api/v1/accounts/{account}/grants?revoked_by=pat%40acme.test"), Some(key), None)
        .await
}

async fn ask(app: &TestApp) -> (StatusCode, Value) {
    app.post("/api/v1/requests", &app.maria, json!({"ticket": "48192", "reason": REASON, "actions": ["settings.view"]}))
        .await
}

backend_test!(async fn without_a_live_grant_no_request_is_taken_and_the_refusal_is_audited(app) {
    let billing = app.host_app("Acme Portal").origin("https://portal.acme.test").consent().add().await;
    let before = app.counts().await;
    let got = ask(&app).await;
    assert_problem(&got, 422, "no-customer-grant");
    let after = app.counts().await;
    assert_eq!(after.requests, before.requests, "no request was stored");
    assert_eq!(after.events, before.events + 1, "only the refusal");
    let refused = app.events_of_type("request.refused").await;
    assert_eq!(refused.last().unwrap()["data"]["code"], "no-customer-grant");

    // The customer allows support in for 1 hour, from the host app.
    let (st, g) = grant(&app, &billing.key, "acct_42", json!({"hours": 1, "granted_by": "pat@acme.test"})).await;
    assert_eq!(st, StatusCode::CREATED, "{g}");
    assert_eq!(g["live"], true);
    assert_eq!(g["expires_at"], json!(app.clock.now() + chrono::Duration::hours(1)));
    let created = app.events_of_type("grant.created").await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["account_id"], "acct_42");
    assert!(created[0]["text"].as_str().unwrap().starts_with("pat@acme.test allowed support to access account acct_42 for 1 hour"), "{}", created[0]["text"]);
    app.clock.advance(mins(55));
    let (st, r) = ask(&app).await;
    assert_eq!(st, StatusCode::CREATED, "{r}");

    // Once it runs out, nothing starts and nothing new is taken.
    app.clock.advance(mins(6));
    assert_problem(&app.start(&app.maria, r["id"].as_str().unwrap()).await, 422, "no-customer-grant");
    assert_problem(&ask(&app).await, 422, "no-customer-grant");
    let (_, c) = app.get("/api/v1/accounts/acct_42/grants", &app.sam).await;
    assert_eq!(c["required"], true);
    assert_eq!(c["grant"], Value::Null);
    assert_eq!(c["grants"][0]["live"], false);
});

backend_test!(async fn a_session_ends_no_later_than_its_grant(app) {
    let billing = app.host_app("Acme Portal").origin("https://portal.acme.test").consent().add().await;
    grant(&app, &billing.key, "acct_42", json!({"hours": 1, "granted_by": "pat@acme.test"})).await;
    app.clock.advance(mins(50));
    let s = app.session(&app.maria).actions(&["settings.view"]).app("Acme Billing").start().await;
    let (_, session) = app.get(&format!("/api/v1/sessions/{}", s.id), &app.sam).await;
    assert_eq!(session["ends_at"], json!(app.clock.now() + mins(10)), "the grant's end, not 15 minutes on");
});

backend_test!(async fn the_kill_switch_ends_live_sessions_at_once_and_tells_everyone_why(app) {
    let billing = app.host_app("Acme Portal").origin("https://portal.acme.test").consent().add().await;
    grant(&app, &billing.key, "acct_42", json!({"hours": 24, "granted_by": "pat@acme.test"})).await;
    let s = app.session(&app.maria).actions(&["settings.view"]).app("Acme Billing").start().await;
    assert!(app.authorize(&s.token, "settings.view").await.allowed);

    let (st, c) = withdraw(&app, &billing.key, "acct_42").await;
    assert_eq!(st, StatusCode::OK, "{c}");
    assert_eq!(c["sessions_ended"], 1);
    assert_eq!(c["grant"], Value::Null);
    assert_eq!(c["grants"][0]["revoked_by"], "pat@acme.test");

    // The agent's app is refused, in words the agent, the lead and the customer read.
    let no = app.authorize(&s.token, "settings.view").await;
    assert!(!no.allowed);
    assert_eq!(no.reason.as_str(), "customer_revoked");
    let (_, session) = app.get(&format!("/api/v1/sessions/{}", s.id), &s.token).await;
    assert_eq!(session["state"], "ended");
    assert_eq!(session["end_reason"], "customer_revoked");
    let ended = app.events_of_type("session.customer_revoked").await;
    assert_eq!(ended.len(), 1);
    assert!(ended[0]["text"].as_str().unwrap().contains("because the customer withdrew their permission"), "{}", ended[0]["text"]);
    let revoked = app.events_of_type("grant.revoked").await;
    assert_eq!(revoked[0]["data"]["sessions_ended"], json!([s.id]));
    let notes = app.client.notices(0).await.unwrap();
    let note = notes.iter().find(|n| n.session_id.as_str() == s.id).expect("a customer note");
    assert_eq!(note.data.end_reason, Some(actas_api::EndReason::CustomerRevoked));
    // Nothing new starts until the customer allows it again.
    assert_problem(&ask(&app).await, 422, "no-customer-grant");
    assert_eq!(app.verify().await["ok"], true);
});

backend_test!(async fn one_account_can_ask_for_its_customers_grant_on_its_own(app) {
    let (st, c) = app
        .api
        .send(Method::PUT, "/api/v1/accounts/acct_42/consent", Some(&app.app), Some(json!({"required": true, "set_by": "pat@acme.test"})))
        .await;
    assert_eq!(st, StatusCode::OK, "{c}");
    assert_eq!(c["required"], true);
    assert_problem(&ask(&app).await, 422, "no-customer-grant");
    // Another account is not concerned.
    app.ticket("48200").account("acct_7").account_name("Globex").create().await;
    let (st, r) = app.post("/api/v1/requests", &app.maria, json!({"ticket": "48200", "reason": REASON, "actions": ["settings.view"]})).await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    // Turned off again, acct_42 takes requests.
    app.api
        .send(Method::PUT, "/api/v1/accounts/acct_42/consent", Some(&app.app), Some(json!({"required": false, "set_by": "pat@acme.test"})))
        .await;
    assert_eq!(ask(&app).await.0, StatusCode::CREATED);
});

backend_test!(async fn refused_grants_change_nothing(app) {
    let before = app.counts().await;
    for (body, status, slug) in [
        (json!({"hours": 0, "granted_by": "pat@acme.test"}), 422, "grant-hours-invalid"),
        (json!({"hours": 721, "granted_by": "pat@acme.test"}), 422, "grant-hours-invalid"),
        (json!({"hours": 2, "granted_by": "  "}), 400, "invalid-body"),
        (json!({"hours": 2}), 400, "malformed-body"),
        (json!({"hours": 2, "granted_by": "pat", "forever": true}), 400, "malformed-body"),
    ] {
        let got = grant(&app, &app.app, "acct_42", body.clone()).await;
        assert_problem(&got, status, slug);
        assert_eq!(app.counts().await, before, "{body}");
    }
    // Bad account ids and names of the customer's user: 400, nothing stored.
    let long = "x".repeat(300);
    for (account, method, body) in [
        (long.as_str(), "grant", json!({"hours": 2, "granted_by": "pat"})),
        ("acct%0A42", "grant", json!({"hours": 2, "granted_by": "pat"})),
        ("acct_42", "grant", json!({"hours": 2, "granted_by": long})),
        ("acct_42", "consent", json!({"required": true, "set_by": "  "})),
        ("acct_42", "consent", json!({"required": true, "set_by": long})),
        (long.as_str(), "consent", json!({"required": true, "set_by": "pat"})),
    ] {
        let got = match method {
            "grant" => grant(&app, &app.app, account, body.clone()).await,
            _ => app.api.send(Method::PUT, &format!("/api/v1/accounts/{account}/consent"), Some(&app.app), Some(body.clone())).await,
        };
        assert_eq!(got.0, StatusCode::BAD_REQUEST, "{method} {account} {body}: {}", got.1);
        assert_eq!(app.counts().await, before, "{method} {account} {body}");
    }
    for query in [format!("revoked_by={long}"), "revoked_by=%20".to_string()] {
        let got = app.api.send(Method::DELETE, &format!("/api/v1/accounts/acct_42/grants?{query}"), Some(&app.app), None).await;
        assert_eq!(got.0, StatusCode::BAD_REQUEST, "{query}: {}", got.1);
    }
    assert_eq!(app.counts().await, before);
    // Staff and ticket-only apps record no grant.
    let desk = app.host_app("Desk").tickets().add().await;
    assert_problem(&grant(&app, &app.maria, "acct_42", json!({"hours": 2, "granted_by": "pat"})).await, 403, "app-only");
    assert_problem(&grant(&app, &desk.key, "acct_42", json!({"hours": 2, "granted_by": "pat"})).await, 403, "not-a-host-app");
    assert_problem(&withdraw(&app, &app.sam, "acct_42").await, 403, "app-only");
    assert_eq!(app.counts().await.events, before.events + 1, "only the ticket-only app's registration");
    // Leads and auditors read the consent; agents and admins do not.
    assert_eq!(app.get("/api/v1/accounts/acct_42/grants", &app.audrey).await.0, StatusCode::OK);
    assert_eq!(app.get("/api/v1/accounts/acct_42/grants", &app.maria).await.0, StatusCode::FORBIDDEN);
    assert_eq!(app.get("/api/v1/accounts/acct_42/grants", &app.ada).await.0, StatusCode::FORBIDDEN);
});

backend_test!(async fn the_request_form_tells_the_agent_whether_the_customer_allowed_support_in(app) {
    let (mut b, _) = Browser::signed_in(&app, "maria").await;
    assert!(!b.get("/launch?ticket=48192").await.html.contains(r#"id="consent""#), "nothing to tell");
    app.api
        .send(Method::PUT, "/api/v1/accounts/acct_42/consent", Some(&app.app), Some(json!({"required": true, "set_by": "pat"})))
        .await;
    let form = b.get("/launch?ticket=48192").await;
    assert!(form.html.contains("permission, and none is live"), "{}", form.html);
    grant(&app, &app.app, "acct_42", json!({"hours": 4, "granted_by": "pat"})).await;
    let form = b.get("/launch?ticket=48192").await;
    assert!(form.html.contains("The customer allowed support in until"), "{}", form.html);
});
