//! An axum/tower layer that gives handlers the impersonation context.
//!
//! The layer reads the impersonation token from the request (a header or a
//! cookie, your choice), verifies it offline, and hands handlers the
//! context ([`Acting`], [`MaybeActing`]). Requests without a token pass
//! through untouched: they are the customer's own.
//!
//! With [`SupportRoutes`] (cookie tokens), the layer also owns the way in
//! and out, so that neither can be blocked by a stale cookie:
//!
//! - **enter** (`/support/enter?code=...`): exchanges the one-time entry
//!   code the staff console handed the browser for the session's token
//!   (with the app key), sets the cookie (replacing any older session's)
//!   and redirects to the landing page. The token never travels in a URL.
//! - **leave** (`/support/leave`): drops the cookie and shows the end page.
//! - **ended** (`/support/ended`): the host app's own page that says the
//!   session ended and why ([`EndedPage`] reads its query); the layer
//!   never checks a token there.
//! - Any other request whose session ended, or whose token is refused,
//!   drops the cookie and is redirected to the end page, so the customer's
//!   own pages stay reachable and the agent is never left at a bare error.
//!
//! ```no_run
//! # async fn run() {
//! use std::sync::Arc;
//! use actas_client::layer::{Acting, Guard, ImpersonationLayer, SupportRoutes, TokenSource};
//! use actas_client::{Client, Verifier};
//! use axum::{routing::get, Router};
//!
//! let actas = Client::new("http://127.0.0.1:7878", "actas_app_...");
//! let guard = Arc::new(Guard::new(Verifier::new("http://127.0.0.1:7878", "app_123"), TokenSource::Cookie("actas_token".into())));
//! guard.clone().follow(&actas);
//! let app: Router = Router::new()
//!     .route("/settings", get(|Acting(who): Acting| async move { format!("Support ({}) is here", who.agent_name) }))
//!     .route("/support/ended", get(|| async { "The support session ended." }))
//!     .layer(ImpersonationLayer::new(guard).with_routes(SupportRoutes::new(actas)));
//! # }
//! ```

use std::collections::HashSet;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};

