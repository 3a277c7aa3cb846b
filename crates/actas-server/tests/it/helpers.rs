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

pub struct TestApp {
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
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(Policy::shipped()).await
    }

    pub async fn spawn_with(policy: Policy) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let db_path = dir.path().join("actas.db");
        let clock = Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2026, 11, 25, 14, 0, 0).unwrap(),
        ));
        let mut config = Config::new(db_path.to_string_lossy().to_string());
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.policy = policy;
        config.clock = clock.clone();
        config.reap_every = None;
        let server = Server::build(config).await.unwrap();
        let base = format!("http://{}", server.addr());
        let ctx = server.ctx().clone();
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
            "Acme Billing",
            true,
            vec!["http://localhost:3000".into()],
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
            app: key,
            app_id: app.id,
            _dir: dir,
            _stop: stop,
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
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, v)
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, Some(token), Some(body))
            .await
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::GET, path, Some(token), None)
            .await
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
        self.post(&format!("/api/v1/requests/{id}/approve"), token, body)
            .await
    }

    pub async fn start(&self, token: &str, id: &str) -> (StatusCode, Value) {
        self.post(&format!("/api/v1/requests/{id}/start"), token, json!({}))
            .await
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
        (
            v["session"]["id"].as_str().unwrap().to_string(),
            v["token"].as_str().unwrap().to_string(),
        )
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
        self.events()
            .await
            .into_iter()
            .filter(|e| e["type"] == kind)
            .collect()
    }

    /// Counts of the state tables and the trail, to prove nothing changed.
    pub async fn counts(&self) -> Counts {
        let (_, reqs) = self.get("/api/v1/tickets/48192", &self.sam).await;
        let requests: Vec<(String, String)> = reqs["requests"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|r| {
                        (
                            r["id"].as_str().unwrap().to_string(),
                            r["status"].as_str().unwrap().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let sessions: Vec<(String, String)> = reqs["sessions"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|r| {
                        (
                            r["id"].as_str().unwrap().to_string(),
                            r["state"].as_str().unwrap().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Counts {
            requests,
            sessions,
            events: self.events().await.len(),
        }
    }

    pub async fn verify(&self) -> Value {
        let (s, v) = self.get("/api/v1/audit/verify", &self.audrey).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v
    }

    /// Direct SQL on the database file, as an attacker or a broken disk would.
    pub async fn sql(&self, statement: &str) {
        use sqlx::ConnectOptions;
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&self.db_path)
            .connect()
            .await
            .unwrap();
        sqlx::query(statement).execute(&mut conn).await.unwrap();
    }
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
    assert_eq!(
        got.1["type"],
        format!("urn:actas:problem:{slug}"),
        "{}",
        got.1
    );
    assert!(
        got.1["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{}",
        got.1
    );
}

/// The claims of a compact JWS, unverified.
pub fn claims(token: &str) -> Value {
    use base64::Engine;
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

pub fn header(token: &str) -> Value {
    use base64::Engine;
    let part = token.split('.').next().unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}
