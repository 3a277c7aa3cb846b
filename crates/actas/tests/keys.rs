//! The private signing keys never lie in the database in the clear, the
//! servers refuse to run without the right key-encryption key, keys from
//! before sealing are sealed and replaced, and rotating keys or the KEK
//! keeps every token and the audit trail verifiable.

mod common;

use std::path::Path;
use std::process::Output;

use actas_server::keys::sealed::{self, Binding};
use actas_server::Kek;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use common::*;
use reqwest::StatusCode;
use sqlx::{Connection, Row, SqliteConnection};

/// How ring's Ed25519 PKCS#8 v2 documents begin; the 32-byte seed follows.
const PKCS8_PREFIX: [u8; 16] =
    [0x30, 0x51, 0x02, 0x01, 0x01, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];

/// A stored key row: kid, role, private part as stored, public key.
struct KeyRow {
    kid: String,
    role: String,
    private_key: String,
    public_key: String,
}

async fn sqlite_keys(db: &Path) -> Vec<KeyRow> {
    let mut conn =
        SqliteConnection::connect(&format!("sqlite://{}", db.display())).await.expect("opening the database");
    let rows = sqlx::query("SELECT kid, role, private_key, public_key FROM signing_keys ORDER BY created_at, kid")
        .fetch_all(&mut conn)
        .await
        .expect("reading the keys");
    conn.close().await.expect("closing the database");
    rows.iter().map(|r| KeyRow { kid: r.get(0), role: r.get(1), private_key: r.get(2), public_key: r.get(3) }).collect()
}

async fn pg_keys(url: &str) -> Vec<KeyRow> {
    let mut conn = sqlx::PgConnection::connect(url).await.expect("connecting");
    let rows = sqlx::query("SELECT kid, role, private_key, public_key FROM signing_keys ORDER BY created_at, kid")
        .fetch_all(&mut conn)
        .await
        .expect("reading the keys");
    let _ = conn.close().await;
    rows.iter().map(|r| KeyRow { kid: r.get(0), role: r.get(1), private_key: r.get(2), public_key: r.get(3) }).collect()
}

/// The keys' roles, sorted.
fn roles(rows: &[KeyRow]) -> Vec<&str> {
    let mut r: Vec<&str> = rows.iter().map(|k| k.role.as_str()).collect();
    r.sort();
    r
}

/// The PKCS#8 documents of the sealed keys, opened with the KEK, as only a
/// holder of the KEK can.
fn open_all(rows: &[KeyRow], kek: &Kek) -> Vec<Vec<u8>> {
    rows.iter()
        .map(|k| {
            assert!(k.private_key.starts_with(&format!("v1:{}:", kek.id())), "{} is sealed: {}", k.kid, k.private_key);
            let b = Binding { role: &k.role, kid: &k.kid, public_key: &k.public_key };
            sealed::open(kek, b, &k.private_key).expect("the key opens with the KEK").to_vec()
        })
        .collect()
}

/// Every form a private key might be written in: the PKCS#8 document and
/// its raw seed, as bytes, hex (both cases), base64 and base64url.
fn forms(der: &[u8]) -> Vec<(String, Vec<u8>)> {
    assert_eq!(der[..16], PKCS8_PREFIX, "an Ed25519 PKCS#8 v2 document");
    let seed = &der[16..48];
    let mut out = Vec::new();
    for (name, bytes) in [("PKCS#8", der), ("seed", seed)] {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        out.push((format!("{name} bytes"), bytes.to_vec()));
        out.push((format!("{name} hex"), hex.clone().into_bytes()));
        out.push((format!("{name} HEX"), hex.to_uppercase().into_bytes()));
        out.push((format!("{name} base64url"), URL_SAFE_NO_PAD.encode(bytes).into_bytes()));
        out.push((format!("{name} base64"), STANDARD.encode(bytes).trim_end_matches('=').as_bytes().to_vec()));
    }
    out
}

/// The forms of `keys` found in `haystack`, named.
fn found_in(haystack: &[u8], keys: &[Vec<u8>]) -> Vec<String> {
    let mut found = Vec::new();
    for der in keys {
        for (name, needle) in forms(der) {
            if haystack.windows(needle.len()).any(|w| w == needle.as_slice()) {
                found.push(name);
            }
        }
    }
    found
}

