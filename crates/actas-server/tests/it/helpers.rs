//! `TestApp`: a real server on 127.0.0.1:0 with a fresh SQLite file, a
//! manual clock, demo-like staff and an app, and helpers that read like
//! the domain.

use std::sync::Arc;

pub use actas_core::Clock;

use actas_core::audit::Actor;
use actas_core::model::Role;
use actas_core::policy::Policy;
use actas_core::ManualClock;
use actas_server::service::{self, Principal};
use actas_server::{Config, Ctx, Server};
use chrono::{TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};

pub const REASON: &str = "Customer can't update tax settings after plan change";

pub fn mins(m: i64) -> chrono::Duration {
    chrono::Duration::minutes(m)
}

/// Expands one test body into a test per backend: `sqlite` always, and
/// `postgres` when `ACTAS_TEST_PG_URL` names a server (on CI it must).
#[macro_export]
macro_rules! backend_test {
    (async fn $name:ident($app:ident) $body:block) => {
        backend_test!(async fn $name($app = actas_core::policy::Policy::shipped()) $body);
    };
    (async fn $name:ident($app:ident = $policy:expr) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test]
            async fn sqlite() {
                let $app = $crate::helpers::TestApp::spawn_on($crate::helpers::Backend::Sqlite, $policy).await;
                $body
            }

            #[tokio::test]
            async fn postgres() {
                let Some(url) = $crate::helpers::pg_url() else { return };
                let $app = $crate::helpers::TestApp::spawn_on($crate::helpers::Backend::Postgres(url), $policy).await;
                $body
            }
        }
    };
}

/// Which database a test runs on.
#[derive(Debug, Clone)]
pub enum Backend {
    /// A temporary SQLite file.
    Sqlite,
    /// A fresh database on this PostgreSQL server (base URL).
    Postgres(String),
}

/// The PostgreSQL server for tests (see [`actas_store::testing::pg_base_url`]).
pub fn pg_url() -> Option<String> {
    actas_store::testing::pg_base_url()
}

pub use actas_store::testing::PgDatabase;

pub struct TestApp {
    pub backend: Backend,
    pub db_url: String,
    pub base: String,
    pub clock: Arc<ManualClock>,
    pub ctx: Ctx,
    pub http: reqwest::Client,
    pub db_path: std::path::PathBuf,
    pub maria: String,
    pub jon: String,
    pub sam: String,
    pub lena: String,
    pub audrey: String,
    pub ada: String,
    pub app: String,
    pub app_id: String,
    /// The console's sign-in throttle, for its figures.
    pub throttle: Arc<actas_server::console::Throttle>,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
    _pg: Option<PgDatabase>,
}

/// The key-encryption key of every test server (one per test binary, so
/// that a second node or another process opens the same keys).
pub fn test_keys() -> actas_server::KeyAccess {
    static KEK: std::sync::OnceLock<Arc<actas_server::Kek>> = std::sync::OnceLock::new();
    actas_server::KeyAccess::Sealed(KEK.get_or_init(|| Arc::new(actas_server::Kek::generate())).clone())
}

impl TestApp {
    pub async fn spawn_on(backend: Backend, policy: Policy) -> TestApp {
        TestApp::spawn_with(backend, policy, |_| {}).await
    }

    /// A SQLite app whose configuration `configure` adjusts first.
    pub async fn configured(configure: impl FnOnce(&mut Config)) -> TestApp {
        TestApp::spawn_with(Backend::Sqlite, Policy::shipped(), configure).await
    }

