//! Policy files: arbitrary text through `Policy::parse`.
//!
//! It never panics. A refusal names a line of the file, if any. A policy
//! that parsed is what the module promises (unique valid action names,
//! limits in range, approvers only where approval is required, listed
//! fields stored and never secret-looking), parses again to the same
//! policy, and refuses each of its own vague phrases as a reason.
#![no_main]

use actas_core::model::Role;
use actas_core::policy::{ActionKind, Approval, Policy};
use actas_core::reason::Reason;
use actas_core::redaction;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else { return };
    let policy = match Policy::parse(src) {
        Ok(p) => p,
        Err(e) => {
            if let Some(line) = e.line {
                assert!(line >= 1 && line <= src.lines().count() + 1, "line {line} of {}", src.lines().count());
            }
            assert!(!e.message.is_empty());
            let _ = e.to_string();
            return;
        }
    };
    assert_eq!(Policy::parse(src).as_ref(), Ok(&policy), "parsing is deterministic");

    let s = &policy.session;
    for m in [s.default_minutes, s.max_minutes, s.idle_minutes, s.approval_valid_minutes] {
        assert!((1..=1440).contains(&m));
    }
    assert!(s.default_minutes <= s.max_minutes);
    assert!((1..=actas_core::limits::REASON_CHARS).contains(&policy.reason.min_chars));
    assert_eq!(policy.digest().len(), 64);

    assert!(!policy.actions().is_empty());
    let names: Vec<String> = policy.actions().iter().map(|a| a.name.clone()).collect();
    assert_eq!(policy.ordered(&names), names, "policy order, no duplicates");
    let mut twice = names.clone();
    twice.extend(names.iter().rev().cloned());
    twice.push("no.such_action".into());
    let mut expected = names.clone();
    expected.push("no.such_action".into());
    assert_eq!(policy.ordered(&twice), expected);
    assert_eq!(policy.label("no.such_action"), "no.such_action");
    let _ = policy.labels(&twice);
    for a in policy.actions() {
        assert!(std::ptr::eq(policy.action(&a.name).expect("indexed"), a));
        assert!(a.name.contains('.') && a.name.len() <= 64);
        assert!(a.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.'));
        assert!(!a.label.is_empty() && a.label.trim() == a.label);
        assert_eq!(policy.label(&a.name), a.label);
        match a.approval {
            Approval::Required => assert!(!a.approvers.is_empty()),
            Approval::None | Approval::Forbidden => assert!(a.approvers.is_empty()),
        }
        assert!(!a.approvers.contains(&Role::Auditor));
        assert!(!a.sensitive || a.kind == ActionKind::View);
        if let Some(fields) = &a.store_values {
            assert!(a.kind == ActionKind::Change && !a.redact);
            for f in fields {
                assert!(!redaction::is_secret_name(f), "{f} looks like a secret");
                assert!(a.stores_value(f), "{f} is listed but not stored");
            }
        }
        if a.redact {
            assert!(!a.stores_value("timezone"));
        }
    }

    for v in &policy.reason.vague {
        assert!(Reason::parse(v, &policy.reason, None).is_err(), "the vague phrase {v:?} is accepted as a reason");
    }
});
