//! Shared helpers of the `actas` binary's integration tests: a fresh
//! folder with its own SQLite file (or a fresh PostgreSQL database),
//! running CLI verbs against it, and a server process that is stopped when
//! the test ends. What is said over HTTP comes from the test kit
//! (`actas_server::testing`), as for every crate's tests.
#![allow(dead_code)] // each test file uses a different part of this module

pub mod tmpfs;

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

#[allow(unused_imports)] // each test file uses a different part
pub use actas_server::testing::{http::get, http::post, jws_header, wait_for, wait_until, Api};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_actas");

/// A reason long and specific enough for the shipped policy.
pub const REASON: &str = "Customer cannot see the new tax settings after the plan change";

/// The variable every verb and server of an [`Env`] finds its
/// key-encryption key by.
pub const KEK_VAR: &str = "ACTAS_KEY_ENCRYPTION_KEY_FILE";

/// A fresh folder with its own database file, or a fresh folder whose
/// verbs and servers use a database URL (see [`Env::on`]), and its own
/// key-encryption key, which every verb and server is given.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
    /// The database URL every verb and server uses instead of `db`.
    pub url: Option<String>,
    /// The key-encryption key file (32 raw random bytes), passed as
    /// `ACTAS_KEY_ENCRYPTION_KEY_FILE` while set.
    pub kek: Option<PathBuf>,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let db = dir.path().join("actas.sqlite");
        let kek = dir.path().join("kek");
        write_kek(&kek);
        Env { dir, db, url: None, kek: Some(kek) }
    }

    /// The key-encryption key file.
    pub fn kek(&self) -> &Path {
        self.kek.as_deref().expect("this environment has a key-encryption key")
    }

    /// A fresh folder whose verbs and servers use the database `url`
    /// (e.g. a `postgres://` URL).
    pub fn on(url: &str) -> Env {
        Env { url: Some(url.to_string()), ..Env::new() }
    }

    /// What `--database` says: the URL, or else the database file.
    pub fn database(&self) -> OsString {
        match &self.url {
            Some(url) => OsString::from(url),
            None => self.db.clone().into_os_string(),
        }
    }

    /// Another database file in the same folder (for tampered copies).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `actas --database DB ARGS...`, run in the folder.
    pub fn cmd(&self, args: &[&str]) -> Command {
        self.cmd_on(self.database(), args)
    }

    /// `actas --database FILE-OR-URL ARGS...`, run in the folder.
    pub fn cmd_on(&self, db: impl AsRef<OsStr>, args: &[&str]) -> Command {
        let mut c = bare_cmd(self.dir.path());
        if let Some(kek) = &self.kek {
            c.env(KEK_VAR, kek);
        }
        c.arg("--database").arg(db).args(args);
        c
    }

    /// Runs a verb with an empty standard input.
    pub fn run(&self, args: &[&str]) -> Output {
        output(self.cmd(args), None)
    }

    /// Runs a verb against another database file or URL.
    pub fn run_on(&self, db: impl AsRef<OsStr>, args: &[&str]) -> Output {
        output(self.cmd_on(db, args), None)
    }

    /// Runs a verb with `input` on standard input.
    pub fn run_stdin(&self, args: &[&str], input: &str) -> Output {
        output(self.cmd(args), Some(input))
    }

    /// Runs a verb that must succeed; answers its standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_success(&out, args);
        stdout(&out)
    }

    /// `staff add`; answers the personal token.
    pub fn add_staff(&self, login: &str, name: &str, roles: &[&str]) -> String {
        let mut args = vec!["staff", "add", login, "--name", name, "--role"];
        args.extend_from_slice(roles);
        let out = self.ok(&args);
        let token = last_line(&out).to_string();
        assert!(token.starts_with("actas_pat_"), "{out}");
        token
    }

    /// `app add NAME --tickets --origin http://localhost:3000`; answers the key.
    pub fn add_app(&self, name: &str) -> String {
        let out = self.ok(&["app", "add", name, "--tickets", "--origin", "http://localhost:3000"]);
        let key = last_line(&out).to_string();
        assert!(key.starts_with("actas_app_"), "{out}");
        key
    }

    /// Starts `actas serve` on this folder's database.
    pub fn serve(&self) -> Server {
        Server::start(self, self.database(), &[])
    }

    /// Starts `actas serve` on another database file or URL.
    pub fn serve_on(&self, db: impl AsRef<OsStr>) -> Server {
        Server::start(self, db, &[])
    }
}

/// Writes a new key-encryption key: 32 random bytes, readable by the owner only.
pub fn write_kek(path: &Path) {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)).expect("random bytes");
    std::fs::write(path, bytes).expect("writing a key-encryption key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
    }
}

