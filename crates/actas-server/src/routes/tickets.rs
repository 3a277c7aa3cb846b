//! `/api/v1/tickets`

use actas_api as api;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::http::error::ApiError;
use crate::http::extract::{Body, Caller};
use crate::service;
use crate::views;
use crate::AppState;

/// Records a ticket, or updates it as its ticket system tells it.
///
/// A new reference is created (`201`). A known reference on the same
/// account answers `200`: sent by an app (a ticket system), the ticket is
/// updated with what was sent (`ticket.updated` when anything differs; a
/// `solved` or `closed` status ends its live sessions as `ticket_closed`);
/// typed in by a staff member, it is answered as it stands. Staff may not
/// send a `status` other than `open` nor an `assignee`
/// (`ticket-system-only`, `422`).
#[utoipa::path(post, path = "/api/v1/tickets", tag = "tickets", request_body = api::NewTicket,
    responses((status = 201, description = "A new ticket", body = api::Ticket),
              (status = 200, description = "A known ticket: updated from its ticket system (an app), or as it stands (staff)", body = api::Ticket),
              (status = 401, body = api::Problem), (status = 403, body = api::Problem), (status = 409, body = api::Problem), (status = 422, body = api::Problem)))]
pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    Body(input): Body<api::NewTicket>,
) -> Result<Response, ApiError> {
    let who = caller.staff_or_app()?;
    let (t, new) = service::create_ticket(&st.ctx, &who, input).await?;
    let view = views::ticket(&st.ctx.policy, &t);
    Ok(if new { super::created(view) } else { Json(view).into_response() })
}

/// A ticket with its requests and sessions.
#[utoipa::path(get, path = "/api/v1/tickets/{ref}", tag = "tickets", params(("ref" = String, Path)),
    responses((status = 200, body = api::Ticket), (status = 404, body = api::Problem)))]
pub async fn get(
    State(st): State<AppState>,
    caller: Caller,
    Path(reference): Path<String>,
) -> Result<Json<api::Ticket>, ApiError> {
    let (t, reqs, sess) = service::get_ticket(&st.ctx, &caller.0, &reference).await?;
    let mut v = views::ticket(&st.ctx.policy, &t);
    v.requests = reqs.iter().map(|r| views::request(&st.ctx.policy, r)).collect();
    v.sessions = sess.iter().map(|s| views::session(&st.ctx.policy, s)).collect();
    Ok(Json(v))
}
