//! The writer: one task per node that commits writes in batches.
//!
//! The loop is the same for both backends, and runs on a thread of its own
//! ([`WriterHandle::spawn_thread`]): SQLite's calls block, and waiting on
//! `fsync` must block no worker of the runtime serving requests;
//! PostgreSQL's driver is asynchronous, but a writer that were one task
//! among the requests would wait behind them for its turn after each
//! answer from the database, and it waits for one several times a batch.
//!
//! Callers hand it closures; it takes every closure waiting, opens one
//! transaction (taking the audit chain's lock), runs each closure inside a
//! savepoint, signs the new head, commits once, and only then answers each
//! caller. One flush serves the whole batch.
//!
//! It does not die and does not wedge. A batch that fails answers every
//! caller `Unavailable` and the connection it ran on is closed, so the next
//! batch starts on a fresh one (a database that was full, read-only or away
//! is picked up again once it is back). A closure that panics fails its
//! batch the same way; a panic anywhere else restarts the task's loop with
//! the queue intact. A caller that stops waiting (a client that hung up)
//! never leaves a transaction open: the closures run in this task, not in
//! the caller's future, and one whose caller left before it started is
//! skipped. What the writer last managed is kept in [`WriterHealth`] for
//! `/healthz`.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use actas_core::audit::Checkpoint;
use actas_core::{Error, Result};
use async_trait::async_trait;
use futures::future::BoxFuture;
use futures::FutureExt;
use tokio::sync::{mpsc, oneshot};

use crate::ports::WriteTx;
use crate::WriteFn;

/// Most closures in one transaction.
const MAX_BATCH: usize = 256;

/// A commit this recent vouches for the writer without probing it.
const FRESH: Duration = Duration::from_secs(5);

/// Signs the audit chain's head. Set by the server once keys are loaded.
pub trait HeadSigner: Send + Sync {
    /// A checkpoint over `(seq, hash)`, or `None` when no key is available.
    fn sign_head(&self, seq: i64, hash: &str) -> Option<Checkpoint>;

    /// Called once the checkpoint's transaction has committed (never
    /// before, so nothing outside the database ever vouches for a head the
    /// database does not hold). Hands it to a witness outside the database.
    fn committed(&self, _checkpoint: &Checkpoint) {}
}

/// When the writer signs the chain's head: at most this often, so the
/// cost of a signature (and of a witness line) does not grow with the
/// number of writes. A head is signed by the first batch that commits once
/// `every` has passed since the last signature, or `events` events after
/// it; a head left unsigned when writes stop is signed by itself within
/// `every`; [`crate::Store::sign_head`] signs at once (graceful shutdown).
/// Events after the last signed head are the tail a cut could remove
/// unnoticed: at most `every` of them (see THREATS.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointSchedule {
    /// Sign at the latest this many events after the last signed head.
    pub events: i64,
    /// Sign at the latest this long after the first unsigned commit.
    pub every: Duration,
}

impl Default for CheckpointSchedule {
    /// 10,000 events or one second.
    fn default() -> Self {
        CheckpointSchedule { events: 10_000, every: Duration::from_secs(1) }
    }
}

impl CheckpointSchedule {
    /// Every batch signs its head (tests that look at each head).
    pub fn every_batch() -> Self {
        CheckpointSchedule { events: 0, every: Duration::ZERO }
    }
}

/// The last head this writer signed.
#[derive(Debug, Clone, Copy)]
struct Signed {
    seq: i64,
    at: Instant,
}

/// Whether a batch signs its head.
#[derive(Debug, Clone, Copy)]
struct SignPlan {
    /// Sign whatever the schedule says (a timer, or `sign_head`).
    force: bool,
    schedule: CheckpointSchedule,
    last: Option<Signed>,
}

impl SignPlan {
    /// Whether the head at `seq` is to be signed now.
    fn due(&self, seq: i64) -> bool {
        match self.last {
            None => true,
            Some(l) if seq <= l.seq => false,
            Some(_) if self.force => true,
            Some(l) => seq - l.seq >= self.schedule.events || l.at.elapsed() >= self.schedule.every,
        }
    }
}

