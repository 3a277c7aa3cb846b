//! A running actas over HTTP, as a test calls it: raw calls for tests
//! about the wire, and builders for requests, sessions and tickets.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{http, REASON};

/// The HTTP API of a running actas: its base URL, an HTTP client, and who
/// approves and who records tickets when a builder is not told.
#[derive(Clone, Debug)]
pub struct Api {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The HTTP client every call goes through (no timeout: the session
    /// feed stays open).
    pub http: reqwest::Client,
    approver: Option<String>,
    tickets_key: Option<String>,
}

impl Api {
    /// The API of the actas at `base`.
    pub fn new(base: impl Into<String>) -> Api {
        Api { base: base.into(), http: reqwest::Client::new(), approver: None, tickets_key: None }
    }

    /// Calls go through `http` (say, one with a timeout).
    pub fn with_http(mut self, http: reqwest::Client) -> Api {
        self.http = http;
        self
    }

    /// Sessions that need a lead's approval are approved by `lead` (a
    /// personal token) unless a builder says otherwise.
    pub fn with_approver(mut self, lead: &str) -> Api {
        self.approver = Some(lead.to_string());
        self
    }

    /// Tickets are recorded with `key` (an app key with the `tickets`
    /// permission) unless a builder says otherwise.
    pub fn with_ticket_system(mut self, key: &str) -> Api {
        self.tickets_key = Some(key.to_string());
        self
    }

    /// `BASE` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The host app's client for this actas, holding `key`.
    pub fn client_for(&self, key: &str) -> actas_client::Client {
        actas_client::Client::new(&self.base, key)
    }

    /// `METHOD path`, with an optional bearer credential and JSON body:
    /// the status and the body (see [`http::send`]).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        http::send(&self.http, method, &self.url(path), bearer, body.as_ref()).await
    }

    /// `GET path` with a bearer credential.
    pub async fn get(&self, path: &str, bearer: &str) -> (StatusCode, Value) {
        self.send(Method::GET, path, Some(bearer), None).await
    }

    /// `POST path` with a bearer credential and a JSON body.
    pub async fn post(&self, path: &str, bearer: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::POST, path, Some(bearer), Some(body)).await
    }

    /// The body of `GET path` as text; the answer must be 200.
    pub async fn text(&self, path: &str, bearer: &str) -> String {
        let res = self
            .http
            .get(self.url(path))
            .bearer_auth(bearer)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        assert_eq!(res.status(), StatusCode::OK, "GET {path}");
        res.text().await.unwrap_or_else(|e| panic!("GET {path}: the body: {e}"))
    }

    /// A lead approves request `id`, as asked or as `body` narrows it.
    pub async fn approve(&self, lead: &str, id: &str, body: Value) -> (StatusCode, Value) {
        self.post(&format!("/api/v1/requests/{id}/approve"), lead, body).await
    }

    /// The agent starts approved request `id`.
    pub async fn start(&self, agent: &str, id: &str) -> (StatusCode, Value) {
        self.post(&format!("/api/v1/requests/{id}/start"), agent, json!({})).await
    }

    /// `who` (the agent, or the session's token) ends session `id`.
    pub async fn end(&self, who: &str, id: &str) -> (StatusCode, Value) {
        self.post(&format!("/api/v1/sessions/{id}/end"), who, json!({})).await
    }

    /// A request for access by `agent` (a personal token), under ticket
    /// 48192 with [`REASON`] unless told otherwise.
    pub fn request(&self, agent: &str) -> RequestBuilder<'_> {
        RequestBuilder {
            api: self,
            agent: agent.to_string(),
            ticket: "48192".into(),
            reason: REASON.into(),
            actions: Vec::new(),
            minutes: None,
        }
    }

    /// A live session of `agent`: asked for, approved when the policy does
    /// not approve it by itself, and started.
    pub fn session(&self, agent: &str) -> SessionBuilder<'_> {
        SessionBuilder { request: self.request(agent), approver: self.approver.clone(), app: None }
    }

    /// A ticket, recorded the way a ticket system does, through
    /// [`actas_client::Client::create_ticket`]: on account `acct_42`
    /// unless told otherwise.
    pub fn ticket(&self, reference: &str) -> TicketBuilder<'_> {
        TicketBuilder {
            api: self,
            by: self.tickets_key.clone(),
            ticket: actas_api::NewTicket {
                reference: reference.to_string(),
                account_id: "acct_42".into(),
                account_name: None,
                subject: "Tax settings broken after plan change".into(),
                url: None,
                ..Default::default()
            },
        }
    }

    /// Every audit event matching `query` (e.g. `session=ID`, or empty),
    /// oldest first, following `next_cursor`, read with `bearer`.
    pub async fn audit(&self, bearer: &str, query: &str) -> Vec<Value> {
        self.audit_pages(bearer, query, None).await
    }

    /// Every audit event after `seq`, oldest first.
    pub async fn audit_after(&self, bearer: &str, seq: i64) -> Vec<Value> {
        self.audit_pages(bearer, "", Some(seq.to_string())).await
    }

    async fn audit_pages(&self, bearer: &str, query: &str, mut cursor: Option<String>) -> Vec<Value> {
        let mut out = Vec::new();
        loop {
            let mut path = format!("/api/v1/audit?limit=1000&{query}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let (s, v) = self.get(&path, bearer).await;
            assert_eq!(s, StatusCode::OK, "{v}");
            out.extend(v["events"].as_array().expect("an events array").iter().cloned());
            match v["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return out,
            }
        }
    }

    /// `GET /api/v1/audit/verify` as `bearer`; the answer must be 200.
    pub async fn verify_as(&self, bearer: &str) -> Value {
        let (s, v) = self.get("/api/v1/audit/verify", bearer).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v
    }

    /// `GET /healthz`: its status and body; `None` when nothing answered.
    pub async fn health(&self) -> Option<(StatusCode, Value)> {
        let r = self.http.get(self.url("/healthz")).send().await.ok()?;
        let status = r.status();
        Some((status, r.json::<Value>().await.unwrap_or(Value::Null)))
    }

    /// The key ids `/.well-known/jwks.json` lists.
    pub async fn jwks_kids(&self) -> Vec<String> {
        let (s, jwks) = self.send(Method::GET, "/.well-known/jwks.json", None, None).await;
        assert_eq!(s, StatusCode::OK, "{jwks}");
        jwks["keys"]
            .as_array()
            .expect("a keys array")
            .iter()
            .filter_map(|k| k["kid"].as_str().map(str::to_string))
            .collect()
    }
}

