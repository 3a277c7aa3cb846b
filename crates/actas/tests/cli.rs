//! Every verb of the `actas` command line (SPEC §8), each test on its own
//! SQLite file in a fresh folder.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use serde_json::Value;

/// The shipped policy, the model of a good policy file.
const SHIPPED_POLICY: &str = include_str!("../../actas-core/src/default_policy.toml");

/// 1-based line of the first line containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap_or_else(|| panic!("no line with {needle:?}")) + 1
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("writing a file in the test folder");
}

async fn sqlite(db: &Path) -> sqlx::SqliteConnection {
    use sqlx::Connection;
    let url = format!("sqlite://{}", db.display());
    sqlx::SqliteConnection::connect(&url).await.expect("the test opens the database")
}

#[test]
fn the_version_names_the_database_schema_it_writes() {
    let env = Env::new();
    let out = env.ok(&["--version"]);
    assert_eq!(
        out.trim(),
        format!("actas {} (database schema {})", env!("CARGO_PKG_VERSION"), actas_store::schema_version())
    );
}

#[test]
fn migrate_brings_a_fresh_database_to_the_current_schema() {
    let env = Env::new();
    let out = env.ok(&["migrate"]);
    assert!(out.contains("current schema"), "{out}");
    assert!(env.db.exists(), "the database file was created");
    // Running it again changes nothing and still succeeds.
    env.ok(&["migrate"]);
    env.ok(&["audit", "verify"]);
}

#[tokio::test]
async fn staff_add_prints_the_token_as_the_last_line_and_it_works_as_a_bearer() {
    let env = Env::new();
    let out = env.ok(&["staff", "add", "maria", "--name", "Maria Lopez", "--role", "agent"]);
    let token = last_line(&out);
    assert!(token.starts_with("actas_pat_"), "{out}");
    assert!(!token.contains(' '), "the last line is the token alone: {out}");

    let server = env.serve();
    let c = http();
    let (status, body) = get(&c, &server.api("/requests"), token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["requests"].is_array(), "{body}");

    let (status, _) = get(&c, &server.api("/requests"), "actas_pat_not-a-real-token").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    server.stop();

    // The token is a secret: it is never in the audit trail.
    let trail = env.ok(&["audit", "export", "--format", "jsonl"]);
    assert!(trail.contains("staff.created"), "{trail}");
    assert!(!trail.contains(token), "the token leaked into the trail");
}

#[test]
fn staff_add_takes_several_roles() {
    let env = Env::new();
    let out = env.ok(&["staff", "add", "sam", "--name", "Sam Lee", "--role", "lead", "agent"]);
    assert!(out.contains("lead") && out.contains("agent"), "{out}");
    assert!(last_line(&out).starts_with("actas_pat_"), "{out}");
}

#[tokio::test]
async fn staff_add_with_password_stdin_stores_only_a_password_hash() {
    let env = Env::new();
    let password = "correct horse battery staple";
    let args = ["staff", "add", "maria", "--name", "Maria Lopez", "--role", "agent", "--password-stdin"];
    let out = env.run_stdin(&args, &format!("{password}\n"));
    assert_success(&out, &args);
    assert!(last_line(&stdout(&out)).starts_with("actas_pat_"));

    let mut db = sqlite(&env.db).await;
    let hash: Option<String> =
        sqlx::query_scalar("SELECT password_hash FROM staff WHERE id = 'maria'").fetch_one(&mut db).await.unwrap();
    let hash = hash.expect("a password hash");
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains(password));

    let trail = env.ok(&["audit", "export", "--format", "jsonl"]);
    assert!(!trail.contains(password), "the password leaked into the trail");
}

#[test]
fn staff_add_with_password_stdin_refuses_a_short_password_and_adds_nobody() {
    let env = Env::new();
    let args = ["staff", "add", "maria", "--name", "Maria Lopez", "--role", "agent", "--password-stdin"];
    let out = env.run_stdin(&args, "short-pw\n");
    assert_failure(&out, &args);
    let err = stderr(&out);
    assert!(err.contains("at least 12 characters"), "{err}");
    assert!(!stdout(&out).contains("actas_pat_"), "no token for a refused staff member");

    // Nothing was added: the same login can be added now.
    let out = env.run_stdin(&args, "a long enough password\n");
    assert_success(&out, &args);
}

