//! Sealing private keys under the key-encryption key (KEK).
//!
//! A private signing key never reaches the database in the clear. It is
//! stored as `v1:<kek id>:<nonce>:<ciphertext>`: XChaCha20-Poly1305 under
//! the KEK, a random 24-byte nonce per sealing, base64url. The key's role,
//! id and public key are bound as associated data, so a sealed key copied
//! into another row, or a row whose public key or role was changed, does
//! not open. The version prefix lets the format change later; the KEK's id
//! (a truncated SHA-256 of it, which tells nothing about the key) lets a
//! wrong KEK be named as such instead of as a broken key.
//!
//! The KEK lives outside the database: a file or an environment variable.
//! In memory it is a [`SecretBox`], zeroed when dropped and never printed.

use std::io::Write;
use std::path::Path;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use secrecy::{ExposeSecret, SecretBox};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::KeyError;

/// The version prefix of the current sealed format.
const V1: &str = "v1";

/// The key-encryption key: 32 random bytes kept outside the database.
pub struct Kek {
    secret: SecretBox<[u8; 32]>,
    id: String,
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kek").field("id", &self.id).finish_non_exhaustive()
    }
}

impl Kek {
    /// A new random KEK.
    pub fn generate() -> Kek {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::RngCore::fill_bytes(&mut OsRng, bytes.as_mut());
        Kek::from_bytes(&bytes)
    }

    fn from_bytes(bytes: &[u8; 32]) -> Kek {
        let id = format!("kek_{}", &hex::encode(Sha256::digest([b"actas-kek-id\n".as_slice(), bytes].concat()))[..16]);
        Kek { secret: SecretBox::new(Box::new(*bytes)), id }
    }

    /// Reads a KEK: 32 raw bytes, or their base64 (standard or URL-safe,
    /// padded or not, surrounding white space ignored).
    pub fn parse(raw: &[u8]) -> Result<Kek, KeyError> {
        if let Ok(bytes) = <&[u8; 32]>::try_from(raw) {
            return Ok(Kek::from_bytes(bytes));
        }
        let text = std::str::from_utf8(raw)
            .map_err(|_| KeyError::BadKek("it is neither 32 raw bytes nor base64 text".into()))?
            .trim()
            .trim_end_matches('=');
        let decoded = Zeroizing::new(
            STANDARD_NO_PAD
                .decode(text)
                .or_else(|_| URL_SAFE_NO_PAD.decode(text))
                .map_err(|_| KeyError::BadKek("it is not base64".into()))?,
        );
        let bytes = <&[u8; 32]>::try_from(decoded.as_slice()).map_err(|_| {
            KeyError::BadKek(format!("it holds {} bytes; a key-encryption key is 32 random bytes", decoded.len()))
        })?;
        Ok(Kek::from_bytes(bytes))
    }

    /// Reads a KEK from a file (see [`Kek::parse`]). Warns when the file may
    /// be read by others than its owner.
    pub fn from_file(path: &Path) -> Result<Kek, KeyError> {
        let raw = Zeroizing::new(
            std::fs::read(path).map_err(|e| KeyError::BadKek(format!("cannot read {}: {e}", path.display())))?,
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if let Ok(meta) = std::fs::metadata(path) {
                if meta.permissions().mode() & 0o077 != 0 {
                    tracing::warn!(file = %path.display(), "the key-encryption key file may be read by others; chmod 600 it");
                }
            }
        }
        Kek::parse(&raw).map_err(|e| match e {
            KeyError::BadKek(why) => KeyError::BadKek(format!("{}: {why}", path.display())),
            other => other,
        })
    }

    /// Makes a new KEK and writes it, base64, to a new file only its owner
    /// may read; never overwrites a file.
    pub fn write_new(path: &Path) -> Result<Kek, KeyError> {
        let kek = Kek::generate();
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let cannot = |e: std::io::Error| KeyError::BadKek(format!("cannot write {}: {e}", path.display()));
        let mut file = options.open(path).map_err(cannot)?;
        let text = Zeroizing::new(format!("{}\n", STANDARD.encode(kek.secret.expose_secret())));
        file.write_all(text.as_bytes()).map_err(cannot)?;
        file.sync_all().map_err(cannot)?;
        Ok(kek)
    }

