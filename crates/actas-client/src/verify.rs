//! Offline verification of impersonation tokens.

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use actas_api::token::Claims;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a compact JWS, or without the claims actas puts in.
    #[error("malformed token")]
    Malformed,
    /// Not EdDSA (`alg: none` included).
    #[error("unsupported algorithm")]
    UnsupportedAlgorithm,
    /// Signed with a key actas does not publish.
    #[error("unknown signing key")]
    UnknownKey,
    /// The signature does not match.
    #[error("bad signature")]
    BadSignature,
    /// Past its `exp` (the session's end).
    #[error("expired")]
    Expired,
    /// Issued for another app.
    #[error("issued for another app")]
    WrongAudience,
    /// Issued by another actas.
    #[error("issued by another actas")]
    WrongIssuer,
    /// The keys could not be fetched.
    #[error("cannot fetch the signing keys: {0}")]
    Unavailable(String),
}

/// The impersonation context of a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Impersonation {
    /// The customer account the agent acts as (`sub`).
    pub account_id: String,
    /// The agent's staff login (`act.sub`).
    pub agent: String,
    /// The agent's display name (`act.name`). Show it as text, never HTML.
    pub agent_name: String,
    /// The session id (`sid`).
    pub session_id: String,
    /// Granted action names (`scope`).
    pub scope: Vec<String>,
    /// The ticket reference.
    pub ticket: String,
    /// Expiry, seconds since the epoch (the session's end).
    pub expires_at: i64,
    /// The token itself, to pass on to [`crate::Client::authorize`].
    pub token: actas_api::Secret,
}

impl Impersonation {
    /// Whether the token grants `action`. The answer that counts is
    /// `authorize`'s: scope can grow mid-session and a session can end.
    pub fn grants(&self, action: &str) -> bool {
        self.scope.iter().any(|a| a == action)
    }
}

#[derive(Deserialize)]
struct Jwk {
    kid: String,
    x: String,
    #[serde(default)]
    crv: String,
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

/// Checks impersonation tokens offline against actas's published keys.
pub struct Verifier {
    http: reqwest::Client,
    jwks_url: String,
    issuer: String,
    audience: String,
    keys: RwLock<HashMap<String, DecodingKey>>,
    last_fetch: Mutex<Option<Instant>>,
    fetches: std::sync::atomic::AtomicU64,
    refetch_every: Duration,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier for tokens issued by the actas at `base` for the app `audience`.
    ///
    /// ```
    /// let v = actas_client::Verifier::new("http://127.0.0.1:7878", "app_123");
    /// ```
    pub fn new(base: impl Into<String>, audience: impl Into<String>) -> Verifier {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap_or_default();
        Verifier::with_http(base, audience, http)
    }

    /// A verifier that fetches the keys with `http`: the host app's own
    /// reqwest client (a company root certificate, a proxy; see
    /// [`Client::with_http`](crate::Client::with_http)). Give it a timeout;
    /// [`Verifier::new`]'s is 5 s.
    pub fn with_http(base: impl Into<String>, audience: impl Into<String>, http: reqwest::Client) -> Verifier {
        let issuer = base.into().trim_end_matches('/').to_string();
        Verifier {
            http,
            jwks_url: format!("{issuer}/.well-known/jwks.json"),
            issuer,
            audience: audience.into(),
            keys: RwLock::default(),
            last_fetch: Mutex::default(),
            fetches: Default::default(),
            refetch_every: Duration::from_secs(10),
        }
    }

    /// Sets the least time between two JWKS fetches caused by unknown key
    /// ids (10 s by default).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let v = actas_client::Verifier::new("http://127.0.0.1:7878", "app_123").refetch_every(Duration::from_secs(30));
    /// ```
    pub fn refetch_every(mut self, every: Duration) -> Verifier {
        self.refetch_every = every;
        self
    }

    /// How many keys are cached.
    ///
    /// ```
    /// let v = actas_client::Verifier::new("http://127.0.0.1:7878", "app_123");
    /// assert_eq!(v.cached_keys(), 0);
    /// ```
    pub fn cached_keys(&self) -> usize {
        self.keys.read().map(|k| k.len()).unwrap_or(0)
    }

    /// How many times the JWKS was fetched so far (for monitoring).
    ///
    /// ```
    /// let v = actas_client::Verifier::new("http://127.0.0.1:7878", "app_123");
    /// assert_eq!(v.fetches(), 0);
    /// ```
    pub fn fetches(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn fetch(&self) -> Result<(), TokenError> {
        {
            let mut last = self.last_fetch.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| t.elapsed() < self.refetch_every) {
                return Ok(());
            }
            *last = Some(Instant::now());
        }
        self.fetches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let res = self.http.get(&self.jwks_url).send().await.map_err(|e| TokenError::Unavailable(e.to_string()))?;
        let jwks: Jwks = res
            .error_for_status()
            .map_err(|e| TokenError::Unavailable(e.to_string()))?
            .json()
            .await
            .map_err(|e| TokenError::Unavailable(e.to_string()))?;
        let mut keys = HashMap::new();
        for k in jwks.keys.into_iter().filter(|k| k.crv == "Ed25519") {
            if let Ok(key) = DecodingKey::from_ed_components(&k.x) {
                keys.insert(k.kid, key);
            }
        }
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = keys;
        Ok(())
    }

    /// Verifies a token: EdDSA signature by a published key, issuer,
    /// audience and expiry. The session may still have ended early: ask
    /// `authorize` (or follow the feed) for that.
    ///
    /// ```no_run
    /// # async fn run(v: actas_client::Verifier, token: &str) {
    /// match v.verify(token).await {
    ///     Ok(who) => println!("{} acting as {}", who.agent_name, who.account_id),
    ///     Err(e) => println!("refused: {e}"),
    /// }
    /// # }
    /// ```
    pub async fn verify(&self, token: &str) -> Result<Impersonation, TokenError> {
        // Read `alg` first, so `none` (which no JWS library parses) is named.
        let alg = token
            .split('.')
            .next()
            .and_then(|h| base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, h).ok())
            .and_then(|h| serde_json::from_slice::<serde_json::Value>(&h).ok())
            .and_then(|h| h.get("alg").and_then(|a| a.as_str()).map(str::to_string))
            .ok_or(TokenError::Malformed)?;
        if alg != "EdDSA" {
            return Err(TokenError::UnsupportedAlgorithm);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        let kid = header.kid.ok_or(TokenError::Malformed)?;
        if !self.keys.read().unwrap_or_else(|e| e.into_inner()).contains_key(&kid) {
            self.fetch().await?;
        }
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        let key = keys.get(&kid).ok_or(TokenError::UnknownKey)?;
        let mut v = Validation::new(Algorithm::EdDSA);
        v.leeway = 0;
        v.set_audience(&[&self.audience]);
        v.set_issuer(&[&self.issuer]);
        v.set_required_spec_claims(&["exp", "sub", "aud", "iss"]);
        let data = jsonwebtoken::decode::<Claims>(token, key, &v).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::InvalidAudience => TokenError::WrongAudience,
                ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
                ErrorKind::InvalidSignature => TokenError::BadSignature,
                ErrorKind::InvalidAlgorithm => TokenError::UnsupportedAlgorithm,
                _ => TokenError::Malformed,
            }
        })?;
        let c = data.claims;
        Ok(Impersonation {
            account_id: c.sub,
            agent: c.act.sub,
            agent_name: c.act.name,
            session_id: c.sid,
            scope: c.scope.split_whitespace().map(str::to_string).collect(),
            ticket: c.ticket,
            expires_at: c.exp,
            token: token.into(),
        })
    }
}
