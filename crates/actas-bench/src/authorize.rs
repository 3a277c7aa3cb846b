//! `POST /api/v1/authorize` on a fresh database: closed-loop at 1, 16 and
//! 64 clients beside the same server's no-op floor at the same
//! concurrency, against the insert ceilings; open-loop at a fixed rate
//! beside the floor at that rate; on PostgreSQL, two server processes on
//! one database against one.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use crate::baseline::{self, rate, Baselines};
use crate::cast::{self, Cast};
use crate::db::{Db, Target};
use crate::load::{self, Endpoint, Figures};
use crate::plan::{Plan, BUSY, CLIENTS, OPEN_CONNECTIONS};
use crate::report::{self, ms, Report, Row};
use crate::server::{Node, Process};

/// Runs the part on a database of its own, removed afterwards.
pub async fn run(plan: &Plan, dir: &Path, target: &Target, b: &Baselines, report: &mut Report) -> anyhow::Result<()> {
    eprintln!("bench: {}: authorize", target.label());
    let db = Db::fresh(target, dir, &format!("{}-authorize", target.label())).await?;
    let measured = measure(plan, dir, target, &db, b, report).await;
    db.remove().await?;
    measured
}

/// "1 client", "16 clients".
pub fn clients(n: usize) -> String {
    if n == 1 {
        "1 client".into()
    } else {
        format!("{n} clients")
    }
}

/// "4,624 req/s; p50 12.7, p99 27.6, p99.9 45.2 ms".
pub fn closed_value(f: &Figures) -> String {
    format!("{}; p50 {}, p99 {}, p99.9 {} ms", rate(f.rate(), "req/s"), ms(f.ms(0.5)), ms(f.ms(0.99)), ms(f.ms(0.999)))
}

/// "p50 1.20, p99 5.30, p99.9 9.00, max 12.0 ms (1,998/s)".
pub fn open_value(f: &Figures) -> String {
    format!(
        "p50 {}, p99 {}, p99.9 {}, max {} ms ({})",
        ms(f.ms(0.5)),
        ms(f.ms(0.99)),
        ms(f.ms(0.999)),
        ms(f.max_ms()),
        rate(f.rate(), "calls/s answered")
    )
}

/// The names Linux gives the writer's thread (their first 15 bytes), on
/// SQLite and on PostgreSQL.
const WRITER_THREADS: [&str; 2] = ["actas-sqlite-wr", "actas-pg-writer"];

/// CPU time (user and system) per call answered, in µs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CpuPerCall {
    /// The server's.
    pub server: f64,
    /// This program's: the load generator, which shares the cores.
    pub load: f64,
    /// The server's writer thread's.
    pub writer: f64,
}

/// The figures of `load` and the CPU time per call the server and the load
/// generator used meanwhile: unlike a rate, barely moved by whatever else
/// runs on the machine.
pub(crate) async fn cpu_per_call(
    node: &Node,
    load: impl std::future::Future<Output = anyhow::Result<Figures>>,
) -> anyhow::Result<(Figures, CpuPerCall)> {
    let this = Process::this();
    let (server_before, load_before) = (node.cpu_mark()?, this.cpu_mark()?);
    let f = load.await?;
    let (server_after, load_after) = (node.cpu_mark()?, this.cpu_mark()?);
    let server = server_after.since(&server_before);
    let writer = WRITER_THREADS.iter().map(|name| server_after.named_since(&server_before, name)).sum();
    let load = load_after.since(&load_before);
    let per_call = |d: Duration| d.as_secs_f64() * 1e6 / f.calls.max(1) as f64;
    let cpu = CpuPerCall { server: per_call(server), load: per_call(load), writer: per_call(writer) };
    Ok((f, cpu))
}

