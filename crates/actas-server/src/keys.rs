//! Signing keys: impersonation tokens (EdDSA compact JWS) and audit head
//! checkpoints.
//!
//! Keys live in the database so that every node signs and verifies with the
//! same ones. The first start makes one; `actas key rotate` adds a new one
//! and retires the old, which JWKS keeps publishing until no token it signed
//! can still be live (`max_minutes` after its retirement).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use actas_core::audit::{self, Actor, Checkpoint, EventType, NewEvent};
use actas_core::model::Session;
use actas_core::{Clock, Error, Result, Timestamp};
use actas_store::{tx_fn, KeyRecord, Store};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The RFC 8693 actor claim.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ActClaim {
    /// Staff login.
    pub sub: String,
    /// Display name.
    pub name: String,
}

/// The claims of an impersonation token (SPEC §4).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// actas base URL.
    pub iss: String,
    /// The host app's id.
    pub aud: String,
    /// The customer account.
    pub sub: String,
    /// The staff member acting.
    pub act: ActClaim,
    /// Session id.
    pub sid: String,
    /// Granted actions, space-separated.
    pub scope: String,
    /// Ticket reference.
    pub ticket: String,
    /// Issued at (seconds).
    pub iat: i64,
    /// Expiry (seconds), never after the session's end.
    pub exp: i64,
    /// Token id.
    pub jti: String,
}

struct Signer {
    kid: String,
    encoding: EncodingKey,
    pair: Ed25519KeyPair,
}

struct KeySet {
    signer: Signer,
    decoding: HashMap<String, (DecodingKey, Vec<u8>)>,
    records: Vec<KeyRecord>,
}

/// The loaded keys, shared by the server's parts.
pub struct KeyRing {
    set: RwLock<Arc<KeySet>>,
    keep_minutes: u32,
    last_miss_reload: std::sync::Mutex<Option<std::time::Instant>>,
}

/// Least time between two reloads caused by tokens with an unknown `kid`,
/// so a flood of bad tokens cannot turn into a flood of queries.
const MISS_RELOAD_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing").field("current", &self.current_kid()).finish_non_exhaustive()
    }
}

fn kid_of(public: &[u8]) -> String {
    format!("k_{}", &hex::encode(Sha256::digest(public))[..16])
}

fn new_record(now: Timestamp) -> Result<KeyRecord> {
    let rng = ring::rand::SystemRandom::new();
    let doc =
        Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| Error::Internal(anyhow::anyhow!("cannot generate a key")))?;
    let pair =
        Ed25519KeyPair::from_pkcs8(doc.as_ref()).map_err(|e| Error::Internal(anyhow::anyhow!("bad new key: {e}")))?;
    let public = pair.public_key().as_ref().to_vec();
    Ok(KeyRecord {
        kid: kid_of(&public),
        private_key: URL_SAFE_NO_PAD.encode(doc.as_ref()),
        public_key: URL_SAFE_NO_PAD.encode(&public),
        created_at: now,
        retired_at: None,
    })
}

fn decode_b64(s: &str) -> Result<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s).map_err(|e| Error::Internal(anyhow::anyhow!("stored key is not base64url: {e}")))
}

fn build(records: Vec<KeyRecord>) -> Result<KeySet> {
    let current = records
        .iter()
        .rev()
        .find(|k| k.retired_at.is_none())
        .or_else(|| records.last())
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("no signing key")))?;
    let der = decode_b64(&current.private_key)?;
    let pair = Ed25519KeyPair::from_pkcs8(&der)
        .map_err(|e| Error::Internal(anyhow::anyhow!("stored key is not valid: {e}")))?;
    let signer = Signer { kid: current.kid.clone(), encoding: EncodingKey::from_ed_der(&der), pair };
    let mut decoding = HashMap::new();
    for k in &records {
        let key = DecodingKey::from_ed_components(&k.public_key)
            .map_err(|e| Error::Internal(anyhow::anyhow!("bad public key: {e}")))?;
        decoding.insert(k.kid.clone(), (key, decode_b64(&k.public_key)?));
    }
    Ok(KeySet { signer, decoding, records })
}

/// Why a token was refused before its session was looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Malformed, unknown key, bad signature, wrong algorithm.
    Bad,
}

impl KeyRing {
    /// Loads the keys, making the first one if the database has none.
    pub async fn load(store: &Store, clock: &dyn Clock, keep_minutes: u32) -> Result<KeyRing> {
        let now = clock.now();
        let records = store
            .write(tx_fn(move |tx| {
                Box::pin(async move {
                    let mut keys = tx.list_keys().await?;
                    if keys.is_empty() {
                        let k = new_record(now)?;
                        tx.insert_key(&k).await?;
                        tx.append_event(NewEvent::new(
                            EventType::KeyRotated,
                            now,
                            Actor::system(),
                            audit::key_rotated("actas", &k.kid, None),
                            serde_json::json!({"kid": k.kid}),
                        ))
                        .await?;
                        keys.push(k);
                    }
                    Ok(keys)
                })
            }))
            .await?;
        Ok(KeyRing { set: RwLock::new(Arc::new(build(records)?)), keep_minutes, last_miss_reload: Default::default() })
    }