use axum::extract::{FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use cookie::{Cookie, SameSite};
use futures::StreamExt;
use serde::Deserialize;
use tower::{Layer, Service};

use crate::{Client, ClientError, Impersonation, TokenError, Verifier};

/// Where the host app carries the impersonation token.
#[derive(Debug, Clone)]
pub enum TokenSource {
    /// A request header, e.g. `x-actas-token`.
    Header(HeaderName),
    /// A cookie of this name.
    Cookie(String),
}

impl TokenSource {
    fn find(&self, parts: &Parts) -> Option<String> {
        match self {
            TokenSource::Header(h) => parts.headers.get(h).and_then(|v| v.to_str().ok()).map(str::to_string),
            TokenSource::Cookie(name) => parts
                .headers
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(Cookie::split_parse)
                .filter_map(Result::ok)
                .find(|c| c.name() == name)
                .map(|c| c.value().to_string()),
        }
        .filter(|t| !t.is_empty())
    }
}

/// Verifies tokens and remembers which sessions ended.
#[derive(Debug)]
pub struct Guard {
    verifier: Verifier,
    source: TokenSource,
    ended: RwLock<HashSet<String>>,
}

impl Guard {
    /// A guard reading tokens from `source`.
    ///
    /// ```
    /// use actas_client::layer::{Guard, TokenSource};
    /// let g = Guard::new(actas_client::Verifier::new("http://127.0.0.1:7878", "app_1"), TokenSource::Cookie("actas_token".into()));
    /// ```
    pub fn new(verifier: Verifier, source: TokenSource) -> Guard {
        Guard { verifier, source, ended: RwLock::default() }
    }

    /// The verifier, to check a token when it is first handed over.
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// Records that a session ended (e.g. `authorize` answered `session_*`).
    ///
    /// ```
    /// # use actas_client::layer::{Guard, TokenSource};
    /// # let g = Guard::new(actas_client::Verifier::new("http://x", "a"), TokenSource::Cookie("t".into()));
    /// g.mark_ended("ses_1");
    /// assert!(g.has_ended("ses_1"));
    /// ```
    pub fn mark_ended(&self, session_id: &str) {
        self.ended.write().unwrap_or_else(|e| e.into_inner()).insert(session_id.to_string());
    }

    /// Whether a session is known to have ended.
    ///
    /// ```
    /// # use actas_client::layer::{Guard, TokenSource};
    /// # let g = Guard::new(actas_client::Verifier::new("http://x", "a"), TokenSource::Cookie("t".into()));
    /// assert!(!g.has_ended("ses_2"));
    /// ```
    pub fn has_ended(&self, session_id: &str) -> bool {
        self.ended.read().unwrap_or_else(|e| e.into_inner()).contains(session_id)
    }

    /// Follows the session feed in the background and records every end.
    ///
    /// ```no_run
    /// # async fn run(g: std::sync::Arc<actas_client::layer::Guard>, c: actas_client::Client) {
    /// g.follow(&c);
    /// # }
    /// ```
    pub fn follow(self: Arc<Self>, client: &Client) -> tokio::task::JoinHandle<()> {
        let mut feed = client.follow();
        tokio::spawn(async move {
            while let Some(change) = feed.next().await {
                if change.session.state == actas_api::SessionState::Ended {
                    self.mark_ended(change.session.id.as_str());
                }
            }
        })
    }

    /// Checks a request: `Ok(None)` without a token, the context with a
    /// valid token of a live session, `Err` otherwise.
    pub async fn check(&self, parts: &Parts) -> Result<Option<Impersonation>, Refusal> {
        let Some(token) = self.source.find(parts) else { return Ok(None) };
        let who = self.verifier.verify(&token).await.map_err(|e| Refusal::Token(e, unverified_session(&token)))?;
        if self.has_ended(&who.session_id) {
            return Err(Refusal::Ended(who.session_id));
        }
        Ok(Some(who))
    }
}

/// Reads `sid` from a token without checking it. Used only to name the
/// session on the end page, whose handler asks actas about it with the
/// app key (and so learns nothing about another app's sessions).
fn unverified_session(token: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Sid {
        sid: String,
    }
    let payload = token.split('.').nth(1)?;
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).ok()?;
    let sid = serde_json::from_slice::<Sid>(&bytes).ok()?.sid;
    let plain = !sid.is_empty() && sid.len() <= 100 && sid.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    plain.then_some(sid)
}

/// Why the layer refused a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The token was refused; the session it names, if it is readable.
    Token(TokenError, Option<String>),
    /// This session has ended.
    Ended(String),
}

impl Refusal {
    fn session(&self) -> Option<&str> {
        match self {
            Refusal::Token(_, sid) => sid.as_deref(),
            Refusal::Ended(sid) => Some(sid),
        }
    }
}

impl IntoResponse for Refusal {
    /// A plain HTML page (401) for layers without [`SupportRoutes`].
    fn into_response(self) -> Response {
        let detail = match &self {
            Refusal::Token(TokenError::Expired, _) | Refusal::Ended(_) => "The support session has ended.".to_string(),
            Refusal::Token(e, _) => format!("The support session token was refused ({e})."),
        };
        let body = format!(
            "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>Support session ended</title><h1>Support session ended</h1><p>{detail}</p>\
             <p>Open the customer's account again from the staff console.</p></html>"
        );
        (StatusCode::UNAUTHORIZED, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
    }
}

type Landing = Arc<dyn Fn(&Impersonation) -> String + Send + Sync>;

/// The way in and out of a support session, handled by the layer itself
/// (cookie tokens only); see the module docs.
#[derive(Clone)]
pub struct SupportRoutes {
    client: Client,
    enter: String,
    leave: String,
    ended: String,
    landing: Landing,
    secure: bool,
}

impl fmt::Debug for SupportRoutes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SupportRoutes")
            .field("enter", &self.enter)
            .field("leave", &self.leave)
            .field("ended", &self.ended)
            .field("secure", &self.secure)
            .finish_non_exhaustive()
    }
}

