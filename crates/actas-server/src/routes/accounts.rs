//! `/api/v1/accounts`

use actas_api as api;
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

/// The customer allows support into the account for some hours (the host
/// app records it).
#[utoipa::path(post, path = "/api/v1/accounts/{id}/grants", tag = "accounts", params(("id" = String, Path)), request_body = api::NewGrant,
    responses((status = 201, body = api::Grant), (status = 401, body = api::Problem), (status = 403, body = api::Problem), (status = 422, body = api::Problem)))]
pub async fn grant(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(input): Body<api::NewGrant>,
) -> Result<Response, ApiError> {
    let app = caller.app()?;
    let g = service::grant_access(&st.ctx, &app, &id, input).await?;
    Ok(super::created(views::grant(&g, st.ctx.clock.now())))
}

/// Who withdraws the grant (`DELETE /accounts/{id}/grants`).
#[derive(Debug, Deserialize, IntoParams)]
pub struct Withdrawal {
    /// Who withdraws it, as the host app names the customer's user; "The
    /// customer" when not given.
    revoked_by: Option<String>,
}

/// The customer's kill switch: withdraws every live grant; the live
/// sessions on the account end at once (`customer_revoked`).
#[utoipa::path(delete, path = "/api/v1/accounts/{id}/grants", tag = "accounts", params(("id" = String, Path), Withdrawal),
    responses((status = 200, body = api::Consent), (status = 401, body = api::Problem), (status = 403, body = api::Problem)))]
pub async fn revoke(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(q): Params<Withdrawal>,
) -> Result<Json<api::Consent>, ApiError> {
    let app = caller.app()?;
    let ended = service::revoke_access(&st.ctx, &app, &id, q.revoked_by).await?;
    let (required, grants) = service::consent(&st.ctx, &crate::service::Principal::App(app), &id).await?;
    let mut c = views::consent(&id, required, &grants, st.ctx.clock.now());
    c.sessions_ended = Some(u32::try_from(ended).unwrap_or(u32::MAX));
    Ok(Json(c))
}

/// Whether the account needs its customer's grant, the live one and the
/// latest ones.
#[utoipa::path(get, path = "/api/v1/accounts/{id}/grants", tag = "accounts", params(("id" = String, Path)),
    responses((status = 200, body = api::Consent), (status = 401, body = api::Problem), (status = 403, body = api::Problem)))]
pub async fn grants(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<api::Consent>, ApiError> {
    let who = caller.staff_or_app()?;
    let (required, grants) = service::consent(&st.ctx, &who, &id).await?;
    Ok(Json(views::consent(&id, required, &grants, st.ctx.clock.now())))
}

/// Whether this one account asks for its customer's grant before any
/// support session, whatever the apps say.
#[utoipa::path(put, path = "/api/v1/accounts/{id}/consent", tag = "accounts", params(("id" = String, Path)), request_body = api::AccountConsent,
    responses((status = 200, body = api::Consent), (status = 401, body = api::Problem), (status = 403, body = api::Problem)))]
pub async fn set_consent(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(input): Body<api::AccountConsent>,
) -> Result<Json<api::Consent>, ApiError> {
    let app = caller.app()?;
    service::set_account_consent(&st.ctx, &app, &id, input).await?;
    let (required, grants) = service::consent(&st.ctx, &crate::service::Principal::App(app), &id).await?;
    Ok(Json(views::consent(&id, required, &grants, st.ctx.clock.now())))
}
