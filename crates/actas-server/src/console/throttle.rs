//! Throttled console sign-ins: guessing slows to a crawl, nobody is locked
//! out.
//!
//! Three counts, kept in memory per node:
//!
//! - per login and client address: [`FAILURES_PER_PAIR`] failures within
//!   [`WINDOW`] stop that address guessing that login;
//! - per client address, across logins: [`FAILURES_PER_ADDRESS`] failures
//!   within [`WINDOW`] stop that address (password spraying);
//! - per login, from every address: never a block. After
//!   [`FAILURES_BEFORE_BACKOFF`] failures the login admits one attempt per
//!   backoff interval, doubling from 1 second up to [`MAX_BACKOFF`], so
//!   the person whose login is under attack waits at most a minute.
//!
//! A successful sign-in clears its pair and the login's backoff. IPv6
//! clients are counted per /64, the smallest network one party usually
//! holds.
//!
//! **Invariant:** an attempt is admitted and reserved under one lock before
//! its password is checked ([`Throttle::admit`]); a reserved attempt counts
//! against every limit until it is settled, so N concurrent guesses get
//! through only as many as the limits allow. An attempt dropped unsettled
//! (the client went away) is released without counting.
//!
//! **Invariant:** memory is bounded: at most [`MAX_KEYS`] counters (expired
//! ones go first, then the least recently touched), and at most
//! `password_checks` argon2id verifications run at once
//! ([`Throttle::verify`]), on as many threads of the throttle's own, each
//! reusing one ~19 MiB block of argon2 memory.
//!
//! Time is the injected clock's, passed in as `now`.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use actas_core::clock::Timestamp;
use chrono::Duration;
use tokio::sync::Semaphore;

use crate::credentials;

/// Failed sign-ins per login and client address within [`WINDOW`] before
/// that address may not try that login again.
pub const FAILURES_PER_PAIR: usize = 5;
/// Failed sign-ins per client address within [`WINDOW`] before that
/// address may not sign in at all.
pub const FAILURES_PER_ADDRESS: usize = 20;
/// Failed sign-ins per login, from anywhere, before its backoff starts.
pub const FAILURES_BEFORE_BACKOFF: u32 = 5;
/// How long a failure counts.
pub const WINDOW: Duration = Duration::minutes(15);
/// The longest a login's backoff makes anyone wait.
pub const MAX_BACKOFF: Duration = Duration::seconds(60);
/// The most counters kept; beyond it, expired ones and then the least
/// recently touched are dropped.
pub const MAX_KEYS: usize = 50_000;

/// A login as counted: logins have at most 64 bytes, so longer ones (none
/// exists) share one counter instead of taking memory.
fn login_key(login: &str) -> Box<str> {
    if login.len() <= 64 {
        login.into()
    } else {
        "\u{0}too long".into()
    }
}

/// A client address as counted: IPv4 as is, IPv6 by its /64.
fn source_key(addr: Option<IpAddr>) -> Option<IpAddr> {
    addr.map(|a| match crate::http::forwarded::canonical(a) {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        v4 => v4,
    })
}

/// Failures within the window, and attempts in flight.
#[derive(Debug)]
struct Window {
    failures: VecDeque<Timestamp>,
    pending: usize,
    touched: Timestamp,
}

impl Window {
    fn new(now: Timestamp) -> Window {
        Window { failures: VecDeque::new(), pending: 0, touched: now }
    }

    fn forget_old(&mut self, now: Timestamp) {
        while self.failures.front().is_some_and(|t| *t + WINDOW <= now) {
            self.failures.pop_front();
        }
    }

    /// Whether one more attempt fits; when not, until when (attempts in
    /// flight: a second from now).
    fn check(&mut self, limit: usize, now: Timestamp) -> Result<(), Timestamp> {
        self.forget_old(now);
        if self.failures.len() >= limit {
            return Err(self.failures.front().map_or(now, |t| *t + WINDOW));
        }
        if self.failures.len() + self.pending >= limit {
            return Err(now + Duration::seconds(1));
        }
        Ok(())
    }

    fn settle(&mut self, outcome: Outcome, limit: usize, now: Timestamp) {
        self.pending = self.pending.saturating_sub(1);
        self.touched = now;
        match outcome {
            Outcome::Failed => {
                self.failures.push_back(now);
                while self.failures.len() > limit {
                    self.failures.pop_front();
                }
            }
            Outcome::Succeeded => self.failures.clear(),
            Outcome::Void => {}
        }
    }

