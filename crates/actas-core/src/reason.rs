//! The written reason: required, long enough, not a vague phrase, and
//! specific.
//!
//! Vague phrases are compared folded: lower case, punctuation read as
//! space, runs of white space collapsed, so "Need access!!" is "need access".
//!
//! Specific means the reason names something. Its folded words, less
//! [`STOP_WORDS`] and [`GENERIC_WORDS`], are its specific words; only words
//! of at least three letters count, so a ticket number alone names nothing.
//! A reason is specific with two different specific words, or with one
//! that is also a specific word of the ticket's subject ("Invoices" under
//! "Invoices missing for March"). The word lists are English.

use crate::limits::REASON_CHARS;
use crate::policy::ReasonRules;
use crate::Code;
use crate::{Error, Result};

/// Words that carry grammar, not meaning. Lower case, as [`fold`] leaves
/// them; contractions fold to pieces ("can't" is "can t"), listed too.
pub const STOP_WORDS: &str = "\
    a about after again all also am an and any are aren as at be been before being but by can cannot \
    could couldn did didn do does doesn don done during each for from get gets getting got had has hasn \
    have haven he her here him his how i if in into is isn it its just me more my no not now of off on \
    once only or other our out over she should shouldn since so some still such than that the their them \
    then there these they this those through to too under until up us very was wasn we were what when \
    where which while who why will with won would wouldn you your";

/// Words of support talk that name nothing by themselves: who asks, that
/// something is wrong, that someone will look. "Checking the customer
/// account please" is only these and stop words. Lower case, as [`fold`]
/// leaves them.
pub const GENERIC_WORDS: &str = "\
    access accessing account accounts around asap ask asked asking asks assist assistance broken bug \
    bugs case check checked checking checks client clients customer customers debug debugging error \
    errors everything fail failed failing fails fix fixed fixing hello help helping info information \
    investigate investigating issue issues look looked looking matter need needed needs please problem \
    problems question quick quickly report reported reports request requested requests review reviewing \
    said say says see something stuff support team test testing tests thanks thing things ticket tickets \
    trouble urgent user users verify verifying want wanted wants work working works wrong";

/// The example a refusal gives when the ticket's subject cannot serve.
const EXAMPLE: &str = "Customer can't update tax settings after plan change";

/// A reason that passed the policy's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason(String);

