//! Signing in and out of the console.
//!
//! A sign-in checks the argon2id password hash (on a blocking thread,
//! outside the writer), then stores a new console session: 32 random bytes
//! in the `actas_console` cookie (HttpOnly, SameSite=Strict, Path=/, Secure
//! when the base URL is https), kept in the database only as SHA-256, with
//! its own CSRF token that every form carries. The sign-in form itself uses
//! a double-submit token in a short-lived `actas_login` cookie. Signing in
//! through the company's identity provider (`super::oidc`) ends in the same
//! [`open_session`]; with password sign-in off, the page has no form and
//! `POST /login` is refused.
//!
//! **Invariant:** every request re-reads the session and the staff row, so
//! a disabled member is signed out at once; a session ends after
//! [`Lifetimes::idle`] without a request or [`Lifetimes::absolute`] after
//! sign-in (30 minutes and 12 hours unless configured),
//! both read from the injected clock. Every sign-in passes the throttle
//! (`super::throttle`) before its password is checked; the client address
//! it counts by comes from the connection, or from `X-Forwarded-For` when
//! the connection is from a trusted proxy (`crate::http::forwarded`).

use std::net::{IpAddr, SocketAddr};
use std::sync::LazyLock;

use actas_core::id::{Ids, RandomIds};
use actas_core::model::Staff;
use actas_core::{Error, Timestamp};
use actas_store::{read_fn, write_fn, ConsoleSession};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use cookie::{Cookie, SameSite};
use maud::html;
use subtle::ConstantTimeEq;

use super::{layout, page, ConsoleError};
use crate::authz::Act;
use crate::credentials;
use crate::AppState;

/// The session cookie.
pub const COOKIE: &str = "actas_console";
/// The sign-in form's double-submit cookie.
pub const LOGIN_COOKIE: &str = "actas_login";
/// How long a console sign-in lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    /// A console session ends after this long without a request.
    pub idle: chrono::Duration,
    /// A console session ends this long after sign-in, busy or not.
    pub absolute: chrono::Duration,
}

impl Default for Lifetimes {
    /// 30 minutes idle, 12 hours in all.
    fn default() -> Self {
        Lifetimes { idle: chrono::Duration::minutes(30), absolute: chrono::Duration::hours(12) }
    }
}
/// `last_seen_at` is written at most this often, to spare the writer.
const TOUCH_SECONDS: i64 = 60;

/// A cookie's value from the request headers (the first of that name).
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_string())
        .filter(|v| !v.is_empty())
}

/// An HttpOnly, SameSite=Strict cookie for `path`, kept `seconds`.
fn strict_cookie(name: &'static str, value: &str, path: &'static str, seconds: i64, secure: bool) -> Cookie<'static> {
    Cookie::build((name, value.to_string()))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path(path)
        .max_age(cookie::time::Duration::seconds(seconds))
        .secure(secure)
        .build()
}

/// The session cookie, kept `seconds` (0 removes it).
pub(crate) fn session_cookie(value: &str, secure: bool, seconds: i64) -> Cookie<'static> {
    strict_cookie(COOKIE, value, "/", seconds, secure)
}

fn login_cookie(value: &str, secure: bool, clear: bool) -> Cookie<'static> {
    strict_cookie(LOGIN_COOKIE, value, "/login", if clear { 0 } else { 3600 }, secure)
}

/// Adds a `Set-Cookie` line to a response.
pub(crate) fn set_cookie(res: &mut Response, c: &Cookie<'_>) {
    if let Ok(v) = HeaderValue::from_str(&c.to_string()) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
}

pub(crate) fn secure(state: &AppState) -> bool {
    state.ctx.base_url.starts_with("https://")
}

/// Compares secrets in time independent of where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// A submitted form: every field, in order (checkbox groups repeat a name).
#[derive(Debug, Default)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    /// The first value of `name`, or "".
    pub fn get(&self, name: &str) -> &str {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or("")
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
    }
}

impl<S: Send + Sync> FromRequest<S> for Fields {
    type Rejection = ConsoleError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Form::<Vec<(String, String)>>::from_request(req, state)
            .await
            .map(|Form(v)| Fields(v))
            .map_err(|_| ConsoleError::Page(StatusCode::BAD_REQUEST, "The form could not be read; try again.".into()))
    }
}

/// The client's address: the connection's peer, or, when that is a trusted
/// proxy, the right-most untrusted address of `X-Forwarded-For`. `None`
/// only without a connection (requests made in-process).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        Ok(ClientAddr(peer.map(|p| state.proxies.client(p, &parts.headers))))
    }
}

/// The signed-in staff member, re-read on every request.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// Who.
    pub staff: Staff,
    /// The CSRF token of this session, for forms.
    pub csrf: String,
    /// The path of the request being answered (the nav marks its page).
    pub path: String,
    id_hash: String,
}

