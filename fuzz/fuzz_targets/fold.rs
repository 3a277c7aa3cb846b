//! Folding: the reason's `reason::fold` (vague phrases are compared
//! folded) and the field name's `redaction::fold` (secret-looking names).
//!
//! Neither panics, and each is idempotent: folding what it made changes
//! nothing. A reason fold is lowercase alphanumeric words joined by single
//! spaces; a name fold is lowercase alphanumeric words, none all digits.
//! Whether a name looks like a secret depends only on its fold, and a
//! secret-looking name's values are never stored, even when listed.
//! `Reason::parse` under the shipped rules never panics and keeps the
//! trimmed text.
#![no_main]

use std::sync::OnceLock;

use actas_core::audit::{FieldChange, NOT_STORED};
use actas_core::policy::Policy;
use actas_core::reason::{self, Reason};
use actas_core::redaction;
use libfuzzer_sys::fuzz_target;

fn shipped() -> &'static Policy {
    static P: OnceLock<Policy> = OnceLock::new();
    P.get_or_init(Policy::shipped)
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);

    // Reasons.
    let folded = reason::fold(&text);
    assert_eq!(reason::fold(&folded), folded, "reason fold of {text:?} is not idempotent");
    assert!(!folded.starts_with(' ') && !folded.ends_with(' ') && !folded.contains("  "), "{folded:?}");
    assert!(folded.chars().all(|c| c == ' ' || c.is_alphanumeric()), "{folded:?}");
    let policy = shipped();
    if let Ok(r) = Reason::parse(&text, &policy.reason, None) {
        assert_eq!(r.as_str(), text.trim());
    }

    // Field names.
    let words = redaction::fold(&text);
    for w in &words {
        assert!(!w.is_empty() && w.chars().all(char::is_alphanumeric), "{text:?} -> {words:?}");
        assert!(!w.chars().all(|c| c.is_ascii_digit()), "{text:?} -> {words:?}");
    }
    let joined = words.join(" ");
    assert_eq!(redaction::fold(&joined), words, "name fold of {text:?} is not idempotent");
    let why = redaction::secret_name(&text);
    assert_eq!(redaction::secret_name(&joined), why, "{text:?} and its fold {joined:?} differ");
    assert_eq!(redaction::is_secret_name(&text), why.is_some());
    if why.is_some() {
        // Not even when an action lists it (a policy that does is refused).
        let mut listing = policy.action("sync.reset").expect("shipped action").clone();
        assert!(!listing.stores_value(&text), "sync.reset stores {text:?}");
        listing.store_values = Some(vec![text.to_string()]);
        let change = FieldChange { field: text.to_string(), old: Some("a".into()), new: None };
        let kept = actas_core::flow::redact(&listing, vec![change]);
        assert_eq!(kept[0].old.as_deref(), Some(NOT_STORED));
        assert_eq!(kept[0].new, None);
    }
});
