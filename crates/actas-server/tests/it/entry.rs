//! One-time entry codes: the console hands the browser a short-lived code,
//! never the token; the host app exchanges it once, with its app key; each
//! refusal changes nothing. And every approver of a session is named.

use actas_client::ClientError;
use reqwest::StatusCode;
use serde_json::{json, Value};

use actas_server::testing::*;

/// Maria asks for a code for her session `sid`: the answer (`code`, `url`).
async fn open_entry(app: &TestApp, sid: &str) -> Value {
    let (s, v) = app.post(&format!("/api/v1/sessions/{sid}/entry"), &app.maria, json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v
}

/// Maria's code for her session `sid`.
async fn code_for(app: &TestApp, sid: &str) -> String {
    open_entry(app, sid).await["code"].as_str().unwrap().to_string()
}

/// The host app holding `key` exchanges `code`, through its client.
async fn exchange(app: &TestApp, key: &str, code: &str) -> Result<actas_client::api::Started, ClientError> {
    app.client_for(key).enter(code).await
}

/// Proves a refused exchange changed nothing: no event, no session change.
async fn refused_exchange(app: &TestApp, key: &str, code: &str, status: u16, slug: &str) {
    let before = app.counts().await;
    assert_refused(&exchange(app, key, code).await, status, slug);
    assert_eq!(app.counts().await, before, "a refused exchange changes nothing");
}

backend_test!(async fn an_entry_code_works_once_and_is_audited(app) {
    let sid = app.session(&app.maria).actions(&["settings.view"]).start().await.id;
    let entry = open_entry(&app, &sid).await;
    let code = entry["code"].as_str().unwrap();
    assert!(code.starts_with("actas_entry_"));
    assert_eq!(entry["url"], format!("http://localhost:3000/support/enter?code={code}"));
    assert!(!app.stored_anywhere(code).await, "the code rests only as a hash");

    let entered = exchange(&app, &app.app, code).await.unwrap();
    assert_eq!(entered.session.id, sid);
    let token = entered.token.expose();
    assert_eq!(claims(token)["sid"], sid.as_str());
    assert_eq!(claims(token)["aud"], app.app_id.as_str());
    let a = app.authorize(token, "settings.view").await;
    assert!(a.allowed, "{a:?}");

    let entered = app.events_of_type("session.entered").await;
    assert_eq!(entered.len(), 1);
    assert_eq!(entered[0]["session_id"], sid.as_str());
    assert_eq!(entered[0]["actor"]["id"], "maria");
    assert!(
        entered[0]["text"].as_str().unwrap().starts_with("Maria Lopez entered Acme Corp (acct_42) in Acme Billing"),
        "{}",
        entered[0]["text"]
    );

    refused_exchange(&app, &app.app, code, 422, "entry-code-used").await;
});

backend_test!(async fn an_entry_code_expires_after_two_minutes(app) {
    let sid = app.session(&app.maria).actions(&["settings.view"]).start().await.id;
    let code = code_for(&app, &sid).await;
    app.clock.advance(chrono::Duration::seconds(121));
    refused_exchange(&app, &app.app, &code, 422, "entry-code-expired").await;
});

backend_test!(async fn a_new_code_voids_the_unused_ones(app) {
    let sid = app.session(&app.maria).actions(&["settings.view"]).start().await.id;
    let first = code_for(&app, &sid).await;
    let second = code_for(&app, &sid).await;
    assert_ne!(first, second);
    refused_exchange(&app, &app.app, &first, 422, "entry-code-unknown").await;
    exchange(&app, &app.app, &second).await.unwrap();
});

backend_test!(async fn unknown_and_malformed_codes_are_refused(app) {
    let sid = app.session(&app.maria).actions(&["settings.view"]).start().await.id;
    let _ = open_entry(&app, &sid).await;
    refused_exchange(&app, &app.app, "actas_entry_nope", 422, "entry-code-unknown").await;
    refused_exchange(&app, &app.app, "", 422, "entry-code-unknown").await;
    let (s, _) = app.post("/api/v1/entry", &app.app, json!({"code": 5})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = app.post("/api/v1/entry", &app.app, json!({"code": "x", "token": "y"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
});

backend_test!(async fn only_the_app_of_the_session_exchanges_its_code(app) {
    let sid = app.session(&app.maria).actions(&["settings.view"]).start().await.id;
    let code = code_for(&app, &sid).await;
    let other = app.host_app("Other App").add().await.key;
    // Another app's code reads as unknown: that app learns nothing of the session.
    refused_exchange(&app, &other, &code, 422, "entry-code-unknown").await;
    // Staff and tokens cannot exchange codes at all.
    refused_exchange(&app, &app.maria, &code, 403, "app-only").await;
    // Not consumed by the refusals: the session's own app still enters.
    exchange(&app, &app.app, &code).await.unwrap();
});

backend_test!(async fn only_the_sessions_agent_gets_a_code_and_only_while_it_is_live(app) {
    let sid = app.session(&app.maria).actions(&["settings.view"]).start().await.id;
    for (who, status, slug) in [(&app.jon, 403, "not-session-agent"), (&app.audrey, 403, "role-required"), (&app.app, 403, "staff-only")] {
        let before = app.counts().await;
        assert_problem(&app.post(&format!("/api/v1/sessions/{sid}/entry"), who, json!({})).await, status, slug);
        assert_eq!(app.counts().await, before);
    }
    let code = code_for(&app, &sid).await;
    app.end(&app.maria, &sid).await;
    refused_exchange(&app, &app.app, &code, 409, "session-ended").await;
    let got = app.post(&format!("/api/v1/sessions/{sid}/entry"), &app.maria, json!({})).await;
    assert_problem(&got, 409, "session-ended");
    let got = app.post("/api/v1/sessions/ses_nope/entry", &app.maria, json!({})).await;
    assert_problem(&got, 404, "not-found");
});

backend_test!(async fn every_approver_is_named_on_the_session_the_access_log_and_the_note(app) {
    // View-only: approved by policy; then a lead approves more scope.
    let sid = app.session(&app.maria).actions(&["settings.view"]).start().await.id;
    let (s, r) = app
        .post(
            &format!("/api/v1/sessions/{sid}/scope"),
            &app.maria,
            json!({"actions": ["invoice_email.update"], "reason": "Customer asked to change the invoice email address"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let (s, v) = app.approve(&app.sam, r["id"].as_str().unwrap(), json!({})).await;
    assert_eq!(s, StatusCode::OK, "{v}");

    let (_, session) = app.get(&format!("/api/v1/sessions/{sid}"), &app.sam).await;
    assert_eq!(session["approvers"], json!([{"id": "policy", "name": "Policy"}, {"id": "sam", "name": "Sam Lee"}]));
    let words = "approved automatically by the support policy, then by Sam Lee";
    assert_eq!(session["approved_by"], words);
    let log = app.client.access_log("acct_42").await.unwrap();
    assert_eq!(log.entries[0].approved_by, words, "{log:?}");

    app.end(&app.maria, &sid).await;
    let notices = app.client.notices(0).await.unwrap();
    let note = &notices[0].text;
    assert!(note.contains(words), "{note}");
    assert!(!note.contains("Policy"), "{note}");
});
