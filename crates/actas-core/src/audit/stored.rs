//! Events as the store holds them: the columns' text, borrowed, checked
//! against their hash without building an [`Event`].
//!
//! Verifying the whole trail reads every event once. Turning each row into
//! an [`Event`] (a dozen owned strings, `data` parsed into a JSON tree and
//! written back out) costs several times the hash itself, so the check
//! first hashes the canonical bytes the stored text gives as it stands:
//! `actor` and `data` are stored as their canonical JSON, and `at` in the
//! canonical format. Only a row whose bytes do not match falls back to
//! reading it in full ([`StoredEvent::to_event`]) and hashing that, so a
//! row stored in another spelling of the same content verifies as it
//! always did.
//!
//! Taking stored text as it stands is safe because each raw part must be
//! one complete JSON value: then the event's canonical bytes are a JSON
//! object whose members the grammar splits one way only, so stored text
//! that hashes to the stored hash holds exactly the content that was
//! hashed. Text that is not one JSON value never takes the fast way.

use serde::de::IgnoredAny;
use serde_json::Value;

use super::{write_canonical, Actor, At, Event, EventHasher, EventType, Fields, Json, NewEvent};

/// One `audit_events` row's columns, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredEvent<'a> {
    /// `seq`.
    pub seq: i64,
    /// `id`.
    pub id: &'a str,
    /// `at`, as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    pub at: &'a str,
    /// `type`, the dotted name.
    pub kind: &'a str,
    /// `actor`, JSON.
    pub actor: &'a str,
    /// `account_id`.
    pub account_id: Option<&'a str>,
    /// `ticket`.
    pub ticket: Option<&'a str>,
    /// `request_id`.
    pub request_id: Option<&'a str>,
    /// `session_id`.
    pub session_id: Option<&'a str>,
    /// `agent`.
    pub agent: Option<&'a str>,
    /// `data`, JSON.
    pub data: &'a str,
    /// `text`.
    pub text: &'a str,
    /// `prev_hash`.
    pub prev_hash: &'a str,
    /// `hash`.
    pub hash: &'a str,
}

impl StoredEvent<'_> {
    /// The event the row holds, or what in it cannot be read.
    pub fn to_event(&self) -> Result<Event, String> {
        let actor: Value = serde_json::from_str(self.actor).map_err(|e| format!("actor: {e}"))?;
        Ok(Event {
            seq: self.seq,
            body: NewEvent {
                id: self.id.to_string(),
                at: chrono::DateTime::parse_from_rfc3339(self.at)
                    .map_err(|e| format!("time {:?}: {e}", self.at))?
                    .to_utc(),
                kind: self.kind.parse::<EventType>().map_err(|e| format!("type {:?}: {e}", self.kind))?,
                actor: Actor::from_json(&actor)?,
                account_id: self.account_id.map(str::to_string),
                ticket: self.ticket.map(str::to_string),
                request_id: self.request_id.map(str::to_string),
                session_id: self.session_id.map(str::to_string),
                agent: self.agent.map(str::to_string),
                data: serde_json::from_str(self.data).map_err(|e| format!("data: {e}"))?,
                text: self.text.to_string(),
            },
            prev_hash: self.prev_hash.to_string(),
            hash: self.hash.to_string(),
        })
    }

    /// Appends the canonical bytes the stored text gives as it stands, or
    /// `false` (and nothing) when `actor` or `data` is not one JSON value.
    pub(super) fn write_as_stored(&self, out: &mut Vec<u8>) -> bool {
        if !one_json_value(self.actor) || !one_json_value(self.data) {
            return false;
        }
        write_canonical(
            &Fields {
                account_id: self.account_id,
                actor: Json::Raw(self.actor),
                agent: self.agent,
                at: At::Text(self.at),
                data: Json::Raw(self.data),
                id: self.id,
                request_id: self.request_id,
                seq: self.seq,
                session_id: self.session_id,
                text: self.text,
                ticket: self.ticket,
                kind: self.kind,
            },
            out,
        );
        true
    }
}

