//! Expiry, idle timeout and the reaper, on the manual clock.

use reqwest::StatusCode;
use serde_json::json;

use actas_server::testing::*;

backend_test!(async fn a_session_expires_at_its_end_and_every_call_after_is_refused(app) {
    let LiveSession { id: sid, token, .. } = app.session(&app.maria).actions(&["settings.view"]).minutes(15).start().await;
    for _ in 0..3 {
        app.clock.advance(mins(5) - chrono::Duration::seconds(1));
        let v = app.authorize(&token, "settings.view").await;
        assert!(v.allowed, "activity keeps it from idling out: {v:?}");
    }
    app.clock.advance(mins(1));
    let v = app.authorize(&token, "settings.view").await;
    assert_eq!(v.reason.as_str(), "session_expired");
    let expired = app.events_of_type("session.expired").await;
    assert_eq!(expired.len(), 1);
    assert_eq!(
        expired[0]["at"], "2026-11-25T14:15:00.000Z",
        "recorded at the session's end"
    );
    assert_eq!(expired[0]["text"], "Maria Lopez's session on Acme Corp (acct_42) expired at 14:15 UTC, at the end of its 15 minutes.");
    let (_, s) = app.get(&format!("/api/v1/sessions/{sid}"), &app.sam).await;
    assert_eq!(
        (s["state"].clone(), s["end_reason"].clone()),
        (json!("ended"), json!("expired"))
    );
    let v = app.authorize(&token, "settings.view").await;
    assert_eq!(v.reason.as_str(), "session_expired");
    assert_eq!(
        app.events_of_type("session.expired").await.len(),
        1,
        "ended once"
    );
});

backend_test!(async fn a_session_without_activity_idles_out_at_its_idle_deadline(app) {
    let LiveSession { id: sid, token, .. } = app.session(&app.maria).actions(&["settings.view"]).minutes(30).start().await;
    app.clock.advance(mins(3));
    let v = app.authorize(&token, "settings.view").await;
    assert!(v.allowed, "{v:?}");
    app.clock.advance(mins(10));
    let v = app.authorize(&token, "settings.view").await;
    assert_eq!(v.reason.as_str(), "idle_timeout");
    let idle = app.events_of_type("session.idle_timeout").await;
    assert_eq!(idle[0]["at"], "2026-11-25T14:13:00.000Z");
    assert_eq!(idle[0]["text"], "Maria Lopez's session on Acme Corp (acct_42) ended by idle timeout at 14:13 UTC after 10 minutes without activity.");
    let (_, s) = app.get(&format!("/api/v1/sessions/{sid}"), &app.sam).await;
    assert_eq!(s["end_reason"], "idle_timeout");
});

backend_test!(async fn heartbeats_from_the_banner_keep_a_session_from_idling_out(app) {
    let LiveSession { id: sid, token, .. } = app.session(&app.maria).actions(&["settings.view"]).minutes(30).start().await;
    for _ in 0..3 {
        app.clock.advance(mins(9));
        let (s, v) = app
            .post(
                &format!("/api/v1/sessions/{sid}/heartbeat"),
                &token,
                json!({}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let at = |k: &str| {
            chrono::DateTime::parse_from_rfc3339(v[k].as_str().unwrap())
                .unwrap()
                .to_utc()
        };
        assert_eq!(
            at("idle_deadline"),
            (app.clock.now() + mins(10)).min(at("ends_at"))
        );
    }
    let v = app.authorize(&token, "settings.view").await;
    assert!(v.allowed, "27 minutes in, kept alive by heartbeats");
});

backend_test!(async fn the_reaper_ends_sessions_whose_time_is_up_at_their_deadline(app) {
    let sid = app.session(&app.maria).actions(&["settings.view"]).minutes(20).start().await.id;
    app.clock.advance(mins(9));
    assert_eq!(actas_server::service::reap(&app.ctx).await.unwrap(), 0);
    app.clock.advance(mins(25));
    assert_eq!(actas_server::service::reap(&app.ctx).await.unwrap(), 1);
    assert_eq!(
        actas_server::service::reap(&app.ctx).await.unwrap(),
        0,
        "never twice"
    );
    let idle = app.events_of_type("session.idle_timeout").await;
    assert_eq!(idle.len(), 1);
    assert_eq!(idle[0]["at"], "2026-11-25T14:10:00.000Z");
    assert_eq!(idle[0]["session_id"], sid);
    assert_eq!(idle[0]["actor"]["kind"], "system");
    // And the customer note was queued.
    assert_eq!(app.client.notices(0).await.unwrap().len(), 1);
});

backend_test!(async fn the_reaper_expires_approvals_that_were_never_started(app) {
    let id = app.request(&app.maria).actions(&["settings.view"]).send().await.id;
    app.clock.advance(mins(11));
    assert_eq!(actas_server::service::reap(&app.ctx).await.unwrap(), 1);
    let (_, r) = app.get(&format!("/api/v1/requests/{id}"), &app.sam).await;
    assert_eq!(r["status"], "expired");
    assert_eq!(
        app.events_of_type("request.expired").await[0]["at"],
        "2026-11-25T14:10:00.000Z"
    );
});

backend_test!(async fn reading_a_session_past_its_deadline_records_its_end(app) {
    let LiveSession { id: sid, token, .. } = app.session(&app.maria).actions(&["settings.view"]).start().await;
    app.clock.advance(mins(16));
    // Past its `exp`, the token is nobody's credentials.
    let (st, _) = app.get(&format!("/api/v1/sessions/{sid}"), &token).await;
    assert_eq!(st.as_u16(), 401);
    let (_, s) = app.get(&format!("/api/v1/sessions/{sid}"), &app.sam).await;
    assert_eq!(s["state"], "ended");
    assert_eq!(s["end_reason"], "idle_timeout");
    assert_eq!(app.events_of_type("session.idle_timeout").await.len(), 1);
});

backend_test!(async fn reapers_on_two_nodes_end_each_session_once(app) {
    let node = app.second_node().await;
    let mut sessions = Vec::new();
    for (agent, actions) in [(&app.maria, ["settings.view"]), (&app.jon, ["plan.view"]), (&app.sam, ["activity.view"])] {
        sessions.push(app.session(agent).actions(&actions).start().await.id);
    }
    app.clock.advance(mins(20));
    for _ in 0..5 {
        let (a, b) = tokio::join!(actas_server::service::reap(&app.ctx), actas_server::service::reap(&node.ctx));
        a.unwrap();
        b.unwrap();
    }
    let ended = app.events_of_type("session.idle_timeout").await;
    assert_eq!(ended.len(), 3, "one event per session, whichever node saw it first");
    for s in &sessions {
        assert_eq!(ended.iter().filter(|e| e["session_id"] == *s).count(), 1);
    }
    assert_eq!(app.verify().await["ok"], true);
    let health = app.http.get(format!("{}/healthz", node.base)).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
});
