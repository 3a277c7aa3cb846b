//! The support-session flow from ticket to audit, as the SPEC tells it.

use reqwest::StatusCode;
use serde_json::json;

use actas_server::testing::*;

backend_test!(async fn a_view_only_request_is_approved_by_policy_and_recorded_as_such(app) {
    let r = app.request(&app.maria).actions(&["settings.view", "plan.view"]).send().await;
    assert_eq!(r["status"], "approved");
    assert_eq!(r["needs_approval"], false);
    assert_eq!(r["decided_by"], "policy");
    assert_eq!(r["granted_minutes"], 15);
    let approved = app.events_of_type("request.approved").await;
    assert_eq!(approved.len(), 1);
    assert_eq!(approved[0]["actor"]["kind"], "policy");
    assert!(approved[0]["text"]
        .as_str()
        .unwrap()
        .starts_with("Policy approved Maria Lopez's request under ticket 48192"));
});

backend_test!(async fn the_simple_support_case_runs_from_ticket_to_customer_note(app) {
    // Maria asks; the request waits for a lead.
    let r = app.request(&app.maria).actions(&["settings.view", "settings.update"]).minutes(20).send().await;
    assert_eq!(r["status"], "pending");
    let id = r.id.as_str();
    let (_, queue) = app.get("/api/v1/requests?status=pending", &app.sam).await;
    assert_eq!(queue["requests"][0]["id"], id);

    // Sam narrows it (drops settings.update, adds the invoice email) and shortens it.
    app.clock.advance(mins(1));
    let (s, v) = app.approve(&app.sam, id, json!({"actions": ["settings.view", "invoice_email.update"], "minutes": 15, "note": "email only"})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "approved");
    let (_, full) = app.get(&format!("/api/v1/requests/{id}"), &app.sam).await;
    let d = &full["decisions"][0];
    assert_eq!(d["kind"], "approve");
    assert_eq!(d["removed"], json!(["settings.update"]));
    assert_eq!(d["added"], json!(["invoice_email.update"]));
    assert_eq!(
        full["actions"].as_array().unwrap().len(),
        2,
        "the original request is kept"
    );

    // Maria starts it and gets a token for the host app.
    app.clock.advance(mins(1));
    let (s, started) = app.start(&app.maria, id).await;
    assert_eq!(s, StatusCode::CREATED, "{started}");
    let session = &started["session"];
    let sid = session["id"].as_str().unwrap();
    assert_eq!(session["state"], "live");
    assert_eq!(session["approver_name"], "Sam Lee");
    assert_eq!(session["scope"][1]["label"], "Update invoice email");
    let token = started["token"].as_str().unwrap();
    let c = claims(token);
    assert_eq!(c["iss"], app.base);
    assert_eq!(c["aud"], app.app_id);
    assert_eq!(c["sub"], "acct_42");
    assert_eq!(c["act"], json!({"sub": "maria", "name": "Maria Lopez"}));
    assert_eq!(c["sid"], sid);
    assert_eq!(c["scope"], "settings.view invoice_email.update");
    assert_eq!(c["ticket"], "48192");
    assert_eq!(
        c["exp"].as_i64().unwrap(),
        chrono::DateTime::parse_from_rfc3339(session["ends_at"].as_str().unwrap())
            .unwrap()
            .timestamp()
    );
    assert!(c["jti"].is_string() && c["iat"].is_i64());
    assert_eq!(jws_header(token)["alg"], "EdDSA");
    assert!(jws_header(token)["kid"].is_string());

    // The host app asks before each change.
    app.clock.advance(mins(1));
    let v = app
        .authorize_with(token, "invoice_email.update", json!({"target": {"account_id": "acct_42"}, "changes": [{"field": "invoice_email", "old": "old@acme.test", "new": "new@acme.test"}]}))
        .await;
    assert!(v.allowed, "{v:?}");
    assert_eq!(v.reason.as_str(), "ok");
    let v = app.authorize(token, "billing.update").await;
    assert_eq!((v.allowed, v.reason.as_str()), (false, "not_in_scope"));

    // Maria ends it; the token is refused from then on.
    app.clock.advance(mins(1));
    let (s, ended) = app.end(&app.maria, sid).await;
    assert_eq!(s, StatusCode::OK, "{ended}");
    assert_eq!(ended["end_reason"], "ended");
    let v = app.authorize(token, "settings.view").await;
    assert_eq!(v.reason.as_str(), "session_ended");

    // The story in plain words.
    let (_, tl) = app
        .get(&format!("/api/v1/sessions/{sid}/timeline"), &app.audrey)
        .await;
    let lines: Vec<&str> = tl["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    insta::assert_snapshot!("simple_case_timeline", lines.join("\n"));

    // The customer sees it, and a note is queued for the host app.
    let log = app.client.access_log("acct_42").await.unwrap();
    let entry = &log.entries[0];
    assert_eq!(entry.agent_name, "Maria Lopez");
    assert_eq!(entry.approver_name, "Sam Lee");
    assert_eq!(entry.changes, ["changed invoice email from old@acme.test to new@acme.test"]);
    let notices = app.client.notices(0).await.unwrap();
    let n = &notices[0];
    assert_eq!(n.session_id, sid);
    assert!(n.text.contains("Maria Lopez from support accessed your account"), "{n:?}");
    app.client.notice_delivered(&n.id).await.unwrap();
    let again = app.client.notice_delivered(&n.id).await;
    assert!(matches!(&again, Err(actas_client::ClientError::Api(p)) if p.status == 409), "{again:?}");
    assert_eq!(app.events_of_type("customer.notified").await.len(), 1);

    let v = app.verify().await;
    assert_eq!(v["ok"], true, "{v}");
});

backend_test!(async fn a_denial_needs_a_note_and_is_recorded(app) {
    let id = &app.request(&app.maria).actions(&["refund.issue"]).send().await.id;
    let (s, v) = app
        .post(
            &format!("/api/v1/requests/{id}/deny"),
            &app.sam,
            json!({"note": "Refunds go through finance"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "denied");
    let denied = app.events_of_type("request.denied").await;
    assert_eq!(
        denied[0]["text"],
        "Sam Lee denied Maria Lopez's request under ticket 48192: \"Refunds go through finance\"."
    );
    assert_problem(&app.start(&app.maria, id).await, 409, "not-approved");
});

backend_test!(async fn the_requester_may_withdraw_a_pending_request(app) {
    let id = app.request(&app.maria).actions(&["refund.issue"]).send().await.id;
    assert_problem(
        &app.post(
            &format!("/api/v1/requests/{id}/withdraw"),
            &app.jon,
            json!({}),
        )
        .await,
        403,
        "not-requester",
    );
    let (s, v) = app
        .post(
            &format!("/api/v1/requests/{id}/withdraw"),
            &app.maria,
            json!({}),
        )
        .await;
    assert_eq!(
        (s, v["status"].clone()),
        (StatusCode::OK, json!("withdrawn"))
    );
    assert_problem(
        &app.approve(&app.sam, &id, json!({})).await,
        409,
        "already-decided",
    );
    assert_eq!(app.events_of_type("request.withdrawn").await.len(), 1);
});

backend_test!(async fn concurrent_decisions_on_one_request_have_exactly_one_winner(app) {
    for round in 0..10 {
        let id = app.request(&app.maria).actions(&["settings.update"]).send().await.id;
        let mut tasks = Vec::new();
        for i in 0..8 {
            let (http, base, token, id) = (
                app.http.clone(),
                app.base.clone(),
                if i % 2 == 0 {
                    app.sam.clone()
                } else {
                    app.lena.clone()
                },
                id.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let path = if i % 3 == 0 { "deny" } else { "approve" };
                http.post(format!("{base}/api/v1/requests/{id}/{path}"))
                    .bearer_auth(token)
                    .json(&json!({"note": "no"}))
                    .send()
                    .await
                    .unwrap()
                    .status()
            }));
        }
        let mut statuses = Vec::new();
        for t in tasks {
            statuses.push(t.await.unwrap());
        }
        assert_eq!(
            statuses.iter().filter(|s| **s == StatusCode::OK).count(),
            1,
            "round {round}: {statuses:?}"
        );
        assert_eq!(
            statuses
                .iter()
                .filter(|s| **s == StatusCode::CONFLICT)
                .count(),
            7,
            "round {round}: {statuses:?}"
        );
        let (_, full) = app.get(&format!("/api/v1/requests/{id}"), &app.sam).await;
        assert_eq!(full["decisions"].as_array().unwrap().len(), 1);
        // Withdraw approved ones so the agent never holds several startable requests.
        let _ = app
            .post(
                &format!("/api/v1/requests/{id}/withdraw"),
                &app.maria,
                json!({}),
            )
            .await;
    }
    let decided = app
        .events()
        .await
        .into_iter()
        .filter(|e| e["type"] == "request.approved" || e["type"] == "request.denied")
        .count();
    assert_eq!(decided, 10);
});

backend_test!(async fn an_agent_holds_at_most_one_live_session_even_when_starting_twice_at_once(app) {
    let a = app.request(&app.maria).actions(&["settings.view"]).send().await.id;
    let b = app.request(&app.maria).actions(&["plan.view"]).send().await.id;
    let (x, y) = tokio::join!(app.start(&app.maria, &a), app.start(&app.maria, &b));
    let mut statuses = [x.0, y.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::CREATED, StatusCode::CONFLICT],
        "{} {}",
        x.1,
        y.1
    );
    let loser = if x.0 == StatusCode::CONFLICT { x } else { y };
    assert_problem(&loser, 409, "live-session-exists");
    assert_eq!(app.events_of_type("session.started").await.len(), 1);
});

