//! Request extractors: who is calling, and bodies and queries whose
//! failures are problem documents.

use actas_core::model::{App, Staff};
use actas_core::Code;
use actas_core::Error;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::service::{self, Principal};
use crate::AppState;

/// The authenticated caller: staff, app, or an impersonation token.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl Caller {
    /// The caller as staff; apps get 403, impersonation tokens 401.
    pub fn staff(self) -> Result<Staff, ApiError> {
        match self.0 {
            Principal::Staff(s) => Ok(s),
            Principal::App(_) => Err(Error::forbidden(Code::StaffOnly, "This call is for staff, not apps.").into()),
            Principal::Token(_) => Err(token_refused()),
        }
    }

    /// The caller as an app; staff get 403, impersonation tokens 401.
    pub fn app(self) -> Result<App, ApiError> {
        match self.0 {
            Principal::App(a) => Ok(a),
            Principal::Staff(_) => {
                Err(Error::forbidden(Code::AppOnly, "This call is for host apps, with an app key.").into())
            }
            Principal::Token(_) => Err(token_refused()),
        }
    }

    /// Staff or app; impersonation tokens 401.
    pub fn staff_or_app(self) -> Result<Principal, ApiError> {
        match self.0 {
            Principal::Token(_) => Err(token_refused()),
            p => Ok(p),
        }
    }
}

fn token_refused() -> ApiError {
    Error::Unauthorized("An impersonation token is accepted only to read, heartbeat or end its own session.".into())
        .into()
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
            ApiError::from(Error::Unauthorized("Send Authorization: Bearer <token or app key>.".into()))
        })?;
        let value = header
            .to_str()
            .map_err(|_| ApiError::from(Error::Unauthorized("The Authorization header is not readable.".into())))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::from(Error::Unauthorized("Use the Bearer scheme.".into())))?;
        let principal = service::authenticate(&state.ctx, token).await?;
        Ok(Caller(principal))
    }
}

/// A JSON body. An empty body reads as `{}`, so calls whose fields are all
/// optional may send none; unknown fields are refused.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::TooLarge
            } else {
                ApiError::BadBody(e.body_text())
            }
        })?;
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &bytes };
        serde_json::from_slice(bytes).map(Body).map_err(|e| ApiError::BadBody(e.to_string()))
    }
}

/// Query parameters; unknown parameters are refused.
#[derive(Debug)]
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or("");
        serde_urlencoded_from(q).map(Params)
    }
}

fn serde_urlencoded_from<T: DeserializeOwned>(q: &str) -> Result<T, ApiError> {
    axum::extract::Query::<T>::try_from_uri(
        &format!("/?{q}").parse().map_err(|_| ApiError::BadQuery("unreadable query".into()))?,
    )
    .map(|axum::extract::Query(v)| v)
    .map_err(|e| ApiError::BadQuery(e.body_text()))
}
