//! Health, keys and the API description.

use actas_api as api;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::AppState;

/// `200` when the database answers.
#[utoipa::path(get, path = "/healthz", tag = "meta", responses((status = 200, body = api::Health), (status = 503, body = api::Health)))]
pub async fn healthz(State(st): State<AppState>) -> Response {
    let database = st.ctx.store.backend_name().to_string();
    match st.ctx.store.ping().await {
        Ok(()) => Json(api::Health { status: "ok".into(), database }).into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, Json(api::Health { status: "unavailable".into(), database }))
            .into_response(),
    }
}

/// The public keys that verify impersonation tokens.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "meta", responses((status = 200, description = "JWK set (OKP, Ed25519)")))]
pub async fn jwks(State(st): State<AppState>) -> Response {
    let now = st.ctx.clock.now();
    ([("cache-control", "public, max-age=60")], Json(st.ctx.keys.jwks(now))).into_response()
}

/// This API's OpenAPI document.
pub async fn openapi() -> Response {
    Json(crate::http::openapi()).into_response()
}
