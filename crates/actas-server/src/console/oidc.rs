//! Console sign-in through the company's OpenID Connect provider.
//!
//! `GET /login/oidc` starts an authorization-code flow with PKCE (S256), a
//! fresh `state` and `nonce`; what the callback needs to finish it (state,
//! nonce, PKCE verifier, when it began) rides in the `actas_oidc` cookie
//! (HttpOnly, SameSite=Lax, Path=/login/oidc, 10 minutes), sealed with
//! XChaCha20-Poly1305 under a key derived from the key-encryption key, so
//! any node of a cluster can open it and nobody can read or forge it.
//! `GET /login/oidc/callback` checks `state` against the cookie, exchanges
//! the code with the verifier, verifies the ID token (signature against the
//! provider's JWKS, issuer, audience, expiry on the injected clock, nonce),
//! maps the groups claim to roles with the policy's `[oidc.roles]`, brings
//! the staff row in line (`service::sync_staff_from_provider`) and opens a
//! console session as a password sign-in does.
//!
//! The provider's discovery document and keys are fetched on first use and
//! kept for an hour; a failed fetch is not kept, so the server starts while
//! the provider is down and the next sign-in tries again. A refusal stores
//! nothing: no staff row, no console session.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actas_core::id::Secret;
use actas_core::limits::{is_layout_char, one_line, DISPLAY_NAME_CHARS};
use actas_core::{Error, Timestamp};
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use cookie::{Cookie, SameSite};
use maud::html;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreRevocableToken,
    CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, ClaimsVerificationError, Client, ClientId, ClientSecret, CsrfToken,
    EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenClaims, IdTokenFields, IssuerUrl,
    Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, SignatureVerificationError,
    StandardErrorResponse, StandardTokenResponse, TokenResponse,
};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::auth::{self, set_cookie, SignedIn};
use super::{layout, page, ConsoleError};
use crate::keys::KeyAccess;
use crate::service::{self, ProviderIdentity, ProviderSignIn};
use crate::AppState;

/// The cookie that carries a sign-in begun at the provider.
pub const COOKIE: &str = "actas_oidc";
/// Where that cookie is sent: the start and the callback.
const COOKIE_PATH: &str = "/login/oidc";
/// A sign-in must come back from the provider within this long.
pub const PENDING_MINUTES: i64 = 10;
/// How long the provider's discovery document and keys are kept.
const DISCOVERY_KEPT: Duration = Duration::from_secs(3600);
/// The label of the cookie key derived from the key-encryption key.
const COOKIE_KEY_LABEL: &str = "actas oidc sign-in cookie";
/// Bound into every sealed cookie: it opens as nothing else.
const COOKIE_AAD: &[u8] = b"actas-oidc-sign-in\nv1";

/// How the console reaches the identity provider (`serve --oidc-*`).
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// The issuer URL; its discovery document is
    /// `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    /// actas' client id at the provider.
    pub client_id: String,
    /// The client secret of a confidential client; a public client has
    /// none and relies on PKCE alone.
    pub client_secret: Option<Secret>,
    /// The claim that lists the person's groups (`groups`).
    pub roles_claim: String,
    /// The claim whose value is the staff login (`preferred_username`).
    pub username_claim: String,
}

impl OidcConfig {
    /// A provider and client id, with the default claims and no secret.
    pub fn new(issuer: impl Into<String>, client_id: impl Into<String>) -> OidcConfig {
        OidcConfig {
            issuer: issuer.into(),
            client_id: client_id.into(),
            client_secret: None,
            roles_claim: "groups".into(),
            username_claim: "preferred_username".into(),
        }
    }
}

