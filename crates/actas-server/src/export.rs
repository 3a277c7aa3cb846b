//! Audit events written out for people, terminals and spreadsheets: the
//! plain-text line, the CSV record and the JSON line, shared by the API
//! (`GET /audit`, the session timeline), the console (search, timeline,
//! downloads) and the command line (`actas audit export`).
//!
//! The trail keeps what people and host apps sent, verbatim, and its hash
//! chain covers it, so a stored event never changes. Safety is applied
//! here, at output, the same way for old and new events:
//!
//! - **One event, one line.** [`one_line`] writes every character that
//!   lays text out ([`actas_core::limits::is_layout_char`]: line breaks,
//!   tabs, escape sequences, NUL, other C0 and C1 controls, U+2028/U+2029,
//!   bidirectional overrides and isolates) as a visible escape (`\n`,
//!   `\t`, `\u{1b}`, `\u{2028}`), and a backslash as `\\`, so an escape in
//!   the output always means the character was there. A reason cannot
//!   forge a second line, recolour a terminal or reorder what is read.
//! - **CSV cells are data.** Every cell is one line as above, and a cell
//!   that starts with `=`, `+`, `-` or `@` is prefixed with `'`, as OWASP
//!   recommends against formula injection, so a spreadsheet shows it
//!   instead of running it (a leading tab or carriage return is already
//!   written `\t` or `\r`). The `data` cell is JSON whose layout
//!   characters are `\u` escapes.
//! - **JSON stays JSON.** `format=json` is serde's output unchanged; JSON
//!   lines write the characters serde leaves raw (DEL, C1 controls,
//!   U+2028/U+2029, bidi controls) as `\u` escapes, which parse back to the
//!   same strings, so every line still verifies against its hash.

use std::fmt::Write as _;

use actas_core::audit::Event;
use actas_core::clock::format_ms;
use actas_core::limits::{is_layout_char, one_line};
use actas_core::{Error, Result};

use crate::views;

/// One CSV cell: one line, and never a formula.
pub fn csv_cell(s: &str) -> String {
    not_a_formula(one_line(s).into_owned())
}

/// `'` before a cell a spreadsheet would read as a formula.
fn not_a_formula(cell: String) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell
    }
}

