//! Storage for actas.
//!
//! What is kept is described by small ports, one per aggregate, split into
//! reads and writes ([`ports`]); two backends implement them: SQLite (the
//! embedded default) and PostgreSQL (several nodes on one database). Work
//! happens in closures handed to [`Store::write`] or [`Store::read`]:
//!
//! - `write` runs the closure inside the node's single writer, which commits
//!   the closures waiting at that moment as one transaction (group commit),
//!   each inside its own savepoint so that a refusal rolls back alone. The
//!   writer holds the audit chain's lock for the whole transaction, so every
//!   write sees the state the previous one left, on every node. The closure
//!   is given a [`WriteTx`]: only here can anything be changed.
//! - `read` runs the closure in a read-only transaction on a pooled
//!   connection, given a [`ReadTx`].
//!
//! A closure's answer is delivered only after its transaction committed;
//! when the commit fails every answer of the batch becomes
//! [`Error::Unavailable`], so nothing is acknowledged that was not stored.
//!
//! Both are cancellation-safe: dropping the future of `write` or `read`
//! (a client that hung up) never leaves a connection inside a
//! transaction. Writes run in the writer's task, not the caller's; a
//! connection dropped with a transaction still open (a read cut short, a
//! batch cut by a panic) is closed, never handed back to the pool.
#![warn(missing_docs)]

mod convert;
mod plan;
pub mod ports;
mod postgres;
mod rows;
mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;
mod writer;

use std::sync::Arc;

use actas_core::audit::EventType;
use actas_core::id::{Ids, RandomIds};
use actas_core::model::RequestStatus;
use actas_core::{Error, Result, Timestamp};
use async_trait::async_trait;
use futures::future::BoxFuture;

pub use ports::{ReadTx, WriteTx};
pub use writer::{CheckpointSchedule, HeadSigner};

/// What a signing key signs. A key has one role: a token key never
/// vouches for the audit trail's head, and a checkpoint key never signs a
/// token a host app would accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyRole {
    /// Impersonation tokens (published in the JWKS).
    Token,
    /// Signed checkpoints of the audit trail's head.
    Checkpoint,
    /// A key from before roles were split, which signed both.
    Legacy,
}

impl KeyRole {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyRole::Token => "token",
            KeyRole::Checkpoint => "checkpoint",
            KeyRole::Legacy => "legacy",
        }
    }

    /// The role of a stored name.
    pub fn parse(s: &str) -> Option<KeyRole> {
        [KeyRole::Token, KeyRole::Checkpoint, KeyRole::Legacy].into_iter().find(|r| r.as_str() == s)
    }

    /// Whether a key of this role may sign (and verify) for `use_`.
    pub fn serves(self, use_: KeyRole) -> bool {
        self == use_ || self == KeyRole::Legacy
    }
}

/// A sealed segment of the trail as stored: events `first_seq..=last_seq`
/// moved to files by `actas audit archive`, and the signed manifest that
/// names them (`actas_core::audit::segment::Manifest`, as JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// The first event's seq.
    pub first_seq: i64,
    /// The last event's seq.
    pub last_seq: i64,
    /// The manifest, JSON.
    pub manifest: String,
    /// When it was recorded.
    pub sealed_at: Timestamp,
}

/// A signing key as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// Key id (the JWS `kid`).
    pub kid: String,
    /// What it signs.
    pub role: KeyRole,
    /// The Ed25519 private key (a PKCS#8 document): sealed under the
    /// key-encryption key (`v1:...`), or, in databases from before sealing
    /// and under `--allow-plaintext-keys`, base64url in the clear.
    pub private_key: String,
    /// Raw public key, base64url.
    pub public_key: String,
    /// When it was made.
    pub created_at: Timestamp,
    /// When a newer key replaced it for signing.
    pub retired_at: Option<Timestamp>,
}

/// A signed-in console session. The browser holds the random session id;
/// the store keeps only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    /// Hex SHA-256 of the session id in the cookie.
    pub id_hash: String,
    /// Who signed in.
    pub staff_id: String,
    /// The token every form of this session carries.
    pub csrf: String,
    /// When they signed in.
    pub created_at: Timestamp,
    /// The last request seen (moved forward at most once a minute).
    pub last_seen_at: Timestamp,
}