/// The ID token's claims beyond the standard ones (the groups claim, or a
/// username claim of the provider's own).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
struct OtherClaims {
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

impl AdditionalClaims for OtherClaims {}

type IdClaims = IdTokenClaims<OtherClaims, CoreGenderClaim>;
type Tokens = StandardTokenResponse<
    IdTokenFields<
        OtherClaims,
        EmptyExtraTokenFields,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >,
    CoreTokenType,
>;
type OidcClient = Client<
    OtherClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    Tokens,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The provider as discovered: a client bound to its endpoints and keys.
struct Provider {
    client: OidcClient,
    /// The signature algorithms accepted on ID tokens: the provider's,
    /// without the symmetric ones (a token is verified by its public keys).
    algs: Vec<CoreJwsSigningAlgorithm>,
    /// The scopes asked for: `openid`, `profile`, and `email` where the
    /// provider offers it (or does not say what it offers).
    scopes: Vec<Scope>,
    fetched: Instant,
}

/// Sign-in through the identity provider: its settings, the HTTP client
/// that talks to it, the key of the pending sign-in cookie, and the
/// provider as last discovered.
pub struct Oidc {
    config: OidcConfig,
    issuer: IssuerUrl,
    redirect: RedirectUrl,
    http: reqwest::Client,
    cookie_key: CookieKey,
    provider: tokio::sync::Mutex<Option<Arc<Provider>>>,
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oidc").field("config", &self.config).finish_non_exhaustive()
    }
}

/// Why a sign-in through the provider did not happen; each becomes a page.
#[derive(Debug)]
enum OidcError {
    /// The provider could not be reached or answered nonsense (`503`).
    Unreachable(String),
    /// The sign-in is refused for good (`403`).
    Refused(String),
    /// The sign-in cannot be finished; starting again may work (`400`).
    Restart(String),
}

impl From<OidcError> for ConsoleError {
    fn from(e: OidcError) -> Self {
        let again = |status, s: String| ConsoleError::Linked(status, s, "/login".into(), "Sign in again".into());
        match e {
            OidcError::Unreachable(s) => again(StatusCode::SERVICE_UNAVAILABLE, s),
            OidcError::Refused(s) => ConsoleError::Page(StatusCode::FORBIDDEN, s),
            OidcError::Restart(s) => again(StatusCode::BAD_REQUEST, s),
        }
    }
}

const UNREACHABLE: &str =
    "The identity provider cannot be reached, so you cannot sign in with your company account right now. Try again in a minute.";

impl Oidc {
    /// Sign-in through `config`'s provider for a server at `base_url`. The
    /// cookie key is derived from the key-encryption key; without one
    /// (keys in the clear) it is random, and a sign-in must come back to
    /// the node that began it.
    pub fn new(config: OidcConfig, base_url: &str, keys: &KeyAccess) -> anyhow::Result<Oidc> {
        let issuer = IssuerUrl::new(config.issuer.clone())
            .map_err(|e| anyhow::anyhow!("--oidc-issuer {} is not a URL: {e}", config.issuer))?;
        if !matches!(issuer.url().scheme(), "https" | "http") {
            anyhow::bail!("--oidc-issuer {} is not an http(s) URL", config.issuer);
        }
        let redirect = RedirectUrl::new(format!("{}/login/oidc/callback", base_url.trim_end_matches('/')))
            .map_err(|e| anyhow::anyhow!("the base URL {base_url} makes no callback address: {e}"))?;
        let cookie_key = match keys {
            KeyAccess::Sealed(kek) => CookieKey::new(&kek.derive(COOKIE_KEY_LABEL)),
            _ => {
                tracing::warn!(
                    "no key-encryption key: sign-ins through the identity provider must come back to the node that began them"
                );
                let mut bytes = Zeroizing::new([0u8; 32]);
                rand::RngCore::fill_bytes(&mut OsRng, bytes.as_mut());
                CookieKey::new(&bytes)
            }
        };
        // Redirects are not followed: an answer of the provider is read
        // where it was asked for, never somewhere it points to.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .build()?;
        Ok(Oidc { config, issuer, redirect, http, cookie_key, provider: tokio::sync::Mutex::new(None) })
    }

