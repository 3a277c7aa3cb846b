//! The host app's side of [actas](https://github.com/actas): what a SaaS
//! product adds so that support can act as a customer safely.
//!
//! - [`Verifier`] checks impersonation tokens offline against actas's JWKS
//!   (cached; refetched on an unknown key id, at most once per interval, so
//!   a flood of bad tokens cannot hammer actas).
//! - [`Client`] asks `authorize` before every change and every view of
//!   sensitive data, reads access logs and customer notes, and follows the
//!   session feed ([`Client::follow`]) with automatic reconnect and resume.
//!   A read is asked again after a failed connection, a cut answer or a
//!   502/503/504; a change (a POST) only when the connection failed before
//!   the request was sent, so actas never acts on one twice.
//! - [`layer::ImpersonationLayer`] gives an axum handler the
//!   [`Impersonation`] context and refuses requests whose session has ended.
//!
//! ```no_run
//! # async fn run() -> Result<(), actas_client::ClientError> {
//! use actas_client::{Client, Verifier};
//!
//! let actas = Client::new("https://actas.example.com", "actas_app_...");
//! let verifier = Verifier::new("https://actas.example.com", "app_123");
//! # let token = "";
//! let who = verifier.verify(token).await?;
//! let answer = actas.authorize(token, "invoice_email.update").await?;
//! if answer.allowed {
//!     // make the change, acting as `who.account_id` for `who.agent_name`
//! }
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod feed;
pub mod layer;
mod verify;

use std::time::Duration;

use percent_encoding::{utf8_percent_encode, AsciiSet, PercentEncode, NON_ALPHANUMERIC};

pub use actas_api as api;
pub use feed::Feed;
pub use verify::{Impersonation, TokenError, Verifier};

/// What can go wrong talking to actas.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// actas answered with a problem document.
    #[error("actas refused: {} ({})", .0.detail, .0.kind)]
    Api(api::Problem),
    /// actas could not be reached, or answered something unreadable.
    #[error("cannot reach actas: {0}")]
    Http(#[from] reqwest::Error),
    /// An impersonation token was refused.
    #[error("the impersonation token was refused: {0}")]
    Token(#[from] TokenError),
}

/// How many more times a call is sent after a failure that allows it.
const RETRIES: u32 = 2;

/// 100 ms, 200 ms, 400 ms, ... at most 2 s, the second half of each
/// drawn at random (the standard library's randomly keyed hasher) so that
/// many host apps do not retry in step.
fn backoff(attempt: u32) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let base = 100u64.saturating_mul(1 << attempt.min(5)).min(2000);
    let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
    Duration::from_millis(base / 2 + random % (base / 2 + 1))
}

/// Every byte but the unreserved ones (RFC 3986: letters, digits, `-._~`).
const RESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// `s` as one path segment: an id with `/`, `?`, `#` or `%` in it stays
/// one segment and reaches actas as it was given.
fn segment(s: &str) -> PercentEncode<'_> {
    utf8_percent_encode(s, RESERVED)
}

/// A client for the host-app calls of the actas API, holding the app key.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    app_key: String,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("base", &self.base).field("app_key", &"(secret)").finish()
    }
}

impl Client {
    /// A client for the actas at `base` (e.g. `https://actas.example.com`).
    ///
    /// ```
    /// let actas = actas_client::Client::new("http://127.0.0.1:7878", "actas_app_...");
    /// assert_eq!(actas.base(), "http://127.0.0.1:7878");
    /// ```
    pub fn new(base: impl Into<String>, app_key: impl Into<String>) -> Client {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap_or_default();
        Client { http, base: base.into().trim_end_matches('/').to_string(), app_key: app_key.into() }
    }

    /// A client that makes its calls with `http`: the host app's own
    /// reqwest client, e.g. one that trusts a company root certificate or
    /// goes through a proxy. Give it a timeout; [`Client::new`]'s is 10 s.
    ///
    /// ```
    /// # fn run(company_root_pem: &[u8]) -> Result<(), reqwest::Error> {
    /// let http = reqwest::Client::builder()
    ///     .add_root_certificate(reqwest::Certificate::from_pem(company_root_pem)?)
    ///     .timeout(std::time::Duration::from_secs(10))
    ///     .build()?;
    /// let actas = actas_client::Client::with_http("https://actas.internal", "actas_app_...", http);
    /// # Ok(()) }
    /// ```
    pub fn with_http(base: impl Into<String>, app_key: impl Into<String>, http: reqwest::Client) -> Client {
        Client { http, base: base.into().trim_end_matches('/').to_string(), app_key: app_key.into() }
    }

