//! Every refusal: the status, the problem type, the audit event where the
//! SPEC asks for one, and proof that nothing else changed.

use reqwest::StatusCode;
use serde_json::{json, Value};

use actas_server::testing::*;

async fn refused_request(app: &TestApp, body: Value, slug: &str) {
    let before = app.counts().await;
    let got = app.post("/api/v1/requests", &app.maria, body).await;
    assert_problem(&got, 422, slug);
    let after = app.counts().await;
    assert_eq!(after.requests, before.requests, "no request was stored");
    assert_eq!(after.sessions, before.sessions);
    assert_eq!(after.events, before.events + 1, "exactly one event: the refusal");
    let refused = app.events_of_type("request.refused").await;
    let last = refused.last().unwrap();
    assert_eq!(last["data"]["code"], slug);
    assert_eq!(last["actor"]["id"], "maria");
    assert!(last["text"].as_str().unwrap().starts_with("Maria Lopez's request"), "{last}");
}

backend_test!(async fn a_vague_reason_is_refused_and_audited(app) {
    for reason in ["need access", "Need access!!", "  CHECK   account. "] {
        refused_request(
            &app,
            json!({"ticket": "48192", "reason": reason, "actions": ["settings.view"]}),
            "reason-vague",
        )
        .await;
    }
});

backend_test!(async fn a_reason_that_names_nothing_is_refused_and_audited(app) {
    for reason in ["Checking the customer account please", "Need to look at ticket 48192 for the customer"] {
        refused_request(
            &app,
            json!({"ticket": "48192", "reason": reason, "actions": ["settings.view"]}),
            "reason-vague",
        )
        .await;
    }
    // One specific word is enough when the ticket's subject has it.
    let got = app
        .post(
            "/api/v1/requests",
            &app.maria,
            json!({"ticket": "48192", "reason": "Checking the tax settings please", "actions": ["settings.view"]}),
        )
        .await;
    assert_eq!(got.0, StatusCode::CREATED, "{got:?}");
});

backend_test!(async fn a_short_or_missing_reason_is_refused_and_audited(app) {
    refused_request(
        &app,
        json!({"ticket": "48192", "reason": "tax broken", "actions": ["settings.view"]}),
        "reason-too-short",
    )
    .await;
    refused_request(
        &app,
        json!({"ticket": "48192", "reason": "   ", "actions": ["settings.view"]}),
        "reason-required",
    )
    .await;
});

backend_test!(async fn unknown_and_forbidden_actions_are_refused_and_audited(app = {
    let src = format!(
        "{}\n[[action]]\nname = \"account.delete\"\nlabel = \"Delete the whole account\"\nkind = \"change\"\napproval = \"forbidden\"\n",
        actas_core::policy::DEFAULT_POLICY_TOML
    );
    actas_core::policy::Policy::parse(&src).unwrap()
}) {
    refused_request(
        &app,
        json!({"ticket": "48192", "reason": REASON, "actions": ["settings.view", "teleport.now"]}),
        "unknown-action",
    )
    .await;
    refused_request(
        &app,
        json!({"ticket": "48192", "reason": REASON, "actions": ["account.delete"]}),
        "forbidden-action",
    )
    .await;
    refused_request(
        &app,
        json!({"ticket": "48192", "reason": REASON, "actions": []}),
        "actions-required",
    )
    .await;
});

backend_test!(async fn a_duration_over_the_maximum_is_refused_and_audited(app) {
    refused_request(
        &app,
        json!({"ticket": "48192", "reason": REASON, "actions": ["settings.view"], "minutes": 31}),
        "duration-too-long",
    )
    .await;
    refused_request(
        &app,
        json!({"ticket": "48192", "reason": REASON, "actions": ["settings.view"], "minutes": 0}),
        "duration-invalid",
    )
    .await;
});

backend_test!(async fn an_account_other_than_the_tickets_is_refused_and_audited(app) {
    refused_request(&app, json!({"ticket": "48192", "account_id": "acct_7", "reason": REASON, "actions": ["settings.view"]}), "wrong-account").await;
    refused_request(
        &app,
        json!({"ticket": "99999", "reason": REASON, "actions": ["settings.view"]}),
        "unknown-ticket",
    )
    .await;
});

