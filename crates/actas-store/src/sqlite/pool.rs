//! The readers' connections: a few, each used by one read at a time, on
//! tokio's blocking pool.
//!
//! A read's statements block, so the closure of a [`Store::read`] runs on a
//! blocking thread (`spawn_blocking`), driven there by the caller's runtime
//! (`Handle::block_on`). That also makes reads cancellation-safe without
//! closing connections: a caller that stops waiting (a client that hung
//! up) drops only its end of the task, and the task still finishes the
//! read and its ROLLBACK and hands the connection back. A connection goes
//! back only outside a transaction and only if nothing failed on it;
//! otherwise it is dropped, which closes it.
//!
//! [`Readers::renew`] starts the pool over (see the module above): the
//! idle connections are closed at once, those in use when they come back.
//!
//! [`Store::read`]: crate::Store::read

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use actas_core::{Error, Result};
use tokio::sync::Semaphore;

use super::conn::ReadConn;
use crate::ReadFn;

/// The readers' pool.
pub(crate) struct Readers {
    path: PathBuf,
    /// One permit per connection: at most that many reads at once.
    slots: Arc<Semaphore>,
    idle: Mutex<Idle>,
}

struct Idle {
    /// Bumped by [`Readers::renew`]: a connection opened before comes
    /// back to be closed, not pooled.
    generation: u64,
    conns: Vec<ReadConn>,
}

/// A connection taken from the pool, and the generation it belongs to.
struct Lease {
    conn: ReadConn,
    generation: u64,
}

impl Readers {
    /// A pool of at most `size` connections to the file at `path`, opened
    /// as reads need them.
    pub(crate) fn new(path: PathBuf, size: usize) -> Arc<Readers> {
        Arc::new(Readers {
            path,
            slots: Arc::new(Semaphore::new(size)),
            idle: Mutex::new(Idle { generation: 0, conns: Vec::new() }),
        })
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Idle> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn take(&self) -> Result<Lease> {
        let (generation, idle) = {
            let mut idle = self.idle();
            (idle.generation, idle.conns.pop())
        };
        let conn = match idle {
            Some(c) => c,
            None => ReadConn::open(&self.path)?,
        };
        Ok(Lease { conn, generation })
    }

    /// Pools a connection again, or drops it (which closes it, ending any
    /// transaction left on it) when it is not reusable or the pool was
    /// renewed since it was taken.
    fn give_back(&self, lease: Lease) {
        if !lease.conn.reusable() {
            return;
        }
        let mut idle = self.idle();
        if idle.generation == lease.generation {
            idle.conns.push(lease.conn);
        }
    }

    /// Starts the pool over on fresh connections.
    pub(crate) fn renew(&self) {
        let old = {
            let mut idle = self.idle();
            idle.generation += 1;
            std::mem::take(&mut idle.conns)
        };
        drop(old);
    }

    /// Runs `f` with a connection of the pool on a blocking thread. It runs
    /// to the end even when the caller stops waiting.
    pub(crate) async fn with<T, F>(self: &Arc<Self>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut ReadConn) -> Result<T> + Send + 'static,
    {
        let permit = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Unavailable(anyhow::anyhow!("the readers' pool is closed")))?;
        let readers = self.clone();
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut lease = readers.take()?;
            let out = f(&mut lease.conn);
            readers.give_back(lease);
            out
        });
        match task.await {
            Ok(out) => out,
            // A read that panicked panics its caller, as it would have
            // running in the caller's task.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(Error::Unavailable(anyhow::anyhow!("the read did not run: {e}"))),
        }
    }

    /// Runs a read closure in a read-only transaction: BEGIN (deferred, so
    /// the snapshot is taken by the first statement), the closure, ROLLBACK.
    pub(crate) async fn read<T: Send + 'static>(self: &Arc<Self>, f: ReadFn<T>) -> Result<T> {
        let runtime = tokio::runtime::Handle::current();
        self.with(move |conn| {
            conn.control("BEGIN")?;
            let out = runtime.block_on(f(conn));
            if let Err(e) = conn.control("ROLLBACK") {
                tracing::warn!(error = %e, "could not end a read transaction; closing its connection");
            }
            out
        })
        .await
    }
}

#[cfg(test)]
impl Readers {
    /// Connections waiting in the pool.
    pub(crate) fn idle_count(&self) -> usize {
        self.idle().conns.len()
    }
}
