//! `GET /sessions/feed`: every session state change, promptly.

use std::time::Duration;

use futures::StreamExt;
use serde_json::json;

#[allow(unused_imports)]
use crate::helpers::*;

backend_test!(async fn the_feed_delivers_every_session_change_within_two_seconds(app) {
    let res = app
        .http
        .get(format!("{}/api/v1/sessions/feed", app.base))
        .bearer_auth(&app.app)
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut body = res.bytes_stream();
    let (sid, _) = app.live_session(&["settings.view"], None).await;
    app.post(
        &format!("/api/v1/sessions/{sid}/revoke"),
        &app.sam,
        json!({"note": "Wrong account"}),
    )
    .await;
    let mut buf = String::new();
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while seen.len() < 2 {
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .expect("feed too slow")
            .unwrap()
            .unwrap();
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            if let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data: ")) {
                let v: serde_json::Value = serde_json::from_str(data).unwrap();
                seen.push((
                    v["type"].as_str().unwrap().to_string(),
                    v["session"]["id"].as_str().unwrap().to_string(),
                    v["session"]["state"].as_str().unwrap().to_string(),
                ));
            }
        }
    }
    assert_eq!(
        seen[0],
        (
            "session.started".to_string(),
            sid.clone(),
            "live".to_string()
        )
    );
    assert_eq!(
        seen[1],
        ("session.revoked".to_string(), sid, "ended".to_string())
    );
});

/// Reads SSE frames until `n` session changes arrived or 2 s passed.
async fn next_changes<B: AsRef<[u8]>>(
    body: &mut (impl futures::Stream<Item = reqwest::Result<B>> + Unpin),
    n: usize,
) -> Vec<(String, String)> {
    let mut buf = String::new();
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while seen.len() < n {
        let chunk = tokio::time::timeout_at(deadline, body.next()).await.expect("feed too slow").unwrap().unwrap();
        buf.push_str(&String::from_utf8_lossy(chunk.as_ref()));
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            if let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data: ")) {
                let v: serde_json::Value = serde_json::from_str(data).unwrap();
                seen.push((v["type"].as_str().unwrap().to_string(), v["session"]["end_reason"].to_string()));
            }
        }
    }
    seen
}

backend_test!(async fn the_feed_carries_changes_made_by_another_process(app) {
    let res = app.http.get(format!("{}/api/v1/sessions/feed", app.base)).bearer_auth(&app.app).send().await.unwrap();
    let mut body = res.bytes_stream();
    let (_, token) = app.live_session(&["settings.view"], None).await;
    assert_eq!(next_changes(&mut body, 1).await[0].0, "session.started");
    // The command line disables Maria while the server runs.
    let cli = app.other_process().await;
    actas_server::service::disable_staff(&cli, actas_core::audit::Actor::system(), "maria").await.unwrap();
    let seen = next_changes(&mut body, 1).await;
    assert_eq!(seen[0], ("session.ended".to_string(), "\"staff_disabled\"".to_string()));
    let (_, v) = app.authorize(&token, "settings.view", json!({})).await;
    assert_eq!(v["reason"], "staff_disabled");
});

backend_test!(async fn a_key_rotated_by_another_process_is_picked_up(app) {
    let (_, old_token) = app.live_session(&["settings.view"], None).await;
    let cli = app.other_process().await;
    let now = app.clock.now();
    let new_kid = cli.keys.rotate(&cli.store, now, actas_core::audit::Actor::system(), actas_store::KeyRole::Token).await.unwrap();
    // The other process signs a checkpoint with the new key.
    actas_server::service::add_app(&cli, actas_core::audit::Actor::system(), actas_server::service::NewApp::new("Second App", false, vec![])).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        let (_, jwks) = app.send(reqwest::Method::GET, "/.well-known/jwks.json", None, None).await;
        if jwks["keys"].as_array().unwrap().iter().any(|k| k["kid"] == new_kid) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the server never published the new key: {jwks}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let v = app.verify().await;
    assert_eq!(v["ok"], true, "{v}");
    // Tokens of the old key still verify; tokens signed elsewhere verify here.
    let (_, v) = app.authorize(&old_token, "settings.view", json!({})).await;
    assert_eq!(v["allowed"], true);
    let (_, _) = app.post(&format!("/api/v1/sessions/{}/end", claims(&old_token)["sid"].as_str().unwrap()), &app.maria, json!({})).await;
    let r = app.request(&app.maria, &["settings.view"], None).await;
    let (_, started) = actas_server::service::start(
        &cli,
        &actas_core::model::Staff {
            id: "maria".into(),
            name: "Maria Lopez".into(),
            roles: vec![actas_core::model::Role::Agent],
            disabled: false,
            created_at: now,
        },
        r["id"].as_str().unwrap(),
        Some(app.app_id.clone()),
    )
    .await
    .unwrap();
    let started = started.expose();
    assert_eq!(header(started)["kid"], new_kid);
    let (_, v) = app.authorize(started, "settings.view", json!({})).await;
    assert_eq!(v["allowed"], true, "{v}");
});
