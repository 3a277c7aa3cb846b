//! The container deployment: the image the repository's `Dockerfile`
//! builds, run by `compose.yaml` the way a site runs it (PostgreSQL 16, the
//! one-shot migration, two nodes, Caddy in front of both), serves the
//! seed's flow through the proxy over real HTTP. Staff and an app are made
//! with `docker compose run cli`; a ticket comes in, Maria asks for access,
//! Sam approves, Maria starts the session, the host app asks `authorize`
//! before changing the invoice email, the session feed passes through the
//! proxy as it happens, Maria ends the session and it is refused from then
//! on. Then each node is stopped in turn while the other answers every
//! call, a sign-in failure is logged with the client's address as the proxy
//! saw it (not the one the client wrote in `X-Forwarded-For`), and the
//! audit trail verifies, with each node's witness.
//!
//! The stack runs under a project name of its own, and `docker compose down
//! --volumes` takes it away however the test ends. Where Docker cannot be
//! used here (no `docker` command, no daemon, no Compose plugin) the test
//! says so in one line on standard error and passes.

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::*;
use reqwest::StatusCode;
use ring::rand::SecureRandom as _;
use serde_json::{json, Value};

/// The image the stack builds and runs (kept between runs: the next build
/// starts from its cache).
const IMAGE: &str = "actas:compose-test";

/// The first build compiles actas in release mode, on two cores.
const BUILD: Duration = Duration::from_secs(60 * 60);

/// `up`: PostgreSQL's and Caddy's images may have to be pulled first.
const UP: Duration = Duration::from_secs(15 * 60);

/// Any other `docker compose` command.
const STEP: Duration = Duration::from_secs(5 * 60);

/// How often the proxy asks each node's `/healthz` (`deploy/Caddyfile`).
const PROXY_HEALTH_INTERVAL: Duration = Duration::from_secs(5);

/// An address a client writes into `X-Forwarded-For` to pass for someone
/// else (TEST-NET-3).
const SPOOFED: &str = "203.0.113.7";