/// Whether `s` is exactly one JSON value with nothing around it.
fn one_json_value(s: &str) -> bool {
    let first = s.as_bytes().first().copied();
    let last = s.as_bytes().last().copied();
    let bare = |b: Option<u8>| b.is_some_and(|b| !b.is_ascii_whitespace());
    bare(first) && bare(last) && serde_json::from_str::<IgnoredAny>(s).is_ok()
}

/// The columns of `audit_events` a [`StoredEvent`] borrows, in their order
/// in a [`StoredPage`].
const FIELDS: usize = 13;

/// Where one row's columns end in the page's text, and which are NULL (bit
/// `i` for column `i`).
#[derive(Debug, Clone)]
struct Row {
    seq: i64,
    start: usize,
    ends: [u32; FIELDS],
    nulls: u16,
}

/// Rows of `audit_events` in seq order, their text in one buffer: what a
/// store reads to verify the chain, with two allocations a page instead of
/// a dozen an event.
#[derive(Debug, Clone, Default)]
pub struct StoredPage {
    text: String,
    rows: Vec<Row>,
}

impl StoredPage {
    /// An empty page with room for `rows` rows of about `bytes` bytes of
    /// text in all.
    pub fn with_capacity(rows: usize, bytes: usize) -> StoredPage {
        StoredPage { text: String::with_capacity(bytes), rows: Vec::with_capacity(rows) }
    }

    /// An empty page with room for `rows` rows of a usual size, so that
    /// filling it copies no text twice.
    pub fn for_rows(rows: usize) -> StoredPage {
        // An event's columns hold 400 to 700 bytes of text in most trails.
        StoredPage::with_capacity(rows, rows.saturating_mul(768))
    }

    /// Adds a row after the others.
    pub fn push(&mut self, e: &StoredEvent<'_>) {
        let start = self.text.len();
        let columns = [
            Some(e.id),
            Some(e.at),
            Some(e.kind),
            Some(e.actor),
            e.account_id,
            e.ticket,
            e.request_id,
            e.session_id,
            e.agent,
            Some(e.data),
            Some(e.text),
            Some(e.prev_hash),
            Some(e.hash),
        ];
        let mut ends = [0u32; FIELDS];
        let mut nulls = 0u16;
        for (i, column) in columns.into_iter().enumerate() {
            match column {
                Some(s) => self.text.push_str(s),
                None => nulls |= 1 << i,
            }
            // Offsets within the row: a row's text is far below 4 GiB.
            ends[i] = u32::try_from(self.text.len() - start).unwrap_or(u32::MAX);
        }
        self.rows.push(Row { seq: e.seq, start, ends, nulls });
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the page has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The last row's seq.
    pub fn last_seq(&self) -> Option<i64> {
        self.rows.last().map(|r| r.seq)
    }

    /// The rows, in order.
    pub fn iter(&self) -> impl Iterator<Item = StoredEvent<'_>> {
        self.rows.iter().map(|r| self.row(r))
    }

    /// The first row among `range` whose text does not match its own
    /// hash, with what [`EventHasher::matches_stored`] said of it (`false`
    /// or why it cannot be read). An event's hash depends on its row alone
    /// (its `prev_hash` is one of its columns), so parts of a page can be
    /// checked on several threads at once; linking the rows in order is
    /// [`ChainVerifier::push_checked`](super::ChainVerifier::push_checked).
    pub fn first_unmatched(&self, range: std::ops::Range<usize>) -> Option<(usize, Result<bool, String>)> {
        let mut hasher = EventHasher::default();
        let range = range.start..range.end.min(self.rows.len());
        let rows = self.rows.get(range.clone()).unwrap_or_default();
        rows.iter().zip(range).find_map(|(r, i)| match hasher.matches_stored(&self.row(r)) {
            Ok(true) => None,
            other => Some((i, other)),
        })
    }

