//! Fail closed on a sick disk, then come back by itself (SPEC §5, §9):
//! the SQLite database sits on a small tmpfs that the test fills up or
//! makes read-only; `authorize` answers 503, never a yes, `/healthz` says
//! why, and once the disk is well again the same process serves again and
//! the trail has no gap. Logs written to a full disk stop nothing.
//!
//! Mounting needs root; CI runs as root, and a test that cannot mount
//! fails rather than skips.
//!
//! A read-only disk under a running server cannot be staged: Linux refuses
//! to remount a filesystem read-only while a process holds a file on it
//! open for writing. The test kills the server, turns the disk read-only
//! and starts a server on it. (A database closed cleanly, without its WAL
//! and WAL index, cannot be opened at all on a read-only disk: SQLite
//! needs to create the index; the server then refuses to start.)

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::tmpfs::Tmpfs;
use common::*;
use reqwest::StatusCode;
use serde_json::Value;

/// An environment whose database file lives on `disk`.
fn env_on(disk: &Tmpfs) -> Env {
    Env { db: disk.path().join("actas.sqlite"), ..Env::new() }
}

/// Calls `authorize` until it answers 503 (within `limit` calls); every
/// earlier answer must be a stored yes, whose event id is collected.
async fn authorize_until_503(c: &reqwest::Client, server: &Server, live: &Live, acknowledged: &mut Vec<String>) {
    for _ in 0..2000 {
        let (status, body) = authorize(c, server, live, "settings.view").await;
        match status {
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(body["type"], "urn:actas:problem:unavailable", "{body}");
                return;
            }
            // SQLite may still fit a commit into pages it already holds.
            StatusCode::OK => {
                assert_eq!(body["allowed"], true, "{body}");
                acknowledged.push(body["event_id"].as_str().expect("an event id").to_string());
            }
            _ => panic!("authorize answered {status}: {body}"),
        }
    }
    panic!("authorize never answered 503 with the disk full or read-only");
}

/// While the disk stays sick: many calls, some at once, all 503.
async fn every_call_is_refused(c: &reqwest::Client, server: &Server, live: &Live, calls: usize) {
    let mut tasks = Vec::new();
    for _ in 0..calls {
        let (c, url, key, token) = (c.clone(), server.api("/authorize"), live.app_key.clone(), live.token.clone());
        tasks.push(tokio::spawn(async move {
            let r = c
                .post(url)
                .bearer_auth(key)
                .json(&serde_json::json!({"token": token, "action": "settings.view"}))
                .send()
                .await
                .expect("the server answers");
            let status = r.status();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }));
    }
    for t in tasks {
        let (status, body) = t.await.expect("a caller");
        assert_ne!(body["allowed"], true, "a yes without a stored event: {body}");
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    }
}

/// `/healthz` is 503 and says writes cannot be committed.
async fn health_says_writes_fail(c: &reqwest::Client, server: &Server) {
    let (status, body) = health(c, server).await.expect("healthz answers");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["status"], "unavailable", "{body}");
    assert_eq!(body["reason"], "writes cannot be committed", "{body}");
}

/// Waits (up to 10 s) until `/healthz` is 200 and `authorize` says yes
/// again; answers how long it took.
async fn comes_back(c: &reqwest::Client, server: &Server, live: &Live, acknowledged: &mut Vec<String>) -> Duration {
    let since = Instant::now();
    let body = wait_for(Duration::from_secs(10), "the server to come back", || async {
        match health(c, server).await {
            Some((StatusCode::OK, _)) => match authorize(c, server, live, "settings.view").await {
                (StatusCode::OK, body) => Ok(body),
                (status, body) => Err(format!("authorize: {status} {body}")),
            },
            other => Err(format!("healthz: {other:?}")),
        }
    })
    .await;
    assert_eq!(body["allowed"], true, "{body}");
    acknowledged.push(body["event_id"].as_str().expect("an event id").to_string());
    since.elapsed()
}

