//! Sealed segments: the oldest part of the trail moved out of the database
//! into files, without losing its proof.
//!
//! A segment is two files in the archive folder: `NAME.jsonl`, one event
//! per line exactly as the database held it (the `actor` and `data` parts
//! as their stored JSON, so every hash re-computes), and
//! `NAME.manifest.json`, which names the segment's first and last seq, the
//! hash before its first event and the hash of its last, the SHA-256 of the
//! events file, and is signed with a checkpoint key. The database keeps
//! every manifest; its live events start right after the last sealed one,
//! and its first live event must follow that sealed hash. So the live part
//! verifies on its own from a signed head, and the archive with the live
//! part verifies from the first event ever written.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::StoredEvent;

/// The manifest's `format`.
pub const FORMAT: &str = "actas-audit-segment/1";

/// One line of a segment's events file: an event as stored.
#[derive(Debug, Serialize, Deserialize)]
pub struct Line<'a> {
    /// `seq`.
    pub seq: i64,
    /// `id`.
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    /// `at`.
    #[serde(borrow)]
    pub at: Cow<'a, str>,
    /// `type`.
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    /// `actor`, its stored JSON.
    #[serde(borrow)]
    pub actor: &'a RawValue,
    /// `account_id`.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<Cow<'a, str>>,
    /// `ticket`.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<Cow<'a, str>>,
    /// `request_id`.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<Cow<'a, str>>,
    /// `session_id`.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<Cow<'a, str>>,
    /// `agent`.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<Cow<'a, str>>,
    /// `data`, its stored JSON.
    #[serde(borrow)]
    pub data: &'a RawValue,
    /// `text`.
    #[serde(borrow)]
    pub text: Cow<'a, str>,
    /// `prev_hash`.
    #[serde(borrow)]
    pub prev_hash: Cow<'a, str>,
    /// `hash`.
    #[serde(borrow)]
    pub hash: Cow<'a, str>,
}

impl Line<'_> {
    /// The event as the database held it.
    pub fn as_stored(&self) -> StoredEvent<'_> {
        StoredEvent {
            seq: self.seq,
            id: &self.id,
            at: &self.at,
            kind: &self.kind,
            actor: self.actor.get(),
            account_id: self.account_id.as_deref(),
            ticket: self.ticket.as_deref(),
            request_id: self.request_id.as_deref(),
            session_id: self.session_id.as_deref(),
            agent: self.agent.as_deref(),
            data: self.data.get(),
            text: &self.text,
            prev_hash: &self.prev_hash,
            hash: &self.hash,
        }
    }
}

/// Writes `e` as one line (with its newline) to `out`. Its `actor` and
/// `data` go as stored, so they must each be one JSON value: true of every
/// event whose hash verified (see `stored`), and refused otherwise.
pub fn write_line(e: &StoredEvent<'_>, out: &mut Vec<u8>) -> Result<(), String> {
    let raw = |name: &str, text: &str| -> Result<Box<RawValue>, String> {
        RawValue::from_string(text.to_string()).map_err(|err| format!("event {}: its {name} is not JSON: {err}", e.seq))
    };
    let (actor, data) = (raw("actor", e.actor)?, raw("data", e.data)?);
    let line = Line {
        seq: e.seq,
        id: Cow::Borrowed(e.id),
        at: Cow::Borrowed(e.at),
        kind: Cow::Borrowed(e.kind),
        actor: &actor,
        account_id: e.account_id.map(Cow::Borrowed),
        ticket: e.ticket.map(Cow::Borrowed),
        request_id: e.request_id.map(Cow::Borrowed),
        session_id: e.session_id.map(Cow::Borrowed),
        agent: e.agent.map(Cow::Borrowed),
        data: &data,
        text: Cow::Borrowed(e.text),
        prev_hash: Cow::Borrowed(e.prev_hash),
        hash: Cow::Borrowed(e.hash),
    };
    serde_json::to_writer(&mut *out, &line).map_err(|err| format!("event {}: {err}", e.seq))?;
    out.push(b'\n');
    Ok(())
}