#[test]
fn staff_add_with_password_stdin_refuses_an_empty_stdin() {
    let env = Env::new();
    let args = ["staff", "add", "maria", "--name", "Maria Lopez", "--role", "agent", "--password-stdin"];
    let out = env.run_stdin(&args, "");
    assert_failure(&out, &args);
    assert!(stderr(&out).contains("no password"), "{}", both(&out));
}

#[tokio::test]
async fn staff_password_reads_the_new_password_from_stdin() {
    let env = Env::new();
    env.add_staff("maria", "Maria Lopez", &["agent"]);

    let args = ["staff", "password", "maria"];
    let out = env.run_stdin(&args, "a brand new long password\n");
    assert_success(&out, &args);
    assert!(stdout(&out).contains("maria"), "{}", both(&out));

    let mut db = sqlite(&env.db).await;
    let first: Option<String> =
        sqlx::query_scalar("SELECT password_hash FROM staff WHERE id = 'maria'").fetch_one(&mut db).await.unwrap();
    let first = first.expect("a password hash after staff password");
    assert!(first.starts_with("$argon2id$"), "{first}");
    // Recorded as the console records it: staff.updated naming the password, never its value.
    let updated: Vec<(String, String)> =
        sqlx::query_as("SELECT data, text FROM audit_events WHERE type = 'staff.updated'")
            .fetch_all(&mut db)
            .await
            .unwrap();
    assert_eq!(updated.len(), 1, "{updated:?}");
    assert!(updated[0].0.contains(r#""changed":["password"]"#), "{updated:?}");
    assert!(updated[0].1.contains("set a new console password for staff member Maria Lopez"), "{updated:?}");
    assert!(!updated[0].0.contains("brand new") && !updated[0].1.contains("brand new"), "{updated:?}");

    // A short one is refused and the stored hash stays.
    let out = env.run_stdin(&args, "too-short\n");
    assert_failure(&out, &args);
    assert!(stderr(&out).contains("at least 12 characters"), "{}", both(&out));
    let after: Option<String> =
        sqlx::query_scalar("SELECT password_hash FROM staff WHERE id = 'maria'").fetch_one(&mut db).await.unwrap();
    assert_eq!(after.as_deref(), Some(first.as_str()));
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE type = 'staff.updated'")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(n, 1, "a refused password records nothing");

    // An unknown login is refused.
    let args = ["staff", "password", "nobody"];
    let out = env.run_stdin(&args, "a brand new long password\n");
    assert_failure(&out, &args);
    assert!(stderr(&out).contains("nobody"), "{}", both(&out));
}

#[tokio::test]
async fn staff_disable_makes_the_token_refused_and_ends_the_live_session() {
    let env = Env::new();
    let server = env.serve();
    let live = live_session(&env, &server).await;
    let c = http();

    let (status, body) = authorize(&c, &server, &live, "settings.view").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["allowed"], true, "{body}");

    let out = env.ok(&["staff", "disable", "maria"]);
    assert!(out.contains("disabled"), "{out}");

    let (status, body) = get(&c, &server.api("/requests"), &live.agent).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    let (status, body) = authorize(&c, &server, &live, "settings.view").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["allowed"], false, "{body}");

    let (status, session) = get(&c, &server.api(&format!("/sessions/{}", live.session_id)), &live.lead).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    assert_eq!(session["state"], "ended", "{session}");
    assert_eq!(session["end_reason"], "staff_disabled", "{session}");

    // Disabling twice is refused; an unknown login too.
    let args = ["staff", "disable", "maria"];
    assert_failure(&env.run(&args), &args);
    let args = ["staff", "disable", "nobody"];
    assert_failure(&env.run(&args), &args);

    // Enabled again: their personal token works, the ended session stays ended.
    let out = env.ok(&["staff", "enable", "maria"]);
    assert!(out.contains("enabled again"), "{out}");
    let (status, body) = get(&c, &server.api("/requests"), &live.agent).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = authorize(&c, &server, &live, "settings.view").await;
    assert_eq!(body["allowed"], false, "{body}");
    let args = ["staff", "enable", "maria"];
    assert_failure(&env.run(&args), &args);
}

#[test]
fn staff_add_refuses_an_unknown_role() {
    let env = Env::new();
    let args = ["staff", "add", "maria", "--name", "Maria Lopez", "--role", "boss"];
    let out = env.run(&args);
    assert_failure(&out, &args);
    let err = stderr(&out);
    assert!(err.contains("unknown role") && err.contains("boss"), "{err}");
    assert!(!stdout(&out).contains("actas_pat_"));
}

