//! No acknowledged event is ever lost, also across a crash (SPEC §9): the
//! server is killed with SIGKILL while many callers authorize, again and
//! again; after each restart every `event_id` it had answered is in the
//! trail and `actas audit verify` passes.
//!
//! 20 cycles on SQLite and on PostgreSQL in the normal run; 200 with
//! `ACTAS_LONG=1` (see the README). PostgreSQL runs when
//! `ACTAS_TEST_PG_URL` names a server (on CI it must).

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Callers authorizing at once while the kill lands.
const CALLERS: usize = 12;

/// Kill-and-restart cycles: 20, or 200 when `ACTAS_LONG` is set.
fn cycles() -> usize {
    match std::env::var("ACTAS_LONG") {
        Ok(v) if !v.is_empty() && v != "0" => 200,
        _ => 20,
    }
}

/// Starts `CALLERS` tasks that authorize until the server is gone; each
/// answers the event ids it was given.
fn start_callers(
    c: &reqwest::Client,
    server: &Server,
    live: &Arc<Live>,
    answered: &Arc<AtomicUsize>,
) -> Vec<tokio::task::JoinHandle<Vec<String>>> {
    let url = Arc::new(server.api("/authorize"));
    (0..CALLERS)
        .map(|_| {
            let (c, live, url, answered) = (c.clone(), live.clone(), url.clone(), answered.clone());
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                let body = json!({"token": live.token, "action": "settings.view"});
                loop {
                    let sent = c
                        .post(url.as_str())
                        .bearer_auth(&live.app_key)
                        .timeout(Duration::from_secs(10))
                        .json(&body)
                        .send()
                        .await;
                    let Ok(r) = sent else { break };
                    let status = r.status();
                    // A body cut off by the kill was never acknowledged.
                    let Ok(answer) = r.json::<Value>().await else { break };
                    match status {
                        StatusCode::OK => {
                            assert_eq!(answer["allowed"], true, "{answer}");
                            acknowledged.push(answer["event_id"].as_str().expect("an event id").to_string());
                            answered.fetch_add(1, Ordering::Relaxed);
                        }
                        StatusCode::SERVICE_UNAVAILABLE => {}
                        _ => panic!("authorize answered {status}: {answer}"),
                    }
                }
                acknowledged
            })
        })
        .collect()
}

/// Kills the server `cycles` times mid-flight and checks the trail after
/// each restart, printing the figures.
async fn kill_9_cycles(env: &Env, backend: &str) {
    let cycles = cycles();
    let began = Instant::now();
    let mut server = env.serve();
    let live = Arc::new(live_session(env, &server).await);
    let c = http();
    let mut acknowledged: Vec<String> = Vec::new();
    let mut stored: HashSet<String> = HashSet::new();
    let mut last_seq = 0_i64;
    let mut slowest = Duration::ZERO;

    for cycle in 1..=cycles {
        let started = Instant::now();
        let answered = Arc::new(AtomicUsize::new(0));
        let callers = start_callers(&c, &server, &live, &answered);
        let what = format!("cycle {cycle}: a first answer");
        wait_until(Duration::from_secs(20), &what, || async { answered.load(Ordering::Relaxed) > 0 }).await;
        // The kill lands at a different moment of the traffic each time.
        tokio::time::sleep(Duration::from_millis(50 + (cycle as u64 * 37) % 300)).await;
        assert!(callers.iter().all(|t| !t.is_finished()), "cycle {cycle}: every caller was calling at the kill");
        server.kill();
        let before = acknowledged.len();
        for t in callers {
            acknowledged.extend(t.await.expect("a caller task"));
        }
        assert!(acknowledged.len() > before, "cycle {cycle}: some calls were acknowledged before the kill");

        server = env.serve();
        for e in audit_events_after(&c, &server, &live.auditor, last_seq).await {
            last_seq = e["seq"].as_i64().expect("a seq");
            stored.insert(e["id"].as_str().expect("an id").to_string());
        }
        let lost: Vec<&String> = acknowledged.iter().filter(|id| !stored.contains(id.as_str())).collect();
        assert!(
            lost.is_empty(),
            "{backend}, cycle {cycle}: {} of {} acknowledged events were lost, e.g. {:?}",
            lost.len(),
            acknowledged.len(),
            lost.iter().take(5).collect::<Vec<_>>()
        );
        let unique: HashSet<&String> = acknowledged.iter().collect();
        assert_eq!(unique.len(), acknowledged.len(), "event ids are unique");
        // The session survived and the restarted server answers it.
        let (status, body) = authorize(&c, &server, &live, "settings.view").await;
        assert_eq!((status, body["allowed"].clone()), (StatusCode::OK, json!(true)), "{body}");
        acknowledged.push(body["event_id"].as_str().expect("an event id").to_string());
        let out = env.run(&["audit", "verify"]);
        assert_success(&out, &["audit", "verify"]);
        slowest = slowest.max(started.elapsed());
    }
    server.stop();
    env.ok(&["audit", "verify"]);
    let took = began.elapsed();
    eprintln!(
        "{backend}: {cycles} kill -9 cycles survived, {} acknowledged events all in the trail ({} events), \
         {took:.1?} in all, {:.2?} per cycle, slowest {slowest:.2?}",
        acknowledged.len(),
        last_seq,
        took / cycles as u32
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_authorize_survives_repeated_kill_9_on_sqlite() {
    let env = Env::new();
    kill_9_cycles(&env, "sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_authorize_survives_repeated_kill_9_on_postgresql() {
    let Some(base) = pg_base_url() else { return };
    let db = PgDatabase::create(&base).await;
    let env = Env::on(&db.url);
    env.ok(&["migrate"]);
    kill_9_cycles(&env, "postgres").await;
}