impl SupportRoutes {
    /// `/support/enter`, `/support/leave` and `/support/ended`, landing on
    /// `/`, with a cookie that is not marked `Secure` (call
    /// [`SupportRoutes::secure`] when the host app is served over HTTPS).
    ///
    /// ```
    /// use actas_client::layer::SupportRoutes;
    /// let routes = SupportRoutes::new(actas_client::Client::new("http://127.0.0.1:7878", "actas_app_..."))
    ///     .landing(|who| format!("/accounts/{}", who.account_id))
    ///     .secure(true);
    /// ```
    pub fn new(client: Client) -> SupportRoutes {
        SupportRoutes {
            client,
            enter: "/support/enter".into(),
            leave: "/support/leave".into(),
            ended: "/support/ended".into(),
            landing: Arc::new(|_| "/".to_string()),
            secure: false,
        }
    }

    /// The path that takes `?code=` (the app's entry address at actas).
    pub fn enter_at(mut self, path: impl Into<String>) -> SupportRoutes {
        self.enter = path.into();
        self
    }

    /// The path that drops the support cookie.
    pub fn leave_at(mut self, path: impl Into<String>) -> SupportRoutes {
        self.leave = path.into();
        self
    }

    /// The host app's page that says a session ended (see [`EndedPage`]).
    pub fn ended_at(mut self, path: impl Into<String>) -> SupportRoutes {
        self.ended = path.into();
        self
    }

    /// Where an agent lands after entering.
    pub fn landing(mut self, f: impl Fn(&Impersonation) -> String + Send + Sync + 'static) -> SupportRoutes {
        self.landing = Arc::new(f);
        self
    }

    /// Marks the cookie `Secure` (HTTPS only).
    pub fn secure(mut self, yes: bool) -> SupportRoutes {
        self.secure = yes;
        self
    }

    fn cookie(&self, name: &str, value: &str, max_age: i64) -> HeaderValue {
        let c = Cookie::build((name, value))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .max_age(cookie::time::Duration::seconds(max_age))
            .secure(self.secure)
            .build();
        HeaderValue::from_str(&c.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    fn ended_url(&self, page: &EndedPage) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        if let Some(s) = &page.session {
            q.append_pair("session", s);
        }
        if let Some(r) = &page.refused {
            q.append_pair("refused", r);
        }
        if page.left {
            q.append_pair("left", "1");
        }
        match q.finish() {
            q if q.is_empty() => self.ended.clone(),
            q => format!("{}?{q}", self.ended),
        }
    }

    /// A redirect that also drops the cookie.
    fn away(&self, cookie: &str, to: &str) -> Response {
        let mut res = Redirect::to(to).into_response();
        res.headers_mut().append(header::SET_COOKIE, self.cookie(cookie, "", 0));
        res
    }

    async fn enter(&self, guard: &Guard, cookie: &str, parts: &Parts) -> Response {
        #[derive(Deserialize)]
        struct Enter {
            code: Option<String>,
        }
        let code = Query::<Enter>::try_from_uri(&parts.uri).ok().and_then(|q| q.0.code).unwrap_or_default();
        let refused = |slug: &str| {
            self.away(cookie, &self.ended_url(&EndedPage { refused: Some(slug.to_string()), ..EndedPage::default() }))
        };
        if code.trim().is_empty() {
            return refused("entry-code-missing");
        }
        let started = match self.client.enter(code.trim()).await {
            Ok(s) => s,
            Err(ClientError::Api(p)) => {
                let slug = p.kind.rsplit(':').next().unwrap_or("entry-refused").to_string();
                let known =
                    ["entry-code-unknown", "entry-code-used", "entry-code-expired", "session-ended", "wrong-app"];
                return refused(if known.contains(&slug.as_str()) { &slug } else { "entry-refused" });
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot exchange an entry code");
                return refused("unavailable");
            }
        };
        let who = match guard.verifier().verify(started.token.expose()).await {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "actas answered an entry code with a token this app refuses");
                return refused("entry-refused");
            }
        };
        let now = chrono_free_now();
        let max_age = (who.expires_at - now).max(1);
        let mut res = Redirect::to(&(self.landing)(&who)).into_response();
        res.headers_mut().append(header::SET_COOKIE, self.cookie(cookie, started.token.expose(), max_age));
        res
    }
}