/// What a node's `/metrics` counts: the writer's commits
/// (`actas_writer_batches_total`, `actas_writer_writes_total`) and the
/// server's own time to answer `POST /authorize`
/// (`actas_authorize_seconds`, from the handler's start to its answer:
/// the writer's queue and commit, not the network or the load generator).
#[derive(Debug, Clone)]
struct NodeCounts {
    batches: u64,
    writes: u64,
    /// The histogram's cumulative buckets: (upper bound in seconds, calls).
    answered_within: Vec<(f64, u64)>,
    answered: u64,
}

impl NodeCounts {
    /// What was counted between `before` and this.
    fn since(&self, before: &NodeCounts) -> NodeCounts {
        let within = self
            .answered_within
            .iter()
            .map(|(le, n)| {
                let was = before.answered_within.iter().find(|(b, _)| b == le).map_or(0, |(_, n)| *n);
                (*le, n.saturating_sub(was))
            })
            .collect();
        NodeCounts {
            batches: self.batches.saturating_sub(before.batches),
            writes: self.writes.saturating_sub(before.writes),
            answered_within: within,
            answered: self.answered.saturating_sub(before.answered),
        }
    }

    /// The share of answers the server took longer than `secs` over
    /// (`secs` one of the histogram's bounds).
    fn over(&self, secs: f64) -> Option<f64> {
        let within = self.answered_within.iter().find(|(le, _)| (le - secs).abs() < 1e-9)?.1;
        (self.answered > 0).then(|| self.answered.saturating_sub(within) as f64 / self.answered as f64)
    }

    /// The smallest bound of the histogram that holds the share `q` of the
    /// answers, in ms.
    fn bound_ms(&self, q: f64) -> Option<f64> {
        let need = (q * self.answered as f64).ceil() as u64;
        self.answered_within.iter().find(|(_, n)| *n >= need).map(|(le, _)| le * 1e3)
    }
}

/// Reads a node's counters from its `/metrics`.
async fn node_counts(client: &reqwest::Client, url: &str, token: &str) -> anyhow::Result<NodeCounts> {
    let text = client
        .get(format!("{url}/metrics"))
        .bearer_auth(token)
        .send()
        .await?
        .error_for_status()
        .context("GET /metrics")?
        .text()
        .await?;
    let counter = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse::<u64>().ok())
            .with_context(|| format!("no {name} in /metrics"))
    };
    // `actas_authorize_seconds_bucket{le="0.002"} 1234`; `+Inf` is left
    // out, `actas_authorize_seconds_count` counts every answer.
    let answered_within = text
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("actas_authorize_seconds_bucket{le=\"")?;
            let (le, n) = rest.split_once("\"} ")?;
            Some((le.parse::<f64>().ok().filter(|v| v.is_finite())?, n.trim().parse::<u64>().ok()?))
        })
        .collect();
    Ok(NodeCounts {
        batches: counter("actas_writer_batches_total")?,
        writes: counter("actas_writer_writes_total")?,
        answered_within,
        answered: counter("actas_authorize_seconds_count")?,
    })
}

/// "1.25 %".
fn percent(share: f64) -> String {
    format!("{:.2} %", share * 100.0)
}

/// "41.3 µs".
pub(crate) fn us(v: f64) -> String {
    format!("{v:.1} µs")
}