/// A request for access being put together; [`RequestBuilder::send`] asks.
#[derive(Debug)]
#[must_use = "a request is asked for only by send()"]
pub struct RequestBuilder<'a> {
    api: &'a Api,
    agent: String,
    ticket: String,
    reason: String,
    actions: Vec<String>,
    minutes: Option<u32>,
}

impl RequestBuilder<'_> {
    /// Under this ticket.
    pub fn ticket(mut self, reference: &str) -> Self {
        self.ticket = reference.to_string();
        self
    }

    /// With this reason.
    pub fn reason(mut self, reason: &str) -> Self {
        self.reason = reason.to_string();
        self
    }

    /// For these actions.
    pub fn actions(mut self, actions: &[&str]) -> Self {
        self.actions = actions.iter().map(|a| a.to_string()).collect();
        self
    }

    /// For this many minutes (the policy's default when not said).
    pub fn minutes(mut self, minutes: u32) -> Self {
        self.minutes = Some(minutes);
        self
    }

    /// `POST /api/v1/requests`; the answer must be 201.
    pub async fn send(self) -> Requested {
        let mut body = json!({"ticket": self.ticket, "reason": self.reason, "actions": self.actions});
        if let Some(m) = self.minutes {
            body["minutes"] = json!(m);
        }
        let (s, answer) = self.api.post("/api/v1/requests", &self.agent, body).await;
        assert_eq!(s, StatusCode::CREATED, "{answer}");
        let id = answer["id"].as_str().expect("a request id").to_string();
        Requested { id, answer }
    }
}

/// A request that was asked for: its id, and the answer (`r["status"]`).
#[derive(Debug, Clone)]
pub struct Requested {
    /// `req_...`.
    pub id: String,
    /// The request as `POST /api/v1/requests` answered it.
    pub answer: Value,
}

impl std::ops::Index<&str> for Requested {
    type Output = Value;
    fn index(&self, field: &str) -> &Value {
        &self.answer[field]
    }
}

/// A session being put together; [`SessionBuilder::start`] asks, gets it
/// approved when needed and starts it.
#[derive(Debug)]
#[must_use = "a session is started only by start()"]
pub struct SessionBuilder<'a> {
    request: RequestBuilder<'a>,
    approver: Option<String>,
    app: Option<String>,
}

