//! The measures of success (`GET /api/v1/metrics/support`) on a seeded
//! story whose every figure is known, its CSV, its refusals, and the
//! Prometheus figures (`GET /metrics`).

use reqwest::StatusCode;
use serde_json::{json, Value};

use actas_server::testing::*;

/// A ticket whose tags name the playbook `settings_not_saving`; its ref
/// starts like a spreadsheet formula.
pub(crate) const PLAYBOOK_TICKET: &str = "=SET-1";

/// Four sessions, three under the playbook and one without, on the manual
/// clock (t0 = 14:00 UTC), plus a denial and two refusals:
///
/// | session | agent | request→decision | decision→start | start→end | used | note delivered |
/// |---|---|---|---|---|---|---|
/// | A | maria | 0 (policy) | 2 | 4 | settings.view | yes |
/// | B | jon | 3 | 1 | 6 | settings.update | no |
/// | C | maria | 5 | 0 | 8 | settings.view | yes |
/// | D | jon (48192, live) | 0 (policy) | 3 | - | - | - |
pub(crate) struct Story {
    /// A, B, C, D.
    pub(crate) ids: [String; 4],
}

pub(crate) async fn story(app: &TestApp) -> Story {
    let ticket = actas_api::NewTicket {
        reference: PLAYBOOK_TICKET.into(),
        account_id: "acct_42".into(),
        account_name: Some("Acme Corp".into()),
        subject: "Tax settings are not saving after the plan change".into(),
        tags: Some(vec!["settings".into()]),
        ..Default::default()
    };
    app.client.create_ticket(&ticket).await.unwrap();
    let view = ["settings.view", "activity.view"];
    let update = ["settings.view", "activity.view", "settings.update"];

    // 14:00 A asked (approved by policy) and B asked (pending).
    let a = app.request(&app.maria).ticket(PLAYBOOK_TICKET).actions(&view).send().await;
    assert_eq!(a["status"], "approved");
    let b = app.request(&app.jon).ticket(PLAYBOOK_TICKET).actions(&update).send().await;
    app.clock.advance(mins(2));
    // 14:02 A starts and views the settings.
    let (sa, ta) = start(app, &app.maria, &a.id).await;
    assert!(app.authorize(&ta, "settings.view").await.allowed);
    app.clock.advance(mins(1));
    // 14:03 B approved; 14:04 B starts, updates the settings, is refused billing.
    assert_eq!(app.approve(&app.lena, &b.id, json!({})).await.0, StatusCode::OK);
    app.clock.advance(mins(1));
    let (sb, tb) = start(app, &app.jon, &b.id).await;
    assert!(app.authorize(&tb, "settings.update").await.allowed);
    assert_eq!(app.authorize(&tb, "billing.update").await.reason.as_str(), "not_in_scope");
    app.clock.advance(mins(2));
    // 14:06 A ends; C asked.
    assert_eq!(app.end(&app.maria, &sa).await.0, StatusCode::OK);
    let c = app.request(&app.maria).ticket(PLAYBOOK_TICKET).actions(&update).send().await;
    app.clock.advance(mins(4));
    // 14:10 B ends; 14:11 C approved and started at once.
    assert_eq!(app.end(&app.jon, &sb).await.0, StatusCode::OK);
    app.clock.advance(mins(1));
    assert_eq!(app.approve(&app.lena, &c.id, json!({})).await.0, StatusCode::OK);
    let (sc, tc) = start(app, &app.maria, &c.id).await;
    assert!(app.authorize(&tc, "settings.view").await.allowed);
    app.clock.advance(mins(8));
    // 14:19 C ends; a request denied, one refused, and D asked (policy).
    assert_eq!(app.end(&app.maria, &sc).await.0, StatusCode::OK);
    let denied = app.request(&app.jon).actions(&["billing.update"]).send().await;
    let (s, _) = app
        .post(&format!("/api/v1/requests/{}/deny", denied.id), &app.lena, json!({"note": "Not needed for this ticket"}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app
        .post(
            "/api/v1/requests",
            &app.jon,
            json!({"ticket": "48192", "reason": "Customer cannot see the March invoice total", "actions": ["teleport.now"]}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let d = app.request(&app.jon).actions(&["plan.view"]).send().await;
    app.clock.advance(mins(3));
    // 14:22 D starts and stays live.
    let (sd, _) = start(app, &app.jon, &d.id).await;
    // The notes of A and C are delivered; B's is not.
    for n in app.client.notices(0).await.unwrap() {
        if n.session_id == sa || n.session_id == sc {
            app.client.notice_delivered(&n.id).await.unwrap();
        }
    }
    app.clock.advance(mins(1));
    Story { ids: [sa, sb, sc, sd] }
}

async fn start(app: &TestApp, agent: &str, request: &str) -> (String, String) {
    let (s, v) = app.start(agent, request).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    (v["session"]["id"].as_str().unwrap().to_string(), v["token"].as_str().unwrap().to_string())
}

backend_test!(async fn the_measures_of_success_of_a_known_story_are_exact(app) {
    let Story { ids: [_, sb, _, _] } = story(&app).await;
    let (s, m) = app.get("/api/v1/metrics/support", &app.lena).await;
    assert_eq!(s, StatusCode::OK, "{m}");
    assert_eq!(m["since"], "2026-10-26T14:23:00Z");
    assert_eq!(m["until"], "2026-11-25T14:23:00Z");
    assert_eq!(m["sessions"], json!({"started": 4, "ended": 3, "live": 1, "breakglass": 0, "awaiting_review": 0}));
    assert_eq!(
        m["median_minutes"],
        json!({"request_to_decision": 1.5, "decision_to_start": 1.5, "start_to_end": 6.0})
    );
    let actions = &m["actions"];
    assert_eq!((actions["granted"].clone(), actions["used"].clone()), (json!(9), json!(3)));
    assert_eq!(actions["used_share"], 0.3333);
    let playbook = &actions["playbooks"][0];
    assert_eq!(playbook["playbook"], "settings_not_saving");
    assert_eq!(playbook["label"], "Settings are not saving");
    assert_eq!((playbook["sessions"].clone(), playbook["granted"].clone(), playbook["used"].clone()), (json!(3), json!(8), json!(3)));
    assert_eq!(playbook["used_share"], 0.375);
    let counts: Vec<(String, u64, u64)> = playbook["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["action"].as_str().unwrap().to_string(), a["granted_in"].as_u64().unwrap(), a["used_in"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        counts,
        [("settings.view".to_string(), 3, 2), ("activity.view".to_string(), 3, 0), ("settings.update".to_string(), 2, 1)]
    );
    assert_eq!(actions["playbooks"][1]["playbook"], Value::Null);
    assert_eq!(actions["playbooks"][1]["used_share"], 0.0);
    assert_eq!(actions["playbooks"].as_array().unwrap().len(), 2);
    let suggestions = actions["suggestions"].as_array().unwrap();
    assert_eq!(suggestions.len(), 1, "{suggestions:?}");
    assert_eq!(suggestions[0]["action"], "activity.view");
    assert_eq!(
        suggestions[0]["text"],
        "Playbook settings_not_saving: \"View recent activity\" (activity.view) was granted in 3 of its 3 sessions and used in 0 of them; \
         consider leaving it out of the playbook and asking for it when a case needs it."
    );
    assert_eq!(m["denials"], json!({"total": 1, "by_reason": [{"reason": "Not needed for this ticket", "count": 1}]}));
    assert_eq!(m["refusals"]["requests"], json!({"total": 1, "by_reason": [{"reason": "unknown-action", "count": 1}]}));
    assert_eq!(m["refusals"]["authorize"], json!({"total": 1, "by_reason": [{"reason": "not_in_scope", "count": 1}]}));
    let e = &m["explainable"];
    assert_eq!((e["ended"].clone(), e["explainable"].clone(), e["share"].clone()), (json!(3), json!(2), json!(0.6667)));
    assert_eq!(
        e["not_explainable"],
        json!([{
            "session_id": sb, "ticket": PLAYBOOK_TICKET, "agent": "jon",
            "ended_at": "2026-11-25T14:10:00Z", "end_reason": "ended",
            "missing": ["the customer note was not delivered"],
        }])
    );

    // The auditor reads the same; a narrower window sees only what started in it.
    let (s, same) = app.get("/api/v1/metrics/support?team=", &app.audrey).await;
    assert_eq!((s, same), (StatusCode::OK, m));
    let (s, late) = app.get("/api/v1/metrics/support?since=2026-11-25T14:05:00Z&until=2026-11-25T14:20:00Z", &app.lena).await;
    assert_eq!(s, StatusCode::OK, "{late}");
    assert_eq!(late["sessions"], json!({"started": 1, "ended": 1, "live": 0, "breakglass": 0, "awaiting_review": 0}));
    assert_eq!(late["median_minutes"], json!({"request_to_decision": 5.0, "decision_to_start": 0.0, "start_to_end": 8.0}));
    assert_eq!(late["refusals"]["authorize"]["total"], 0);
    assert_eq!(late["denials"]["total"], 1);
});

backend_test!(async fn the_sessions_of_a_window_come_as_csv_one_row_each_and_never_a_formula(app) {
    let Story { ids: [sa, sb, sc, sd] } = story(&app).await;
    let res = app.http.get(app.url("/api/v1/metrics/support?format=csv")).bearer_auth(&app.audrey).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
    let body = res.text().await.unwrap();
    let want = format!(
        "session_id,ticket,agent,started_at,ended_at,end_reason,explainable,missing\n\
         {sa},'=SET-1,maria,2026-11-25T14:02:00.000Z,2026-11-25T14:06:00.000Z,ended,yes,\n\
         {sb},'=SET-1,jon,2026-11-25T14:04:00.000Z,2026-11-25T14:10:00.000Z,ended,no,the customer note was not delivered\n\
         {sc},'=SET-1,maria,2026-11-25T14:11:00.000Z,2026-11-25T14:19:00.000Z,ended,yes,\n\
         {sd},48192,jon,2026-11-25T14:22:00.000Z,,,,\n"
    );
    assert_eq!(body, want);
});

backend_test!(async fn the_support_metrics_refuse_other_roles_bad_windows_and_teams_and_change_nothing(app) {
    story(&app).await;
    let before = app.counts().await;
    for who in [&app.maria, &app.ada] {
        assert_problem(&app.get("/api/v1/metrics/support", who).await, 403, "role-required");
    }
    assert_problem(&app.get("/api/v1/metrics/support", &app.app).await, 403, "staff-only");
    for q in ["since=yesterday", "until=2026-11-25", "format=xlsx", "limit=3"] {
        assert_problem(&app.get(&format!("/api/v1/metrics/support?{q}"), &app.lena).await, 400, "malformed-query");
    }
    let backwards = "since=2026-11-25T14:10:00Z&until=2026-11-25T14:00:00Z";
    assert_problem(&app.get(&format!("/api/v1/metrics/support?{backwards}"), &app.lena).await, 422, "window-invalid");
    let team = app.get("/api/v1/metrics/support?team=billing", &app.lena).await;
    assert_problem(&team, 422, "teams-undefined");
    assert!(team.1["detail"].as_str().unwrap().contains("Teams are not defined"), "{}", team.1);
    assert_eq!(app.counts().await, before);
});

/// The value of the sample `name` (with its labels) in a Prometheus text
/// exposition.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

backend_test!(async fn prometheus_counts_authorize_answers_and_reads_live_sessions_at_scrape_time(app) {
    let LiveSession { token, .. } = app.session(&app.maria).actions(&["settings.view"]).start().await;
    for _ in 0..3 {
        assert!(app.authorize(&token, "settings.view").await.allowed);
    }
    assert!(!app.authorize(&token, "billing.update").await.allowed);
    let res = app.http.get(app.url("/metrics")).bearer_auth(&app.ada).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    assert_eq!(res.headers()["cache-control"], "no-store");
    let text = res.text().await.unwrap();
    assert_eq!(sample(&text, r#"actas_authorize_calls_total{outcome="allowed",reason="ok"}"#), Some(3.0), "{text}");
    assert_eq!(sample(&text, r#"actas_authorize_calls_total{outcome="refused",reason="not_in_scope"}"#), Some(1.0));
    assert_eq!(sample(&text, "actas_authorize_seconds_count"), Some(4.0));
    assert_eq!(sample(&text, r#"actas_decisions_total{kind="policy"}"#), Some(1.0));
    assert_eq!(sample(&text, "actas_live_sessions"), Some(1.0));
    let events = app.events().await.len() as f64;
    assert_eq!(sample(&text, "actas_audit_events"), Some(events));
    assert!(sample(&text, "actas_writer_batches_total").is_some_and(|n| n >= 1.0));
    assert_eq!(sample(&text, "actas_feed_subscribers"), Some(0.0));
    assert!(text.ends_with("# EOF\n"));
    // The auditor may scrape too; a lead, an agent and an app may not.
    let (s, _) = app.get("/metrics", &app.audrey).await;
    assert_eq!(s, StatusCode::OK);
    for who in [&app.lena, &app.maria] {
        assert_problem(&app.get("/metrics", who).await, 403, "role-required");
    }
    assert_problem(&app.get("/metrics", &app.app).await, 403, "staff-only");
});
