//! Signing keys: impersonation tokens (EdDSA compact JWS) and audit head
//! checkpoints, each with keys of its own.
//!
//! Keys live in the database so that every node signs and verifies with the
//! same ones, but their private parts are sealed under the key-encryption
//! key ([`sealed`]), which lives outside the database: whoever reads the
//! database (a backup, a replica) cannot sign with them. A key has one role
//! ([`KeyRole`]): token keys are published in the JWKS; checkpoint keys sign
//! the trail's head, are published for auditors (`GET /audit/keys`), and
//! never verify a token. Keys from before the split (`legacy`) do both until
//! they are retired.
//!
//! The first start with a key-encryption key makes one key of each role;
//! `actas key rotate` makes a new one and retires the old, which JWKS keeps
//! publishing until no token it signed can still be live (`max_minutes`
//! after its retirement). Retired checkpoint keys keep verifying the
//! checkpoints they signed.

pub mod sealed;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use actas_core::audit::data::KeyRotated;
use actas_core::audit::{self, Actor, Checkpoint, EventData, NewEvent};
use actas_core::id::Secret;
use actas_core::model::Session;
use actas_core::{Clock, Error, Result, Timestamp};
use actas_store::{read_fn, write_fn, KeyRecord, KeyRole, Store, WriteTx};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

pub use sealed::Kek;
use sealed::{Binding, Stored};

/// How this process may reach the private signing keys.
#[derive(Debug, Clone)]
pub enum KeyAccess {
    /// Sealed under this key-encryption key: the normal way. New keys are
    /// sealed; every stored key must open with it.
    Sealed(Arc<Kek>),
    /// In the clear, as before sealing existed (`--allow-plaintext-keys`):
    /// whoever reads the database can sign. Kept only to run a database
    /// from before until `actas key encrypt` seals its keys.
    Plaintext,
    /// Public keys only: verifies tokens and checkpoints, signs nothing
    /// (command-line verbs that need no private key).
    PublicOnly,
}

impl KeyAccess {
    fn can_sign(&self) -> bool {
        !matches!(self, KeyAccess::PublicOnly)
    }
}

/// Why the signing keys cannot be used. The command line exits with
/// [`KeyError::EXIT_CODE`] on any of these.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Sealed keys, and no KEK given.
    #[error(
        "the signing keys are sealed under key-encryption key {needed}, and none was given: pass \
         --key-encryption-key-file FILE (or set ACTAS_KEY_ENCRYPTION_KEY_FILE, or ACTAS_KEY_ENCRYPTION_KEY \
         to its base64)"
    )]
    MissingKek {
        /// The id of the KEK the keys need.
        needed: String,
    },
    /// No keys yet, and no KEK to seal new ones with.
    #[error(
        "no key-encryption key was given, and actas stores new signing keys only sealed: make one with \
         `actas key new-kek FILE` and pass --key-encryption-key-file FILE (or set ACTAS_KEY_ENCRYPTION_KEY_FILE)"
    )]
    NoKek,
    /// A KEK other than the one the keys were sealed with.
    #[error("wrong key-encryption key: {given} was given, but the signing keys are sealed under {needed}")]
    WrongKek {
        /// The id of the KEK given.
        given: String,
        /// The id of the KEK the keys need.
        needed: String,
    },
    /// The sealed key failed authentication.
    #[error(
        "signing key {kid} does not open with key-encryption key {kek}: its sealed text or its row (role, id, \
         public key) was altered, or actas did not make it"
    )]
    DoesNotOpen {
        /// The key.
        kid: String,
        /// The KEK tried.
        kek: String,
    },
    /// Keys in the clear, and no KEK and no `--allow-plaintext-keys`.
    #[error(
        "{count} signing key(s) in this database are stored in the clear, where anyone who reads the database \
         can sign with them: seal them with `actas key encrypt --key-encryption-key-file FILE`, or run with \
         --allow-plaintext-keys (insecure)"
    )]
    PlainKeys {
        /// How many.
        count: usize,
    },
    /// Keys in the clear, and a KEK given: they must be sealed first.
    #[error(
        "{count} signing key(s) in this database are stored in the clear; seal them first with \
         `actas key encrypt` (same key-encryption key), which also replaces them with new sealed keys"
    )]
    PlainKeysWithKek {
        /// How many.
        count: usize,
    },
    /// A key in the clear beside sealed ones: actas never writes that.
    #[error(
        "signing key {kid} is stored in the clear beside keys sealed under {kek}; actas never does that, so \
         someone put it there: do not seal it; find out who did"
    )]
    Foreign {
        /// The key.
        kid: String,
        /// The KEK the other keys are sealed under.
        kek: String,
    },
    /// A format this actas does not know.
    #[error("signing key {kid} is sealed in format {version}, which this actas does not know")]
    UnknownFormat {
        /// The key.
        kid: String,
        /// The version prefix found.
        version: String,
    },
    /// The KEK itself cannot be read.
    #[error("the key-encryption key cannot be used: {0}")]
    BadKek(String),
    /// A stored key is malformed.
    #[error("signing key {kid} is not valid: {why}")]
    Corrupt {
        /// The key.
        kid: String,
        /// What is wrong.
        why: String,
    },
}

