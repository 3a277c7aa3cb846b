//! The audit trail is tamper-evident (SPEC §6): `actas audit verify` and
//! `GET /audit/verify` find an edited, removed, reordered or cut event on
//! a copy of a real trail whose append-only triggers were dropped.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use reqwest::StatusCode;
use sqlx::{Connection, SqliteConnection};

/// A real trail: staff and an app through the CLI, a ticket, a request
/// approved by policy, a started session and a few authorize calls over
/// HTTP. Answers the environment and the auditor's token; the server has
/// stopped and the trail verifies.
async fn trail() -> (Env, String) {
    let env = Env::new();
    let server = env.serve();
    let live = live_session(&env, &server).await;
    let c = http();
    for _ in 0..5 {
        let (status, body) = authorize(&c, &server, &live, "settings.view").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["allowed"], true, "{body}");
    }
    server.stop();
    let out = env.run(&["audit", "verify"]);
    assert_success(&out, &["audit", "verify"]);
    (env, live.auditor)
}

/// A copy of the trail's database file (with its write-ahead log).
fn copy_db(env: &Env, name: &str) -> PathBuf {
    let to = env.path(name);
    std::fs::copy(&env.db, &to).expect("copying the database");
    let wal = PathBuf::from(format!("{}-wal", env.db.display()));
    if wal.exists() {
        std::fs::copy(&wal, format!("{}-wal", to.display())).expect("copying the log");
    }
    to
}

async fn open(db: &Path) -> SqliteConnection {
    SqliteConnection::connect(&format!("sqlite://{}", db.display())).await.expect("the test opens the database")
}

/// Drops the append-only triggers, then runs `statements`.
async fn tamper(db: &Path, statements: &[String]) {
    let mut conn = open(db).await;
    for s in ["DROP TRIGGER audit_events_append_only_update", "DROP TRIGGER audit_events_append_only_delete"]
        .iter()
        .map(|s| s.to_string())
        .chain(statements.iter().cloned())
    {
        sqlx::query(&s).execute(&mut conn).await.unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    conn.close().await.expect("closing the database");
}

async fn scalar(db: &Path, sql: &str) -> i64 {
    let mut conn = open(db).await;
    let v: i64 = sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    conn.close().await.expect("closing the database");
    v
}

/// `actas audit verify` on `db`: must fail and name `seq` as the first bad
/// event; answers everything it printed.
fn verify_fails_at(env: &Env, db: &Path, seq: i64) -> String {
    let args = ["audit", "verify"];
    let out = env.run_on(db, &args);
    assert_failure(&out, &args);
    let said = both(&out);
    assert!(said.contains(&format!("First bad event: {seq}.")), "expected event {seq} to be named: {said}");
    said
}

#[tokio::test]
async fn an_edited_event_text_is_found_and_named() {
    let (env, auditor) = trail().await;
    let db = copy_db(&env, "edited.sqlite");
    let n = scalar(&db, "SELECT COUNT(*) FROM audit_events").await;
    assert!(n >= 10, "{n} events");
    let k = n / 2;
    tamper(&db, &[format!("UPDATE audit_events SET text = text || ' (nothing happened)' WHERE seq = {k}")]).await;
    let said = verify_fails_at(&env, &db, k);
    assert!(said.contains("altered"), "{said}");

    // The server says the same.
    let server = env.serve_on(&db);
    let (status, body) = get(&http(), &server.api("/audit/verify"), &auditor).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["ok"], false, "{body}");
    assert_eq!(body["first_bad"], k, "{body}");
    server.stop();

    // The original is untouched and still verifies.
    env.ok(&["audit", "verify"]);
}

#[tokio::test]
async fn an_edited_event_data_or_actor_is_found() {
    let (env, _) = trail().await;
    let db = copy_db(&env, "data.sqlite");
    let k = scalar(&db, "SELECT MIN(seq) FROM audit_events WHERE type = 'record.viewed'").await;
    tamper(
        &db,
        &[format!("UPDATE audit_events SET data = replace(data, 'settings.view', 'billing.update') WHERE seq = {k}")],
    )
    .await;
    verify_fails_at(&env, &db, k);

    let db = copy_db(&env, "actor.sqlite");
    tamper(&db, &[format!("UPDATE audit_events SET actor = replace(actor, 'maria', 'jon') WHERE seq = {k}")]).await;
    verify_fails_at(&env, &db, k);
}

#[tokio::test]
async fn a_deleted_middle_event_is_found_and_named() {
    let (env, auditor) = trail().await;
    let db = copy_db(&env, "deleted.sqlite");
    let n = scalar(&db, "SELECT COUNT(*) FROM audit_events").await;
    let k = n / 2;
    tamper(&db, &[format!("DELETE FROM audit_events WHERE seq = {k}")]).await;
    let said = verify_fails_at(&env, &db, k);
    assert!(said.contains(&format!("event {k} is missing")), "{said}");

    let server = env.serve_on(&db);
    let (status, body) = get(&http(), &server.api("/audit/verify"), &auditor).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["ok"], false, "{body}");
    assert_eq!(body["first_bad"], k, "{body}");
}

#[tokio::test]
async fn two_swapped_events_are_found() {
    let (env, _) = trail().await;
    let db = copy_db(&env, "swapped.sqlite");
    let n = scalar(&db, "SELECT COUNT(*) FROM audit_events").await;
    assert!(n >= 8, "{n} events");
    let (a, b) = (3, n - 2);
    let cols = "id, at, type, actor, account_id, ticket, request_id, session_id, agent, data, text, prev_hash, hash";
    tamper(
        &db,
        &[
            format!("CREATE TEMP TABLE pair AS SELECT * FROM audit_events WHERE seq IN ({a}, {b})"),
            format!("UPDATE audit_events SET id = id || '-moving' WHERE seq IN ({a}, {b})"),
            format!(
                "UPDATE audit_events SET ({cols}) = (SELECT {cols} FROM pair WHERE pair.seq = CASE audit_events.seq WHEN {a} THEN {b} ELSE {a} END) WHERE seq IN ({a}, {b})"
            ),
        ],
    )
    .await;
    // Every event is still there, each with its own valid hash.
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM audit_events").await, n, "the swap kept every row");
    verify_fails_at(&env, &db, a);
}