    /// The provider: as kept, or discovered now when it is not kept, is
    /// older than [`DISCOVERY_KEPT`], or `again` (its keys did not verify a
    /// token). A failed discovery is not kept; an old provider is used
    /// while a new one cannot be had, unless `again`.
    async fn provider(&self, again: bool) -> Result<Arc<Provider>, OidcError> {
        let mut kept = self.provider.lock().await;
        if let Some(p) = kept.as_ref().filter(|p| !again && p.fetched.elapsed() < DISCOVERY_KEPT) {
            return Ok(p.clone());
        }
        match self.discover().await {
            Ok(p) => {
                let p = Arc::new(p);
                *kept = Some(p.clone());
                Ok(p)
            }
            Err(e) => match kept.as_ref().filter(|_| !again) {
                Some(p) => {
                    tracing::warn!(error = %e, "cannot refresh the identity provider's discovery document; using the last one");
                    Ok(p.clone())
                }
                None => {
                    tracing::warn!(error = %e, issuer = %self.config.issuer, "cannot reach the identity provider");
                    Err(OidcError::Unreachable(UNREACHABLE.into()))
                }
            },
        }
    }

    async fn discover(&self) -> anyhow::Result<Provider> {
        let meta = CoreProviderMetadata::discover_async(self.issuer.clone(), &self.http)
            .await
            .map_err(|e| anyhow::anyhow!("{}", error_chain(&e)))?;
        let algs = meta
            .id_token_signing_alg_values_supported()
            .iter()
            .filter(|a| {
                !matches!(
                    a,
                    CoreJwsSigningAlgorithm::HmacSha256
                        | CoreJwsSigningAlgorithm::HmacSha384
                        | CoreJwsSigningAlgorithm::HmacSha512
                        | CoreJwsSigningAlgorithm::None
                )
            })
            .cloned()
            .collect();
        let offers_email = meta.scopes_supported().is_none_or(|s| s.iter().any(|s| s.as_str() == "email"));
        let scopes =
            ["profile"].iter().chain(offers_email.then_some(&"email")).map(|s| Scope::new(s.to_string())).collect();
        let secret = self.config.client_secret.as_ref().map(|s| ClientSecret::new(s.expose().to_string()));
        let client = OidcClient::from_provider_metadata(meta, ClientId::new(self.config.client_id.clone()), secret)
            .set_redirect_uri(self.redirect.clone());
        tracing::info!(issuer = %self.config.issuer, "discovered the identity provider");
        Ok(Provider { client, algs, scopes, fetched: Instant::now() })
    }
}

/// A whole error chain on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(c) = source {
        s.push_str(": ");
        s.push_str(&c.to_string());
        source = c.source();
    }
    s
}

/// The key that seals the pending sign-in cookie.
struct CookieKey(XChaCha20Poly1305);

impl CookieKey {
    fn new(bytes: &[u8; 32]) -> CookieKey {
        CookieKey(XChaCha20Poly1305::new(Key::from_slice(bytes)))
    }

    /// The pending sign-in, sealed: base64url of a random nonce and the
    /// ciphertext.
    fn seal(&self, p: &Pending) -> Result<String, Error> {
        let plain = Zeroizing::new(serde_json::to_vec(p).map_err(|e| Error::Internal(e.into()))?);
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .0
            .encrypt(&nonce, Payload { msg: &plain, aad: COOKIE_AAD })
            .map_err(|_| Error::Internal(anyhow::anyhow!("cannot seal the sign-in cookie")))?;
        Ok(URL_SAFE_NO_PAD.encode([nonce.as_slice(), &sealed].concat()))
    }

    /// Opens a sealed pending sign-in begun at most [`PENDING_MINUTES`]
    /// before `now`.
    fn open(&self, sealed: &str, now: Timestamp) -> Result<Pending, PendingError> {
        let raw = URL_SAFE_NO_PAD.decode(sealed).map_err(|_| PendingError::Broken)?;
        if raw.len() < 24 {
            return Err(PendingError::Broken);
        }
        let (nonce, ct) = raw.split_at(24);
        let plain = Zeroizing::new(
            self.0
                .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: COOKIE_AAD })
                .map_err(|_| PendingError::Broken)?,
        );
        let p: Pending = serde_json::from_slice(&plain).map_err(|_| PendingError::Broken)?;
        let age = now.timestamp_millis() - p.began_ms;
        if !(-60_000..PENDING_MINUTES * 60_000).contains(&age) {
            return Err(PendingError::Expired);
        }
        Ok(p)
    }
}