type Deliver = Box<dyn FnOnce(Option<String>) + Send>;
/// Makes the write that must commit before any other (see [`WriterHandle::write_first`]).
pub(crate) type Opening = Arc<dyn Fn() -> WriteFn<()> + Send + Sync>;
type Work = Box<dyn for<'t> FnOnce(&'t mut dyn BatchConn) -> BoxFuture<'t, (bool, Deliver)> + Send>;

/// A closure waiting for the writer, and how to tell its caller that it
/// will not run. Dropped unrun, its caller hears "dropped".
struct Job {
    work: Work,
    refuse: Box<dyn FnOnce(&str) + Send>,
    /// Sign the head when this job's batch commits, whatever the schedule.
    sign: bool,
}

impl Job {
    fn new<T: Send + 'static>(
        answer: oneshot::Sender<Result<T>>,
        work: impl for<'t> FnOnce(&'t mut dyn BatchConn, oneshot::Sender<Result<T>>) -> BoxFuture<'t, (bool, Deliver)>
            + Send
            + 'static,
    ) -> Job {
        let answer = Arc::new(Mutex::new(Some(answer)));
        let take = answer.clone();
        Job {
            work: Box::new(move |c| {
                let answer = take.lock().unwrap_or_else(|e| e.into_inner()).take();
                match answer {
                    Some(answer) => work(c, answer),
                    None => Box::pin(async { (false, Box::new(|_| {}) as Deliver) }),
                }
            }),
            refuse: Box::new(move |why| {
                if let Some(answer) = answer.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    let _ = answer.send(Err(Error::Unavailable(anyhow::anyhow!("write refused: {why}"))));
                }
            }),
            sign: false,
        }
    }
}

/// Tells every caller of `jobs` that its write was not made, and why.
fn refuse_all(jobs: Vec<Job>, why: &str) {
    for job in jobs {
        (job.refuse)(why);
    }
}

/// One connection the writer batches on; each backend provides one.
#[async_trait]
pub(crate) trait BatchConn: Send {
    /// Opens the batch transaction and takes the chain lock.
    async fn begin(&mut self) -> Result<()>;
    /// Runs a raw statement (savepoints, commit, rollback).
    async fn exec(&mut self, sql: &'static str) -> Result<()>;
    /// Writes one row that exists for nothing else, to prove a commit
    /// reaches the disk.
    async fn probe(&mut self) -> Result<()>;
    /// Closes the connection when dropped instead of pooling it.
    fn discard(&mut self);
    /// The transaction, for the closures.
    fn tx(&mut self) -> &mut dyn WriteTx;
    /// Cached chain head, to restore after a rolled-back closure.
    fn cached_head(&self) -> Option<(i64, String)>;
    /// Restores the cached head.
    fn set_cached_head(&mut self, head: Option<(i64, String)>);
    /// Whether an event was appended in this batch.
    fn appended(&self) -> bool;
    /// Stores what the batch's writes left to store once, at its end
    /// (the time index of the events appended).
    async fn finish(&mut self) -> Result<()>;
}

/// Opens batch connections (again, after a failure).
#[async_trait]
pub(crate) trait BatchSource: Send + Sync {
    async fn connect(&self) -> Result<Box<dyn BatchConn>>;
    /// Connects after a failure; a backend may start over more widely.
    async fn reconnect(&self) -> Result<Box<dyn BatchConn>> {
        self.connect().await
    }
}

#[derive(Clone)]
pub(crate) struct WriterHandle {
    jobs: mpsc::Sender<Job>,
    signer: Arc<RwLock<Option<Arc<dyn HeadSigner>>>>,
    schedule: Arc<RwLock<CheckpointSchedule>>,
    stats: Arc<Stats>,
    health: Arc<WriterHealth>,
    opening: Arc<Mutex<Option<Opening>>>,
}

/// How many transactions the writer committed and how many writes they held.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) batches: AtomicU64,
    pub(crate) writes: AtomicU64,
}

