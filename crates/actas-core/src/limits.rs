//! Bounds on what people and programs may send, and the characters that
//! change how text is laid out.
//!
//! The audit trail is append-only and hash-chained: whatever reaches it
//! stays forever. So every free-text field and every list that can reach it
//! is bounded here, once, and checked at the edge (the server's
//! `service::input`) before anything is read or written. A field over its
//! bound is refused with a `400` problem (`too-long`, `too-many` or
//! `invalid-characters`) and is never audited, so an oversized payload
//! cannot grow the trail. Lengths are counted in characters (Unicode scalar
//! values) of the value as sent.
//!
//! [`is_layout_char`] names the characters that can make one line of text
//! look like several, or reorder what a reader sees; exports escape them
//! ([`one_line`]) and one-line fields refuse them.

use crate::Code;
use std::borrow::Cow;
use std::fmt::Write as _;

use crate::{Error, Result};

/// A reason for access or for more scope.
pub const REASON_CHARS: usize = 2_000;
/// A decision note, a denial note or a revocation note.
pub const NOTE_CHARS: usize = 2_000;
/// A ticket's subject line.
pub const SUBJECT_CHARS: usize = 500;
/// Identifiers sent by callers: ticket references, account ids, the
/// target's account, type and id, app names or ids, entry codes.
pub const ID_CHARS: usize = 100;
/// A customer account's display name.
pub const ACCOUNT_NAME_CHARS: usize = 200;
/// A staff member's or an app's display name.
pub const DISPLAY_NAME_CHARS: usize = 100;
/// A link (a ticket's URL, an app's entry address or web origin).
pub const URL_CHARS: usize = 2_000;
/// One action name.
pub const ACTION_NAME_CHARS: usize = 100;
/// Action names in one request, scope change or approval.
pub const ACTIONS_PER_LIST: usize = 50;
/// One changed field's name in `authorize`.
pub const FIELD_NAME_CHARS: usize = 100;
/// One old or new value in `authorize`.
pub const VALUE_CHARS: usize = 1_000;
/// Changed fields in one `authorize` call.
pub const CHANGES_PER_CALL: usize = 50;
/// All old and new values of one `authorize` call together, so that one
/// event stays small even when every value is near its own bound.
pub const VALUES_PER_CALL_CHARS: usize = 10_000;
/// Web origins of one app.
pub const ORIGINS_PER_APP: usize = 50;
/// A staff member's e-mail address, as an identity provider sends it.
pub const EMAIL_CHARS: usize = 254;
/// A ticket's assignee, as a ticket system names them: a staff login or
/// an e-mail address.
pub const ASSIGNEE_CHARS: usize = EMAIL_CHARS;
/// One tag of a ticket.
pub const TAG_CHARS: usize = 100;
/// Tags of one ticket.
pub const TAGS_PER_TICKET: usize = 50;