    fn row<'a>(&'a self, r: &Row) -> StoredEvent<'a> {
        let text = self.text.get(r.start..).unwrap_or("");
        let column = |i: usize| {
            let from = if i == 0 { 0 } else { r.ends[i - 1] as usize };
            text.get(from..r.ends[i] as usize).unwrap_or("")
        };
        let optional = |i: usize| (r.nulls & (1 << i) == 0).then(|| column(i));
        StoredEvent {
            seq: r.seq,
            id: column(0),
            at: column(1),
            kind: column(2),
            actor: column(3),
            account_id: optional(4),
            ticket: optional(5),
            request_id: optional(6),
            session_id: optional(7),
            agent: optional(8),
            data: column(9),
            text: column(10),
            prev_hash: column(11),
            hash: column(12),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{canonical_bytes, data, ChainVerifier, EventData, GENESIS};
    use super::*;
    use chrono::{TimeZone, Utc};

    fn event(seq: i64, prev: &str) -> Event {
        NewEvent::new(
            Utc.with_ymd_and_hms(2026, 11, 25, 14, 3, 0).unwrap(),
            Actor::staff("dana", "Dana \"D\" Ruiz"),
            format!("line {seq}, with \"quotes\" and é"),
            EventData::RequestWithdrawn(data::Nothing {}),
        )
        .account("acct_1")
        .session("ses_1")
        .seal(seq, prev)
    }

    /// The row the store writes for `e`.
    struct Columns {
        e: Event,
        at: String,
        actor: String,
        data: String,
    }

    impl Columns {
        fn of(e: &Event) -> Columns {
            Columns {
                e: e.clone(),
                at: crate::clock::format_ms(e.at),
                actor: e.actor.to_json().to_string(),
                data: e.data.to_string(),
            }
        }
        fn stored(&self) -> StoredEvent<'_> {
            let e = &self.e;
            StoredEvent {
                seq: e.seq,
                id: &e.id,
                at: &self.at,
                kind: e.kind.as_str(),
                actor: &self.actor,
                account_id: e.account_id.as_deref(),
                ticket: e.ticket.as_deref(),
                request_id: e.request_id.as_deref(),
                session_id: e.session_id.as_deref(),
                agent: e.agent.as_deref(),
                data: &self.data,
                text: &e.text,
                prev_hash: &e.prev_hash,
                hash: &e.hash,
            }
        }
    }

    #[test]
    fn stored_text_as_it_stands_gives_the_canonical_bytes() {
        let mut body = event(1, GENESIS).body;
        body.data = serde_json::json!({"b": 1, "a": [1, {"z": null, "y": "é\n"}]});
        let e = body.seal(1, GENESIS);
        let c = Columns::of(&e);
        let mut raw = Vec::new();
        assert!(c.stored().write_as_stored(&mut raw));
        assert_eq!(String::from_utf8(raw).unwrap(), String::from_utf8(canonical_bytes(&e)).unwrap());
        assert_eq!(c.stored().to_event().unwrap(), e);
    }

    #[test]
    fn a_page_gives_back_each_row_with_its_nulls() {
        let mut page = StoredPage::default();
        let mut prev = GENESIS.to_string();
        let mut kept = Vec::new();
        for seq in 1..=5 {
            let mut e = event(seq, &prev);
            if seq % 2 == 0 {
                e.body.account_id = None;
                e.body.agent = Some(String::new());
            }
            let e = e.body.seal(seq, &prev);
            prev.clone_from(&e.hash);
            let c = Columns::of(&e);
            page.push(&c.stored());
            kept.push(c);
        }
        assert_eq!(page.len(), 5);
        assert_eq!(page.last_seq(), Some(5));
        for (got, want) in page.iter().zip(&kept) {
            assert_eq!(got, want.stored());
        }
    }

    #[test]
    fn a_row_in_another_spelling_of_the_same_content_still_verifies() {
        let e = event(1, GENESIS);
        let mut c = Columns::of(&e);
        c.data = " { } ".into();
        c.actor = serde_json::to_string_pretty(&e.actor).unwrap();
        c.at = "2026-11-25T14:03:00+00:00".into();
        let mut chain = ChainVerifier::default();
        chain.push_stored(&c.stored()).unwrap();
        assert_eq!(chain.head(), (1, e.hash.as_str()));
    }

    #[test]
    fn altered_or_unreadable_rows_are_named() {
        let e = event(1, GENESIS);
        type Damage = fn(&mut Columns);
        let damages: [(&str, Damage); 4] = [
            ("altered", |c| c.e.body.text.push('!')),
            ("altered", |c| c.data = r#"{"note":1}"#.into()),
            ("cannot be read", |c| c.data = "{".into()),
            ("cannot be read", |c| c.at = "yesterday".into()),
        ];
        for (says, damage) in damages {
            let mut c = Columns::of(&e);
            damage(&mut c);
            let bad = ChainVerifier::default().push_stored(&c.stored()).unwrap_err();
            assert_eq!(bad.seq, 1);
            assert!(bad.problem.contains(says), "{}", bad.problem);
        }
    }

    #[test]
    fn the_first_unmatched_row_of_each_part_of_a_page_is_found_and_linking_stops_at_the_first() {
        let mut page = StoredPage::for_rows(8);
        let mut prev = GENESIS.to_string();
        let mut kept = Vec::new();
        for seq in 1..=8 {
            let e = event(seq, &prev);
            prev.clone_from(&e.hash);
            let mut c = Columns::of(&e);
            match seq {
                3 => c.e.body.text.push('!'),
                6 => c.data = "{".into(),
                _ => {}
            }
            page.push(&c.stored());
            kept.push(c);
        }
        assert_eq!(page.iter().nth(2), Some(kept[2].stored()));
        assert_eq!(page.first_unmatched(0..2), None);
        assert_eq!(page.first_unmatched(0..8), Some((2, Ok(false))));
        let (at, unreadable) = page.first_unmatched(4..8).unwrap();
        assert_eq!(at, 5);
        assert!(unreadable.unwrap_err().starts_with("data:"));
        assert_eq!(page.first_unmatched(4..100).map(|u| u.0), Some(5), "a range past the end checks what is there");
        assert_eq!(page.first_unmatched(6..100), None);
        assert_eq!(page.first_unmatched(9..100), None);

        // The parts' first findings, in order, link as one walk does.
        let mut found = [page.first_unmatched(0..4), page.first_unmatched(4..8)].into_iter().flatten();
        let mut first = found.next();
        let mut chain = ChainVerifier::default();
        let bad = page
            .iter()
            .enumerate()
            .find_map(|(i, e)| {
                let matched = first.take_if(|(at, _)| *at == i).map_or(Ok(true), |(_, m)| m);
                chain.push_checked(&e, matched).err()
            })
            .unwrap();
        assert_eq!((bad.seq, chain.head().0), (3, 2));
        assert!(bad.problem.contains("altered"), "{}", bad.problem);
        let mut walked = ChainVerifier::default();
        assert_eq!(page.iter().find_map(|e| walked.push_stored(&e).err()), Some(bad));
    }

    /// Stored text that is not one JSON value never takes the fast way:
    /// here the `data` column holds the `id` member that follows it.
    #[test]
    fn raw_text_cannot_move_content_between_columns() {
        let e = event(1, GENESIS);
        let mut c = Columns::of(&e);
        let moved = format!("{},\"id\":\"{}\"", c.data, e.id);
        c.data = moved;
        let shifted = StoredEvent { id: "", ..c.stored() };
        let mut raw = Vec::new();
        assert!(!shifted.write_as_stored(&mut raw));
        assert!(ChainVerifier::default().push_stored(&shifted).is_err());
    }
}