    fn idle(&self, now: Timestamp) -> bool {
        self.pending == 0 && self.failures.back().is_none_or(|t| *t + WINDOW <= now)
    }
}

/// A login's backoff.
#[derive(Debug)]
struct Backoff {
    failures: u32,
    last_failure: Option<Timestamp>,
    /// When the next attempt past the free ones may start.
    next_at: Option<Timestamp>,
    pending: usize,
    touched: Timestamp,
}

/// The wait after the `failures`-th failure: 1 s at the first one past
/// [`FAILURES_BEFORE_BACKOFF`] − 1, doubling, at most [`MAX_BACKOFF`].
fn interval(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(FAILURES_BEFORE_BACKOFF).min(16);
    Duration::seconds(1i64 << doublings).min(MAX_BACKOFF)
}

impl Backoff {
    fn new(now: Timestamp) -> Backoff {
        Backoff { failures: 0, last_failure: None, next_at: None, pending: 0, touched: now }
    }

    fn forget_old(&mut self, now: Timestamp) {
        if self.pending == 0 && self.last_failure.is_some_and(|t| t + WINDOW <= now) {
            self.failures = 0;
            self.last_failure = None;
            self.next_at = None;
        }
    }

    fn free(&self) -> bool {
        (self.failures as usize) + self.pending < FAILURES_BEFORE_BACKOFF as usize
    }

    /// Whether an attempt may start now; when not, when it may.
    fn check(&mut self, now: Timestamp) -> Result<(), Timestamp> {
        self.forget_old(now);
        if self.free() {
            return Ok(());
        }
        match self.next_at {
            Some(t) if now >= t => Ok(()),
            Some(t) => Err(t),
            // The attempts that reach the limit are still being checked.
            None => Err(now + Duration::seconds(1)),
        }
    }

    /// Takes a free attempt, or the backoff's one slot (the next waits a
    /// full interval from now, whatever this one's outcome).
    fn reserve(&mut self, now: Timestamp) {
        if !self.free() {
            self.next_at = Some(now + interval(self.failures.max(FAILURES_BEFORE_BACKOFF)));
        }
        self.pending += 1;
        self.touched = now;
    }

    fn settle(&mut self, outcome: Outcome, now: Timestamp) {
        self.pending = self.pending.saturating_sub(1);
        self.touched = now;
        match outcome {
            Outcome::Failed => {
                self.failures = self.failures.saturating_add(1);
                self.last_failure = Some(now);
                if self.failures >= FAILURES_BEFORE_BACKOFF {
                    let next = now + interval(self.failures);
                    self.next_at = Some(self.next_at.map_or(next, |t| t.max(next)));
                }
            }
            Outcome::Succeeded => {
                self.failures = 0;
                self.last_failure = None;
                self.next_at = None;
            }
            Outcome::Void => {}
        }
    }

    fn idle(&self, now: Timestamp) -> bool {
        self.pending == 0 && self.last_failure.is_none_or(|t| t + WINDOW <= now)
    }
}

#[derive(Debug, Clone, Copy)]
enum Outcome {
    Failed,
    Succeeded,
    /// Neither: the attempt ended before its password said anything.
    Void,
}

#[derive(Debug, Default)]
struct Counts {
    pairs: HashMap<(Box<str>, Option<IpAddr>), Window>,
    addresses: HashMap<Option<IpAddr>, Window>,
    logins: HashMap<Box<str>, Backoff>,
}

impl Counts {
    fn len(&self) -> usize {
        self.pairs.len() + self.addresses.len() + self.logins.len()
    }

    /// Makes room for three more counters: drops expired ones, then, if
    /// still full, the least recently touched tenth (never one with an
    /// attempt in flight).
    fn make_room(&mut self, max: usize, now: Timestamp) {
        if self.len() + 3 <= max {
            return;
        }
        self.pairs.retain(|_, w| !w.idle(now));
        self.addresses.retain(|_, w| !w.idle(now));
        self.logins.retain(|_, b| !b.idle(now));
        if self.len() + 3 <= max {
            return;
        }
        let mut touched: Vec<Timestamp> = self
            .pairs
            .values()
            .filter(|w| w.pending == 0)
            .map(|w| w.touched)
            .chain(self.addresses.values().filter(|w| w.pending == 0).map(|w| w.touched))
            .chain(self.logins.values().filter(|b| b.pending == 0).map(|b| b.touched))
            .collect();
        let excess = (self.len() + 3).saturating_sub(max * 9 / 10).min(touched.len());
        if excess == 0 {
            return;
        }
        let (_, cut, _) = touched.select_nth_unstable(excess - 1);
        let cut = *cut;
        self.pairs.retain(|_, w| w.pending > 0 || w.touched > cut);
        self.addresses.retain(|_, w| w.pending > 0 || w.touched > cut);
        self.logins.retain(|_, b| b.pending > 0 || b.touched > cut);
    }
}

