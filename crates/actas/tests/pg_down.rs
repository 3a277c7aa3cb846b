//! Fail closed, then recover (SPEC §5, §9): when the PostgreSQL database
//! of two running nodes becomes unreachable, both answer `authorize` with
//! 503 and report themselves unhealthy, never a yes; when it comes back,
//! both serve again without a restart and nothing acknowledged before was
//! lost.
//!
//! The database is made unreachable without stopping the shared server:
//! it stops taking connections and the ones it has are ended. This is its
//! own test binary because it disturbs the database under it.
//!
//! Runs when `ACTAS_TEST_PG_URL` names a PostgreSQL server, is skipped
//! otherwise, except on CI, where a missing URL fails it.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Lets connections into the database again when dropped, so that a
/// failed assertion never leaves it closed.
struct Reopen<'a>(&'a PgDatabase);

impl Drop for Reopen<'_> {
    fn drop(&mut self) {
        let sql = format!("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true", self.0.name);
        if let Err(e) = pg_exec_blocking(&self.0.admin_url, &sql) {
            eprintln!("could not let connections into {} again: {e}", self.0.name);
        }
    }
}

/// `POST /authorize` with a client that waits up to 10 s; `None` when the
/// node did not answer.
async fn try_authorize(c: &reqwest::Client, node: &Server, live: &Live) -> Option<(StatusCode, Value)> {
    let r = c
        .post(node.api("/authorize"))
        .bearer_auth(&live.app_key)
        .json(&json!({"token": live.token, "action": "settings.view"}))
        .send()
        .await
        .ok()?;
    let status = r.status();
    let body = r.json::<Value>().await.unwrap_or(Value::Null);
    Some((status, body))
}

/// `GET /healthz`'s status; `None` when the node did not answer.
async fn health(c: &reqwest::Client, node: &Server) -> Option<StatusCode> {
    c.get(format!("{}/healthz", node.base)).send().await.ok().map(|r| r.status())
}