/// What the writer last managed.
#[derive(Debug, Default)]
pub(crate) struct WriterHealth {
    /// The task runs (cleared when it ends, also by a panic).
    alive: AtomicBool,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    last_commit: Option<Instant>,
    /// Why the last batch failed; `None` once one commits.
    failing: Option<String>,
    /// Panics caught since start.
    panics: u64,
}

impl WriterHealth {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn committed(&self) {
        let mut s = self.state();
        s.last_commit = Some(Instant::now());
        s.failing = None;
    }

    fn failed(&self, why: String) {
        self.state().failing = Some(why);
    }
}

/// Clears `alive` when the writer task ends, however it ends.
struct Alive(Arc<WriterHealth>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.alive.store(false, Ordering::SeqCst);
    }
}

impl WriterHandle {
    /// A handle, and the loop it feeds, not yet running.
    fn new(source: Arc<dyn BatchSource>) -> (WriterHandle, impl std::future::Future<Output = ()> + Send) {
        let (jobs, rx) = mpsc::channel(4096);
        let signer: Arc<RwLock<Option<Arc<dyn HeadSigner>>>> = Arc::default();
        let stats = Arc::new(Stats::default());
        let health = Arc::new(WriterHealth::default());
        health.alive.store(true, Ordering::SeqCst);
        let opening: Arc<Mutex<Option<Opening>>> = Arc::default();
        let schedule: Arc<RwLock<CheckpointSchedule>> = Arc::default();
        let shared = Shared {
            signer: signer.clone(),
            schedule: schedule.clone(),
            stats: stats.clone(),
            health: health.clone(),
            opening: opening.clone(),
        };
        (WriterHandle { jobs, signer, schedule, stats, health, opening }, supervise(rx, source, shared))
    }

    /// Runs the writer on an OS thread of its own, named `name`, with a
    /// current-thread runtime: a call that blocks (SQLite waiting on `fsync`
    /// at COMMIT) blocks this thread only, never a worker of the runtime
    /// serving requests, and an answer from the database wakes this thread
    /// at once. The batches' connections are opened here, on this runtime
    /// ([`BatchSource::connect`]). The thread ends when the last handle is
    /// dropped.
    pub(crate) fn spawn_thread(source: Arc<dyn BatchSource>, name: &str) -> std::io::Result<WriterHandle> {
        let (handle, writer) = WriterHandle::new(source);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let spawned = std::thread::Builder::new().name(name.to_string()).spawn(move || runtime.block_on(writer));
        if let Err(e) = spawned {
            handle.health.alive.store(false, Ordering::SeqCst);
            return Err(e);
        }
        Ok(handle)
    }

    pub(crate) fn stats(&self) -> (u64, u64) {
        (self.stats.batches.load(Ordering::Relaxed), self.stats.writes.load(Ordering::Relaxed))
    }

    pub(crate) fn set_signer(&self, s: Arc<dyn HeadSigner>) {
        *self.signer.write().unwrap_or_else(|e| e.into_inner()) = Some(s);
    }

    pub(crate) fn set_schedule(&self, schedule: CheckpointSchedule) {
        *self.schedule.write().unwrap_or_else(|e| e.into_inner()) = schedule;
    }

    /// Commits a batch that signs the head now, if it is not signed yet.
    pub(crate) async fn sign_head(&self) -> Result<()> {
        let (answer, wait) = oneshot::channel::<Result<()>>();
        let mut job = Job::new(answer, move |_, answer| Box::pin(async move { (true, deliver(answer, Ok(()))) }));
        job.sign = true;
        self.send(job, wait).await
    }