impl KeyError {
    /// The command line's exit code for these errors.
    pub const EXIT_CODE: u8 = 3;
}

fn internal(e: KeyError) -> Error {
    Error::Internal(anyhow::Error::new(e))
}

pub use actas_api::token::{ActClaim, Claims};

struct TokenSigner {
    kid: String,
    encoding: EncodingKey,
}

struct HeadKey {
    kid: String,
    pair: Ed25519KeyPair,
}

struct PublicKey {
    role: KeyRole,
    decoding: DecodingKey,
    raw: Vec<u8>,
}

struct KeySet {
    token: Option<TokenSigner>,
    checkpoint: Option<HeadKey>,
    public: HashMap<String, PublicKey>,
    records: Vec<KeyRecord>,
    /// Tokens whose signature these keys checked, by the token's SHA-256:
    /// a host app sends the same token on every call, and checking an
    /// Ed25519 signature costs more than the rest of `authorize`. It
    /// vouches for the signature only: every call still reads the
    /// session's state, and callers check `exp`. A new key set (reload,
    /// rotation) starts empty, so a removed key vouches for nothing.
    verified: std::sync::Mutex<HashMap<[u8; 32], Claims>>,
}

/// Most verified tokens remembered; past it the memory starts over.
const VERIFIED_TOKENS: usize = 10_000;

/// A key's public facts, for auditors and the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKeyInfo {
    /// Key id.
    pub kid: String,
    /// What it signs.
    pub role: KeyRole,
    /// Raw Ed25519 public key, base64url (the JWK `x`).
    pub public_key: String,
    /// When it was made.
    pub created_at: Timestamp,
    /// When a newer key replaced it.
    pub retired_at: Option<Timestamp>,
}

/// The loaded keys, shared by the server's parts.
pub struct KeyRing {
    set: RwLock<Arc<KeySet>>,
    access: KeyAccess,
    keep_minutes: u32,
    last_miss_reload: std::sync::Mutex<Option<std::time::Instant>>,
}

/// Least time between two reloads caused by tokens with an unknown `kid`,
/// so a flood of bad tokens cannot turn into a flood of queries.
const MISS_RELOAD_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = self.set();
        f.debug_struct("KeyRing")
            .field("token", &set.token.as_ref().map(|s| &s.kid))
            .field("checkpoint", &set.checkpoint.as_ref().map(|s| &s.kid))
            .finish_non_exhaustive()
    }
}

fn kid_of(public: &[u8]) -> String {
    format!("k_{}", &hex::encode(Sha256::digest(public))[..16])
}

fn binding(k: &KeyRecord) -> Binding<'_> {
    Binding { role: k.role.as_str(), kid: &k.kid, public_key: &k.public_key }
}

