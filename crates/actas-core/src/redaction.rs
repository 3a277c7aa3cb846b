//! Which field names look like secrets: a pure name matcher.
//!
//! `authorize` records what an agent changed, and the trail keeps it for
//! ever: a secret that slips in can never be taken out. So the value of a
//! field whose name looks like a secret ([`secret_name`]) is never stored,
//! whatever the policy says; the policy's `redact` and `store_values` can
//! only store less (the whole rule is `policy::Action::stores_value`, and
//! `flow::redact` applies it to the changes of one call).

//! # Reading a name
//!
//! [`fold`] splits a field name into lowercase words: `-`, `.`, `_`, spaces
//! and any other punctuation separate words, so do camelCase and acronym
//! boundaries (`newPassword` → new password, `TOTPSeed` → totp seed,
//! `x-api-key` → x api key), and words made only of digits are dropped
//! (`user.1.pin` → user pin). A word's trailing digits are ignored when it
//! is compared (`cvv2` is `cvv`, `password2` is `password`).
//!
//! # What looks like a secret
//!
//! - a word that is one: password, passwd, pwd, pass, passphrase, passcode,
//!   secret, token, apikey, otp, totp, hotp, 2fa, mfa, pin, cvv, cvc, cvn,
//!   csc, pan, ssn, auth, authorization, bearer, cookie, credential(s),
//!   creds, signature, jwt, dsn;
//! - two words that make one: a key after api, private, secret, access,
//!   signing, encryption, master, auth, license, ssh, session, client, app,
//!   shared, hmac, recovery, root, deploy or webhook (`private_key`,
//!   `x-api-key`); session id; card number (card no, card num, cc number);
//!   credit card; security code; security answer; recovery code(s); backup
//!   code(s); verification code; reset code; login code; magic link; login
//!   link; two factor; multi factor; social security; maiden name; seed
//!   phrase; connection string;
//! - names written as one word that contain one of the unambiguous ones:
//!   `newpassword`, `clientsecret`, `accesstoken`, `xapikey`, `sessionid`,
//!   `cardnumber`, `smsotp`, `otpcode`.
//!
//! # Deliberate choices
//!
//! - Short secret words count only as whole words, so `passenger`,
//!   `compass`, `bypass_reason`, `passport_number`, `pinned`, `shipping`,
//!   `footprint`, `hotpink`, `author`, `japan_region` are ordinary.
//! - `key` alone is ordinary (`keyboard_layout`, `hotkey`, `primary_key`,
//!   `public_key`, `key_id`): it is a secret only after one of the words
//!   above.
//! - A name that describes a secret without holding it is ordinary: when
//!   its last word is a flag, a count, a kind, a length or a time
//!   (`mfa_enabled`, `two_factor_required`, `password_changed_at`,
//!   `token_count`, `token_type`, `api_key_last4`, `otp_method`,
//!   `credit_card_expiry`), or its first word asks yes or no
//!   (`has_password`, `is_2fa_on`, `require_mfa`). Support turning MFA off
//!   is exactly what an auditor needs to read.
//! - `secretary`, `cookie_consent` (and cookie policy, banner, preferences,
//!   notice) and `email_signature` are ordinary; `webhook_signature` is not.
//! - Personal data that is not a credential (IBAN, account and routing
//!   numbers, tax ids, emails, phone numbers, addresses) is not matched
//!   here: an action's `store_values` decides whether it is kept.
//! - When in doubt a name is matched: a lost value costs a less detailed
//!   line, a stored secret can never be removed. Over-matches we accept:
//!   `auth_user`, `tokenizer_model`, `signature_required` is ordinary but
//!   `signature_text` is not.

/// Words that are secrets on their own.
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwords",
    "passwd",
    "pwd",
    "pass",
    "passphrase",
    "passcode",
    "secret",
    "secrets",
    "token",
    "tokens",
    "apikey",
    "otp",
    "totp",
    "hotp",
    "2fa",
    "mfa",
    "pin",
    "cvv",
    "cvc",
    "cvn",
    "csc",
    "pan",
    "ssn",
    "auth",
    "authorization",
    "bearer",
    "cookie",
    "cookies",
    "credential",
    "credentials",
    "creds",
    "signature",
    "jwt",
    "dsn",
];

