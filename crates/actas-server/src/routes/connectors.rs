//! `/api/v1/connectors`: the ticket systems' webhooks.
//!
//! Each takes the system's own body and headers as sent; the caller is the
//! connector app whose secret signed the delivery (no app key: the systems
//! send none).

use actas_api as api;
use actas_core::connector::Connector;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::http::error::ApiError;
use crate::service;
use crate::views;
use crate::AppState;

/// A Zendesk webhook: `X-Zendesk-Webhook-Signature` is the base64
/// HMAC-SHA256, under the connector's secret, of the
/// `X-Zendesk-Webhook-Signature-Timestamp` value followed by the raw body.
/// A solved or closed ticket ends its live sessions (`ticket_closed`).
#[utoipa::path(post, path = "/api/v1/connectors/zendesk/{app_id}", tag = "connectors",
    params(("app_id" = String, Path, description = "The connector app")),
    request_body(content = Object, description = "The body Zendesk sends, as the webhook's JSON template makes it"),
    responses((status = 201, description = "A new ticket", body = api::Delivery),
              (status = 200, description = "A known ticket, changed or not", body = api::Delivery),
              (status = 409, description = "A replayed delivery, or a ticket moved to another account", body = api::Problem)),
    security(()))]
pub async fn zendesk(
    State(st): State<AppState>,
    Path(app_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    receive(st, Connector::Zendesk, &app_id, &headers, &body).await
}

/// A Jira Service Management webhook: `X-Hub-Signature: sha256=<hex
/// HMAC-SHA256 of the raw body under the connector's secret>`; the body's
/// `timestamp` dates it. A done issue ends its live sessions.
#[utoipa::path(post, path = "/api/v1/connectors/jira/{app_id}", tag = "connectors",
    params(("app_id" = String, Path, description = "The connector app")),
    request_body(content = Object, description = "The body Jira sends for a `jira:issue_created` or `jira:issue_updated` event"),
    responses((status = 201, description = "A new ticket", body = api::Delivery),
              (status = 200, description = "A known ticket, changed or not", body = api::Delivery),
              (status = 409, description = "A replayed delivery, or a ticket moved to another account", body = api::Problem)),
    security(()))]
pub async fn jira(
    State(st): State<AppState>,
    Path(app_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    receive(st, Connector::Jira, &app_id, &headers, &body).await
}

async fn receive(
    st: AppState,
    kind: Connector,
    app_id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let got = service::receive(&st.ctx, kind, app_id, &header, body).await?;
    let view = api::Delivery {
        ticket: views::ticket(&st.ctx.policy, &got.ticket),
        outcome: got.outcome.to_string(),
        sessions_ended: got.sessions_ended.into_iter().map(Into::into).collect(),
    };
    Ok(if got.outcome == "created" { super::created(view) } else { Json(view).into_response() })
}
