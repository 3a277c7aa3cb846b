//! The one error type of the domain and the stores.
//!
//! Each variant maps to one HTTP status and a stable problem `type` at the
//! edge; `code` fields are the stable slugs of those types.

/// A domain error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The thing asked for does not exist (or is not visible to the caller).
    #[error("{0}")]
    NotFound(String),
    /// No credentials, or credentials that are not valid.
    #[error("{0}")]
    Unauthorized(String),
    /// Valid credentials, but this person or program may not do this.
    #[error("{detail}")]
    Forbidden {
        /// Stable slug.
        code: &'static str,
        /// Human sentence.
        detail: String,
    },
    /// The body is well-formed JSON but a field breaks the wire contract:
    /// missing, too long, too many entries, or characters it may not hold.
    /// Refused before anything is read or written, and not audited.
    #[error("{detail}")]
    BadRequest {
        /// Stable slug (`invalid-body`, `too-long`, `too-many`,
        /// `invalid-characters`).
        code: &'static str,
        /// The offending field.
        field: String,
        /// Human sentence.
        detail: String,
    },
    /// The current state does not allow this (already decided, live session...).
    #[error("{detail}")]
    Conflict {
        /// Stable slug.
        code: &'static str,
        /// Human sentence.
        detail: String,
    },
    /// Well formed, but refused by a rule of the policy.
    #[error("{detail}")]
    Refused {
        /// Stable slug.
        code: &'static str,
        /// The field the rule concerns, when there is one.
        field: Option<&'static str>,
        /// Human sentence.
        detail: String,
    },
    /// The audit trail (or the database behind it) cannot be written: fail closed.
    #[error("the audit trail cannot be written")]
    Unavailable(#[source] anyhow::Error),
    /// Anything else; the details are logged, never shown.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Result with the domain error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A rule refusal (`422`).
    pub fn refused(code: &'static str, field: Option<&'static str>, detail: impl Into<String>) -> Self {
        Error::Refused { code, field, detail: detail.into() }
    }

    /// A state conflict (`409`).
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Error::Conflict { code, detail: detail.into() }
    }

    /// A permission refusal (`403`).
    pub fn forbidden(code: &'static str, detail: impl Into<String>) -> Self {
        Error::Forbidden { code, detail: detail.into() }
    }

    /// A malformed field (`400`, `invalid-body`); the detail reads
    /// "field: reason".
    pub fn bad_request(field: impl Into<String>, reason: impl Into<String>) -> Self {
        let field = field.into();
        let detail = format!("{field}: {}", reason.into());
        Error::BadRequest { code: "invalid-body", field, detail }
    }

    /// A field that breaks a bound of the wire contract (`400`), with its
    /// own slug.
    pub fn bad_input(code: &'static str, field: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::BadRequest { code, field: field.into(), detail: detail.into() }
    }

    /// Something that does not exist (`404`).
    pub fn not_found(what: impl Into<String>) -> Self {
        Error::NotFound(what.into())
    }
}