impl SessionBuilder<'_> {
    /// For these actions.
    pub fn actions(mut self, actions: &[&str]) -> Self {
        self.request = self.request.actions(actions);
        self
    }

    /// For this many minutes.
    pub fn minutes(mut self, minutes: u32) -> Self {
        self.request = self.request.minutes(minutes);
        self
    }

    /// Under this ticket.
    pub fn ticket(mut self, reference: &str) -> Self {
        self.request = self.request.ticket(reference);
        self
    }

    /// With this reason.
    pub fn reason(mut self, reason: &str) -> Self {
        self.request = self.request.reason(reason);
        self
    }

    /// Approved by this lead (a personal token) when it needs approval.
    pub fn approved_by(mut self, lead: &str) -> Self {
        self.approver = Some(lead.to_string());
        self
    }

    /// For this host app (its name or id), when there are several.
    pub fn app(mut self, app: &str) -> Self {
        self.app = Some(app.to_string());
        self
    }

    /// Asks, approves when needed, starts; each step must succeed.
    pub async fn start(self) -> LiveSession {
        let api = self.request.api;
        let agent = self.request.agent.clone();
        let request = self.request.send().await;
        if request["status"] == "pending" {
            let lead = self
                .approver
                .as_deref()
                .unwrap_or_else(|| panic!("{} needs a lead's approval: name one with approved_by()", request.answer));
            let (s, v) = api.approve(lead, &request.id, json!({})).await;
            assert_eq!(s, StatusCode::OK, "{v}");
        }
        let body = match &self.app {
            Some(app) => json!({ "app": app }),
            None => json!({}),
        };
        let (s, started) = api.post(&format!("/api/v1/requests/{}/start", request.id), &agent, body).await;
        assert_eq!(s, StatusCode::CREATED, "{started}");
        LiveSession {
            id: started["session"]["id"].as_str().expect("a session id").to_string(),
            token: started["token"].as_str().expect("a token").to_string(),
            request,
            started,
        }
    }
}

/// A started session.
#[derive(Debug, Clone)]
pub struct LiveSession {
    /// `ses_...`.
    pub id: String,
    /// The impersonation token for the host app.
    pub token: String,
    /// The request it was started from, as asked.
    pub request: Requested,
    /// The answer of `POST /requests/{id}/start`.
    pub started: Value,
}

/// A ticket being put together; [`TicketBuilder::create`] records it.
#[derive(Debug)]
#[must_use = "a ticket is recorded only by create()"]
pub struct TicketBuilder<'a> {
    api: &'a Api,
    by: Option<String>,
    ticket: actas_api::NewTicket,
}

impl TicketBuilder<'_> {
    /// On this account.
    pub fn account(mut self, id: &str) -> Self {
        self.ticket.account_id = id.to_string();
        self
    }

    /// The account's display name.
    pub fn account_name(mut self, name: &str) -> Self {
        self.ticket.account_name = Some(name.to_string());
        self
    }

    /// Its subject line.
    pub fn subject(mut self, subject: &str) -> Self {
        self.ticket.subject = subject.to_string();
        self
    }

    /// Assigned to this staff login or e-mail address, as a ticket system
    /// names them (`""`: to nobody).
    pub fn assignee(mut self, who: &str) -> Self {
        self.ticket.assignee = Some(who.to_string());
        self
    }

    /// Recorded with this app key.
    pub fn by(mut self, key: &str) -> Self {
        self.by = Some(key.to_string());
        self
    }

    /// Records it; it must be accepted.
    pub async fn create(self) -> actas_api::Ticket {
        let key = self.by.as_deref().expect("who records the ticket: name an app key with by()");
        self.api
            .client_for(key)
            .create_ticket(&self.ticket)
            .await
            .unwrap_or_else(|e| panic!("ticket {}: {e}", self.ticket.reference))
    }
}

/// Waits until every node (one client each) refuses `action` with `token`,
/// and fails the test unless all of them do within `within` of the call: a
/// session ended on one node is refused on all (SPEC §3.7).
pub async fn refused_everywhere(
    nodes: &[&actas_client::Client],
    token: &str,
    action: &str,
    within: std::time::Duration,
) {
    let started = std::time::Instant::now();
    for client in nodes {
        super::wait_until(within, "the session refused", || async move {
            client.authorize(token, action).await.is_ok_and(|a| !a.allowed)
        })
        .await;
    }
    assert!(started.elapsed() < within, "refused everywhere only after {:?}", started.elapsed());
}
