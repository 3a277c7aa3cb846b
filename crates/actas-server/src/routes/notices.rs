//! `/api/v1/notices`

use actas_api as api;
use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::http::error::ApiError;
use crate::http::extract::{Caller, Params};
use crate::service;
use crate::AppState;

/// Paging of `GET /notices`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct NoticeQuery {
    /// The last `seq` seen (0 for the start).
    after: Option<i64>,
    /// At most this many (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// Customer notes of ended sessions, oldest first, for the host app to deliver.
#[utoipa::path(get, path = "/api/v1/notices", tag = "notices", params(NoticeQuery),
    responses((status = 200, body = api::NoticeList), (status = 401, body = api::Problem)))]
pub async fn list(
    State(st): State<AppState>,
    caller: Caller,
    Params(q): Params<NoticeQuery>,
) -> Result<Json<api::NoticeList>, ApiError> {
    let app = caller.app()?;
    let list = service::list_notices(&st.ctx, &app, q.after.unwrap_or(0), super::requests::page_size(q.limit)?).await?;
    Ok(Json(api::NoticeList { notices: list.iter().map(service::notice_view).collect() }))
}

/// The host app delivered the note (`customer.notified`).
#[utoipa::path(post, path = "/api/v1/notices/{id}/delivered", tag = "notices", params(("id" = String, Path)),
    responses((status = 200, body = api::Notice), (status = 404, body = api::Problem), (status = 409, body = api::Problem)))]
pub async fn delivered(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<api::Notice>, ApiError> {
    let app = caller.app()?;
    let n = service::notice_delivered(&st.ctx, &app, &id).await?;
    Ok(Json(service::notice_view(&n)))
}
