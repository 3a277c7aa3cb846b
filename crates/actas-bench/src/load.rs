//! The load generator: keep-alive HTTP/1.1 connections from this process.
//!
//! - [`closed`]: N client tasks, each sending its next call when the
//!   previous one answered (throughput at a given concurrency);
//! - [`open`]: calls on a fixed schedule whether or not answers came back,
//!   each latency counted from the call's *scheduled* time, so a stalled
//!   server shows in the percentiles instead of slowing the generator down
//!   (no coordinated omission);
//! - [`sequential`]: a fixed number of calls one after the other (reads).
//!
//! Every answer is checked (status, body, verdict); the first wrong one
//! fails the run. Latencies go into an HDR histogram in microseconds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actas_api::{AuthorizeReason, AuthorizeRequest, AuthorizeResponse, Change, Refusal};
use anyhow::{bail, Context};
use hdrhistogram::Histogram;

/// The longest latency the histograms hold (an hour, in µs).
const MAX_US: u64 = 3_600_000_000;
/// One call that takes longer than this fails the run (a read that scans
/// a large trail may take minutes; that is a figure, not a failure).
const CALL_TIMEOUT: Duration = Duration::from_secs(600);
/// Unmeasured calls before a [`sequential`] figure (connection, caches).
const READ_WARM_UP: usize = 3;
/// A [`sequential`] figure stops at its time budget, but not before this
/// many measured calls.
const MIN_READS: u64 = 2;

/// What a measurement saw.
#[derive(Debug, Clone)]
pub struct Figures {
    /// Calls answered (all of them correct).
    pub calls: u64,
    /// Wall time, seconds.
    pub secs: f64,
    /// Latencies, µs.
    pub hist: Histogram<u64>,
}

impl Figures {
    fn new() -> Figures {
        Figures { calls: 0, secs: 0.0, hist: histogram() }
    }

    /// Calls per second.
    pub fn rate(&self) -> f64 {
        if self.secs > 0.0 {
            self.calls as f64 / self.secs
        } else {
            0.0
        }
    }

    /// The `q` quantile (0.5, 0.99, ...) in milliseconds.
    pub fn ms(&self, q: f64) -> f64 {
        self.hist.value_at_quantile(q) as f64 / 1000.0
    }

    /// The share of the calls that took longer than `ms` milliseconds.
    pub fn over_ms(&self, ms: f64) -> f64 {
        let total = self.hist.len();
        if total == 0 {
            return 0.0;
        }
        let within = self.hist.count_between(0, (ms * 1000.0) as u64);
        total.saturating_sub(within) as f64 / total as f64
    }

    /// The longest latency in milliseconds.
    pub fn max_ms(&self) -> f64 {
        self.hist.max() as f64 / 1000.0
    }

    fn merge(&mut self, other: &Figures) -> anyhow::Result<()> {
        self.calls += other.calls;
        self.hist.add(&other.hist).context("cannot merge histograms")
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, 3).expect("1 µs to an hour at three significant digits are valid bounds")
}

fn record(hist: &mut Histogram<u64>, took: Duration) {
    hist.saturating_record((took.as_micros() as u64).clamp(1, MAX_US));
}

/// The HTTP client of every load: keep-alive, no Nagle delay.
pub fn client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(usize::MAX)
        .pool_idle_timeout(Duration::from_secs(30))
        .tcp_nodelay(true)
        .timeout(CALL_TIMEOUT)
        .build()
        .context("cannot build the HTTP client")
}

/// How an answer is checked.
#[derive(Debug, Clone, Copy)]
pub enum Check {
    /// `/.well-known/jwks.json`: a key set with a key.
    Jwks,
    /// `GET /accounts/{id}/access-log`: at least one entry.
    AccessLog,
    /// `GET /audit`: a page with at least one event.
    AuditPage,
}

/// The two authorize calls, serialized once: an allowed change and a
/// refused one (an action not in the session's scope).
#[derive(Debug)]
pub struct Bodies {
    allowed: String,
    denied: String,
}

/// What to call.
#[derive(Debug, Clone)]
enum Kind {
    /// `POST /api/v1/authorize`, allowed and refused in turn.
    Authorize(Arc<Bodies>),
    /// A GET whose answer is checked.
    Get(String, Check),
}

/// One endpoint on one or more nodes (the calls are spread over them).
#[derive(Debug, Clone)]
pub struct Endpoint {
    client: reqwest::Client,
    nodes: Arc<Vec<String>>,
    auth: Option<Arc<str>>,
    kind: Kind,
}