    /// The KEK's id: names it in sealed keys and messages, tells nothing of it.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// A key for another purpose, named by `label`: HMAC-SHA256 of the
    /// label under the KEK. Every process with the same KEK derives the
    /// same key, and no derived key tells anything of the KEK or of another.
    pub fn derive(&self, label: &str) -> Zeroizing<[u8; 32]> {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, self.secret.expose_secret());
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(ring::hmac::sign(&key, label.as_bytes()).as_ref());
        out
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(Key::from_slice(self.secret.expose_secret()))
    }
}

/// What a sealed key is bound to: its associated data.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    /// The key's role (`token`, `checkpoint`, `legacy`).
    pub role: &'a str,
    /// The key id.
    pub kid: &'a str,
    /// The public key, base64url.
    pub public_key: &'a str,
}

impl Binding<'_> {
    fn aad(&self) -> Vec<u8> {
        format!("actas-signing-key\n{V1}\n{}\n{}\n{}", self.role, self.kid, self.public_key).into_bytes()
    }
}

/// How a stored private key is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// base64url in the clear (databases from before sealing).
    Plain,
    /// Sealed under the KEK with this id.
    Sealed {
        /// The KEK's id.
        kek_id: String,
    },
}

/// Tells a stored private key's form; an unknown version is an error.
pub fn classify(kid: &str, stored: &str) -> Result<Stored, KeyError> {
    let Some((version, rest)) = stored.split_once(':') else {
        return Ok(Stored::Plain);
    };
    if version != V1 {
        return Err(KeyError::UnknownFormat { kid: kid.to_string(), version: version.to_string() });
    }
    match rest.split(':').collect::<Vec<_>>()[..] {
        [kek_id, _, _] => Ok(Stored::Sealed { kek_id: kek_id.to_string() }),
        _ => Err(KeyError::DoesNotOpen { kid: kid.to_string(), kek: "?".into() }),
    }
}

/// Seals a private key (a PKCS#8 document) for storage.
pub fn seal(kek: &Kek, binding: Binding<'_>, secret: &[u8]) -> Result<String, KeyError> {
    let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
    let sealed = kek
        .cipher()
        .encrypt(&nonce, Payload { msg: secret, aad: &binding.aad() })
        .map_err(|_| KeyError::DoesNotOpen { kid: binding.kid.to_string(), kek: kek.id.clone() })?;
    Ok(format!("{V1}:{}:{}:{}", kek.id, URL_SAFE_NO_PAD.encode(nonce), URL_SAFE_NO_PAD.encode(sealed)))
}

/// Opens a sealed private key. A KEK other than the one it was sealed
/// with is [`KeyError::WrongKek`]; a failed authentication (the stored
/// text, the row's role, id or public key changed) is [`KeyError::DoesNotOpen`].
pub fn open(kek: &Kek, binding: Binding<'_>, stored: &str) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let kid = binding.kid.to_string();
    let broken = || KeyError::DoesNotOpen { kid: kid.clone(), kek: kek.id.clone() };
    let rest = match classify(binding.kid, stored)? {
        Stored::Plain => return Err(KeyError::PlainKeys { count: 1 }),
        Stored::Sealed { kek_id } if kek_id != kek.id => {
            return Err(KeyError::WrongKek { given: kek.id.clone(), needed: kek_id })
        }
        Stored::Sealed { .. } => &stored[V1.len() + 1 + kek.id.len() + 1..],
    };
    let (nonce, sealed) = rest.split_once(':').ok_or_else(broken)?;
    let nonce = URL_SAFE_NO_PAD.decode(nonce).map_err(|_| broken())?;
    if nonce.len() != 24 {
        return Err(broken());
    }
    let sealed = URL_SAFE_NO_PAD.decode(sealed).map_err(|_| broken())?;
    kek.cipher()
        .decrypt(XNonce::from_slice(&nonce), Payload { msg: &sealed, aad: &binding.aad() })
        .map(Zeroizing::new)
        .map_err(|_| broken())
}

/// Seals a secret actas must use again (a connector's webhook secret) for
/// storage, in the same format as a private key, bound to what it is for
/// (`purpose`) and whose it is (`owner`): copied into another row, it does
/// not open.
pub fn seal_secret(kek: &Kek, purpose: &str, owner: &str, secret: &[u8]) -> Result<String, KeyError> {
    seal(kek, secret_binding(purpose, owner), secret)
}