impl SignedIn {
    /// Refuses a form without this session's CSRF token.
    pub fn check_csrf(&self, form: &Fields) -> Result<(), ConsoleError> {
        if same_secret(form.get("csrf"), &self.csrf) {
            Ok(())
        } else {
            Err(ConsoleError::forbidden(
                "This form is out of date or did not come from the console, so nothing was done. Reload the page and try again.",
            ))
        }
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        // A live box refreshing itself is not the person being active.
        let polling =
            parts.uri.query().is_some_and(|q| form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "fragment"));
        SignedIn::from_cookie(&parts.headers, parts.uri.path(), state, !polling).await
    }
}

impl SignedIn {
    /// The person whose console cookie is in `headers`, asking for `path`,
    /// while their sign-in holds (an ended one is deleted); `active`: this
    /// counts as their activity, which keeps the idle limit away.
    pub(crate) async fn from_cookie(
        headers: &axum::http::HeaderMap,
        path: &str,
        state: &AppState,
        active: bool,
    ) -> Result<SignedIn, ConsoleError> {
        let secure = secure(state);
        let id = cookie(headers, COOKIE).ok_or(ConsoleError::SignIn { clear: false, secure })?;
        let id_hash = credentials::secret_hash(&id);
        let ctx = &state.ctx;
        let now = ctx.clock.now();
        let h = id_hash.clone();
        let found = ctx
            .store
            .read(read_fn(move |tx| {
                Box::pin(async move {
                    let Some(cs) = tx.get_console_session(&h).await? else { return Ok(None) };
                    let staff = tx.get_staff(&cs.staff_id).await?;
                    Ok(Some((cs, staff)))
                })
            }))
            .await?;
        let Some((cs, staff)) = found else { return Err(ConsoleError::SignIn { clear: true, secure }) };
        let lasts = state.console_lifetimes;
        let over = now - cs.last_seen_at >= lasts.idle || now - cs.created_at >= lasts.absolute;
        let staff = match staff {
            Some(s) if !s.disabled && !over => s,
            _ => {
                let h = id_hash.clone();
                ctx.store
                    .write(write_fn(move |tx| Box::pin(async move { tx.delete_console_session(&h).await })))
                    .await?;
                return Err(ConsoleError::SignIn { clear: true, secure });
            }
        };
        if active && now - cs.last_seen_at >= chrono::Duration::seconds(TOUCH_SECONDS) {
            let h = id_hash.clone();
            ctx.store
                .write(write_fn(move |tx| Box::pin(async move { tx.touch_console_session(&h, now).await })))
                .await?;
        }
        Ok(SignedIn { staff, csrf: cs.csrf, path: path.to_string(), id_hash })
    }
}

/// What the sign-in page shows besides the form.
struct LoginView<'a> {
    login: &'a str,
    message: Option<&'a str>,
    status: StatusCode,
}

