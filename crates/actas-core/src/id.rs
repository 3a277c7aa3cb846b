//! Identifiers and secrets, and where they come from.
//!
//! Ids are a short type prefix and 20 random base32 characters
//! (`ses_7k2m...`): readable in a log line, unguessable, sortable by nothing.
//! An audit event's id is the exception: its first 10 characters are its
//! seq, so that ids grow with the trail and the index that finds an event
//! by id only ever appends, as the trail itself does; a random index key
//! per event would touch a random page of an ever-larger index on every
//! write.
//! Secrets (personal tokens, app keys, entry codes, console sessions) are a
//! prefix and 32 random bytes in base64url, held in a [`Secret`] that never
//! prints itself.
//!
//! Operations take them from an [`Ids`] source the way they take time from
//! a [`crate::Clock`]: [`RandomIds`] in a deployment, a seeded source in
//! tests, so that a test can know the ids it will see.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// Where new ids and secrets come from.
pub trait Ids: Send + Sync + fmt::Debug {
    /// A new id with the given prefix, e.g. `id("req")` → `req_...`.
    fn id(&self, prefix: &str) -> String;
    /// A new secret: `prefix` then 32 random bytes in base64url.
    fn secret(&self, prefix: &str) -> Secret;

    /// A new id that sorts by `order`: `prefix`, then `order` in 10 base32
    /// characters, then 10 random ones (50 bits); as long as [`Ids::id`]'s.
    /// For ids that are not secrets and grow in order, such as an event's
    /// (ordered by its seq).
    fn ordered_id(&self, prefix: &str, order: u64) -> String {
        let random = self.id(prefix);
        let mut s = String::with_capacity(random.len());
        s.push_str(prefix);
        s.push('_');
        for shift in (0..10).rev() {
            // 10 characters of 5 bits: orders up to 2^50, far past any trail.
            s.push(char::from(ALPHABET[((order >> (shift * 5)) & 31) as usize]));
        }
        s.push_str(&random[prefix.len() + 11..]);
        s
    }
}

/// Ids and secrets from the operating system's generator.
#[derive(Debug, Default, Clone, Copy)]
pub struct RandomIds;

impl Ids for RandomIds {
    fn id(&self, prefix: &str) -> String {
        id_from(&mut rand::thread_rng(), prefix)
    }

    fn secret(&self, prefix: &str) -> Secret {
        secret_from(&mut rand::thread_rng(), prefix)
    }
}

/// A new random id with the given prefix, for what is named outside any
/// operation (test databases, tools).
pub fn new_id(prefix: &str) -> String {
    RandomIds.id(prefix)
}

/// The same ids and secrets in the same order for the same seed: for
/// tests, never for a deployment (its secrets are predictable).
#[cfg(any(test, feature = "testing"))]
#[derive(Debug)]
pub struct SeededIds(std::sync::Mutex<rand::rngs::StdRng>);

#[cfg(any(test, feature = "testing"))]
impl SeededIds {
    /// A source that starts from `seed`.
    pub fn new(seed: u64) -> SeededIds {
        use rand::SeedableRng;
        SeededIds(std::sync::Mutex::new(rand::rngs::StdRng::seed_from_u64(seed)))
    }

    fn rng(&self) -> std::sync::MutexGuard<'_, rand::rngs::StdRng> {
        // A panic while holding the lock leaves the generator whole.
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(any(test, feature = "testing"))]
impl Ids for SeededIds {
    fn id(&self, prefix: &str) -> String {
        id_from(&mut *self.rng(), prefix)
    }

    fn secret(&self, prefix: &str) -> Secret {
        secret_from(&mut *self.rng(), prefix)
    }
}

fn id_from(rng: &mut impl Rng, prefix: &str) -> String {
    let mut s = String::with_capacity(prefix.len() + 21);
    s.push_str(prefix);
    s.push('_');
    for _ in 0..20 {
        s.push(char::from(ALPHABET[rng.gen_range(0..32)]));
    }
    s
}

fn secret_from(rng: &mut impl RngCore, prefix: &str) -> Secret {
    let mut bytes = [0u8; 32];
    rng.fill_bytes(&mut bytes);
    let s = Secret(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)));
    bytes.zeroize();
    s
}

macro_rules! ids {
    ($($name:ident => $prefix:literal, $what:literal;)*) => {$(
        #[doc = concat!("The id of ", $what, ": `", $prefix, "_` and 20 base32 characters.")]
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        #[cfg_attr(feature = "schema", derive(utoipa::ToSchema), schema(value_type = String))]
        pub struct $name(String);

        impl $name {
            /// The prefix of every such id.
            pub const PREFIX: &'static str = $prefix;

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id as an owned string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> $name {
                $name(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> $name {
                $name(s.to_string())
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }
    )*};
}

ids! {
    SessionId => "ses", "a support session";
    RequestId => "req", "an access or scope request";
    DecisionId => "dec", "a decision on a request";
    EventId => "evt", "an audit event";
    NoticeId => "ntc", "a customer note";
}

/// A bearer secret: a token, key, code or password. Its `Debug` never
/// prints it, it has no `Display`, and its memory is wiped when dropped;
/// [`Secret::expose`] is the one way to read it. On the wire it is a plain
/// string.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The secret itself, to send it or hash it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Secret {
        Secret(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Secret {
        Secret(s.to_string())
    }
}

/// In constant time, so that comparing reveals nothing of where two
/// secrets differ.
impl PartialEq for Secret {
    fn eq(&self, other: &Secret) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for Secret {}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(\"…\")")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_prefix_and_differ() {
        let a = RandomIds.id("ses");
        let b = RandomIds.id("ses");
        assert!(a.starts_with("ses_"));
        assert_eq!(a.len(), 24);
        assert_ne!(a, b);
    }

    #[test]
    fn ordered_ids_sort_by_their_order_and_keep_the_length() {
        let ids: Vec<String> =
            [0u64, 1, 31, 32, 4095, 1 << 40, (1 << 50) - 1].iter().map(|&n| RandomIds.ordered_id("evt", n)).collect();
        assert!(ids.iter().all(|id| id.starts_with("evt_") && id.len() == 24));
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        assert_eq!(&ids[2][4..14], "000000000z");
        assert_ne!(RandomIds.ordered_id("evt", 7), RandomIds.ordered_id("evt", 7), "the tail is random");
        assert_eq!(SeededIds::new(3).ordered_id("evt", 9), SeededIds::new(3).ordered_id("evt", 9));
    }

    #[test]
    fn secrets_carry_their_prefix_and_256_bits() {
        let s = RandomIds.secret("ak_");
        assert!(s.expose().starts_with("ak_"));
        assert_eq!(URL_SAFE_NO_PAD.decode(&s.expose()[3..]).unwrap().len(), 32);
        assert_ne!(s.expose(), RandomIds.secret("ak_").expose());
    }

    #[test]
    fn a_seed_gives_the_same_ids_and_secrets_in_the_same_order() {
        let (a, b) = (SeededIds::new(7), SeededIds::new(7));
        assert_eq!(a.id("req"), b.id("req"));
        assert_eq!(a.secret("ak_").expose(), b.secret("ak_").expose());
        assert_ne!(a.id("req"), SeededIds::new(8).id("req"));
    }

    #[test]
    fn a_secret_never_prints_itself() {
        let s = Secret::new("ak_very-secret-value");
        let shown = format!("{s:?} {:?} {:#?}", Some(&s), vec![s.clone()]);
        assert!(!shown.contains("very-secret"), "{shown}");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"ak_very-secret-value\"");
    }
}