/// Stems unambiguous enough to be found inside a longer one-word name.
const SECRET_STEMS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "passcode",
    "pwd",
    "secret",
    "token",
    "credential",
    "cookie",
    "totp",
    "cvv",
    "mfa",
    "2fa",
    "bearer",
    "authorization",
    "sessionid",
];

/// Words after which `key` is a secret.
const KEY_QUALIFIERS: &[&str] = &[
    "api",
    "private",
    "secret",
    "access",
    "signing",
    "encryption",
    "master",
    "auth",
    "license",
    "ssh",
    "session",
    "client",
    "app",
    "shared",
    "hmac",
    "recovery",
    "root",
    "deploy",
    "webhook",
];

/// Two words that make a secret.
const SECRET_PAIRS: &[(&str, &str)] = &[
    ("session", "id"),
    ("card", "number"),
    ("card", "no"),
    ("card", "num"),
    ("cc", "number"),
    ("credit", "card"),
    ("security", "code"),
    ("security", "answer"),
    ("security", "answers"),
    ("recovery", "code"),
    ("recovery", "codes"),
    ("backup", "code"),
    ("backup", "codes"),
    ("verification", "code"),
    ("reset", "code"),
    ("login", "code"),
    ("magic", "link"),
    ("login", "link"),
    ("two", "factor"),
    ("multi", "factor"),
    ("social", "security"),
    ("maiden", "name"),
    ("seed", "phrase"),
    ("connection", "string"),
];

/// Neighbours that make a secret word ordinary (either order of the pair is
/// read as written: the first word comes first).
const EXCUSED_PAIRS: &[(&str, &str)] = &[
    ("email", "signature"),
    ("mail", "signature"),
    ("cookie", "consent"),
    ("cookie", "policy"),
    ("cookie", "banner"),
    ("cookie", "preferences"),
    ("cookie", "notice"),
    ("cookies", "consent"),
];

/// One-word names that contain a stem and are not secrets.
const ORDINARY_WORDS: &[&str] = &["secretary", "secretaries", "secretariat"];

/// A last word that says the field describes a secret rather than holds it.
const DESCRIBING_LAST: &[&str] = &[
    "enabled",
    "disabled",
    "required",
    "enforced",
    "enrolled",
    "verified",
    "configured",
    "set",
    "active",
    "count",
    "type",
    "kind",
    "length",
    "strength",
    "expires",
    "expiry",
    "expiration",
    "expired",
    "ttl",
    "status",
    "state",
    "policy",
    "method",
    "methods",
    "provider",
    "changed",
    "updated",
    "created",
    "rotated",
    "at",
    "date",
    "time",
    "last",
    "brand",
    "attempts",
];

/// A first word that makes the field a yes-or-no question.
const ASKING_FIRST: &[&str] = &["has", "is", "allow", "require", "requires"];

/// Splits a field name into lowercase words: punctuation and spaces
/// separate, so do camelCase and acronym boundaries; digits-only words are
/// dropped. Folding the words again gives the same words.
pub fn fold(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    for part in name.split(|c: char| !c.is_alphanumeric()) {
        for word in split_case(part) {
            // Lower case can split a word once more: "İ" becomes "i" and a
            // combining dot, and a capital without a lower case (𝐀) that
            // followed a capital with one now follows a small letter.
            let lower = word.to_lowercase();
            for piece in lower.split(|c: char| !c.is_alphanumeric()) {
                words.extend(split_case(piece));
            }
        }
    }
    words.retain(|w| !w.is_empty() && !w.chars().all(|c| c.is_ascii_digit()));
    words
}

/// Splits a run of letters and digits at camelCase and acronym boundaries.
fn split_case(part: &str) -> Vec<String> {
    let chars: Vec<char> = part.chars().collect();
    let mut words = Vec::new();
    let mut start = 0;
    for i in 1..chars.len() {
        let (prev, cur) = (chars[i - 1], chars[i]);
        let next_lower = chars.get(i + 1).is_some_and(|c| c.is_lowercase());
        // newPassword | 2faCode | TOTPSeed (an acronym ends before the
        // capital that starts the next word); 2FA stays one word.
        let boundary = cur.is_uppercase() && (prev.is_lowercase() || (prev.is_uppercase() && next_lower));
        if boundary {
            words.push(chars[start..i].iter().collect::<String>());
            start = i;
        }
    }
    if start < chars.len() {
        words.push(chars[start..].iter().collect::<String>());
    }
    words
}