backend_test!(async fn self_approval_and_approval_beyond_ones_roles_are_refused(app) {
    // Sam is a lead and an agent: he may ask, but not approve his own request.
    let id = app.request(&app.sam).actions(&["settings.update"]).send().await.id;
    let before = app.counts().await;
    assert_problem(
        &app.approve(&app.sam, &id, json!({})).await,
        403,
        "self-approval",
    );
    assert_problem(
        &app.post(
            &format!("/api/v1/requests/{id}/deny"),
            &app.sam,
            json!({"note": "x"}),
        )
        .await,
        403,
        "self-approval",
    );
    // An admin decides no requests.
    assert_problem(
        &app.approve(&app.ada, &id, json!({})).await,
        403,
        "role-required",
    );
    // An agent cannot approve at all; nor can an auditor.
    assert_problem(
        &app.approve(&app.maria, &id, json!({})).await,
        403,
        "role-required",
    );
    assert_problem(
        &app.approve(&app.audrey, &id, json!({})).await,
        403,
        "role-required",
    );
    // An approver may not lengthen, nor grant an unknown action.
    assert_problem(
        &app.approve(&app.lena, &id, json!({"minutes": 25})).await,
        422,
        "duration-longer-than-asked",
    );
    assert_problem(
        &app.approve(&app.lena, &id, json!({"actions": ["nope.nope"]}))
            .await,
        422,
        "unknown-action",
    );
    assert_eq!(app.counts().await, before, "nothing changed");
    let (s, _) = app.approve(&app.lena, &id, json!({})).await;
    assert_eq!(s, StatusCode::OK);
});

backend_test!(async fn a_denial_without_a_note_and_a_second_decision_are_refused(app) {
    let id = app.request(&app.maria).actions(&["settings.update"]).send().await.id;
    let before = app.counts().await;
    assert_problem(
        &app.post(&format!("/api/v1/requests/{id}/deny"), &app.sam, json!({}))
            .await,
        422,
        "note-required",
    );
    assert_problem(
        &app.post(
            &format!("/api/v1/requests/{id}/deny"),
            &app.sam,
            json!({"note": "  "}),
        )
        .await,
        422,
        "note-required",
    );
    assert_eq!(app.counts().await, before);
    assert_eq!(
        app.approve(&app.sam, &id, json!({})).await.0,
        StatusCode::OK
    );
    let before = app.counts().await;
    assert_problem(
        &app.approve(&app.lena, &id, json!({})).await,
        409,
        "already-decided",
    );
    assert_problem(
        &app.post(
            &format!("/api/v1/requests/{id}/deny"),
            &app.lena,
            json!({"note": "late"}),
        )
        .await,
        409,
        "already-decided",
    );
    assert_eq!(app.counts().await, before);
});

backend_test!(async fn only_the_requester_starts_and_only_once_approved(app) {
    let pending = app.request(&app.maria).actions(&["settings.update"]).send().await.id;
    let before = app.counts().await;
    assert_problem(&app.start(&app.maria, &pending).await, 409, "not-approved");
    assert_eq!(app.counts().await, before);
    let approved = app.request(&app.maria).actions(&["settings.view"]).send().await.id;
    let before2 = app.counts().await;
    assert_problem(&app.start(&app.jon, &approved).await, 403, "not-requester");
    assert_problem(&app.start(&app.maria, "req_nope").await, 404, "not-found");
    assert_eq!(app.counts().await, before2);
});

backend_test!(async fn an_approval_not_started_in_time_expires(app) {
    let id = app.request(&app.maria).actions(&["settings.view"]).send().await.id;
    app.clock.advance(mins(10));
    assert_problem(&app.start(&app.maria, &id).await, 409, "approval-expired");
    let (_, r) = app.get(&format!("/api/v1/requests/{id}"), &app.sam).await;
    assert_eq!(r["status"], "expired");
    let expired = app.events_of_type("request.expired").await;
    assert_eq!(expired.len(), 1);
    assert_eq!(
        expired[0]["at"], "2026-11-25T14:10:00.000Z",
        "recorded at the deadline"
    );
    assert_eq!(app.events_of_type("session.started").await.len(), 0);
});

backend_test!(async fn ending_is_for_the_sessions_agent_and_happens_once(app) {
    let sid = app.session(&app.maria).actions(&["settings.view"]).start().await.id;
    let before = app.counts().await;
    assert_problem(
        &app.post(&format!("/api/v1/sessions/{sid}/end"), &app.jon, json!({}))
            .await,
        403,
        "not-session-agent",
    );
    assert_problem(
        &app.post(&format!("/api/v1/sessions/{sid}/end"), &app.sam, json!({}))
            .await,
        403,
        "not-session-agent",
    );
    assert_problem(
        &app.post(&format!("/api/v1/sessions/{sid}/end"), &app.app, json!({}))
            .await,
        403,
        "staff-only",
    );
    assert_eq!(app.counts().await, before);
    assert_eq!(
        app.post(
            &format!("/api/v1/sessions/{sid}/end"),
            &app.maria,
            json!({})
        )
        .await
        .0,
        StatusCode::OK
    );
    let before = app.counts().await;
    assert_problem(
        &app.post(
            &format!("/api/v1/sessions/{sid}/end"),
            &app.maria,
            json!({}),
        )
        .await,
        409,
        "session-ended",
    );
    assert_problem(
        &app.post(
            &format!("/api/v1/sessions/{sid}/heartbeat"),
            &app.maria,
            json!({}),
        )
        .await,
        409,
        "session-ended",
    );
    assert_eq!(app.counts().await, before);
});

