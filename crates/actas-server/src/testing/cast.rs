//! [`TestApp`]: a test server with the people, the host app and the ticket
//! of the examples, and the reads that need them.

use actas_api::{AuthorizeRequest, AuthorizeResponse};
use actas_core::model::Role;
use actas_core::policy::Policy;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::server::{Backend, TestServer};
use crate::Config;

/// A [`TestServer`] (which it derefs to) with the cast of the examples:
///
/// | field | who | roles |
/// |---|---|---|
/// | `maria` | Maria Lopez | agent |
/// | `jon` | Jon Park | agent |
/// | `sam` | Sam Lee | lead, agent |
/// | `lena` | Lena Ortiz | lead |
/// | `audrey` | Audrey Kim | auditor |
/// | `ada` | Ada Quinn | admin |
///
/// (each field is the personal token), the host app Acme Billing (`app`,
/// its key; `app_id`; it records tickets and has the web origin
/// `http://localhost:3000`) and ticket 48192 on Acme Corp (`acct_42`).
/// Sam approves what a builder's session needs approved; Acme Billing
/// records the builders' tickets.
pub struct TestApp {
    /// The server.
    pub server: TestServer,
    /// Maria Lopez, agent.
    pub maria: String,
    /// Jon Park, agent.
    pub jon: String,
    /// Sam Lee, lead and agent.
    pub sam: String,
    /// Lena Ortiz, lead.
    pub lena: String,
    /// Audrey Kim, auditor.
    pub audrey: String,
    /// Ada Quinn, admin.
    pub ada: String,
    /// Acme Billing's app key.
    pub app: String,
    /// Acme Billing's id (the tokens' audience).
    pub app_id: String,
    /// Acme Billing's client: the host app's calls go through it.
    pub client: actas_client::Client,
}

impl std::fmt::Debug for TestApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestApp").field("server", &self.server).finish_non_exhaustive()
    }
}

impl std::ops::Deref for TestApp {
    type Target = TestServer;
    fn deref(&self) -> &TestServer {
        &self.server
    }
}

impl std::ops::DerefMut for TestApp {
    fn deref_mut(&mut self) -> &mut TestServer {
        &mut self.server
    }
}

/// The state tables and the trail, reduced to what proves that nothing
/// changed.
#[derive(Debug, PartialEq, Eq)]
pub struct Counts {
    /// Every request of ticket 48192: (id, status).
    pub requests: Vec<(String, String)>,
    /// Every session of ticket 48192: (id, state).
    pub sessions: Vec<(String, String)>,
    /// How many events the trail holds.
    pub events: usize,
}

impl TestApp {
    /// On SQLite, with the shipped policy.
    pub async fn spawn() -> TestApp {
        TestApp::around(TestServer::spawn().await).await
    }

    /// On `backend`, with `policy`.
    pub async fn on(backend: Backend, policy: Policy) -> TestApp {
        TestApp::around(TestServer::builder().backend(backend).policy(policy).spawn().await).await
    }

    /// On SQLite, with the configuration `configure` adjusts.
    pub async fn configured(configure: impl FnOnce(&mut Config) + Send + 'static) -> TestApp {
        TestApp::around(TestServer::builder().configure(configure).spawn().await).await
    }

    /// Adds the cast to `server`.
    pub async fn around(mut server: TestServer) -> TestApp {
        let maria = server.staff("maria").name("Maria Lopez").roles([Role::Agent]).add().await;
        let jon = server.staff("jon").name("Jon Park").roles([Role::Agent]).add().await;
        let sam = server.staff("sam").name("Sam Lee").roles([Role::Lead, Role::Agent]).add().await;
        let lena = server.staff("lena").name("Lena Ortiz").roles([Role::Lead]).add().await;
        let audrey = server.staff("audrey").name("Audrey Kim").roles([Role::Auditor]).add().await;
        let ada = server.staff("ada").name("Ada Quinn").roles([Role::Admin]).add().await;
        let acme = server.host_app("Acme Billing").tickets().origin("http://localhost:3000").add().await;
        server.api = server.api.clone().with_approver(&sam).with_ticket_system(&acme.key);
        server.ticket("48192").account("acct_42").account_name("Acme Corp").create().await;
        let client = server.client_for(&acme.key);
        TestApp { server, maria, jon, sam, lena, audrey, ada, app: acme.key, app_id: acme.id, client }
    }

    /// Asks, as Acme Billing, whether the holder of `token` may do `action`;
    /// the call must be answered (a refusal is an answer).
    pub async fn authorize(&self, token: &str, action: &str) -> AuthorizeResponse {
        self.client.authorize(token, action).await.unwrap_or_else(|e| panic!("authorize {action}: {e}"))
    }

    /// [`TestApp::authorize`] with more of the request (`target`,
    /// `changes`), written as its JSON.
    pub async fn authorize_with(&self, token: &str, action: &str, more: Value) -> AuthorizeResponse {
        let mut body = json!({"token": token, "action": action});
        for (k, v) in more.as_object().expect("more of an authorize request, as a JSON object") {
            body[k] = v.clone();
        }
        let req: AuthorizeRequest =
            serde_json::from_value(body).unwrap_or_else(|e| panic!("an authorize request: {e}"));
        self.client.authorize_with(&req).await.unwrap_or_else(|e| panic!("authorize {action}: {e}"))
    }

    /// Every audit event, oldest first, as Audrey reads them.
    pub async fn events(&self) -> Vec<Value> {
        self.audit(&self.audrey, "").await
    }

    /// Every audit event of one type, oldest first.
    pub async fn events_of_type(&self, kind: &str) -> Vec<Value> {
        self.audit(&self.audrey, &format!("type={kind}")).await
    }

    /// The requests and sessions of ticket 48192 and the trail's length.
    pub async fn counts(&self) -> Counts {
        let (s, ticket) = self.get("/api/v1/tickets/48192", &self.sam).await;
        assert_eq!(s, StatusCode::OK, "{ticket}");
        let pairs = |list: &str, field: &str| -> Vec<(String, String)> {
            ticket[list]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|r| {
                            let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
                            (text(&r["id"]), text(&r[field]))
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        Counts {
            requests: pairs("requests", "status"),
            sessions: pairs("sessions", "state"),
            events: self.events().await.len(),
        }
    }

    /// The trail verified, as Audrey asks.
    pub async fn verify(&self) -> Value {
        self.verify_as(&self.audrey).await
    }
}