/// A sign-in begun at the provider, kept in the browser while it is there.
#[derive(Serialize, Deserialize)]
struct Pending {
    state: String,
    nonce: String,
    verifier: String,
    /// When it began, milliseconds since the epoch (injected clock).
    began_ms: i64,
}

#[derive(Debug, PartialEq, Eq)]
enum PendingError {
    /// Not sealed by this server (or by a node with another KEK).
    Broken,
    /// Begun more than [`PENDING_MINUTES`] ago.
    Expired,
}

fn pending_cookie(value: &str, secure: bool, clear: bool) -> Cookie<'static> {
    Cookie::build((COOKIE, value.to_string()))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path(COOKIE_PATH)
        .max_age(cookie::time::Duration::seconds(if clear { 0 } else { PENDING_MINUTES * 60 }))
        .secure(secure)
        .build()
}

fn no_oidc() -> ConsoleError {
    ConsoleError::Page(StatusCode::NOT_FOUND, "Sign-in with a company account is not set up on this server.".into())
}

/// `GET /login/oidc`: off to the provider.
pub async fn start(State(state): State<AppState>, who: Result<SignedIn, ConsoleError>) -> Response {
    if who.is_ok() {
        return Redirect::to("/").into_response();
    }
    let Some(oidc) = state.oidc.clone() else { return no_oidc().into_response() };
    let provider = match oidc.provider(false).await {
        Ok(p) => p,
        Err(e) => return ConsoleError::from(e).into_response(),
    };
    let ids = &state.ctx.ids;
    let pending = Pending {
        state: ids.secret("").expose().to_string(),
        nonce: ids.secret("").expose().to_string(),
        verifier: ids.secret("").expose().to_string(),
        began_ms: state.ctx.clock.now().timestamp_millis(),
    };
    let challenge = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(pending.verifier.clone()));
    let (s, n) = (pending.state.clone(), pending.nonce.clone());
    let (url, _, _) = provider
        .client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, move || CsrfToken::new(s), move || Nonce::new(n))
        .add_scopes(provider.scopes.iter().cloned())
        .set_pkce_challenge(challenge)
        .url();
    let sealed = match oidc.cookie_key.seal(&pending) {
        Ok(s) => s,
        Err(e) => return ConsoleError::from(e).into_response(),
    };
    let mut res = Redirect::to(url.as_str()).into_response();
    set_cookie(&mut res, &pending_cookie(&sealed, auth::secure(&state), false));
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// The provider's answer at the callback: the first value of each
/// parameter (a query that cannot be read is an answer without any).
#[derive(Debug, Default)]
struct Answer {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

impl Answer {
    fn parse(query: &str) -> Answer {
        let mut a = Answer::default();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            let slot = match k.as_ref() {
                "code" => &mut a.code,
                "state" => &mut a.state,
                "iss" => &mut a.iss,
                "error" => &mut a.error,
                "error_description" => &mut a.error_description,
                _ => continue,
            };
            slot.get_or_insert_with(|| v.into_owned());
        }
        a
    }
}

/// `GET /login/oidc/callback`: back from the provider. Whatever happens,
/// the pending sign-in cookie is used up.
pub async fn callback(State(state): State<AppState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let secure = auth::secure(&state);
    let answer = Answer::parse(query.as_deref().unwrap_or_default());
    let mut res = match finish(&state, &headers, answer).await {
        Ok(res) => res,
        Err(e) => e.into_response(),
    };
    set_cookie(&mut res, &pending_cookie("", secure, true));
    res
}