/// Why a sign-in was not even checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// This address failed too often for this login.
    Pair {
        /// When it may try again.
        until: Timestamp,
    },
    /// This address failed too often, across logins.
    Address {
        /// When it may try again.
        until: Timestamp,
    },
    /// The login is under attack: one attempt per backoff interval.
    Backoff {
        /// When the next attempt may start.
        at: Timestamp,
    },
}

impl Refusal {
    /// Whole seconds to wait, at least 1.
    pub fn wait_seconds(&self, now: Timestamp) -> i64 {
        let until = match self {
            Refusal::Pair { until } | Refusal::Address { until } => *until,
            Refusal::Backoff { at } => *at,
        };
        let micros = (until - now).num_microseconds().unwrap_or(i64::MAX);
        micros.saturating_add(999_999).div_euclid(1_000_000).max(1)
    }

    /// The sentence for the person.
    pub fn message(&self, now: Timestamp) -> String {
        let secs = self.wait_seconds(now);
        let wait = match secs {
            1 => "1 second".to_string(),
            s if s < 120 => format!("{s} seconds"),
            s => format!("{} minutes", (s + 59) / 60),
        };
        match self {
            Refusal::Pair { .. } => format!(
                "Too many failed sign-ins for this login from your network. Try again in {wait}, or ask an admin to reset your password."
            ),
            Refusal::Address { .. } => {
                format!("Too many failed sign-ins from your network. Try again in {wait}.")
            }
            Refusal::Backoff { .. } => format!(
                "Too many failed sign-ins for this login, so sign-ins for it are slowed down. Try again in {wait}."
            ),
        }
    }
}

/// How many password verifications ran, and at most how many at once.
#[derive(Debug, Default)]
struct Gauge {
    done: AtomicU64,
    running: AtomicUsize,
    peak: AtomicUsize,
}

/// Figures of [`Throttle::verify`], for tests and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verifications {
    /// Verifications started since the server started.
    pub done: u64,
    /// The most that ever ran at once.
    pub peak: usize,
    /// The most that may run at once.
    pub limit: usize,
}

/// A password check, run on one of the throttle's own threads with that
/// thread's argon2 memory.
type Job = Box<dyn FnOnce(&mut Vec<argon2::Block>) + Send>;

/// The threads that check passwords: a fixed few, each reusing its own
/// ~19 MiB of argon2id memory for every check. (Allocating it per check,
/// on the shared blocking pool, 100 sign-ins held ~500 MiB even two at a
/// time: the allocator keeps freed memory per thread.)
#[derive(Debug)]
struct Workers {
    jobs: Mutex<std::sync::mpsc::Sender<Job>>,
    threads: usize,
}

impl Workers {
    /// Starts `n` threads; they end when the throttle is dropped.
    fn start(n: usize) -> Workers {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let threads = (0..n)
            .filter(|i| {
                let queue = queue.clone();
                std::thread::Builder::new()
                    .name(format!("actas-password-{i}"))
                    .spawn(move || {
                        let mut memory = Vec::new();
                        loop {
                            let job = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
                            match job {
                                Ok(job) => job(&mut memory),
                                Err(_) => return,
                            }
                        }
                    })
                    .map_err(|e| tracing::warn!(error = %e, "cannot start a password-checking thread"))
                    .is_ok()
            })
            .count();
        Workers { jobs: Mutex::new(jobs), threads }
    }

    /// Runs `job` on a worker, or on the blocking pool when none started.
    fn run(&self, job: Job) {
        let job = if self.threads == 0 {
            job
        } else {
            match self.jobs.lock().unwrap_or_else(|e| e.into_inner()).send(job) {
                Ok(()) => return,
                Err(std::sync::mpsc::SendError(job)) => job,
            }
        };
        drop(tokio::task::spawn_blocking(move || job(&mut Vec::new())));
    }
}