/// A connector app's webhook settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorRecord {
    /// The app whose webhook it is.
    pub app_id: String,
    /// Which ticket system.
    pub kind: actas_core::connector::Connector,
    /// The shared secret, sealed under the key-encryption key (never in
    /// the clear).
    pub secret: String,
    /// Where the ticket's fields are in the system's body.
    pub mapping: actas_core::connector::Mapping,
    /// When it was set up.
    pub created_at: Timestamp,
}

/// What provisioning (SCIM) keeps of a staff member beside the
/// [`Staff`](actas_core::model::Staff) row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaffProfile {
    /// The identity provider's own id for them (SCIM `externalId`); unique
    /// when set.
    pub external_id: Option<String>,
    /// Their e-mail address, as the identity provider sent it.
    pub email: Option<String>,
    /// The name the identity provider knows them by (SCIM `userName`, the
    /// OpenID username claim), lowercased, when it is no longer their
    /// login; unique. `None`: their login.
    pub username: Option<String>,
    /// When they last changed (name, disabled, the above); `None` when
    /// never since they were added.
    pub updated_at: Option<Timestamp>,
}

/// A one-time entry code: the browser carries the code to the host app,
/// which exchanges it for the session's token. Only its SHA-256 is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryCode {
    /// Hex SHA-256 of the code.
    pub hash: String,
    /// The session it enters.
    pub session_id: String,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it stops working.
    pub expires_at: Timestamp,
    /// When the host app exchanged it.
    pub used_at: Option<Timestamp>,
}

/// Which requests to list.
#[derive(Debug, Clone, Default)]
pub struct RequestFilter {
    /// Only this status.
    pub status: Option<RequestStatus>,
    /// Only this requester.
    pub requester: Option<String>,
    /// Only this ticket.
    pub ticket: Option<String>,
    /// Only requests for (or that started) this session.
    pub session_id: Option<String>,
    /// At most this many (oldest first).
    pub limit: Option<i64>,
}

/// Which sessions to list.
#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    /// Only this account.
    pub account_id: Option<String>,
    /// Only this ticket.
    pub ticket: Option<String>,
    /// Only this agent.
    pub agent: Option<String>,
    /// Only sessions of this request.
    pub request_id: Option<String>,
    /// Only sessions issued for this app.
    pub app_id: Option<String>,
    /// Only live sessions.
    pub live_only: bool,
    /// Only break-glass sessions no lead has reviewed yet.
    pub awaiting_review: bool,
    /// At most this many (newest first).
    pub limit: Option<i64>,
}

/// Which audit events to list, oldest first.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Only this account.
    pub account_id: Option<String>,
    /// Only events about this staff member's access, or done by them.
    pub agent: Option<String>,
    /// Only this ticket.
    pub ticket: Option<String>,
    /// Only this session.
    pub session_id: Option<String>,
    /// Only this request.
    pub request_id: Option<String>,
    /// Only these types.
    pub types: Vec<EventType>,
    /// At or after (inclusive).
    pub since: Option<Timestamp>,
    /// Before (exclusive).
    pub until: Option<Timestamp>,
    /// Only events with a greater seq (the paging cursor).
    pub after_seq: Option<i64>,
    /// At most this many.
    pub limit: i64,
}

/// The body of a [`Store::read`].
pub type ReadFn<T> = Box<dyn for<'t> FnOnce(&'t mut dyn ReadTx) -> BoxFuture<'t, Result<T>> + Send>;

/// The body of a [`Store::write`].
pub type WriteFn<T> = Box<dyn for<'t> FnOnce(&'t mut dyn WriteTx) -> BoxFuture<'t, Result<T>> + Send>;

/// Builds a [`ReadFn`] from a closure: `read_fn(move |tx| Box::pin(async move { ... }))`.
pub fn read_fn<T, F>(f: F) -> ReadFn<T>
where
    F: for<'t> FnOnce(&'t mut dyn ReadTx) -> BoxFuture<'t, Result<T>> + Send + 'static,
{
    Box::new(f)
}