#[test]
fn staff_add_refuses_a_duplicate_login() {
    let env = Env::new();
    env.add_staff("maria", "Maria Lopez", &["agent"]);
    let args = ["staff", "add", "maria", "--name", "Maria Other", "--role", "lead"];
    let out = env.run(&args);
    assert_failure(&out, &args);
    assert!(stderr(&out).contains("exists already"), "{}", both(&out));
    assert!(!stdout(&out).contains("actas_pat_"));

    // The first one is unchanged: one staff.created event only.
    let trail = env.ok(&["audit", "export", "--format", "jsonl"]);
    assert_eq!(trail.matches("\"staff.created\"").count(), 1, "{trail}");
}

#[test]
fn staff_add_refuses_a_bad_login() {
    let env = Env::new();
    let args = ["staff", "add", "Maria Lopez", "--name", "Maria", "--role", "agent"];
    let out = env.run(&args);
    assert_failure(&out, &args);
    assert!(stderr(&out).contains("login"), "{}", both(&out));
}

#[test]
fn app_add_prints_the_app_key_as_the_last_line() {
    let env = Env::new();
    let out = env.ok(&["app", "add", "Acme Billing", "--tickets", "--origin", "http://localhost:3000"]);
    let key = last_line(&out);
    assert!(key.starts_with("actas_app_"), "{out}");
    assert!(!key.contains(' '), "{out}");

    let trail = env.ok(&["audit", "export", "--format", "jsonl"]);
    assert!(trail.contains("app.created"), "{trail}");
    assert!(!trail.contains(key), "the app key leaked into the trail");
}

