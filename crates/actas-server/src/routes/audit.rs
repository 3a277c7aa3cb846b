//! `/api/v1/audit`

use actas_api as api;
use actas_core::audit::EventType;
use actas_store::EventFilter;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::http::error::ApiError;
use crate::http::extract::{Caller, Params};
use crate::service;
use crate::views;
use crate::AppState;

/// Filters and paging of `GET /audit`.
#[derive(Debug, Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Customer account.
    pub account: Option<String>,
    /// Staff login: events about their access or done by them.
    pub agent: Option<String>,
    /// Ticket reference.
    pub ticket: Option<String>,
    /// Session id.
    pub session: Option<String>,
    /// Event type; several separated by commas.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// From this time (RFC 3339, inclusive).
    pub since: Option<String>,
    /// Until this time (RFC 3339, exclusive).
    pub until: Option<String>,
    /// Page size: default 100, at most 1000.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// `json` (default), `jsonl`, `csv` or `text`.
    pub format: Option<String>,
}

/// An RFC 3339 time of the query, or a 400 naming `field`.
pub(crate) fn time(field: &str, v: Option<String>) -> Result<Option<DateTime<Utc>>, ApiError> {
    v.map(|s| {
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.to_utc())
            .map_err(|_| ApiError::BadQuery(format!("{field} must be an RFC 3339 time, like 2026-11-25T14:00:00Z")))
    })
    .transpose()
}

/// Builds the store filter from the query.
pub fn filter(q: AuditQuery) -> Result<(EventFilter, String), ApiError> {
    let types = match q.kind {
        Some(t) => t
            .split(',')
            .map(|s| {
                let s = s.trim();
                s.parse::<EventType>().map_err(|_| ApiError::BadQuery(format!("unknown event type \"{s}\"")))
            })
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    let after_seq = q
        .cursor
        .map(|c| c.parse::<i64>().map_err(|_| ApiError::BadQuery("cursor is not one this server gave".into())))
        .transpose()?;
    let format = q.format.unwrap_or_else(|| "json".into());
    if !["json", "jsonl", "csv", "text"].contains(&format.as_str()) {
        return Err(ApiError::BadQuery("format must be json, jsonl, csv or text".into()));
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=service::MAX_PAGE).contains(&limit) {
        return Err(ApiError::BadQuery("limit must be between 1 and 1000".into()));
    }
    Ok((
        EventFilter {
            account_id: q.account,
            agent: q.agent,
            ticket: q.ticket,
            session_id: q.session,
            request_id: None,
            types,
            since: time("since", q.since)?,
            until: time("until", q.until)?,
            after_seq,
            limit,
        },
        format,
    ))
}

/// Audit events, oldest first, filtered and paged.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, description = "JSON page, or JSON lines, CSV or text with the next cursor in X-Next-Cursor", body = api::AuditPage),
              (status = 400, body = api::Problem), (status = 403, body = api::Problem)))]
pub async fn list(
    State(st): State<AppState>,
    caller: Caller,
    Params(q): Params<AuditQuery>,
) -> Result<Response, ApiError> {
    let staff = caller.staff()?;
    let (f, format) = filter(q)?;
    let (events, next) = service::list_events(&st.ctx, &staff, f).await?;
    let next = next.map(|n| n.to_string());
    if format == "json" {
        return Ok(Json(api::AuditPage {
            events: events.into_iter().map(views::into_event).collect(),
            next_cursor: next,
        })
        .into_response());
    }
    let (ct, body) = crate::export::render(&events, &format)?;
    let mut res = ([(header::CONTENT_TYPE, ct)], body).into_response();
    if let Some(n) = next.and_then(|n| HeaderValue::from_str(&n).ok()) {
        res.headers_mut().insert("x-next-cursor", n);
    }
    Ok(res)
}

/// Re-computes the chain and checks the signed checkpoints.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit",
    responses((status = 200, body = api::Verification), (status = 403, body = api::Problem)))]
pub async fn verify(State(st): State<AppState>, caller: Caller) -> Result<Json<api::Verification>, ApiError> {
    crate::authz::allow(&caller.0, crate::authz::Act::VerifyAudit, st.ctx.clock.now())?;
    Ok(Json(service::verify(&st.ctx).await?))
}

/// The public keys that sign the trail's head, for auditors checking
/// checkpoints and witness lines away from this server.
#[utoipa::path(get, path = "/api/v1/audit/keys", tag = "audit",
    responses((status = 200, body = api::AuditKeys), (status = 403, body = api::Problem)))]
pub async fn keys(State(st): State<AppState>, caller: Caller) -> Result<Json<api::AuditKeys>, ApiError> {
    crate::authz::allow(&caller.0, crate::authz::Act::ReadAuditKeys, st.ctx.clock.now())?;
    if let Err(e) = st.ctx.keys.refresh(&st.ctx.store).await {
        tracing::warn!(error = %e, "answering with the keys loaded before: the stored keys cannot be loaded");
    }
    Ok(Json(views::audit_keys(&st.ctx.keys.public_keys())))
}
