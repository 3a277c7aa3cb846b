//! Checkpoints off the write path.
//!
//! In WAL mode a commit appends pages to the `-wal` file; a checkpoint
//! copies them back into the database file, and until it has, the WAL only
//! grows. SQLite's own automatic checkpoint runs inside the COMMIT that
//! crossed its threshold, on the writer's thread: that commit, and every
//! caller waiting on the batch behind it, waits for a thousand pages
//! written at random places of the database file and an `fsync` of it. On
//! a trail of millions of events those pages are scattered over the whole
//! file, and the wait was the slowest answers' time.
//!
//! So the writer's connection turns it off (`wal_autocheckpoint = 0`) and
//! tells a thread of its own after each commit. That thread, on a
//! connection of its own, runs a `PASSIVE` checkpoint at most every
//! [`PAUSE`]: it copies what no reader still needs, never waits for a lock
//! and never holds one the writer needs, so commits go on beside it. The
//! writer starts the WAL over once a checkpoint has copied all of it, and
//! `journal_size_limit` gives the disk back when it had grown.
//!
//! Durability does not depend on it: a committed page is in the WAL, which
//! SQLite replays on the next open after a crash.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::time::Duration;

/// The wait after a commit before checkpointing, so that one checkpoint
/// copies the pages of many commits, each page once however often it
/// changed.
pub(crate) const PAUSE: Duration = Duration::from_millis(200);

/// Frames left in the WAL after a checkpoint above which it is told in the
/// log: long reads are keeping the WAL from being copied back.
const BEHIND: i64 = 100_000;

/// Wakes the checkpointing thread; the thread ends when every waker has
/// been dropped.
#[derive(Clone)]
pub(crate) struct Checkpoints {
    wake: SyncSender<()>,
}

impl Checkpoints {
    /// Starts the thread for the database at `path`, named `name`.
    pub(crate) fn spawn(path: PathBuf, name: &str) -> std::io::Result<Checkpoints> {
        let (wake, woken) = sync_channel(1);
        std::thread::Builder::new().name(name.to_string()).spawn(move || run(&path, &woken))?;
        Ok(Checkpoints { wake })
    }

    /// A commit added pages to the WAL. Never blocks: a wake-up already
    /// waiting covers this one.
    pub(crate) fn committed(&self) {
        match self.wake.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) => {}
            Err(TrySendError::Disconnected(())) => tracing::warn!("the checkpointing thread has ended"),
        }
    }
}

/// The thread: waits for a commit, lets more gather for [`PAUSE`], then
/// checkpoints; ends when the wakers are gone.
fn run(path: &Path, woken: &Receiver<()>) {
    let mut conn: Option<rusqlite::Connection> = None;
    while woken.recv().is_ok() {
        std::thread::sleep(PAUSE);
        // Commits made during the pause are covered by this checkpoint.
        while woken.try_recv().is_ok() {}
        if conn.is_none() {
            conn = super::conn::open(path)
                .map_err(|e| tracing::warn!(error = %e, "cannot open a connection to checkpoint with"))
                .ok();
        }
        let Some(c) = &conn else { continue };
        match checkpoint(c) {
            Ok((log, copied)) if log - copied > BEHIND => {
                tracing::info!(frames = log - copied, "the WAL is not being copied back: a long read holds it");
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "a checkpoint failed; the next one opens a new connection");
                conn = None;
            }
        }
    }
}

/// One `PASSIVE` checkpoint: the WAL's frames and how many of them are now
/// in the database file.
pub(crate) fn checkpoint(c: &rusqlite::Connection) -> rusqlite::Result<(i64, i64)> {
    c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| Ok((r.get(1)?, r.get(2)?)))
}
