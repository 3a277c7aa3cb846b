//! The staff console: server-rendered HTML pages at `/`, beside the JSON
//! API, calling the same `service` operations.
//!
//! `auth` signs people in and out (argon2id passwords, a server-side
//! session in an HttpOnly, SameSite=Strict cookie, a CSRF token on every
//! form, idle and absolute timeouts read from the injected clock);
//! `oidc` signs staff in through the company's OpenID Connect provider;
//! `throttle` slows password guessing down without locking anyone out;
//! `ui` holds the small shared pieces of markup (a moment in time, the
//! badges of a request, a session, an action or an event); `pages` holds
//! the pages, one module per URL group. Templates are maud,
//! checked at compile time; every value from a person or the database is
//! spliced with maud's escaping, and only the two constant assets
//! (`assets/console.css` and `assets/console.js`, inlined, their hashes in
//! the Content-Security-Policy) are written raw. Errors reach the person
//! as a sentence, next to the field they concern when there is one, never
//! as a problem document.

mod auth;
mod live;
pub mod oidc;
mod pages;
pub mod throttle;
pub(crate) mod ui;

use std::sync::LazyLock;

use actas_core::model::Role;
use axum::extract::OriginalUri;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

use crate::http::error::ApiError;
use crate::AppState;
pub use auth::{Lifetimes, SignedIn};
pub use throttle::Throttle;

/// The console's routes.
pub fn router() -> Router<AppState> {
    use pages::{accounts, admin, audit, home, launch, measures, queue, requests, sessions, webhooks};
    Router::new()
        .route("/", get(home::home))
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/login/oidc", get(oidc::start))
        .route("/login/oidc/callback", get(oidc::callback))
        .route("/logout", post(auth::logout))
        .route("/launch", get(launch::launch))
        .route("/requests", post(launch::create_request))
        .route("/tickets", post(launch::create_ticket))
        .route("/requests/{id}", get(requests::request))
        .route("/requests/{id}/start", post(requests::start))
        .route("/requests/{id}/approve", post(queue::approve))
        .route("/requests/{id}/deny", post(queue::deny))
        .route("/requests/{id}/withdraw", post(requests::withdraw))
        .route("/sessions/{id}", get(sessions::session))
        .route("/sessions/{id}/end", post(sessions::end))
        .route("/sessions/{id}/open", post(sessions::open))
        .route("/sessions/{id}/scope", post(sessions::scope))
        .route("/sessions/{id}/revoke", post(sessions::revoke))
        .route("/sessions/{id}/review", post(sessions::review))
        .route("/sessions/{id}/story", get(sessions::story))
        .route("/queue", get(queue::queue))
        .route("/live", get(live::live))
        .route("/accounts", get(accounts::find_account))
        .route("/accounts/{id}/access-log", get(accounts::access_log))
        .route("/audit", get(audit::search))
        .route("/audit/export", get(audit::export))
        .route("/audit/verify", get(audit::verify))
        .route("/measures", get(measures::measures))
        .route("/measures.csv", get(measures::measures_csv))
        .route("/staff", get(admin::staff).post(admin::add_staff))
        .route("/staff/{login}", get(admin::member))
        .route("/staff/{login}/roles", post(admin::set_roles))
        .route("/staff/{login}/disable", post(admin::disable))
        .route("/staff/{login}/enable", post(admin::enable))
        .route("/staff/{login}/password", post(admin::set_password))
        .route("/apps", get(admin::apps).post(admin::add_app))
        .route("/apps/{id}", get(admin::app))
        .route("/apps/{id}/connector", post(admin::set_connector))
        .route("/policy", get(admin::policy))
        .route("/webhooks", get(webhooks::webhooks))
        .route("/webhooks/{id}", get(webhooks::webhook))
        .route("/webhooks/{id}/resume", post(webhooks::resume))
        .route("/webhooks/{id}/remove", post(webhooks::remove))
        .route("/webhooks/{id}/deliveries/{delivery}/replay", post(webhooks::replay))
}

/// Paths that belong to the API and its assets: an unknown one there is a
/// problem document, anywhere else an HTML page.
fn is_api_path(path: &str) -> bool {
    ["/api/", "/.well-known/"].iter().any(|p| path.starts_with(p))
        || ["/api", "/.well-known", "/banner.js", "/healthz"].contains(&path)
}

/// The answer for a path no route knows.
pub async fn not_found(OriginalUri(uri): OriginalUri) -> Response {
    if is_api_path(uri.path()) {
        return ApiError::NoRoute.into_response();
    }
    ConsoleError::Page(
        StatusCode::NOT_FOUND,
        "There is no page at this address. Check the link, or start again from the console's home page.".into(),
    )
    .into_response()
}