    fn set(&self) -> Arc<KeySet> {
        self.set.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Re-reads the keys from the database (after a rotation elsewhere).
    pub async fn reload(&self, store: &Store) -> Result<()> {
        let records = store.read(tx_fn(|tx| Box::pin(async move { tx.list_keys().await }))).await?;
        let set = build(records)?;
        *self.set.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(set);
        Ok(())
    }

    /// Reloads the keys if the database holds others than those loaded
    /// (a rotation by another process or node).
    pub async fn refresh(&self, store: &Store) -> Result<bool> {
        let records = store.read(tx_fn(|tx| Box::pin(async move { tx.list_keys().await }))).await?;
        if records == self.set().records {
            return Ok(false);
        }
        let set = build(records)?;
        tracing::info!(kid = %set.signer.kid, "signing keys changed; reloaded");
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

    /// Makes a new signing key and retires the current one.
    pub async fn rotate(&self, store: &Store, now: Timestamp, by: Actor) -> Result<String> {
        let new = new_record(now)?;
        let kid = new.kid.clone();
        store
            .write(tx_fn(move |tx| {
                Box::pin(async move {
                    let old: Vec<String> =
                        tx.list_keys().await?.into_iter().filter(|k| k.retired_at.is_none()).map(|k| k.kid).collect();
                    for k in &old {
                        tx.retire_key(k, now).await?;
                    }
                    tx.insert_key(&new).await?;
                    tx.append_event(NewEvent::new(
                        EventType::KeyRotated,
                        now,
                        by.clone(),
                        audit::key_rotated(&by.name, &new.kid, old.last().map(String::as_str)),
                        serde_json::json!({"kid": new.kid, "retired": old}),
                    ))
                    .await?;
                    Ok(())
                })
            }))
            .await?;
        self.reload(store).await?;
        Ok(kid)
    }

    /// The key id that signs now.
    pub fn current_kid(&self) -> String {
        self.set().signer.kid.clone()
    }

    /// Issues the impersonation token for a session.
    pub fn issue(&self, base_url: &str, audience: &str, s: &Session, now: Timestamp) -> Result<String> {
        let set = self.set();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(set.signer.kid.clone());
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
            jti: actas_core::id::new_id("jti"),
        };
        jsonwebtoken::encode(&header, &claims, &set.signer.encoding)
            .map_err(|e| Error::Internal(anyhow::anyhow!("cannot sign: {e}")))
    }

    /// Checks a token's signature and shape. Expiry is left to the caller,
    /// which names the precise reason from the session's state.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Bad)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Bad);
        }
        let kid = header.kid.ok_or(TokenError::Bad)?;
        let set = self.set();
        let (key, _) = set.decoding.get(&kid).ok_or(TokenError::Bad)?;
        let mut v = Validation::new(Algorithm::EdDSA);
        v.validate_exp = false;
        v.validate_aud = false;
        v.set_required_spec_claims(&["exp", "sub", "aud", "iss"]);
        jsonwebtoken::decode::<Claims>(token, key, &v).map(|d| d.claims).map_err(|_| TokenError::Bad)
    }

    /// Whether a token's `kid` is unknown here (perhaps rotated on another node).
    pub fn knows_kid_of(&self, token: &str) -> bool {
        match jsonwebtoken::decode_header(token) {
            Ok(h) => h.kid.is_some_and(|k| self.set().decoding.contains_key(&k)),
            Err(_) => true,
        }
    }

    /// The JWKS document: the current key and retired keys whose tokens may
    /// still be live.
    pub fn jwks(&self, now: Timestamp) -> serde_json::Value {
        let set = self.set();
        let keep = actas_core::clock::minutes(self.keep_minutes + 1);
        let keys: Vec<serde_json::Value> = set
            .records
            .iter()
            .filter(|k| k.retired_at.is_none_or(|r| r + keep > now))
            .map(|k| {
                serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": k.public_key, "kid": k.kid, "alg": "EdDSA", "use": "sig"})
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }

    /// Checks a checkpoint's signature against the stored public key.
    pub fn verify_checkpoint(&self, cp: &Checkpoint) -> bool {
        let set = self.set();
        let Some((_, public)) = set.decoding.get(&cp.kid) else {
            return false;
        };
        let Ok(sig) = URL_SAFE_NO_PAD.decode(&cp.signature) else {
            return false;
        };
        UnparsedPublicKey::new(&ED25519, public).verify(&audit::checkpoint_message(cp.seq, &cp.hash), &sig).is_ok()
    }
}

/// Signs checkpoints with the current key.
pub struct HeadSigner {
    /// The keys.
    pub keys: Arc<KeyRing>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
}

impl actas_store::HeadSigner for HeadSigner {
    fn sign_head(&self, seq: i64, hash: &str) -> Option<Checkpoint> {
        let set = self.keys.set();
        let sig = set.signer.pair.sign(&audit::checkpoint_message(seq, hash));
        Some(Checkpoint {
            seq,
            hash: hash.to_string(),
            kid: set.signer.kid.clone(),
            signature: URL_SAFE_NO_PAD.encode(sig.as_ref()),
            at: self.clock.now(),
        })
    }
}