async fn finish(state: &AppState, headers: &HeaderMap, answer: Answer) -> Result<Response, ConsoleError> {
    let oidc = state.oidc.clone().ok_or_else(no_oidc)?;
    let now = state.ctx.clock.now();
    if let Some(error) = answer.error.as_deref() {
        let why = answer.error_description.as_deref().map(|d| format!(": {}", short(d))).unwrap_or_default();
        tracing::info!(error = %one_line(error), "the identity provider did not sign someone in");
        return Err(OidcError::Refused(format!(
            "Your identity provider did not sign you in ({}{why}), so you are not signed in to actas.",
            short(error)
        ))
        .into());
    }
    let restart = |s: &str| ConsoleError::from(OidcError::Restart(s.into()));
    let sealed = auth::cookie(headers, COOKIE).ok_or_else(|| {
        restart("This sign-in was not begun in this browser, or it was finished already, so it cannot be completed. Start again.")
    })?;
    let pending = oidc.cookie_key.open(&sealed, now).map_err(|e| match e {
        PendingError::Expired => restart(&format!(
            "This sign-in took longer than {PENDING_MINUTES} minutes, so it cannot be completed. Start again."
        )),
        PendingError::Broken => {
            restart("This sign-in was not begun by this server, so it cannot be completed. Start again.")
        }
    })?;
    // RFC 9207: a provider that names itself must be the one asked.
    if answer.iss.as_deref().is_some_and(|iss| iss != oidc.issuer.as_str()) {
        tracing::info!(iss = %short(answer.iss.as_deref().unwrap_or_default()), "an answer named another issuer");
        return Err(restart("The answer came from another identity provider than this server's, so nothing was done."));
    }
    let given = answer.state.unwrap_or_default();
    if !bool::from(given.as_bytes().ct_eq(pending.state.as_bytes())) {
        tracing::info!("an identity provider answer did not match the sign-in begun in this browser");
        return Err(restart(
            "The identity provider's answer does not belong to the sign-in begun in this browser, so nothing was done. Start again.",
        ));
    }
    let code = answer
        .code
        .filter(|c| !c.is_empty())
        .ok_or_else(|| restart("The identity provider sent no code. Start again."))?;
    let claims = verified_claims(&oidc, &pending, code, now).await?;
    let who = identity(state, &oidc.config, &claims)?;
    let login = who.login.clone();
    let staff = match service::sync_staff_from_provider(&state.ctx, who).await {
        Ok(ProviderSignIn::Staff(s)) => s,
        Ok(ProviderSignIn::Disabled(s)) => {
            tracing::info!(staff = %s.id, "a disabled staff member tried to sign in through the identity provider");
            return Err(OidcError::Refused(
                "This account is disabled in actas, so you cannot sign in. Ask an admin if that is a mistake.".into(),
            )
            .into());
        }
        Err(Error::Refused { detail, .. }) => {
            tracing::info!(login = %one_line(&login), %detail, "identity provider sign-in refused");
            return Err(OidcError::Refused(format!(
                "Your identity provider names you \"{}\", which actas cannot take: {detail}",
                short(&login)
            ))
            .into());
        }
        Err(e) => return Err(e.into()),
    };
    let session = auth::open_session(state, &staff, now, "the identity provider").await?;
    // The console's session cookie is SameSite=Strict, and the browser
    // came here from the provider: a redirect would carry that cross-site
    // navigation on, and the cookie would not be sent. This page moves on
    // from the console's own origin.
    let body = html! {
        p { "You are signed in as " (staff.name) "." }
        p { a #continue href="/" { "Continue to the console" } }
    };
    let mut res = page(StatusCode::OK, layout("Signed in", None, body));
    res.headers_mut().insert(header::REFRESH, HeaderValue::from_static("0; url=/"));
    set_cookie(&mut res, &session);
    Ok(res)
}

/// Exchanges the code and verifies the ID token; asks the provider once
/// more for its keys when none of those it gave verifies the token.
async fn verified_claims(oidc: &Oidc, pending: &Pending, code: String, now: Timestamp) -> Result<IdClaims, OidcError> {
    let provider = oidc.provider(false).await?;
    let exchange = provider
        .client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| OidcError::Unreachable(format!("The identity provider names no token endpoint ({e}).")))?
        .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()));
    let tokens = exchange.request_async(&oidc.http).await.map_err(|e| match e {
        RequestTokenError::ServerResponse(r) => {
            tracing::info!(error = %r, "the identity provider refused the code");
            OidcError::Refused(format!(
                "The identity provider refused to complete this sign-in ({}), so you are not signed in.",
                short(&r.to_string())
            ))
        }
        e => {
            tracing::warn!(error = %error_chain(&e), "cannot exchange a code at the identity provider");
            OidcError::Unreachable(UNREACHABLE.into())
        }
    })?;
    let token = tokens.id_token().ok_or_else(|| {
        OidcError::Refused("The identity provider sent no ID token, so you are not signed in.".into())
    })?;
    let nonce = Nonce::new(pending.nonce.clone());
    let verify = |p: &Provider| {
        let verifier = p.client.id_token_verifier().set_allowed_algs(p.algs.clone()).set_time_fn(move || now);
        token.claims(&verifier, &nonce).cloned()
    };
    let claims = match verify(&provider) {
        Err(ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)) => {
            verify(&*oidc.provider(true).await?)
        }
        other => other,
    };
    claims.map_err(|e| {
        tracing::info!(error = %e, "an ID token did not verify");
        OidcError::Refused(format!("The identity provider's ID token does not hold ({e}), so you are not signed in."))
    })
}

