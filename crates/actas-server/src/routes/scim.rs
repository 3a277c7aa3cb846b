//! `/scim/v2`: SCIM 2.0 users for an identity provider (Okta, Entra ID),
//! through an app with the `scim` permission whose key is the bearer
//! token. Bodies are read as JSON whatever their content type
//! (`application/scim+json` or `application/json`); every answer, errors
//! included, is `application/scim+json`, and every failure a SCIM error
//! body (RFC 7644 §3.12).

use actas_core::scim::ScimError;
use actas_core::Error;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, RawQuery, Request, State};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::Value;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::service::{self, Principal, ScimFailure};
use crate::AppState;

/// The content type of every SCIM answer.
pub const SCIM_JSON: &str = "application/scim+json";

/// The routes under `/scim/v2`; other addresses there are SCIM 404s.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ServiceProviderConfig", get(service_provider_config))
        .route("/ResourceTypes", get(resource_types))
        .route("/Schemas", get(schemas))
        .route("/Users", get(list_users).post(create_user))
        .route("/Users/{id}", get(get_user).put(replace_user).patch(patch_user).delete(delete_user))
        .fallback(|| async { Scim(ScimFailure::Scim(ScimError::new(404, None, "There is nothing at this address."))) })
        .method_not_allowed_fallback(|| async {
            Scim(ScimFailure::Scim(ScimError::new(405, None, "This address does not take this method.")))
        })
        // Answers carry staff members' names and addresses: never cached.
        .layer(SetResponseHeaderLayer::overriding(CACHE_CONTROL, HeaderValue::from_static("no-store")))
}

/// A SCIM answer: a JSON body with its status, or a failure as a SCIM
/// error body.
#[derive(Debug)]
pub struct Scim<T>(pub T);

fn scim_json(status: StatusCode, body: &Value) -> Response {
    let mut res = (status, body.to_string()).into_response();
    res.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    res
}

impl IntoResponse for Scim<ScimFailure> {
    fn into_response(self) -> Response {
        let e = match self.0 {
            ScimFailure::Scim(e) => e,
            ScimFailure::Domain(e) => {
                match &e {
                    Error::Internal(err) => tracing::error!(error = ?err, "internal error"),
                    Error::Unavailable(err) => tracing::error!(error = ?err, "storage unavailable"),
                    _ => {}
                }
                service::scim_error_of(&e)
            }
        };
        let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut res = scim_json(status, &e.body());
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

/// What a handler answers: `200` with a resource, or a failure.
type Answer = Result<Scim<Value>, Scim<ScimFailure>>;

impl IntoResponse for Scim<Value> {
    fn into_response(self) -> Response {
        scim_json(StatusCode::OK, &self.0)
    }
}

fn fail(e: impl Into<ScimFailure>) -> Scim<ScimFailure> {
    Scim(e.into())
}

/// The caller, from `Authorization: Bearer <app key>`; failures are SCIM
/// errors. Whether it may use SCIM is the service's question.
#[derive(Debug)]
pub struct ScimCaller(pub Principal);

impl FromRequestParts<AppState> for ScimCaller {
    type Rejection = Scim<ScimFailure>;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let unauthorized = |d: &str| fail(Error::Unauthorized(d.into()));
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| unauthorized("Send Authorization: Bearer <the key of an app with the scim permission>."))?;
        let value = header.to_str().map_err(|_| unauthorized("The Authorization header is not readable."))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauthorized("Use the Bearer scheme."))?;
        Ok(ScimCaller(service::authenticate(&state.ctx, token).await.map_err(fail)?))
    }
}

/// A request body's bytes (at most the server's body limit); the service
/// reads them as JSON once it knows the caller may send them.
#[derive(Debug)]
pub struct ScimBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for ScimBody {
    type Rejection = Scim<ScimFailure>;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state).await.map(ScimBody).map_err(|e| {
            let status = e.status().as_u16();
            let detail = if status == 413 { "The request body is larger than 64 KiB.".into() } else { e.body_text() };
            fail(ScimError::new(status, None, detail))
        })
    }
}

/// What this server supports of SCIM.
#[utoipa::path(get, path = "/scim/v2/ServiceProviderConfig", tag = "scim",
    responses((status = 200, description = "The service provider configuration (RFC 7643 §5)", content_type = "application/scim+json", body = Object),
        (status = 401, description = "No or bad credentials (a SCIM error)", content_type = "application/scim+json", body = Object),
        (status = 403, description = "Not an app with the scim permission (a SCIM error)", content_type = "application/scim+json", body = Object)))]