fn new_record(role: KeyRole, now: Timestamp, access: &KeyAccess) -> std::result::Result<KeyRecord, KeyError> {
    let corrupt = |why: String| KeyError::Corrupt { kid: "(new)".into(), why };
    let rng = ring::rand::SystemRandom::new();
    let doc = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| corrupt("cannot generate a key".into()))?;
    let der = Zeroizing::new(doc.as_ref().to_vec());
    let pair = Ed25519KeyPair::from_pkcs8(&der).map_err(|e| corrupt(format!("bad new key: {e}")))?;
    let public_key = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
    let kid = kid_of(pair.public_key().as_ref());
    let private_key = match access {
        KeyAccess::Sealed(kek) => {
            sealed::seal(kek, Binding { role: role.as_str(), kid: &kid, public_key: &public_key }, &der)?
        }
        KeyAccess::Plaintext => URL_SAFE_NO_PAD.encode(der.as_slice()),
        KeyAccess::PublicOnly => return Err(KeyError::NoKek),
    };
    Ok(KeyRecord { kid, role, private_key, public_key, created_at: now, retired_at: None })
}

/// The key that signs for `role` now: the newest live key of that role,
/// else a live key from before the split.
fn current(records: &[KeyRecord], role: KeyRole) -> Option<&KeyRecord> {
    let live = |r: KeyRole| records.iter().rev().find(move |k| k.retired_at.is_none() && k.role == r);
    live(role).or_else(|| live(KeyRole::Legacy))
}

/// Checks that `access` fits the stored keys, before anything is opened.
fn check_access(records: &[KeyRecord], access: &KeyAccess) -> std::result::Result<(), KeyError> {
    let mut plain = Vec::new();
    let mut sealed_under = None;
    for k in records {
        match sealed::classify(&k.kid, &k.private_key)? {
            Stored::Plain => plain.push(k.kid.clone()),
            Stored::Sealed { kek_id } => {
                if let KeyAccess::Sealed(kek) = access {
                    if kek_id != kek.id() {
                        return Err(KeyError::WrongKek { given: kek.id().to_string(), needed: kek_id });
                    }
                }
                sealed_under.get_or_insert(kek_id);
            }
        }
    }
    match (access, plain.first(), sealed_under) {
        (_, Some(kid), Some(kek)) => Err(KeyError::Foreign { kid: kid.clone(), kek }),
        (KeyAccess::Sealed(_), Some(_), None) => Err(KeyError::PlainKeysWithKek { count: plain.len() }),
        (KeyAccess::Plaintext, None, Some(needed)) => Err(KeyError::MissingKek { needed }),
        _ => Ok(()),
    }
}

/// Why keys cannot sign without a KEK, from what the database holds.
fn why_locked(records: &[KeyRecord]) -> KeyError {
    let mut plain = 0;
    for k in records {
        match sealed::classify(&k.kid, &k.private_key) {
            Ok(Stored::Sealed { kek_id }) => return KeyError::MissingKek { needed: kek_id },
            Ok(Stored::Plain) => plain += 1,
            Err(e) => return e,
        }
    }
    if plain > 0 {
        KeyError::PlainKeys { count: plain }
    } else {
        KeyError::NoKek
    }
}

fn private_der(k: &KeyRecord, access: &KeyAccess) -> std::result::Result<Zeroizing<Vec<u8>>, KeyError> {
    match access {
        KeyAccess::Sealed(kek) => sealed::open(kek, binding(k), &k.private_key),
        KeyAccess::Plaintext => URL_SAFE_NO_PAD
            .decode(&k.private_key)
            .map(Zeroizing::new)
            .map_err(|e| KeyError::Corrupt { kid: k.kid.clone(), why: format!("not base64url: {e}") }),
        KeyAccess::PublicOnly => Err(why_locked(std::slice::from_ref(k))),
    }
}

/// The key pair of a stored key, checked against its public key.
fn pair_of(k: &KeyRecord, der: &[u8]) -> std::result::Result<Ed25519KeyPair, KeyError> {
    let corrupt = |why: String| KeyError::Corrupt { kid: k.kid.clone(), why };
    let pair = Ed25519KeyPair::from_pkcs8(der).map_err(|e| corrupt(format!("not an Ed25519 key: {e}")))?;
    if URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()) != k.public_key {
        return Err(corrupt("its private key does not match its public key".into()));
    }
    Ok(pair)
}