backend_test!(async fn scope_requests_follow_the_same_rules(app) {
    let sid = app.session(&app.maria).actions(&["settings.view"]).start().await.id;
    let before = app.counts().await;
    assert_problem(
        &app.post(
            &format!("/api/v1/sessions/{sid}/scope"),
            &app.jon,
            json!({"actions": ["billing.update"], "reason": REASON}),
        )
        .await,
        403,
        "not-session-agent",
    );
    assert_eq!(app.counts().await, before);
    for (body, slug) in [
        (
            json!({"actions": ["billing.update"], "reason": "debug"}),
            "reason-vague",
        ),
        (
            json!({"actions": ["nope.nope"], "reason": REASON}),
            "unknown-action",
        ),
        (
            json!({"actions": ["settings.view"], "reason": REASON}),
            "nothing-new",
        ),
    ] {
        let before = app.counts().await;
        assert_problem(
            &app.post(&format!("/api/v1/sessions/{sid}/scope"), &app.maria, body)
                .await,
            422,
            slug,
        );
        let after = app.counts().await;
        assert_eq!(after.requests, before.requests);
        assert_eq!(after.events, before.events + 1);
        assert_eq!(
            app.events_of_type("request.refused").await.last().unwrap()["session_id"],
            sid
        );
    }
});

backend_test!(async fn malformed_bodies_are_refused_before_anything_happens(app) {
    let before = app.counts().await;
    let raw = |body: &'static str| {
        let app = &app;
        async move {
            let res = app
                .http
                .post(format!("{}/api/v1/requests", app.base))
                .bearer_auth(&app.maria)
                .body(body)
                .send()
                .await
                .unwrap();
            let status = res.status();
            let ct = res.headers()["content-type"].to_str().unwrap().to_string();
            let v: Value = res.json().await.unwrap();
            assert_eq!(ct, "application/problem+json");
            (status, v)
        }
    };
    assert_problem(&raw("{\"ticket\":").await, 400, "malformed-body");
    assert_problem(&raw("[1,2]").await, 400, "malformed-body");
    assert_problem(
        &raw("{\"ticket\":\"48192\",\"reason\":\"x\",\"actions\":[],\"colour\":\"red\"}").await,
        400,
        "malformed-body",
    );
    assert_problem(
        &raw("{\"ticket\":\"48192\",\"reason\":\"x\",\"actions\":\"settings.view\"}").await,
        400,
        "malformed-body",
    );
    let big = format!(
        "{{\"ticket\":\"48192\",\"reason\":\"{}\",\"actions\":[]}}",
        "x".repeat(70 * 1024)
    );
    let res = app
        .http
        .post(format!("{}/api/v1/requests", app.base))
        .bearer_auth(&app.maria)
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["type"], "urn:actas:problem:body-too-large");
    assert_problem(
        &app.get("/api/v1/audit?limit=5000", &app.audrey).await,
        400,
        "malformed-query",
    );
    assert_problem(
        &app.get("/api/v1/audit?type=nothing.happened", &app.audrey)
            .await,
        400,
        "malformed-query",
    );
    assert_problem(
        &app.get("/api/v1/audit?colour=red", &app.audrey).await,
        400,
        "malformed-query",
    );
    assert_problem(
        &app.get("/api/v1/nowhere", &app.audrey).await,
        404,
        "not-found",
    );
    assert_eq!(app.counts().await, before);
});

backend_test!(async fn an_oversized_authorize_call_is_refused_without_an_answer(app) {
    let token = app.session(&app.maria).actions(&["settings.view"]).start().await.token;
    let before = app.counts().await;
    let changes: Vec<Value> = (0..101)
        .map(|i| json!({"field": format!("f{i}"), "new": "x"}))
        .collect();
    let asked = json!({"token": token, "action": "settings.view", "changes": changes});
    assert_problem(&app.post("/api/v1/authorize", &app.app, asked).await, 400, "too-many");
    let asked = json!({"token": token, "action": ""});
    assert_problem(&app.post("/api/v1/authorize", &app.app, asked).await, 400, "invalid-body");
    assert_eq!(app.counts().await, before);
});