/// The sign-in throttle of one node. See the module documentation.
#[derive(Debug)]
pub struct Throttle {
    counts: Mutex<Counts>,
    max_keys: usize,
    checks: Arc<Semaphore>,
    workers: Workers,
    limit: usize,
    gauge: Arc<Gauge>,
}

impl Default for Throttle {
    /// As many password checks at once as there are CPUs.
    fn default() -> Self {
        Throttle::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    }
}

impl Throttle {
    /// A throttle running at most `password_checks` verifications at once,
    /// each on one of as many threads of its own.
    pub fn new(password_checks: usize) -> Throttle {
        let limit = password_checks.max(1);
        Throttle {
            counts: Mutex::default(),
            max_keys: MAX_KEYS,
            checks: Arc::new(Semaphore::new(limit)),
            workers: Workers::start(limit),
            limit,
            gauge: Arc::default(),
        }
    }

    fn counts(&self) -> MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits a sign-in for `login` from `addr` and reserves it against
    /// every limit, or says why not; nothing is counted for a refusal.
    pub fn admit(self: &Arc<Self>, login: &str, addr: Option<IpAddr>, now: Timestamp) -> Result<Attempt, Refusal> {
        let login = login_key(login);
        let source = source_key(addr);
        let pair = (login.clone(), source);
        let mut c = self.counts();
        c.make_room(self.max_keys, now);
        if let Some(w) = c.pairs.get_mut(&pair) {
            w.check(FAILURES_PER_PAIR, now).map_err(|until| Refusal::Pair { until })?;
        }
        if let Some(w) = c.addresses.get_mut(&source) {
            w.check(FAILURES_PER_ADDRESS, now).map_err(|until| Refusal::Address { until })?;
        }
        if let Some(b) = c.logins.get_mut(&login) {
            b.check(now).map_err(|at| Refusal::Backoff { at })?;
        }
        let w = c.pairs.entry(pair).or_insert_with(|| Window::new(now));
        w.pending += 1;
        w.touched = now;
        let w = c.addresses.entry(source).or_insert_with(|| Window::new(now));
        w.pending += 1;
        w.touched = now;
        c.logins.entry(login.clone()).or_insert_with(|| Backoff::new(now)).reserve(now);
        Ok(Attempt { throttle: self.clone(), login, source, admitted_at: now, settled: false })
    }

    fn settle(&self, a: &Attempt, outcome: Outcome, now: Timestamp) {
        let mut c = self.counts();
        let pair = (a.login.clone(), a.source);
        if let Some(w) = c.pairs.get_mut(&pair) {
            w.settle(outcome, FAILURES_PER_PAIR, now);
            if w.pending == 0 && w.failures.is_empty() {
                c.pairs.remove(&pair);
            }
        }
        if let Some(w) = c.addresses.get_mut(&a.source) {
            // A success elsewhere does not vouch for an address's other guesses.
            let outcome = if let Outcome::Succeeded = outcome { Outcome::Void } else { outcome };
            w.settle(outcome, FAILURES_PER_ADDRESS, now);
            if w.pending == 0 && w.failures.is_empty() {
                c.addresses.remove(&a.source);
            }
        }
        if let Some(b) = c.logins.get_mut(&a.login) {
            b.settle(outcome, now);
            if b.pending == 0 && b.failures == 0 {
                c.logins.remove(&a.login);
            }
        }
    }

    /// Checks `password` against the argon2id `hash` on one of the
    /// throttle's threads, at most `password_checks` at once (the others
    /// wait their turn, first come first served).
    pub async fn verify(&self, password: String, hash: String) -> bool {
        self.bounded(move |memory| credentials::verify_password_in(&password, &hash, memory)).await
    }

    /// Runs `check` on a password thread under the verification limit. The
    /// permit travels with the check: a caller that goes away does not
    /// free a slot while its check still runs.
    async fn bounded(&self, check: impl FnOnce(&mut Vec<argon2::Block>) -> bool + Send + 'static) -> bool {
        let Ok(permit) = self.checks.clone().acquire_owned().await else { return false };
        let gauge = self.gauge.clone();
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.workers.run(Box::new(move |memory| {
            let running = gauge.running.fetch_add(1, Ordering::SeqCst) + 1;
            gauge.peak.fetch_max(running, Ordering::SeqCst);
            gauge.done.fetch_add(1, Ordering::SeqCst);
            let ok = check(memory);
            gauge.running.fetch_sub(1, Ordering::SeqCst);
            drop(permit);
            let _ = answer.send(ok);
        }));
        answered.await.unwrap_or(false)
    }

