//! Graceful shutdown: on SIGTERM the server stops taking connections,
//! tells open session feeds to reconnect soon, answers what is in flight,
//! signs the trail's head and exits, within a bound; every write it
//! acknowledged is in the trail, which verifies.

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;

#[tokio::test]
async fn sigterm_ends_feeds_with_a_retry_hint_and_exits_in_time_with_every_write_kept() {
    let env = Env::new();
    let mut server = env.serve();
    let live = live_session(&env, &server).await;
    let c = http();
    let mut allowed = 0;
    for _ in 0..10 {
        let (status, body) = authorize(&c, &server, &live, "settings.view").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        allowed += usize::from(body["allowed"] == true);
    }
    assert_eq!(allowed, 10);
    // A host app follows the session feed.
    let feed =
        reqwest::Client::new().get(server.api("/sessions/feed")).bearer_auth(&live.app_key).send().await.unwrap();
    assert_eq!(feed.status(), StatusCode::OK);
    let mut feed = feed;

    let asked = Instant::now();
    let status = server.terminate(Duration::from_secs(15)).expect("the server exits within the drain bound");
    assert!(status.success(), "it exits cleanly: {status:?}\n{}", server.log());
    assert!(asked.elapsed() < Duration::from_secs(12), "took {:?}", asked.elapsed());

    // The feed ended with a hint to reconnect.
    let mut said = String::new();
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(Some(b)) = feed.chunk().await {
            said.push_str(&String::from_utf8_lossy(&b));
        }
    })
    .await;
    assert!(ended.is_ok(), "the feed ended: {said}");
    assert!(said.contains("retry: 1000"), "{said}");
    assert!(said.contains("actas is stopping"), "{said}");

    // Nobody is listening any more, the head was signed on the way out, and
    // every acknowledged answer is in the trail.
    assert!(c.get(format!("{}/healthz", server.base)).send().await.is_err());
    assert!(server.log().contains("actas is listening"));
    let verified = env.ok(&["audit", "verify"]);
    assert!(verified.contains("The audit trail is intact"), "{verified}");
    let export = env.ok(&["audit", "export", "--format", "jsonl"]);
    let viewed = export.lines().filter(|l| l.contains("\"type\":\"record.viewed\"")).count();
    assert_eq!(viewed, allowed, "every acknowledged answer is in the trail");
}