#[tokio::test]
async fn app_key_pushes_tickets_to_a_running_server() {
    let env = Env::new();
    let server = env.serve();
    let key = env.add_app("Acme Billing");
    let c = http();
    let (status, body) = post(
        &c,
        &server.api("/tickets"),
        &key,
        &serde_json::json!({"ref": "1", "account_id": "acct_1", "subject": "Cannot log in"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn app_add_scim_makes_the_key_an_identity_providers_bearer_token() {
    let env = Env::new();
    let okta = last_line(&env.ok(&["app", "add", "Okta", "--scim"])).to_string();
    let desk = env.add_app("Desk");
    let server = env.serve();
    let users = format!("{}/scim/v2/Users", server.base);
    let c = http();
    let res = c.get(&users).bearer_auth(&okta).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/scim+json");
    let list: Value = res.json().await.unwrap();
    assert_eq!(list["totalResults"], 0, "{list}");
    let res = c.get(&users).bearer_auth(&desk).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "an app without --scim is refused");
}

#[tokio::test]
async fn app_add_consent_required_lets_support_in_only_with_the_customers_grant() {
    let env = Env::new();
    let key = last_line(&env.ok(&[
        "app",
        "add",
        "Acme Billing",
        "--origin",
        "https://app.acme.test",
        "--consent",
        "required",
    ]))
    .to_string();
    let server = env.serve();
    let c = http();
    let res = c.get(format!("{}/api/v1/accounts/acct_42/grants", server.base)).bearer_auth(&key).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let consent: Value = res.json().await.unwrap();
    assert_eq!(consent["required"], true, "{consent}");
    let out = env.run(&["app", "add", "Other", "--consent", "sometimes"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("sometimes"));
}

#[test]
fn app_add_refuses_a_bad_origin() {
    let env = Env::new();
    for origin in ["localhost:3000", "http://localhost:3000/app", "ftp://example.com"] {
        let args = ["app", "add", "Acme Billing", "--origin", origin];
        let out = env.run(&args);
        assert_failure(&out, &args);
        let err = stderr(&out);
        assert!(err.contains(origin) && err.contains("origin"), "{origin}: {err}");
        assert!(!stdout(&out).contains("actas_app_"));
    }
    // Nothing was registered: the name is still free.
    env.add_app("Acme Billing");
}

#[tokio::test]
async fn key_rotate_then_the_jwks_serves_two_keys() {
    let env = Env::new();
    // The first start makes the first keys.
    env.serve().stop();
    let out = env.ok(&["key", "rotate"]);
    assert!(out.contains("New signing key"), "{out}");

    let server = env.serve();
    let c = http();
    let r = c.get(format!("{}/.well-known/jwks.json", server.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let jwks: Value = r.json().await.unwrap();
    let keys = jwks["keys"].as_array().expect("a keys array");
    assert_eq!(keys.len(), 2, "{jwks}");
    let kids: Vec<&str> = keys.iter().filter_map(|k| k["kid"].as_str()).collect();
    assert_eq!(kids.len(), 2, "{jwks}");
    assert_ne!(kids[0], kids[1], "{jwks}");
    for k in keys {
        assert_eq!(k["kty"], "OKP", "{k}");
        assert_eq!(k["crv"], "Ed25519", "{k}");
        assert_eq!(k["alg"], "EdDSA", "{k}");
        assert!(k.get("d").is_none(), "no private part is published: {k}");
    }
    server.stop();
    env.ok(&["audit", "verify"]);
}

#[test]
fn policy_check_accepts_a_good_file() {
    let env = Env::new();
    let file = env.path("actas.toml");
    write(&file, SHIPPED_POLICY);
    let out = env.ok(&["policy", "check", file.to_str().unwrap()]);
    assert!(out.contains("is valid"), "{out}");
}

/// Bad policies: each a file, the line of the problem and a word of the reason.
fn bad_policies() -> Vec<(&'static str, String, usize, &'static str)> {
    let shipped = SHIPPED_POLICY;

    let unknown_key = shipped.replacen("[session]\n", "[session]\ncolour = \"red\"\n", 1);
    let unknown_key_line = line_of(&unknown_key, "colour = ");

    let bad_kind = shipped.replacen("kind = \"view\"", "kind = \"peek\"", 1);
    let bad_kind_line = line_of(&bad_kind, "kind = \"peek\"");

    let duplicate = format!(
        "{shipped}\n[[action]]\nname = \"settings.view\"\nlabel = \"View settings again\"\nkind = \"view\"\napproval = \"none\"\n"
    );
    let duplicate_line = duplicate
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains("name = \"settings.view\""))
        .map(|(i, _)| i + 1)
        .last()
        .expect("the duplicate name line");

    assert!(shipped.contains("max_minutes = 30"));
    let max_below_default = shipped.replacen("max_minutes = 30", "max_minutes = 5", 1);
    let max_line = line_of(&max_below_default, "max_minutes = 5");

    let listed = "store_values = [\"invoice_email\"]";
    assert!(shipped.contains(listed));
    let secret_listed = shipped.replacen(listed, "store_values = [\"invoice_email\", \"smtp_password\"]", 1);
    let secret_line = line_of(&secret_listed, "smtp_password");
    let misspelt = shipped.replacen(listed, "store_value = [\"invoice_email\"]", 1);
    let misspelt_line = line_of(&misspelt, "store_value =");

    vec![
        ("secret-listed.toml", secret_listed, secret_line, "looks like a secret"),
        ("misspelt-store-values.toml", misspelt, misspelt_line, "store_value"),
        ("unknown-key.toml", unknown_key, unknown_key_line, "colour"),
        ("bad-kind.toml", bad_kind, bad_kind_line, "peek"),
        ("duplicate.toml", duplicate, duplicate_line, "duplicate"),
        ("max-below-default.toml", max_below_default, max_line, "less than"),
    ]
}

#[test]
fn policy_check_refuses_bad_files_with_file_line_and_reason() {
    let env = Env::new();
    for (name, text, line, reason) in bad_policies() {
        let file = env.path(name);
        write(&file, &text);
        let path = file.to_str().unwrap();
        let args = ["policy", "check", path];
        let out = env.run(&args);
        assert_failure(&out, &args);
        let err = stderr(&out);
        assert!(err.contains(&format!("{path}:{line}:")), "{name}: expected {path}:{line}: in {err}");
        assert!(err.contains(reason), "{name}: expected {reason:?} in {err}");
    }
}

#[test]
fn policy_check_refuses_a_missing_file() {
    let env = Env::new();
    let file = env.path("nowhere.toml");
    let args = ["policy", "check", file.to_str().unwrap()];
    let out = env.run(&args);
    assert_failure(&out, &args);
    assert!(stderr(&out).contains("nowhere.toml"), "{}", both(&out));
}

#[test]
fn serve_refuses_to_start_with_a_bad_policy() {
    let env = Env::new();
    let (name, text, line, reason) = bad_policies().remove(2);
    let file = env.path(name);
    write(&file, &text);
    let path = file.to_str().unwrap();

    let mut child = env
        .cmd(&["serve", "--listen", "127.0.0.1:0", "--policy", path])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if status.is_none() {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    let status = status.expect("serve with a bad policy should exit quickly");
    assert!(!status.success(), "{}", both(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("{path}:{line}:")), "{err}");
    assert!(err.contains(reason), "{err}");
    assert!(!err.contains("actas is listening"), "{err}");
}

#[tokio::test]
async fn serve_runs_with_a_good_policy_file() {
    let env = Env::new();
    let file = env.path("actas.toml");
    write(&file, SHIPPED_POLICY);
    let server = Server::start(&env, &env.db, &["--policy", file.to_str().unwrap()]);
    let r = http().get(format!("{}/healthz", server.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[test]
fn audit_verify_passes_on_a_fresh_database() {
    let env = Env::new();
    let out = env.run(&["audit", "verify"]);
    assert_success(&out, &["audit", "verify"]);
    assert!(stdout(&out).contains("intact"), "{}", both(&out));
}

#[tokio::test]
async fn audit_export_prints_every_event_in_each_format() {
    let env = Env::new();
    let server = env.serve();
    let live = live_session(&env, &server).await;
    let c = http();
    for action in ["settings.view", "settings.view", "billing.update"] {
        let (status, body) = authorize(&c, &server, &live, action).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let api_events = audit_events(&c, &server, &live.auditor, "").await;
    server.stop();
    let n = api_events.len();
    assert!(n >= 10, "a trail worth exporting: {n} events");

    let jsonl = env.ok(&["audit", "export", "--format", "jsonl"]);
    let lines: Vec<Value> =
        jsonl.lines().map(|l| serde_json::from_str(l).expect("each line is one JSON event")).collect();
    assert_eq!(lines.len(), n);
    for (i, (exported, served)) in lines.iter().zip(&api_events).enumerate() {
        assert_eq!(exported["seq"], (i + 1) as i64, "{exported}");
        assert_eq!(exported["id"], served["id"]);
        assert_eq!(exported["hash"], served["hash"]);
        assert_eq!(exported["text"], served["text"]);
    }
    assert!(lines.iter().any(|e| e["type"] == "action.denied"));
    assert!(lines.iter().any(|e| e["type"] == "record.viewed"));

    let csv_text = env.ok(&["audit", "export", "--format", "csv"]);
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    assert_eq!(&headers[0], "seq", "{headers:?}");
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), n);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row[0].parse::<usize>().unwrap(), i + 1);
        assert_eq!(row[1], *lines[i]["id"].as_str().unwrap());
    }

    let text = env.ok(&["audit", "export", "--format", "text"]);
    let text_lines: Vec<&str> = text.lines().collect();
    assert_eq!(text_lines.len(), n, "{text}");
    for (line, event) in text_lines.iter().zip(&lines) {
        assert!(line.contains(event["text"].as_str().unwrap()), "{line} / {event}");
    }

    // The exports never carry the secrets.
    for secret in [&live.agent, &live.app_key, &live.token] {
        assert!(!jsonl.contains(secret.as_str()));
        assert!(!csv_text.contains(secret.as_str()));
        assert!(!text.contains(secret.as_str()));
    }
}

/// True for characters that lay text out (controls, line separators, bidi).
fn layout(c: char) -> bool {
    actas_core::limits::is_layout_char(c)
}

#[tokio::test]
async fn audit_export_keeps_one_line_per_event_and_no_formula_whatever_was_typed() {
    let env = Env::new();
    let server = env.serve();
    let live = live_session(&env, &server).await;
    let eve = env.add_staff("eve", "=Eve Formula", &["agent"]);
    let c = http();
    let forged = "\n2026-11-25T14:00:00.000Z  Sam Lee approved it\u{2028}\u{202e}desrever";
    let (status, body) = post(
        &c,
        &server.api("/requests"),
        &eve,
        &serde_json::json!({"ticket": "48192", "reason": format!("Customer can't update tax settings{forged}"), "actions": ["settings.view"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = post(
        &c,
        &server.api("/authorize"),
        &live.app_key,
        &serde_json::json!({"token": live.token, "action": "settings.view", "target": {"type": "=cmd|' /C calc'!A0"}}),
    )
    .await;
    assert_eq!((status, &body["allowed"]), (StatusCode::OK, &Value::Bool(true)), "{body}");
    let n = audit_events(&c, &server, &live.auditor, "").await.len();
    server.stop();

    let text = env.ok(&["audit", "export", "--format", "text"]);
    let lines: Vec<&str> = text.split_terminator('\n').collect();
    assert_eq!(lines.len(), n, "{text}");
    assert!(lines.iter().all(|l| !l.contains(layout)), "{text}");
    assert!(text.contains("\\n2026-11-25T14:00:00.000Z  Sam Lee approved it\\u{2028}\\u{202e}desrever"), "{text}");

    let jsonl = env.ok(&["audit", "export", "--format", "jsonl"]);
    let lines: Vec<&str> = jsonl.split_terminator('\n').collect();
    assert_eq!(lines.len(), n);
    for l in lines {
        assert!(!l.contains(layout), "{l}");
        serde_json::from_str::<Value>(l).expect("each line is one JSON event");
    }

    let csv_text = env.ok(&["audit", "export", "--format", "csv"]);
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), n);
    for cell in rows.iter().flat_map(|r| r.iter()) {
        assert!(!cell.contains(layout), "{cell:?}");
        assert!(!cell.starts_with(['=', '+', '-', '@']), "{cell:?}");
    }
    assert!(rows.iter().any(|r| &r[6] == "'=Eve Formula"), "the agent's name, neutralised");
}

#[test]
fn database_url_from_the_environment_replaces_the_flag() {
    let env = Env::new();
    let file = env.path("from-env.sqlite");
    let run = |args: &[&str], url: &str| {
        let mut c = bare_cmd(env.dir.path());
        c.env("ACTAS_DATABASE_URL", url).args(args);
        let out = output(c, None);
        assert_success(&out, args);
        stdout(&out)
    };
    let path = file.to_str().unwrap();
    run(&["migrate"], path);
    let out = run(&["staff", "add", "maria", "--name", "Maria Lopez", "--role", "agent"], path);
    assert!(last_line(&out).starts_with("actas_pat_"), "{out}");
    assert!(file.exists());
    assert!(!env.dir.path().join("actas.db").exists(), "the default database was not used");

    // The same file, named by a sqlite:// URL in the variable.
    let url = format!("sqlite://{path}");
    let trail = run(&["audit", "export", "--format", "jsonl"], &url);
    assert!(trail.contains("staff.created"), "{trail}");
    assert!(trail.contains("maria"), "{trail}");

    // And by the flag, which wins over the variable.
    let out = env.run_on(&file, &["audit", "export", "--format", "jsonl"]);
    assert_success(&out, &["audit", "export"]);
    assert_eq!(stdout(&out), trail);
    let mut c = bare_cmd(env.dir.path());
    c.env("ACTAS_DATABASE_URL", env.path("other.sqlite"))
        .arg("--database")
        .arg(&file)
        .args(["audit", "export", "--format", "jsonl"]);
    let out = output(c, None);
    assert_success(&out, &["audit", "export"]);
    assert_eq!(stdout(&out), trail);
}

#[test]
fn a_webhook_is_added_listed_and_removed_from_the_command_line() {
    let env = Env::new();
    env.ok(&["migrate"]);
    let out = env.ok(&[
        "webhook",
        "add",
        "https://siem.acme.test/actas?token=receiver-token",
        "--events",
        "session.started",
        "breakglass.started",
    ]);
    let id = out.split_whitespace().find(|w| w.starts_with("whk_")).expect("the webhook's id").to_string();
    assert!(out.trim().lines().last().unwrap().starts_with("whsec_"), "the secret is the last line: {out}");
    assert!(!out.contains("receiver-token"), "the address is shown without its query: {out}");
    let list = env.ok(&["webhook", "list"]);
    assert!(
        list.contains(&id) && list.contains("active") && list.contains("session.started breakglass.started"),
        "{list}"
    );
    // Refused: plain http to another host, an unknown event type.
    for args in [
        vec!["webhook", "add", "http://siem.acme.test/actas", "--events", "*"],
        vec!["webhook", "add", "https://siem.acme.test/actas", "--events", "session.strated"],
    ] {
        let out = env.run(&args);
        assert_failure(&out, &args);
    }
    let out = env.ok(&["webhook", "remove", &id]);
    assert!(out.contains(&format!("Removed webhook {id}")), "{out}");
    assert_eq!(env.ok(&["webhook", "list"]).trim(), "");
    let out = env.run(&["webhook", "remove", &id]);
    assert_failure(&out, &["webhook", "remove"]);
}