/// A word without its trailing digits (`cvv2` → `cvv`); `2fa` stays.
fn stem(word: &str) -> &str {
    let s = word.trim_end_matches(|c: char| c.is_ascii_digit());
    if s.is_empty() {
        word
    } else {
        s
    }
}

fn excused(words: &[String], i: usize) -> bool {
    EXCUSED_PAIRS.iter().any(|(a, b)| {
        (stem(&words[i]) == *a && words.get(i + 1).is_some_and(|n| stem(n) == *b))
            || (stem(&words[i]) == *b && i > 0 && stem(&words[i - 1]) == *a)
    })
}

/// Whether one word, read as a whole name written without separators,
/// contains a secret (`newpassword`, `xapikey`, `sessionid`, `smsotp`).
fn one_word_secret(word: &str) -> Option<String> {
    if ORDINARY_WORDS.contains(&word) {
        return None;
    }
    if let Some(s) = SECRET_STEMS.iter().find(|s| word.contains(**s)) {
        return Some((*s).to_string());
    }
    for q in KEY_QUALIFIERS {
        if word.contains(&format!("{q}key")) {
            return Some(format!("{q} key"));
        }
    }
    // Pairs with a word under three letters (card no, cc number) would
    // find too much inside other words; `sessionid` is a stem above.
    for (a, b) in SECRET_PAIRS.iter().filter(|(a, b)| a.len() >= 3 && b.len() >= 3) {
        if word.contains(&format!("{a}{b}")) {
            return Some(format!("{a} {b}"));
        }
    }
    if word.len() > 3 && (word.starts_with("otp") || word.ends_with("otp")) {
        return Some("otp".into());
    }
    None
}

/// Why a field name looks like a secret (the word or words it matched), or
/// `None` for an ordinary name. See the module documentation for the rules.
pub fn secret_name(name: &str) -> Option<String> {
    let words = fold(name);
    if words.len() > 1 {
        let last = stem(&words[words.len() - 1]);
        if DESCRIBING_LAST.contains(&last) || ASKING_FIRST.contains(&words[0].as_str()) {
            return None;
        }
    }
    for (i, w) in words.iter().enumerate() {
        if excused(&words, i) {
            continue;
        }
        let s = stem(w);
        if SECRET_WORDS.contains(&s) {
            return Some(s.to_string());
        }
        if let Some(next) = words.get(i + 1).map(|n| stem(n)) {
            if (next == "key" || next == "keys") && KEY_QUALIFIERS.contains(&s) {
                return Some(format!("{s} key"));
            }
            if SECRET_PAIRS.contains(&(s, next)) {
                return Some(format!("{s} {next}"));
            }
        }
        if let Some(why) = one_word_secret(w) {
            return Some(why);
        }
    }
    None
}