/// Who the verified claims name, with the roles their groups give; no
/// role: refused.
fn identity(state: &AppState, config: &OidcConfig, claims: &IdClaims) -> Result<ProviderIdentity, OidcError> {
    let all = serde_json::to_value(claims).unwrap_or_default();
    let login = match all.get(&config.username_claim) {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => s.trim().to_lowercase(),
        _ => {
            return Err(OidcError::Refused(format!(
                "Your identity provider does not say who you are (no \"{}\" claim), so you are not signed in.",
                short(&config.username_claim)
            )))
        }
    };
    let groups = groups(all.get(&config.roles_claim));
    let roles = state.ctx.policy.roles_for_groups(&groups);
    if roles.is_empty() {
        tracing::info!(login = %one_line(&login), groups = ?groups, "identity provider sign-in refused: no role");
        return Err(OidcError::Refused(
            "Your identity provider gives you no actas role, so you are not signed in. Ask your admin to add you to a group that has one."
                .into(),
        ));
    }
    let name = all.get("name").and_then(|v| v.as_str()).map(str::trim).filter(|n| plain_name(n)).unwrap_or(&login);
    // An address the provider says it has not verified is not taken: the
    // inbox matches tickets to staff by it.
    let verified = all.get("email_verified").and_then(|v| v.as_bool()) != Some(false);
    let email = all.get("email").and_then(|v| v.as_str()).map(str::trim).filter(|e| verified && e.contains('@'));
    Ok(ProviderIdentity { name: name.to_string(), login, email: email.map(str::to_lowercase), roles })
}

/// The groups of a claim's value: an array of strings (other entries
/// skipped) or one string.
fn groups(v: Option<&serde_json::Value>) -> Vec<String> {
    match v {
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(a)) => a.iter().filter_map(|g| g.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    }
}

/// Whether a name from the provider can be a staff member's name as is.
fn plain_name(n: &str) -> bool {
    !n.is_empty() && n.chars().count() <= DISPLAY_NAME_CHARS && !n.chars().any(is_layout_char)
}

