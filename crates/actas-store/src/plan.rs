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

/// The earliest and latest `at` of the events of one block of
/// `audit_time_index`.
#[derive(Debug, Clone)]
pub(crate) struct TimeBlock {
    pub(crate) block: i64,
    pub(crate) first: String,
    pub(crate) last: String,
}

/// The time blocks of the events a write batch appended, stored at its end
/// ([`STORE_BLOCK`]); a search inside the batch counts them as stored.
#[derive(Debug, Default)]
pub(crate) struct TimeBlocks(Vec<TimeBlock>);

impl TimeBlocks {
    /// Notes an appended event's time in its block.
    pub(crate) fn note(&mut self, seq: i64, at: String) {
        let block = seq / TIME_BLOCK;
        match self.0.last_mut() {
            Some(b) if b.block == block => {
                if at < b.first {
                    b.first = at;
                } else if at > b.last {
                    b.last = at;
                }
            }
            _ => self.0.push(TimeBlock { block, first: at.clone(), last: at }),
        }
    }

    /// The blocks noted, leaving none.
    pub(crate) fn take(&mut self) -> Vec<TimeBlock> {
        std::mem::take(&mut self.0)
    }

    /// The blocks noted.
    pub(crate) fn pending(&self) -> &[TimeBlock] {
        &self.0
    }
}

/// The first block whose latest time is at or after `$1`.
pub(crate) const FIRST_BLOCK: &str = "SELECT min(block) FROM audit_time_index WHERE last_at >= $1";
/// The last block whose earliest time is before `$1`.
pub(crate) const LAST_BLOCK: &str = "SELECT max(block) FROM audit_time_index WHERE first_at < $1";
/// Stores a block's times, widening what is stored.
pub(crate) const STORE_BLOCK: &str = "INSERT INTO audit_time_index (block, first_at, last_at) VALUES ($1, $2, $3) \
     ON CONFLICT (block) DO UPDATE SET \
     first_at = CASE WHEN excluded.first_at < audit_time_index.first_at THEN excluded.first_at ELSE audit_time_index.first_at END, \
     last_at = CASE WHEN excluded.last_at > audit_time_index.last_at THEN excluded.last_at ELSE audit_time_index.last_at END";

/// What [`FIRST_BLOCK`] and [`LAST_BLOCK`] answered for a search's `since`
/// and `until` (asked only when it has them).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct StoredBlocks {
    pub(crate) first: Option<i64>,
    pub(crate) last: Option<i64>,
}

/// The seqs `f` can match, `[from, to)`: after its cursor, and inside the
/// blocks (stored, or `pending` in this transaction) whose times meet its
/// time range. `None` when no event can match.
pub(crate) fn window(f: &EventFilter, pending: &[TimeBlock], stored: StoredBlocks) -> Option<(i64, i64)> {
    let mut from = f.after_seq.map_or(0, |s| s.saturating_add(1));
    let mut to = i64::MAX;
    if let Some(since) = f.since {
        let since = crate::convert::audit_at(since);
        let pending = pending.iter().filter(|t| t.last >= since).map(|t| t.block).min();
        let block = stored.first.into_iter().chain(pending).min()?;
        from = from.max(block.saturating_mul(TIME_BLOCK));
    }
    if let Some(until) = f.until {
        let until = crate::convert::audit_at(until);
        let pending = pending.iter().filter(|t| t.first < until).map(|t| t.block).max();
        let block = stored.last.into_iter().chain(pending).max()?;
        to = block.saturating_add(1).saturating_mul(TIME_BLOCK);
    }
    (from < to).then_some((from, to))
}

/// The search's conditions besides the seq window and the types, each an
/// SQL fragment to append and the text to bind after it.
pub(crate) fn conditions(f: &EventFilter) -> Vec<(&'static str, String)> {
    let columns = [
        (" AND session_id = ", &f.session_id),
        (" AND ticket = ", &f.ticket),
        (" AND account_id = ", &f.account_id),
        (" AND agent = ", &f.agent),
        (" AND request_id = ", &f.request_id),
    ];
    let mut out: Vec<(&'static str, String)> =
        columns.into_iter().filter_map(|(sql, v)| v.clone().map(|v| (sql, v))).collect();
    if let Some(v) = f.since {
        out.push((" AND at >= ", crate::convert::audit_at(v)));
    }
    if let Some(v) = f.until {
        out.push((" AND at < ", crate::convert::audit_at(v)));
    }
    out
}

/// Several types and nothing narrower: one search per type, each a walk of
/// the type index in seq order, to be [`merge`]d. `None`: one search.
pub(crate) fn per_type(f: &EventFilter) -> Option<Vec<EventFilter>> {
    (f.types.len() > 1 && driver(f).is_none())
        .then(|| f.types.iter().map(|t| EventFilter { types: vec![*t], ..f.clone() }).collect())
}

/// The per-type searches' events as one page, oldest first.
pub(crate) fn merge(mut all: Vec<actas_core::audit::Event>, limit: i64) -> Vec<actas_core::audit::Event> {
    all.sort_by_key(|e| e.seq);
    all.truncate(usize::try_from(limit).unwrap_or(0));
    all
}