impl Reason {
    /// Checks a reason against the rules: required, at most
    /// [`REASON_CHARS`], not a vague phrase, at least `min_chars`, and
    /// specific (see the module). `subject` is the ticket's subject line,
    /// when the ticket is known: a word from it counts for more, and it is
    /// the example a refusal gives.
    pub fn parse(raw: &str, rules: &ReasonRules, subject: Option<&str>) -> Result<Reason> {
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
                format!("\"{trimmed}\" is too vague: name the customer's problem, for example \"{EXAMPLE}\"."),
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
        let subject = subject.map(str::trim).unwrap_or_default();
        if !is_specific(&folded, &fold(subject)) {
            // The subject is the better example when it names something itself.
            let example = if is_specific(&fold(subject), "") { subject } else { EXAMPLE };
            return Err(Error::refused(
                Code::ReasonVague,
                Some("reason"),
                format!("\"{trimmed}\" does not say what is wrong: name the problem, for example \"{example}\"."),
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

/// The different specific words of a folded text, in order: at least
/// three letters, neither a stop word nor a generic one.
pub fn specific_words(folded: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for w in folded.split(' ') {
        let letters = w.chars().filter(|c| c.is_alphabetic()).count();
        let common = STOP_WORDS.split_whitespace().chain(GENERIC_WORDS.split_whitespace()).any(|c| c == w);
        if letters >= 3 && !common && !out.contains(&w) {
            out.push(w);
        }
    }
    out
}

/// Whether a folded reason names something: two different specific
/// words, or one that is also a specific word of the folded subject.
fn is_specific(folded: &str, folded_subject: &str) -> bool {
    let words = specific_words(folded);
    let subject = specific_words(folded_subject);
    words.len() >= 2 || words.iter().any(|w| subject.contains(w))
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

    fn detail(r: Result<Reason>) -> String {
        match r {
            Err(Error::Refused { detail, .. }) => detail,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn specific_reason_is_accepted_and_trimmed() {
        let r = Reason::parse("  Customer can't update tax settings after plan change ", &rules(), None).unwrap();
        assert_eq!(r.as_str(), "Customer can't update tax settings after plan change");
    }

    #[test]
    fn vague_phrases_are_refused_whatever_the_case_and_punctuation() {
        for s in ["need access", "Need Access!!", "  NEED   access. ", "check-account", "DEBUG"] {
            assert_eq!(code(Reason::parse(s, &rules(), None)), "reason-vague", "{s}");
        }
        let long = ReasonRules { min_chars: 3, vague: vec!["need access".into()] };
        assert_eq!(code(Reason::parse("Need access...", &long, None)), "reason-vague");
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
        assert_eq!(code(Reason::parse("tax broken", &rules(), None)), "reason-too-short");
        assert_eq!(code(Reason::parse("   ", &rules(), None)), "reason-required");
        assert_eq!(code(Reason::parse(&"x".repeat(2001), &rules(), None)), "reason-too-long");
    }

    /// Reasons as agents write them, with the ticket's subject ("" when
    /// none) and the verdict: "ok" or the refusal's code.
    const REASONS: &[(&str, &str, &str)] = &[
        // Good: each names what is wrong.
        ("Customer can't update tax settings after plan change", "", "ok"),
        ("Customer cannot change the invoice email after the plan change", "", "ok"),
        ("Card on file expired, customer asked us to update it", "", "ok"),
        ("Customer was charged twice in October and needs one charge refunded", "", "ok"),
        ("The overnight sync failed; resetting it once the logs are read", "", "ok"),
        ("Customer admin cannot log in since the password reset", "", "ok"),
        ("Invoice emails bounce since the customer moved to a new domain", "", "ok"),
        ("Checking why the export to CSV drops the last row", "", "ok"),
        ("SSO login loops back to the sign-in page", "", "ok"),
        ("Webhook deliveries to Slack stop since Tuesday", "", "ok"),
        ("Le client a changé son adresse 🏠 et veut la facture en €", "", "ok"),
        ("KUNDE SIEHT DIE STEUEREINSTELLUNGEN NACH DEM PLANWECHSEL NICHT", "", "ok"),
        ("El cliente no puede descargar la factura de octubre", "", "ok"),
        ("Café menu prices show in the wrong currency", "", "ok"),
        // Borderline, still good: generic words around exactly two specific ones.
        ("Please check the customer's Stripe payouts", "", "ok"),
        ("Customer asked us to fix the card on file", "", "ok"),
        ("Looking at the 2FA reset for the account owner", "", "ok"),
        // One specific word is enough when the ticket's subject names it too.
        ("Need to check the invoices for this customer", "Invoices missing for March", "ok"),
        ("Please look at the CAFÉ account for the customer", "Café orders are not synced", "ok"),
        // Bad: nothing but generic words, whatever the case and punctuation.
        ("Checking the customer account please", "", "reason-vague"),
        ("Need access to the customer's account to help", "", "reason-vague"),
        ("Customer has an issue, please look into it", "", "reason-vague"),
        ("Looking into the problem the user reported", "", "reason-vague"),
        ("NEED ACCESS FOR CUSTOMER ACCOUNT!!!", "", "reason-vague"),
        ("Verify the account for the customer, urgent", "", "reason-vague"),
        ("Debugging an issue for a customer, ASAP", "", "reason-vague"),
        ("Support request from customer, needs review", "", "reason-vague"),
        ("Something is wrong, customer wants it fixed", "", "reason-vague"),
        ("Customer cannot access their account", "", "reason-vague"),
        ("help help help help help help help", "", "reason-vague"),
        ("customer customer customer customer", "", "reason-vague"),
        // A ticket number names nothing; the subject still lends no word.
        ("Ticket 48192 — see ticket #48192", "", "reason-vague"),
        ("Re: ticket #48192 for customer 4417", "Tax settings broken after plan change", "reason-vague"),
        // Punctuation only.
        ("?!?!?!?!?!?!?!?!?!?!?!", "", "reason-vague"),
        ("... --- ... --- ... --- ...", "", "reason-vague"),
        // Borderline, bad: one specific word, repeated or not, not in the subject.
        ("Customer problem with invoices, please check", "", "reason-vague"),
        ("Settings, settings, settings, settings", "", "reason-vague"),
        ("Please look at the café account for the customer", "", "reason-vague"),
        ("Need to check the invoices for this customer", "Tax settings broken after plan change", "reason-vague"),
        // Generic words in the subject lend nothing.
        ("Checking the customer account please", "Customer needs account access", "reason-vague"),
        // The policy's own rules come first.
        ("Need Access!!", "", "reason-vague"),
        ("tax settings broken", "", "reason-too-short"),
    ];

    #[test]
    fn reasons_that_name_nothing_are_refused_and_specific_ones_pass() {
        let good = REASONS.iter().filter(|r| r.2 == "ok").count();
        assert!(good >= 15 && REASONS.len() - good >= 15, "{good} good of {}", REASONS.len());
        for (reason, subject, want) in REASONS {
            let subject = Some(*subject).filter(|s| !s.is_empty());
            let got = match Reason::parse(reason, &rules(), subject) {
                Ok(_) => "ok",
                Err(Error::Refused { code, .. }) => code.as_str(),
                Err(e) => panic!("{reason}: {e:?}"),
            };
            assert_eq!(got, *want, "{reason:?} under {subject:?}");
        }
    }

    #[test]
    fn the_refusal_says_what_is_missing_with_the_subject_as_example() {
        let subject = "Customer can't see invoices after plan change";
        let r = Reason::parse("Checking the customer account please", &rules(), Some(subject));
        assert_eq!(
            detail(r),
            "\"Checking the customer account please\" does not say what is wrong: name the problem, \
             for example \"Customer can't see invoices after plan change\"."
        );
        // No subject, or one that names nothing itself: the fixed example.
        for subject in [None, Some("Help needed"), Some("   ")] {
            let r = Reason::parse("Checking the customer account please", &rules(), subject);
            assert!(detail(r).ends_with(&format!("for example \"{EXAMPLE}\".")), "{subject:?}");
        }
    }

    #[test]
    fn specific_words_leave_out_stop_words_generic_words_numbers_and_repeats() {
        assert_eq!(specific_words(&fold("Checking the customer's account, please!")), Vec::<&str>::new());
        assert_eq!(specific_words(&fold("Ticket 48192: tax TAX settings, 2FA")), vec!["tax", "settings"]);
        for list in [STOP_WORDS, GENERIC_WORDS] {
            for w in list.split_whitespace() {
                assert_eq!(fold(w), w, "the lists are folded");
            }
        }
    }
}
