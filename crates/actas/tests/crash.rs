//! No acknowledged event is ever lost, also across a crash (SPEC §9): the
//! server is killed with SIGKILL while authorize calls are in flight, and
//! every `event_id` it had answered is in the trail after a restart.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use serde_json::json;

const CALLERS: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_authorize_survives_a_kill_9() {
    let env = Env::new();
    let mut server = env.serve();
    let live = Arc::new(live_session(&env, &server).await);
    let url = Arc::new(server.api("/authorize"));
    let c = http();

    let stop_at = Instant::now() + Duration::from_millis(1500);
    let mut callers = Vec::new();
    for _ in 0..CALLERS {
        let c = c.clone();
        let live = live.clone();
        let url = url.clone();
        callers.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            let body = json!({"token": live.token, "action": "settings.view"});
            // Runs until the server is gone: the kill lands mid-flight.
            loop {
                let sent = c
                    .post(url.as_str())
                    .bearer_auth(&live.app_key)
                    .timeout(Duration::from_secs(10))
                    .json(&body)
                    .send()
                    .await;
                let Ok(r) = sent else { break };
                if r.status() != StatusCode::OK {
                    continue;
                }
                let Ok(answer) = r.json::<serde_json::Value>().await else {
                    break;
                };
                assert_eq!(answer["allowed"], true, "{answer}");
                let id = answer["event_id"].as_str().expect("an event id");
                acknowledged.push(id.to_string());
            }
            acknowledged
        }));
    }

    while Instant::now() < stop_at {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(callers.iter().all(|t| !t.is_finished()), "every caller was still calling when the server was killed");
    server.kill();

    let mut acknowledged = Vec::new();
    for t in callers {
        acknowledged.extend(t.await.expect("a caller task"));
    }
    eprintln!("{} authorize calls were acknowledged before the kill", acknowledged.len());
    assert!(!acknowledged.is_empty(), "some calls were acknowledged before the kill");
    let unique: HashSet<&String> = acknowledged.iter().collect();
    assert_eq!(unique.len(), acknowledged.len(), "event ids are unique");

    let server = env.serve();
    let events = audit_events(&c, &server, &live.auditor, &format!("session={}", live.session_id)).await;
    let stored: HashSet<&str> = events.iter().filter_map(|e| e["id"].as_str()).collect();
    let lost: Vec<&String> = acknowledged.iter().filter(|id| !stored.contains(id.as_str())).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged events were lost, e.g. {:?}",
        lost.len(),
        acknowledged.len(),
        lost.iter().take(5).collect::<Vec<_>>()
    );
    let viewed = events.iter().filter(|e| e["type"] == "record.viewed").count();
    assert!(viewed >= acknowledged.len(), "{viewed} record.viewed events");

    // The session survived the crash and still answers.
    let (status, body) = authorize(&c, &server, &live, "settings.view").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["allowed"], true, "{body}");
    server.stop();

    let out = env.run(&["audit", "verify"]);
    assert_success(&out, &["audit", "verify"]);
}