/// JSON text with the layout characters serde leaves raw written as `\u`
/// escapes (they only occur inside strings, so the value is the same).
pub fn json_text(v: &impl serde::Serialize) -> Result<String> {
    let s = serde_json::to_string(v).map_err(|e| Error::Internal(e.into()))?;
    if !s.chars().any(is_layout_char) {
        return Ok(s);
    }
    let mut out = String::with_capacity(s.len() + 12);
    for c in s.chars() {
        if is_layout_char(c) {
            // Every layout character is in the Basic Multilingual Plane.
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// The CSV header, in column order.
pub const CSV_COLUMNS: [&str; 16] = [
    "seq",
    "id",
    "at",
    "type",
    "actor_kind",
    "actor_id",
    "actor_name",
    "account_id",
    "ticket",
    "request_id",
    "session_id",
    "agent",
    "text",
    "data",
    "prev_hash",
    "hash",
];

/// One event as a CSV record, every cell safe for a spreadsheet.
pub fn csv_record(e: &Event) -> Result<Vec<String>> {
    let o = |v: &Option<String>| csv_cell(v.as_deref().unwrap_or_default());
    Ok(vec![
        csv_cell(&e.seq.to_string()),
        csv_cell(&e.id),
        csv_cell(&format_ms(e.at)),
        csv_cell(e.kind.as_str()),
        csv_cell(e.actor.kind.as_str()),
        csv_cell(&e.actor.id),
        csv_cell(&e.actor.name),
        o(&e.account_id),
        o(&e.ticket),
        o(&e.request_id),
        o(&e.session_id),
        o(&e.agent),
        csv_cell(&e.text),
        // JSON text has no layout characters left, and its own escapes
        // must stay as they are to parse back.
        not_a_formula(json_text(&e.data)?),
        csv_cell(&e.prev_hash),
        csv_cell(&e.hash),
    ])
}

/// The columns of the support metrics' per-session CSV
/// (`GET /metrics/support?format=csv`).
pub const SESSION_CSV_COLUMNS: [&str; 8] =
    ["session_id", "ticket", "agent", "started_at", "ended_at", "end_reason", "explainable", "missing"];

/// The sessions of a support metrics window as CSV, one row each, every
/// cell safe for a spreadsheet: `explainable` is `yes` or `no` for an
/// ended session and empty for a live one, and `missing` says what keeps
/// it from being explained, separated by `; `.
pub fn sessions_csv(lines: &[crate::service::SessionLine]) -> Result<Vec<u8>> {
    let internal = |e: csv::Error| Error::Internal(e.into());
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(SESSION_CSV_COLUMNS).map_err(internal)?;
    for l in lines {
        let s = &l.session;
        let explainable = match &l.missing {
            None => "",
            Some(m) if m.is_empty() => "yes",
            Some(_) => "no",
        };
        w.write_record([
            csv_cell(&s.id),
            csv_cell(&s.ticket),
            csv_cell(&s.agent),
            csv_cell(&format_ms(s.started_at)),
            csv_cell(&s.ended_at.map(format_ms).unwrap_or_default()),
            csv_cell(s.end_reason.map(|r| r.as_str()).unwrap_or_default()),
            explainable.to_string(),
            csv_cell(&l.missing.as_deref().unwrap_or_default().join("; ")),
        ])
        .map_err(internal)?;
    }
    w.into_inner().map_err(|e| Error::Internal(anyhow::anyhow!("{e}")))
}

/// One event as a line of plain text: its time and its sentence.
pub fn text_line(e: &Event) -> String {
    format!("{}  {}", format_ms(e.at), one_line(&e.text))
}

/// One event as a JSON line (without the newline).
pub fn json_line(e: &Event) -> Result<String> {
    json_text(&views::event(e))
}

/// Renders events in one of the export formats (`jsonl`, `csv`, or
/// anything else for plain text): the content type and the body.
pub fn render(events: &[Event], format: &str) -> Result<(&'static str, Vec<u8>)> {
    Ok(match format {
        "jsonl" => {
            let mut out = String::new();
            for e in events {
                out.push_str(&json_line(e)?);
                out.push('\n');
            }
            ("application/x-ndjson", out.into_bytes())
        }
        "csv" => {
            let mut w = csv::Writer::from_writer(Vec::new());
            let internal = |e: csv::Error| Error::Internal(e.into());
            w.write_record(CSV_COLUMNS).map_err(internal)?;
            for e in events {
                w.write_record(csv_record(e)?).map_err(internal)?;
            }
            ("text/csv; charset=utf-8", w.into_inner().map_err(|e| Error::Internal(anyhow::anyhow!("{e}")))?)
        }
        _ => {
            let mut out = String::new();
            for e in events {
                out.push_str(&text_line(e));
                out.push('\n');
            }
            ("text/plain; charset=utf-8", out.into_bytes())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_never_start_a_formula() {
        for (raw, cell) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+1+1", "'+1+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "\\t=1"),
            ("\r=1", "\\r=1"),
            ("Maria Lopez", "Maria Lopez"),
            ("a=b", "a=b"),
        ] {
            assert_eq!(csv_cell(raw), cell, "{raw:?}");
        }
    }

    #[test]
    fn json_text_escapes_only_inside_strings_and_parses_back_the_same() {
        let v = serde_json::json!({"reason": "a\u{2028}b\u{202e}c\u{85}\u{7f}\n\u{1b}"});
        let s = json_text(&v).unwrap();
        assert!(!s.chars().any(is_layout_char), "{s}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&s).unwrap(), v);
    }
}