/// Callers that keep asking while the database goes away.
const CALLERS: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_postgresql_is_unreachable_nodes_fail_closed_and_recover_by_themselves() {
    let Some(base) = pg_base_url() else { return };
    let db = PgDatabase::create(&base).await;
    let env = Env::on(&db.url);
    env.ok(&["migrate"]);
    let a = env.serve();
    let b = env.serve();
    let nodes = [&a, &b];
    let live = Arc::new(live_session(&env, &a).await);
    let c = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("an HTTP client");
    // Subscribed before the outage; must still deliver after it.
    let mut feed_b = FeedSubscription::open(&b, &live.app_key).await;

    let mut acknowledged = Vec::new();
    for node in nodes {
        assert_eq!(health(&c, node).await, Some(StatusCode::OK), "{} is healthy", node.base);
        for _ in 0..10 {
            let (status, answer) = authorize(&c, node, &live, "settings.view").await;
            assert_eq!(status, StatusCode::OK, "{answer}");
            assert_eq!(answer["allowed"], true, "{answer}");
            acknowledged.push(answer["event_id"].as_str().expect("an event id").to_string());
        }
    }

    // Callers keep asking both nodes while the database goes away: whatever
    // they were told yes to must be in the trail afterwards.
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let mut callers = Vec::new();
    for i in 0..CALLERS {
        let (c, live, stop, url) = (c.clone(), live.clone(), stop.clone(), nodes[i % 2].api("/authorize"));
        let answered = answered.clone();
        callers.push(tokio::spawn(async move {
            let body = json!({"token": live.token, "action": "settings.view"});
            let (mut yes, mut unavailable) = (Vec::new(), 0);
            while !stop.load(Ordering::Relaxed) {
                let Ok(r) = c.post(&url).bearer_auth(&live.app_key).json(&body).send().await else { continue };
                let status = r.status();
                let answer = r.json::<Value>().await.unwrap_or(Value::Null);
                match status {
                    StatusCode::OK if answer["allowed"] == true => {
                        yes.push(answer["event_id"].as_str().expect("an event id").to_string());
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                    StatusCode::SERVICE_UNAVAILABLE => {
                        unavailable += 1;
                        // Paced: no point asking a node without its database in a tight loop.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    _ => panic!("{url} answered {status}: {answer}"),
                }
            }
            (yes, unavailable)
        }));
    }
    // The callers are under way, a few answers each, when the database goes.
    let what = format!("{} answers to the callers", CALLERS * 4);
    wait_until(Duration::from_secs(30), &what, || async { answered.load(Ordering::Relaxed) >= CALLERS * 4 }).await;

    // The database stops taking connections and ends the ones it has.
    let reopen = Reopen(&db);
    pg_exec(&db.admin_url, &format!("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false", db.name)).await;
    pg_exec(
        &db.admin_url,
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}' AND pid <> pg_backend_pid()",
            db.name
        ),
    )
    .await;
    let cut = Instant::now();

    for node in nodes {
        // A call may wait for the pool's acquire timeout before it is refused.
        let what = format!("{} to answer 503", node.base);
        wait_for(Duration::from_secs(15), &what, || async {
            let asked = Instant::now();
            let answer = try_authorize(&c, node, &live).await;
            let Some((status, body)) = answer else {
                panic!("{} did not answer authorize within 10 s while the database was away", node.base);
            };
            assert!(
                !(status == StatusCode::OK && body["allowed"] == true),
                "{} allowed an action while its database was unreachable: {body}",
                node.base
            );
            if status != StatusCode::SERVICE_UNAVAILABLE {
                return Err(format!("{status} {body}"));
            }
            assert_eq!(body["type"], "urn:actas:problem:unavailable", "{body}");
            eprintln!("{} answered 503 in {:?}", node.base, asked.elapsed());
            Ok(())
        })
        .await;
        let status = health(&c, node).await;
        assert!(status != Some(StatusCode::OK), "{} says it is healthy without its database", node.base);
        assert_eq!(status, Some(StatusCode::SERVICE_UNAVAILABLE), "{}", node.base);
        let (_, why) = common::health(&c, node).await.expect("healthz answers");
        assert_eq!(why["reason"], "database unreachable", "{why}");
    }
    eprintln!("both nodes failed closed within {:?} of the cut", cut.elapsed());
    stop.store(true, Ordering::Relaxed);
    let (mut during, mut refused) = (0, 0);
    for t in callers {
        let (yes, unavailable) = t.await.expect("a caller task");
        during += yes.len();
        refused += unavailable;
        acknowledged.extend(yes);
    }
    eprintln!("callers across the cut: {during} acknowledged, {refused} answered 503");
    assert!(refused > 0, "the callers saw the outage");

    // The database takes connections again; the nodes recover by themselves.
    pg_exec(&db.admin_url, &format!("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true", db.name)).await;
    let reopened = Instant::now();
    let deadline = reopened + Duration::from_secs(10);
    for node in nodes {
        let what = format!("{} to recover within 10 s of the database's return", node.base);
        let answer = wait_for(deadline.saturating_duration_since(Instant::now()), &what, || async {
            match health(&c, node).await {
                Some(StatusCode::OK) => match try_authorize(&c, node, &live).await {
                    Some((StatusCode::OK, answer)) => Ok(answer),
                    other => Err(format!("authorize: {other:?}")),
                },
                other => Err(format!("healthz: {other:?}")),
            }
        })
        .await;
        assert_eq!(answer["allowed"], true, "{answer}");
        acknowledged.push(answer["event_id"].as_str().expect("an event id").to_string());
    }
    eprintln!("both nodes served again {:?} after the database came back", reopened.elapsed());
    drop(reopen);

    // The session feed of node B came through the outage: an end through
    // node A reaches it within two seconds, and node B refuses the token.
    let sent = Instant::now();
    let (status, ended) =
        post(&c, &a.api(&format!("/sessions/{}/end", live.session_id)), &live.agent, &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{ended}");
    let (status, answer) = authorize(&c, &b, &live, "settings.view").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["allowed"], false, "{answer}");
    assert_eq!(answer["reason"], "session_ended", "{answer}");
    acknowledged.push(answer["event_id"].as_str().expect("an event id").to_string());
    let announced = feed_b
        .next_where(sent + Duration::from_secs(2), |f| {
            f["type"] == "session.ended" && f["session"]["id"] == live.session_id.as_str()
        })
        .await;
    assert!(announced.is_some(), "node B's feed announced the end within two seconds after the outage");

    // Nothing acknowledged was lost and the chain is whole.
    let events = audit_events(&c, &b, &live.auditor, &format!("session={}", live.session_id)).await;
    let stored: HashSet<&str> = events.iter().filter_map(|e| e["id"].as_str()).collect();
    let lost: Vec<&String> = acknowledged.iter().filter(|id| !stored.contains(id.as_str())).collect();
    assert!(lost.is_empty(), "{} acknowledged events were lost: {lost:?}", lost.len());
    for node in nodes {
        let (status, v) = get(&c, &node.api("/audit/verify"), &live.auditor).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v["ok"], true, "{v}");
    }
    env.ok(&["audit", "verify"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_frozen_lock_holder_turns_writes_into_503_instead_of_a_hang() {
    use sqlx::Connection;
    let Some(base) = pg_base_url() else { return };
    let db = PgDatabase::create(&base).await;
    let env = Env::on(&db.url);
    env.ok(&["migrate"]);
    let a = env.serve();
    let live = live_session(&env, &a).await;
    let c = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("an HTTP client");
    // Another "node" takes the audit chain's lock and freezes with it.
    let mut frozen = sqlx::PgConnection::connect(&db.url).await.expect("a connection");
    sqlx::raw_sql("BEGIN; SELECT pg_advisory_xact_lock(6386449766077811);")
        .execute(&mut frozen)
        .await
        .expect("the lock");
    let started = Instant::now();
    let (status, body) = try_authorize(&c, &a, &live).await.expect("an answer, not a hang");
    let waited = started.elapsed();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["type"], "urn:actas:problem:unavailable");
    assert!(waited < Duration::from_secs(20), "waited {waited:?}");
    // The frozen holder lets go: writes flow again.
    sqlx::raw_sql("ROLLBACK").execute(&mut frozen).await.expect("release");
    let (status, body) = authorize(&c, &a, &live, "settings.view").await;
    assert_eq!((status, body["allowed"].clone()), (StatusCode::OK, json!(true)), "{body}");
    eprintln!("a write waiting on a frozen lock holder answered 503 after {waited:?}");
}
