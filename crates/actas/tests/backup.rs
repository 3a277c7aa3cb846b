//! Backups and restore (SQLite): `actas backup FILE` copies the database
//! online while a server writes, and verifies the copy's trail; `actas
//! restore FILE` verifies a backup before it replaces anything, and keeps
//! the database it replaced. A tampered backup is refused and changes
//! nothing.

mod common;

use common::*;
use reqwest::StatusCode;
use sqlx::{Connection, SqliteConnection};

#[tokio::test]
async fn a_backup_taken_while_the_server_writes_verifies_and_restores() {
    let env = Env::new();
    let server = env.serve();
    let live = live_session(&env, &server).await;
    let c = http();
    for _ in 0..5 {
        let (status, _) = authorize(&c, &server, &live, "settings.view").await;
        assert_eq!(status, StatusCode::OK);
    }
    // Online: the server keeps writing while the copy is made.
    let writing = {
        let (c, url, key, token) = (c.clone(), server.api("/authorize"), live.app_key.clone(), live.token.clone());
        tokio::spawn(async move {
            for _ in 0..50 {
                let _ = post(&c, &url, &key, &serde_json::json!({"token": token, "action": "settings.view"})).await;
            }
        })
    };
    let backup = env.path("backup.db");
    let said = env.ok(&["backup", backup.to_str().unwrap()]);
    assert!(said.contains("Its audit trail is intact"), "{said}");
    writing.await.unwrap();
    // Never over an existing file.
    let again = env.run(&["backup", backup.to_str().unwrap()]);
    assert_failure(&again, &["backup"]);
    assert!(both(&again).contains("never overwrites"), "{}", both(&again));
    server.stop();

    // Restored in the database's place: the trail verifies, the old one is kept.
    let said = env.ok(&["restore", backup.to_str().unwrap()]);
    assert!(said.contains("Its audit trail is intact"), "{said}");
    assert!(said.contains("before-restore"), "{said}");
    let verified = env.ok(&["audit", "verify"]);
    assert!(verified.contains("The audit trail is intact"), "{verified}");
    assert!(env.db.with_extension("before-restore").exists());
    // A server runs on it.
    let server = env.serve();
    let (status, _) = get(&c, &server.api("/audit/verify"), &live.auditor).await;
    assert_eq!(status, StatusCode::OK);
    server.stop();
}

#[tokio::test]
async fn a_tampered_backup_is_not_restored_and_nothing_changes() {
    let env = Env::new();
    let server = env.serve();
    let _live = live_session(&env, &server).await;
    server.stop();
    let backup = env.path("backup.db");
    env.ok(&["backup", backup.to_str().unwrap()]);
    // Someone edits an event in the backup.
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", backup.display())).await.unwrap();
    for s in [
        "DROP TRIGGER audit_events_append_only_update",
        "UPDATE audit_events SET text = 'nothing happened' WHERE seq = 2",
    ] {
        sqlx::query(s).execute(&mut conn).await.unwrap();
    }
    conn.close().await.unwrap();
    let before = std::fs::read(&env.db).unwrap();
    let out = env.run(&["restore", backup.to_str().unwrap()]);
    assert_failure(&out, &["restore"]);
    assert!(both(&out).contains("was not restored"), "{}", both(&out));
    assert_eq!(std::fs::read(&env.db).unwrap(), before, "the database is as it was");
    assert!(!env.db.with_extension("before-restore").exists());
    assert!(!env.db.with_extension("restoring").exists());
    let verified = env.ok(&["audit", "verify"]);
    assert!(verified.contains("The audit trail is intact"), "{verified}");
}

#[test]
fn postgres_is_backed_up_with_its_own_tools() {
    let env = Env::new();
    let out = env.run_on("postgres://nobody@127.0.0.1:1/none", &["restore", "backup.db"]);
    assert_failure(&out, &["restore"]);
    assert!(both(&out).contains("pg_restore"), "{}", both(&out));
}
