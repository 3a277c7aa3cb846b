//! Step-up for one change (SPEC §10): asked mid-session, decided by a
//! lead, used by exactly one matching `authorize`, once, within 5 minutes;
//! the session's scope never grows.

use reqwest::StatusCode;
use serde_json::{json, Value};

use actas_server::testing::*;

const REASON: &str = "Customer asked to move from Pro to Basic before the renewal on the 1st";

/// Maria's live session that may only view settings, and its token.
async fn viewing(app: &TestApp) -> LiveSession {
    app.session(&app.maria).actions(&["settings.view"]).start().await
}

async fn ask(app: &TestApp, bearer: &str, sid: &str, body: Value) -> (StatusCode, Value) {
    app.post(&format!("/api/v1/sessions/{sid}/stepup"), bearer, body).await
}

fn plan_to_basic() -> Value {
    json!({
        "action": "billing.update",
        "target": {"type": "subscription", "id": "sub_9"},
        "changes": [{"field": "plan", "old": "Pro", "new": "Basic"}],
        "reason": REASON,
    })
}

fn plan_change(new: &str) -> Value {
    json!({"target": {"type": "subscription", "id": "sub_9"}, "changes": [{"field": "plan", "old": "Pro", "new": new}]})
}

/// The stored request, as the store keeps it.
async fn stored(app: &TestApp, id: &str) -> actas_core::model::Request {
    let id = id.to_string();
    app.ctx
        .store
        .read(actas_store::read_fn(move |tx| Box::pin(async move { tx.get_request(&id).await })))
        .await
        .unwrap()
        .expect("the request is stored")
}

backend_test!(async fn a_step_up_lets_exactly_one_matching_change_through_once_and_the_scope_never_grows(app) {
    let s = viewing(&app).await;
    assert!(!app.authorize_with(&s.token, "billing.update", plan_change("Basic")).await.allowed);

    let (st, r) = ask(&app, &app.maria, &s.id, plan_to_basic()).await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    assert_eq!(r["kind"], "stepup");
    assert_eq!(r["status"], "pending");
    assert_eq!(r["needs_approval"], true);
    assert_eq!(r["session_id"], s.id.as_str());
    assert_eq!(r["actions"], json!([{"name": "billing.update", "label": "Change billing details"}]));
    assert_eq!(
        r["stepup"],
        json!({"target": {"account_id": null, "type": "subscription", "id": "sub_9"},
               "changes": [{"field": "plan", "old": "Pro", "new": "Basic"}]})
    );
    let id = r["id"].as_str().unwrap();
    let (_, queue) = app.get("/api/v1/requests?status=pending", &app.sam).await;
    assert!(queue["requests"].as_array().unwrap().iter().any(|q| q["id"] == id), "{queue}");

    // Not yet approved: still refused.
    assert!(!app.authorize_with(&s.token, "billing.update", plan_change("Basic")).await.allowed);

    app.clock.advance(mins(1));
    let (st, v) = app.approve(&app.sam, id, json!({"note": "Downgrade confirmed by the owner"})).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "approved");
    let use_by = app.clock.now() + mins(5);
    assert_eq!(v["start_by"], json!(use_by));

    let (_, session) = app.get(&format!("/api/v1/sessions/{}", s.id), &s.token).await;
    assert_eq!(session["stepups"][0]["id"], id);
    assert_eq!(session["stepups"][0]["status"], "approved");
    assert_eq!(session["stepups"][0]["decided_by"], "Sam Lee");
    assert_eq!(session["stepups"][0]["use_by"], json!(use_by));
    assert_eq!(session["scope"], json!([{"name": "settings.view", "label": "View account settings"}]));

    // Another value, another target, another action: refused, and the step-up is kept.
    assert!(!app.authorize_with(&s.token, "billing.update", plan_change("Enterprise")).await.allowed);
    let other_target = json!({"target": {"type": "subscription", "id": "sub_10"}, "changes": [{"field": "plan", "new": "Basic"}]});
    assert!(!app.authorize_with(&s.token, "billing.update", other_target).await.allowed);
    assert!(!app.authorize_with(&s.token, "refund.issue", plan_change("Basic")).await.allowed);

    // The change asked for: once.
    let yes = app.authorize_with(&s.token, "billing.update", plan_change("Basic")).await;
    assert!(yes.allowed, "{yes:?}");
    let again = app.authorize_with(&s.token, "billing.update", plan_change("Basic")).await;
    assert!(!again.allowed);
    assert_eq!(serde_json::to_value(again.reason).unwrap(), "not_in_scope");

    let (_, r) = app.get(&format!("/api/v1/requests/{id}"), &app.sam).await;
    assert_eq!(r["status"], "used");
    assert!(stored(&app, id).await.stepup.unwrap().values.is_none(), "the new values' digest is dropped once used");
    let (_, session) = app.get(&format!("/api/v1/sessions/{}", s.id), &app.maria).await;
    assert_eq!(session["stepups"][0]["status"], "used");
    assert_eq!(session["stepups"][0]["use_by"], Value::Null);
    assert_eq!(session["scope"].as_array().unwrap().len(), 1, "the scope never grows");

    let used = app.events_of_type("stepup.used").await;
    assert_eq!(used.len(), 1);
    let performed = app.events_of_type("action.performed").await;
    assert_eq!(used[0]["data"]["performed"], performed.last().unwrap()["id"]);
    assert_eq!(performed.last().unwrap()["id"].as_str(), yes.event_id.as_ref().map(|e| e.as_str()));
    assert_eq!(used[0]["session_id"], s.id.as_str());
    assert_eq!(used[0]["request_id"], id);
    assert_eq!(used[0]["actor"]["id"], "maria");
    for (kind, starts) in [
        ("stepup.requested", "Maria Lopez asked a lead for one change on Acme Corp (acct_42) under ticket 48192: Change billing details (plan from Pro to Basic on subscription sub_9)"),
        ("stepup.approved", "Sam Lee approved one change for Maria Lopez on Acme Corp (acct_42) under ticket 48192: Change billing details (plan from Pro to Basic on subscription sub_9), once, until"),
        ("stepup.used", "Maria Lopez made the one approved change on Acme Corp (acct_42)"),
    ] {
        let e = app.events_of_type(kind).await;
        assert_eq!(e.len(), 1, "{kind}");
        assert!(e[0]["text"].as_str().unwrap().starts_with(starts), "{kind}: {}", e[0]["text"]);
        assert_eq!(e[0]["session_id"], s.id.as_str(), "{kind} is in the session's timeline");
    }
    assert!(app.events_of_type("scope.changed").await.is_empty());
    let (_, timeline) = app.get(&format!("/api/v1/sessions/{}/timeline", s.id), &app.sam).await;
    let kinds: Vec<&str> = timeline["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    for kind in ["stepup.requested", "stepup.approved", "action.performed", "stepup.used"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    assert_eq!(app.verify().await["ok"], true);
});

