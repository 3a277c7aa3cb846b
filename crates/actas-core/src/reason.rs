//! The written reason: required, long enough, and not a vague phrase.
//!
//! Vague phrases are compared folded: lower case, punctuation read as
//! space, runs of white space collapsed, so "Need access!!" is "need access".

use crate::limits::REASON_CHARS;
use crate::policy::ReasonRules;
use crate::Code;
use crate::{Error, Result};

/// A reason that passed the policy's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason(String);

impl Reason {
    /// Checks a reason against the rules.
    pub fn parse(raw: &str, rules: &ReasonRules) -> Result<Reason> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(Error::refused(
                Code::ReasonRequired,
                Some("reason"),
                "A reason is required: say what the customer's problem is.",
            ));
        }
        // The server refuses longer reasons at the edge (`too-long`, not
        // audited); this keeps the rule whole for other callers of core.
        if trimmed.chars().count() > REASON_CHARS {
            return Err(Error::refused(
                Code::ReasonTooLong,
                Some("reason"),
                format!("The reason is longer than {REASON_CHARS} characters."),
            ));
        }
        let folded = fold(trimmed);
        if rules.vague.iter().any(|v| fold(v) == folded) {
            return Err(Error::refused(
                Code::ReasonVague,
                Some("reason"),
                format!("\"{trimmed}\" is too vague: name the customer's problem, for example \"Customer can't update tax settings after plan change\"."),
            ));
        }
        let n = trimmed.chars().count();
        if n < rules.min_chars {
            return Err(Error::refused(
                Code::ReasonTooShort,
                Some("reason"),
                format!("The reason has {n} characters; at least {} are required.", rules.min_chars),
            ));
        }
        Ok(Reason(trimmed.to_string()))
    }

    /// The reason's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The reason's text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// Lower case, punctuation as space, white space collapsed. Folding a
/// folded text changes nothing.
pub fn fold(s: &str) -> String {
    let spaced: String =
        s.chars().map(|c| if c.is_alphanumeric() { c } else { ' ' }).collect::<String>().to_lowercase();
    let mut out = String::with_capacity(spaced.len());
    // Lower case can add a mark that is not a letter ("İ" is "i" and a
    // combining dot): it separates words too.
    for word in spaced.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> ReasonRules {
        ReasonRules { min_chars: 20, vague: vec!["need access".into(), "check account".into(), "debug".into()] }
    }

    fn code(r: Result<Reason>) -> &'static str {
        match r {
            Err(Error::Refused { code, .. }) => code.as_str(),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn specific_reason_is_accepted_and_trimmed() {
        let r = Reason::parse("  Customer can't update tax settings after plan change ", &rules()).unwrap();
        assert_eq!(r.as_str(), "Customer can't update tax settings after plan change");
    }

    #[test]
    fn vague_phrases_are_refused_whatever_the_case_and_punctuation() {
        for s in ["need access", "Need Access!!", "  NEED   access. ", "check-account", "DEBUG"] {
            assert_eq!(code(Reason::parse(s, &rules())), "reason-vague", "{s}");
        }
        let long = ReasonRules { min_chars: 3, vague: vec!["need access".into()] };
        assert_eq!(code(Reason::parse("Need access...", &long)), "reason-vague");
    }

    #[test]
    fn folding_a_folded_text_changes_nothing() {
        assert_eq!(fold("  Need   ACCESS!! "), "need access");
        // Lower case turns "İ" into "i" and a combining dot above.
        assert_eq!(fold("İstanbul"), "i stanbul");
        for s in ["ΟΔΥΣΣΕΥΣ İstanbul ǅemal straße", "JUST CHECKİNG", "x\u{130}\u{130}y"] {
            assert_eq!(fold(&fold(s)), fold(s), "{s}");
        }
    }

    #[test]
    fn short_and_empty_reasons_are_refused() {
        assert_eq!(code(Reason::parse("tax broken", &rules())), "reason-too-short");
        assert_eq!(code(Reason::parse("   ", &rules())), "reason-required");
        assert_eq!(code(Reason::parse(&"x".repeat(2001), &rules())), "reason-too-long");
    }
}
