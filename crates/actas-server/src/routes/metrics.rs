//! `/api/v1/metrics/support` (the measures of success of support access)
//! and `/metrics` (the server's figures for Prometheus).

use actas_api as api;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use super::audit::time;
use crate::authz::{self, Act};
use crate::http::error::ApiError;
use crate::http::extract::{Caller, Params};
use crate::service::{self, MetricsQuery};
use crate::AppState;

/// The window of `GET /metrics/support`.
#[derive(Debug, Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SupportQuery {
    /// From this time (RFC 3339, inclusive); default: 30 days before `until`.
    pub since: Option<String>,
    /// Until this time (RFC 3339, exclusive); default: now.
    pub until: Option<String>,
    /// Staff have no teams in actas: only an empty value is taken, anything
    /// else is refused (`422`, `teams-undefined`).
    pub team: Option<String>,
    /// `json` (default), or `csv`: one row per session started in the
    /// window (id, ticket, agent, start, end, end reason, explainable, what
    /// is missing).
    pub format: Option<String>,
}

/// The measures of success of support access over a window: sessions,
/// median minutes of each step, the share of granted actions used (per
/// playbook, with what to leave out), denials and refusals by reason, and
/// the share of ended sessions that can be explained, with what is missing
/// from the others.
#[utoipa::path(get, path = "/api/v1/metrics/support", tag = "metrics", params(SupportQuery),
    responses((status = 200, description = "The metrics; with format=csv, one row per session",
                content((api::SupportMetrics = "application/json"), (String = "text/csv"))),
              (status = 400, description = "since or until not an RFC 3339 time, or an unknown format", body = api::Problem),
              (status = 403, body = api::Problem),
              (status = 422, description = "since not before until (window-invalid), or a team (teams-undefined)", body = api::Problem)))]
pub async fn support(
    State(st): State<AppState>,
    caller: Caller,
    Params(q): Params<SupportQuery>,
) -> Result<Response, ApiError> {
    let staff = caller.staff()?;
    authz::allow(&staff, Act::ReadSupportMetrics, st.ctx.clock.now())?;
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(ApiError::BadQuery("format must be json or csv".into())),
    };
    let query = MetricsQuery { since: time("since", q.since)?, until: time("until", q.until)?, team: q.team };
    let report = service::support_metrics(&st.ctx, &staff, query).await?;
    if csv {
        let body = crate::export::sessions_csv(&report.sessions)?;
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response());
    }
    Ok(Json(report.metrics).into_response())
}

/// The server's figures in the Prometheus text format: `authorize` answers
/// by outcome and their latency, decisions by kind, live sessions, the
/// trail's length, the writer's batches, feed subscribers and console
/// streams. For staff with the admin or auditor role (a Prometheus scrape
/// job with a personal token as its bearer).
#[utoipa::path(get, path = "/metrics", tag = "metrics",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4", content_type = "text/plain", body = String),
              (status = 401, body = api::Problem), (status = 403, body = api::Problem)))]
pub async fn prometheus(State(st): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let staff = caller.staff()?;
    let text = service::scrape(&st.ctx, &staff).await?;
    Ok(([(header::CONTENT_TYPE, crate::telemetry::CONTENT_TYPE), (header::CACHE_CONTROL, "no-store")], text)
        .into_response())
}