backend_test!(async fn an_approved_step_up_lapses_unused_after_five_minutes(app) {
    let s = viewing(&app).await;
    let (_, r) = ask(&app, &app.maria, &s.id, plan_to_basic()).await;
    let id = r["id"].as_str().unwrap();
    app.approve(&app.sam, id, json!({})).await;
    app.clock.advance(mins(5));
    assert!(!app.authorize_with(&s.token, "billing.update", plan_change("Basic")).await.allowed, "5 minutes at most");
    actas_server::service::reap(&app.ctx).await.unwrap();
    let (_, r) = app.get(&format!("/api/v1/requests/{id}"), &app.sam).await;
    assert_eq!(r["status"], "expired");
    assert!(stored(&app, id).await.stepup.unwrap().values.is_none());
    let expired = app.events_of_type("request.expired").await;
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0]["session_id"], s.id.as_str());
    assert!(expired[0]["text"].as_str().unwrap().contains("approval for one change"), "{}", expired[0]["text"]);
});

backend_test!(async fn a_denied_step_up_allows_nothing_and_the_banner_reads_why(app) {
    let s = viewing(&app).await;
    let (_, r) = ask(&app, &app.maria, &s.id, plan_to_basic()).await;
    let id = r["id"].as_str().unwrap();
    let (st, v) = app.post(&format!("/api/v1/requests/{id}/deny"), &app.sam, json!({"note": "The owner must ask"})).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert!(!app.authorize_with(&s.token, "billing.update", plan_change("Basic")).await.allowed);
    let (_, session) = app.get(&format!("/api/v1/sessions/{}", s.id), &s.token).await;
    assert_eq!(session["stepups"][0]["status"], "denied");
    assert_eq!(session["stepups"][0]["decision_note"], "The owner must ask");
    assert!(stored(&app, id).await.stepup.unwrap().values.is_none());
    let denied = app.events_of_type("stepup.denied").await;
    assert_eq!(denied[0]["text"], "Sam Lee denied Maria Lopez's request for one change under ticket 48192: \"The owner must ask\".");
});