    pub(crate) async fn submit<T: Send + 'static>(&self, f: WriteFn<T>) -> Result<T> {
        let (answer, wait) = oneshot::channel::<Result<T>>();
        let job = Job::new(answer, move |c, answer| {
            Box::pin(async move {
                if answer.is_closed() {
                    // The caller left before its turn: nobody will be told,
                    // so nothing is written.
                    return (false, Box::new(|_| {}) as Deliver);
                }
                let result = f(c.tx()).await;
                (result.is_ok(), deliver(answer, result))
            })
        });
        self.send(job, wait).await
    }

    /// Makes `make()` the write that commits first: until one batch that
    /// begins with it commits, every batch begins with it, and a batch in
    /// which it fails commits nothing. Answers whether the first attempt
    /// committed; when it did not, the writer keeps trying with each batch.
    pub(crate) async fn write_first(&self, make: Opening) -> Result<()> {
        *self.opening.lock().unwrap_or_else(|e| e.into_inner()) = Some(make);
        self.submit(Box::new(|_| Box::pin(async { Ok(()) }))).await
    }

    /// Commits a write that exists only to prove commits reach the disk.
    pub(crate) async fn probe(&self) -> Result<()> {
        let (answer, wait) = oneshot::channel::<Result<()>>();
        let job = Job::new(answer, move |c, answer| {
            Box::pin(async move {
                let result = c.probe().await;
                (result.is_ok(), deliver(answer, result))
            })
        });
        self.send(job, wait).await
    }

    async fn send<T>(&self, job: Job, wait: oneshot::Receiver<Result<T>>) -> Result<T> {
        self.jobs.send(job).await.map_err(|_| Error::Unavailable(anyhow::anyhow!("the writer has stopped")))?;
        wait.await.map_err(|_| Error::Unavailable(anyhow::anyhow!("the writer dropped the write")))?
    }

    /// `Ok` when a write can be committed now, else why not. Trusts a
    /// recent commit; otherwise (idle, or failing) commits a probe.
    pub(crate) async fn check(&self) -> Result<()> {
        if !self.health.alive.load(Ordering::SeqCst) {
            return Err(Error::Unavailable(anyhow::anyhow!("the writer has stopped")));
        }
        {
            let s = self.health.state();
            if s.failing.is_none() && s.last_commit.is_some_and(|t| t.elapsed() < FRESH) {
                return Ok(());
            }
        }
        self.probe().await
    }

    pub(crate) fn alive(&self) -> bool {
        self.health.alive.load(Ordering::SeqCst)
    }

    /// Panics the writer caught and survived since start.
    pub(crate) fn panics(&self) -> u64 {
        self.health.state().panics
    }
}

fn deliver<T: Send + 'static>(answer: oneshot::Sender<Result<T>>, result: Result<T>) -> Deliver {
    Box::new(move |commit_error| {
        let _ = answer.send(match commit_error {
            None => result,
            Some(msg) => Err(Error::Unavailable(anyhow::anyhow!("commit failed: {msg}"))),
        });
    })
}

/// Runs the writer loop, and runs it again after a panic: the queue lives
/// here, outside the loop, so no waiting write is lost to a restart.
/// What the writer's task shares with its handles.
struct Shared {
    signer: Arc<RwLock<Option<Arc<dyn HeadSigner>>>>,
    schedule: Arc<RwLock<CheckpointSchedule>>,
    stats: Arc<Stats>,
    health: Arc<WriterHealth>,
    opening: Arc<Mutex<Option<Opening>>>,
}

async fn supervise(mut rx: mpsc::Receiver<Job>, source: Arc<dyn BatchSource>, shared: Shared) {
    let health = shared.health.clone();
    let _alive = Alive(health.clone());
    loop {
        let run = run(&mut rx, source.as_ref(), &shared);
        match AssertUnwindSafe(run).catch_unwind().await {
            // Every handle is gone: the store was dropped.
            Ok(()) => return,
            Err(panic) => {
                let why = format!("the writer panicked: {}", panic_message(panic.as_ref()));
                {
                    let mut s = health.state();
                    s.panics += 1;
                    s.failing = Some(why.clone());
                }
                tracing::error!(error = %why, "writer restarted");
            }
        }
    }
}