/// Reasons specific enough for the shipped policy.
const CHANGE_REASON: &str = "Customer asked to send invoices to their accounts payable inbox";
const VIEW_REASON: &str = "Check why invoices still reach the old billing address after the change";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compose_stack_serves_the_seed_flow_through_its_proxy() {
    if let Some(why) = docker_unusable() {
        // Written to standard error itself: the test harness hides what
        // `eprintln!` prints from tests that pass.
        let _ = writeln!(std::io::stderr(), "docker.rs: skipped: {why}");
        return;
    }
    let stack = Stack::start();
    let c = http();
    let api = Api::new(&stack.base).with_http(c.clone());

    wait_until(Duration::from_secs(60), "the proxy's /healthz to answer 200", || async {
        matches!(api.health().await, Some((StatusCode::OK, _)))
    })
    .await;
    let (_, health) = api.health().await.expect("the proxy answers /healthz");
    assert_eq!(health["database"], "postgres", "{health}");

    // People and the host app, made at the command line.
    let maria = stack.add_staff("maria", "Maria Lopez", "agent");
    let sam = stack.add_staff("sam", "Sam Lee", "lead");
    let audrey = stack.add_staff("audrey", "Audrey Kim", "auditor");
    let app_key = stack.add_app("Acme Billing");
    let host = actas_client::Client::new(&stack.base, &app_key);

    // The ticket system records the ticket; the host app follows the feed.
    api.ticket("48192")
        .account("acct_42")
        .account_name("Acme Corp")
        .subject("Invoices go to the wrong address")
        .by(&app_key)
        .create()
        .await;
    let mut feed = FeedSubscription::open_at(&api.url("/api/v1/sessions/feed"), &app_key).await;
    let is = |kind: &'static str, session: String| move |f: &Value| f["type"] == kind && f["session"]["id"] == session;

    // Maria asks, Sam approves, Maria starts.
    let session = api
        .session(&maria)
        .ticket("48192")
        .reason(CHANGE_REASON)
        .actions(&["invoice_email.update"])
        .approved_by(&sam)
        .app("Acme Billing")
        .start()
        .await;
    assert_eq!(session.request["status"], "pending", "a change waits for a lead: {}", session.request.answer);
    let seen =
        feed.next_where(Instant::now() + Duration::from_secs(5), is("session.started", session.id.clone())).await;
    assert!(seen.is_some(), "the feed, through the proxy, announced the session's start");

    // The host app asks before it changes the invoice email, and is told
    // no for what the session does not cover.
    let (status, answer) = api
        .post(
            "/api/v1/authorize",
            &app_key,
            json!({
                "token": session.token,
                "action": "invoice_email.update",
                "changes": [{"field": "invoice_email", "old": "billing@acme.example", "new": "ap@acme.example"}],
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["allowed"], true, "{answer}");
    let refused = host.authorize(&session.token, "refund.issue").await.expect("an answer to authorize");
    assert!(!refused.allowed, "{refused:?}");
    assert_eq!(refused.reason.as_str(), "not_in_scope", "{refused:?}");

    // Maria ends it; the feed says so at once, and the token is refused.
    let sent = Instant::now();
    let (status, ended) = api.end(&maria, &session.id).await;
    assert_eq!(status, StatusCode::OK, "{ended}");
    let (at, frame) = feed
        .next_where(sent + Duration::from_secs(2), is("session.ended", session.id.clone()))
        .await
        .expect("the feed, through the proxy, announced the end within two seconds");
    assert_eq!(frame["session"]["end_reason"], "ended", "{frame}");
    eprintln!("the feed announced the end {:?} after the call", at - sent);
    drop(feed);
    let after = host.authorize(&session.token, "invoice_email.update").await.expect("an answer to authorize");
    assert!(!after.allowed, "{after:?}");
    assert_eq!(after.reason.as_str(), "session_ended", "{after:?}");

    // Each node in turn is stopped; the other answers every call.
    let live = api
        .session(&maria)
        .ticket("48192")
        .reason(VIEW_REASON)
        .actions(&["settings.view"])
        .app("Acme Billing")
        .start()
        .await;
    assert_eq!(live.request["status"], "approved", "a view is approved by policy: {}", live.request.answer);
    for (down, up) in [("actas-1", "actas-2"), ("actas-2", "actas-1")] {
        stack.ok(&["stop", down], STEP);
        for i in 0..10 {
            let answer = host
                .authorize(&live.token, "settings.view")
                .await
                .unwrap_or_else(|e| panic!("call {i} with {down} stopped: {e}"));
            assert!(answer.allowed, "call {i} with {down} stopped, {up} answering: {answer:?}");
        }
        stack.ok(&["up", "--detach", "--no-deps", "--wait", down], UP);
        // The proxy sends nothing to a node until its own health check
        // (every PROXY_HEALTH_INTERVAL) has seen it again; the other node
        // is stopped next, so give that check its turn.
        tokio::time::sleep(PROXY_HEALTH_INTERVAL + Duration::from_secs(1)).await;
    }
    let (status, ended) = api.end(&maria, &live.id).await;
    assert_eq!(status, StatusCode::OK, "{ended}");

    // A failed sign-in is logged with the client as the proxy saw it: the
    // address the client wrote into X-Forwarded-For is not believed, and
    // the client is not taken for the proxy.
    let status = failed_sign_in(&c, &stack.base, "intruder").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let client = wait_for(Duration::from_secs(10), "the nodes' log line of the failed sign-in", || async {
        let logs = stack.ok(&["logs", "--no-color", "--no-log-prefix", "actas-1", "actas-2"], STEP);
        sign_in_failure_client(&logs, "intruder").ok_or("not logged yet")
    })
    .await;
    assert!(client.starts_with("Some("), "the client has an address: {client}");
    assert!(!client.contains(SPOOFED), "the client's own X-Forwarded-For was believed: {client}");
    assert!(!client.contains(&format!("({})", stack.proxy_ip)), "the proxy was taken for the client: {client}");

    // The trail tells the story and verifies, through the API, at the
    // command line, and against a node's witness.
    let events = api.audit(&audrey, &format!("session={}", session.id)).await;
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    for kind in ["session.started", "action.performed", "action.denied", "session.ended"] {
        assert!(types.contains(&kind), "{kind} is in the session's trail: {types:?}");
    }
    let performed = events.iter().find(|e| e["type"] == "action.performed").expect("the change's event");
    assert!(performed.to_string().contains("ap@acme.example"), "the new invoice email is kept: {performed}");
    let verified = api.verify_as(&audrey).await;
    assert_eq!(verified["ok"], true, "{verified}");
    let out = stack.actas(&["audit", "verify"]);
    assert!(out.contains("The audit trail is intact"), "{out}");
    let out = stack
        .ok(&["exec", "-T", "actas-1", "actas", "audit", "verify", "--witness", "/var/lib/actas/witness.jsonl"], STEP);
    assert!(out.contains("The audit trail is intact"), "{out}");
    assert!(!out.contains(" 0 witnessed heads"), "actas-1 witnessed the heads it signed: {out}");
}

/// Why Docker cannot be used here, or `None` when it can.
fn docker_unusable() -> Option<String> {
    let first_line = |out: &Output| {
        let text = both(out);
        text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("no output").to_string()
    };
    match run_for(Command::new("docker").args(["info", "--format", "{{.ServerVersion}}"]), Duration::from_secs(60)) {
        Err(e) => return Some(format!("Docker is not available here ({e})")),
        Ok(out) if !out.status.success() => {
            return Some(format!("Docker is not available here (docker info failed: {})", first_line(&out)))
        }
        Ok(_) => {}
    }
    match run_for(Command::new("docker").args(["compose", "version"]), Duration::from_secs(60)) {
        Err(e) => Some(format!("Docker Compose is not available here ({e})")),
        Ok(out) if !out.status.success() => {
            Some(format!("Docker Compose is not available here (docker compose version failed: {})", first_line(&out)))
        }
        Ok(_) => None,
    }
}

/// Runs `c` to its end with its output captured. `Err` when it cannot be
/// started, or has not ended within `within` (it is killed then).
fn run_for(c: &mut Command, within: Duration) -> Result<Output, String> {
    let what = describe(c);
    c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = c.spawn().map_err(|e| format!("cannot run {what}: {e}"))?;
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(within) {
        Ok(out) => out.map_err(|e| format!("{what}: {e}")),
        Err(_) => {
            let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
            Err(format!("{what} did not end within {within:?}"))
        }
    }
}

/// `program arg arg ...`, for messages.
fn describe(c: &Command) -> String {
    let mut s = c.get_program().to_string_lossy().into_owned();
    for a in c.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// `n` random bytes.
fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    ring::rand::SystemRandom::new().fill(&mut bytes).expect("random bytes");
    bytes
}

/// A port on 127.0.0.1 that nothing listens on now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// The compose project of one test run: the repository's `compose.yaml`
/// under a project name of its own, with its own secrets, ports and
/// network. Dropped, it is taken down with its volumes.
struct Stack {
    project: String,
    root: PathBuf,
    /// An empty file given as `--env-file`, so that a `.env` in the
    /// repository (a developer's own stack) is not read.
    env_file: PathBuf,
    _dir: tempfile::TempDir,
    vars: Vec<(&'static str, String)>,
    /// `http://127.0.0.1:PORT`: the proxy.
    base: String,
    /// The proxy's address on the network it shares with the nodes.
    proxy_ip: String,
}

impl Stack {
    /// Builds the image and starts the stack; `up` returns once every
    /// service has started in order (the proxy after both nodes are healthy).
    fn start() -> Stack {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let root = root.canonicalize().expect("the repository's root");
        let tag: String = random_bytes(4).iter().map(|b| format!("{b:02x}")).collect();
        let project = format!("actas-test-{}-{tag}", std::process::id());
        let dir = tempfile::tempdir().expect("a temporary folder");
        let env_file = dir.path().join("empty.env");
        std::fs::write(&env_file, "").expect("an empty env file");
        let (http_port, https_port) = (free_port(), free_port());
        // A subnet of its own beside a developer's stack (172.16.78.0/24).
        let net = 100 + std::process::id() % 100;
        let proxy_ip = format!("172.16.{net}.10");
        let base = format!("http://127.0.0.1:{http_port}");
        let password: String = random_bytes(16).iter().map(|b| format!("{b:02x}")).collect();
        let vars = vec![
            ("ACTAS_KEK", base64::engine::general_purpose::STANDARD.encode(random_bytes(32))),
            ("POSTGRES_PASSWORD", password),
            ("ACTAS_BASE_URL", base.clone()),
            ("ACTAS_SITE_ADDRESS", ":80".to_string()),
            ("ACTAS_HTTP_PORT", format!("127.0.0.1:{http_port}")),
            ("ACTAS_HTTPS_PORT", format!("127.0.0.1:{https_port}")),
            ("ACTAS_EDGE_SUBNET", format!("172.16.{net}.0/24")),
            ("ACTAS_PROXY_IP", proxy_ip.clone()),
            ("ACTAS_IMAGE", IMAGE.to_string()),
            ("ACTAS_PULL_POLICY", "build".to_string()),
        ];
        let stack = Stack { project, root, env_file, _dir: dir, vars, base, proxy_ip };
        eprintln!("docker.rs: building {IMAGE} and starting project {}", stack.project);
        stack.ok(&["build"], BUILD);
        stack.ok(&["up", "--detach"], UP);
        stack
    }

    /// `docker compose ... ARGS` for this project.
    fn compose(&self, args: &[&str]) -> Command {
        let mut c = Command::new("docker");
        c.current_dir(&self.root)
            .args(["compose", "--project-name", self.project.as_str(), "--file"])
            .arg(self.root.join("compose.yaml"))
            .arg("--env-file")
            .arg(&self.env_file)
            .args(args);
        for v in ["COMPOSE_FILE", "COMPOSE_PROFILES", "COMPOSE_PROJECT_NAME", "COMPOSE_ENV_FILES"] {
            c.env_remove(v);
        }
        c.envs(self.vars.iter().map(|(k, v)| (*k, v.as_str())));
        c
    }

    /// Runs `docker compose ARGS`, which must succeed within `within`;
    /// answers its standard output.
    fn ok(&self, args: &[&str], within: Duration) -> String {
        let out = run_for(&mut self.compose(args), within).unwrap_or_else(|e| panic!("{e}"));
        assert!(out.status.success(), "docker compose {args:?} failed ({}):\n{}", out.status, both(&out));
        stdout(&out)
    }

    /// `actas ARGS` in a one-off container of the `cli` service.
    fn actas(&self, args: &[&str]) -> String {
        let mut all = vec!["run", "--rm", "--no-TTY", "cli"];
        all.extend_from_slice(args);
        self.ok(&all, STEP)
    }

    /// `actas staff add`; answers the personal token.
    fn add_staff(&self, login: &str, name: &str, role: &str) -> String {
        let out = self.actas(&["staff", "add", login, "--name", name, "--role", role]);
        let token = last_line(&out).to_string();
        assert!(token.starts_with("actas_pat_"), "{out}");
        token
    }

    /// `actas app add NAME --tickets`; answers the app key.
    fn add_app(&self, name: &str) -> String {
        let out = self.actas(&["app", "add", name, "--tickets", "--origin", "http://localhost:3000"]);
        let key = last_line(&out).to_string();
        assert!(key.starts_with("actas_app_"), "{out}");
        key
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if std::thread::panicking() {
            match run_for(&mut self.compose(&["logs", "--no-color", "--tail", "200"]), STEP) {
                Ok(out) => eprintln!("docker compose logs:\n{}", both(&out)),
                Err(e) => eprintln!("docker compose logs: {e}"),
            }
        }
        match run_for(&mut self.compose(&["down", "--volumes", "--remove-orphans", "--timeout", "20"]), STEP) {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!("docker compose down failed ({}):\n{}", out.status, both(&out)),
            Err(e) => eprintln!("docker compose down: {e}"),
        }
    }
}

/// Signs in to the console as `login` with a wrong password, as a client
/// that claims another address in `X-Forwarded-For`; answers the status.
async fn failed_sign_in(c: &reqwest::Client, base: &str, login: &str) -> StatusCode {
    let form = c.get(format!("{base}/login")).send().await.expect("the sign-in form");
    assert_eq!(form.status(), StatusCode::OK);
    let cookie = form
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("actas_login=").map(|rest| rest.split(';').next().unwrap_or("").to_string()))
        .expect("the sign-in form's cookie");
    let html = form.text().await.expect("the sign-in form's page");
    let field = r#"name="csrf" value=""#;
    let csrf = html[html.find(field).expect("a csrf field") + field.len()..].split('"').next().unwrap_or("");
    let answer = c
        .post(format!("{base}/login"))
        .header(reqwest::header::COOKIE, format!("actas_login={cookie}"))
        .header("x-forwarded-for", SPOOFED)
        .form(&[("csrf", csrf), ("login", login), ("password", "not the password at all")])
        .send()
        .await
        .expect("an answer to the sign-in");
    answer.status()
}

/// The `client` of the JSON log line that says `login` failed to sign in.
fn sign_in_failure_client(logs: &str, login: &str) -> Option<String> {
    logs.lines().filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok()).find_map(|line| {
        (line["message"] == "console sign-in failed" && line["login"] == login)
            .then(|| line["client"].as_str().unwrap_or_default().to_string())
    })
}