/// Whether `c` lays text out rather than showing as itself: the C0 and C1
/// controls (line feed, carriage return, tab, escape, NUL, NEL, CSI...),
/// DEL, the Unicode line and paragraph separators, and the bidirectional
/// marks, embeddings, overrides and isolates (U+061C, U+200E, U+200F,
/// U+202A–U+202E, U+2066–U+2069), which can make a line read in another
/// order than it is written.
pub fn is_layout_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{061C}' | '\u{200E}' | '\u{200F}')
        || ('\u{202A}'..='\u{202E}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// `s` as one line: every [`is_layout_char`] written as a visible escape
/// (`\n`, `\r`, `\t`, `\u{1b}`), and a backslash as `\\`, so an escape
/// in the output always means the character was there.
pub fn one_line(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c == '\\' || is_layout_char(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_layout_char(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn too_long(field: &str, n: usize, max: usize) -> Error {
    Error::bad_input(Code::TooLong, field, format!("{field} is {n} characters long; at most {max} are accepted."))
}

fn check_len(field: &str, v: &str, max: usize) -> Result<()> {
    // Counting stops past the bound: a huge value costs no more than a small one.
    let n = v.chars().take(max + 1).count();
    if n > max {
        return Err(too_long(field, v.chars().count(), max));
    }
    Ok(())
}

/// One line of plain text: identifiers, names, subjects, links, action and
/// field names. At most `max` characters, none of them [`is_layout_char`].
pub fn check_line(field: &str, v: &str, max: usize) -> Result<()> {
    check_len(field, v, max)?;
    if v.chars().any(is_layout_char) {
        return Err(Error::bad_input(
            Code::InvalidCharacters,
            field,
            format!(
                "{field} must be one line of plain text, without control characters, line breaks or direction marks."
            ),
        ));
    }
    Ok(())
}

/// Free text that may span lines (reasons, notes): at most `max`
/// characters; tabs and line breaks are kept (exports show them escaped),
/// other control characters (NUL, escape sequences...) are refused.
pub fn check_text(field: &str, v: &str, max: usize) -> Result<()> {
    check_len(field, v, max)?;
    if v.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(Error::bad_input(
            Code::InvalidCharacters,
            field,
            format!("{field} may hold line breaks and tabs, but no other control characters."),
        ));
    }
    Ok(())
}

/// A value the host app records as it is (an old or new value): at most
/// `max` characters, anything but NUL, which PostgreSQL cannot store as
/// text (refused on both databases, so both behave alike).
pub fn check_value(field: &str, v: &str, max: usize) -> Result<()> {
    check_len(field, v, max)?;
    if v.contains('\0') {
        return Err(Error::bad_input(
            Code::InvalidCharacters,
            field,
            format!("{field} may not contain NUL characters."),
        ));
    }
    Ok(())
}

/// A list of at most `max` entries.
pub fn check_count(field: &str, n: usize, max: usize) -> Result<()> {
    if n > max {
        return Err(Error::bad_input(
            Code::TooMany,
            field,
            format!("{field} has {n} entries; at most {max} are accepted."),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_characters_become_visible_escapes() {
        assert_eq!(one_line("plain words, \"quoted\" é €"), "plain words, \"quoted\" é €");
        assert!(matches!(one_line("plain"), Cow::Borrowed(_)));
        assert_eq!(one_line("a\nb\r\tc"), "a\\nb\\r\\tc");
        assert_eq!(one_line("red \u{1b}[31m \u{9b}2J"), "red \\u{1b}[31m \\u{9b}2J");
        assert_eq!(
            one_line("nul \0 nel \u{85} ls \u{2028} ps \u{2029}"),
            "nul \\u{0} nel \\u{85} ls \\u{2028} ps \\u{2029}"
        );
        assert_eq!(one_line("abc\u{202e}fed\u{2066}x\u{2069}"), "abc\\u{202e}fed\\u{2066}x\\u{2069}");
        assert_eq!(one_line("C:\\temp\\n"), "C:\\\\temp\\\\n", "a typed backslash is told apart from an escape");
    }

    fn code(r: Result<()>) -> &'static str {
        match r {
            Err(Error::BadRequest { code, .. }) => code.as_str(),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn layout_characters_are_controls_separators_and_bidi_marks() {
        for c in [
            '\n', '\r', '\t', '\0', '\u{1b}', '\u{7f}', '\u{85}', '\u{9b}', '\u{2028}', '\u{2029}', '\u{202e}',
            '\u{2066}', '\u{2069}', '\u{200f}',
        ] {
            assert!(is_layout_char(c), "{:x}", c as u32);
        }
        for c in ['a', ' ', 'é', 'ß', '€', '\u{05d0}', '\u{200d}', '😀'] {
            assert!(!is_layout_char(c), "{:x}", c as u32);
        }
    }

    #[test]
    fn each_kind_of_field_refuses_what_it_may_not_hold() {
        check_line("ticket", "ZD-48192", ID_CHARS).unwrap();
        assert_eq!(code(check_line("ticket", &"x".repeat(101), ID_CHARS)), "too-long");
        assert_eq!(code(check_line("ticket", "48192\nx", ID_CHARS)), "invalid-characters");
        assert_eq!(code(check_line("ticket", "48\u{202e}192", ID_CHARS)), "invalid-characters");
        check_text("reason", "line one\nline two\twith a tab \u{2028}", REASON_CHARS).unwrap();
        assert_eq!(code(check_text("reason", "red \u{1b}[31m", REASON_CHARS)), "invalid-characters");
        assert_eq!(code(check_text("reason", "nul \0", REASON_CHARS)), "invalid-characters");
        assert_eq!(code(check_text("reason", &"é".repeat(2001), REASON_CHARS)), "too-long");
        check_text("reason", &"é".repeat(2000), REASON_CHARS).unwrap();
        check_value("changes.new", "\u{1b}[2J anything \n goes", VALUE_CHARS).unwrap();
        assert_eq!(code(check_value("changes.new", "a\0b", VALUE_CHARS)), "invalid-characters");
        assert_eq!(code(check_count("actions", 51, ACTIONS_PER_LIST)), "too-many");
        check_count("actions", 50, ACTIONS_PER_LIST).unwrap();
    }

    #[test]
    fn a_refusal_names_the_length_and_the_bound() {
        let e = check_line("subject", &"s".repeat(501), SUBJECT_CHARS).unwrap_err();
        assert_eq!(e.to_string(), "subject is 501 characters long; at most 500 are accepted.");
    }
}