/// The console's style, inlined into every page (`assets/console.css`).
const CSS: &str = include_str!("../../assets/console.css");

/// The console's script, inlined into every page (`assets/console.js`):
/// keeps the request form's lists in step with its boxes and refreshes the
/// `[data-live]` boxes.
const SCRIPT: &str = include_str!("../../assets/console.js");

// `CSS_HASH` and `SCRIPT_HASH`, the policy's sources for the two above.
include!(concat!(env!("OUT_DIR"), "/console_csp.rs"));

/// Only the console's own style and script run; nothing may frame it.
static CSP: LazyLock<HeaderValue> = LazyLock::new(|| {
    let v = format!(
        "default-src 'none'; style-src {CSS_HASH}; script-src {SCRIPT_HASH}; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    );
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"))
});

/// The web origin (`scheme://host[:port]`) of an absolute http(s) URL, when
/// it is plain enough to stand in a Content-Security-Policy.
pub(crate) fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    let plain =
        !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    (matches!(scheme, "http" | "https") && plain).then(|| format!("{scheme}://{}", host.to_ascii_lowercase()))
}

/// [`page`], whose forms may also lead to `origin`: the session page's
/// "Open in the host app" answers with a redirect to the host app, which
/// `form-action 'self'` would block.
pub(crate) fn page_with_form_to(status: StatusCode, markup: Markup, origin: Option<&str>) -> Response {
    let mut res = page(status, markup);
    if let Some(o) = origin {
        let csp = CSP.to_str().unwrap_or_default().replace("form-action 'self'", &format!("form-action 'self' {o}"));
        if let Ok(v) = HeaderValue::from_str(&csp) {
            res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
        }
    }
    res
}

/// A page with the console's security headers: never cached, never framed,
/// no referrer (pages can hold a host-app link with a session token).
pub(crate) fn page(status: StatusCode, markup: Markup) -> Response {
    let mut res = (status, markup).into_response();
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::CONTENT_SECURITY_POLICY, CSP.clone());
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    res
}

/// The frame of every page: a nav whose links depend on the person's roles.
pub(crate) fn layout(title: &str, who: Option<&SignedIn>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · actas" }
                style { (PreEscaped(CSS)) }
            }
            body {
                header.top {
                    a.brand href="/" { "actas" }
                    @if let Some(w) = who {
                        nav aria-label="Console" {
                            ul {
                                li { a href="/" aria-current=[current_link("/", &w.path)] { "Home" } }
                                @for (href, text) in links(&w.staff) {
                                    li { a href=(href) aria-current=[current_link(href, &w.path)] { (text) } }
                                }
                            }
                        }
                        span.who { (w.staff.name) }
                        form method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(w.csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
                script { (PreEscaped(SCRIPT)) }
            }
        }
    }
}

/// `aria-current="page"` for the nav link to the page being shown.
fn current_link(href: &str, here: &str) -> Option<&'static str> {
    (here == href).then_some("page")
}

/// The pages a person's roles open, as (address, link text).
pub(crate) fn links(staff: &actas_core::model::Staff) -> Vec<(&'static str, &'static str)> {
    let mut v = Vec::new();
    if staff.has(Role::Lead) {
        v.push(("/queue", "Approval queue"));
    }
    if staff.has(Role::Lead) || staff.has(Role::Auditor) {
        v.push(("/audit", "Audit trail"));
        v.push(("/measures", "Measures"));
    }
    if staff.has(Role::Auditor) || staff.has(Role::Admin) {
        v.push(("/audit/verify", "Verify the trail"));
    }
    if staff.has(Role::Admin) {
        v.extend([("/staff", "Staff"), ("/apps", "Apps"), ("/webhooks", "Webhooks"), ("/policy", "Policy")]);
    }
    v
}

/// Every byte but the unreserved ones (RFC 3986: letters, digits, `-._~`).
const RESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Percent-encodes `s` for a query value or a path segment.
pub(crate) fn encode(s: &str) -> String {
    utf8_percent_encode(s, RESERVED).to_string()
}