async fn measure(
    plan: &Plan,
    dir: &Path,
    target: &Target,
    db: &Db,
    b: &Baselines,
    report: &mut Report,
) -> anyhow::Result<()> {
    let label = target.label();
    let stage = {
        let ctx = cast::open(db).await?;
        let mut cast = Cast::create(&ctx, 0).await?;
        let stage = cast.stage(&ctx).await?;
        (cast.app_key.clone(), cast.auditor.clone(), stage)
    };
    let (app_key, auditor, stage) = stage;
    let node = Node::start(db, dir, &format!("{label}-authorize-1")).await?;
    let client = load::client()?;
    let nodes = vec![node.url.clone()];
    let authz = Endpoint::authorize(&client, &nodes, &app_key, &stage.token)?;
    let floor = baseline::floor(&client, &nodes);
    load::closed(&floor, 16, plan.warm_up).await?;
    load::closed(&authz, 16, plan.warm_up).await?;

    let mut one_node = Vec::new();
    for c in CLIENTS {
        let (f, floor_cpu) = cpu_per_call(&node, load::closed(&floor, c, plan.level)).await?;
        let commits = node_counts(&client, &node.url, &auditor).await?;
        let (a, authz_cpu) = cpu_per_call(&node, load::closed(&authz, c, plan.level)).await?;
        let commits = node_counts(&client, &node.url, &auditor).await?.since(&commits);
        report.push(Row::new(
            label,
            &format!("no-op floor (GET /.well-known/jwks.json), {}", clients(c)),
            closed_value(&f),
        ));
        report.push(Row::new(label, &format!("authorize, {}", clients(c)), closed_value(&a)).against(
            &format!("no-op floor, {}", clients(c)),
            rate(f.rate(), "req/s"),
            a.rate() / f.rate(),
        ));
        if c == BUSY {
            let n = clients(c);
            report.push(
                Row::new(label, &format!("server CPU time per authorize call, {n}"), us(authz_cpu.server)).against(
                    &format!("per no-op call, {n}"),
                    us(floor_cpu.server),
                    authz_cpu.server / floor_cpu.server,
                ),
            );
            report.push(
                Row::new(label, &format!("load generator CPU time per authorize call, {n}"), us(authz_cpu.load))
                    .against(&format!("per no-op call, {n}"), us(floor_cpu.load), authz_cpu.load / floor_cpu.load),
            );
            if authz_cpu.writer > 0.0 {
                // One thread commits every write: its CPU time per call is
                // a ceiling no number of cores lifts.
                report.push(
                    Row::new(
                        label,
                        &format!("authorize, {n}: CPU time per call of the writer thread"),
                        us(authz_cpu.writer),
                    )
                    .against(
                        "the most one thread at that cost answers",
                        rate(1e6 / authz_cpu.writer, "req/s"),
                        a.rate() * authz_cpu.writer / 1e6,
                    ),
                );
                if let Some(row) = b.sqlite_row_cpu_us.filter(|r| *r > 0.0 && matches!(target, Target::Sqlite)) {
                    report.at_most(
                        "sqlite writer CPU per authorize ÷ SQLite's CPU per row",
                        authz_cpu.writer / row,
                        report::MAX_WRITER_CPU_VS_CEILING_ROW,
                    );
                }
            }
            // What the measured CPU costs allow on this machine's cores,
            // whatever the server waits on: every call costs both.
            let cores = crate::machine::usable_cores() as f64;
            let bound = |c: &CpuPerCall| cores * 1e6 / (c.server + c.load);
            report.push(
                Row::new(
                    label,
                    &format!("authorize, {n}: the most {cores} cores allow at the CPU time measured per call"),
                    rate(bound(&authz_cpu), "req/s"),
                )
                .against(
                    &format!("the same for the no-op call, {n}"),
                    rate(bound(&floor_cpu), "req/s"),
                    bound(&authz_cpu) / bound(&floor_cpu),
                ),
            );
        }
        report.push(Row::new(
            label,
            &format!("authorize, {}: writes per commit", clients(c)),
            format!("{:.1} ({} commits)", commits.writes as f64 / commits.batches.max(1) as f64, commits.batches),
        ));
        one_node.push((c, a.rate()));
    }
    let busy = one_node.iter().find(|(c, _)| *c == BUSY).map_or(0.0, |(_, r)| *r);
    if let Target::Sqlite = target {
        for (batch, rows) in &b.sqlite {
            report.push(Row::new(label, &format!("authorize, {BUSY} clients"), rate(busy, "req/s")).against(
                &format!("SQLite insert ceiling, {batch} rows per commit"),
                rate(*rows, "rows/s"),
                busy / rows,
            ));
        }
        if let Some((_, rows)) = b.sqlite_best() {
            report.at_least("sqlite authorize ÷ insert ceiling", busy / rows, report::MIN_AUTHORIZE_VS_CEILING);
        }
        if let Some(f) = b.fsync {
            let limit = f.closed_loop_limit(BUSY);
            report.push(Row::new(label, &format!("authorize, {BUSY} clients"), rate(busy, "req/s")).against(
                &format!("{BUSY} clients ÷ fdatasync p50 (each answer waits for its commit)"),
                rate(limit, "req/s"),
                busy / limit,
            ));
        }
    }
    if let Some(tps) = b.pgbench.filter(|_| matches!(target, Target::Postgres(_))) {
        report.push(Row::new(label, &format!("authorize, {BUSY} clients"), rate(busy, "req/s")).against(
            "pgbench ceiling",
            rate(tps, "inserts/s"),
            busy / tps,
        ));
        report.at_least("postgres authorize ÷ pgbench ceiling", busy / tps, report::MIN_AUTHORIZE_VS_CEILING);
    }

    let r = plan.open_rate;
    eprintln!("bench: {label}: open loop at {r}/s");
    let fo = load::open(&floor, r, plan.open_for, OPEN_CONNECTIONS).await?;
    let counted = node_counts(&client, &node.url, &auditor).await?;
    let ao = load::open(&authz, r, plan.open_for, OPEN_CONNECTIONS).await?;
    let counted = node_counts(&client, &node.url, &auditor).await?.since(&counted);
    report.push(Row::new(label, &format!("no-op floor, open loop at {r}/s"), open_value(&fo)));
    report.push(Row::new(label, &format!("authorize, open loop at {r}/s"), open_value(&ao)).against(
        &format!("no-op floor at {r}/s, p99"),
        format!("{} ms", ms(fo.ms(0.99))),
        ao.ms(0.99) / fo.ms(0.99),
    ));
    if let (Target::Sqlite, Some(f)) = (target, b.fsync) {
        report.push(
            Row::new(label, &format!("authorize, open loop at {r}/s"), format!("p99 {} ms", ms(ao.ms(0.99)))).against(
                "fdatasync p99 (no durable answer comes sooner)",
                format!("{:.2} ms", f.p99_ms),
                ao.ms(0.99) / f.p99_ms,
            ),
        );
    }
    // Where the tail is: in the server (the writer's queue and commit) or
    // around it (the network, both processes' scheduling on shared cores).
    if let (Some(p99), Some(over1), Some(over2)) = (counted.bound_ms(0.99), counted.over(0.001), counted.over(0.002)) {
        report.push(
            Row::new(
                label,
                &format!("authorize, open loop at {r}/s: the server's own time to answer (its histogram)"),
                format!(
                    "p99 within {} ms; over 1 ms {}, over 2 ms {} of {} answers ({:.1} writes per commit)",
                    ms(p99),
                    percent(over1),
                    percent(over2),
                    counted.answered,
                    counted.writes as f64 / counted.batches.max(1) as f64
                ),
            )
            .against(
                "over 2 ms as the load generator saw them",
                percent(ao.over_ms(2.0)),
                over2 / ao.over_ms(2.0),
            ),
        );
    }

    if let Target::Postgres(_) = target {
        eprintln!("bench: {label}: two server processes on one database");
        let second = Node::start(db, dir, &format!("{label}-authorize-2")).await?;
        let both = vec![node.url.clone(), second.url.clone()];
        let authz2 = Endpoint::authorize(&client, &both, &app_key, &stage.token)?;
        load::closed(&authz2, 16, plan.warm_up).await?;
        for (c, one) in &one_node {
            let a = load::closed(&authz2, *c, plan.level).await?;
            report.push(
                Row::new(label, &format!("authorize, 2 nodes, {} split over both", clients(*c)), closed_value(&a))
                    .against(&format!("1 node, {}", clients(*c)), rate(*one, "req/s"), a.rate() / one),
            );
        }
        second.stop().await?;
    }
    node.stop().await
}
