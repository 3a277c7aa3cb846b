//! A request id on every request: the proxy's `X-Request-Id` when it sends
//! a sane one, else a new one. It names the request's log span (so every
//! log line written while answering carries it), comes back in the
//! `X-Request-Id` header, and is in every problem document, so that a
//! person reporting an error can quote it and an operator can find the
//! lines.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// The header, both ways.
pub const HEADER: &str = "x-request-id";

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being answered on this task, if any.
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Whether a proxy's id may be taken as it is: 1 to 64 characters of
/// letters, digits, `-`, `_` and `.` (nothing that could forge a log line).
fn sane(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The middleware: runs the request inside its id's span and task-local.
pub async fn tag(req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|s| sane(s))
        .map(str::to_string)
        .unwrap_or_else(|| actas_core::id::new_id("rq"));
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path());
    let mut res = REQUEST_ID.scope(id.clone(), next.run(req).instrument(span)).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(HEADER, v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_short_ids_are_taken_from_a_proxy() {
        assert!(sane("9f0c2a1e-77b1-4c3d-9a55-0c1f5c1e2d3a"));
        assert!(sane("1-67891233-abcdef012345678912345678"));
        assert!(!sane(""));
        assert!(!sane(&"a".repeat(65)));
        assert!(!sane("abc\ninjected=1"));
        assert!(!sane("a b"));
    }
}