/// The binary with a clean environment, run in `dir`.
pub fn bare_cmd(dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.current_dir(dir).env("NO_COLOR", "1");
    // Every setting has an ACTAS_* variable: none of the caller's leaks in.
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(|n| n.starts_with("ACTAS_") || n == "RUST_LOG") {
            c.env_remove(name);
        }
    }
    c
}

/// Runs `c`, which must end by itself within 30 seconds (a server that
/// should refuse to start); kills it and fails the test otherwise.
pub fn run_briefly(mut c: Command) -> Output {
    c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("the actas binary starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("waiting for the binary").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("the actas binary ends");
            panic!("actas did not stop by itself:\n{}", both(&out));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("the actas binary ends")
}

/// Runs `c` to its end, feeding it `input`.
pub fn output(mut c: Command, input: Option<&str>) -> Output {
    c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("the actas binary starts");
    {
        let mut stdin = child.stdin.take().expect("a piped stdin");
        if let Some(input) = input {
            stdin.write_all(input.as_bytes()).expect("writing to the binary's stdin");
        }
    }
    child.wait_with_output().expect("the actas binary ends")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Standard output and standard error, for messages that may be on either.
pub fn both(out: &Output) -> String {
    format!("{}{}", stdout(out), stderr(out))
}

pub fn assert_success(out: &Output, args: &[&str]) {
    assert!(out.status.success(), "actas {args:?} failed with {}:\n{}", out.status, both(out));
}

pub fn assert_failure(out: &Output, args: &[&str]) {
    assert!(!out.status.success(), "actas {args:?} should have failed:\n{}", both(out));
}

/// The last non-empty line.
pub fn last_line(s: &str) -> &str {
    s.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim()
}

/// Removes ANSI colour sequences.
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The port in a line like `... actas is listening addr=127.0.0.1:PORT ...`.
pub fn listening_port(line: &str) -> Option<u16> {
    let line = strip_ansi(line);
    if !line.contains("actas is listening") {
        return None;
    }
    // `addr=127.0.0.1:PORT` in text, `"addr":"127.0.0.1:PORT"` in JSON.
    let rest = match line.find("addr=") {
        Some(at) => &line[at + "addr=".len()..],
        None => &line[line.find("\"addr\":\"")? + "\"addr\":\"".len()..],
    };
    let rest = rest.strip_prefix("127.0.0.1:")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// A running `actas serve`; killed when dropped.
pub struct Server {
    child: Option<Child>,
    pub base: String,
    log: Arc<Mutex<Vec<String>>>,
    /// Where its standard error goes, when not to a pipe read by the test.
    log_file: Option<PathBuf>,
}

impl Server {
    /// Spawns `actas --database DB serve --listen 127.0.0.1:0 EXTRA...` and
    /// waits until it says where it listens.
    pub fn start(env: &Env, db: impl AsRef<OsStr>, extra: &[&str]) -> Server {
        Server::start_with_vars(env, db, extra, &[])
    }

    /// [`Server::start`] with extra environment variables.
    pub fn start_with_vars(env: &Env, db: impl AsRef<OsStr>, extra: &[&str], vars: &[(&str, &str)]) -> Server {
        let mut c = env.cmd_on(db, &["serve", "--listen", "127.0.0.1:0"]);
        c.envs(vars.iter().copied());
        c.args(extra);
        Server::spawn(c)
    }

    /// Spawns `c`, an `actas ... serve --listen 127.0.0.1:0 ...` command,
    /// and waits until it says where it listens.
    pub fn spawn(mut c: Command) -> Server {
        c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = c.spawn().expect("actas serve starts");
        let err = child.stderr.take().expect("a piped stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (port_tx, port_rx) = mpsc::channel();
        {
            let log = log.clone();
            // Keeps reading so that the server never blocks on a full pipe.
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines() {
                    let Ok(line) = line else { break };
                    if let Some(port) = listening_port(&line) {
                        let _ = port_tx.send(port);
                    }
                    log.lock().unwrap_or_else(|e| e.into_inner()).push(line);
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut server = Server { child: Some(child), base: String::new(), log, log_file: None };
        loop {
            match port_rx.recv_timeout(Duration::from_millis(50)) {
                Ok(port) => {
                    server.base = format!("http://127.0.0.1:{port}");
                    return server;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = server.wait_for_exit(Duration::from_secs(5));
                    panic!("actas serve ended before listening ({status:?}):\n{}", server.log());
                }
            }
            if let Some(status) = server.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                // The reader thread collects the last lines, then hangs up.
                let until = Instant::now() + Duration::from_secs(5);
                while port_rx.recv_timeout(until.saturating_duration_since(Instant::now())).is_ok() {}
                panic!("actas serve ended before listening ({status}):\n{}", server.log());
            }
            assert!(Instant::now() < deadline, "actas serve did not say where it listens:\n{}", server.log());
        }
    }

    /// Spawns `actas --database DB serve --listen 127.0.0.1:0` with its
    /// standard error written to the file `log` (which may sit on a disk
    /// that fills up) and extra environment variables, and waits until the
    /// file says where it listens.
    pub fn start_logging_to(env: &Env, db: impl AsRef<OsStr>, log: &Path, vars: &[(&str, &str)]) -> Server {
        let mut c = env.cmd_on(db, &["serve", "--listen", "127.0.0.1:0"]);
        c.envs(vars.iter().copied());
        Server::spawn_logging_to(c, log)
    }

    /// Spawns `c`, an `actas ... serve --listen 127.0.0.1:0 ...` command,
    /// with its standard error written to the file `log`, and waits until
    /// the file says where it listens.
    pub fn spawn_logging_to(mut c: Command, log: &Path) -> Server {
        let file = std::fs::File::create(log).unwrap_or_else(|e| panic!("creating {}: {e}", log.display()));
        c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(file);
        let child = c.spawn().expect("actas serve starts");
        let mut server =
            Server { child: Some(child), base: String::new(), log: Arc::default(), log_file: Some(log.to_path_buf()) };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(port) = server.log().lines().find_map(listening_port) {
                server.base = format!("http://127.0.0.1:{port}");
                return server;
            }
            if let Some(status) = server.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("actas serve ended before listening ({status}):\n{}", server.log());
            }
            assert!(Instant::now() < deadline, "actas serve did not say where it listens:\n{}", server.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// `BASE/api/v1PATH`.
    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    /// Its API as the test kit calls it, over `c`.
    pub fn http_api(&self, c: &reqwest::Client) -> Api {
        Api::new(&self.base).with_http(c.clone())
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        match &self.log_file {
            Some(path) => String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned(),
            None => self.log.lock().unwrap_or_else(|e| e.into_inner()).join("\n"),
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or_default()
    }

    fn wait_for_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let child = self.child.as_mut()?;
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Asks the server to stop (SIGTERM) and waits for it; kills it if it
    /// does not stop in time.
    pub fn stop(mut self) {
        let pid = self.pid();
        if pid != 0 {
            let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
            if self.wait_for_exit(Duration::from_secs(10)).is_some() {
                self.child = None;
            }
        }
        // Drop kills whatever is left.
    }

    /// Sends SIGTERM and answers how the process ended, if it did within
    /// `within`.
    pub fn terminate(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let pid = self.pid();
        let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
        let status = self.wait_for_exit(within);
        if status.is_some() {
            self.child = None;
        }
        status
    }

    /// Kills the server at once (SIGKILL on Unix) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An HTTP client with a short timeout.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("an HTTP client")
}

/// Every event matching `query` (e.g. `session=ID`), following `next_cursor`.
pub async fn audit_events(c: &reqwest::Client, server: &Server, bearer: &str, query: &str) -> Vec<Value> {
    server.http_api(c).audit(bearer, query).await
}

/// Events after `after_seq` (the audit cursor), oldest first, following
/// `next_cursor`.
pub async fn audit_events_after(c: &reqwest::Client, server: &Server, bearer: &str, after_seq: i64) -> Vec<Value> {
    server.http_api(c).audit_after(bearer, after_seq).await
}

/// `GET /healthz`: its status and body; `None` when the server did not answer.
pub async fn health(c: &reqwest::Client, server: &Server) -> Option<(StatusCode, Value)> {
    server.http_api(c).health().await
}

/// Everything a live session needs, made through the CLI and the API.
pub struct Live {
    pub agent: String,
    pub lead: String,
    pub auditor: String,
    pub app_key: String,
    pub request_id: String,
    pub session_id: String,
    pub token: String,
}

/// Staff and an app through the CLI (the server may be running), then a
/// ticket, an approved-by-policy request for `settings.view` and its started
/// session over HTTP.
pub async fn live_session(env: &Env, server: &Server) -> Live {
    let agent = env.add_staff("maria", "Maria Lopez", &["agent"]);
    let lead = env.add_staff("sam", "Sam Lee", &["lead"]);
    let auditor = env.add_staff("audrey", "Audrey Kim", &["auditor"]);
    let app_key = env.add_app("Acme Billing");
    let c = http();

    let (status, ticket) = post(
        &c,
        &server.api("/tickets"),
        &app_key,
        &json!({
            "ref": "48192",
            "account_id": "acct_42",
            "account_name": "Acme Corp",
            "subject": "Tax settings missing after plan change",
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{ticket}");

    let s = server
        .http_api(&c)
        .session(&agent)
        .actions(&["settings.view"])
        .reason(REASON)
        .app("Acme Billing")
        .start()
        .await;
    assert_eq!(s.request["status"], "approved", "{}", s.request.answer);
    Live { agent, lead, auditor, app_key, request_id: s.request.id, session_id: s.id, token: s.token }
}

/// `POST /authorize` for `action`; answers the status and body.
pub async fn authorize(c: &reqwest::Client, server: &Server, live: &Live, action: &str) -> (StatusCode, Value) {
    post(c, &server.api("/authorize"), &live.app_key, &json!({"token": live.token, "action": action})).await
}

#[allow(unused_imports)] // each test file uses a different part
pub use actas_store::testing::{exec_blocking as pg_exec_blocking, pg_base_url, PgDatabase};

/// Runs `sql` on `url` over a connection of its own.
pub async fn pg_exec(url: &str, sql: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
    sqlx::query(sql).execute(&mut conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let _ = conn.close().await;
}

/// Every row of every table of the public schema, as text.
pub async fn pg_everything(url: &str) -> Vec<u8> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.expect("connecting");
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    )
    .fetch_all(&mut conn)
    .await
    .expect("listing the tables");
    assert!(tables.iter().any(|t| t == "signing_keys") && tables.len() > 5, "{tables:?}");
    let mut all = Vec::new();
    for t in tables {
        let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT t::text FROM \"{t}\" t"))
            .fetch_all(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("reading {t}: {e}"));
        for r in rows {
            all.extend(r.into_bytes());
            all.push(b'\n');
        }
    }
    let _ = conn.close().await;
    all
}

/// The `kid`s a server's `/.well-known/jwks.json` lists.
pub async fn jwks_kids(c: &reqwest::Client, server: &Server) -> Vec<String> {
    server.http_api(c).jwks_kids().await
}

/// A subscription to `GET /api/v1/sessions/feed`: its `data:` frames,
/// parsed, each with the moment it arrived.
pub struct FeedSubscription {
    frames: tokio::sync::mpsc::UnboundedReceiver<(Instant, Value)>,
    reader: tokio::task::JoinHandle<()>,
}

impl FeedSubscription {
    /// Subscribes with `bearer`; answers once the server has accepted the
    /// subscription (changes committed after that are delivered).
    pub async fn open(server: &Server, bearer: &str) -> FeedSubscription {
        FeedSubscription::open_at(&server.api("/sessions/feed"), bearer).await
    }

    /// [`FeedSubscription::open`] at `url`, the feed's full address (a
    /// node's, or a reverse proxy's in front of several).
    pub async fn open_at(url: &str, bearer: &str) -> FeedSubscription {
        // No overall timeout: the stream stays open for the whole test.
        let c = reqwest::Client::builder().connect_timeout(Duration::from_secs(10)).build().expect("an HTTP client");
        let mut r = c.get(url).bearer_auth(bearer).send().await.expect("the server answers the feed");
        assert_eq!(r.status(), StatusCode::OK, "the feed is open to this caller");
        let content_type = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        assert!(content_type.starts_with("text/event-stream"), "{content_type}");
        let (tx, frames) = tokio::sync::mpsc::unbounded_channel();
        let reader = tokio::spawn(async move {
            let mut buf: Vec<u8> = Vec::new();
            while let Ok(Some(chunk)) = r.chunk().await {
                buf.extend(chunk.iter().copied().filter(|b| *b != b'\r'));
                while let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
                    let frame: Vec<u8> = buf.drain(..end + 2).collect();
                    let frame = String::from_utf8_lossy(&frame);
                    let data: Vec<&str> = frame
                        .lines()
                        .filter_map(|l| l.strip_prefix("data:"))
                        .map(|d| d.strip_prefix(' ').unwrap_or(d))
                        .collect();
                    if data.is_empty() {
                        continue; // a keep-alive comment
                    }
                    let value = serde_json::from_str(&data.join("\n")).expect("a feed frame's data is JSON");
                    if tx.send((Instant::now(), value)).is_err() {
                        return;
                    }
                }
            }
        });
        FeedSubscription { frames, reader }
    }

    /// The next frame for which `wanted` holds, with the moment it arrived;
    /// `None` when none came by `deadline`.
    pub async fn next_where(&mut self, deadline: Instant, wanted: impl Fn(&Value) -> bool) -> Option<(Instant, Value)> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.frames.recv()).await {
                Ok(Some((at, frame))) if wanted(&frame) => return Some((at, frame)),
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => return None,
            }
        }
    }
}

impl Drop for FeedSubscription {
    fn drop(&mut self) {
        self.reader.abort();
    }
}
