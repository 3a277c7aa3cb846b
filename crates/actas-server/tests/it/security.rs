//! SPEC §9 and the credential rules, each tried by someone who should fail.

use reqwest::StatusCode;
use serde_json::json;

use actas_server::testing::*;

backend_test!(async fn an_impersonation_token_is_not_staff_or_app_credentials(app) {
    let LiveSession { id: sid, token, .. } = app.session(&app.maria).actions(&["settings.view"]).start().await;
    for path in [
        "/api/v1/requests",
        "/api/v1/audit",
        "/api/v1/notices",
        "/api/v1/tickets/48192",
        "/api/v1/accounts/acct_42/access-log",
        "/api/v1/sessions/feed",
    ] {
        assert_problem(&app.get(path, &token).await, 401, "unauthorized");
    }
    assert_problem(
        &app.post(
            "/api/v1/authorize",
            &token,
            json!({"token": token, "action": "settings.view"}),
        )
        .await,
        401,
        "unauthorized",
    );
    assert_problem(
        &app.post(
            "/api/v1/requests",
            &token,
            json!({"ticket": "48192", "reason": REASON, "actions": ["settings.view"]}),
        )
        .await,
        401,
        "unauthorized",
    );
    assert_problem(
        &app.post(
            &format!("/api/v1/sessions/{sid}/revoke"),
            &token,
            json!({"note": "x"}),
        )
        .await,
        401,
        "unauthorized",
    );
    assert_problem(
        &app.get(&format!("/api/v1/sessions/{sid}/timeline"), &token)
            .await,
        401,
        "unauthorized",
    );
    // Its own session: read, heartbeat, end.
    let (s, v) = app.get(&format!("/api/v1/sessions/{sid}"), &token).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        app.post(
            &format!("/api/v1/sessions/{sid}/heartbeat"),
            &token,
            json!({})
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(
        app.post(&format!("/api/v1/sessions/{sid}/end"), &token, json!({}))
            .await
            .0,
        StatusCode::OK
    );
});

backend_test!(async fn an_impersonation_token_cannot_touch_another_session(app) {
    let token_maria = app.session(&app.maria).actions(&["settings.view"]).start().await.token;
    let sid_jon = app.session(&app.jon).actions(&["settings.view"]).start().await.id;
    assert_problem(
        &app.get(&format!("/api/v1/sessions/{sid_jon}"), &token_maria)
            .await,
        403,
        "other-session",
    );
    assert_problem(
        &app.post(
            &format!("/api/v1/sessions/{sid_jon}/end"),
            &token_maria,
            json!({}),
        )
        .await,
        403,
        "other-session",
    );
    assert_problem(
        &app.post(
            &format!("/api/v1/sessions/{sid_jon}/heartbeat"),
            &token_maria,
            json!({}),
        )
        .await,
        403,
        "other-session",
    );
    let (_, s) = app
        .get(&format!("/api/v1/sessions/{sid_jon}"), &app.sam)
        .await;
    assert_eq!(s["state"], "live");
});

backend_test!(async fn forged_altered_and_foreign_tokens_are_refused_and_audited(app) {
    let token = app.session(&app.maria).actions(&["settings.view"]).start().await.token;
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = token.split('.').collect();
    // alg: none, with the signature dropped.
    let none = format!(
        "{}.{}.",
        b64.encode(br#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    // Scope widened in the payload, old signature kept.
    let mut c = claims(&token);
    c["scope"] = json!("settings.view billing.update");
    let widened = format!("{}.{}.{}", parts[0], b64.encode(c.to_string()), parts[2]);
    // A signature from a key actas never had.
    let mut sig = b64.decode(parts[2]).unwrap();
    sig[0] ^= 0xff;
    let forged = format!("{}.{}.{}", parts[0], parts[1], b64.encode(sig));
    for (bad, action) in [
        (none.as_str(), "settings.view"),
        (widened.as_str(), "billing.update"),
        (forged.as_str(), "settings.view"),
        ("garbage", "settings.view"),
    ] {
        let v = app.authorize(bad, action).await;
        assert_eq!((v.allowed, v.reason.as_str()), (false, "bad_token"), "{bad}");
    }
    assert_eq!(
        app.events_of_type("action.denied").await.len(),
        4,
        "every refused attempt is audited"
    );
    // A token for one app is refused to another.
    let other = app.host_app("Other App").add().await;
    let v = app.client_for(&other.key).authorize(&token, "settings.view").await.unwrap();
    assert_eq!(v.reason.as_str(), "wrong_app");
    // One account per session: another account's records are refused.
    let v = app.authorize_with(&token, "settings.view", json!({"target": {"account_id": "acct_7"}})).await;
    assert_eq!(v.reason.as_str(), "wrong_account");
});

backend_test!(async fn callers_are_held_to_their_kind_and_roles(app) {
    assert_problem(
        &app.send(reqwest::Method::GET, "/api/v1/requests", None, None)
            .await,
        401,
        "unauthorized",
    );
    assert_problem(
        &app.get("/api/v1/requests", "actas_pat_notarealtoken").await,
        401,
        "unauthorized",
    );
    assert_problem(
        &app.get("/api/v1/requests", "Basic abc").await,
        401,
        "unauthorized",
    );
    assert_problem(
        &app.post(
            "/api/v1/authorize",
            &app.maria,
            json!({"token": "x", "action": "settings.view"}),
        )
        .await,
        403,
        "app-only",
    );
    assert_problem(
        &app.get("/api/v1/requests", &app.app).await,
        403,
        "staff-only",
    );
    assert_problem(
        &app.post(
            "/api/v1/requests",
            &app.audrey,
            json!({"ticket": "48192", "reason": REASON, "actions": ["settings.view"]}),
        )
        .await,
        403,
        "role-required",
    );
    assert_problem(
        &app.post(
            "/api/v1/requests",
            &app.ada,
            json!({"ticket": "48192", "reason": REASON, "actions": ["settings.view"]}),
        )
        .await,
        403,
        "role-required",
    );
    let quiet_key = app.host_app("Quiet App").add().await.key;
    assert_problem(
        &app.post(
            "/api/v1/tickets",
            &quiet_key,
            json!({"ref": "1", "account_id": "acct_1", "subject": "x"}),
        )
        .await,
        403,
        "permission-required",
    );
    let (s, _) = app
        .post(
            "/api/v1/tickets",
            &app.app,
            json!({"ref": "50001", "account_id": "acct_9", "subject": "Export fails"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = app
        .post(
            "/api/v1/tickets",
            &app.app,
            json!({"ref": "50001", "account_id": "acct_9", "subject": "Export fails"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "the same ticket again is answered as is");
    assert_problem(
        &app.post(
            "/api/v1/tickets",
            &app.app,
            json!({"ref": "50001", "account_id": "acct_10", "subject": "x"}),
        )
        .await,
        409,
        "ticket-exists",
    );
});

backend_test!(async fn the_api_describes_itself_and_reports_health(app) {
    let (s, doc) = app
        .send(reqwest::Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    for path in [
        "/api/v1/authorize",
        "/api/v1/requests/{id}/approve",
        "/api/v1/sessions/feed",
        "/api/v1/audit/verify",
        "/api/v1/accounts/{id}/access-log",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
    let (s, h) = app.send(reqwest::Method::GET, "/healthz", None, None).await;
    assert_eq!((s, h["status"].clone()), (StatusCode::OK, json!("ok")));
});
