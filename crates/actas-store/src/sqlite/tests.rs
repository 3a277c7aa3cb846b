use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use actas_core::id::Ids;

use super::conn::BatchTx;
use super::pool::Readers;
use super::*;
use crate::writer::BatchConn;
use crate::EventFilter;

/// A migrated database file in `dir`.
async fn migrated(dir: &tempfile::TempDir) -> PathBuf {
    let path = dir.path().join("t.db");
    let url = path.to_string_lossy().into_owned();
    prepare(&url, &connect_options(&url).expect("options"), true).await.expect("a migrated file");
    path
}

fn ids() -> Arc<dyn Ids> {
    Arc::new(actas_core::id::RandomIds)
}

/// Waits until the pool holds `n` idle connections.
async fn idle(readers: &Readers, n: usize) {
    for _ in 0..200 {
        if readers.idle_count() == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the pool holds {} idle connections, not {n}", readers.idle_count());
}

/// Whether a TRUNCATE checkpoint completes (no read pins the WAL), and the
/// WAL's size after it.
fn checkpoint(path: &Path) -> (bool, u64) {
    let other = rusqlite::Connection::open(path).expect("a connection");
    let busy: i64 = other.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0)).expect("a checkpoint");
    let wal = std::fs::metadata(path.with_extension("db-wal")).map(|m| m.len()).unwrap_or(0);
    (busy == 0, wal)
}

#[tokio::test]
async fn a_read_whose_caller_left_ends_its_transaction_and_returns_its_connection() {
    let dir = tempfile::tempdir().expect("a folder");
    let path = migrated(&dir).await;
    let readers = Readers::new(path.clone(), 1);
    for _ in 0..5 {
        let read = readers.read(Box::new(|tx| {
            Box::pin(async move {
                tx.list_events(&EventFilter { limit: 10, ..Default::default() }).await?;
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok(())
            })
        }));
        // Dropped while the closure waits, inside its transaction.
        assert!(tokio::time::timeout(Duration::from_millis(10), read).await.is_err());
        // The read ends by itself and its connection comes back.
        idle(&readers, 1).await;
    }
    // The pool's one connection starts a transaction again.
    let head = readers.read(Box::new(|tx| Box::pin(async move { tx.get_event_head().await }))).await;
    assert_eq!(head.expect("a read after the dropped ones"), None);
    // No read pins the WAL: it checkpoints down to nothing.
    assert_eq!(checkpoint(&path), (true, 0));
}

#[tokio::test]
async fn a_connection_left_inside_a_transaction_is_closed_not_pooled() {
    let dir = tempfile::tempdir().expect("a folder");
    let readers = Readers::new(migrated(&dir).await, 1);
    readers.with(|c| c.control("BEGIN")).await.expect("BEGIN");
    assert_eq!(readers.idle_count(), 0);
    // The next read opens a fresh connection, which goes back.
    readers.read(Box::new(|tx| Box::pin(async move { tx.get_event_head().await }))).await.expect("a read");
    assert_eq!(readers.idle_count(), 1);
}

#[tokio::test]
async fn renewed_readers_close_the_connections_in_use_when_they_come_back() {
    let dir = tempfile::tempdir().expect("a folder");
    let readers = Readers::new(migrated(&dir).await, 2);
    readers.with(|c| c.ping()).await.expect("a ping");
    assert_eq!(readers.idle_count(), 1);
    readers.renew();
    assert_eq!(readers.idle_count(), 0, "idle connections are closed at once");
    let again = readers.clone();
    readers
        .with(move |c| {
            // Renewed while this connection is in use.
            again.renew();
            c.ping()
        })
        .await
        .expect("a ping");
    assert_eq!(readers.idle_count(), 0, "the connection in use was closed when it came back");
    readers.with(|c| c.ping()).await.expect("a ping");
    assert_eq!(readers.idle_count(), 1);
}

