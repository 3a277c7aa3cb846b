//! SQLite, the embedded default: one file, WAL mode, full sync.
//!
//! WAL lets readers run beside the one writer; `synchronous = FULL` makes a
//! commit durable before its answer goes out, and group commit keeps that
//! affordable. The writer takes the write lock with `BEGIN IMMEDIATE`.

use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actas_core::id::Ids;
use anyhow::Context;
use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use crate::writer::{BatchConn, BatchSource, WriterHandle};
use crate::{Backend, Options, ReadFn, Store};

mod imp {
    const BEGIN_BATCH: &[&str] = &["BEGIN IMMEDIATE"];
    const BEGIN_READ: &str = "BEGIN";
    crate::sql::sql_tx!(sqlx::Sqlite, sqlx::sqlite::SqliteRow, |index| format!(" INDEXED BY {index}"));
}

struct Sqlite {
    /// The readers' pool; replaced after a failed batch (see `reconnect`).
    readers: RwLock<SqlitePool>,
    /// The writer's one connection, apart from the readers' pool: after a
    /// failed batch the writer closes it and the next batch opens a fresh
    /// one.
    writer: SqlitePool,
    options: SqliteConnectOptions,
    ids: Arc<dyn Ids>,
}

impl Sqlite {
    fn readers(&self) -> SqlitePool {
        self.readers.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The readers' pool settings.
fn reader_pool() -> SqlitePoolOptions {
    SqlitePoolOptions::new().max_connections(8).min_connections(1)
}

#[async_trait]
impl Backend for Sqlite {
    async fn read_boxed(
        &self,
        f: ReadFn<Box<dyn std::any::Any + Send>>,
    ) -> actas_core::Result<Box<dyn std::any::Any + Send>> {
        imp::read_in(&self.readers(), &self.ids, f).await
    }

    async fn ping(&self) -> actas_core::Result<()> {
        sqlx::query("SELECT 1").execute(&self.readers()).await.map_err(crate::convert::db_err)?;
        Ok(())
    }

    fn engine(&self) -> crate::Engine {
        crate::Engine::Sqlite
    }
}

#[async_trait]
impl BatchSource for Sqlite {
    async fn connect(&self) -> actas_core::Result<Box<dyn BatchConn>> {
        let conn = self.writer.acquire().await.map_err(crate::convert::db_err)?;
        Ok(Box::new(imp::SqlTx::new(conn, self.ids.clone())))
    }

    /// After a failed batch, the readers start over on fresh connections
    /// too: SQLite shares one WAL index per file among a process's
    /// connections, and while one opened when the file was read-only
    /// lives, every connection of the process stays read-only. The old
    /// pool closes once its last reader is done with it.
    async fn reconnect(&self) -> actas_core::Result<Box<dyn BatchConn>> {
        let fresh = reader_pool().connect_lazy_with(self.options.clone());
        *self.readers.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        self.connect().await
    }
}

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

pub(crate) async fn open(opts: &Options) -> anyhow::Result<Store> {
    let options = connect_options(&opts.url)?;
    let pool = reader_pool()
        .connect_with(options.clone())
        .await
        .with_context(|| format!("cannot open the SQLite database {}", opts.url))?;
    let writer = SqlitePoolOptions::new().max_connections(1).min_connections(0).connect_lazy_with(options.clone());
    let migrator = sqlx::migrate!("./migrations/sqlite");
    if opts.migrate {
        migrator.run(&pool).await.context("cannot migrate the database")?;
    }
    // A database that was never migrated has no migrations table: nothing applied.
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
        .fetch_all(&pool)
        .await
        .unwrap_or_default();
    crate::check_schema(&migrator, &applied)?;
    let backend = Arc::new(Sqlite { readers: RwLock::new(pool), writer, options, ids: opts.ids.clone() });
    let writer = WriterHandle::spawn(backend.clone());
    Ok(Store { backend, writer })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sqlx::Connection;

    use super::*;
    use crate::writer::BatchConn;
    use crate::EventFilter;

    async fn pool(dir: &tempfile::TempDir) -> SqlitePool {
        let path = dir.path().join("t.db").to_string_lossy().into_owned();
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(connect_options(&path).expect("options"))
            .await
            .expect("a pool");
        sqlx::migrate!("./migrations/sqlite").run(&pool).await.expect("migrations");
        pool
    }

    fn ids() -> Arc<dyn Ids> {
        Arc::new(actas_core::id::RandomIds)
    }

    #[tokio::test]
    async fn a_read_dropped_mid_way_closes_its_connection_instead_of_pooling_it_in_a_transaction() {
        let dir = tempfile::tempdir().expect("a folder");
        let pool = pool(&dir).await;
        let ids = ids();
        for _ in 0..5 {
            let read = imp::read_in(
                &pool,
                &ids,
                Box::new(|tx| {
                    Box::pin(async move {
                        tx.list_events(&EventFilter { limit: 10, ..Default::default() }).await?;
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        Ok(())
                    })
                }),
            );
            // Dropped while the closure waits, inside its transaction.
            assert!(tokio::time::timeout(Duration::from_millis(20), read).await.is_err());
        }
        // The pool's one connection starts a transaction again.
        let head = imp::read_in(&pool, &ids, Box::new(|tx| Box::pin(async move { tx.get_event_head().await }))).await;
        assert_eq!(head.expect("a read after the dropped ones"), None);
        let mut conn = pool.acquire().await.expect("a connection");
        sqlx::query("BEGIN").execute(&mut *conn).await.expect("no transaction was left open");
        sqlx::query("ROLLBACK").execute(&mut *conn).await.expect("rollback");
        drop(conn);
        // No read pins the WAL: it checkpoints down to nothing.
        let (busy, _, _): (i64, i64, i64) =
            sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)").fetch_one(&pool).await.expect("a checkpoint");
        assert_eq!(busy, 0);
        assert_eq!(std::fs::metadata(dir.path().join("t.db-wal")).map(|m| m.len()).unwrap_or(0), 0);
    }

    #[tokio::test]
    async fn a_batch_dropped_inside_its_transaction_releases_the_write_lock() {
        let dir = tempfile::tempdir().expect("a folder");
        let pool = pool(&dir).await;
        let mut batch = imp::SqlTx::new(pool.acquire().await.expect("a connection"), ids());
        batch.begin().await.expect("BEGIN IMMEDIATE");
        drop(batch);
        // Another connection takes the write lock at once.
        let path = dir.path().join("t.db");
        let opts = SqliteConnectOptions::new().filename(&path).busy_timeout(Duration::from_millis(500));
        let mut other = sqlx::SqliteConnection::connect_with(&opts).await.expect("a connection");
        sqlx::query("BEGIN IMMEDIATE").execute(&mut other).await.expect("the write lock was released");
        sqlx::query("ROLLBACK").execute(&mut other).await.expect("rollback");
    }
}
