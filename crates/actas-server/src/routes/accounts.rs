//! `/api/v1/accounts`

use actas_api as api;
use axum::extract::{Path, State};
use axum::Json;

use crate::http::error::ApiError;
use crate::http::extract::Caller;
use crate::service;
use crate::AppState;

/// Who entered the account, why, and what they changed; newest first.
#[utoipa::path(get, path = "/api/v1/accounts/{id}/access-log", tag = "accounts", params(("id" = String, Path)),
    responses((status = 200, body = api::AccessLog), (status = 401, body = api::Problem)))]
pub async fn access_log(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<api::AccessLog>, ApiError> {
    let who = caller.staff_or_app()?;
    let entries = service::access_log(&st.ctx, &who, &id, 200).await?;
    Ok(Json(api::AccessLog { account_id: id, entries }))
}