/// What a segment holds, signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// The events file's name, in the same folder.
    pub file: String,
    /// The first event's seq.
    pub first_seq: i64,
    /// The last event's seq.
    pub last_seq: i64,
    /// The hash the first event follows (the genesis hash for seq 1).
    pub prev_hash: String,
    /// The last event's hash: the sealed head.
    pub last_hash: String,
    /// The first event's time.
    pub first_at: String,
    /// The last event's time.
    pub last_at: String,
    /// SHA-256 of the events file, lowercase hex.
    pub sha256: String,
    /// When the segment was sealed.
    pub sealed_at: String,
    /// The checkpoint key that signed it.
    pub kid: String,
    /// Ed25519 over [`Manifest::message`], base64url.
    pub signature: String,
}

impl Manifest {
    /// Events in the segment.
    pub fn events(&self) -> i64 {
        self.last_seq - self.first_seq + 1
    }

    /// The bytes the signature covers: every field but the signature, one
    /// per line, in a fixed order.
    pub fn message(&self) -> Vec<u8> {
        format!(
            "actas-audit-segment\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}",
            self.format,
            self.file,
            self.first_seq,
            self.last_seq,
            self.prev_hash,
            self.last_hash,
            self.first_at,
            self.last_at,
            self.sha256,
            self.sealed_at,
            self.kid
        )
        .into_bytes()
    }

    /// The events file's name for seqs `first..=last`: sorting the names
    /// sorts the segments.
    pub fn file_name(first: i64, last: i64) -> String {
        format!("actas-audit-{first:012}-{last:012}.jsonl")
    }

    /// The manifest's own file name, beside its events file.
    pub fn manifest_name(&self) -> String {
        format!("{}.manifest.json", self.file.trim_end_matches(".jsonl"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored() -> StoredEvent<'static> {
        StoredEvent {
            seq: 7,
            id: "ev_7",
            at: "2026-01-02T03:04:05.006Z",
            kind: "session.started",
            actor: r#"{"kind":"staff","id":"st_1","name":"Maria \"M\" Lopez"}"#,
            account_id: Some("acct_1"),
            ticket: None,
            request_id: None,
            session_id: Some("se_1"),
            agent: Some("st_1"),
            data: r#"{"minutes":15,"note":"é\u2028"}"#,
            text: "Maria started a session.\nSecond line",
            prev_hash: "ab",
            hash: "cd",
        }
    }

    #[test]
    fn a_line_reads_back_as_the_same_stored_event_byte_for_byte() {
        let e = stored();
        let mut out = Vec::new();
        write_line(&e, &mut out).unwrap();
        assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 1, "one line");
        let line: Line<'_> = serde_json::from_slice(&out).unwrap();
        assert_eq!(line.as_stored(), e);
    }

    #[test]
    fn a_part_that_is_not_json_is_refused() {
        let mut e = stored();
        e.data = "{\"a\":1} trailing";
        assert!(write_line(&e, &mut Vec::new()).unwrap_err().contains("data is not JSON"));
    }

    #[test]
    fn the_signed_message_covers_every_field_but_the_signature() {
        let m = Manifest {
            format: FORMAT.into(),
            file: Manifest::file_name(1, 10),
            first_seq: 1,
            last_seq: 10,
            prev_hash: "0".repeat(64),
            last_hash: "f".repeat(64),
            first_at: "a".into(),
            last_at: "b".into(),
            sha256: "c".into(),
            sealed_at: "d".into(),
            kid: "k".into(),
            signature: "s".into(),
        };
        assert_eq!(m.file, "actas-audit-000000000001-000000000010.jsonl");
        assert_eq!(m.manifest_name(), "actas-audit-000000000001-000000000010.manifest.json");
        assert_eq!(m.events(), 10);
        let base = m.message();
        assert_eq!(Manifest { signature: "other".into(), ..m.clone() }.message(), base);
        for changed in [
            Manifest { first_seq: 2, ..m.clone() },
            Manifest { last_hash: "e".repeat(64), ..m.clone() },
            Manifest { sha256: "x".into(), ..m.clone() },
            Manifest { file: "other.jsonl".into(), ..m.clone() },
            Manifest { prev_hash: "1".repeat(64), ..m.clone() },
        ] {
            assert_ne!(changed.message(), base);
        }
    }
}
