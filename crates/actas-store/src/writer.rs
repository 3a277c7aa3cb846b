//! The writer: one task per node that commits writes in batches.
//!
//! Callers hand it closures; it takes every closure waiting, opens one
//! transaction (taking the audit chain's lock), runs each closure inside a
//! savepoint, signs the new head, commits once, and only then answers each
//! caller. One flush serves the whole batch.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use actas_core::audit::Checkpoint;
use actas_core::{Error, Result};
use async_trait::async_trait;
use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

use crate::{Tx, TxFn};

/// Most closures in one transaction.
const MAX_BATCH: usize = 256;

/// Signs the audit chain's head. Set by the server once keys are loaded.
pub trait HeadSigner: Send + Sync {
    /// A checkpoint over `(seq, hash)`, or `None` when no key is available.
    fn sign_head(&self, seq: i64, hash: &str) -> Option<Checkpoint>;
}

type Deliver = Box<dyn FnOnce(Option<String>) + Send>;
type Job = Box<dyn for<'t> FnOnce(&'t mut dyn Tx) -> BoxFuture<'t, (bool, Deliver)> + Send>;

/// One connection the writer batches on; each backend provides one.
#[async_trait]
pub(crate) trait BatchConn: Send {
    /// Opens the batch transaction and takes the chain lock.
    async fn begin(&mut self) -> Result<()>;
    /// Runs a raw statement (savepoints, commit, rollback).
    async fn exec(&mut self, sql: &'static str) -> Result<()>;
    /// The transaction as a [`Tx`].
    fn tx(&mut self) -> &mut dyn Tx;
    /// Cached chain head, to restore after a rolled-back closure.
    fn cached_head(&self) -> Option<(i64, String)>;
    /// Restores the cached head.
    fn set_cached_head(&mut self, head: Option<(i64, String)>);
    /// Whether an event was appended in this batch.
    fn appended(&self) -> bool;
}

/// Opens batch connections (again, after a failure).
#[async_trait]
pub(crate) trait BatchSource: Send + Sync {
    async fn connect(&self) -> Result<Box<dyn BatchConn>>;
}

#[derive(Clone)]
pub(crate) struct WriterHandle {
    jobs: mpsc::Sender<Job>,
    signer: Arc<RwLock<Option<Arc<dyn HeadSigner>>>>,
    stats: Arc<Stats>,
}

/// How many transactions the writer committed and how many writes they held.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) batches: AtomicU64,
    pub(crate) writes: AtomicU64,
}

impl WriterHandle {
    pub(crate) fn spawn(source: Arc<dyn BatchSource>) -> WriterHandle {
        let (jobs, rx) = mpsc::channel(4096);
        let signer: Arc<RwLock<Option<Arc<dyn HeadSigner>>>> = Arc::default();
        let stats = Arc::new(Stats::default());
        tokio::spawn(run(rx, source, signer.clone(), stats.clone()));
        WriterHandle { jobs, signer, stats }
    }

    pub(crate) fn stats(&self) -> (u64, u64) {
        (self.stats.batches.load(Ordering::Relaxed), self.stats.writes.load(Ordering::Relaxed))
    }

    pub(crate) fn set_signer(&self, s: Arc<dyn HeadSigner>) {
        *self.signer.write().unwrap_or_else(|e| e.into_inner()) = Some(s);
    }

    pub(crate) async fn submit<T: Send + 'static>(&self, f: TxFn<T>) -> Result<T> {
        let (answer, wait) = oneshot::channel::<Result<T>>();
        let job: Job = Box::new(move |tx| {
            Box::pin(async move {
                let result = f(tx).await;
                let keep = result.is_ok();
                let deliver: Deliver = Box::new(move |commit_error| {
                    let _ = answer.send(match commit_error {
                        None => result,
                        Some(msg) => Err(Error::Unavailable(anyhow::anyhow!("commit failed: {msg}"))),
                    });
                });
                (keep, deliver)
            })
        });
        self.jobs.send(job).await.map_err(|_| Error::Unavailable(anyhow::anyhow!("the writer has stopped")))?;
        wait.await.map_err(|_| Error::Unavailable(anyhow::anyhow!("the writer dropped the write")))?
    }
}

async fn run(
    mut rx: mpsc::Receiver<Job>,
    source: Arc<dyn BatchSource>,
    signer: Arc<RwLock<Option<Arc<dyn HeadSigner>>>>,
    stats: Arc<Stats>,
) {
    let mut conn: Option<Box<dyn BatchConn>> = None;
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        if conn.is_none() {
            match source.connect().await {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    tracing::error!(error = %e, "writer cannot reach the database");
                    fail_all(jobs, &e.to_string()).await;
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        let signer = signer.read().unwrap_or_else(|e| e.into_inner()).clone();
        let n = jobs.len() as u64;
        match run_batch(c.as_mut(), jobs, signer.as_deref()).await {
            Ok(()) => {
                stats.batches.fetch_add(1, Ordering::Relaxed);
                stats.writes.fetch_add(n, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::error!(error = %e, "batch failed; reconnecting");
                conn = None;
            }
        }
    }
}

async fn fail_all(jobs: Vec<Job>, msg: &str) {
    // Dropping a job drops its answer channel: its caller sees Unavailable.
    drop(jobs);
    tracing::warn!(%msg, "writes refused: database unavailable");
}

async fn run_batch(c: &mut dyn BatchConn, jobs: Vec<Job>, signer: Option<&dyn HeadSigner>) -> Result<()> {
    if let Err(e) = c.begin().await {
        let _ = c.exec("ROLLBACK").await;
        drop(jobs);
        return Err(e);
    }
    let mut delivers = Vec::with_capacity(jobs.len());
    let mut broken: Option<String> = None;
    for job in jobs {
        let head = c.cached_head();
        if let Err(e) = c.exec("SAVEPOINT job").await {
            broken = Some(e.to_string());
        }
        let (keep, deliver) = job(c.tx()).await;
        let end = if keep { c.exec("RELEASE SAVEPOINT job").await } else { rollback_to(c).await };
        if !keep {
            c.set_cached_head(head);
        }
        if let Err(e) = end {
            broken.get_or_insert(e.to_string());
        }
        delivers.push(deliver);
    }
    if broken.is_none() && c.appended() {
        if let Err(e) = checkpoint(c, signer).await {
            broken = Some(e.to_string());
        }
    }
    let outcome = match broken {
        Some(msg) => {
            let _ = c.exec("ROLLBACK").await;
            Err(msg)
        }
        None => c.exec("COMMIT").await.map_err(|e| e.to_string()),
    };
    let failed = outcome.as_ref().err().cloned();
    for d in delivers {
        d(failed.clone());
    }
    match outcome {
        Ok(()) => Ok(()),
        Err(msg) => {
            let _ = c.exec("ROLLBACK").await;
            Err(Error::Unavailable(anyhow::anyhow!(msg)))
        }
    }
}

async fn rollback_to(c: &mut dyn BatchConn) -> Result<()> {
    c.exec("ROLLBACK TO SAVEPOINT job").await?;
    c.exec("RELEASE SAVEPOINT job").await
}

async fn checkpoint(c: &mut dyn BatchConn, signer: Option<&dyn HeadSigner>) -> Result<()> {
    let Some(signer) = signer else { return Ok(()) };
    let head = match c.cached_head() {
        Some(h) => Some(h),
        None => c.tx().get_event_head().await?,
    };
    if let Some((seq, hash)) = head {
        if let Some(cp) = signer.sign_head(seq, &hash) {
            c.tx().insert_checkpoint(&cp).await?;
        }
    }
    Ok(())
}