impl Endpoint {
    /// `POST /api/v1/authorize` as the host app, with one session's token.
    pub fn authorize(client: &reqwest::Client, nodes: &[String], app_key: &str, token: &str) -> anyhow::Result<Self> {
        let allowed = AuthorizeRequest {
            token: token.into(),
            action: "invoice_email.update".into(),
            target: None,
            changes: Some(vec![Change {
                field: "invoice_email".into(),
                old: Some("old@acme.test".into()),
                new: Some("new@acme.test".into()),
            }]),
        };
        let denied =
            AuthorizeRequest { token: token.into(), action: "billing.update".into(), target: None, changes: None };
        let bodies = Bodies { allowed: serde_json::to_string(&allowed)?, denied: serde_json::to_string(&denied)? };
        Ok(Endpoint {
            client: client.clone(),
            nodes: Arc::new(nodes.iter().map(|n| format!("{n}/api/v1/authorize")).collect()),
            auth: Some(format!("Bearer {app_key}").into()),
            kind: Kind::Authorize(Arc::new(bodies)),
        })
    }

    /// A GET of `path` (with its query), with `bearer` when given.
    pub fn get(client: &reqwest::Client, nodes: &[String], path: &str, bearer: Option<&str>, check: Check) -> Self {
        Endpoint {
            client: client.clone(),
            nodes: Arc::new(nodes.iter().map(|n| format!("{n}{path}")).collect()),
            auth: bearer.map(|b| format!("Bearer {b}").into()),
            kind: Kind::Get(path.to_string(), check),
        }
    }

    /// Call number `n` on node `n % nodes` (for authorize, an even `n`
    /// is the allowed change and an odd one the refused action).
    async fn call(&self, node: usize, n: u64) -> anyhow::Result<()> {
        let url = &self.nodes[node % self.nodes.len()];
        let mut req = match &self.kind {
            Kind::Authorize(bodies) => {
                let body = if n % 2 == 0 { &bodies.allowed } else { &bodies.denied };
                self.client.post(url).header(reqwest::header::CONTENT_TYPE, "application/json").body(body.clone())
            }
            Kind::Get(..) => self.client.get(url),
        };
        if let Some(a) = &self.auth {
            req = req.header(reqwest::header::AUTHORIZATION, a.as_ref());
        }
        let resp = req.send().await.with_context(|| format!("{url}: request failed"))?;
        let status = resp.status();
        let body = resp.bytes().await.with_context(|| format!("{url}: the answer broke off"))?;
        if status != reqwest::StatusCode::OK {
            bail!("{url}: status {status}: {}", String::from_utf8_lossy(&body));
        }
        match &self.kind {
            Kind::Authorize(_) => check_verdict(n % 2 == 0, &body),
            Kind::Get(path, check) => check_get(path, *check, &body),
        }
    }
}

/// The answer must be the verdict expected, with the event that records it.
fn check_verdict(allowed: bool, body: &[u8]) -> anyhow::Result<()> {
    let a: AuthorizeResponse = serde_json::from_slice(body).context("the answer is not an AuthorizeResponse")?;
    let expected = if allowed { AuthorizeReason::Ok } else { AuthorizeReason::Refused(Refusal::NotInScope) };
    if a.allowed != allowed || a.reason != expected || a.event_id.is_none() {
        bail!(
            "authorize: expected allowed={allowed} reason={expected} with an event id, got allowed={} reason={} event_id={:?}",
            a.allowed,
            a.reason,
            a.event_id
        );
    }
    Ok(())
}

fn check_get(path: &str, check: Check, body: &[u8]) -> anyhow::Result<()> {
    let ok = match check {
        Check::Jwks => {
            let v: serde_json::Value = serde_json::from_slice(body).context("the key set is not JSON")?;
            v["keys"].as_array().is_some_and(|k| !k.is_empty())
        }
        Check::AccessLog => {
            let v: actas_api::AccessLog = serde_json::from_slice(body).context("not an AccessLog")?;
            !v.entries.is_empty()
        }
        Check::AuditPage => {
            let v: actas_api::AuditPage = serde_json::from_slice(body).context("not an AuditPage")?;
            !v.events.is_empty()
        }
    };
    if !ok {
        bail!("{path}: the answer is empty: {}", String::from_utf8_lossy(&body[..body.len().min(300)]));
    }
    Ok(())
}