pub async fn service_provider_config(State(st): State<AppState>, ScimCaller(who): ScimCaller) -> Answer {
    service::scim_service_provider_config(&st.ctx, &who).map(Scim).map_err(Scim)
}

/// The resource types served: `User`.
#[utoipa::path(get, path = "/scim/v2/ResourceTypes", tag = "scim",
    responses((status = 200, description = "A list response of resource types (RFC 7643 §6)", content_type = "application/scim+json", body = Object),
        (status = 401, description = "No or bad credentials (a SCIM error)", content_type = "application/scim+json", body = Object),
        (status = 403, description = "Not an app with the scim permission (a SCIM error)", content_type = "application/scim+json", body = Object)))]
pub async fn resource_types(State(st): State<AppState>, ScimCaller(who): ScimCaller) -> Answer {
    service::scim_resource_types(&st.ctx, &who).map(Scim).map_err(Scim)
}

/// The User schema's attributes that actas keeps.
#[utoipa::path(get, path = "/scim/v2/Schemas", tag = "scim",
    responses((status = 200, description = "A list response of schemas (RFC 7643 §7)", content_type = "application/scim+json", body = Object),
        (status = 401, description = "No or bad credentials (a SCIM error)", content_type = "application/scim+json", body = Object),
        (status = 403, description = "Not an app with the scim permission (a SCIM error)", content_type = "application/scim+json", body = Object)))]
pub async fn schemas(State(st): State<AppState>, ScimCaller(who): ScimCaller) -> Answer {
    service::scim_schemas(&st.ctx, &who).map(Scim).map_err(Scim)
}

/// Staff as SCIM users, by login: `filter` (`userName eq "..."` or
/// `externalId eq "..."`), `startIndex` (from 1) and `count` (default 100,
/// at most 200).
#[utoipa::path(get, path = "/scim/v2/Users", tag = "scim",
    params(("filter" = Option<String>, Query, description = "userName eq \"...\" or externalId eq \"...\""),
        ("startIndex" = Option<i64>, Query, description = "1-based index of the first user"),
        ("count" = Option<i64>, Query, description = "At most this many users (default 100, at most 200)")),
    responses((status = 200, description = "A list response of users", content_type = "application/scim+json", body = Object),
        (status = 400, description = "An unsupported filter (invalidFilter) or a bad number (invalidValue)", content_type = "application/scim+json", body = Object),
        (status = 401, description = "No or bad credentials (a SCIM error)", content_type = "application/scim+json", body = Object),
        (status = 403, description = "Not an app with the scim permission (a SCIM error)", content_type = "application/scim+json", body = Object)))]
pub async fn list_users(State(st): State<AppState>, ScimCaller(who): ScimCaller, RawQuery(q): RawQuery) -> Answer {
    service::scim_list_users(&st.ctx, &who, q.as_deref().unwrap_or("")).await.map(Scim).map_err(Scim)
}

/// One staff member as a SCIM user; the id is their login.
#[utoipa::path(get, path = "/scim/v2/Users/{id}", tag = "scim", params(("id" = String, Path, description = "The login")),
    responses((status = 200, description = "The user", content_type = "application/scim+json", body = Object),
        (status = 401, description = "No or bad credentials (a SCIM error)", content_type = "application/scim+json", body = Object),
        (status = 403, description = "Not an app with the scim permission (a SCIM error)", content_type = "application/scim+json", body = Object),
        (status = 404, description = "No such user (a SCIM error)", content_type = "application/scim+json", body = Object)))]
pub async fn get_user(State(st): State<AppState>, ScimCaller(who): ScimCaller, Path(id): Path<String>) -> Answer {
    service::scim_get_user(&st.ctx, &who, &id).await.map(Scim).map_err(Scim)
}

/// Creates a staff member (`staff.created`) with the role `agent` and no
/// password: `userName` (lowercased) is the login, `displayName` or `name`
/// the name; `active: false` disables them at once.
#[utoipa::path(post, path = "/scim/v2/Users", tag = "scim",
    request_body(content = Object, content_type = "application/scim+json", description = "A SCIM User"),
    responses((status = 201, description = "The new user; Location is its address", content_type = "application/scim+json", body = Object),
        (status = 400, description = "Not JSON (invalidSyntax), or a value actas does not take (invalidValue)", content_type = "application/scim+json", body = Object),
        (status = 401, description = "No or bad credentials (a SCIM error)", content_type = "application/scim+json", body = Object),
        (status = 403, description = "Not an app with the scim permission (a SCIM error)", content_type = "application/scim+json", body = Object),
        (status = 409, description = "The userName or externalId is taken (uniqueness)", content_type = "application/scim+json", body = Object)))]