#[allow(clippy::disallowed_methods)] // the host app's clock: only a cookie lifetime
fn chrono_free_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// The query of the end page the layer redirects to: which session ended
/// (ask actas about it with [`Client::session`]), or why an entry code was
/// refused, or that the agent left.
///
/// ```
/// use actas_client::layer::EndedPage;
/// let page: EndedPage = serde_json::from_str(r#"{"session":"ses_1"}"#).unwrap();
/// assert_eq!(page.session.as_deref(), Some("ses_1"));
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
pub struct EndedPage {
    /// The session, when one was named.
    #[serde(default)]
    pub session: Option<String>,
    /// Why entering was refused: `entry-code-used`, `entry-code-expired`,
    /// `entry-code-unknown`, `entry-code-missing`, `session-ended`,
    /// `wrong-app`, `entry-refused` or `unavailable`.
    #[serde(default)]
    pub refused: Option<String>,
    /// The agent left the account (the session may still be live).
    #[serde(default, deserialize_with = "flag")]
    pub left: bool,
}

fn flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let v: Option<String> = Option::deserialize(d)?;
    Ok(matches!(v.as_deref(), Some("1" | "true" | "yes")))
}

impl EndedPage {
    /// Plain words for why an entry was refused.
    ///
    /// ```
    /// use actas_client::layer::EndedPage;
    /// assert!(EndedPage::refusal_words("entry-code-used").contains("used"));
    /// ```
    pub fn refusal_words(slug: &str) -> &'static str {
        match slug {
            "entry-code-used" => "This entry link was used already: each link works once.",
            "entry-code-expired" => "This entry link has expired: links work for two minutes.",
            "entry-code-unknown" => "This entry link is not known, or a newer one replaced it.",
            "entry-code-missing" => "This entry link has no code.",
            "session-ended" => "The support session has ended.",
            "wrong-app" => "This entry link is for another app.",
            "unavailable" => "actas could not be reached to check this entry link.",
            _ => "actas refused this entry link.",
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for EndedPage {
    type Rejection = Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        let mut page = Query::<EndedPage>::try_from_uri(&parts.uri).map(|q| q.0).unwrap_or_default();
        // Only ids of the shape actas issues reach the handler.
        page.session = page
            .session
            .filter(|s| !s.is_empty() && s.len() <= 100 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        page.refused = page.refused.filter(|r| r.len() <= 40 && r.chars().all(|c| c.is_ascii_lowercase() || c == '-'));
        Ok(page)
    }
}

/// The layer; see the module docs.
#[derive(Debug, Clone)]
pub struct ImpersonationLayer {
    guard: Arc<Guard>,
    routes: Option<Arc<SupportRoutes>>,
}

impl ImpersonationLayer {
    /// A layer checking requests with `guard`.
    pub fn new(guard: Arc<Guard>) -> ImpersonationLayer {
        ImpersonationLayer { guard, routes: None }
    }

    /// Lets the layer handle entering, leaving and ended sessions (cookie
    /// tokens only; with a header source the routes are ignored).
    pub fn with_routes(mut self, routes: SupportRoutes) -> ImpersonationLayer {
        self.routes = Some(Arc::new(routes));
        self
    }
}

impl<S> Layer<S> for ImpersonationLayer {
    type Service = ImpersonationService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        ImpersonationService { inner, guard: self.guard.clone(), routes: self.routes.clone() }
    }
}

/// The service made by [`ImpersonationLayer`].
#[derive(Debug, Clone)]
pub struct ImpersonationService<S> {
    inner: S,
    guard: Arc<Guard>,
    routes: Option<Arc<SupportRoutes>>,
}

impl<S> Service<Request> for ImpersonationService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let guard = self.guard.clone();
        let routes = self.routes.clone();
        // The clone is the one that was polled ready; keep it for this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let (mut parts, body) = req.into_parts();
            let routes = match (&routes, &guard.source) {
                (Some(r), TokenSource::Cookie(name)) => Some((r.clone(), name.clone())),
                _ => None,
            };
            if let Some((routes, cookie)) = &routes {
                let path = parts.uri.path();
                if path == routes.enter && parts.method == Method::GET {
                    return Ok(routes.enter(&guard, cookie, &parts).await);
                }
                if path == routes.leave {
                    let session = guard.source.find(&parts).and_then(|t| unverified_session(&t));
                    let page = EndedPage { left: session.is_some(), session, refused: None };
                    return Ok(routes.away(cookie, &routes.ended_url(&page)));
                }
                if path == routes.ended {
                    parts.extensions.insert(MaybeActing(None));
                    return inner.call(Request::from_parts(parts, body)).await;
                }
            }
            match guard.check(&parts).await {
                Ok(who) => {
                    parts.extensions.insert(MaybeActing(who));
                    inner.call(Request::from_parts(parts, body)).await
                }
                Err(refusal) => Ok(match &routes {
                    Some((routes, cookie)) => {
                        let page = EndedPage { session: refusal.session().map(str::to_string), ..EndedPage::default() };
                        routes.away(cookie, &routes.ended_url(&page))
                    }
                    None => refusal.into_response(),
                }),
            }
        })
    }
}

