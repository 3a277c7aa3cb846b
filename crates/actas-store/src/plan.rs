//! How a search of the audit trail is run, so that its cost follows what it
//! returns, never the trail's length.
//!
//! Every search walks one index in seq order and stops at its limit: the
//! index of the narrowest filter it has ([`driver`]), or the trail itself.
//! A time range first becomes a seq range through `audit_time_index` (the
//! earliest and latest `at` of every [`TIME_BLOCK`] seqs). The store names
//! the index for SQLite (`INDEXED BY`), whose planner has no statistics to
//! choose by; PostgreSQL's planner chooses from its own.

use crate::EventFilter;

/// Seqs per row of `audit_time_index`.
pub(crate) const TIME_BLOCK: i64 = 4096;

/// The index a search walks: the one of its narrowest filter. `None`: the
/// trail in seq order (no filter, only a request, or several types).
pub(crate) fn driver(f: &EventFilter) -> Option<&'static str> {
    if f.session_id.is_some() {
        Some("audit_by_session")
    } else if f.ticket.is_some() {
        Some("audit_by_ticket")
    } else if f.account_id.is_some() {
        Some("audit_by_account")
    } else if f.agent.is_some() {
        Some("audit_by_agent")
    } else if f.types.len() == 1 {
        Some("audit_by_type")
    } else {
        None
    }
}