fn build(records: Vec<KeyRecord>, access: &KeyAccess) -> std::result::Result<KeySet, KeyError> {
    check_access(&records, access)?;
    let mut public = HashMap::new();
    for k in &records {
        let corrupt = |why: String| KeyError::Corrupt { kid: k.kid.clone(), why };
        let decoding =
            DecodingKey::from_ed_components(&k.public_key).map_err(|e| corrupt(format!("bad public key: {e}")))?;
        let raw = URL_SAFE_NO_PAD.decode(&k.public_key).map_err(|e| corrupt(format!("bad public key: {e}")))?;
        public.insert(k.kid.clone(), PublicKey { role: k.role, decoding, raw });
    }
    let (mut token, mut checkpoint) = (None, None);
    if access.can_sign() {
        // Every sealed key must open, not only the ones that sign now: a
        // key row that does not was not made by actas.
        let mut ders = HashMap::new();
        for k in &records {
            let der = private_der(k, access)?;
            pair_of(k, &der)?;
            ders.insert(k.kid.clone(), der);
        }
        if let Some(k) = current(&records, KeyRole::Token) {
            token = Some(TokenSigner { kid: k.kid.clone(), encoding: EncodingKey::from_ed_der(&ders[&k.kid]) });
        }
        if let Some(k) = current(&records, KeyRole::Checkpoint) {
            checkpoint = Some(HeadKey { kid: k.kid.clone(), pair: pair_of(k, &ders[&k.kid])? });
        }
    }
    Ok(KeySet { token, checkpoint, public, records, verified: Default::default() })
}

/// Whether two key lists hold the same keys (a KEK rewrap changes only the
/// sealed text, which needs no reload).
fn same_keys(a: &[KeyRecord], b: &[KeyRecord]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            (&x.kid, x.role, &x.public_key, x.created_at, x.retired_at)
                == (&y.kid, y.role, &y.public_key, y.created_at, y.retired_at)
        })
}

/// Makes a key for every role without a live one, each with its event;
/// `retired` names the keys just retired, for the events' text. Answers
/// the new keys' ids.
async fn make_missing(
    tx: &mut dyn WriteTx,
    keys: &mut Vec<KeyRecord>,
    access: &KeyAccess,
    now: Timestamp,
    by: &Actor,
    retired: &[KeyRecord],
) -> Result<Vec<String>> {
    let mut made = Vec::new();
    for role in [KeyRole::Token, KeyRole::Checkpoint] {
        if current(keys, role).is_some() {
            continue;
        }
        let k = new_record(role, now, access).map_err(internal)?;
        tx.insert_key(&k).await?;
        let old: Vec<&str> = retired.iter().filter(|r| r.role.serves(role)).map(|r| r.kid.as_str()).collect();
        tx.append_event(NewEvent::new(
            now,
            by.clone(),
            audit::key_rotated(&by.name, role == KeyRole::Token, &k.kid, old.last().copied()),
            EventData::KeyRotated(KeyRotated::SigningKey {
                kid: k.kid.clone(),
                role: role.as_str().into(),
                retired: old.iter().map(|o| o.to_string()).collect(),
            }),
        ))
        .await?;
        made.push(k.kid.clone());
        keys.push(k);
    }
    Ok(made)
}

/// Retires every live key that signs for one of `roles`; answers them.
async fn retire_serving(
    tx: &mut dyn WriteTx,
    keys: &mut [KeyRecord],
    roles: &[KeyRole],
    now: Timestamp,
) -> Result<Vec<KeyRecord>> {
    let mut retired = Vec::new();
    for k in keys.iter_mut().filter(|k| k.retired_at.is_none() && roles.iter().any(|r| k.role.serves(*r))) {
        tx.retire_key(&k.kid, now).await?;
        k.retired_at = Some(now);
        retired.push(k.clone());
    }
    Ok(retired)
}

