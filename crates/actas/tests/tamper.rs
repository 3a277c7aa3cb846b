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

#[tokio::test]
async fn an_event_inserted_in_the_middle_is_found_and_named() {
    let (env, _) = trail().await;
    let db = copy_db(&env, "inserted.sqlite");
    let n = scalar(&db, "SELECT MAX(seq) FROM audit_events").await;
    let k = n / 2;
    let cols = "at, type, actor, account_id, ticket, request_id, session_id, agent, data";
    tamper(
        &db,
        &[
            // Make room at k, then put a made-up event there that claims
            // the place of the one it pushed aside.
            format!("UPDATE audit_events SET seq = seq + 100000 WHERE seq >= {k}"),
            "UPDATE audit_events SET seq = seq - 99999 WHERE seq >= 100000".to_string(),
            format!(
                "INSERT INTO audit_events (seq, id, {cols}, text, prev_hash, hash) SELECT {k}, id || '-made-up', {cols}, 'Nothing happened.', prev_hash, hash FROM audit_events WHERE seq = {}",
                k + 1
            ),
        ],
    )
    .await;
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM audit_events").await, n + 1);
    verify_fails_at(&env, &db, k);
}

/// [`trail`], served with a witness file: answers the environment and the
/// witness file.
async fn witnessed_trail() -> (Env, PathBuf) {
    let env = Env::new();
    let witness = env.path("witness.jsonl");
    let w = witness.to_str().expect("a UTF-8 path");
    let server = Server::start(&env, &env.db, &["--witness", w]);
    let live = live_session(&env, &server).await;
    let c = http();
    for _ in 0..5 {
        let (status, body) = authorize(&c, &server, &live, "settings.view").await;
        assert_eq!(body["allowed"], true, "{status} {body}");
    }
    server.stop();
    let out = env.run(&["audit", "verify", "--witness", w]);
    assert_success(&out, &["audit", "verify", "--witness"]);
    (env, witness)
}

/// The seqs of the heads a witness file recorded.
fn witnessed_seqs(witness: &Path) -> Vec<i64> {
    std::fs::read_to_string(witness)
        .expect("reading the witness")
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("a JSON line")["seq"].as_i64().expect("a seq"))
        .collect()
}

/// `actas audit verify EXTRA...` on `db` without the key-encryption key:
/// what an auditor with the database and nothing else can check.
fn verify_without_kek(env: &Env, db: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["audit", "verify"];
    args.extend_from_slice(extra);
    let mut c = env.cmd_on(db, &args);
    c.env_remove(KEK_VAR);
    output(c, None)
}

/// What an attacker who can write the database, and read everything in it,
/// does: changes event `k`, computes the hash chain again from there, puts
/// in a checkpoint key of their own (the real one is sealed under a KEK
/// they do not have, so they make its row look sealed too), retires the
/// real one, and signs every checkpoint again with theirs.
async fn rewrite_and_sign_again(db: &Path, k: i64) -> String {
    use ring::signature::KeyPair;
    let store = actas_store::Store::open(&actas_store::Options::new(db.to_string_lossy()).without_migrations())
        .await
        .expect("opening the copy");
    let f = actas_store::EventFilter { limit: 100_000, ..Default::default() };
    let mut events = store
        .read(actas_store::read_fn(move |tx| Box::pin(async move { tx.list_events(&f).await })))
        .await
        .expect("reading the events");
    drop(store);
    let mut updates = Vec::new();
    let mut prev = events[(k - 2) as usize].hash.clone();
    for e in events.iter_mut().skip((k - 1) as usize) {
        if e.seq == k {
            e.body.text = "Nothing happened.".into();
        }
        e.prev_hash = prev;
        e.hash = e.compute_hash();
        prev = e.hash.clone();
        updates.push(format!(
            "UPDATE audit_events SET text = '{}', prev_hash = '{}', hash = '{}' WHERE seq = {}",
            e.text.replace('\'', "''"),
            e.prev_hash,
            e.hash,
            e.seq
        ));
    }

    let rng = ring::rand::SystemRandom::new();
    let doc = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).expect("a key");
    let pair = ring::signature::Ed25519KeyPair::from_pkcs8(doc.as_ref()).expect("a key pair");
    let b64 = |b: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, b);
    let kid = "k_0123456789abcdef".to_string();
    let mut conn = open(db).await;
    let sealed: String = sqlx::query_scalar("SELECT private_key FROM signing_keys WHERE role = 'checkpoint'")
        .fetch_one(&mut conn)
        .await
        .expect("the real checkpoint key");
    let kek_id = sealed.split(':').nth(1).expect("a sealed key names its KEK").to_string();
    let created: i64 =
        sqlx::query_scalar("SELECT MAX(created_at) + 1 FROM signing_keys").fetch_one(&mut conn).await.expect("a time");
    let checkpoints: Vec<i64> =
        sqlx::query_scalar("SELECT seq FROM audit_checkpoints ORDER BY seq").fetch_all(&mut conn).await.expect("seqs");
    conn.close().await.expect("closing the database");
    updates.push(format!("UPDATE signing_keys SET retired_at = {created} WHERE role = 'checkpoint'"));
    updates.push(format!(
        "INSERT INTO signing_keys (kid, role, private_key, public_key, created_at) VALUES ('{kid}', 'checkpoint', 'v1:{kek_id}:{}:{}', '{}', {created})",
        b64(&[7u8; 24]),
        b64(doc.as_ref()),
        b64(pair.public_key().as_ref())
    ));
    for seq in checkpoints {
        let hash = &events[(seq - 1) as usize].hash;
        let sig = pair.sign(&actas_core::audit::checkpoint_message(seq, hash));
        updates.push(format!(
            "UPDATE audit_checkpoints SET hash = '{hash}', kid = '{kid}', signature = '{}' WHERE seq = {seq}",
            b64(sig.as_ref())
        ));
    }
    tamper(db, &updates).await;
    kid
}

