//! PostgreSQL, for several nodes on one database.
//!
//! Every node runs its own writer; each batch takes one transaction-scoped
//! advisory lock, so the audit chain has one head and all writes are
//! serialized across nodes, while reads run in parallel on snapshots.

use std::sync::Arc;
use std::time::Duration;

use actas_core::id::Ids;
use anyhow::Context;
use async_trait::async_trait;
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::Connection;

use crate::writer::{BatchConn, BatchSource, WriterHandle};
use crate::{Backend, Options, ReadFn, Store};

mod tx;

/// The name of the writer's thread.
const WRITER_THREAD: &str = "actas-pg-writer";

/// The longest wait for a connection: the pool's, or the writer's own.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

struct Postgres {
    pool: PgPool,
    /// How the writer opens its own connection.
    connect: PgConnectOptions,
    ids: Arc<dyn Ids>,
}

#[async_trait]
impl Backend for Postgres {
    async fn read_boxed(
        &self,
        f: ReadFn<Box<dyn std::any::Any + Send>>,
    ) -> actas_core::Result<Box<dyn std::any::Any + Send>> {
        tx::read_in(&self.pool, &self.ids, f).await
    }

    async fn ping(&self) -> actas_core::Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(crate::convert::db_err)?;
        Ok(())
    }

    fn engine(&self) -> crate::Engine {
        crate::Engine::Postgres
    }

    async fn backup_to(&self, _to: &std::path::Path) -> actas_core::Result<()> {
        Err(actas_core::Error::refused(
            actas_core::Code::FieldRequired,
            Some("database"),
            "A PostgreSQL database is backed up with PostgreSQL's own tools: pg_dump --format=custom --file FILE \
             URL, and restored with pg_restore; then run actas audit verify on the restored database.",
        ))
    }
}

/// Runs on the writer's thread: its connection is its own, outside the
/// readers' pool, so that its socket is watched by the writer's runtime
/// and an answer from PostgreSQL wakes the writer at once instead of
/// queueing behind the requests the server's runtime is serving.
#[async_trait]
impl BatchSource for Postgres {
    async fn connect(&self) -> actas_core::Result<Box<dyn BatchConn>> {
        // As long as a reader waits for a connection from the pool: an
        // address that does not answer fails the batch, not after minutes.
        let conn = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&self.connect))
            .await
            .map_err(|_| {
                actas_core::Error::Unavailable(anyhow::anyhow!("PostgreSQL did not answer in {CONNECT_TIMEOUT:?}"))
            })?
            .map_err(crate::convert::db_err)?;
        Ok(Box::new(tx::SqlTx::new(tx::Conn::Own(conn), self.ids.clone())))
    }
}

pub(crate) async fn open(opts: &Options) -> anyhow::Result<Store> {
    // A node that freezes (paused, partitioned) while holding the chain's
    // lock must not stall the others: PostgreSQL aborts its transaction
    // after a few idle seconds, and a writer waiting longer than that for
    // the lock gives up (503) instead of hanging.
    let connect = PgConnectOptions::from_str(&opts.url).context("bad PostgreSQL URL")?.options([
        ("idle_in_transaction_session_timeout", "5s"),
        ("lock_timeout", "8s"),
        ("statement_timeout", "30s"),
    ]);
    let pool = PgPoolOptions::new()
        .max_connections(opts.pool_size.unwrap_or(16))
        .acquire_timeout(CONNECT_TIMEOUT)
        .connect_with(connect.clone())
        .await
        .context("cannot connect to PostgreSQL")?;
    let migrator = sqlx::migrate!("./migrations/postgres");
    // A database that was never migrated has no migrations table: nothing applied.
    let applied = || sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version");
    if opts.migrate {
        // A newer actas's schema is refused before migrating, in words.
        crate::check_newer(&migrator, &applied().fetch_all(&pool).await.unwrap_or_default())?;
        migrator.run(&pool).await.context("cannot migrate the database")?;
    }
    crate::check_schema(&migrator, &applied().fetch_all(&pool).await.unwrap_or_default())?;
    let backend = Arc::new(Postgres { pool, connect, ids: opts.ids.clone() });
    let writer =
        WriterHandle::spawn_thread(backend.clone(), WRITER_THREAD).context("cannot start the writer's thread")?;
    Ok(Store { backend, writer })
}