/// Builds a [`WriteFn`] from a closure: `write_fn(move |tx| Box::pin(async move { ... }))`.
pub fn write_fn<T, F>(f: F) -> WriteFn<T>
where
    F: for<'t> FnOnce(&'t mut dyn WriteTx) -> BoxFuture<'t, Result<T>> + Send + 'static,
{
    Box::new(f)
}

#[async_trait]
trait Backend: Send + Sync {
    async fn read_boxed(&self, f: ReadFn<Box<dyn std::any::Any + Send>>) -> Result<Box<dyn std::any::Any + Send>>;
    async fn ping(&self) -> Result<()>;
    fn engine(&self) -> Engine;
    async fn backup_to(&self, to: &std::path::Path) -> Result<()>;
}

/// A handle on the database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
    writer: writer::WriterHandle,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend.engine()).finish()
    }
}

/// The database behind a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// An embedded SQLite file.
    Sqlite,
    /// PostgreSQL, shared by every node.
    Postgres,
}

impl Engine {
    /// Its name in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
        }
    }
}

/// Options for opening a store.
#[derive(Debug, Clone)]
pub struct Options {
    /// `sqlite://path`, a bare path, or `postgres://...`.
    pub url: String,
    /// Apply migrations on open.
    pub migrate: bool,
    /// Where new ids come from (events' and those made in a transaction).
    pub ids: Arc<dyn Ids>,
    /// Reader connections: to PostgreSQL 16 when `None`, to SQLite 8. The
    /// writer has one connection more, its own.
    pub pool_size: Option<u32>,
}

impl Options {
    /// The database at `url`, migrated on open, with random ids.
    pub fn new(url: impl Into<String>) -> Options {
        Options { url: url.into(), migrate: true, ids: Arc::new(RandomIds), pool_size: None }
    }

    /// Leaves the schema as it is: opening refuses one this build does not
    /// match.
    pub fn without_migrations(mut self) -> Options {
        self.migrate = false;
        self
    }

    /// Takes new ids from `ids`.
    pub fn with_ids(mut self, ids: Arc<dyn Ids>) -> Options {
        self.ids = ids;
        self
    }
}

impl Store {
    /// Opens the database at `url`, applying migrations when `migrate` is set.
    /// Refuses a database whose schema is newer than this build knows.
    pub async fn open(opts: &Options) -> anyhow::Result<Store> {
        if is_postgres(&opts.url) {
            postgres::open(opts).await
        } else {
            sqlite::open(opts).await
        }
    }

    /// Copies the whole database, online and consistent, to a new SQLite
    /// file `to` (SQLite's `VACUUM INTO`: one read transaction, writers go
    /// on). PostgreSQL is backed up with its own tools (`pg_dump`).
    pub async fn backup_to(&self, to: &std::path::Path) -> Result<()> {
        self.backend.backup_to(to).await
    }

