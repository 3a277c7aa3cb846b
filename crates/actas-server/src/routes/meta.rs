//! Health, keys and the API description.

use std::sync::Arc;
use std::time::Duration;

use actas_api as api;
use actas_store::Engine;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use utoipa::openapi::OpenApi;

use crate::AppState;

/// How long `/healthz` waits for a probe write before calling it failed.
const WRITE_CHECK: Duration = Duration::from_secs(5);

/// `200` when the database answers and a write can be committed; `503`
/// with a reason otherwise. A writer that cannot commit (a full disk, a
/// read-only file, a database away) makes the server unavailable even
/// while reads work, because every answer of `authorize` is a write.
#[utoipa::path(get, path = "/healthz", tag = "meta", responses((status = 200, body = api::Health), (status = 503, body = api::Health)))]
pub async fn healthz(State(st): State<AppState>) -> Response {
    let database = match st.ctx.store.engine() {
        Engine::Postgres => api::Database::Postgres,
        Engine::Sqlite => api::Database::Sqlite,
    };
    let failure = match st.ctx.store.ping().await {
        Err(e) => Some(("database unreachable", causes(&e))),
        Ok(()) if !st.ctx.store.writer_alive() => Some(("writer stopped", "the writer task has ended".into())),
        Ok(()) => match tokio::time::timeout(WRITE_CHECK, st.ctx.store.check_writes()).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(("writes cannot be committed", causes(&e))),
            Err(_) => Some(("writes cannot be committed", format!("no commit within {WRITE_CHECK:?}"))),
        },
    };
    match failure {
        None => Json(api::Health { status: api::HealthStatus::Ok, database, reason: None }).into_response(),
        Some((reason, detail)) => {
            tracing::warn!(reason, %detail, "unhealthy");
            let body = api::Health { status: api::HealthStatus::Unavailable, database, reason: Some(reason.into()) };
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
    }
}

/// An error and its causes on one line, for the log.
fn causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// The public keys that verify impersonation tokens.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "meta", responses((status = 200, description = "JWK set (OKP, Ed25519)")))]
pub async fn jwks(State(st): State<AppState>) -> Response {
    let now = st.ctx.clock.now();
    ([("cache-control", "public, max-age=60")], Json(st.ctx.keys.jwks(now))).into_response()
}

/// This API's OpenAPI document, made once when the router is built
/// (`crate::http::router`) and handed to every call.
pub async fn openapi(doc: Arc<OpenApi>) -> Response {
    Json(doc.as_ref()).into_response()
}