/// A query string from its non-empty pairs.
pub(crate) fn query_string(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The version of a live box's content: changes exactly when it does.
pub(crate) fn version(m: &Markup) -> String {
    hex::encode(&Sha256::digest(m.0.as_bytes())[..12])
}

/// A box that the console's script refreshes from `src` (a fragment of the
/// page). `version` is the version of the content the fragment answers,
/// which may differ from `inner` when the page adds an error to it.
pub(crate) fn live_box(id: &str, src: &str, version: &str, inner: Markup) -> Markup {
    html! { div id=(id) data-live=(src) data-version=(version) aria-live="polite" { (inner) } }
}

/// The answer to a `?fragment=` request: only the box's content.
pub(crate) fn fragment(inner: Markup) -> Response {
    let v = version(&inner);
    let mut res = page(StatusCode::OK, inner);
    if let Ok(v) = HeaderValue::from_str(&v) {
        res.headers_mut().insert("x-fragment-version", v);
    }
    res
}

/// What a console handler answers instead of its page.
#[derive(Debug)]
pub enum ConsoleError {
    /// Not signed in (or the sign-in ended): back to the sign-in page.
    SignIn {
        /// Whether the browser's session cookie must be cleared.
        clear: bool,
        /// Whether the session cookie must be marked Secure.
        secure: bool,
    },
    /// A page with a sentence and a status.
    Page(StatusCode, String),
    /// A page with a sentence, a status and a link to where it can be
    /// mended: (status, sentence, address, link text).
    Linked(StatusCode, String, String, String),
}

impl ConsoleError {
    pub(crate) fn forbidden(sentence: impl Into<String>) -> Self {
        ConsoleError::Page(StatusCode::FORBIDDEN, sentence.into())
    }
}

impl From<actas_core::Error> for ConsoleError {
    fn from(e: actas_core::Error) -> Self {
        let api = ApiError::from(e);
        if let ApiError::Domain(actas_core::Error::Internal(e)) = &api {
            tracing::error!(error = ?e, "internal error on a console page");
        }
        if let ApiError::Domain(actas_core::Error::Unavailable(e)) = &api {
            tracing::error!(error = ?e, "storage unavailable on a console page");
        }
        let (status, _, detail, _) = api.parts();
        ConsoleError::Page(status, detail)
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        match self {
            ConsoleError::SignIn { clear, secure } => {
                let mut res = Redirect::to("/login").into_response();
                if clear {
                    auth::set_cookie(&mut res, &auth::session_cookie("", secure, 0));
                }
                res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                res
            }
            ConsoleError::Page(status, sentence) => error_page(status, &sentence, None),
            ConsoleError::Linked(status, sentence, href, label) => error_page(status, &sentence, Some((&href, &label))),
        }
    }
}

fn error_page(status: StatusCode, sentence: &str, link: Option<(&str, &str)>) -> Response {
    let title = match status.as_u16() {
        403 => "Not allowed",
        404 => "Not found",
        409 => "Not possible right now",
        422 => "Refused",
        503 => "Temporarily unavailable",
        s if s >= 500 => "Something went wrong",
        _ => "That did not work",
    };
    let body = html! {
        p.alert role="alert" { (sentence) }
        @if let Some((href, label)) = link { p { a #fix-link href=(href) { (label) } } }
        p { a href="/" { "Back to the console" } }
    };
    page(status, layout(title, None, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;

    #[test]
    fn only_plain_web_origins_reach_the_policy() {
        assert_eq!(origin_of("https://App.example.com/support/enter").as_deref(), Some("https://app.example.com"));
        assert_eq!(origin_of("http://127.0.0.1:7879/support/enter").as_deref(), Some("http://127.0.0.1:7879"));
        assert_eq!(origin_of("https://a.test;script-src */x"), None);
        assert_eq!(origin_of("javascript://x"), None);
        assert_eq!(origin_of("https:///x"), None);
    }

    fn csp_hash(s: &str) -> String {
        format!("'sha256-{}'", STANDARD.encode(Sha256::digest(s.as_bytes())))
    }

    #[test]
    fn the_policy_allows_exactly_the_inline_style_and_script() {
        let csp = CSP.to_str().unwrap();
        assert!(csp.contains(&csp_hash(CSS)));
        assert!(csp.contains(&csp_hash(SCRIPT)));
        assert!(!csp.contains("unsafe-inline"));
        assert!(csp.contains("connect-src 'self'"), "the live boxes fetch their fragments");
    }

    #[test]
    fn only_api_paths_keep_the_problem_document() {
        for p in ["/api/v1/nowhere", "/api", "/.well-known/x", "/banner.js", "/healthz"] {
            assert!(is_api_path(p), "{p}");
        }
        for p in ["/nope", "/apix", "/banner.jsx", "/healthz/more"] {
            assert!(!is_api_path(p), "{p}");
        }
    }

    #[test]
    fn values_are_percent_encoded() {
        assert_eq!(encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(
            query_string(&[("type", "session.started"), ("agent", ""), ("since", "2026-11-25T14:00")]),
            "type=session.started&since=2026-11-25T14%3A00"
        );
    }
}
