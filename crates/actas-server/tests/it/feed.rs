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
