//! `/api/v1/authorize`

use std::time::Instant;

use actas_api as api;
use axum::extract::State;
use axum::Json;

use crate::http::error::ApiError;
use crate::http::extract::{Body, Caller};
use crate::service;
use crate::AppState;

/// Asks whether the agent may do an action now. A refusal is `200` with
/// `allowed: false` and a reason code; it is audited like a yes.
#[utoipa::path(post, path = "/api/v1/authorize", tag = "authorize", request_body = api::AuthorizeRequest,
    responses((status = 200, body = api::AuthorizeResponse), (status = 400, body = api::Problem), (status = 401, body = api::Problem),
              (status = 503, description = "The audit cannot be written: the answer is no", body = api::Problem)))]
pub async fn authorize(
    State(st): State<AppState>,
    caller: Caller,
    Body(input): Body<api::AuthorizeRequest>,
) -> Result<Json<api::AuthorizeResponse>, ApiError> {
    let began = Instant::now();
    let answer = match caller.app() {
        Ok(app) => service::authorize(&st.ctx, &app, input).await.map_err(ApiError::from),
        Err(e) => Err(e),
    };
    let outcome = answer.as_ref().map(|a| a.reason.as_str()).map_err(|e| e.parts().0.as_u16());
    st.ctx.telemetry.authorize_answered(outcome, began.elapsed());
    Ok(Json(answer?))
}