backend_test!(async fn a_withdrawn_step_up_allows_nothing_and_its_values_are_dropped(app) {
    let s = viewing(&app).await;
    let (_, r) = ask(&app, &app.maria, &s.id, plan_to_basic()).await;
    let id = r["id"].as_str().unwrap();
    assert!(stored(&app, id).await.stepup.unwrap().values.is_some(), "kept while it waits");
    // Only the agent who asked withdraws it.
    let (st, _) = app.post(&format!("/api/v1/requests/{id}/withdraw"), &app.jon, json!({})).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, v) = app.post(&format!("/api/v1/requests/{id}/withdraw"), &app.maria, json!({})).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "withdrawn");
    assert!(stored(&app, id).await.stepup.unwrap().values.is_none(), "the new values' digest is dropped");
    // A lead can no longer approve it, and nothing goes through.
    assert_problem(&app.approve(&app.sam, id, json!({})).await, 409, "already-decided");
    assert!(!app.authorize_with(&s.token, "billing.update", plan_change("Basic")).await.allowed);
    let withdrawn = app.events_of_type("request.withdrawn").await;
    assert_eq!(withdrawn.len(), 1);
    assert_eq!(withdrawn[0]["session_id"], s.id.as_str());
});

backend_test!(async fn the_host_app_asks_with_the_sessions_token_in_the_agents_name(app) {
    let s = viewing(&app).await;
    let (st, r) = ask(&app, &s.token, &s.id, plan_to_basic()).await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    assert_eq!(r["requester"], "maria");
    let e = app.events_of_type("stepup.requested").await;
    assert_eq!(e[0]["actor"], json!({"kind": "staff", "id": "maria", "name": "Maria Lopez"}));
    // Maria cannot approve her own; a lead can.
    assert_problem(&app.approve(&app.maria, r["id"].as_str().unwrap(), json!({})).await, 403, "role-required");
});

backend_test!(async fn without_named_changes_any_change_of_that_action_goes_through_once(app) {
    let s = viewing(&app).await;
    let (_, r) = ask(&app, &app.maria, &s.id, json!({"action": "sync.reset", "reason": "Customer's bank sync is stuck since the card was replaced"})).await;
    app.approve(&app.sam, r["id"].as_str().unwrap(), json!({})).await;
    let yes = app.authorize_with(&s.token, "sync.reset", json!({"changes": [{"field": "cursor", "new": "0"}]})).await;
    assert!(yes.allowed);
    assert!(!app.authorize(&s.token, "sync.reset").await.allowed);
});

backend_test!(async fn values_the_policy_does_not_store_are_matched_but_never_kept(app) {
    let s = viewing(&app).await;
    let body = json!({"action": "billing.update", "changes": [{"field": "card_number", "new": "4242424242424242"}], "reason": REASON});
    let (_, r) = ask(&app, &app.maria, &s.id, body).await;
    assert_eq!(r["stepup"]["changes"][0]["new"], "(value not stored)");
    app.approve(&app.sam, r["id"].as_str().unwrap(), json!({})).await;
    let wrong = json!({"changes": [{"field": "card_number", "new": "4000000000000002"}]});
    assert!(!app.authorize_with(&s.token, "billing.update", wrong).await.allowed);
    let right = json!({"changes": [{"field": "card_number", "new": "4242424242424242"}]});
    assert!(app.authorize_with(&s.token, "billing.update", right).await.allowed);
    let all = serde_json::to_string(&app.events().await).unwrap();
    assert!(!all.contains("4242424242424242"));
    let row = serde_json::to_string(&stored(&app, r["id"].as_str().unwrap()).await.stepup).unwrap();
    assert!(!row.contains("4242424242424242"), "{row}");
});

backend_test!(async fn a_step_up_that_breaks_a_rule_is_refused_audited_and_stores_nothing_else(app = {
    let src = format!(
        "{}\n[[action]]\nname = \"account.delete\"\nlabel = \"Delete the whole account\"\nkind = \"change\"\napproval = \"forbidden\"\n",
        actas_core::policy::DEFAULT_POLICY_TOML
    );
    actas_core::policy::Policy::parse(&src).unwrap()
}) {
    let s = viewing(&app).await;
    let cases = [
        (json!({"action": "no.such", "reason": REASON}), "unknown-action"),
        (json!({"action": "account.delete", "reason": REASON}), "forbidden-action"),
        (json!({"action": "plan.view", "reason": REASON}), "not-a-change"),
        (json!({"action": "billing.update", "target": {"account_id": "acct_7"}, "reason": REASON}), "wrong-account"),
        (json!({"action": "billing.update", "reason": "need access"}), "reason-vague"),
        (json!({"action": "billing.update", "reason": "Checking the customer account please"}), "reason-vague"),
    ];
    for (body, slug) in cases {
        let before = app.counts().await;
        let got = ask(&app, &app.maria, &s.id, body).await;
        assert_problem(&got, 422, slug);
        let after = app.counts().await;
        assert_eq!(after.requests, before.requests, "{slug}: no request was stored");
        assert_eq!(after.sessions, before.sessions, "{slug}");
        assert_eq!(after.events, before.events + 1, "{slug}: exactly one event, the refusal");
        let refused = app.events_of_type("request.refused").await;
        let last = refused.last().unwrap();
        assert_eq!(last["data"]["code"], slug);
        assert_eq!(last["session_id"], s.id.as_str());
        assert_eq!(last["data"]["asked"]["session_id"], s.id.as_str());
    }
    // An action the scope has already: nothing new to ask.
    let s2 = app.session(&app.jon).actions(&["settings.view", "billing.update"]).approved_by(&app.sam).start().await;
    let got = ask(&app, &app.jon, &s2.id, json!({"action": "billing.update", "reason": REASON})).await;
    assert_problem(&got, 422, "nothing-new");
});