/// The SQLite file with its write-ahead log and shared-memory index, as
/// they are on disk this moment.
fn sqlite_files(db: &Path) -> Vec<u8> {
    let mut all = std::fs::read(db).expect("reading the database file");
    for suffix in ["-wal", "-shm"] {
        if let Ok(more) = std::fs::read(format!("{}{suffix}", db.display())) {
            all.extend(more);
        }
    }
    all
}

/// A running server that has signed tokens and checkpoints: a live
/// session and a few authorize calls.
async fn signing_server(env: &Env) -> (Server, Live) {
    let server = env.serve();
    let live = live_session(env, &server).await;
    let c = http();
    for _ in 0..3 {
        let (status, body) = authorize(&c, &server, &live, "settings.view").await;
        assert_eq!((status, &body["allowed"]), (StatusCode::OK, &serde_json::json!(true)), "{body}");
    }
    (server, live)
}

#[tokio::test]
async fn no_private_key_bytes_are_in_the_sqlite_files_while_the_server_signs() {
    let env = Env::new();
    let (server, live) = signing_server(&env).await;
    let kek = Kek::from_file(env.kek()).unwrap();
    let rows = sqlite_keys(&env.db).await;
    assert_eq!(roles(&rows), ["checkpoint", "token"]);
    let keys = open_all(&rows, &kek);
    let token_kid = &rows.iter().find(|k| k.role == "token").unwrap().kid;
    let checkpoints = scalar_sqlite(
        &env.db,
        "SELECT COUNT(*) FROM audit_checkpoints WHERE kid = (SELECT kid FROM signing_keys WHERE role = 'checkpoint')",
    )
    .await;
    assert!(checkpoints > 0, "the checkpoint key signed");
    assert_eq!(jws_header(&live.token)["kid"], token_kid.as_str(), "the token key signed the token");

    let files = sqlite_files(&env.db);
    assert!(files.len() > 10_000, "the files were read");
    assert_eq!(found_in(&files, &keys), Vec::<String>::new(), "private key material in the database files");
    server.stop();
    assert_eq!(found_in(&sqlite_files(&env.db), &keys), Vec::<String>::new());
}

#[tokio::test]
async fn the_same_search_finds_keys_stored_in_the_clear() {
    // The search above can fail: on a database whose keys lie in the
    // clear (the old way, still allowed by a flag) it finds them.
    let env = Env::new();
    let mut c = env.cmd(&["serve", "--listen", "127.0.0.1:0", "--allow-plaintext-keys"]);
    c.env_remove(KEK_VAR);
    let server = Server::spawn(c);
    assert!(server.log().contains("stored in the clear"), "{}", server.log());
    let rows = sqlite_keys(&env.db).await;
    let keys: Vec<Vec<u8>> = rows.iter().map(|k| URL_SAFE_NO_PAD.decode(&k.private_key).unwrap()).collect();
    let found = found_in(&sqlite_files(&env.db), &keys);
    assert!(found.contains(&"PKCS#8 base64url".to_string()), "{found:?}");
    server.stop();
}

#[tokio::test]
async fn no_private_key_bytes_are_in_any_postgres_table_while_the_server_signs() {
    let Some(base) = pg_base_url() else { return };
    let db = PgDatabase::create(&base).await;
    let env = Env::on(&db.url);
    let (server, _) = signing_server(&env).await;
    let rows = pg_keys(&db.url).await;
    let keys = open_all(&rows, &Kek::from_file(env.kek()).unwrap());
    assert_eq!(keys.len(), 2);
    let everything = pg_everything(&db.url).await;
    // The sealed keys are there; what they hide is not.
    assert!(String::from_utf8_lossy(&everything).contains(&rows[0].private_key));
    assert_eq!(found_in(&everything, &keys), Vec::<String>::new(), "private key material in a table");
    server.stop();
}

async fn scalar_sqlite(db: &Path, sql: &str) -> i64 {
    let mut conn =
        SqliteConnection::connect(&format!("sqlite://{}", db.display())).await.expect("opening the database");
    let v: i64 = sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    conn.close().await.expect("closing the database");
    v
}