/// A text from the provider or the browser, on one line and at most 200
/// characters, for a page or a log line.
fn short(s: &str) -> String {
    let line = one_line(s);
    match line.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn t0() -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap()
    }

    fn pending() -> Pending {
        Pending { state: "s".into(), nonce: "n".into(), verifier: "v".into(), began_ms: t0().timestamp_millis() }
    }

    #[test]
    fn the_sign_in_cookie_opens_only_untouched_and_in_time() {
        let key = CookieKey::new(&[7; 32]);
        let sealed = key.seal(&pending()).unwrap();
        let p = key.open(&sealed, t0() + chrono::Duration::minutes(9)).unwrap();
        assert_eq!((p.state.as_str(), p.nonce.as_str(), p.verifier.as_str()), ("s", "n", "v"));
        assert_ne!(key.seal(&pending()).unwrap(), sealed, "a fresh nonce each time");

        let late = t0() + chrono::Duration::minutes(PENDING_MINUTES);
        assert_eq!(key.open(&sealed, late).err(), Some(PendingError::Expired));
        assert_eq!(key.open(&sealed, t0() - chrono::Duration::minutes(5)).err(), Some(PendingError::Expired));

        let mut raw = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert_eq!(key.open(&URL_SAFE_NO_PAD.encode(&raw), t0()).err(), Some(PendingError::Broken));
        assert_eq!(key.open("not base64 !", t0()).err(), Some(PendingError::Broken));
        assert_eq!(key.open("", t0()).err(), Some(PendingError::Broken));
        assert_eq!(CookieKey::new(&[8; 32]).open(&sealed, t0()).err(), Some(PendingError::Broken), "another KEK");
    }

    #[test]
    fn the_cookie_key_comes_from_the_kek_and_is_the_same_on_every_node() {
        let kek = crate::keys::Kek::parse(&[3; 32]).unwrap();
        let again = crate::keys::Kek::parse(&[3; 32]).unwrap();
        assert_eq!(*kek.derive(COOKIE_KEY_LABEL), *again.derive(COOKIE_KEY_LABEL));
        assert_ne!(*kek.derive(COOKIE_KEY_LABEL), *kek.derive("another purpose"));
        assert_ne!(*kek.derive(COOKIE_KEY_LABEL), [3; 32]);
        let sealed = CookieKey::new(&kek.derive(COOKIE_KEY_LABEL)).seal(&pending()).unwrap();
        assert!(CookieKey::new(&again.derive(COOKIE_KEY_LABEL)).open(&sealed, t0()).is_ok());
    }

    #[test]
    fn groups_are_a_list_or_one_string() {
        assert_eq!(groups(Some(&json!(["a", 3, "b"]))), vec!["a", "b"]);
        assert_eq!(groups(Some(&json!("support-leads"))), vec!["support-leads"]);
        assert!(groups(Some(&json!({"a": 1}))).is_empty());
        assert!(groups(None).is_empty());
    }

    #[test]
    fn claims_are_read_by_name_whether_standard_or_not() {
        let token = json!({
            "iss": "https://id.example.com", "aud": "actas", "exp": 1_900_000_000, "iat": 1_800_000_000,
            "sub": "u1", "preferred_username": "Maria", "name": "Maria Lopez", "groups": ["support-agents"],
            "upn": "maria@example.com"
        });
        let claims: IdClaims = serde_json::from_value(token).unwrap();
        let all = serde_json::to_value(&claims).unwrap();
        assert_eq!(all["preferred_username"], "Maria");
        assert_eq!(all["upn"], "maria@example.com");
        assert_eq!(groups(all.get("groups")), vec!["support-agents"]);
    }

    #[test]
    fn the_pending_cookie_is_lax_and_only_for_the_sign_in_paths() {
        let c = pending_cookie("v", false, false).to_string();
        assert!(c.contains("HttpOnly; SameSite=Lax; Path=/login/oidc;") && c.contains("Max-Age=600"), "{c}");
        assert!(pending_cookie("", true, true).to_string().contains("Max-Age=0"));
    }

    #[test]
    fn the_callback_takes_the_first_of_each_parameter_and_ignores_others() {
        let a = Answer::parse("code=c1&state=s&code=c2&session_state=x&iss=http%3A%2F%2Fid&error_description=a+b");
        assert_eq!(
            (a.code.as_deref(), a.state.as_deref(), a.iss.as_deref()),
            (Some("c1"), Some("s"), Some("http://id"))
        );
        assert_eq!((a.error, a.error_description.as_deref()), (None, Some("a b")));
        assert!(Answer::parse("%%%").code.is_none());
    }

    #[test]
    fn the_client_secret_is_never_printed() {
        let c = OidcConfig {
            client_secret: Some(Secret::new("hunter2-client-secret")),
            ..OidcConfig::new("https://id", "x")
        };
        assert!(!format!("{c:?}").contains("hunter2"), "{c:?}");
    }

    #[test]
    fn provider_text_is_one_short_line() {
        assert_eq!(short("a\nb"), one_line("a\nb"));
        assert_eq!(short(&"x".repeat(300)).chars().count(), 201);
        assert!(plain_name("Maria Lopez") && !plain_name("") && !plain_name("a\u{202e}b"));
    }
}