backend_test!(async fn refusals_that_are_not_rules_change_nothing(app) {
    let s = viewing(&app).await;
    // Malformed bodies: 400, nothing stored, nothing audited.
    for body in [
        json!({"action": "billing.update"}),
        json!({"action": "billing.update", "reason": REASON, "scope": ["x"]}),
        json!({"action": "", "reason": REASON}),
        json!({"action": "billing.update", "reason": REASON, "changes": [{"field": ""}]}),
    ] {
        let before = app.counts().await;
        let got = ask(&app, &app.maria, &s.id, body.clone()).await;
        assert_eq!(got.0, StatusCode::BAD_REQUEST, "{body}: {}", got.1);
        assert_eq!(app.counts().await, before, "{body}");
    }
    // A step-up is approved as asked: no narrowing, no minutes.
    let (_, r) = ask(&app, &app.maria, &s.id, plan_to_basic()).await;
    let id = r["id"].as_str().unwrap();
    for body in [json!({"actions": ["billing.update", "refund.issue"]}), json!({"minutes": 30})] {
        let before = app.counts().await;
        assert_problem(&app.approve(&app.sam, id, body).await, 422, "stepup-as-asked");
        assert_eq!(app.counts().await, before);
    }
    // It starts no session.
    let before = app.counts().await;
    app.approve(&app.sam, id, json!({})).await;
    let mid = app.counts().await;
    assert_ne!(mid, before);
    assert_problem(&app.start(&app.maria, id).await, 409, "not-startable");
    assert_eq!(app.counts().await, mid);
    // A lead cannot approve it twice.
    assert_problem(&app.approve(&app.lena, id, json!({})).await, 409, "already-decided");
    assert_eq!(app.counts().await, mid);
});

backend_test!(async fn a_session_that_ended_takes_no_step_up_and_uses_none(app) {
    let s = viewing(&app).await;
    let (_, pending) = ask(&app, &app.maria, &s.id, plan_to_basic()).await;
    let (_, approved) =
        ask(&app, &app.maria, &s.id, json!({"action": "sync.reset", "reason": "Customer's bank sync is stuck since the card was replaced"})).await;
    app.approve(&app.sam, approved["id"].as_str().unwrap(), json!({})).await;
    app.end(&app.maria, &s.id).await;

    let before = app.counts().await;
    assert_problem(&ask(&app, &app.maria, &s.id, plan_to_basic()).await, 409, "session-ended");
    assert_problem(&app.approve(&app.sam, pending["id"].as_str().unwrap(), json!({})).await, 409, "session-ended");
    assert_eq!(app.counts().await, before);
    // The token of an ended session asks nothing either.
    let got = ask(&app, &s.token, &s.id, plan_to_basic()).await;
    assert!(matches!(got.0.as_u16(), 401 | 403 | 409), "{got:?}");
    assert_eq!(app.counts().await, before);
    // Its approved step-up is used by nothing: the session is over.
    let no = app.authorize(&s.token, "sync.reset").await;
    assert!(!no.allowed);
    assert_eq!(serde_json::to_value(no.reason).unwrap(), "session_ended");
    let (_, r) = app.get(&format!("/api/v1/requests/{}", approved["id"].as_str().unwrap()), &app.sam).await;
    assert_eq!(r["status"], "approved");
});

backend_test!(async fn a_step_up_of_another_agents_session_is_refused(app) {
    let s = viewing(&app).await;
    let before = app.counts().await;
    assert_problem(&ask(&app, &app.jon, &s.id, plan_to_basic()).await, 403, "not-session-agent");
    assert_problem(&ask(&app, &app.sam, &s.id, plan_to_basic()).await, 403, "not-session-agent");
    assert_problem(&ask(&app, &app.audrey, &s.id, plan_to_basic()).await, 403, "role-required");
    assert_eq!(app.counts().await, before);
});