async fn list_keys(store: &Store) -> Result<Vec<KeyRecord>> {
    store.read(read_fn(|tx| Box::pin(async move { tx.list_keys().await }))).await
}

/// Why a token was refused before its session was looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Malformed, unknown key, bad signature, wrong algorithm.
    Bad,
}

impl KeyRing {
    /// The key-encryption key, when this process holds one: other secrets
    /// actas keeps (connectors' webhook secrets) are sealed under it too.
    pub fn kek(&self) -> Option<&Arc<Kek>> {
        match &self.access {
            KeyAccess::Sealed(kek) => Some(kek),
            KeyAccess::Plaintext | KeyAccess::PublicOnly => None,
        }
    }

    /// Loads the keys. With a way to sign (`Sealed` or `Plaintext`), every
    /// stored key is opened (a key row actas did not make is refused);
    /// `PublicOnly` loads public keys only. Makes no key: see
    /// [`KeyRing::make_missing`].
    pub async fn load(store: &Store, keep_minutes: u32, access: KeyAccess) -> anyhow::Result<KeyRing> {
        let records = list_keys(store).await?;
        if matches!(access, KeyAccess::Plaintext) {
            tracing::warn!(
                "signing keys are stored in the clear (--allow-plaintext-keys): whoever reads the database can \
                 sign tokens and checkpoints; seal them with `actas key encrypt`"
            );
        }
        let set = build(records, &access)?;
        Ok(KeyRing { set: RwLock::new(Arc::new(set)), access, keep_minutes, last_miss_reload: Default::default() })
    }

    /// Makes a key for each role that has none (the first start), then
    /// fails, saying why, unless this ring can sign tokens and checkpoints.
    pub async fn make_missing(&self, store: &Store, now: Timestamp) -> anyhow::Result<()> {
        let set = self.set();
        let missing = [KeyRole::Token, KeyRole::Checkpoint].iter().any(|r| current(&set.records, *r).is_none());
        if self.access.can_sign() && missing {
            let access = self.access.clone();
            store
                .write(write_fn(move |tx| {
                    Box::pin(async move {
                        let mut keys = tx.list_keys().await?;
                        check_access(&keys, &access).map_err(internal)?;
                        make_missing(tx, &mut keys, &access, now, &Actor::system(), &[]).await
                    })
                }))
                .await?;
            self.reload(store).await?;
        }
        Ok(self.require_signing()?)
    }

    fn set(&self) -> Arc<KeySet> {
        self.set.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Fails, saying why, unless this ring can sign tokens and checkpoints.
    pub fn require_signing(&self) -> std::result::Result<(), KeyError> {
        let set = self.set();
        if set.token.is_some() && set.checkpoint.is_some() {
            return Ok(());
        }
        Err(why_locked(&set.records))
    }

    /// Re-reads the keys from the database (after a rotation elsewhere).
    pub async fn reload(&self, store: &Store) -> Result<()> {
        let set = build(list_keys(store).await?, &self.access).map_err(internal)?;
        *self.set.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(set);
        Ok(())
    }

    /// Reloads the keys if the database holds others than those loaded
    /// (a rotation by another process or node).
    pub async fn refresh(&self, store: &Store) -> Result<bool> {
        let records = list_keys(store).await?;
        if same_keys(&records, &self.set().records) {
            return Ok(false);
        }
        let set = build(records, &self.access).map_err(internal)?;
        tracing::info!(
            token = ?set.token.as_ref().map(|s| &s.kid),
            checkpoint = ?set.checkpoint.as_ref().map(|s| &s.kid),
            "signing keys changed; reloaded"
        );
        *self.set.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(set);
        Ok(true)
    }

    /// Refreshes the keys for a token whose `kid` is unknown here, at most
    /// once per second; answers whether the `kid` is known afterwards.
    pub async fn refresh_for(&self, store: &Store, token: &str) -> bool {
        if self.knows_kid_of(token) {
            return true;
        }
        {
            let mut last = self.last_miss_reload.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| t.elapsed() < MISS_RELOAD_EVERY) {
                return false;
            }
            *last = Some(std::time::Instant::now());
        }
        let _ = self.refresh(store).await;
        self.knows_kid_of(token)
    }

