//! SQLite, the embedded default: one file, WAL mode, full sync, called
//! directly through rusqlite.
//!
//! SQLite is a library: a statement is a function call that finishes, or
//! waits on the disk, in the calling thread. The store calls it directly
//! and chooses which threads may block:
//!
//! - The writer runs on a thread of its own
//!   ([`WriterHandle::spawn_thread`]) with one connection ([`BatchTx`]):
//!   `BEGIN IMMEDIATE` takes the write lock, and with `synchronous = FULL`
//!   COMMIT waits for `fsync`, so a commit is durable before its answers go
//!   out; group commit keeps that affordable, and the wait blocks that
//!   thread only, never a worker of the runtime serving requests.
//! - Reads run on tokio's blocking pool, on a few connections of their own
//!   ([`pool`]), beside the writer thanks to WAL.
//!
//! An async driver (sqlx) would hand every statement to a worker thread
//! and back; on the write path those hand-offs, not the disk, were most of
//! what an authorize call cost. sqlx still applies the migrations, on a
//! connection of its own that is closed once the store is open, so both
//! backends keep one history of the schema (`_sqlx_migrations`).
//!
//! After a failed batch the writer and the readers start over on fresh
//! connections: a process shares one WAL index per file among its
//! connections, and while one opened when the file was read-only lives,
//! every connection of the process stays read-only.

mod conn;
mod pool;
mod reads;
mod rows;
mod writes;

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use actas_core::id::Ids;
use anyhow::Context;
use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection};

use self::conn::BatchTx;
use self::pool::Readers;
use crate::writer::{BatchConn, BatchSource, WriterHandle};
use crate::{Backend, Options, ReadFn, Store};

/// Connections of the readers' pool: reads at once.
const READERS: usize = 8;

/// The name of the writer's thread.
const WRITER_THREAD: &str = "actas-sqlite-writer";

struct Sqlite {
    readers: Arc<Readers>,
    path: PathBuf,
    ids: Arc<dyn Ids>,
}

#[async_trait]
impl Backend for Sqlite {
    async fn read_boxed(
        &self,
        f: ReadFn<Box<dyn std::any::Any + Send>>,
    ) -> actas_core::Result<Box<dyn std::any::Any + Send>> {
        self.readers.read(f).await
    }

    async fn ping(&self) -> actas_core::Result<()> {
        self.readers.with(|c| c.ping()).await
    }

    fn engine(&self) -> crate::Engine {
        crate::Engine::Sqlite
    }

    async fn backup_to(&self, to: &std::path::Path) -> actas_core::Result<()> {
        let to = to.to_path_buf();
        self.readers.with(move |c| c.vacuum_into(&to)).await
    }
}

/// Runs on the writer's thread, where blocking is the point.
#[async_trait]
impl BatchSource for Sqlite {
    async fn connect(&self) -> actas_core::Result<Box<dyn BatchConn>> {
        Ok(Box::new(BatchTx::open(&self.path, self.ids.clone())?))
    }

    /// After a failed batch, the readers start over on fresh connections
    /// too (see the module's documentation); those in use are closed when
    /// their reads end.
    async fn reconnect(&self) -> actas_core::Result<Box<dyn BatchConn>> {
        self.readers.renew();
        self.connect().await
    }
}

/// The migrating connection's options, from a `sqlite:` URL or a path.
fn connect_options(url: &str) -> anyhow::Result<SqliteConnectOptions> {
    let opts = if url.starts_with("sqlite:") {
        SqliteConnectOptions::from_str(url).with_context(|| format!("bad SQLite URL {url}"))?
    } else {
        SqliteConnectOptions::new().filename(url)
    };
    Ok(opts
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10)))
}

/// Makes the file if it is missing, migrates it when `migrate` is set, and
/// refuses a schema this build does not match; on a connection closed
/// before the store opens its own.
async fn prepare(url: &str, options: &SqliteConnectOptions, migrate: bool) -> anyhow::Result<()> {
    let mut conn = options.connect().await.with_context(|| format!("cannot open the SQLite database {url}"))?;
    let migrator = sqlx::migrate!("./migrations/sqlite");
    let checked = async {
        // A database that was never migrated has no migrations table: nothing applied.
        let applied = || sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version");
        if migrate {
            // A newer actas's schema is refused before migrating, in words.
            crate::check_newer(&migrator, &applied().fetch_all(&mut conn).await.unwrap_or_default())?;
            migrator.run(&mut conn).await.context("cannot migrate the database")?;
        }
        crate::check_schema(&migrator, &applied().fetch_all(&mut conn).await.unwrap_or_default())
    }
    .await;
    let _ = conn.close().await;
    checked
}

pub(crate) async fn open(opts: &Options) -> anyhow::Result<Store> {
    let options = connect_options(&opts.url)?;
    let path = options.get_filename().to_path_buf();
    if path.to_string_lossy().starts_with("file:sqlx-in-memory") || path.as_os_str() == ":memory:" {
        anyhow::bail!("an in-memory SQLite database cannot be shared by the store's connections; name a file");
    }
    prepare(&opts.url, &options, opts.migrate).await?;
    let readers = Readers::new(path.clone(), opts.pool_size.map_or(READERS, |n| n as usize));
    readers.with(|c| c.ping()).await.with_context(|| format!("cannot open the SQLite database {}", opts.url))?;
    let backend = Arc::new(Sqlite { readers, path, ids: opts.ids.clone() });
    let writer =
        WriterHandle::spawn_thread(backend.clone(), WRITER_THREAD).context("cannot start the writer's thread")?;
    Ok(Store { backend, writer })
}

/// The statement observer of the tests (`testing::observe_sqlite_statements`).
#[cfg(feature = "testing")]
pub(crate) mod observe {
    use std::sync::{Arc, RwLock};
    use std::time::Duration;

    type Observer = Arc<dyn Fn(&str) + Send + Sync>;

    static OBSERVER: RwLock<Option<Observer>> = RwLock::new(None);

    fn observer() -> Option<Observer> {
        OBSERVER.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn set(o: Observer) {
        *OBSERVER.write().unwrap_or_else(|e| e.into_inner()) = Some(o);
    }

    /// Reports the statements `conn` runs, when an observer is set: through
    /// SQLite's profile hook, which gives a statement's text as prepared
    /// (placeholders, not values) each time it has run.
    pub(super) fn attach(conn: &mut rusqlite::Connection) {
        if observer().is_some() {
            conn.profile(Some(ran));
        }
    }

    fn ran(sql: &str, _took: Duration) {
        if let Some(o) = observer() {
            o(sql);
        }
    }

    static REPREPARED: RwLock<Option<Observer>> = RwLock::new(None);

    pub(crate) fn set_reprepared(o: Observer) {
        *REPREPARED.write().unwrap_or_else(|e| e.into_inner()) = Some(o);
    }

    /// Reports `sql` when SQLite had to compile the cached `stmt` again to
    /// run it (its plan depended on a bound value, or the schema changed).
    pub(crate) fn ran_again(stmt: &rusqlite::Statement<'_>, sql: &str) {
        let again = stmt.reset_status(rusqlite::StatementStatus::RePrepare);
        if again > 0 {
            if let Some(o) = REPREPARED.read().unwrap_or_else(|e| e.into_inner()).clone() {
                o(sql);
            }
        }
    }
}

#[cfg(test)]
mod tests;