#[tokio::test]
async fn a_batch_dropped_inside_its_transaction_releases_the_write_lock() {
    let dir = tempfile::tempdir().expect("a folder");
    let path = migrated(&dir).await;
    let mut batch = BatchTx::open(&path, ids()).expect("the writer's connection");
    batch.begin().await.expect("BEGIN IMMEDIATE");
    drop(batch);
    // Another connection takes the write lock at once.
    let other = rusqlite::Connection::open(&path).expect("a connection");
    other.busy_timeout(Duration::from_millis(500)).expect("a busy timeout");
    other.execute_batch("BEGIN IMMEDIATE").expect("the write lock was released");
    other.execute_batch("ROLLBACK").expect("rollback");
}

#[tokio::test]
async fn the_writer_changes_nothing_outside_its_batch_transaction() {
    let dir = tempfile::tempdir().expect("a folder");
    let path = migrated(&dir).await;
    let mut batch = BatchTx::open(&path, ids()).expect("the writer's connection");
    let refused = batch.probe().await;
    assert!(matches!(refused, Err(actas_core::Error::Unavailable(_))), "{refused:?}");
    batch.begin().await.expect("BEGIN IMMEDIATE");
    batch.probe().await.expect("a change inside the batch");
    batch.exec("COMMIT").await.expect("COMMIT");
}

#[tokio::test]
async fn writes_run_on_the_writers_own_thread() {
    let dir = tempfile::tempdir().expect("a folder");
    let url = dir.path().join("t.db").to_string_lossy().into_owned();
    let store = open(&Options::new(url)).await.expect("a store");
    let name = store
        .write(Box::new(|_| Box::pin(async move { Ok(std::thread::current().name().map(str::to_string)) })))
        .await
        .expect("a write");
    assert_eq!(name.as_deref(), Some(WRITER_THREAD));
}

#[tokio::test]
async fn the_wal_stays_bounded_under_back_to_back_write_batches() {
    // A checkpoint that runs beside a writer that never pauses never
    // catches up with it, and the WAL then grows until the disk is full:
    // the writer's own checkpoints, between its batches, keep it bounded.
    let dir = tempfile::tempdir().expect("a folder");
    let path = migrated(&dir).await;
    let mut batch = BatchTx::open(&path, ids()).expect("the writer's connection");
    batch.begin().await.expect("BEGIN IMMEDIATE");
    batch.change("CREATE TABLE filler (k BLOB, b BLOB)", []).expect("a table");
    batch.change("CREATE INDEX filler_k ON filler (k)", []).expect("an index");
    batch.exec("COMMIT").await.expect("COMMIT");
    let wal = || std::fs::metadata(path.with_extension("db-wal")).map(|m| m.len()).unwrap_or(0);
    let mut largest = 0;
    for _ in 0..60 {
        batch.begin().await.expect("BEGIN IMMEDIATE");
        for _ in 0..1000 {
            batch.change("INSERT INTO filler (k, b) VALUES (randomblob(16), randomblob(1000))", []).expect("a row");
        }
        batch.exec("COMMIT").await.expect("COMMIT");
        largest = largest.max(wal());
    }
    let db = std::fs::metadata(&path).map(|m| m.len()).expect("the database file");
    assert!(db > 60_000_000, "the rows reached the database file ({db} bytes)");
    assert!(largest < 16_000_000, "the WAL grew to {largest} bytes");
}

/// The SQLite linked is built with the options of `.cargo/config.toml`
/// (one variable carries them all: `fdatasync`, which SQLite does not
/// list, and the memory count, which it does).
#[test]
fn sqlite_is_built_with_the_workspace_options() {
    let c = rusqlite::Connection::open_in_memory().expect("a connection");
    let mut stmt = c.prepare("PRAGMA compile_options").expect("a statement");
    let options: Vec<String> =
        stmt.query_map([], |r| r.get(0)).expect("the options").collect::<Result<_, _>>().expect("the options");
    assert!(options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"), "compiled with {options:?}");
}
