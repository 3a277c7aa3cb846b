//! The claims of an impersonation token (SPEC §4): what actas signs and
//! what a host app reads, defined once for the server and the client.

use serde::{Deserialize, Serialize};

/// The RFC 8693 actor claim.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ActClaim {
    /// Staff login.
    pub sub: String,
    /// Display name.
    pub name: String,
}

/// The claims of an impersonation token (SPEC §4).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// actas base URL.
    pub iss: String,
    /// The host app's id.
    pub aud: String,
    /// The customer account.
    pub sub: String,
    /// The staff member acting.
    pub act: ActClaim,
    /// Session id.
    pub sid: String,
    /// Granted actions, space-separated.
    pub scope: String,
    /// Ticket reference.
    pub ticket: String,
    /// Issued at (seconds).
    pub iat: i64,
    /// Expiry (seconds), never after the session's end.
    pub exp: i64,
    /// Token id.
    pub jti: String,
}