/// `actas serve` that must refuse to start: exit code 3 and `words` in what it said.
fn refused(out: &Output, words: &[&str]) -> String {
    let said = both(out);
    assert_eq!(out.status.code(), Some(3), "exit code 3 for key problems:\n{said}");
    assert!(!said.contains("actas is listening"), "{said}");
    for w in words {
        assert!(said.contains(w), "{w:?} is said:\n{said}");
    }
    said
}

fn serve_cmd(env: &Env) -> std::process::Command {
    env.cmd(&["serve", "--listen", "127.0.0.1:0"])
}

#[tokio::test]
async fn a_server_without_the_kek_or_with_a_wrong_one_refuses_to_start_and_changes_nothing() {
    let env = Env::new();
    let (server, live) = signing_server(&env).await;
    server.stop();
    let kek = Kek::from_file(env.kek()).unwrap();
    let before = sqlite_keys(&env.db).await.into_iter().map(|k| (k.kid, k.private_key)).collect::<Vec<_>>();

    let mut c = serve_cmd(&env);
    c.env_remove(KEK_VAR);
    refused(&run_briefly(c), &["sealed under key-encryption key", kek.id(), "--key-encryption-key-file"]);

    // The insecure flag does not open sealed keys either.
    let mut c = serve_cmd(&env);
    c.env_remove(KEK_VAR).arg("--allow-plaintext-keys");
    refused(&run_briefly(c), &["sealed under key-encryption key"]);

    let wrong = env.path("wrong-kek");
    write_kek(&wrong);
    let wrong_id = Kek::from_file(&wrong).unwrap().id().to_string();
    let mut c = serve_cmd(&env);
    c.env(KEK_VAR, &wrong);
    refused(&run_briefly(c), &["wrong key-encryption key", &wrong_id, kek.id()]);

    // Through the variable holding the base64 instead of a file, too.
    let mut c = serve_cmd(&env);
    c.env_remove(KEK_VAR).env("ACTAS_KEY_ENCRYPTION_KEY", STANDARD.encode(std::fs::read(&wrong).unwrap()));
    refused(&run_briefly(c), &["wrong key-encryption key"]);

    // A file that is no key at all.
    let junk = env.path("junk-kek");
    std::fs::write(&junk, "not a key").unwrap();
    let mut c = serve_cmd(&env);
    c.env(KEK_VAR, &junk);
    refused(&run_briefly(c), &["key-encryption key cannot be used", "junk-kek"]);

    // No new key was made; nothing was sealed again.
    let after = sqlite_keys(&env.db).await.into_iter().map(|k| (k.kid, k.private_key)).collect::<Vec<_>>();
    assert_eq!(after, before);

    // The right one, as base64 in the variable, starts it, and the token still works.
    let mut c = serve_cmd(&env);
    c.env_remove(KEK_VAR).env("ACTAS_KEY_ENCRYPTION_KEY", STANDARD.encode(std::fs::read(env.kek()).unwrap()));
    let server = Server::spawn(c);
    let (status, body) = authorize(&http(), &server, &live, "settings.view").await;
    assert_eq!((status, &body["allowed"]), (StatusCode::OK, &serde_json::json!(true)), "{body}");
    server.stop();

    // Commands that need no private key run without the KEK.
    let mut c = env.cmd(&["audit", "verify"]);
    c.env_remove(KEK_VAR);
    let out = output(c, None);
    assert!(out.status.success(), "{}", both(&out));
    let mut c = env.cmd(&["staff", "add", "jon", "--name", "Jon Park", "--role", "agent"]);
    c.env_remove(KEK_VAR);
    let out = output(c, None);
    assert!(out.status.success(), "{}", both(&out));
}

#[tokio::test]
async fn a_fresh_database_gets_no_key_without_a_kek() {
    let env = Env::new();
    let mut c = serve_cmd(&env);
    c.env_remove(KEK_VAR);
    refused(&run_briefly(c), &["no key-encryption key was given", "actas key new-kek"]);
    assert_eq!(scalar_sqlite(&env.db, "SELECT COUNT(*) FROM signing_keys").await, 0);

    // `key new-kek` makes one that works, and never overwrites a file.
    let out = env.ok(&["key", "new-kek", "fresh.kek"]);
    assert!(out.contains("kek_"), "{out}");
    let again = env.run(&["key", "new-kek", "fresh.kek"]);
    assert!(!again.status.success(), "{}", both(&again));
    let fresh = env.path("fresh.kek");
    let server = Server::start_with_vars(&env, &env.db, &[], &[(KEK_VAR, fresh.to_str().unwrap())]);
    server.stop();
    let rows = sqlite_keys(&env.db).await;
    assert_eq!(open_all(&rows, &Kek::from_file(&fresh).unwrap()).len(), 2);
}