    /// The actas base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    async fn answer<T: serde::de::DeserializeOwned>(res: reqwest::Response) -> Result<T, ClientError> {
        if res.status().is_success() {
            return Ok(res.json().await?);
        }
        let status = res.status();
        let bytes = res.bytes().await?;
        Err(ClientError::Api(serde_json::from_slice(&bytes).unwrap_or_else(|_| api::Problem {
            kind: "about:blank".into(),
            title: status.canonical_reason().unwrap_or("error").into(),
            status: status.as_u16(),
            detail: String::from_utf8_lossy(&bytes).into_owned(),
            field: None,
            request_id: None,
        })))
    }

    /// A POST: sent again only when the connection failed before the
    /// request was written (actas cannot have acted on it), never after.
    async fn post<B: serde::Serialize, T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let url = self.url(path);
        self.call(|| self.http.post(&url).bearer_auth(&self.app_key).json(body), false).await
    }

    /// A GET: sent again after a failed connection, a cut answer or a
    /// 502/503/504 (a proxy or actas briefly unable to answer).
    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let url = self.url(path);
        self.call(|| self.http.get(&url).bearer_auth(&self.app_key), true).await
    }

    /// Sends the request `make` builds, at most [`RETRIES`] more times
    /// when a failure allows it (see [`Client::get`], [`Client::post`]),
    /// waiting a little longer each time.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        make: impl Fn() -> reqwest::RequestBuilder,
        idempotent: bool,
    ) -> Result<T, ClientError> {
        let mut attempt = 0;
        loop {
            let last = attempt >= RETRIES;
            match make().send().await {
                Err(e) if !last && (idempotent || e.is_connect()) => {
                    tracing::debug!(error = %e, "actas call failed; sending it again")
                }
                Err(e) => return Err(e.into()),
                Ok(res) if !last && idempotent && matches!(res.status().as_u16(), 502..=504) => {
                    tracing::debug!(status = %res.status(), "actas could not answer; asking again");
                }
                Ok(res) => match Self::answer(res).await {
                    Err(ClientError::Http(e)) if !last && idempotent => {
                        tracing::debug!(error = %e, "actas's answer was cut; asking again");
                    }
                    answer => return answer,
                },
            }
            tokio::time::sleep(backoff(attempt)).await;
            attempt += 1;
        }
    }

    /// Asks whether the agent holding `token` may do `action` now.
    ///
    /// A refusal is `Ok` with `allowed: false` and a reason code; an `Err`
    /// means no answer (treat it as no).
    ///
    /// ```no_run
    /// # async fn run(actas: actas_client::Client, token: &str) -> Result<(), actas_client::ClientError> {
    /// let answer = actas.authorize(token, "settings.update").await?;
    /// if !answer.allowed {
    ///     println!("refused: {}", answer.reason);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn authorize(&self, token: &str, action: &str) -> Result<api::AuthorizeResponse, ClientError> {
        self.authorize_with(&api::AuthorizeRequest {
            token: token.into(),
            action: action.into(),
            target: None,
            changes: None,
        })
        .await
    }

    /// [`Client::authorize`] with a target and the changes, which the audit
    /// trail records (values of redacted actions are never stored).
    ///
    /// ```no_run
    /// # async fn run(actas: actas_client::Client, token: &str) -> Result<(), actas_client::ClientError> {
    /// use actas_client::api::{AuthorizeRequest, Change, Target};
    /// let answer = actas
    ///     .authorize_with(&AuthorizeRequest {
    ///         token: token.into(),
    ///         action: "invoice_email.update".into(),
    ///         target: Some(Target { account_id: Some("acct_42".into()), ..Default::default() }),
    ///         changes: Some(vec![Change { field: "invoice_email".into(), old: Some("a@x.test".into()), new: Some("b@x.test".into()) }]),
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn authorize_with(&self, req: &api::AuthorizeRequest) -> Result<api::AuthorizeResponse, ClientError> {
        self.post("/authorize", req).await
    }

    /// A session's state.
    ///
    /// ```no_run
    /// # async fn run(actas: actas_client::Client) -> Result<(), actas_client::ClientError> {
    /// let s = actas.session("ses_...").await?;
    /// println!("{} until {}", s.agent_name, s.ends_at);
    /// # Ok(()) }
    /// ```
    pub async fn session(&self, id: &str) -> Result<api::Session, ClientError> {
        self.get(&format!("/sessions/{}", segment(id))).await
    }

    /// Records the customer's grant (SPEC §10, customer consent): support
    /// may access `account_id` for `hours` (1 to 720). What a host app's
    /// "Allow support to access my account" does; needed before any
    /// support session when the app was registered with `--consent
    /// required` or the account asks for it ([`Client::require_consent`]).
    pub async fn grant_access(
        &self,
        account_id: &str,
        hours: u32,
        granted_by: &str,
    ) -> Result<api::Grant, ClientError> {
        let body = api::NewGrant { hours, granted_by: granted_by.to_string() };
        self.post(&format!("/accounts/{}/grants", segment(account_id)), &body).await
    }

    /// The customer's kill switch: withdraws every live grant of
    /// `account_id`; every live support session on it ends at once, on
    /// every node (`customer_revoked`). Works whether or not the account
    /// needs a grant. `revoked_by` names who withdrew it.
    pub async fn withdraw_access(
        &self,
        account_id: &str,
        revoked_by: Option<&str>,
    ) -> Result<api::Consent, ClientError> {
        let mut url = self.url(&format!("/accounts/{}/grants", segment(account_id)));
        if let Some(by) = revoked_by {
            url.push_str("?revoked_by=");
            url.push_str(&segment(by).to_string());
        }
        self.call(|| self.http.delete(&url).bearer_auth(&self.app_key), false).await
    }

    /// Whether `account_id` needs its customer's grant, the live one and
    /// the latest ones.
    pub async fn consent(&self, account_id: &str) -> Result<api::Consent, ClientError> {
        self.get(&format!("/accounts/{}/grants", segment(account_id))).await
    }

    /// Makes one account ask for its customer's grant before any support
    /// session (`required`), or stop asking (unless its app asks it of
    /// every account).
    pub async fn require_consent(
        &self,
        account_id: &str,
        required: bool,
        set_by: &str,
    ) -> Result<api::Consent, ClientError> {
        let url = self.url(&format!("/accounts/{}/consent", segment(account_id)));
        let body = api::AccountConsent { required, set_by: set_by.to_string() };
        self.call(|| self.http.put(&url).bearer_auth(&self.app_key).json(&body), false).await
    }

    /// Asks a lead for one change the session's scope lacks (a step-up, SPEC
    /// §10), in the agent's name, with the session's impersonation `token`:
    /// what an "Ask a lead for this one change" button does after
    /// [`Client::authorize`] answered `not_in_scope`. Name the same action,
    /// target and changes the refused call named: once a lead approves,
    /// exactly that call is allowed, once, within 5 minutes; the session's
    /// scope never grows. The answer is the request (`kind = "stepup"`); the
    /// session ([`Client::session`], and the banner) shows its decision. A
    /// vague reason, an action the policy forbids or a view is refused with
    /// a problem (`reason-vague`, `forbidden-action`, `not-a-change`, ...).
    ///
    /// ```no_run
    /// # async fn run(actas: actas_client::Client, token: &str) -> Result<(), actas_client::ClientError> {
    /// use actas_client::api::{Change, NewStepUp};
    /// let ask = NewStepUp {
    ///     action: "billing.update".into(),
    ///     changes: Some(vec![Change { field: "plan".into(), old: Some("Pro".into()), new: Some("Basic".into()) }]),
    ///     reason: "Customer asked to move from Pro to Basic before the renewal".into(),
    ///     ..Default::default()
    /// };
    /// let asked = actas.ask_stepup(token, "ses_...", &ask).await?;
    /// println!("{} is {}", asked.id, asked.status.as_str());
    /// # Ok(()) }
    /// ```
    pub async fn ask_stepup(
        &self,
        token: &str,
        session_id: &str,
        ask: &api::NewStepUp,
    ) -> Result<api::Request, ClientError> {
        let url = self.url(&format!("/sessions/{}/stepup", segment(session_id)));
        self.call(|| self.http.post(&url).bearer_auth(token).json(ask), false).await
    }

    /// Exchanges a one-time entry code (brought by the agent's browser from
    /// the staff console) for the session and its token. A code works
    /// once, for a short time; a used, expired or replaced code is refused
    /// with a problem (`entry-code-used`, `entry-code-expired`,
    /// `entry-code-unknown`). [`layer::SupportRoutes`] does this for you.
    ///
    /// ```no_run
    /// # async fn run(actas: actas_client::Client) -> Result<(), actas_client::ClientError> {
    /// let started = actas.enter("actas_entry_...").await?;
    /// println!("{} enters {}", started.session.agent_name, started.session.account_id);
    /// # Ok(()) }
    /// ```
    pub async fn enter(&self, code: &str) -> Result<api::Started, ClientError> {
        self.post("/entry", &api::EntryExchange { code: code.into() }).await
    }

    /// Records a ticket (the app needs the `tickets` permission).
    ///
    /// ```no_run
    /// # async fn run(actas: actas_client::Client) -> Result<(), actas_client::ClientError> {
    /// use actas_client::api::NewTicket;
    /// actas.create_ticket(&NewTicket { reference: "48192".into(), account_id: "acct_42".into(), account_name: Some("Acme Corp".into()), subject: "Tax settings".into(), url: None, ..Default::default() }).await?;
    /// # Ok(()) }
    /// ```
    pub async fn create_ticket(&self, t: &api::NewTicket) -> Result<api::Ticket, ClientError> {
        self.post("/tickets", t).await
    }

    /// Who from support entered an account, why, and what they changed.
    ///
    /// ```no_run
    /// # async fn run(actas: actas_client::Client) -> Result<(), actas_client::ClientError> {
    /// for e in actas.access_log("acct_42").await?.entries {
    ///     println!("{} under ticket {}: {}", e.agent_name, e.ticket, e.reason);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn access_log(&self, account_id: &str) -> Result<api::AccessLog, ClientError> {
        self.get(&format!("/accounts/{}/access-log", segment(account_id))).await
    }

    /// Customer notes of ended sessions after `after` (a notice `seq`).
    ///
    /// ```no_run
    /// # async fn run(actas: actas_client::Client) -> Result<(), actas_client::ClientError> {
    /// for n in actas.notices(0).await? {
    ///     // deliver n.text to the customer of n.account_id, then:
    ///     actas.notice_delivered(&n.id).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn notices(&self, after: i64) -> Result<Vec<api::Notice>, ClientError> {
        let list: api::NoticeList = self.get(&format!("/notices?after={after}")).await?;
        Ok(list.notices)
    }

    /// Tells actas a note was delivered (`customer.notified`).
    ///
    /// ```no_run
    /// # async fn run(actas: actas_client::Client) -> Result<(), actas_client::ClientError> {
    /// # let notice: actas_client::api::Notice = todo!();
    /// actas.notice_delivered(&notice.id).await?;
    /// # Ok(()) }
    /// ```
    pub async fn notice_delivered(&self, id: &api::NoticeId) -> Result<api::Notice, ClientError> {
        self.post(&format!("/notices/{}/delivered", segment(id.as_str())), &serde_json::json!({})).await
    }

    /// Follows `GET /sessions/feed`: every session change, reconnecting
    /// after failures and resuming where it left off.
    ///
    /// ```no_run
    /// # async fn run(actas: actas_client::Client) {
    /// use futures::StreamExt;
    /// let mut feed = actas.follow();
    /// while let Some(change) = feed.next().await {
    ///     println!("{} {}", change.kind, change.session.id);
    /// }
    /// # }
    /// ```
    pub fn follow(&self) -> Feed {
        Feed::start(self.http.clone(), self.url("/sessions/feed"), self.app_key.clone(), None)
    }

    /// [`Client::follow`], starting after the change with seq `after`.
    ///
    /// ```no_run
    /// # fn run(actas: actas_client::Client) {
    /// let feed = actas.follow_after(1234);
    /// # }
    /// ```
    pub fn follow_after(&self, after: i64) -> Feed {
        Feed::start(self.http.clone(), self.url("/sessions/feed"), self.app_key.clone(), Some(after))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_id_stays_one_path_segment() {
        assert_eq!(super::segment("ses_1-a.b~c").to_string(), "ses_1-a.b~c");
        assert_eq!(super::segment("acct/42?x#y %é").to_string(), "acct%2F42%3Fx%23y%20%25%C3%A9");
    }
}