    pub async fn spawn_with(backend: Backend, policy: Policy, configure: impl FnOnce(&mut Config)) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let db_path = dir.path().join("actas.db");
        let pg = match &backend {
            Backend::Postgres(base) => Some(PgDatabase::create(base).await),
            Backend::Sqlite => None,
        };
        let db_url = match &pg {
            Some(p) => p.url.clone(),
            None => db_path.to_string_lossy().to_string(),
        };
        let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 11, 25, 14, 0, 0).unwrap()));
        let mut config = Config::new(db_url.clone());
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.policy = policy;
        config.clock = clock.clone();
        config.reap_every = None;
        config.keys = test_keys();
        configure(&mut config);
        let server = Server::build(config).await.unwrap();
        let base = format!("http://{}", server.addr());
        let ctx = server.ctx().clone();
        let throttle = server.throttle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.run_until(async move {
            let _ = stopped.await;
        }));
        let add = |login: &'static str, name: &'static str, roles: Vec<Role>| {
            let ctx = ctx.clone();
            async move {
                service::add_staff(&ctx, Actor::system(), login, name, roles, None)
                    .await
                    .unwrap()
                    .1
                    .expose()
                    .to_string()
            }
        };
        let maria = add("maria", "Maria Lopez", vec![Role::Agent]).await;
        let jon = add("jon", "Jon Park", vec![Role::Agent]).await;
        let sam = add("sam", "Sam Lee", vec![Role::Lead, Role::Agent]).await;
        let lena = add("lena", "Lena Ortiz", vec![Role::Lead]).await;
        let audrey = add("audrey", "Audrey Kim", vec![Role::Auditor]).await;
        let ada = add("ada", "Ada Quinn", vec![Role::Admin]).await;
        let (app, key) = service::add_app(
            &ctx,
            Actor::system(),
            service::NewApp::new("Acme Billing", true, vec!["http://localhost:3000".into()]),
        )
        .await
        .unwrap();
        service::create_ticket(
            &ctx,
            &Principal::App(app.clone()),
            actas_api::NewTicket {
                reference: "48192".into(),
                account_id: "acct_42".into(),
                account_name: Some("Acme Corp".into()),
                subject: "Tax settings broken after plan change".into(),
                url: None,
            },
        )
        .await
        .unwrap();
        TestApp {
            backend,
            db_url,
            base,
            clock,
            ctx,
            http: reqwest::Client::new(),
            db_path,
            maria,
            jon,
            sam,
            lena,
            audrey,
            ada,
            app: key.expose().to_string(),
            app_id: app.id,
            throttle,
            _dir: dir,
            _stop: stop,
            _pg: pg,
        }
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        let v = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        (status, v)
    }

    /// Sets a staff member's console password.
    pub async fn set_password(&self, login: &str, password: &str) {
        service::set_password(&self.ctx, login, password).await.unwrap();
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::GET, path, Some(token), None).await
    }

    /// Opens a request under ticket 48192 and answers it (status 201 asserted).
    pub async fn request(&self, token: &str, actions: &[&str], minutes: Option<u32>) -> Value {
        let mut body = json!({"ticket": "48192", "reason": REASON, "actions": actions});
        if let Some(m) = minutes {
            body["minutes"] = json!(m);
        }
        let (s, v) = self.post("/api/v1/requests", token, body).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v
    }

    pub async fn approve(&self, token: &str, id: &str, body: Value) -> (StatusCode, Value) {
        self.post(&format!("/api/v1/requests/{id}/approve"), token, body).await
    }

    pub async fn start(&self, token: &str, id: &str) -> (StatusCode, Value) {
        self.post(&format!("/api/v1/requests/{id}/start"), token, json!({})).await
    }

    /// Maria asks for `actions`, Sam approves when needed, Maria starts:
    /// answers (session id, impersonation token).
    pub async fn live_session(&self, actions: &[&str], minutes: Option<u32>) -> (String, String) {
        let r = self.request(&self.maria, actions, minutes).await;
        let id = r["id"].as_str().unwrap().to_string();
        if r["status"] == "pending" {
            let (s, v) = self.approve(&self.sam, &id, json!({})).await;
            assert_eq!(s, StatusCode::OK, "{v}");
        }
        let (s, v) = self.start(&self.maria, &id).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        (v["session"]["id"].as_str().unwrap().to_string(), v["token"].as_str().unwrap().to_string())
    }

    pub async fn authorize(&self, token: &str, action: &str, extra: Value) -> (StatusCode, Value) {
        let mut body = json!({"token": token, "action": action});
        if let Value::Object(m) = extra {
            for (k, v) in m {
                body[k] = v;
            }
        }
        self.post("/api/v1/authorize", &self.app, body).await
    }

    /// Every audit event, oldest first.
    pub async fn events(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/v1/audit?limit=1000&cursor={c}"),
                None => "/api/v1/audit?limit=1000".to_string(),
            };
            let (s, v) = self.get(&path, &self.audrey).await;
            assert_eq!(s, StatusCode::OK, "{v}");
            out.extend(v["events"].as_array().unwrap().iter().cloned());
            match v["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return out,
            }
        }
    }

    pub async fn events_of_type(&self, kind: &str) -> Vec<Value> {
        self.events().await.into_iter().filter(|e| e["type"] == kind).collect()
    }

    /// Counts of the state tables and the trail, to prove nothing changed.
    pub async fn counts(&self) -> Counts {
        let (_, reqs) = self.get("/api/v1/tickets/48192", &self.sam).await;
        let requests: Vec<(String, String)> = reqs["requests"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|r| (r["id"].as_str().unwrap().to_string(), r["status"].as_str().unwrap().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let sessions: Vec<(String, String)> = reqs["sessions"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|r| (r["id"].as_str().unwrap().to_string(), r["state"].as_str().unwrap().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        Counts { requests, sessions, events: self.events().await.len() }
    }

    pub async fn verify(&self) -> Value {
        let (s, v) = self.get("/api/v1/audit/verify", &self.audrey).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v
    }

    /// A second server on the same database and clock: another node.
    pub async fn second_node(&self) -> Node {
        let mut config = Config::new(self.db_url.clone());
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.clock = self.clock.clone();
        config.reap_every = None;
        config.keys = test_keys();
        let server = Server::build(config).await.unwrap();
        let base = format!("http://{}", server.addr());
        let ctx = server.ctx().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.run_until(async move {
            let _ = stopped.await;
        }));
        Node { base, ctx, _stop: stop }
    }

    /// Another process on the same database (like the CLI, or another node):
    /// its own store, keys and feed, no HTTP.
    pub async fn other_process(&self) -> Ctx {
        actas_server::open_ctx(&self.db_url, Policy::shipped(), self.clock.clone(), self.base.clone(), test_keys())
            .await
            .unwrap()
    }

    /// Direct SQL on the database, as an attacker or a broken disk would.
    pub async fn sql(&self, statement: &str) {
        use sqlx::{ConnectOptions, Connection};
        match &self.backend {
            Backend::Sqlite => {
                let mut conn =
                    sqlx::sqlite::SqliteConnectOptions::new().filename(&self.db_path).connect().await.unwrap();
                sqlx::raw_sql(statement).execute(&mut conn).await.unwrap();
            }
            Backend::Postgres(_) => {
                let mut conn = sqlx::PgConnection::connect(&self.db_url).await.unwrap();
                sqlx::raw_sql(statement).execute(&mut conn).await.unwrap();
            }
        }
    }

    /// Makes every insert into the audit trail fail.
    pub async fn break_audit(&self) {
        match self.backend {
            Backend::Sqlite => {
                self.sql(
                    "CREATE TRIGGER audit_down BEFORE INSERT ON audit_events \
                     BEGIN SELECT RAISE(ABORT, 'disk on fire'); END",
                )
                .await
            }
            Backend::Postgres(_) => {
                self.sql(
                    "CREATE FUNCTION audit_down() RETURNS trigger LANGUAGE plpgsql AS \
                     $$ BEGIN RAISE EXCEPTION 'disk on fire'; END; $$; \
                     CREATE TRIGGER audit_down BEFORE INSERT ON audit_events \
                     FOR EACH ROW EXECUTE FUNCTION audit_down();",
                )
                .await
            }
        }
    }

    /// Undoes [`TestApp::break_audit`].
    pub async fn repair_audit(&self) {
        match self.backend {
            Backend::Sqlite => self.sql("DROP TRIGGER audit_down").await,
            Backend::Postgres(_) => {
                self.sql("DROP TRIGGER audit_down ON audit_events; DROP FUNCTION audit_down();").await
            }
        }
    }

    /// Whether `needle` is stored anywhere in the database.
    pub async fn stored_anywhere(&self, needle: &str) -> bool {
        match self.backend {
            Backend::Sqlite => ["", "-wal"].iter().any(|suffix| {
                let mut path = self.db_path.clone().into_os_string();
                path.push(suffix);
                std::fs::read(&path).is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
            }),
            Backend::Postgres(_) => {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(&self.db_url).await.unwrap();
                let tables: Vec<String> =
                    sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
                        .fetch_all(&mut conn)
                        .await
                        .unwrap();
                assert!(tables.len() >= 10, "{tables:?}");
                for t in tables {
                    let n: i64 =
                        sqlx::query_scalar(&format!("SELECT count(*) FROM {t} x WHERE x::text LIKE '%' || $1 || '%'"))
                            .bind(needle)
                            .fetch_one(&mut conn)
                            .await
                            .unwrap();
                    if n > 0 {
                        return true;
                    }
                }
                false
            }
        }
    }
}

/// Another server on the same database.
pub struct Node {
    pub base: String,
    pub ctx: Ctx,
    _stop: tokio::sync::oneshot::Sender<()>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Counts {
    pub requests: Vec<(String, String)>,
    pub sessions: Vec<(String, String)>,
    pub events: usize,
}

/// Asserts a problem answer: status and type slug.
#[track_caller]
pub fn assert_problem(got: &(StatusCode, Value), status: u16, slug: &str) {
    assert_eq!(got.0.as_u16(), status, "{}", got.1);
    assert_eq!(got.1["type"], format!("urn:actas:problem:{slug}"), "{}", got.1);
    assert!(got.1["detail"].as_str().is_some_and(|d| !d.is_empty()), "{}", got.1);
}

/// The claims of a compact JWS, unverified.
pub fn claims(token: &str) -> Value {
    use base64::Engine;
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

pub fn header(token: &str) -> Value {
    use base64::Engine;
    let part = token.split('.').next().unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}