#[tokio::test]
async fn keys_from_before_sealing_are_sealed_and_replaced_by_key_encrypt() {
    let mut env = Env::new();
    // Before sealing there was no KEK.
    let kek = env.kek.take();
    // A database from before: keys in the clear, and one key that signed
    // both tokens and checkpoints.
    let mut c = serve_cmd(&env);
    c.arg("--allow-plaintext-keys");
    Server::spawn(c).stop();
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", env.db.display())).await.unwrap();
    for sql in [
        "DELETE FROM audit_checkpoints",
        "DELETE FROM signing_keys WHERE role = 'checkpoint'",
        "UPDATE signing_keys SET role = 'legacy'",
    ] {
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    }
    conn.close().await.unwrap();
    let mut c = serve_cmd(&env);
    c.arg("--allow-plaintext-keys");
    let server = Server::spawn(c);
    let live = live_session(&env, &server).await;
    let legacy = sqlite_keys(&env.db).await;
    assert_eq!(legacy.len(), 1);
    assert_eq!(jws_header(&live.token)["kid"], legacy[0].kid.as_str());
    server.stop();
    assert!(scalar_sqlite(&env.db, "SELECT COUNT(*) FROM audit_checkpoints").await > 0, "the legacy key signed heads");

    // Without the flag: refused, saying how to seal them.
    refused(&run_briefly(serve_cmd(&env)), &["stored in the clear", "actas key encrypt", "--allow-plaintext-keys"]);
    // With a KEK: refused until they are sealed.
    env.kek = kek;
    refused(&run_briefly(serve_cmd(&env)), &["seal them first with `actas key encrypt`"]);

    let out = env.ok(&["key", "encrypt"]);
    assert!(out.contains("Sealed 1 key(s)") && out.contains(&legacy[0].kid), "{out}");
    let rows = sqlite_keys(&env.db).await;
    assert_eq!(roles(&rows), ["checkpoint", "legacy", "token"]);
    open_all(&rows, &Kek::from_file(env.kek()).unwrap());
    let kid = |role: &str| rows.iter().find(|k| k.role == role).unwrap().kid.clone();
    assert!(env.ok(&["key", "encrypt"]).contains("nothing to do"));

    // The old token still verifies until it ends; new tokens use the new key;
    // the trail, with the legacy key's checkpoints, still verifies.
    let server = env.serve();
    let c = http();
    let (status, body) = authorize(&c, &server, &live, "settings.view").await;
    assert_eq!((status, &body["allowed"]), (StatusCode::OK, &serde_json::json!(true)), "{body}");
    let kids = jwks_kids(&c, &server).await;
    assert!(kids.contains(&kid("legacy")) && kids.contains(&kid("token")), "{kids:?}");
    assert!(!kids.contains(&kid("checkpoint")), "{kids:?}");
    server.stop();
    env.ok(&["audit", "verify"]);
}

