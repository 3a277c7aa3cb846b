//! An axum/tower layer that gives handlers the impersonation context.
//!
//! The layer reads the impersonation token from the request (a header or a
//! cookie, your choice), verifies it offline, and refuses the request when
//! the token is bad or its session has ended (learned from the session feed,
//! or told with [`Guard::mark_ended`]). Requests without a token pass
//! through untouched: they are the customer's own.
//!
//! ```no_run
//! # async fn run() {
//! use std::sync::Arc;
//! use actas_client::layer::{Acting, Guard, ImpersonationLayer, TokenSource};
//! use actas_client::{Client, Verifier};
//! use axum::{routing::get, Router};
//!
//! let actas = Client::new("http://127.0.0.1:7878", "actas_app_...");
//! let guard = Arc::new(Guard::new(Verifier::new("http://127.0.0.1:7878", "app_123"), TokenSource::Cookie("actas_token".into())));
//! guard.clone().follow(&actas);
//! let app: Router = Router::new()
//!     .route("/settings", get(|Acting(who): Acting| async move { format!("Support ({}) is here", who.agent_name) }))
//!     .layer(ImpersonationLayer::new(guard));
//! # }
//! ```

use std::collections::HashSet;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use tower::{Layer, Service};

use crate::{Client, Impersonation, TokenError, Verifier};

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
                .flat_map(|v| v.split(';'))
                .filter_map(|c| c.trim().split_once('='))
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.to_string()),
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
                if change.session.state == "ended" {
                    self.mark_ended(&change.session.id);
                }
            }
        })
    }

    /// Checks a request: `Ok(None)` without a token, the context with a
    /// valid token of a live session, `Err` otherwise.
    pub async fn check(&self, parts: &Parts) -> Result<Option<Impersonation>, Refusal> {
        let Some(token) = self.source.find(parts) else { return Ok(None) };
        let who = self.verifier.verify(&token).await.map_err(Refusal::Token)?;
        if self.has_ended(&who.session_id) {
            return Err(Refusal::Ended);
        }
        Ok(Some(who))
    }
}

/// Why the layer refused a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The token was refused.
    Token(TokenError),
    /// The session has ended.
    Ended,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let detail = match &self {
            Refusal::Token(TokenError::Expired) | Refusal::Ended => "The support session has ended.".to_string(),
            Refusal::Token(e) => format!("The support session token was refused: {e}."),
        };
        (StatusCode::UNAUTHORIZED, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], detail).into_response()
    }
}

/// The layer; see the module docs.
#[derive(Debug, Clone)]
pub struct ImpersonationLayer {
    guard: Arc<Guard>,
}

impl ImpersonationLayer {
    /// A layer checking requests with `guard`.
    pub fn new(guard: Arc<Guard>) -> ImpersonationLayer {
        ImpersonationLayer { guard }
    }
}

impl<S> Layer<S> for ImpersonationLayer {
    type Service = ImpersonationService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        ImpersonationService { inner, guard: self.guard.clone() }
    }
}

/// The service made by [`ImpersonationLayer`].
#[derive(Debug, Clone)]
pub struct ImpersonationService<S> {
    inner: S,
    guard: Arc<Guard>,
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
        // The clone is the one that was polled ready; keep it for this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let (mut parts, body) = req.into_parts();
            match guard.check(&parts).await {
                Ok(who) => {
                    parts.extensions.insert(MaybeActing(who));
                    inner.call(Request::from_parts(parts, body)).await
                }
                Err(refusal) => Ok(refusal.into_response()),
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