/// The sign-in page: the link to the identity provider when it is set up,
/// the password form unless password sign-in is off.
fn login_response(state: &AppState, v: LoginView<'_>) -> Response {
    let secret = state.ctx.ids.secret("");
    let token = secret.expose();
    let password = state.password_sign_in;
    let body = html! {
        @if state.oidc.is_some() {
            p { a.button #oidc-sign-in href="/login/oidc" { "Sign in with your company account" } }
        }
        @if password {
            form.narrow method="post" action="/login" {
                @if let Some(m) = v.message {
                    p.alert role="alert" #login-error { (m) }
                }
                input type="hidden" name="csrf" value=(token);
                label for="login" { "Login" }
                input type="text" id="login" name="login" value=(v.login) autocomplete="username" required
                    autocapitalize="none" spellcheck="false" aria-describedby=[v.message.map(|_| "login-error")];
                label for="password" { "Password" }
                input type="password" id="password" name="password" autocomplete="current-password" required;
                p { button.primary type="submit" { "Sign in" } }
            }
        } @else if let Some(m) = v.message {
            p.alert role="alert" #login-error { (m) }
        }
    };
    let mut res = page(v.status, layout("Sign in", None, body));
    if password {
        set_cookie(&mut res, &login_cookie(token, secure(state), false));
    }
    res
}

/// `GET /login`.
pub async fn login_page(State(state): State<AppState>, who: Result<SignedIn, ConsoleError>) -> Response {
    if who.is_ok() {
        return Redirect::to("/").into_response();
    }
    login_response(&state, LoginView { login: "", message: None, status: StatusCode::OK })
}

/// An argon2id hash of a random password, checked when a login has no
/// password, so that an unknown login takes as long as a wrong password.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| credentials::hash_password(RandomIds.secret("").expose()).unwrap_or_default());

/// `POST /login`.
pub async fn login(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    form: Fields,
) -> Response {
    let login = form.get("login").trim().to_ascii_lowercase();
    let refuse =
        |status, message: &str| login_response(&state, LoginView { login: &login, message: Some(message), status });
    if !state.password_sign_in {
        return refuse(
            StatusCode::FORBIDDEN,
            "Password sign-in is turned off on this server. Sign in with your company account.",
        );
    }
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !same_secret(form.get("csrf"), &expected) {
        return refuse(StatusCode::FORBIDDEN, "The sign-in form had expired. Please sign in again.");
    }
    let ctx = state.ctx.clone();
    let now = ctx.clock.now();
    // Admitted and counted before the password is looked at, under one lock.
    let attempt = match state.console.admit(&login, addr, now) {
        Ok(a) => a,
        Err(refusal) => {
            tracing::debug!(%login, client = ?addr, ?refusal, "sign-in throttled");
            let mut res = refuse(StatusCode::TOO_MANY_REQUESTS, &refusal.message(now));
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(refusal.wait_seconds(now)));
            return res;
        }
    };
    let l = login.clone();
    let found = ctx
        .store
        .read(read_fn(move |tx| {
            Box::pin(async move {
                let Some(staff) = tx.get_staff(&l).await? else { return Ok(None) };
                let hash = tx.get_staff_password(&l).await?;
                Ok(Some((staff, hash)))
            })
        }))
        .await;
    let found = match found {
        Ok(f) => f,
        Err(e) => return ConsoleError::from(e).into_response(),
    };
    let (staff, hash) = match found {
        Some((s, Some(h))) => (Some(s), h),
        _ => (None, DUMMY_HASH.clone()),
    };
    let ok = state.console.verify(form.get("password").to_string(), hash).await;
    let staff = match staff {
        Some(s) if ok => s,
        _ => {
            tracing::info!(%login, client = ?addr, "console sign-in failed");
            attempt.failed(now);
            return refuse(StatusCode::UNAUTHORIZED, "The login or the password is not right.");
        }
    };
    if staff.disabled {
        return refuse(StatusCode::FORBIDDEN, "This account is disabled. Ask an admin if that is a mistake.");
    }
    attempt.succeeded(now);
    let session = match open_session(&state, &staff, now, "a password").await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let mut res = Redirect::to("/").into_response();
    set_cookie(&mut res, &session);
    set_cookie(&mut res, &login_cookie("", secure(&state), true));
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// Stores a new console session for `staff`, who proved who they are at
/// `now` (with `how`, for the log), and answers its cookie. Every way of
/// signing in ends here.
pub(crate) async fn open_session(
    state: &AppState,
    staff: &Staff,
    now: Timestamp,
    how: &str,
) -> Result<Cookie<'static>, ConsoleError> {
    let id = state.ctx.ids.secret("");
    let cs = ConsoleSession {
        id_hash: credentials::secret_hash(id.expose()),
        staff_id: staff.id.clone(),
        csrf: state.ctx.ids.secret("").expose().to_string(),
        created_at: now,
        last_seen_at: now,
    };
    state.ctx.store.write(write_fn(move |tx| Box::pin(async move { tx.insert_console_session(&cs).await }))).await?;
    tracing::info!(staff = %staff.id, with = how, "signed in to the console");
    Ok(session_cookie(id.expose(), secure(state), state.console_lifetimes.absolute.num_seconds()))
}

/// `POST /logout`.
pub async fn logout(State(state): State<AppState>, who: SignedIn, form: Fields) -> Result<Response, ConsoleError> {
    who.check_csrf(&form)?;
    let h = who.id_hash.clone();
    state.ctx.store.write(write_fn(move |tx| Box::pin(async move { tx.delete_console_session(&h).await }))).await?;
    Err(ConsoleError::SignIn { clear: true, secure: secure(&state) })
}

/// Asks the authorization module whether the signed-in person may `act`
/// (the same answer the API gives), and refuses in the console's words.
pub fn permit(state: &AppState, who: &SignedIn, act: Act<'_>, what: &str) -> Result<(), ConsoleError> {
    crate::authz::allow(&who.staff, act, state.ctx.clock.now()).map_err(|e| match e {
        Error::Forbidden { detail, .. } => ConsoleError::forbidden(format!("{what} is not for you: {detail}")),
        e => e.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_read_by_exact_name() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("x_actas_console=no; actas_console=yes; other=1"));
        assert_eq!(cookie(&h, COOKIE).as_deref(), Some("yes"));
        assert_eq!(cookie(&h, LOGIN_COOKIE), None);
        assert!(session_cookie("v", true, 60).to_string().contains("; Secure"));
        let plain = session_cookie("v", false, 60).to_string();
        assert!(plain.contains("HttpOnly; SameSite=Strict; Path=/;") && !plain.contains("Secure"), "{plain}");
        assert!(session_cookie("", false, 0).to_string().ends_with("; Max-Age=0"));
    }
}