#[tokio::test]
async fn key_rotation_and_a_kek_rewrap_keep_old_tokens_and_the_trail_verifiable() {
    let env = Env::new();
    let witness = env.path("witness.jsonl");
    let w = witness.to_str().unwrap().to_string();
    let server = Server::start(&env, &env.db, &["--witness", &w]);
    let live = live_session(&env, &server).await;
    let c = http();
    let first = jws_header(&live.token)["kid"].as_str().unwrap().to_string();
    let live_base = server.base.clone();

    // Both keys rotated and the KEK replaced while the server runs.
    let out = env.ok(&["key", "rotate"]);
    assert!(out.contains("New signing key"), "{out}");
    let out = env.ok(&["key", "rotate", "--role", "checkpoint"]);
    assert!(out.contains("New checkpoint key"), "{out}");
    let new_kek = env.path("kek-2");
    env.ok(&["key", "new-kek", new_kek.to_str().unwrap()]);
    let out = env.ok(&["key", "rewrap", "--new-key-encryption-key-file", new_kek.to_str().unwrap()]);
    assert!(out.contains("Sealed 4 key(s) again"), "{out}");
    let mut export = env.cmd(&["audit", "export", "--format", "text"]);
    export.env(KEK_VAR, &new_kek);
    let out = output(export, None);
    assert_success(&out, &["audit", "export"]);
    let trail = stdout(&out);
    let (new_id, old_id) = (Kek::from_file(&new_kek).unwrap(), Kek::from_file(env.kek()).unwrap());
    let said = format!("under a new key-encryption key {}; key-encryption key {} opens none", new_id.id(), old_id.id());
    assert!(
        trail
            .lines()
            .any(|l| l.contains("An operator at the command line sealed the signing keys (") && l.contains(&said)),
        "{trail}"
    );
    let (status, body) = authorize(&c, &server, &live, "settings.view").await;
    assert_eq!((status, &body["allowed"]), (StatusCode::OK, &serde_json::json!(true)), "{body}");
    server.stop();

    // The old KEK opens nothing now; the new one does.
    refused(&run_briefly(serve_cmd(&env)), &["wrong key-encryption key"]);
    // On the same address: the token's issuer.
    let listen = server_addr(&live_base);
    let mut again = env.cmd(&["serve", "--listen", &listen, "--witness", &w]);
    again.env(KEK_VAR, &new_kek);
    let server = Server::spawn(again);
    // A new client: the old one's pooled connection went with the old server.
    let c = http();
    let (status, body) = authorize(&c, &server, &live, "settings.view").await;
    assert_eq!((status, &body["allowed"]), (StatusCode::OK, &serde_json::json!(true)), "{body}");
    let kids = jwks_kids(&c, &server).await;
    assert_eq!(kids.len(), 2, "the old token key stays published while its tokens may live: {kids:?}");
    assert!(kids.contains(&first), "{kids:?}");
    // A host app verifying offline still accepts the token of the old key.
    let app_id = sqlx_app_id(&env.db).await;
    let who = actas_client::Verifier::new(&server.base, &app_id).verify(&live.token).await.unwrap();
    assert_eq!(who.agent, "maria");

    // Auditors get both checkpoint keys, old and new, and no token key.
    let (status, keys) = get(&c, &server.api("/audit/keys"), &live.auditor).await;
    assert_eq!(status, StatusCode::OK, "{keys}");
    let audit_kids: Vec<&str> = keys["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(audit_kids.len(), 2, "{keys}");
    assert!(audit_kids.iter().all(|k| !kids.iter().any(|t| t == k)), "{keys}");
    let (status, _) = get(&c, &server.api("/audit/keys"), &live.agent).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    server.stop();

    // The trail verifies, with its witness, signed by both checkpoint keys.
    let lines = std::fs::read_to_string(&witness).unwrap();
    let signers: std::collections::BTreeSet<String> = lines
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["kid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(signers.len(), 2, "{lines}");
    let mut verify = env.cmd(&["audit", "verify", "--witness", &w]);
    verify.env(KEK_VAR, &new_kek);
    let out = output(verify, None);
    assert!(out.status.success(), "{}", both(&out));
    assert!(stdout(&out).contains("witnessed heads"), "{}", stdout(&out));
    let listed = {
        let mut c = env.cmd(&["key", "list"]);
        c.env_remove(KEK_VAR);
        stdout(&output(c, None))
    };
    assert_eq!(listed.lines().filter(|l| l.starts_with("checkpoint")).count(), 2, "{listed}");
    assert_eq!(listed.lines().filter(|l| l.starts_with("token")).count(), 2, "{listed}");
}

fn server_addr(base: &str) -> String {
    base.trim_start_matches("http://").to_string()
}

async fn sqlx_app_id(db: &Path) -> String {
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", db.display())).await.expect("opening");
    let id: String = sqlx::query_scalar("SELECT id FROM apps LIMIT 1").fetch_one(&mut conn).await.expect("an app");
    conn.close().await.expect("closing");
    id
}
