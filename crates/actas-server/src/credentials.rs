//! Credentials: personal tokens, app keys and passwords.
//!
//! Tokens and keys are 32 random bytes, shown once and stored only as their
//! SHA-256 (they carry full entropy, so a slow hash adds nothing). Passwords
//! are hashed with argon2id. The prefixes tell the kinds apart at a glance
//! and let secret scanners find leaked ones.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use sha2::{Digest, Sha256};

/// Prefix of a staff member's personal API token.
pub const PERSONAL_PREFIX: &str = "actas_pat_";
/// Prefix of an app key.
pub const APP_PREFIX: &str = "actas_app_";
/// Prefix of a one-time entry code.
pub const ENTRY_PREFIX: &str = "actas_entry_";

/// What a bearer credential looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerKind {
    /// `actas_pat_...`
    Personal,
    /// `actas_app_...`
    AppKey,
    /// A compact JWS: an impersonation token.
    Impersonation,
    /// Anything else.
    Unknown,
}

/// App keys recently found in the database, by the key's hash: a host app
/// sends its key with every `authorize`, and looking it up is a read
/// transaction of its own. An entry is trusted for [`APP_KEY_FRESH`] only,
/// so a key removed on any node stops working everywhere within it.
#[derive(Debug, Default)]
pub struct KnownAppKeys {
    apps: std::sync::Mutex<std::collections::HashMap<String, (actas_core::model::App, std::time::Instant)>>,
}

/// How long a found app key is trusted without asking the database again.
pub const APP_KEY_FRESH: std::time::Duration = std::time::Duration::from_secs(1);

/// Most app keys remembered; past it the memory starts over.
const APP_KEYS: usize = 1_000;

impl KnownAppKeys {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, (actas_core::model::App, std::time::Instant)>>
    {
        self.apps.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The app whose key hashes to `hash`, if it was found less than
    /// [`APP_KEY_FRESH`] ago.
    pub fn get(&self, hash: &str) -> Option<actas_core::model::App> {
        self.lock().get(hash).filter(|(_, found)| found.elapsed() < APP_KEY_FRESH).map(|(app, _)| app.clone())
    }

    /// Remembers that the key hashing to `hash` is `app`'s, as of now.
    pub fn found(&self, hash: String, app: actas_core::model::App) {
        let mut apps = self.lock();
        if apps.len() >= APP_KEYS {
            apps.retain(|_, (_, found)| found.elapsed() < APP_KEY_FRESH);
            if apps.len() >= APP_KEYS {
                apps.clear();
            }
        }
        apps.insert(hash, (app, std::time::Instant::now()));
    }
}

/// Tells the kind of a bearer credential by its shape.
pub fn bearer_kind(token: &str) -> BearerKind {
    if token.starts_with(PERSONAL_PREFIX) {
        BearerKind::Personal
    } else if token.starts_with(APP_PREFIX) {
        BearerKind::AppKey
    } else if token.starts_with("eyJ") && token.split('.').count() == 3 {
        BearerKind::Impersonation
    } else {
        BearerKind::Unknown
    }
}

/// The stored form of a token or key.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Hashes a password with argon2id and a random salt.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))
}

/// Checks a password against its stored hash.
pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// The most argon2 memory a stored hash may ask for (256 MiB); ours use
/// 19 MiB.
const MAX_PASSWORD_BLOCKS: usize = 256 * 1024;

/// Checks a password against its stored hash in `memory`, grown to the
/// hash's cost once and then reused: a thread that checks passwords all
/// day holds one block of argon2 memory, instead of asking the allocator
/// for ~19 MiB each time (which it tends to keep, per thread).
pub fn verify_password_in(password: &str, stored: &str, memory: &mut Vec<argon2::Block>) -> bool {
    let Ok(h) = PasswordHash::new(stored) else { return false };
    let (Some(salt), Some(expected)) = (h.salt, h.hash) else { return false };
    let Ok(algorithm) = argon2::Algorithm::try_from(h.algorithm) else { return false };
    let Ok(version) = h.version.map_or(Ok(argon2::Version::default()), argon2::Version::try_from) else {
        return false;
    };
    let Ok(params) = argon2::Params::try_from(&h) else { return false };
    let blocks = params.block_count();
    if blocks > MAX_PASSWORD_BLOCKS {
        return false;
    }
    if memory.len() < blocks {
        memory.resize(blocks, argon2::Block::default());
    }
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else { return false };
    let mut out = vec![0u8; expected.len()];
    let hashed = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password.as_bytes(),
        salt,
        &mut out,
        &mut memory[..blocks],
    );
    // `Output` compares in constant time.
    hashed.is_ok() && argon2::password_hash::Output::new(&out).is_ok_and(|o| o == expected)
}

/// Checks a new password: long enough to resist guessing.
pub fn check_password(password: &str) -> Result<(), String> {
    if password.chars().count() < 12 {
        return Err("the password must have at least 12 characters".into());
    }
    if password.len() > 1024 {
        return Err("the password must have at most 1024 bytes".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actas_core::id::{Ids, RandomIds};

    #[test]
    fn secrets_are_told_apart_by_shape() {
        assert_eq!(bearer_kind(RandomIds.secret(PERSONAL_PREFIX).expose()), BearerKind::Personal);
        assert_eq!(bearer_kind(RandomIds.secret(APP_PREFIX).expose()), BearerKind::AppKey);
        assert_eq!(bearer_kind("eyJhbGciOiJFZERTQSJ9.e30.sig"), BearerKind::Impersonation);
        assert_eq!(bearer_kind("hunter2"), BearerKind::Unknown);
        assert_ne!(RandomIds.secret(APP_PREFIX), RandomIds.secret(APP_PREFIX));
    }

    #[test]
    fn passwords_verify_only_themselves() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse battery!", &h));
        assert!(!verify_password("x", "not a hash"));
        let mut memory = Vec::new();
        assert!(verify_password_in("correct horse battery", &h, &mut memory));
        assert_eq!(memory.len(), 19 * 1024, "argon2's default cost, allocated once");
        assert!(!verify_password_in("correct horse battery!", &h, &mut memory));
        assert!(!verify_password_in("x", "not a hash", &mut memory));
        assert_eq!(memory.len(), 19 * 1024);
    }
}