/// `clients` tasks calling back to back for `length`. Task `t` calls node
/// `t % nodes` and starts with the refused call when `t` is odd, so both
/// kinds are in flight at every moment.
pub async fn closed(ep: &Endpoint, clients: usize, length: Duration) -> anyhow::Result<Figures> {
    let started = Instant::now();
    let deadline = started + length;
    let tasks: Vec<_> = (0..clients)
        .map(|t| {
            let ep = ep.clone();
            tokio::spawn(async move {
                let mut f = Figures::new();
                let mut n = t as u64;
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    ep.call(t, n).await?;
                    record(&mut f.hist, sent.elapsed());
                    f.calls += 1;
                    n += 1;
                }
                anyhow::Ok(f)
            })
        })
        .collect();
    let mut all = Figures::new();
    for t in tasks {
        all.merge(&t.await.context("a client task failed")??)?;
    }
    all.secs = started.elapsed().as_secs_f64();
    if all.calls == 0 {
        bail!("no call completed");
    }
    Ok(all)
}

/// `rate` calls per second for `length`, over `connections` connections:
/// call `n` is due at `start + n / rate` and goes out on connection
/// `n % connections` as soon as that connection is free and the time has
/// come; its latency runs from when it was due to its checked answer.
///
/// The schedule is kept by a thread of its own that sleeps until each
/// call is due and hands it to its connection: Tokio's timers fire on
/// whole milliseconds, so calls timed by them would leave up to a
/// millisecond late and every latency would carry that lateness.
pub async fn open(ep: &Endpoint, rate: u32, length: Duration, connections: usize) -> anyhow::Result<Figures> {
    let total = (rate as f64 * length.as_secs_f64()).round() as u64;
    let every = Duration::from_secs_f64(1.0 / rate as f64);
    // A little ahead, so the first calls are not already late.
    let start = Instant::now() + Duration::from_millis(20);
    let (sends, tasks): (Vec<_>, Vec<_>) = (0..connections.max(1))
        .map(|_| {
            let ep = ep.clone();
            let (send, mut due_calls) = tokio::sync::mpsc::unbounded_channel::<(u64, Instant)>();
            let task = tokio::spawn(async move {
                let mut f = Figures::new();
                while let Some((n, due)) = due_calls.recv().await {
                    ep.call(n as usize, n).await?;
                    record(&mut f.hist, due.elapsed());
                    f.calls += 1;
                }
                anyhow::Ok(f)
            });
            (send, task)
        })
        .unzip();
    let schedule = std::thread::Builder::new()
        .name("open-loop".into())
        .spawn(move || {
            for n in 0..total {
                let due = start + every.mul_f64(n as f64);
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
                // A connection whose task failed stops taking calls; the
                // failure is reported when its task is awaited.
                let _ = sends[(n % sends.len() as u64) as usize].send((n, due));
            }
        })
        .context("cannot start the open loop's schedule")?;
    let mut all = Figures::new();
    for t in tasks {
        all.merge(&t.await.context("an open-loop task failed")??)?;
    }
    all.secs = start.elapsed().as_secs_f64();
    schedule.join().map_err(|_| anyhow::anyhow!("the open loop's schedule failed"))?;
    Ok(all)
}

/// Up to `calls` calls one after the other, after a few unmeasured ones;
/// stops early once `budget` is spent (a read that has become slow).
pub async fn sequential(ep: &Endpoint, calls: usize, budget: Duration) -> anyhow::Result<Figures> {
    let warm = Instant::now();
    for n in 0..READ_WARM_UP as u64 {
        ep.call(0, n).await?;
        if warm.elapsed() > budget {
            break;
        }
    }
    let started = Instant::now();
    let mut f = Figures::new();
    for n in 0..calls as u64 {
        if f.calls >= MIN_READS && started.elapsed() > budget {
            break;
        }
        let sent = Instant::now();
        ep.call(0, n).await?;
        record(&mut f.hist, sent.elapsed());
        f.calls += 1;
    }
    f.secs = started.elapsed().as_secs_f64();
    Ok(f)
}

/// Latency of single POSTs (`url`, bearer): each must answer 200 with a
/// session whose state is `ended`.
pub async fn end_sessions(client: &reqwest::Client, calls: &[(String, String)]) -> anyhow::Result<Figures> {
    let started = Instant::now();
    let mut f = Figures::new();
    for (url, bearer) in calls {
        let sent = Instant::now();
        let resp = client.post(url).bearer_auth(bearer).send().await.with_context(|| format!("{url}: failed"))?;
        let status = resp.status();
        let body = resp.bytes().await?;
        if status != reqwest::StatusCode::OK {
            bail!("{url}: status {status}: {}", String::from_utf8_lossy(&body));
        }
        let s: actas_api::Session = serde_json::from_slice(&body).context("the answer is not a Session")?;
        if s.state != actas_api::SessionState::Ended {
            bail!("{url}: the session is {:?}, not ended", s.state);
        }
        record(&mut f.hist, sent.elapsed());
        f.calls += 1;
    }
    f.secs = started.elapsed().as_secs_f64();
    Ok(f)
}