    /// Runs `f` in the writer; it commits with the others waiting (group
    /// commit). Its answer arrives only after the commit succeeded.
    pub async fn write<T: Send + 'static>(&self, f: WriteFn<T>) -> Result<T> {
        self.writer.submit(f).await
    }

    /// Runs `f` in a read-only transaction. Dropped before it ends (a
    /// client that hung up), the read closes its connection, which ends
    /// the transaction in the database, instead of pooling it.
    pub async fn read<T: Send + 'static>(&self, f: ReadFn<T>) -> Result<T> {
        let boxed: ReadFn<Box<dyn std::any::Any + Send>> = Box::new(move |tx| {
            Box::pin(async move { f(tx).await.map(|v| Box::new(v) as Box<dyn std::any::Any + Send>) })
        });
        let any = self.backend.read_boxed(boxed).await?;
        any.downcast::<T>()
            .map(|b| *b)
            .map_err(|_| Error::Internal(anyhow::anyhow!("read returned an unexpected type")))
    }

    /// Makes `make()` the first write to commit: until a batch beginning
    /// with it commits, every batch begins with it, and a batch in which it
    /// fails commits nothing. Answers whether the first attempt committed;
    /// when it did not (the database cannot be written yet), every write
    /// is refused until it does. The server records the policy it runs
    /// with this way, so that no event precedes it even when it starts on
    /// a database it cannot write yet.
    pub async fn write_first(&self, make: Arc<dyn Fn() -> WriteFn<()> + Send + Sync>) -> Result<()> {
        self.writer.write_first(make).await
    }

    /// Sets who signs the chain's head after each committed batch.
    pub fn set_head_signer(&self, signer: Arc<dyn HeadSigner>) {
        self.writer.set_signer(signer);
    }

    /// Sets how often the head is signed (default: [`CheckpointSchedule::default`]).
    pub fn set_checkpoint_schedule(&self, schedule: CheckpointSchedule) {
        self.writer.set_schedule(schedule);
    }

    /// Signs the chain's head now unless it is signed already (before a
    /// graceful shutdown), and answers once that checkpoint committed.
    pub async fn sign_head(&self) -> Result<()> {
        self.writer.sign_head().await
    }

    /// Committed write transactions and the writes they held, since open:
    /// their ratio is the group commit's average batch size.
    pub fn write_stats(&self) -> (u64, u64) {
        self.writer.stats()
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<()> {
        self.backend.ping().await
    }

    /// Whether a write can be committed now: `Ok`, or
    /// [`Error::Unavailable`] with the reason (the writer has stopped, or
    /// its last commit failed and a probe write fails too). A commit in
    /// the last few seconds answers at once; otherwise one small probe row
    /// is written through the writer, so an idle or failing writer is
    /// judged by a real commit.
    pub async fn check_writes(&self) -> Result<()> {
        self.writer.check().await
    }

    /// Whether the writer's task is running.
    pub fn writer_alive(&self) -> bool {
        self.writer.alive()
    }

    /// Panics in the writer that it caught and survived since open.
    pub fn writer_panics(&self) -> u64 {
        self.writer.panics()
    }

    /// `sqlite` or `postgres`.
    pub fn engine(&self) -> Engine {
        self.backend.engine()
    }
}

/// The newest schema version this build writes (its last migration), the
/// same on both engines.
pub fn schema_version() -> i64 {
    sqlx::migrate!("./migrations/sqlite").iter().map(|m| m.version).max().unwrap_or(0)
}

/// Refuses a schema written by a newer actas: one with a migration this
/// build lacks.
fn check_newer(migrator: &sqlx::migrate::Migrator, applied: &[i64]) -> anyhow::Result<()> {
    let known: Vec<i64> = migrator.iter().map(|m| m.version).collect();
    if let Some(v) = applied.iter().find(|v| !known.contains(v)) {
        anyhow::bail!(
            "the database has schema version {v}, which this actas (schema {}) does not know: a newer actas \
             migrated it; run that version instead (see docs/upgrading.md)",
            known.iter().max().copied().unwrap_or(0)
        );
    }
    Ok(())
}

/// Refuses a schema this build does not know: one with a migration this
/// build lacks (a newer actas wrote it) or missing one (run `actas migrate`).
fn check_schema(migrator: &sqlx::migrate::Migrator, applied: &[i64]) -> anyhow::Result<()> {
    check_newer(migrator, applied)?;
    let known: Vec<i64> = migrator.iter().map(|m| m.version).collect();
    if let Some(v) = known.iter().find(|v| !applied.contains(v)) {
        anyhow::bail!("the database lacks schema version {v}; run `actas migrate`");
    }
    Ok(())
}

/// Whether a database URL selects PostgreSQL.
pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_schema_version_is_the_last_migration() {
        assert_eq!(super::schema_version(), sqlx::migrate!("./migrations/postgres").iter().count() as i64);
    }

    #[test]
    fn both_backends_have_the_same_migrations() {
        let names = |dir: &str| {
            let mut v: Vec<String> = std::fs::read_dir(format!("{}/migrations/{dir}", env!("CARGO_MANIFEST_DIR")))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        assert_eq!(names("sqlite"), names("postgres"));
        // Each version once: two branches may each have added "the next" one.
        let mut versions: Vec<&str> = Vec::new();
        let all = names("sqlite");
        for n in &all {
            let v = n.split('_').next().unwrap_or_default();
            assert!(!versions.contains(&v), "two migrations share version {v}: {all:?}");
            versions.push(v);
        }
    }
}
