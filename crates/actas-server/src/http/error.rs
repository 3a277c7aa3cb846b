//! The one mapping from errors to RFC 9457 problem documents.
//!
//! Every error leaves the server through [`ApiError`]: a stable `type`
//! (`urn:actas:problem:<slug>`), a title, the status and a human `detail`.
//! Internal errors are logged in full and answered with a generic detail.

use actas_api::Problem;
use actas_core::Error;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// An error on its way to the client.
#[derive(Debug)]
pub enum ApiError {
    /// A domain or storage error.
    Domain(Error),
    /// The body is over the limit.
    TooLarge,
    /// The body is not the JSON this endpoint takes.
    BadBody(String),
    /// Query parameters that do not parse.
    BadQuery(String),
    /// No such route.
    NoRoute,
    /// The route exists, not with this method.
    BadMethod,
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError::Domain(e)
    }
}

/// The problem type URI of a slug.
pub fn problem_type(slug: &str) -> String {
    format!("urn:actas:problem:{slug}")
}

fn title(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "Malformed request",
        401 => "Not authenticated",
        403 => "Not allowed",
        404 => "Not found",
        405 => "Method not allowed",
        409 => "Conflicting state",
        413 => "Body too large",
        422 => "Refused by a rule",
        503 => "Temporarily unavailable",
        _ => "Internal error",
    }
}

impl ApiError {
    /// Status, slug, detail and field of this error.
    pub fn parts(&self) -> (StatusCode, String, String, Option<String>) {
        match self {
            ApiError::Domain(e) => match e {
                Error::NotFound(d) => (StatusCode::NOT_FOUND, "not-found".into(), d.clone(), None),
                Error::Unauthorized(d) => (StatusCode::UNAUTHORIZED, "unauthorized".into(), d.clone(), None),
                Error::Forbidden { code, detail } => {
                    (StatusCode::FORBIDDEN, code.as_str().into(), detail.clone(), None)
                }
                Error::BadRequest { code, field, detail } => {
                    (StatusCode::BAD_REQUEST, code.as_str().into(), detail.clone(), Some(field.clone()))
                }
                Error::Conflict { code, detail } => (StatusCode::CONFLICT, code.as_str().into(), detail.clone(), None),
                Error::Refused { code, field, detail } => {
                    (StatusCode::UNPROCESSABLE_ENTITY, code.as_str().into(), detail.clone(), field.map(str::to_string))
                }
                Error::Unavailable(_) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable".into(),
                    "The audit trail cannot be written right now, so nothing was done. Try again shortly.".into(),
                    None,
                ),
                Error::Internal(_) => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal".into(),
                    "Something went wrong on our side; it was logged.".into(),
                    None,
                ),
            },
            ApiError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "body-too-large".into(),
                "The request body is larger than 64 KiB.".into(),
                None,
            ),
            ApiError::BadBody(d) => {
                (StatusCode::BAD_REQUEST, "malformed-body".into(), format!("The body is not valid: {d}"), None)
            }
            ApiError::BadQuery(d) => {
                (StatusCode::BAD_REQUEST, "malformed-query".into(), format!("The query is not valid: {d}"), None)
            }
            ApiError::NoRoute => {
                (StatusCode::NOT_FOUND, "not-found".into(), "There is nothing at this address.".into(), None)
            }
            ApiError::BadMethod => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed".into(),
                "This address does not take this method.".into(),
                None,
            ),
        }
    }

    /// The problem document.
    pub fn problem(&self) -> Problem {
        let (status, slug, detail, field) = self.parts();
        Problem {
            kind: problem_type(&slug),
            title: title(status).into(),
            status: status.as_u16(),
            detail,
            field,
            request_id: super::request_id::current(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Domain(Error::Internal(e)) => tracing::error!(error = ?e, "internal error"),
            ApiError::Domain(Error::Unavailable(e)) => {
                tracing::error!(error = ?e, "storage unavailable")
            }
            _ => {}
        }
        let problem = self.problem();
        let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut res = (status, body).into_response();
        res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actas_core::Code;

    #[test]
    fn every_error_kind_maps_to_one_status_and_type() {
        let cases: Vec<(ApiError, u16, &str)> = vec![
            (Error::not_found("x").into(), 404, "not-found"),
            (Error::Unauthorized("x".into()).into(), 401, "unauthorized"),
            (Error::forbidden(Code::SelfApproval, "x").into(), 403, "self-approval"),
            (Error::bad_request("action", "x").into(), 400, "invalid-body"),
            (Error::bad_input(Code::TooLong, "reason", "x").into(), 400, "too-long"),
            (Error::conflict(Code::AlreadyDecided, "x").into(), 409, "already-decided"),
            (Error::refused(Code::ReasonVague, Some("reason"), "x").into(), 422, "reason-vague"),
            (Error::Unavailable(anyhow::anyhow!("disk")).into(), 503, "unavailable"),
            (Error::Internal(anyhow::anyhow!("secret detail")).into(), 500, "internal"),
            (ApiError::TooLarge, 413, "body-too-large"),
            (ApiError::BadBody("x".into()), 400, "malformed-body"),
            (ApiError::BadQuery("x".into()), 400, "malformed-query"),
            (ApiError::NoRoute, 404, "not-found"),
            (ApiError::BadMethod, 405, "method-not-allowed"),
        ];
        for (e, status, slug) in cases {
            let p = e.problem();
            assert_eq!(p.status, status);
            assert_eq!(p.kind, format!("urn:actas:problem:{slug}"));
            assert!(!p.detail.contains("secret detail"));
        }
    }
}