/// Every acknowledged event is in the trail, and the chain verifies.
async fn nothing_acknowledged_is_missing(c: &reqwest::Client, server: &Server, live: &Live, acknowledged: &[String]) {
    let events = audit_events(c, server, &live.auditor, &format!("session={}", live.session_id)).await;
    let stored: HashSet<&str> = events.iter().filter_map(|e| e["id"].as_str()).collect();
    let lost: Vec<&String> = acknowledged.iter().filter(|id| !stored.contains(id.as_str())).collect();
    assert!(lost.is_empty(), "{} of {} acknowledged events were lost: {lost:?}", lost.len(), acknowledged.len());
    let (status, v) = get(c, &server.api("/audit/verify"), &live.auditor).await;
    assert_eq!((status, v["ok"].clone()), (StatusCode::OK, serde_json::json!(true)), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_disk_answers_503_never_yes_and_the_server_returns_when_space_does_with_its_logs_on_a_full_disk_too() {
    let disk = Tmpfs::mount(16 * 1024);
    let logs = Tmpfs::mount(64);
    let env = env_on(&disk);
    env.ok(&["migrate"]);
    let log = logs.path().join("actas.log");
    // Request lines at debug level: every call writes to the full log disk.
    let mut server = Server::start_logging_to(&env, &env.db, &log, &[("ACTAS_LOG", "info,tower_http=debug")]);
    let pid = server.pid();
    let live = live_session(&env, &server).await;
    let c = http();
    let mut acknowledged = Vec::new();
    for _ in 0..10 {
        let (status, body) = authorize(&c, &server, &live, "settings.view").await;
        assert_eq!((status, body["allowed"].clone()), (StatusCode::OK, serde_json::json!(true)), "{body}");
        acknowledged.push(body["event_id"].as_str().expect("an event id").to_string());
    }

    // The log disk fills up: the server goes on, every line it cannot
    // write is dropped.
    let log_filler = logs.fill();
    assert!(!logs.has_room(1), "the log disk is full");
    for _ in 0..20 {
        let (status, body) = authorize(&c, &server, &live, "settings.view").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        acknowledged.push(body["event_id"].as_str().expect("an event id").to_string());
    }

    // The database disk fills up too; the writer fails and logs it, to
    // the full log disk.
    let filler = disk.fill();
    assert!(!disk.has_room(1), "the database disk is full");
    let filled = Instant::now();
    authorize_until_503(&c, &server, &live, &mut acknowledged).await;
    eprintln!("authorize answered 503 {:?} after the disk filled", filled.elapsed());
    every_call_is_refused(&c, &server, &live, 40).await;
    health_says_writes_fail(&c, &server).await;
    let (status, jwks) = get(&c, &format!("{}/.well-known/jwks.json", server.base), "").await;
    assert_eq!(status, StatusCode::OK, "reads still work: {jwks}");
    assert!(server.is_running(), "the server runs on");

    // Space comes back: the same process serves again, no restart.
    std::fs::remove_file(&filler).expect("the filler goes");
    let took = comes_back(&c, &server, &live, &mut acknowledged).await;
    eprintln!("the server served again {took:?} after space came back");
    assert_eq!(server.pid(), pid, "no restart");
    for _ in 0..20 {
        let (status, body) = authorize(&c, &server, &live, "settings.view").await;
        assert_eq!((status, body["allowed"].clone()), (StatusCode::OK, serde_json::json!(true)), "{body}");
        acknowledged.push(body["event_id"].as_str().expect("an event id").to_string());
    }
    nothing_acknowledged_is_missing(&c, &server, &live, &acknowledged).await;

    // The log disk gets room again: the log says how much it lost.
    std::fs::remove_file(&log_filler).expect("the log filler goes");
    let (status, _) = authorize(&c, &server, &live, "settings.view").await;
    assert_eq!(status, StatusCode::OK);
    let text = server.log();
    assert!(text.contains("log lines were lost"), "the log tells of the lines it lost:\n{text}");
    assert!(server.is_running(), "the server runs on");
    server.stop();
    let out = env.run(&["audit", "verify"]);
    assert_success(&out, &["audit", "verify"]);
    eprintln!("{} acknowledged events checked; {}", acknowledged.len(), last_line(&stdout(&out)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_read_only_database_answers_503_never_yes_and_the_server_returns_when_it_is_writable() {
    let disk = Tmpfs::mount(16 * 1024);
    let env = env_on(&disk);
    env.ok(&["migrate"]);
    let server = env.serve();
    let live = live_session(&env, &server).await;
    let c = http();
    let mut acknowledged = Vec::new();
    for _ in 0..10 {
        let (status, body) = authorize(&c, &server, &live, "settings.view").await;
        assert_eq!((status, body["allowed"].clone()), (StatusCode::OK, serde_json::json!(true)), "{body}");
        acknowledged.push(body["event_id"].as_str().expect("an event id").to_string());
    }
    let (_, head) = get(&c, &server.api("/audit/verify"), &live.auditor).await;
    let seq_before = head["events"].as_i64().expect("the number of events, which is the head's seq");

    // Linux refuses to make a filesystem read-only while a process holds a
    // file on it open for writing, as the server does its database; so the
    // server goes down abruptly (its WAL stays, as after any crash), the
    // disk turns read-only, and a server starts on it.
    let mut server = server;
    server.kill();
    assert!(env.db.with_extension("sqlite-wal").exists(), "the WAL outlived the kill");
    disk.remount(true).expect("the disk turns read-only");
    let mut server = env.serve();
    let pid = server.pid();
    authorize_until_503(&c, &server, &live, &mut acknowledged).await;
    every_call_is_refused(&c, &server, &live, 40).await;
    health_says_writes_fail(&c, &server).await;
    let (status, jwks) = get(&c, &format!("{}/.well-known/jwks.json", server.base), "").await;
    assert_eq!(status, StatusCode::OK, "reads still work: {jwks}");

    // Writable again: the same process serves again.
    disk.remount(false).expect("the disk turns writable");
    let took = comes_back(&c, &server, &live, &mut acknowledged).await;
    eprintln!("the server served again {took:?} after the disk turned writable");
    assert_eq!(server.pid(), pid, "no restart");
    assert!(server.is_running());
    // The policy this server runs with is the first thing it wrote.
    let after = audit_events_after(&c, &server, &live.auditor, seq_before).await;
    assert_eq!(after.first().map(|e| e["type"].clone()), Some(serde_json::json!("policy.loaded")), "{after:?}");
    nothing_acknowledged_is_missing(&c, &server, &live, &acknowledged).await;
    server.stop();
    env.ok(&["audit", "verify"]);
}