/// The impersonation context when the request carries a valid token;
/// `None` for the customer's own requests.
#[derive(Debug, Clone)]
pub struct MaybeActing(pub Option<Impersonation>);

/// The impersonation context; the request is refused (401) without one.
#[derive(Debug, Clone)]
pub struct Acting(pub Impersonation);

impl<S: Send + Sync> FromRequestParts<S> for MaybeActing {
    type Rejection = Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(parts.extensions.get::<MaybeActing>().cloned().unwrap_or(MaybeActing(None)))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Acting {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        match parts.extensions.get::<MaybeActing>() {
            Some(MaybeActing(Some(who))) => Ok(Acting(who.clone())),
            _ => Err((StatusCode::UNAUTHORIZED, "This page is for a support session.").into_response()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_id_is_read_only_when_it_has_the_shape_actas_issues() {
        let enc = |v: &str| base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, v);
        let token = |sid: &str| format!("{}.{}.sig", enc("{}"), enc(&format!("{{\"sid\":{sid:?}}}")));
        assert_eq!(unverified_session(&token("ses_abc123")), Some("ses_abc123".into()));
        assert_eq!(unverified_session(&token("ses_1&refused=x")), None);
        assert_eq!(unverified_session(&token("")), None);
        assert_eq!(unverified_session("not a token"), None);
    }

    #[test]
    fn the_end_page_address_carries_only_what_was_set() {
        let r = SupportRoutes::new(Client::new("http://x", "k"));
        assert_eq!(r.ended_url(&EndedPage::default()), "/support/ended");
        let page = EndedPage { session: Some("ses_1".into()), refused: None, left: true };
        assert_eq!(r.ended_url(&page), "/support/ended?session=ses_1&left=1");
    }
}
