//! `GET /sessions/feed`: every session state change, promptly.

use std::time::Duration;

use futures::StreamExt;
use serde_json::json;

use actas_server::testing::*;

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
    let mut buf = String::new();
    // Each change comes with the session as it stands when the change is
    // sent, so the start is read before the revoke is made.
    let sid = app.session(&app.maria).actions(&["settings.view"]).start().await.id;
    let started = next_frame(&mut body, &mut buf).await;
    assert_eq!(started, ("session.started".to_string(), sid.clone(), "live".to_string()));
    app.post(
        &format!("/api/v1/sessions/{sid}/revoke"),
        &app.sam,
        json!({"note": "Wrong account"}),
    )
    .await;
    let revoked = next_frame(&mut body, &mut buf).await;
    assert_eq!(revoked, ("session.revoked".to_string(), sid, "ended".to_string()));
});

/// The next change on a raw feed within 2 s: (type, session id, state).
async fn next_frame<B: AsRef<[u8]>>(
    body: &mut (impl futures::Stream<Item = reqwest::Result<B>> + Unpin),
    buf: &mut String,
) -> (String, String, String) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    loop {
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            if let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data: ")) {
                let v: serde_json::Value = serde_json::from_str(data).unwrap();
                return (
                    v["type"].as_str().unwrap().to_string(),
                    v["session"]["id"].as_str().unwrap().to_string(),
                    v["session"]["state"].as_str().unwrap().to_string(),
                );
            }
        }
        let chunk = tokio::time::timeout_at(deadline, body.next()).await.expect("feed too slow").unwrap().unwrap();
        buf.push_str(&String::from_utf8_lossy(chunk.as_ref()));
    }
}

/// The next session change the host app's client follows, within 2 s.
async fn next_change(feed: &mut actas_client::Feed) -> actas_client::api::SessionChange {
    tokio::time::timeout(Duration::from_secs(2), feed.next()).await.expect("feed too slow").expect("the feed ended")
}

backend_test!(async fn the_feed_carries_changes_made_by_another_process(app) {
    let mut feed = app.client.follow();
    app.wait_for_followers(1).await;
    let token = app.session(&app.maria).actions(&["settings.view"]).start().await.token;
    assert_eq!(next_change(&mut feed).await.kind.as_str(), "session.started");
    // The command line disables Maria while the server runs.
    let cli = app.other_process().await;
    actas_server::service::disable_staff(&cli, actas_core::audit::Actor::system(), "maria").await.unwrap();
    let ended = next_change(&mut feed).await;
    let reason = ended.session.end_reason.map(|r| r.as_str());
    assert_eq!((ended.kind.as_str(), reason), ("session.ended", Some("staff_disabled")));
    let v = app.authorize(&token, "settings.view").await;
    assert_eq!(v.reason.as_str(), "staff_disabled");
});

backend_test!(async fn a_key_rotated_by_another_process_is_picked_up(app) {
    let old_token = app.session(&app.maria).actions(&["settings.view"]).start().await.token;
    let cli = app.other_process().await;
    let now = app.clock.now();
    let new_kid = cli.keys.rotate(&cli.store, now, actas_core::audit::Actor::system(), actas_store::KeyRole::Token).await.unwrap();
    // The other process signs a checkpoint with the new key.
    actas_server::service::add_app(&cli, actas_core::audit::Actor::system(), actas_server::service::NewApp::new("Second App", false, vec![])).await.unwrap();
    wait_for(Duration::from_secs(3), "the server to publish the new key", || async {
        let kids = app.jwks_kids().await;
        if kids.contains(&new_kid) { Ok(()) } else { Err(format!("{kids:?}")) }
    })
    .await;
    let v = app.verify().await;
    assert_eq!(v["ok"], true, "{v}");
    // Tokens of the old key still verify; tokens signed elsewhere verify here.
    let v = app.authorize(&old_token, "settings.view").await;
    assert!(v.allowed, "{v:?}");
    app.end(&app.maria, claims(&old_token)["sid"].as_str().unwrap()).await;
    let r = app.request(&app.maria).actions(&["settings.view"]).send().await;
    let (_, started) = actas_server::service::start(
        &cli,
        &actas_core::model::Staff {
            id: "maria".into(),
            name: "Maria Lopez".into(),
            roles: vec![actas_core::model::Role::Agent],
            disabled: false,
            created_at: now,
        },
        &r.id,
        Some(app.app_id.clone()),
    )
    .await
    .unwrap();
    let started = started.expose();
    assert_eq!(jws_header(started)["kid"], new_kid);
    let v = app.authorize(started, "settings.view").await;
    assert!(v.allowed, "{v:?}");
});
