//! `/api/v1/webhooks`: the endpoints that receive audit events, their
//! delivery log, a replay and a resume; for admins. Endpoints are added
//! with `actas webhook add`.

use actas_api as api;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;

use crate::http::error::ApiError;
use crate::http::extract::Caller;
use crate::service;
use crate::views;
use crate::AppState;

/// Every endpoint.
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks",
    responses((status = 200, body = api::WebhookList), (status = 401, body = api::Problem), (status = 403, body = api::Problem)))]
pub async fn list(State(st): State<AppState>, caller: Caller) -> Result<Json<api::WebhookList>, ApiError> {
    let staff = caller.staff()?;
    let hooks = service::list_webhooks(&st.ctx, &staff).await?;
    Ok(Json(api::WebhookList { webhooks: hooks.iter().map(views::webhook).collect() }))
}

/// An endpoint's latest attempts, the latest first: which event, when, and
/// what the receiver answered (never the payload).
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 200, body = api::WebhookDeliveries), (status = 401, body = api::Problem), (status = 403, body = api::Problem), (status = 404, body = api::Problem)))]
pub async fn deliveries(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<api::WebhookDeliveries>, ApiError> {
    let staff = caller.staff()?;
    let (w, log) = service::deliveries(&st.ctx, &staff, &id).await?;
    Ok(Json(api::WebhookDeliveries {
        webhook: views::webhook(&w),
        deliveries: log.iter().map(views::delivery).collect(),
    }))
}

/// Sends a logged delivery's event again, now; answers the new attempt.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/deliveries/{delivery_id}/replay", tag = "webhooks",
    params(("id" = String, Path), ("delivery_id" = String, Path)),
    responses((status = 202, body = api::WebhookDelivery), (status = 401, body = api::Problem), (status = 403, body = api::Problem), (status = 404, body = api::Problem)))]
pub async fn replay(
    State(st): State<AppState>,
    caller: Caller,
    Path((id, delivery_id)): Path<(String, String)>,
) -> Result<(StatusCode, Json<api::WebhookDelivery>), ApiError> {
    let staff = caller.staff()?;
    let d = service::replay_delivery(&st.ctx, &staff, &id, &delivery_id).await?;
    Ok((StatusCode::ACCEPTED, Json(views::delivery(&d))))
}

/// Removes an endpoint and its delivery log (`webhook.removed`).
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 200, body = api::Webhook), (status = 401, body = api::Problem), (status = 403, body = api::Problem), (status = 404, body = api::Problem)))]
pub async fn remove(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<api::Webhook>, ApiError> {
    let staff = caller.staff()?;
    let w = service::remove_webhook_as(&st.ctx, &staff, &id).await?;
    Ok(Json(views::webhook(&w)))
}

/// Resumes a paused endpoint from the event it stopped at.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/resume", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 200, body = api::Webhook), (status = 401, body = api::Problem), (status = 403, body = api::Problem), (status = 404, body = api::Problem), (status = 409, body = api::Problem)))]
pub async fn resume(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<api::Webhook>, ApiError> {
    let staff = caller.staff()?;
    let w = service::resume_webhook(&st.ctx, &staff, &id).await?;
    Ok(Json(views::webhook(&w)))
}
