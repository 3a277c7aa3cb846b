//! `/api/v1/requests`

use actas_api as api;
use actas_core::model::RequestStatus;
use actas_store::RequestFilter;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::http::error::ApiError;
use crate::http::extract::{Body, Caller, Params};
use crate::service;
use crate::views;
use crate::AppState;

/// Opens a request from a ticket.
#[utoipa::path(post, path = "/api/v1/requests", tag = "requests", request_body = api::NewRequest,
    responses((status = 201, body = api::Request), (status = 400, body = api::Problem), (status = 401, body = api::Problem),
              (status = 403, body = api::Problem), (status = 422, description = "Refused by a rule (audited as request.refused)", body = api::Problem)))]
pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    Body(input): Body<api::NewRequest>,
) -> Result<Response, ApiError> {
    let staff = caller.staff()?;
    let r = service::create_request(&st.ctx, &staff, input).await?;
    Ok(super::created(views::request(&st.ctx.policy, &r)))
}

/// A page size from `?limit=`: default 100, 1 to 1000, else a 400.
pub(crate) fn page_size(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit.unwrap_or(100) {
        n @ 1..=1000 => Ok(n),
        _ => Err(ApiError::BadQuery("limit must be between 1 and 1000".into())),
    }
}

/// Filters of `GET /requests`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only requests in this state.
    status: Option<RequestStatus>,
    /// Only this ticket.
    ticket: Option<String>,
    /// Only this requester.
    requester: Option<String>,
    /// At most this many (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// Lists requests, oldest first (`?status=pending` is the approval queue).
#[utoipa::path(get, path = "/api/v1/requests", tag = "requests", params(ListQuery),
    responses((status = 200, body = api::RequestList), (status = 403, body = api::Problem)))]
pub async fn list(
    State(st): State<AppState>,
    caller: Caller,
    Params(q): Params<ListQuery>,
) -> Result<Json<api::RequestList>, ApiError> {
    let staff = caller.staff()?;
    let f = RequestFilter {
        status: q.status,
        requester: q.requester,
        ticket: q.ticket,
        session_id: None,
        limit: Some(page_size(q.limit)?),
    };
    let list = service::list_requests(&st.ctx, &staff, f).await?;
    Ok(Json(api::RequestList { requests: list.iter().map(|r| views::request(&st.ctx.policy, r)).collect() }))
}

/// A request with its decision and sessions.
#[utoipa::path(get, path = "/api/v1/requests/{id}", tag = "requests", params(("id" = String, Path)),
    responses((status = 200, body = api::Request), (status = 404, body = api::Problem)))]
pub async fn get(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<api::Request>, ApiError> {
    let (r, d, s) = service::get_request(&st.ctx, &caller.0, &id).await?;
    let p = &st.ctx.policy;
    let mut v = views::request(p, &r);
    v.decisions = d.iter().map(|d| views::decision(p, d)).collect();
    v.sessions = s.iter().map(|s| views::session(p, s)).collect();
    Ok(Json(v))
}

/// Approves, possibly narrowed, expanded or shortened.
#[utoipa::path(post, path = "/api/v1/requests/{id}/approve", tag = "requests", params(("id" = String, Path)), request_body = api::Approve,
    responses((status = 200, body = api::Request), (status = 403, description = "Self-approval, or roles that do not cover an action", body = api::Problem),
              (status = 409, description = "Decided already", body = api::Problem), (status = 422, body = api::Problem)))]
pub async fn approve(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(input): Body<api::Approve>,
) -> Result<Json<api::Request>, ApiError> {
    let staff = caller.staff()?;
    let r = service::approve(&st.ctx, &staff, &id, input).await?;
    Ok(Json(views::request(&st.ctx.policy, &r)))
}

/// Denies, with a note.
#[utoipa::path(post, path = "/api/v1/requests/{id}/deny", tag = "requests", params(("id" = String, Path)), request_body = api::Note,
    responses((status = 200, body = api::Request), (status = 403, body = api::Problem), (status = 409, body = api::Problem), (status = 422, body = api::Problem)))]
pub async fn deny(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(input): Body<api::Note>,
) -> Result<Json<api::Request>, ApiError> {
    let staff = caller.staff()?;
    let r = service::deny(&st.ctx, &staff, &id, input.note).await?;
    Ok(Json(views::request(&st.ctx.policy, &r)))
}

/// The requester withdraws the request.
#[utoipa::path(post, path = "/api/v1/requests/{id}/withdraw", tag = "requests", params(("id" = String, Path)),
    responses((status = 200, body = api::Request), (status = 403, body = api::Problem), (status = 409, body = api::Problem)))]
pub async fn withdraw(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<api::Request>, ApiError> {
    let staff = caller.staff()?;
    let r = service::withdraw(&st.ctx, &staff, &id).await?;
    Ok(Json(views::request(&st.ctx.policy, &r)))
}

/// The requester starts the session: answers it with the host app's token.
#[utoipa::path(post, path = "/api/v1/requests/{id}/start", tag = "requests", params(("id" = String, Path)), request_body = api::StartSession,
    responses((status = 201, body = api::Started), (status = 403, body = api::Problem),
              (status = 409, description = "Not approved, approval expired, or a live session exists", body = api::Problem)))]
pub async fn start(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(input): Body<api::StartSession>,
) -> Result<Response, ApiError> {
    let staff = caller.staff()?;
    let (s, token) = service::start(&st.ctx, &staff, &id, input.app).await?;
    Ok(super::created(api::Started { session: views::session(&st.ctx.policy, &s), token }))
}