pub async fn create_user(
    State(st): State<AppState>,
    ScimCaller(who): ScimCaller,
    ScimBody(body): ScimBody,
) -> Response {
    match service::scim_create_user(&st.ctx, &who, &body).await {
        Ok(user) => {
            let mut res = scim_json(StatusCode::CREATED, &user);
            if let Some(loc) = user["meta"]["location"].as_str().and_then(|l| HeaderValue::from_str(l).ok()) {
                res.headers_mut().insert(LOCATION, loc);
            }
            res
        }
        Err(e) => Scim(e).into_response(),
    }
}

/// Replaces a user with the one sent (`userName` cannot change): a new
/// name is `staff.updated`, `active: false` disables (ending a live
/// session), `active: true` enables.
#[utoipa::path(put, path = "/scim/v2/Users/{id}", tag = "scim", params(("id" = String, Path, description = "The login")),
    request_body(content = Object, content_type = "application/scim+json", description = "A SCIM User"),
    responses((status = 200, description = "The user now", content_type = "application/scim+json", body = Object),
        (status = 400, description = "Not JSON (invalidSyntax), a bad value (invalidValue), another userName (mutability)", content_type = "application/scim+json", body = Object),
        (status = 401, description = "No or bad credentials (a SCIM error)", content_type = "application/scim+json", body = Object),
        (status = 403, description = "Not an app with the scim permission (a SCIM error)", content_type = "application/scim+json", body = Object),
        (status = 404, description = "No such user (a SCIM error)", content_type = "application/scim+json", body = Object),
        (status = 409, description = "The externalId is taken (uniqueness)", content_type = "application/scim+json", body = Object)))]
pub async fn replace_user(
    State(st): State<AppState>,
    ScimCaller(who): ScimCaller,
    Path(id): Path<String>,
    ScimBody(body): ScimBody,
) -> Answer {
    service::scim_replace_user(&st.ctx, &who, &id, &body).await.map(Scim).map_err(Scim)
}

/// Changes a user by a PatchOp, in Okta's or Entra ID's form: `active`
/// (also "True"/"False"), `displayName`, `name`, `externalId`, `emails`.
#[utoipa::path(patch, path = "/scim/v2/Users/{id}", tag = "scim", params(("id" = String, Path, description = "The login")),
    request_body(content = Object, content_type = "application/scim+json", description = "A SCIM PatchOp"),
    responses((status = 200, description = "The user now", content_type = "application/scim+json", body = Object),
        (status = 400, description = "Not a PatchOp (invalidSyntax), a bad value (invalidValue), userName changed (mutability)", content_type = "application/scim+json", body = Object),
        (status = 401, description = "No or bad credentials (a SCIM error)", content_type = "application/scim+json", body = Object),
        (status = 403, description = "Not an app with the scim permission (a SCIM error)", content_type = "application/scim+json", body = Object),
        (status = 404, description = "No such user (a SCIM error)", content_type = "application/scim+json", body = Object),
        (status = 409, description = "The externalId is taken (uniqueness)", content_type = "application/scim+json", body = Object)))]
pub async fn patch_user(
    State(st): State<AppState>,
    ScimCaller(who): ScimCaller,
    Path(id): Path<String>,
    ScimBody(body): ScimBody,
) -> Answer {
    service::scim_patch_user(&st.ctx, &who, &id, &body).await.map(Scim).map_err(Scim)
}

/// Deprovisions a user: disables them (ending a live session as
/// `staff_disabled`), never deletes them, since the trail names them.
#[utoipa::path(delete, path = "/scim/v2/Users/{id}", tag = "scim", params(("id" = String, Path, description = "The login")),
    responses((status = 204, description = "Disabled (or disabled already)"),
        (status = 401, description = "No or bad credentials (a SCIM error)", content_type = "application/scim+json", body = Object),
        (status = 403, description = "Not an app with the scim permission (a SCIM error)", content_type = "application/scim+json", body = Object),
        (status = 404, description = "No such user (a SCIM error)", content_type = "application/scim+json", body = Object)))]
pub async fn delete_user(State(st): State<AppState>, ScimCaller(who): ScimCaller, Path(id): Path<String>) -> Response {
    match service::scim_delete_user(&st.ctx, &who, &id).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => Scim(e).into_response(),
    }
}
