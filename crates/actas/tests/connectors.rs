//! `actas app add NAME --tickets --connector zendesk|jira --secret-stdin`:
//! the webhook secret is stored only sealed, the served endpoint checks
//! deliveries with it, and a bad setup registers nothing.

mod common;

use actas_core::Clock;
use actas_server::testing::webhooks::{deliver, jira_event, jira_signed, zendesk_event, zendesk_signed};
use common::*;
use reqwest::StatusCode;

const SECRET: &str = "a-zendesk-webhook-secret-for-the-cli-test";

/// The app id `app add` names.
fn app_id(out: &std::process::Output) -> String {
    stdout(out)
        .split_whitespace()
        .find(|w| w.starts_with("app_"))
        .map(|w| w.trim_end_matches('.').to_string())
        .expect("`app add` names the app's id")
}

async fn sqlite(path: &std::path::Path) -> sqlx::SqliteConnection {
    use sqlx::ConnectOptions;
    sqlx::sqlite::SqliteConnectOptions::new().filename(path).connect().await.expect("the SQLite file")
}

#[tokio::test]
async fn a_zendesk_connector_is_set_up_from_the_command_line_and_checks_deliveries_with_its_sealed_secret() {
    let env = Env::new();
    let args = [
        "app",
        "add",
        "Acme Zendesk",
        "--tickets",
        "--connector",
        "zendesk",
        "--secret-stdin",
        "--map",
        "url_base=https://acme.zendesk.com/agent/tickets/",
    ];
    let out = env.run_stdin(&args, &format!("{SECRET}\n"));
    assert_success(&out, &args);
    let id = app_id(&out);
    assert!(stdout(&out).contains(&format!("/api/v1/connectors/zendesk/{id}")), "{}", stdout(&out));

    let mut db = sqlite(&env.db).await;
    let (kind, sealed): (String, Vec<u8>) = sqlx::query_as("SELECT kind, secret FROM connectors WHERE app_id = ?1")
        .bind(&id)
        .fetch_one(&mut db)
        .await
        .unwrap();
    let sealed = String::from_utf8(sealed).unwrap();
    assert_eq!(kind, "zendesk");
    assert!(sealed.starts_with("v1:kek_"), "sealed under the KEK: {sealed}");
    assert!(!sealed.contains(SECRET));
    drop(db);

    let server = env.serve();
    let base = server.api("");
    let base = base.trim_end_matches("/api/v1");
    let now = actas_core::SystemClock.now();
    let good = zendesk_signed(SECRET, now, "inv-1", &zendesk_event("70001", "OPEN"));
    let (s, v) = deliver(base, "zendesk", &id, &good).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["ticket"]["url"], "https://acme.zendesk.com/agent/tickets/70001");
    let forged = zendesk_signed("not-the-secret-that-was-set-up", now, "inv-2", &zendesk_event("70002", "OPEN"));
    assert_eq!(deliver(base, "zendesk", &id, &forged).await.0, StatusCode::UNAUTHORIZED);
    let jira = jira_signed(SECRET, "wh-1", &jira_event("SUP-1", "new", now));
    assert_eq!(
        deliver(base, "jira", &id, &jira).await.0,
        StatusCode::NOT_FOUND,
        "a Zendesk app takes no Jira delivery"
    );
}

#[test]
fn a_bad_connector_setup_registers_nothing() {
    let env = Env::new();
    for (args, input, says) in [
        (vec!["app", "add", "Desk", "--connector", "zendesk", "--secret-stdin"], SECRET, "--tickets"),
        (vec!["app", "add", "Desk", "--tickets", "--connector", "zendesk"], SECRET, "--secret-stdin"),
        (vec!["app", "add", "Desk", "--tickets", "--connector", "freshdesk", "--secret-stdin"], SECRET, "freshdesk"),
        (vec!["app", "add", "Desk", "--tickets", "--connector", "jira", "--secret-stdin"], "", "no secret"),
        (vec!["app", "add", "Desk", "--tickets", "--connector", "jira", "--secret-stdin"], "short", "16 to 512 bytes"),
        (
            vec![
                "app",
                "add",
                "Desk",
                "--tickets",
                "--connector",
                "jira",
                "--secret-stdin",
                "--map",
                "account=issue.org",
            ],
            SECRET,
            "JSON pointer",
        ),
        (
            vec!["app", "add", "Desk", "--tickets", "--connector", "jira", "--secret-stdin", "--map", "colour=/x"],
            SECRET,
            "no field",
        ),
    ] {
        let out = env.run_stdin(&args, &format!("{input}\n"));
        assert_failure(&out, &args);
        assert!(both(&out).contains(says), "{args:?}: {}", both(&out));
    }
    // Nothing was registered: the name is still free.
    let args = ["app", "add", "Desk", "--tickets", "--connector", "jira", "--secret-stdin"];
    assert_success(&env.run_stdin(&args, &format!("{SECRET}\n")), &args);
}

