//! The one error type of the domain and the stores.
//!
//! Each variant maps to one HTTP status and a stable problem `type` at the
//! edge; `code` fields are the stable slugs of those types ([`Code`]).

use strum::{Display, IntoStaticStr, VariantArray};

/// The stable slug of a refusal: the problem document's type is
/// `urn:actas:problem:<slug>`. Every slug the domain and the stores answer
/// is here, once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, IntoStaticStr, Display, VariantArray)]
#[strum(serialize_all = "kebab-case")]
#[allow(missing_docs)] // each slug says what it refuses
pub enum Code {
    ActionsRequired,
    AlreadyDecided,
    AlreadyDelivered,
    AlreadyDisabled,
    AlreadyStarted,
    AppExists,
    AppOnly,
    AppRequired,
    AlreadyReviewed,
    BreakglassActions,
    BreakglassOff,
    ConnectorExists,
    DeliveryReplayed,
    ApprovalExpired,
    ApproverLacksRole,
    DurationInvalid,
    DurationLongerThanAsked,
    DurationTooLong,
    EntryCodeExpired,
    EntryCodeUnknown,
    EntryCodeUsed,
    EntryUrlInvalid,
    EventsInvalid,
    FieldRequired,
    GrantHoursInvalid,
    ForbiddenAction,
    InvalidBody,
    InvalidCharacters,
    LiveSessionExists,
    LoginInvalid,
    NameInvalid,
    NoCustomerGrant,
    NoHostApp,
    NotAChange,
    NotAHostApp,
    NotBreakglass,
    NotAnApprover,
    NotApproved,
    NotPaused,
    NotRequester,
    NotSessionAgent,
    NotStartable,
    NotWithdrawable,
    NotYours,
    NoteRequired,
    NothingNew,
    OriginInvalid,
    OtherSession,
    PasswordWeak,
    PermissionRequired,
    ReasonRequired,
    ReasonTooLong,
    ReasonTooShort,
    ReasonVague,
    RoleRequired,
    RolesRequired,
    SelfApproval,
    SelfReview,
    SessionEnded,
    SessionLive,
    StepupAsAsked,
    StaffExists,
    StaffOnly,
    TeamsUndefined,
    TicketByHand,
    TicketClosed,
    TicketExists,
    TicketSystemOnly,
    TooLong,
    TooMany,
    UnknownAction,
    UnknownApp,
    UnknownTicket,
    WebhookUrlInvalid,
    WindowInvalid,
    WrongAccount,
}

impl Code {
    /// The slug.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

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
        code: Code,
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
        code: Code,
        /// The offending field.
        field: String,
        /// Human sentence.
        detail: String,
    },
    /// The current state does not allow this (already decided, live session...).
    #[error("{detail}")]
    Conflict {
        /// Stable slug.
        code: Code,
        /// Human sentence.
        detail: String,
    },
    /// Well formed, but refused by a rule of the policy.
    #[error("{detail}")]
    Refused {
        /// Stable slug.
        code: Code,
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
    pub fn refused(code: Code, field: Option<&'static str>, detail: impl Into<String>) -> Self {
        Error::Refused { code, field, detail: detail.into() }
    }

    /// A state conflict (`409`).
    pub fn conflict(code: Code, detail: impl Into<String>) -> Self {
        Error::Conflict { code, detail: detail.into() }
    }

    /// A permission refusal (`403`).
    pub fn forbidden(code: Code, detail: impl Into<String>) -> Self {
        Error::Forbidden { code, detail: detail.into() }
    }

    /// A malformed field (`400`, `invalid-body`); the detail reads
    /// "field: reason".
    pub fn bad_request(field: impl Into<String>, reason: impl Into<String>) -> Self {
        let field = field.into();
        let detail = format!("{field}: {}", reason.into());
        Error::BadRequest { code: Code::InvalidBody, field, detail }
    }

    /// A field that breaks a bound of the wire contract (`400`), with its
    /// own slug.
    pub fn bad_input(code: Code, field: impl Into<String>, detail: impl Into<String>) -> Self {
        Error::BadRequest { code, field: field.into(), detail: detail.into() }
    }

    /// Something that does not exist (`404`).
    pub fn not_found(what: impl Into<String>) -> Self {
        Error::NotFound(what.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_a_distinct_lowercase_slug() {
        let slugs: Vec<&str> = Code::VARIANTS.iter().map(|c| c.as_str()).collect();
        for s in &slugs {
            assert!(s.chars().all(|c| c.is_ascii_lowercase() || c == '-'), "{s}");
            assert!(!s.starts_with('-') && !s.ends_with('-') && !s.contains("--"), "{s}");
        }
        let mut unique = slugs.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), slugs.len());
        assert_eq!(Code::LiveSessionExists.as_str(), "live-session-exists");
        assert_eq!(Code::NotAHostApp.to_string(), "not-a-host-app");
    }
}