    /// How many verifications ran, and at most how many at once.
    pub fn verifications(&self) -> Verifications {
        Verifications {
            done: self.gauge.done.load(Ordering::SeqCst),
            peak: self.gauge.peak.load(Ordering::SeqCst),
            limit: self.limit,
        }
    }

    /// How many counters are kept now.
    pub fn tracked(&self) -> usize {
        self.counts().len()
    }
}

/// An admitted sign-in, counted as in flight until it is settled; dropped
/// unsettled, it is released without counting.
#[derive(Debug)]
pub struct Attempt {
    throttle: Arc<Throttle>,
    login: Box<str>,
    source: Option<IpAddr>,
    admitted_at: Timestamp,
    settled: bool,
}

impl Attempt {
    /// The password was wrong (or the login unknown).
    pub fn failed(mut self, now: Timestamp) {
        self.settled = true;
        self.throttle.settle(&self, Outcome::Failed, now);
    }

    /// The person signed in: their pair and the login's backoff are cleared.
    pub fn succeeded(mut self, now: Timestamp) {
        self.settled = true;
        self.throttle.settle(&self, Outcome::Succeeded, now);
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if !self.settled {
            self.throttle.settle(self, Outcome::Void, self.admitted_at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn t0() -> Timestamp {
        Utc.with_ymd_and_hms(2026, 11, 25, 14, 0, 0).unwrap()
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    fn secs(s: i64) -> Duration {
        Duration::seconds(s)
    }

    /// One failed sign-in, which must have been admitted.
    fn fail(t: &Arc<Throttle>, login: &str, addr: &str, now: Timestamp) {
        t.admit(login, ip(addr), now).expect("admitted").failed(now);
    }

    #[test]
    fn five_failures_stop_that_address_for_that_login_only() {
        let t = Arc::new(Throttle::new(1));
        let now = t0();
        for _ in 0..FAILURES_PER_PAIR {
            fail(&t, "sam", "203.0.113.7", now);
        }
        let r = t.admit("sam", ip("203.0.113.7"), now).unwrap_err();
        assert_eq!(r, Refusal::Pair { until: now + WINDOW });
        assert!(r.message(now).contains("Try again in 15 minutes"), "{}", r.message(now));
        // The same address may still try another login.
        assert!(t.admit("jon", ip("203.0.113.7"), now).is_ok());
        // Sam from elsewhere is slowed (1 s), never stopped.
        let r = t.admit("sam", ip("198.51.100.9"), now).unwrap_err();
        assert_eq!(r, Refusal::Backoff { at: now + secs(1) });
        assert_eq!(
            r.message(now),
            "Too many failed sign-ins for this login, so sign-ins for it are slowed down. Try again in 1 second."
        );
        t.admit("sam", ip("198.51.100.9"), now + secs(1)).expect("after the wait").succeeded(now + secs(1));
        // The success cleared the backoff, not the attacker's pair.
        assert!(t.admit("sam", ip("198.51.100.9"), now + secs(1)).is_ok());
        assert!(matches!(t.admit("sam", ip("203.0.113.7"), now + secs(1)), Err(Refusal::Pair { .. })));
        // After the window the attacker's pair is forgotten.
        assert!(t.admit("sam", ip("203.0.113.7"), now + WINDOW).is_ok());
    }

    #[test]
    fn twenty_failures_from_one_address_across_logins_stop_that_address() {
        let t = Arc::new(Throttle::new(1));
        let now = t0();
        for i in 0..FAILURES_PER_ADDRESS {
            fail(&t, &format!("guess{i}"), "203.0.113.7", now);
        }
        assert!(matches!(t.admit("maria", ip("203.0.113.7"), now), Err(Refusal::Address { .. })));
        assert!(t.admit("maria", ip("198.51.100.9"), now).is_ok(), "another address is not concerned");
    }

    #[test]
    fn a_login_under_attack_from_many_addresses_backs_off_to_a_minute_and_no_more() {
        let t = Arc::new(Throttle::new(1));
        let mut now = t0();
        let mut waits = Vec::new();
        for i in 0..40 {
            let addr = format!("203.0.113.{i}");
            match t.admit("sam", ip(&addr), now) {
                Ok(a) => a.failed(now),
                Err(r) => {
                    let w = r.wait_seconds(now);
                    waits.push(w);
                    now += secs(w);
                    fail(&t, "sam", &addr, now);
                }
            }
        }
        assert_eq!(&waits[..8], &[1, 2, 4, 8, 16, 32, 60, 60]);
        assert!(waits.iter().all(|w| *w <= 60), "{waits:?}");
        // The real person, from their own address, waits at most a minute.
        let r = t.admit("sam", ip("192.0.2.10"), now).unwrap_err();
        assert!(r.wait_seconds(now) <= 60);
        assert!(t.admit("sam", ip("192.0.2.10"), now + secs(60)).is_ok());
    }

    #[test]
    fn attempts_in_flight_count_so_concurrent_guesses_get_only_the_limit() {
        let t = Arc::new(Throttle::new(1));
        let now = t0();
        let admitted: Vec<Attempt> = (0..100).filter_map(|_| t.admit("maria", ip("203.0.113.7"), now).ok()).collect();
        assert_eq!(admitted.len(), FAILURES_BEFORE_BACKOFF as usize);
        // The same from a hundred addresses: the login's count holds.
        let others: Vec<Attempt> =
            (0..100).filter_map(|i| t.admit("maria", ip(&format!("198.51.100.{i}")), now).ok()).collect();
        assert!(others.is_empty());
        for a in admitted {
            a.failed(now);
        }
        // Now the backoff admits one per interval, even a hundred at once.
        let later = now + secs(1);
        let slot: Vec<Attempt> =
            (0..100).filter_map(|i| t.admit("maria", ip(&format!("198.51.100.{i}")), later).ok()).collect();
        assert_eq!(slot.len(), 1);
    }

    #[test]
    fn an_attempt_dropped_unsettled_counts_nothing() {
        let t = Arc::new(Throttle::new(1));
        let now = t0();
        for _ in 0..50 {
            drop(t.admit("maria", ip("203.0.113.7"), now).unwrap());
        }
        assert_eq!(t.tracked(), 0);
        t.admit("maria", ip("203.0.113.7"), now).unwrap().succeeded(now);
        assert_eq!(t.tracked(), 0, "a success leaves nothing behind");
    }

    #[test]
    fn ipv6_clients_count_per_slash_64() {
        let t = Arc::new(Throttle::new(1));
        let now = t0();
        for i in 0..FAILURES_PER_PAIR {
            fail(&t, "sam", &format!("2001:db8:1:2::{i:x}"), now);
        }
        assert!(matches!(t.admit("sam", ip("2001:db8:1:2:ffff::1"), now), Err(Refusal::Pair { .. })));
    }

    #[test]
    fn counters_are_capped_expired_first_then_least_recently_touched() {
        let mut t = Throttle::new(1);
        t.max_keys = 300;
        let t = Arc::new(t);
        let start = t0();
        // 200 failures, each its own login and address: 600 counters wanted.
        for i in 0..200u32 {
            let addr = format!("10.0.{}.{}", i / 256, i % 256);
            fail(&t, &format!("nobody{i}"), &addr, start + secs(i64::from(i)));
        }
        assert!(t.tracked() <= 300, "{}", t.tracked());
        // The most recent are kept: the last address is still counted.
        {
            let c = t.counts();
            assert!(c.addresses.contains_key(&ip("10.0.0.199")));
            assert!(!c.addresses.contains_key(&ip("10.0.0.0")));
        }
        // Once the window has passed, everything expired goes first.
        let later = start + WINDOW + secs(400);
        for i in 0..100u32 {
            t.admit(&format!("late{i}"), ip("192.0.2.1"), later).unwrap().succeeded(later);
        }
        assert!(t.tracked() <= 300);
    }

    #[tokio::test]
    async fn no_more_than_the_limit_of_verifications_run_at_once() {
        let t = Arc::new(Throttle::new(2));
        let checks = (0..40).map(|i| {
            let t = t.clone();
            tokio::spawn(async move {
                t.bounded(move |_| {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    i % 2 == 0
                })
                .await
            })
        });
        let answers = futures::future::join_all(checks).await;
        assert_eq!(answers.iter().filter(|a| matches!(a, Ok(true))).count(), 20);
        assert_eq!(t.verifications(), Verifications { done: 40, peak: 2, limit: 2 });
    }

    #[tokio::test]
    async fn a_real_password_is_checked_under_the_limit() {
        let t = Throttle::new(1);
        let hash = credentials::hash_password("correct horse battery staple").unwrap();
        assert!(t.verify("correct horse battery staple".into(), hash.clone()).await);
        assert!(!t.verify("wrong".into(), hash).await);
        assert_eq!(t.verifications().done, 2);
    }
}