backend_test!(async fn a_scope_change_is_approved_and_grows_the_live_session(app) {
    let LiveSession { id: sid, token, .. } = app.session(&app.maria).actions(&["settings.view"]).minutes(20).start().await;
    let v = app.authorize(&token, "billing.update").await;
    assert_eq!(v.reason.as_str(), "not_in_scope");
    let (s, r) = app.post(&format!("/api/v1/sessions/{sid}/scope"), &app.maria, json!({"actions": ["billing.update"], "reason": "Card on file expired, customer asked us to update it"})).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(
        (r["kind"].clone(), r["status"].clone()),
        (json!("scope"), json!("pending"))
    );
    let rid = r["id"].as_str().unwrap();
    assert_problem(
        &app.approve(&app.maria, rid, json!({})).await,
        403,
        "role-required",
    );
    let (s, v) = app.approve(&app.sam, rid, json!({})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let v = app.authorize(&token, "billing.update").await;
    assert!(v.allowed, "{v:?}");
    let changed = app.events_of_type("scope.changed").await;
    assert_eq!(changed[0]["data"]["old"], json!(["settings.view"]));
    assert_eq!(
        changed[0]["data"]["new"],
        json!(["settings.view", "billing.update"])
    );
    assert_eq!(app.events_of_type("scope.requested").await.len(), 1);
    assert_eq!(app.events_of_type("scope.approved").await.len(), 1);
    let (_, session) = app.get(&format!("/api/v1/sessions/{sid}"), &app.sam).await;
    assert_eq!(session["scope"].as_array().unwrap().len(), 2);
});

backend_test!(async fn a_scope_change_in_new_session_mode_ends_the_old_session(app = {
    let src = actas_core::policy::DEFAULT_POLICY_TOML.replace(
        "scope_change = \"reapprove\"",
        "scope_change = \"new_session\"",
    );
    actas_core::policy::Policy::parse(&src).unwrap()
}) {
    let LiveSession { id: sid, token, .. } = app.session(&app.maria).actions(&["settings.view"]).start().await;
    let (_, r) = app.post(&format!("/api/v1/sessions/{sid}/scope"), &app.maria, json!({"actions": ["billing.update"], "reason": "Card on file expired, customer asked us to update it"})).await;
    let rid = r["id"].as_str().unwrap();
    let (s, _) = app.approve(&app.sam, rid, json!({})).await;
    assert_eq!(s, StatusCode::OK);
    let (_, old) = app.get(&format!("/api/v1/sessions/{sid}"), &app.sam).await;
    assert_eq!(
        (old["state"].clone(), old["end_reason"].clone()),
        (json!("ended"), json!("superseded"))
    );
    let v = app.authorize(&token, "settings.view").await;
    assert_eq!(v.reason.as_str(), "session_ended");
    let (s, started) = app.start(&app.maria, rid).await;
    assert_eq!(s, StatusCode::CREATED, "{started}");
    let scope: Vec<&str> = started["session"]["scope"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(scope, ["settings.view", "billing.update"]);
    let v = app.authorize(started["token"].as_str().unwrap(), "billing.update").await;
    assert!(v.allowed, "{v:?}");
});

backend_test!(async fn a_lead_revokes_a_session_with_a_note(app) {
    let LiveSession { id: sid, token, .. } = app.session(&app.maria).actions(&["settings.view"]).start().await;
    assert_problem(
        &app.post(
            &format!("/api/v1/sessions/{sid}/revoke"),
            &app.sam,
            json!({}),
        )
        .await,
        422,
        "note-required",
    );
    assert_problem(
        &app.post(
            &format!("/api/v1/sessions/{sid}/revoke"),
            &app.maria,
            json!({"note": "x"}),
        )
        .await,
        403,
        "role-required",
    );
    let (s, v) = app
        .post(
            &format!("/api/v1/sessions/{sid}/revoke"),
            &app.sam,
            json!({"note": "Wrong customer"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["end_reason"], "revoked");
    let v = app.authorize(&token, "settings.view").await;
    assert_eq!(v.reason.as_str(), "session_revoked");
    assert_problem(
        &app.post(
            &format!("/api/v1/sessions/{sid}/revoke"),
            &app.sam,
            json!({"note": "again"}),
        )
        .await,
        409,
        "session-ended",
    );
    let revoked = app.events_of_type("session.revoked").await;
    assert!(revoked[0]["text"].as_str().unwrap().starts_with("Sam Lee revoked Maria Lopez's session on Acme Corp (acct_42) at 14:00 UTC: \"Wrong customer\""));
});

backend_test!(async fn disabling_an_agent_ends_their_session_and_their_credentials(app) {
    let LiveSession { id: sid, token, .. } = app.session(&app.maria).actions(&["settings.view"]).start().await;
    actas_server::service::disable_staff(
        &app.ctx,
        actas_core::audit::Actor::staff("ada", "Ada Quinn"),
        "maria",
    )
    .await
    .unwrap();
    let (_, s) = app.get(&format!("/api/v1/sessions/{sid}"), &app.sam).await;
    assert_eq!(s["end_reason"], "staff_disabled");
    let v = app.authorize(&token, "settings.view").await;
    assert_eq!(v.reason.as_str(), "staff_disabled");
    assert_problem(
        &app.get("/api/v1/requests", &app.maria).await,
        401,
        "unauthorized",
    );
    assert_eq!(app.events_of_type("staff.disabled").await.len(), 1);
});

backend_test!(async fn a_rotated_key_is_published_beside_the_old_one_and_both_verify(app) {
    let old_token = app.session(&app.maria).actions(&["settings.view"]).start().await.token;
    let old_kid = jws_header(&old_token)["kid"].as_str().unwrap().to_string();
    let now = app.clock.now();
    let new_kid = app
        .ctx
        .keys
        .rotate(&app.ctx.store, now, actas_core::audit::Actor::system(), actas_store::KeyRole::Token)
        .await
        .unwrap();
    assert_ne!(old_kid, new_kid);
    let (_, jwks) = app
        .send(reqwest::Method::GET, "/.well-known/jwks.json", None, None)
        .await;
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(
        kids.contains(&old_kid.as_str()) && kids.contains(&new_kid.as_str()),
        "{jwks}"
    );
    assert_eq!(jwks["keys"][0]["kty"], "OKP");
    assert_eq!(jwks["keys"][0]["crv"], "Ed25519");
    let v = app.authorize(&old_token, "settings.view").await;
    assert!(v.allowed, "a token of the old key still works while its session lives");
    // Long after every session of the old key has ended, it is no longer published.
    app.clock.advance(mins(60));
    let (_, jwks) = app
        .send(reqwest::Method::GET, "/.well-known/jwks.json", None, None)
        .await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    // The first token key, the first checkpoint key, then the rotation.
    assert_eq!(app.events_of_type("key.rotated").await.len(), 3);
});

backend_test!(async fn health_names_the_database_the_server_runs_on(app) {
    let (s, v) = app.get("/healthz", "").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "ok");
    let want = match app.backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres(_) => "postgres",
    };
    assert_eq!(v["database"], want, "{v}");
});
