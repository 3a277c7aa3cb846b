//! HTTP routes, one file per URL group under `/api/v1`.

pub mod accounts;
pub mod audit;
pub mod authorize;
pub mod banner;
pub mod connectors;
pub mod meta;
pub mod metrics;
pub mod notices;
pub mod requests;
pub mod scim;
pub mod sessions;
pub mod tickets;
pub mod webhooks;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// `201 Created` with a JSON body.
pub fn created<T: Serialize>(v: T) -> Response {
    (StatusCode::CREATED, Json(v)).into_response()
}