    /// Makes a new key for `role` (token or checkpoint) and retires the one
    /// it replaces; answers the new key's id.
    pub async fn rotate(&self, store: &Store, now: Timestamp, by: Actor, role: KeyRole) -> anyhow::Result<String> {
        if !self.access.can_sign() {
            return Err(why_locked(&self.set().records).into());
        }
        let access = self.access.clone();
        let made = store
            .write(write_fn(move |tx| {
                Box::pin(async move {
                    let mut keys = tx.list_keys().await?;
                    check_access(&keys, &access).map_err(internal)?;
                    let retired = retire_serving(tx, &mut keys, &[role], now).await?;
                    let made = make_missing(tx, &mut keys, &access, now, &by, &retired).await?;
                    Ok(keys.into_iter().filter(|k| made.contains(&k.kid)).collect::<Vec<_>>())
                })
            }))
            .await?;
        self.reload(store).await?;
        made.into_iter()
            .find(|k| k.role == role)
            .map(|k| k.kid)
            .ok_or_else(|| anyhow::anyhow!("no {} key was made", role.as_str()))
    }

    /// The key id that signs tokens now.
    pub fn current_kid(&self) -> String {
        self.set().token.as_ref().map(|s| s.kid.clone()).unwrap_or_default()
    }

    /// The key id that signs checkpoints now.
    pub fn current_checkpoint_kid(&self) -> String {
        self.set().checkpoint.as_ref().map(|s| s.kid.clone()).unwrap_or_default()
    }

    /// Every key's public facts, oldest first.
    pub fn public_keys(&self) -> Vec<PublicKeyInfo> {
        self.set()
            .records
            .iter()
            .map(|k| PublicKeyInfo {
                kid: k.kid.clone(),
                role: k.role,
                public_key: k.public_key.clone(),
                created_at: k.created_at,
                retired_at: k.retired_at,
            })
            .collect()
    }

    /// Issues the impersonation token `jti` for a session.
    pub fn issue(&self, base_url: &str, audience: &str, s: &Session, now: Timestamp, jti: String) -> Result<Secret> {
        let set = self.set();
        let signer = set.token.as_ref().ok_or_else(|| internal(why_locked(&set.records)))?;
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(signer.kid.clone());
        let claims = Claims {
            iss: base_url.to_string(),
            aud: audience.to_string(),
            sub: s.account_id.clone(),
            act: ActClaim { sub: s.agent.clone(), name: s.agent_name.clone() },
            sid: s.id.clone(),
            scope: s.scope.join(" "),
            ticket: s.ticket.clone(),
            iat: now.timestamp(),
            exp: s.ends_at.timestamp(),
            jti,
        };
        jsonwebtoken::encode(&header, &claims, &signer.encoding)
            .map(Secret::from)
            .map_err(|e| Error::Internal(anyhow::anyhow!("cannot sign: {e}")))
    }