/// An error with its causes, for logs and `/healthz`'s log line.
fn chain(e: &Error) -> String {
    match e {
        // Its own words ("the audit trail cannot be written") say nothing
        // new here; its causes do.
        Error::Unavailable(inner) => format!("{inner:#}"),
        other => {
            let mut out = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(s) = source {
                out.push_str(": ");
                out.push_str(&s.to_string());
                source = s.source();
            }
            out
        }
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

async fn run(rx: &mut mpsc::Receiver<Job>, source: &dyn BatchSource, shared: &Shared) {
    let Shared { signer, schedule, stats, health, opening } = shared;
    // Dropped with an open transaction (a panic unwinding through here),
    // the connection is closed, not pooled: see `SqlTx`.
    let mut conn: Option<Box<dyn BatchConn>> = None;
    // The last batch (or connection) failed.
    let mut failed = false;
    // The last head signed, and since when a committed head waits for one.
    let mut signed: Option<Signed> = None;
    let mut unsigned_since: Option<Instant> = None;
    loop {
        let schedule = *schedule.read().unwrap_or_else(|e| e.into_inner());
        // A head waiting for its signature is signed by a batch of its own
        // once its time comes, if no write comes first.
        let next = match unsigned_since {
            Some(since) => {
                match tokio::time::timeout(schedule.every.saturating_sub(since.elapsed()), rx.recv()).await {
                    Ok(next) => next,
                    Err(_) => {
                        let (answer, _) = oneshot::channel::<Result<()>>();
                        let mut job = Job::new(answer, |_, _| Box::pin(async { (true, Box::new(|_| {}) as Deliver) }));
                        job.sign = true;
                        Some(job)
                    }
                }
            }
            None => rx.recv().await,
        };
        let Some(first) = next else { return };
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        if conn.is_none() {
            let connected = if failed { source.reconnect().await } else { source.connect().await };
            match connected {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    let why = chain(&e);
                    tracing::error!(error = %why, "writer cannot reach the database");
                    refuse_all(jobs, &why);
                    health.failed(why);
                    failed = true;
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        let signer = signer.read().unwrap_or_else(|e| e.into_inner()).clone();
        // A batch of its own that only signs the head is no one's write.
        let n = jobs.iter().filter(|j| !j.sign).count() as u64;
        let first = opening.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let plan = SignPlan { force: jobs.iter().any(|j| j.sign), schedule, last: signed };
        let committed = Committed { stats, health, writes: n };
        match run_batch(c.as_mut(), first.as_ref().map(|make| make()), jobs, signer.as_deref(), plan, committed).await {
            Ok(outcome) => {
                if let Some(done) = first {
                    let mut pending = opening.lock().unwrap_or_else(|e| e.into_inner());
                    if pending.as_ref().is_some_and(|p| Arc::ptr_eq(p, &done)) {
                        *pending = None;
                    }
                }
                match outcome {
                    Head::Signed(seq) => {
                        signed = Some(Signed { seq, at: Instant::now() });
                        unsigned_since = None;
                    }
                    Head::Unsigned => {
                        unsigned_since.get_or_insert_with(Instant::now);
                    }
                    // A timer's batch found nothing to sign (no signer yet,
                    // or the head was signed already): stop waiting on it.
                    Head::Unchanged if plan.force => unsigned_since = None,
                    Head::Unchanged => {}
                }
                failed = false;
            }
            Err(e) => {
                let why = chain(&e);
                tracing::error!(error = %why, "batch failed; the next one starts on a fresh connection");
                health.failed(why);
                failed = true;
                if let Some(mut c) = conn.take() {
                    c.discard();
                }
            }
        }
    }
}

/// What a committed batch left of the chain's head.
enum Head {
    /// Signed, at this seq.
    Signed(i64),
    /// Moved (or was never signed here) and waits for a signature.
    Unsigned,
    /// Nothing to sign: no signer, or no event yet, or signed already.
    Unchanged,
}

/// Where a committed batch is counted, and the writes it counts for.
struct Committed<'a> {
    stats: &'a Stats,
    health: &'a WriterHealth,
    writes: u64,
}

async fn run_batch(
    c: &mut dyn BatchConn,
    first: Option<WriteFn<()>>,
    jobs: Vec<Job>,
    signer: Option<&dyn HeadSigner>,
    plan: SignPlan,
    committed: Committed<'_>,
) -> Result<Head> {
    if let Err(e) = c.begin().await {
        let _ = c.exec("ROLLBACK").await;
        let why = format!("cannot begin: {}", chain(&e));
        refuse_all(jobs, &why);
        return Err(Error::Unavailable(anyhow::anyhow!(why)));
    }
    let mut delivers = Vec::with_capacity(jobs.len());
    let mut broken: Option<String> = None;
    if let Some(first) = first {
        if let Err(e) = first(c.tx()).await {
            broken = Some(format!("the opening write failed: {}", chain(&e)));
        }
    }
    for job in jobs {
        if let Some(why) = &broken {
            // The batch will not commit: the rest are told without running.
            (job.refuse)(why);
            continue;
        }
        let head = c.cached_head();
        if let Err(e) = c.exec("SAVEPOINT job").await {
            let why = chain(&e);
            (job.refuse)(&why);
            broken = Some(why);
            continue;
        }
        // A panicking closure fails its batch like a failed statement; its
        // own caller sees its answer channel dropped.
        let (keep, deliver) = match AssertUnwindSafe((job.work)(c)).catch_unwind().await {
            Ok(done) => done,
            Err(panic) => {
                broken = Some(format!("a write panicked: {}", panic_message(panic.as_ref())));
                continue;
            }
        };
        let end = if keep { c.exec("RELEASE SAVEPOINT job").await } else { rollback_to(c).await };
        if !keep {
            c.set_cached_head(head);
        }
        if let Err(e) = end {
            broken.get_or_insert(chain(&e));
        }
        delivers.push(deliver);
    }
    if broken.is_none() {
        if let Err(e) = c.finish().await {
            broken = Some(chain(&e));
        }
    }
    let mut signed = None;
    let mut head = Head::Unchanged;
    if broken.is_none() {
        match checkpoint(c, signer, plan).await {
            Ok(Some(cp)) => {
                head = Head::Signed(cp.seq);
                signed = Some(cp);
            }
            Ok(None) if c.appended() && signer.is_some() => head = Head::Unsigned,
            Ok(None) => {}
            Err(e) => broken = Some(chain(&e)),
        }
    }
    let outcome = match broken {
        Some(msg) => Err(msg),
        None => c.exec("COMMIT").await.map_err(|e| chain(&e)),
    };
    let failed = outcome.as_ref().err().cloned();
    if failed.is_none() {
        // Counted before any caller hears of it: a caller holding its
        // answer finds its commit in the statistics and the health.
        committed.stats.batches.fetch_add(1, Ordering::Relaxed);
        committed.stats.writes.fetch_add(committed.writes, Ordering::Relaxed);
        committed.health.committed();
    }
    for d in delivers {
        d(failed.clone());
    }
    if let (None, Some(signer), Some(cp)) = (&failed, signer, &signed) {
        signer.committed(cp);
    }
    match outcome {
        Ok(()) => Ok(head),
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

/// Signs the batch's head when `plan` says it is due, and stores the
/// checkpoint in the batch.
async fn checkpoint(
    c: &mut dyn BatchConn,
    signer: Option<&dyn HeadSigner>,
    plan: SignPlan,
) -> Result<Option<Checkpoint>> {
    let Some(signer) = signer else { return Ok(None) };
    if !c.appended() && !plan.force {
        return Ok(None);
    }
    let head = match c.cached_head() {
        Some(h) => Some(h),
        None => c.tx().get_event_head().await?,
    };
    let Some((seq, hash)) = head else { return Ok(None) };
    if !plan.due(seq) {
        return Ok(None);
    }
    let Some(cp) = signer.sign_head(seq, &hash) else { return Ok(None) };
    c.tx().insert_checkpoint(&cp).await?;
    Ok(Some(cp))
}
