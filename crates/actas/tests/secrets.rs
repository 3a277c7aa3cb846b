//! No secret rests in the clear: distinctive passwords, personal tokens,
//! app keys, impersonation tokens, one-time entry codes, the
//! key-encryption key and a customer's secret values (a new password, an
//! MFA seed, an API key) go through the whole flow, and then none of them
//! is found in the database files (with the write-ahead log), the server's
//! log at debug level, the witness file, or any export of the trail.

mod common;

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use common::*;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::json;

/// Every secret the flow handled, named.
#[derive(Default)]
struct Secrets(Vec<(String, Vec<u8>)>);

impl Secrets {
    fn add(&mut self, name: &str, value: &str) {
        self.add_bytes(name, value.as_bytes());
    }

    fn add_bytes(&mut self, name: &str, value: &[u8]) {
        assert!(value.len() >= 12, "{name} is long enough to be found only where it was written");
        self.0.push((name.to_string(), value.to_vec()));
    }

    /// Every form a secret might be written in: as is, hex, base64 and
    /// base64url.
    fn needles(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for (name, bytes) in &self.0 {
            out.push((name.clone(), bytes.clone()));
            out.push((format!("{name} (hex)"), hex(bytes).into_bytes()));
            out.push((format!("{name} (base64)"), STANDARD.encode(bytes).trim_end_matches('=').as_bytes().to_vec()));
            out.push((format!("{name} (base64url)"), URL_SAFE_NO_PAD.encode(bytes).into_bytes()));
        }
        out
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The secrets found in `haystack`, named; letter case is ignored.
fn found(haystack: &[u8], needles: &[(String, Vec<u8>)]) -> Vec<String> {
    let haystack = haystack.to_ascii_lowercase();
    needles
        .iter()
        .filter(|(_, n)| memchr::memmem::find(&haystack, &n.to_ascii_lowercase()).is_some())
        .map(|(name, _)| name.clone())
        .collect()
}

/// The part of a credential after its `actas_xxx_` prefix.
fn secret_part(credential: &str) -> &str {
    credential.splitn(3, '_').nth(2).unwrap_or(credential)
}

/// A console visit with its cookies kept.
struct Console {
    http: reqwest::Client,
    base: String,
    cookies: Vec<(String, String)>,
}

impl Console {
    fn new(server: &Server) -> Console {
        let http =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("an HTTP client");
        Console { http, base: server.base.clone(), cookies: Vec::new() }
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> (StatusCode, String, String) {
        let cookie: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let req = if cookie.is_empty() { req } else { req.header(COOKIE, cookie.join("; ")) };
        let res = req.send().await.expect("the console answers");
        for line in res.headers().get_all(SET_COOKIE) {
            let line = line.to_str().expect("an ASCII cookie");
            let pair = line.split(';').next().unwrap_or("");
            let (k, v) = pair.split_once('=').expect("a cookie pair");
            self.cookies.retain(|(name, _)| name != k);
            if !v.is_empty() && !line.contains("Max-Age=0") {
                self.cookies.push((k.to_string(), v.to_string()));
            }
        }
        let status = res.status();
        let location = res.headers().get(LOCATION).and_then(|l| l.to_str().ok()).unwrap_or("").to_string();
        (status, location, res.text().await.expect("a page"))
    }

    async fn get(&mut self, path: &str) -> (StatusCode, String) {
        let (status, _, body) = self.send(self.http.get(format!("{}{path}", self.base))).await;
        (status, body)
    }

    /// Signs in with `password`; answers where the console sent the browser.
    async fn sign_in(&mut self, login: &str, password: &str) -> (StatusCode, String) {
        let (status, page) = self.get("/login").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let csrf = page
            .split(r#"name="csrf" value=""#)
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("a CSRF field")
            .to_string();
        let form = [("csrf", csrf.as_str()), ("login", login), ("password", password)];
        let (status, location, _) = self.send(self.http.post(format!("{}/login", self.base)).form(&form)).await;
        (status, location)
    }
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("listing a folder").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test]
async fn no_secret_is_found_anywhere_after_the_whole_flow_on_sqlite() {
    let env = Env::new();
    let leaks = whole_flow_then_search(&env).await;
    assert_eq!(leaks, Vec::<String>::new(), "secrets found in the clear");
}

#[tokio::test]
async fn no_secret_is_found_anywhere_after_the_whole_flow_on_postgres() {
    let Some(base) = pg_base_url() else { return };
    let db = PgDatabase::create(&base).await;
    let env = Env::on(&db.url);
    let leaks = whole_flow_then_search(&env).await;
    assert_eq!(leaks, Vec::<String>::new(), "secrets found in the clear");
}

/// Runs the whole flow with distinctive secrets on `env`, then searches
/// every file in its folder (the SQLite files, the log, the witness), every
/// row of every PostgreSQL table, and every export; answers where secrets
/// were found.
async fn whole_flow_then_search(env: &Env) -> Vec<String> {
    let mut secrets = Secrets::default();
    let kek = std::fs::read(env.kek()).expect("reading the key-encryption key");
    secrets.add_bytes("the key-encryption key", &kek);

    // Staff with passwords, and their personal tokens.
    let agent_password = "Agent-Password-7QzX-unguessable";
    let lead_password = "Lead-Password-9KwV-unguessable";
    let wrong_password = "Wrong-Password-4HbN-mistyped";
    secrets.add("the agent's password", agent_password);
    secrets.add("the lead's password", lead_password);
    secrets.add("a mistyped password", wrong_password);
    let mut staff = Vec::new();
    for (login, name, role, password) in
        [("maria", "Maria Lopez", "agent", agent_password), ("sam", "Sam Lee", "lead", lead_password)]
    {
        let args = ["staff", "add", login, "--name", name, "--role", role, "--password-stdin"];
        let out = env.run_stdin(&args, &format!("{password}\n"));
        assert_success(&out, &args);
        let token = last_line(&stdout(&out)).to_string();
        assert!(token.starts_with("actas_pat_"), "{}", both(&out));
        secrets.add(&format!("{login}'s personal token"), &token);
        secrets.add(&format!("{login}'s personal token without its prefix"), secret_part(&token));
        staff.push(token);
    }
    let (agent, lead) = (staff[0].clone(), staff[1].clone());
    let auditor = env.add_staff("audrey", "Audrey Kim", &["auditor"]);
    secrets.add("the auditor's personal token", &auditor);

    let args = ["app", "add", "Acme Billing", "--tickets", "--origin", "http://localhost:3000"];
    let app_key = last_line(&env.ok(&args)).to_string();
    assert!(app_key.starts_with("actas_app_"), "{app_key}");
    secrets.add("the app key", &app_key);
    secrets.add("the app key without its prefix", secret_part(&app_key));

    // A Zendesk connector: its webhook secret is kept only sealed.
    let zendesk_secret = "Zendesk-Webhook-Secret-3TfQ-unguessable";
    secrets.add("the Zendesk webhook secret", zendesk_secret);
    let args = ["app", "add", "Acme Zendesk", "--tickets", "--connector", "zendesk", "--secret-stdin"];
    let out = env.run_stdin(&args, &format!("{zendesk_secret}\n"));
    assert_success(&out, &args);
    let zendesk_key = last_line(&stdout(&out)).to_string();
    secrets.add("the Zendesk app's key", &zendesk_key);
    let zendesk_id = stdout(&out)
        .split_whitespace()
        .find(|w| w.starts_with("app_"))
        .map(|w| w.trim_end_matches('.').to_string())
        .expect("`app add` names the app's id");

    // The server logs everything it would ever log, and appends its heads
    // to a witness beside the database.
    let witness = env.path("witness.jsonl");
    let log = env.path("server.log");
    let witness_arg = witness.to_str().expect("a UTF-8 path").to_string();
    let mut serve = env.cmd(&["serve", "--listen", "127.0.0.1:0", "--witness", &witness_arg]);
    serve.env("ACTAS_LOG", "debug");
    let server = Server::spawn_logging_to(serve, &log);
    let c = http();

    // Console sign-ins: a mistyped password, then the right ones.
    let mut console = Console::new(&server);
    let (status, _) = console.sign_in("maria", wrong_password).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, location) = console.sign_in("maria", agent_password).await;
    assert_eq!((status, location.as_str()), (StatusCode::SEE_OTHER, "/"));
    let mut lead_console = Console::new(&server);
    let (status, _) = lead_console.sign_in("sam", lead_password).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    for (name, value) in console.cookies.iter().chain(&lead_console.cookies) {
        if value.len() >= 12 {
            secrets.add(&format!("the console cookie {name}"), value);
        }
    }

    // Zendesk sends a ticket, signed with the secret.
    let event = actas_server::testing::webhooks::zendesk_event("70001", "OPEN");
    let d = actas_server::testing::webhooks::zendesk_signed(
        zendesk_secret,
        actas_core::Clock::now(&actas_core::SystemClock),
        "inv-1",
        &event,
    );
    let base = server.api("");
    let base = base.trim_end_matches("/api/v1");
    let (status, body) = actas_server::testing::webhooks::deliver(base, "zendesk", &zendesk_id, &d).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // A ticket, a request for changes, a lead's approval, a session.
    let (status, body) = post(
        &c,
        &server.api("/tickets"),
        &app_key,
        &json!({"ref": "48192", "account_id": "acct_42", "account_name": "Acme Corp", "subject": "Cannot sign in"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let actions = ["settings.view", "settings.update", "sync.reset"];
    let (status, request) =
        post(&c, &server.api("/requests"), &agent, &json!({"ticket": "48192", "reason": REASON, "actions": actions}))
            .await;
    assert_eq!((status, request["status"].as_str()), (StatusCode::CREATED, Some("pending")), "{request}");
    let request_id = request["id"].as_str().expect("a request id").to_string();
    let (status, body) =
        post(&c, &server.api(&format!("/requests/{request_id}/approve")), &lead, &json!({"note": "Go ahead"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, started) =
        post(&c, &server.api(&format!("/requests/{request_id}/start")), &agent, &json!({"app": "Acme Billing"})).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let session_id = started["session"]["id"].as_str().expect("a session id").to_string();
    let token = started["token"].as_str().expect("a token").to_string();
    secrets.add("the impersonation token", &token);
    secrets.add("the impersonation token's signature", token.rsplit('.').next().expect("a JWS"));

    // A one-time entry code, exchanged by the app for a second token.
    let (status, entry) = post(&c, &server.api(&format!("/sessions/{session_id}/entry")), &agent, &json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{entry}");
    let code = entry["code"].as_str().expect("an entry code").to_string();
    secrets.add("the entry code", &code);
    let host = actas_client::Client::new(&server.base, &app_key);
    let entered_token = host.enter(&code).await.expect("the app enters with the code").token.expose().to_string();
    secrets.add("the entered token", &entered_token);

    // The customer's secrets, sent as changed values: under the names a
    // host app uses for them, with and without a `store_values` list.
    let customer_password = "Customer-NewPass-8RtY-secret";
    let mfa_seed = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
    let api_key = "sk_live_51HcustomerApiKey3vQ";
    let card = "4242424242424242";
    for (name, value) in [
        ("the customer's new password", customer_password),
        ("the customer's MFA seed", mfa_seed),
        ("the customer's API key", api_key),
        ("the customer's card number", card),
    ] {
        secrets.add(name, value);
    }
    let changes = json!([
        {"field": "new_password", "old": "", "new": customer_password},
        {"field": "totp_secret", "new": mfa_seed},
        {"field": "api_key", "old": api_key, "new": "(rotated)"},
        {"field": "card_number", "new": card},
        {"field": "timezone", "old": "UTC", "new": "Europe/Madrid"},
    ]);
    for (action, bearer) in [("settings.update", &token), ("sync.reset", &entered_token)] {
        let body = json!({"token": bearer, "action": action, "target": {"account_id": "acct_42"}, "changes": changes});
        let asked = serde_json::from_value(body).expect("an authorize request");
        let answer = host.authorize_with(&asked).await.expect("an answer");
        assert!(answer.allowed, "{answer:?}");
    }
    // Refusals are recorded too: a forged token carrying a secret, and a
    // view the session may do, for the timeline.
    let forged = format!("{}.{}", token.rsplit_once('.').expect("a JWS").0, URL_SAFE_NO_PAD.encode(customer_password));
    let answer = host.authorize(&forged, "settings.view").await.expect("an answer");
    assert_eq!(answer.reason.as_str(), "bad_token", "{answer:?}");
    let answer = host.authorize(&token, "settings.view").await.expect("an answer");
    assert!(answer.allowed, "{answer:?}");

    // The session ends; the customer's note is delivered.
    let (status, body) = post(&c, &server.api(&format!("/sessions/{session_id}/end")), &agent, &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for n in host.notices(0).await.expect("the notices") {
        host.notice_delivered(&n.id).await.expect("delivered");
    }

    // Every way the trail leaves actas.
    let mut exports: Vec<(String, Vec<u8>)> = Vec::new();
    for format in ["json", "jsonl", "csv", "text"] {
        let r = c.get(server.api(&format!("/audit?format={format}&limit=1000"))).bearer_auth(&auditor).send().await;
        let r = r.expect("the API answers");
        assert_eq!(r.status(), StatusCode::OK, "/audit?format={format}");
        exports.push((format!("GET /api/v1/audit?format={format}"), r.bytes().await.expect("a body").to_vec()));
    }
    for path in [
        format!("/sessions/{session_id}"),
        format!("/sessions/{session_id}/timeline"),
        format!("/requests/{request_id}"),
        "/accounts/acct_42/access-log".to_string(),
        "/tickets/48192".to_string(),
    ] {
        for bearer in [&agent, &lead, &auditor, &app_key] {
            let (status, body) = get(&c, &server.api(&path), bearer).await;
            if status == StatusCode::OK {
                exports.push((format!("GET /api/v1{path}"), body.to_string().into_bytes()));
            }
        }
    }
    let mut auditor_console = Console::new(&server);
    let audrey_password = "Auditor-Password-2MnB-unguessable";
    secrets.add("the auditor's password", audrey_password);
    let args = ["staff", "password", "audrey"];
    let out = env.run_stdin(&args, &format!("{audrey_password}\n"));
    assert_success(&out, &args);
    let (status, _) = auditor_console.sign_in("audrey", audrey_password).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    for (name, value) in &auditor_console.cookies {
        if value.len() >= 12 {
            secrets.add(&format!("the auditor's console cookie {name}"), value);
        }
    }
    for path in ["/audit", "/audit/export?format=csv", "/audit/export?format=jsonl", "/audit/export?format=text"] {
        let (status, page) = auditor_console.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {page}");
        exports.push((format!("console {path}"), page.into_bytes()));
    }
    for (lead_visits, path) in [
        (false, format!("/sessions/{session_id}")),
        (false, format!("/requests/{request_id}")),
        (true, format!("/sessions/{session_id}")),
        (true, "/accounts/acct_42/access-log".to_string()),
    ] {
        let visitor = if lead_visits { &mut lead_console } else { &mut console };
        let (status, page) = visitor.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {page}");
        exports.push((format!("console {path}"), page.into_bytes()));
    }
    for format in ["jsonl", "csv", "text"] {
        exports.push((
            format!("actas audit export --format {format}"),
            env.ok(&["audit", "export", "--format", format]).into_bytes(),
        ));
    }
    let out = env.run(&["audit", "verify", "--witness", &witness_arg]);
    assert_success(&out, &["audit", "verify", "--witness", &witness_arg]);
    exports.push(("actas audit verify".into(), both(&out).into_bytes()));

    // The exports did carry the trail: the change, its stored value and
    // the note are there, the secrets' fields named without their values.
    let text_export =
        exports.iter().find(|(what, _)| what == "GET /api/v1/audit?format=text").expect("the text export");
    let text = String::from_utf8_lossy(&text_export.1).into_owned();
    assert!(text.contains("Europe/Madrid") && text.contains("new password (value not stored)"), "{text}");
    assert!(exports.iter().any(|(_, e)| String::from_utf8_lossy(e).contains("acct_42")));

    // Now look everywhere, with the server running and after it stopped.
    let needles = secrets.needles();
    let mut leaks = Vec::new();
    let scan_files = |when: &str, leaks: &mut Vec<String>| {
        let mut scanned = 0;
        for path in files_under(env.dir.path()) {
            if path == env.kek() {
                continue; // the KEK's own file, which holds it by design
            }
            let bytes = std::fs::read(&path).expect("reading a file");
            scanned += bytes.len();
            for name in found(&bytes, &needles) {
                leaks.push(format!("{name} in {} ({when})", path.display()));
            }
        }
        scanned
    };
    let mut scanned = scan_files("while serving", &mut leaks);
    if let Some(url) = &env.url {
        let rows = pg_everything(url).await;
        scanned += rows.len();
        for name in found(&rows, &needles) {
            leaks.push(format!("{name} in a PostgreSQL table"));
        }
    }
    assert!(scanned > 100_000, "the database, its log and the witness were read: {scanned} bytes");
    assert!(std::fs::read_to_string(&log).unwrap_or_default().contains("DEBUG"), "the log is at debug level");
    for (what, bytes) in &exports {
        for name in found(bytes, &needles) {
            leaks.push(format!("{name} in {what}"));
        }
    }
    // A stopping server signs its last head and flushes the witness (while
    // serving, heads are signed on a schedule, so the file may still be
    // empty when a quick flow ends).
    server.stop();
    assert!(std::fs::metadata(&witness).map(|m| m.len()).unwrap_or(0) > 0, "the witness was written");
    scan_files("after stopping", &mut leaks);
    leaks
}

#[tokio::test]
async fn the_same_search_finds_a_value_written_in_the_clear() {
    // The search above can fail: a ticket's subject is kept as written, so
    // a distinctive one is found in the database files and in the export.
    let env = Env::new();
    let server = env.serve();
    let live = live_session(&env, &server).await;
    let subject = "Stored-Subject-6PzL-visible";
    let mut secrets = Secrets::default();
    secrets.add("a ticket subject", subject);
    let needles = secrets.needles();
    let (status, body) = post(
        &http(),
        &server.api("/tickets"),
        &live.app_key,
        &json!({"ref": "777", "account_id": "acct_9", "subject": subject}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let files: Vec<u8> = ["", "-wal"]
        .iter()
        .flat_map(|suffix| std::fs::read(format!("{}{suffix}", env.db.display())).unwrap_or_default())
        .collect();
    assert!(found(&files, &needles).contains(&"a ticket subject".to_string()), "found in the database files");
    server.stop();
    let export = env.ok(&["audit", "export", "--format", "jsonl"]);
    assert!(found(export.as_bytes(), &needles).contains(&"a ticket subject".to_string()), "{export}");
}