#[tokio::test]
async fn two_adjacent_swapped_events_are_found() {
    let (env, _) = trail().await;
    let db = copy_db(&env, "adjacent.sqlite");
    let (a, b) = (4, 5);
    let cols = "id, at, type, actor, account_id, ticket, request_id, session_id, agent, data, text, prev_hash, hash";
    tamper(
        &db,
        &[
            format!("CREATE TEMP TABLE pair AS SELECT * FROM audit_events WHERE seq IN ({a}, {b})"),
            format!("UPDATE audit_events SET id = id || '-moving' WHERE seq IN ({a}, {b})"),
            format!(
                "UPDATE audit_events SET ({cols}) = (SELECT {cols} FROM pair WHERE pair.seq = CASE audit_events.seq WHEN {a} THEN {b} ELSE {a} END) WHERE seq IN ({a}, {b})"
            ),
        ],
    )
    .await;
    verify_fails_at(&env, &db, a);
}

#[tokio::test]
async fn a_cut_tail_is_found_from_the_signed_checkpoints() {
    let (env, auditor) = trail().await;
    let db = copy_db(&env, "cut.sqlite");
    let n = scalar(&db, "SELECT COUNT(*) FROM audit_events").await;
    let vouched = scalar(&db, "SELECT MAX(seq) FROM audit_checkpoints").await;
    assert!(vouched > 1 && vouched <= n, "a checkpoint vouches for event {vouched} of {n}");
    // Events after the last checkpoint could go unnoticed; remove the
    // vouched-for event itself and everything after it.
    tamper(&db, &[format!("DELETE FROM audit_events WHERE seq >= {vouched}")]).await;
    assert_eq!(scalar(&db, "SELECT MAX(seq) FROM audit_events").await, vouched - 1);
    let said = verify_fails_at(&env, &db, vouched);
    assert!(said.contains("removed"), "{said}");

    let server = env.serve_on(&db);
    let (status, body) = get(&http(), &server.api("/audit/verify"), &auditor).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["ok"], false, "{body}");
    assert_eq!(body["first_bad"], vouched, "{body}");
}

#[tokio::test]
async fn a_cut_of_several_tail_events_is_found() {
    let (env, _) = trail().await;
    let db = copy_db(&env, "cut-more.sqlite");
    let vouched = scalar(&db, "SELECT MAX(seq) FROM audit_checkpoints").await;
    let from = vouched - 4;
    tamper(&db, &[format!("DELETE FROM audit_events WHERE seq >= {from}")]).await;
    let said = verify_fails_at(&env, &db, from);
    assert!(said.contains("removed"), "{said}");
}

#[tokio::test]
async fn the_triggers_refuse_updates_and_deletes_of_audit_events() {
    let (env, _) = trail().await;
    let n = scalar(&env.db, "SELECT COUNT(*) FROM audit_events").await;
    let mut conn = open(&env.db).await;
    for sql in [
        "UPDATE audit_events SET text = 'nothing happened' WHERE seq = 2",
        "UPDATE audit_events SET hash = prev_hash",
        "DELETE FROM audit_events WHERE seq = 2",
        "DELETE FROM audit_events",
    ] {
        let err = sqlx::query(sql).execute(&mut conn).await.expect_err("the trail is append-only");
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    conn.close().await.unwrap();
    assert_eq!(scalar(&env.db, "SELECT COUNT(*) FROM audit_events").await, n);
    env.ok(&["audit", "verify"]);
}

/// The `SEQ:HASH` of event `seq`, as the server's log records heads.
async fn head_of(db: &Path, seq: i64) -> String {
    let mut conn = open(db).await;
    let hash: String = sqlx::query_scalar(&format!("SELECT hash FROM audit_events WHERE seq = {seq}"))
        .fetch_one(&mut conn)
        .await
        .expect("a hash");
    format!("{seq}:{hash}")
}

#[tokio::test]
async fn a_tail_cut_with_its_checkpoints_is_found_from_a_head_kept_outside() {
    let (env, _) = trail().await;
    let db = copy_db(&env, "cut-all.sqlite");
    let n = scalar(&db, "SELECT MAX(seq) FROM audit_events").await;
    let head = head_of(&db, n).await;
    // Whoever can drop the triggers can also remove the checkpoints.
    tamper(&db, &[format!("DELETE FROM audit_events WHERE seq >= {}", n - 2), "DELETE FROM audit_checkpoints".into()])
        .await;
    let db_arg = db.to_string_lossy().to_string();
    let plain = output(env.cmd_on(&db_arg, &["audit", "verify"]), None);
    assert!(plain.status.success(), "without a head from outside, the cut is invisible: {}", both(&plain));
    let checked = output(env.cmd_on(&db_arg, &["audit", "verify", "--head", &head]), None);
    assert!(!checked.status.success(), "{}", both(&checked));
    let said = stdout(&checked);
    assert!(said.contains("removed") && said.contains(&format!("{}", n - 2)), "{said}");
    let bad = output(env.cmd_on(&db_arg, &["audit", "verify", "--head", "12:nothex"]), None);
    assert!(!bad.status.success() && both(&bad).contains("64 hex"), "{}", both(&bad));
}