    /// Checks a token's signature and shape, with token keys only. Expiry
    /// is left to the caller, which names the precise reason from the
    /// session's state.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let set = self.set();
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let lock = || set.verified.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(claims) = lock().get(&digest) {
            return Ok(claims.clone());
        }
        let claims = Self::check_signature(&set, token)?;
        let mut verified = lock();
        if verified.len() >= VERIFIED_TOKENS {
            verified.clear();
        }
        verified.insert(digest, claims.clone());
        Ok(claims)
    }

    fn check_signature(set: &KeySet, token: &str) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Bad)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Bad);
        }
        let kid = header.kid.ok_or(TokenError::Bad)?;
        let key = set.public.get(&kid).filter(|k| k.role.serves(KeyRole::Token)).ok_or(TokenError::Bad)?;
        let mut v = Validation::new(Algorithm::EdDSA);
        v.validate_exp = false;
        v.validate_aud = false;
        v.set_required_spec_claims(&["exp", "sub", "aud", "iss"]);
        jsonwebtoken::decode::<Claims>(token, &key.decoding, &v).map(|d| d.claims).map_err(|_| TokenError::Bad)
    }

    /// Whether a token's `kid` is known here (else it was perhaps rotated on another node).
    pub fn knows_kid_of(&self, token: &str) -> bool {
        match jsonwebtoken::decode_header(token) {
            Ok(h) => h.kid.is_some_and(|k| self.set().public.contains_key(&k)),
            Err(_) => true,
        }
    }

    /// The JWKS document: the current token key and retired token keys
    /// whose tokens may still be live. Checkpoint keys are never in it.
    pub fn jwks(&self, now: Timestamp) -> serde_json::Value {
        let set = self.set();
        let keep = actas_core::clock::minutes(self.keep_minutes + 1);
        let keys: Vec<serde_json::Value> = set
            .records
            .iter()
            .filter(|k| k.role.serves(KeyRole::Token))
            .filter(|k| k.retired_at.is_none_or(|r| r + keep > now))
            .map(|k| {
                serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": k.public_key, "kid": k.kid, "alg": "EdDSA", "use": "sig"})
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }

    /// Checks a signature over a head `(seq, hash)` with a checkpoint key
    /// this database holds (token keys never vouch for the trail).
    pub fn verify_head(&self, kid: &str, seq: i64, hash: &str, signature: &str) -> bool {
        let set = self.set();
        let Some(key) = set.public.get(kid).filter(|k| k.role.serves(KeyRole::Checkpoint)) else {
            return false;
        };
        let Ok(sig) = URL_SAFE_NO_PAD.decode(signature) else {
            return false;
        };
        UnparsedPublicKey::new(&ED25519, &key.raw).verify(&audit::checkpoint_message(seq, hash), &sig).is_ok()
    }

    /// Checks a checkpoint's signature against the stored checkpoint keys.
    pub fn verify_checkpoint(&self, cp: &Checkpoint) -> bool {
        self.verify_head(&cp.kid, cp.seq, &cp.hash, &cp.signature)
    }

    /// Signs a sealed segment's manifest with the current checkpoint key
    /// (setting its `kid` and `signature`).
    pub fn sign_segment(&self, m: &mut audit::segment::Manifest) -> std::result::Result<(), KeyError> {
        let set = self.set();
        let signer = set.checkpoint.as_ref().ok_or(KeyError::NoKek)?;
        m.kid = signer.kid.clone();
        m.signature = URL_SAFE_NO_PAD.encode(signer.pair.sign(&m.message()).as_ref());
        Ok(())
    }

    /// Checks a sealed segment's manifest against the stored checkpoint keys.
    pub fn verify_segment(&self, m: &audit::segment::Manifest) -> bool {
        let set = self.set();
        let Some(key) = set.public.get(&m.kid).filter(|k| k.role.serves(KeyRole::Checkpoint)) else {
            return false;
        };
        let Ok(sig) = URL_SAFE_NO_PAD.decode(&m.signature) else {
            return false;
        };
        UnparsedPublicKey::new(&ED25519, &key.raw).verify(&m.message(), &sig).is_ok()
    }
}

/// What [`encrypt_plain`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Encrypted {
    /// Keys that were in the clear and are now sealed (and retired).
    pub sealed: Vec<String>,
    /// The new keys that sign from now on.
    pub made: Vec<String>,
}