#[tokio::test]
async fn a_connector_without_a_key_encryption_key_is_refused_and_registers_nothing() {
    let env = Env { kek: None, ..Env::new() };
    env.ok(&["migrate"]);
    let args = ["app", "add", "Desk", "--tickets", "--connector", "zendesk", "--secret-stdin"];
    let plaintext =
        ["--allow-plaintext-keys", "app", "add", "Desk", "--tickets", "--connector", "zendesk", "--secret-stdin"];
    for args in [&args[..], &plaintext[..]] {
        let out = env.run_stdin(args, &format!("{SECRET}\n"));
        assert_failure(&out, args);
        let said = both(&out);
        assert!(said.contains("sealed under the key-encryption key"), "{args:?}: {said}");
        assert!(said.contains("--key-encryption-key-file"), "{args:?}: says how to give one: {said}");
        assert!(said.contains("nothing was registered"), "{args:?}: {said}");
        assert!(!said.contains(SECRET), "{args:?}: the secret is not echoed: {said}");
    }
    // Nothing was stored: no app, no connector, no event, no key.
    let mut db = sqlite(&env.db).await;
    for table in ["apps", "connectors", "credentials", "audit_events", "signing_keys"] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}")).fetch_one(&mut db).await.unwrap();
        assert_eq!(n, 0, "{table}");
    }
    drop(db);
    // With the key-encryption key, the same name is free and registers.
    let env = Env { kek: Some(env.path("kek")), ..env };
    write_kek(env.kek());
    let out = env.run_stdin(&args, &format!("{SECRET}\n"));
    assert_success(&out, &args);
    assert!(stdout(&out).contains("Registered Desk as app_"), "{}", stdout(&out));
}

#[tokio::test]
async fn an_existing_app_gets_a_connector_then_a_new_secret_from_the_command_line() {
    const NEW_SECRET: &str = "the-replaced-zendesk-webhook-secret";
    let env = Env::new();
    let args = ["app", "add", "Acme Desk", "--tickets"];
    let out = env.run(&args);
    assert_success(&out, &args);
    let id = app_id(&out);
    let add = ["app", "connector", id.as_str(), "--connector", "zendesk", "--secret-stdin"];
    let out = env.run_stdin(&add, &format!("{SECRET}\n"));
    assert_success(&out, &add);
    assert!(stdout(&out).contains(&format!("/api/v1/connectors/zendesk/{id}")), "{}", stdout(&out));
    // Another system while it has one: refused, nothing changed.
    let other = ["app", "connector", id.as_str(), "--connector", "jira", "--secret-stdin"];
    let out = env.run_stdin(&other, &format!("{SECRET}\n"));
    assert_failure(&out, &other);
    assert!(both(&out).contains("takes tickets from Zendesk already"), "{}", both(&out));
    let out = env.run_stdin(&add, &format!("{NEW_SECRET}\n"));
    assert_success(&out, &add);
    assert!(stdout(&out).contains("has its new secret"), "{}", stdout(&out));

    let mut db = sqlite(&env.db).await;
    let (kind, sealed): (String, Vec<u8>) = sqlx::query_as("SELECT kind, secret FROM connectors WHERE app_id = ?1")
        .bind(&id)
        .fetch_one(&mut db)
        .await
        .unwrap();
    let sealed = String::from_utf8(sealed).unwrap();
    assert_eq!(kind, "zendesk");
    assert!(sealed.starts_with("v1:kek_") && !sealed.contains(NEW_SECRET), "{sealed}");
    let events: Vec<(String, String)> =
        sqlx::query_as("SELECT data, text FROM audit_events WHERE type = 'app.updated' ORDER BY seq")
            .fetch_all(&mut db)
            .await
            .unwrap();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events[0].0.contains(r#""changed":["connector"]"#), "{events:?}");
    assert!(events[1].0.contains(r#""changed":["connector_secret"]"#), "{events:?}");
    assert!(events.iter().all(|(d, t)| !d.contains(SECRET) && !t.contains(NEW_SECRET)), "{events:?}");
    drop(db);

    let server = env.serve();
    let base = server.api("");
    let base = base.trim_end_matches("/api/v1");
    let now = actas_core::SystemClock.now();
    let old = zendesk_signed(SECRET, now, "inv-1", &zendesk_event("70001", "OPEN"));
    assert_eq!(deliver(base, "zendesk", &id, &old).await.0, StatusCode::UNAUTHORIZED, "the old secret is refused");
    let new = zendesk_signed(NEW_SECRET, now, "inv-2", &zendesk_event("70001", "OPEN"));
    assert_eq!(deliver(base, "zendesk", &id, &new).await.0, StatusCode::CREATED);
}