#[tokio::test]
async fn a_rewrite_signed_again_with_a_key_put_in_the_database_is_caught() {
    let (env, witness) = witnessed_trail().await;
    let db = copy_db(&env, "rewritten.sqlite");
    let k = scalar(&db, "SELECT MIN(seq) FROM audit_events WHERE type = 'record.viewed'").await;
    let kid = rewrite_and_sign_again(&db, k).await;
    let w = witness.to_str().unwrap();

    // The database alone agrees with itself: chain and checkpoints check
    // out. This is the limit of a check that trusts the database's keys.
    let alone = verify_without_kek(&env, &db, &[]);
    assert!(alone.status.success(), "the rewrite is consistent in itself: {}", both(&alone));

    // The witness, kept outside, names the first head it recorded at or after k.
    let first = *witnessed_seqs(&witness).iter().filter(|s| **s >= k).min().expect("a witnessed head after k");
    let out = verify_without_kek(&env, &db, &["--witness", w]);
    assert_failure(&out, &["audit", "verify", "--witness"]);
    let said = both(&out);
    assert!(said.contains(&format!("First bad event: {first}.")), "{said}");
    assert!(said.contains("witness recorded") && said.contains("rewritten"), "{said}");

    // With the KEK, the key the rewriter put in does not open: refused.
    let with_kek = env.run_on(&db, &["audit", "verify"]);
    assert_eq!(with_kek.status.code(), Some(3), "{}", both(&with_kek));
    assert!(both(&with_kek).contains(&format!("signing key {kid} does not open")), "{}", both(&with_kek));
    // And no server starts on it.
    let mut serve = env.cmd_on(&db, &["serve", "--listen", "127.0.0.1:0"]);
    serve.arg("--witness").arg(env.path("other-witness.jsonl"));
    let out = run_briefly(serve);
    assert_eq!(out.status.code(), Some(3), "{}", both(&out));
    assert!(both(&out).contains(&kid), "{}", both(&out));
}

#[tokio::test]
async fn the_witness_catches_a_tail_cut_whose_checkpoints_were_cut_too() {
    let (env, witness) = witnessed_trail().await;
    let db = copy_db(&env, "cut-witnessed.sqlite");
    let last = *witnessed_seqs(&witness).iter().max().expect("witnessed heads");
    let from = last - 2;
    tamper(
        &db,
        &[
            format!("DELETE FROM audit_events WHERE seq >= {from}"),
            format!("DELETE FROM audit_checkpoints WHERE seq >= {from}"),
        ],
    )
    .await;
    let w = witness.to_str().unwrap();
    let alone = verify_without_kek(&env, &db, &[]);
    assert!(alone.status.success(), "without the witness the cut is invisible: {}", both(&alone));
    let out = verify_without_kek(&env, &db, &["--witness", w]);
    assert_failure(&out, &["audit", "verify", "--witness"]);
    let said = both(&out);
    assert!(said.contains(&format!("First bad event: {from}.")), "{said}");
    assert!(said.contains("removed") && said.contains("the witness recorded"), "{said}");

    // A server given the witness refuses to run on the cut database.
    let out = run_briefly(env.cmd_on(&db, &["serve", "--listen", "127.0.0.1:0", "--witness", w]));
    assert!(!out.status.success(), "{}", both(&out));
    assert!(both(&out).contains("does not hold the audit head its witness"), "{}", both(&out));
    // The untouched database still runs with it, and appends.
    let before = witnessed_seqs(&witness).len();
    let server = Server::start(&env, &env.db, &["--witness", w]);
    server.stop();
    assert!(witnessed_seqs(&witness).len() > before, "the policy.loaded event's head was witnessed");
    env.ok(&["audit", "verify", "--witness", w]);
}