/// Whether a field name looks like a secret.
pub fn is_secret_name(name: &str) -> bool {
    secret_name(name).is_some()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Names a host app might send whose values must never be stored.
    pub(crate) const SECRETS: &[&str] = &[
        "password",
        "newPassword",
        "new_password",
        "password_confirmation",
        "PASSWORD2",
        "currentpassword",
        "passwd",
        "pwd",
        "old-pwd",
        "pass",
        "smtp_pass",
        "passphrase",
        "passcode",
        "secret",
        "client_secret",
        "stripe_webhook_secret",
        "webhookSecret",
        "token",
        "access_token",
        "refreshToken",
        "id_token",
        "X-Auth-Token",
        "api_key",
        "apiKey",
        "x-api-key",
        "APIKEY",
        "xapikey",
        "private_key",
        "privateKey",
        "secret_key",
        "aws_secret_access_key",
        "signing_key",
        "encryption_key",
        "sshKey",
        "license_key",
        "app_key",
        "otp",
        "otp_code",
        "smsOtp",
        "TOTPSeed",
        "totp_secret",
        "hotp",
        "2fa_code",
        "2FA",
        "mfa_secret",
        "mfaCode",
        "twoFactorCode",
        "pin",
        "user.pin",
        "PIN_CODE",
        "user.1.pin",
        "cvv",
        "cvv2",
        "cardCVC",
        "cvc",
        "card_number",
        "cardNumber",
        "credit_card",
        "pan",
        "authorization",
        "Proxy-Authorization",
        "auth_header",
        "auth",
        "bearer",
        "cookie",
        "session_cookie",
        "Set-Cookie",
        "session_id",
        "sessionId",
        "sessionid",
        "credentials",
        "aws_credentials",
        "signature",
        "webhook_signature",
        "recovery_codes",
        "backup_code",
        "security_answer",
        "ssn",
        "social_security_number",
        "mothers_maiden_name",
        "seed_phrase",
        "connection_string",
        "dsn",
        "jwt",
        "magic_link",
        "reset_code",
        "verification code",
    ];

    /// Ordinary names whose values are stored (when the action allows).
    pub(crate) const ORDINARY: &[&str] = &[
        "invoice_email",
        "timezone",
        "tax_id",
        "plan",
        "passenger",
        "passenger_count",
        "compass_heading",
        "bypass_reason",
        "passport_country",
        "keyboard_layout",
        "hotkey",
        "primary_key",
        "public_key",
        "key_id",
        "token_count",
        "token_type",
        "mfa_enabled",
        "twoFactorEnabled",
        "password_changed_at",
        "has_password",
        "api_key_last4",
        "otp_method",
        "credit_card_expiry",
        "iban",
        "account_number",
        "routing_number",
        "email",
        "email_signature",
        "phone",
        "shipping_address",
        "pinned",
        "spinner_style",
        "footprint",
        "theme.hotpink",
        "secretary_name",
        "cookie_consent",
        "author",
        "authority",
        "oauth_provider",
        "session_timeout",
        "card_brand",
        "card_expiry",
        "language",
        "billing_address",
        "company_name",
        "japan_region",
    ];

    #[test]
    fn names_fold_into_lowercase_words() {
        assert_eq!(fold("newPassword"), ["new", "password"]);
        assert_eq!(fold("TOTPSeed"), ["totp", "seed"]);
        assert_eq!(fold("x-api-key"), ["x", "api", "key"]);
        assert_eq!(fold("APIKey"), ["api", "key"]);
        assert_eq!(fold("user.1.pin"), ["user", "pin"]);
        assert_eq!(fold("2faCode"), ["2fa", "code"]);
        assert_eq!(fold("cardCVC"), ["card", "cvc"]);
        assert_eq!(fold("Stripe Webhook_secret"), ["stripe", "webhook", "secret"]);
        assert_eq!(fold("cvv2"), ["cvv2"]);
        assert!(fold("__").is_empty());
    }

    #[test]
    fn folding_the_words_again_gives_the_same_words() {
        // Lower case turns "İ" into "i" and a combining dot above.
        assert_eq!(fold("İban"), ["i", "ban"]);
        // 𝐀 (mathematical bold capital A) has no lower case: after "b"
        // (once "B") it starts a word.
        assert_eq!(fold("B\u{1d400}"), ["b", "\u{1d400}"]);
        for name in ["ΟΔΥΣΣΕΥΣ İstanbul ǅemal straße", "İban", "B\u{1d400}", "newPassword", "TOTPSeed", "user.1.pin"]
        {
            let words = fold(name);
            assert_eq!(fold(&words.join(" ")), words, "{name}");
        }
    }

    #[test]
    fn secret_looking_names_are_recognised() {
        assert!(SECRETS.len() >= 40);
        let missed: Vec<&&str> = SECRETS.iter().filter(|n| !is_secret_name(n)).collect();
        assert!(missed.is_empty(), "not recognised as secrets: {missed:?}");
    }

    #[test]
    fn ordinary_names_are_not_mistaken_for_secrets() {
        assert!(ORDINARY.len() >= 15);
        let wrong: Vec<(&&str, String)> = ORDINARY.iter().filter_map(|n| secret_name(n).map(|why| (n, why))).collect();
        assert!(wrong.is_empty(), "mistaken for secrets: {wrong:?}");
    }

    #[test]
    fn a_match_says_which_words_made_it() {
        assert_eq!(secret_name("x-api-key").as_deref(), Some("api key"));
        assert_eq!(secret_name("cvv2").as_deref(), Some("cvv"));
        assert_eq!(secret_name("stripe_webhook_secret").as_deref(), Some("secret"));
        assert_eq!(secret_name("cardNumber").as_deref(), Some("card number"));
    }
}
