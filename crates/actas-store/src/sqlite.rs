//! SQLite, the embedded default: one file, WAL mode, full sync.
//!
//! WAL lets readers run beside the one writer; `synchronous = FULL` makes a
//! commit durable before its answer goes out, and group commit keeps that
//! affordable. The writer takes the write lock with `BEGIN IMMEDIATE`.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use crate::writer::{BatchConn, BatchSource, WriterHandle};
use crate::{Backend, Options, Store, TxFn};

mod imp {
    const BEGIN_BATCH: &[&str] = &["BEGIN IMMEDIATE"];
    const BEGIN_READ: &str = "BEGIN";
    crate::sql::sql_tx!(sqlx::Sqlite, sqlx::sqlite::SqliteRow);
}

struct Sqlite {
    pool: SqlitePool,
}

#[async_trait]
impl Backend for Sqlite {
    async fn read_boxed(
        &self,
        f: TxFn<Box<dyn std::any::Any + Send>>,
    ) -> actas_core::Result<Box<dyn std::any::Any + Send>> {
        imp::read_in(&self.pool, f).await
    }

    async fn ping(&self) -> actas_core::Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(crate::convert::db_err)?;
        Ok(())
    }

    fn name(&self) -> &'static str {
        "sqlite"
    }
}

#[async_trait]
impl BatchSource for Sqlite {
    async fn connect(&self) -> actas_core::Result<Box<dyn BatchConn>> {
        let conn = self.pool.acquire().await.map_err(crate::convert::db_err)?;
        Ok(Box::new(imp::SqlTx::new(conn)))
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
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .min_connections(1)
        .connect_with(connect_options(&opts.url)?)
        .await
        .with_context(|| format!("cannot open the SQLite database {}", opts.url))?;
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
    let backend = Arc::new(Sqlite { pool });
    let writer = WriterHandle::spawn(backend.clone());
    Ok(Store { backend, writer })
}