/// Opens a secret sealed by [`seal_secret`] for the same purpose and owner.
pub fn open_secret(kek: &Kek, purpose: &str, owner: &str, stored: &str) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    open(kek, secret_binding(purpose, owner), stored)
}

fn secret_binding<'a>(purpose: &'a str, owner: &'a str) -> Binding<'a> {
    // Signing keys' roles are `token`, `checkpoint` and `legacy` and their
    // public keys are never empty, so a secret's binding is never a key's.
    Binding { role: purpose, kid: owner, public_key: "" }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Binding<'static> = Binding { role: "token", kid: "k_1", public_key: "pub" };

    #[test]
    fn a_sealed_secret_opens_for_its_purpose_and_owner_only() {
        let kek = Kek::generate();
        let stored = seal_secret(&kek, "connector", "app_1", b"shared-secret").unwrap();
        assert!(!stored.contains("shared-secret"));
        assert_eq!(open_secret(&kek, "connector", "app_1", &stored).unwrap().as_slice(), b"shared-secret");
        assert!(matches!(open_secret(&kek, "connector", "app_2", &stored), Err(KeyError::DoesNotOpen { .. })));
        assert!(matches!(open_secret(&kek, "token", "app_1", &stored), Err(KeyError::DoesNotOpen { .. })));
        assert!(matches!(open_secret(&Kek::generate(), "connector", "app_1", &stored), Err(KeyError::WrongKek { .. })));
    }

    #[test]
    fn a_sealed_key_opens_with_its_kek_and_binding_only() {
        let kek = Kek::generate();
        let stored = seal(&kek, B, b"the private key").unwrap();
        assert!(stored.starts_with(&format!("v1:{}:", kek.id())), "{stored}");
        assert!(!stored.contains(&URL_SAFE_NO_PAD.encode(b"the private key")));
        assert_eq!(open(&kek, B, &stored).unwrap().as_slice(), b"the private key");
        // Two sealings of one key differ (a fresh nonce each).
        assert_ne!(seal(&kek, B, b"the private key").unwrap(), stored);

        let other = Kek::generate();
        assert!(matches!(open(&other, B, &stored), Err(KeyError::WrongKek { .. })));
        for moved in
            [Binding { kid: "k_2", ..B }, Binding { role: "checkpoint", ..B }, Binding { public_key: "another", ..B }]
        {
            assert!(matches!(open(&kek, moved, &stored), Err(KeyError::DoesNotOpen { .. })), "{moved:?}");
        }
        let mut flipped = stored.clone().into_bytes();
        let last = flipped.len() - 2;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert!(matches!(open(&kek, B, &flipped), Err(KeyError::DoesNotOpen { .. })));
    }

    #[test]
    fn stored_forms_are_told_apart() {
        assert_eq!(classify("k", "MC4CAQAwBQYDK2VwBCIEI").unwrap(), Stored::Plain);
        assert_eq!(classify("k", "v1:kek_ab:n:c").unwrap(), Stored::Sealed { kek_id: "kek_ab".into() });
        assert!(matches!(classify("k", "v9:kek_ab:n:c"), Err(KeyError::UnknownFormat { .. })));
    }

    #[test]
    fn a_kek_reads_from_base64_or_raw_bytes_and_never_prints() {
        let raw = [7u8; 32];
        let a = Kek::parse(&raw).unwrap();
        let b = Kek::parse(format!("  {}\n", STANDARD.encode(raw)).as_bytes()).unwrap();
        let c = Kek::parse(URL_SAFE_NO_PAD.encode(raw).as_bytes()).unwrap();
        assert_eq!(a.id(), b.id());
        assert_eq!(a.id(), c.id());
        let shown = format!("{a:?}");
        assert!(!shown.contains("7, 7") && !shown.contains(&STANDARD.encode(raw)), "{shown}");
        assert!(matches!(Kek::parse(b"c2hvcnQ="), Err(KeyError::BadKek(_))));
        assert!(matches!(Kek::parse(b"not base64 at all!"), Err(KeyError::BadKek(_))));
    }

    #[test]
    fn a_new_kek_file_is_private_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek");
        let kek = Kek::write_new(&path).unwrap();
        assert_eq!(Kek::from_file(&path).unwrap().id(), kek.id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert!(Kek::write_new(&path).is_err());
        assert_eq!(Kek::from_file(&path).unwrap().id(), kek.id());
    }
}