/// Seals every key stored in the clear under `kek`, then retires them all
/// and makes new sealed keys: a key that once lay in the clear may have
/// been copied (a backup, a replica), so it must sign nothing more. Tokens
/// it signed keep verifying until they end; checkpoints it signed keep
/// verifying. Nothing to do when no key is in the clear.
pub async fn encrypt_plain(store: &Store, kek: Arc<Kek>, now: Timestamp, by: Actor) -> anyhow::Result<Encrypted> {
    let records = list_keys(store).await?;
    let access = KeyAccess::Sealed(kek.clone());
    match check_access(&records, &access) {
        Ok(()) | Err(KeyError::PlainKeysWithKek { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    for k in &records {
        if let Stored::Sealed { .. } = sealed::classify(&k.kid, &k.private_key)? {
            private_der(k, &access)?;
        }
    }
    if !records.iter().any(|k| sealed::classify(&k.kid, &k.private_key).is_ok_and(|s| s == Stored::Plain)) {
        return Ok(Encrypted::default());
    }
    let done = store
        .write(write_fn(move |tx| {
            Box::pin(async move {
                let mut keys = tx.list_keys().await?;
                let mut done = Encrypted::default();
                for k in keys.iter_mut() {
                    if sealed::classify(&k.kid, &k.private_key).map_err(internal)? != Stored::Plain {
                        continue;
                    }
                    let der = private_der(k, &KeyAccess::Plaintext).map_err(internal)?;
                    pair_of(k, &der).map_err(internal)?;
                    k.private_key = sealed::seal(&kek, binding(k), &der).map_err(internal)?;
                    tx.update_key_secret(&k.kid, &k.private_key).await?;
                    done.sealed.push(k.kid.clone());
                }
                let retired = retire_serving(tx, &mut keys, &[KeyRole::Token, KeyRole::Checkpoint], now).await?;
                done.made = make_missing(tx, &mut keys, &access, now, &by, &retired).await?;
                Ok(done)
            })
        }))
        .await?;
    Ok(done)
}

/// Seals every key again under `new` (KEK rotation); the keys themselves do
/// not change, so tokens and checkpoints keep verifying and running
/// servers need no reload. Answers how many keys were sealed again.
pub async fn rewrap(store: &Store, old: Arc<Kek>, new: Arc<Kek>, now: Timestamp, by: Actor) -> anyhow::Result<usize> {
    let records = list_keys(store).await?;
    let access = KeyAccess::Sealed(old.clone());
    check_access(&records, &access)?;
    for k in &records {
        private_der(k, &access)?;
    }
    let n = store
        .write(write_fn(move |tx| {
            Box::pin(async move {
                let keys = tx.list_keys().await?;
                check_access(&keys, &access).map_err(internal)?;
                for k in &keys {
                    let der = private_der(k, &access).map_err(internal)?;
                    let again = sealed::seal(&new, binding(k), &der).map_err(internal)?;
                    tx.update_key_secret(&k.kid, &again).await?;
                }
                let kids: Vec<String> = keys.iter().map(|k| k.kid.clone()).collect();
                tx.append_event(NewEvent::new(
                    now,
                    by.clone(),
                    audit::kek_rotated(&by.name, new.id(), old.id(), &kids),
                    EventData::KeyRotated(KeyRotated::KeyEncryptionKey {
                        key_encryption_key: new.id().into(),
                        retired: old.id().into(),
                        kids,
                    }),
                ))
                .await?;
                Ok(keys.len())
            })
        }))
        .await?;
    Ok(n)
}

/// Signs checkpoints with the current checkpoint key, and hands each
/// committed one to the witness.
pub struct HeadSigner {
    /// The keys.
    pub keys: Arc<KeyRing>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Where committed heads are appended, outside the database.
    pub witness: Option<Arc<crate::witness::Witness>>,
}

impl actas_store::HeadSigner for HeadSigner {
    fn sign_head(&self, seq: i64, hash: &str) -> Option<Checkpoint> {
        let set = self.keys.set();
        let signer = set.checkpoint.as_ref()?;
        let sig = signer.pair.sign(&audit::checkpoint_message(seq, hash));
        Some(Checkpoint {
            seq,
            hash: hash.to_string(),
            kid: signer.kid.clone(),
            signature: URL_SAFE_NO_PAD.encode(sig.as_ref()),
            at: self.clock.now(),
        })
    }

    fn committed(&self, checkpoint: &Checkpoint) {
        if let Some(w) = &self.witness {
            w.record(checkpoint);
        }
    }
}
