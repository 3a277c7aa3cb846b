//! The baselines every figure is divided by, measured in the same run on
//! the same disk and database server:
//!
//! - the no-op floor: the same server process answering
//!   `GET /.well-known/jwks.json`, which reads the key set from memory and
//!   touches no database ([`floor`], measured beside authorize);
//! - the SQLite insert ceiling: rows like `audit_events` rows inserted
//!   by one prepared statement on a plain connection (WAL, `synchronous =
//!   FULL`) into a table made by the store's own migrations, 64 and 256
//!   rows per commit;
//! - the pgbench ceiling: 64 pgbench clients on the same PostgreSQL server,
//!   each inserting one row like an `audit_events` row per transaction into
//!   a copy of the table (same columns and indexes);
//! - the durable write floor: 4 KiB appended to a file in the same folder
//!   and `fdatasync`ed, one after another. A commit that is on the disk
//!   before its answer goes out waits at least this long, so no answer of
//!   authorize can come sooner, and `N` clients that each wait for their
//!   commit cannot get more than `N` answers per `fdatasync`.

use std::path::Path;
use std::time::{Duration, Instant};

use actas_core::audit::{Event, GENESIS};
use actas_core::clock::format_ms;
use anyhow::{bail, Context};
use sqlx::{Connection, Executor};

use crate::db::{Db, Target};
use crate::load::{Check, Endpoint};
use crate::plan::Plan;
use crate::report::{Report, Row};
use crate::seed::Seeder;

/// Rows per commit of the SQLite ceiling; the store's writer commits at
/// most 256 writes at once.
pub const BATCHES: [usize; 2] = [64, 256];
/// pgbench clients and threads.
const PGBENCH_CLIENTS: u32 = 64;
const PGBENCH_THREADS: u32 = 2;

/// The ceilings of this run.
#[derive(Debug, Clone, Default)]
pub struct Baselines {
    /// SQLite rows per second at each of [`BATCHES`].
    pub sqlite: Vec<(usize, f64)>,
    /// SQLite's CPU time per row at the smallest of [`BATCHES`], commits
    /// included, in µs (where /proc says).
    pub sqlite_row_cpu_us: Option<f64>,
    /// pgbench inserts per second, when PostgreSQL is measured.
    pub pgbench: Option<f64>,
    /// The durable write floor on the SQLite folder's disk.
    pub fsync: Option<Fsync>,
}

/// How long one durable write takes on the disk ([`durable_write_floor`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Fsync {
    /// Median, in milliseconds.
    pub p50_ms: f64,
    /// 99th percentile, in milliseconds.
    pub p99_ms: f64,
    /// CPU time per write and `fdatasync` of the thread that waits for it,
    /// in µs (the kernel's and the virtual disk's work charged to it).
    pub cpu_us: Option<f64>,
}

impl Fsync {
    /// Answers per second `clients` can get at most when each answer waits
    /// for a durable write of its own batch: every client in every batch.
    pub fn closed_loop_limit(&self, clients: usize) -> f64 {
        clients as f64 * 1000.0 / self.p50_ms
    }
}

impl Baselines {
    /// The SQLite ceiling at the writer's largest batch.
    pub fn sqlite_best(&self) -> Option<(usize, f64)> {
        self.sqlite.last().copied()
    }
}

/// The no-op endpoint of the same server.
pub fn floor(client: &reqwest::Client, nodes: &[String]) -> Endpoint {
    Endpoint::get(client, nodes, "/.well-known/jwks.json", None, Check::Jwks)
}

/// Measures the ceilings (pgbench only when PostgreSQL is a target).
pub async fn measure(plan: &Plan, dir: &Path, targets: &[Target], report: &mut Report) -> anyhow::Result<Baselines> {
    let mut b = Baselines::default();
    eprintln!("bench: durable write floor (4 KiB + fdatasync)");
    let f = durable_write_floor(dir, plan.ceiling_for).await?;
    report.push(Row::new(
        "sqlite",
        "durable write floor: 4 KiB appended and fdatasync'ed, one at a time",
        format!("p50 {:.2}, p99 {:.2} ms ({})", f.p50_ms, f.p99_ms, rate(1000.0 / f.p50_ms, "writes/s")),
    ));
    if let Some(cpu) = f.cpu_us {
        report.push(Row::new(
            "sqlite",
            "durable write floor: CPU time per write and fdatasync",
            format!("{cpu:.1} µs"),
        ));
    }
    b.fsync = Some(f);
    for batch in BATCHES {
        eprintln!("bench: SQLite insert ceiling, {batch} rows per commit");
        let c = sqlite_ceiling(dir, batch, plan.ceiling_for).await?;
        report.push(Row::new(
            "sqlite",
            &format!("insert ceiling: audit_events-like rows, {batch} per commit"),
            rate(c.rows_per_s, "rows/s"),
        ));
        if let Some(cpu) = c.cpu_us {
            report.push(Row::new(
                "sqlite",
                &format!("insert ceiling, {batch} per commit: CPU time per row, commits included"),
                format!("{cpu:.1} µs"),
            ));
        }
        if b.sqlite.is_empty() {
            b.sqlite_row_cpu_us = c.cpu_us;
        }
        b.sqlite.push((batch, c.rows_per_s));
    }
    for t in targets {
        if let Target::Postgres(_) = t {
            if !on_path("pgbench") {
                eprintln!("bench: pgbench is not on PATH; the pgbench ceiling is not measured");
                continue;
            }
            eprintln!("bench: pgbench ceiling, {PGBENCH_CLIENTS} clients");
            let tps = pgbench(plan, dir, t).await?;
            report.push(Row::new(
                "postgres",
                &format!("pgbench ceiling: one audit_events-like row per transaction, {PGBENCH_CLIENTS} clients"),
                rate(tps, "inserts/s"),
            ));
            b.pgbench = Some(tps);
        }
    }
    Ok(b)
}

/// Whether `program` is found on PATH.
fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// A rate as the table shows it.
pub fn rate(v: f64, unit: &str) -> String {
    format!("{} {unit}", thousands(v))
}

/// `12,345`.
pub fn thousands(v: f64) -> String {
    let n = v.round() as i64;
    let s = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// The columns of one `audit_events` row, from a sealed sample event.
struct Columns {
    at: String,
    kind: &'static str,
    actor: String,
    account_id: Option<String>,
    ticket: Option<String>,
    request_id: Option<String>,
    session_id: Option<String>,
    agent: Option<String>,
    data: String,
    text: String,
    prev_hash: String,
    hash: String,
}

fn sample_rows() -> Vec<Columns> {
    let since = chrono::DateTime::UNIX_EPOCH + chrono::Duration::days(20_000);
    let mut prev = GENESIS.to_string();
    Seeder::sample(1024, since)
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let e: Event = e.seal(i as i64 + 1, &prev);
            prev = e.hash.clone();
            Columns {
                at: format_ms(e.at),
                kind: e.kind.as_str(),
                actor: e.actor.to_json().to_string(),
                account_id: e.account_id.clone(),
                ticket: e.ticket.clone(),
                request_id: e.request_id.clone(),
                session_id: e.session_id.clone(),
                agent: e.agent.clone(),
                data: e.data.to_string(),
                text: e.text.clone(),
                prev_hash: e.prev_hash.clone(),
                hash: e.hash.clone(),
            }
        })
        .collect()
}

/// Appends 4 KiB to a file in `dir` and waits for `fdatasync`, one write
/// after another for `length` (at least 20 writes).
async fn durable_write_floor(dir: &Path, length: Duration) -> anyhow::Result<Fsync> {
    use std::io::Write;
    let path = dir.join("durable-write-floor");
    let times = tokio::task::spawn_blocking(move || -> anyhow::Result<(Vec<f64>, Option<f64>)> {
        let mut file = std::fs::File::create(&path).context("cannot create the durable write floor's file")?;
        let block = [0x5au8; 4096];
        let mut times = Vec::new();
        let cpu_before = thread_cpu();
        let started = Instant::now();
        while started.elapsed() < length || times.len() < 20 {
            let t = Instant::now();
            file.write_all(&block)?;
            file.sync_data()?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let cpu_us =
            cpu_before.zip(thread_cpu()).map(|(a, b)| b.saturating_sub(a).as_secs_f64() * 1e6 / times.len() as f64);
        drop(file);
        std::fs::remove_file(&path).ok();
        Ok((times, cpu_us))
    })
    .await??;
    let (mut times, cpu_us) = times;
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    Ok(Fsync { p50_ms: at(0.5), p99_ms: at(0.99), cpu_us })
}

/// Rows per second into `audit_events` of a fresh SQLite file made by the
/// store's migrations, `batch` rows per commit, for `length`: SQLite at its
/// fastest, one connection on one thread (WAL, `synchronous = FULL`, the
/// writer's page cache) running one prepared statement, with nothing
/// between the rows but binding their values.
async fn sqlite_ceiling(dir: &Path, batch: usize, length: Duration) -> anyhow::Result<Ceiling> {
    let path = dir.join(format!("ceiling-{batch}.db"));
    let url = path.to_string_lossy().into_owned();
    drop(actas_store::Store::open(&actas_store::Options::new(url.clone())).await?);
    let rows = sample_rows();
    let inserted = tokio::task::spawn_blocking(move || -> anyhow::Result<Ceiling> {
        let mut conn = rusqlite::Connection::open(&path).context("cannot open the ceiling's SQLite file")?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA cache_size = -16384; PRAGMA busy_timeout = 10000",
        )?;
        let insert = "INSERT INTO audit_events (seq, id, at, type, actor, account_id, ticket, request_id, session_id, agent, data, text, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";
        let cpu_before = thread_cpu();
        let started = Instant::now();
        let mut seq: i64 = 0;
        while started.elapsed() < length {
            let tx = conn.transaction()?;
            {
                let mut stmt = tx.prepare_cached(insert)?;
                for _ in 0..batch {
                    seq += 1;
                    let r = &rows[seq as usize % rows.len()];
                    stmt.execute(rusqlite::params![
                        seq,
                        format!("evt_{seq:010}ceiling000"),
                        r.at,
                        r.kind,
                        r.actor,
                        r.account_id,
                        r.ticket,
                        r.request_id,
                        r.session_id,
                        r.agent,
                        r.data,
                        r.text,
                        r.prev_hash,
                        r.hash,
                    ])
                    .context("a ceiling insert failed")?;
                }
            }
            tx.commit()?;
        }
        let rows_per_s = seq as f64 / started.elapsed().as_secs_f64();
        let cpu_us = cpu_before.zip(thread_cpu()).map(|(a, b)| b.saturating_sub(a).as_secs_f64() * 1e6 / seq.max(1) as f64);
        Ok(Ceiling { rows_per_s, cpu_us })
    })
    .await??;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{url}{suffix}"));
    }
    Ok(inserted)
}

/// What SQLite inserting rows on its own reached.
#[derive(Debug, Clone, Copy)]
struct Ceiling {
    rows_per_s: f64,
    /// CPU time per row of the inserting thread, commits included, in µs.
    cpu_us: Option<f64>,
}

/// This thread's time on a CPU so far (/proc/thread-self/schedstat, in
/// nanoseconds; `None` where /proc does not say).
fn thread_cpu() -> Option<Duration> {
    let schedstat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(Duration::from_nanos(schedstat.split_whitespace().next()?.parse().ok()?))
}

/// SQL text literal.
fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn lit_opt(s: &Option<String>) -> String {
    s.as_deref().map_or_else(|| "NULL".to_string(), lit)
}

/// pgbench's inserts per second on a fresh database of the same server.
async fn pgbench(plan: &Plan, dir: &Path, target: &Target) -> anyhow::Result<f64> {
    let db = Db::fresh(target, dir, "pgbench").await?;
    let measured = pgbench_on(plan, dir, &db).await;
    db.remove().await?;
    measured
}

async fn pgbench_on(plan: &Plan, dir: &Path, db: &Db) -> anyhow::Result<f64> {
    drop(actas_store::Store::open(&actas_store::Options::new(db.url.clone())).await?);
    let mut conn = sqlx::PgConnection::connect(&db.url).await?;
    conn.execute("CREATE TABLE bench_ceiling (LIKE audit_events INCLUDING ALL)").await?;
    conn.execute("CREATE SEQUENCE bench_ceiling_seq").await?;
    conn.close().await.ok();
    // One row like an authorize answer's event, its seq from a sequence.
    let r = sample_rows().into_iter().find(|r| r.kind == "action.performed").context("no sample answer event")?;
    let script = format!(
        "INSERT INTO bench_ceiling (seq, id, at, type, actor, account_id, ticket, request_id, session_id, agent, data, text, prev_hash, hash) \
         SELECT n, 'evt_ceiling' || n, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {} FROM (SELECT nextval('bench_ceiling_seq') AS n) s;\n",
        lit(&r.at),
        lit(r.kind),
        lit(&r.actor),
        lit_opt(&r.account_id),
        lit_opt(&r.ticket),
        lit_opt(&r.request_id),
        lit_opt(&r.session_id),
        lit_opt(&r.agent),
        lit(&r.data),
        lit(&r.text),
        lit(&r.prev_hash),
        lit(&r.hash),
    );
    let file = dir.join("pgbench.sql");
    std::fs::write(&file, script)?;
    let out = tokio::process::Command::new("pgbench")
        .args(["-n", "-c", &PGBENCH_CLIENTS.to_string(), "-j", &PGBENCH_THREADS.to_string()])
        .args(["-T", &plan.pgbench_secs.to_string(), "-f"])
        .arg(&file)
        .arg(&db.url)
        .output()
        .await
        .context("cannot run pgbench (is it on PATH?)")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("pgbench failed ({}): {stdout}{}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    parse_tps(&stdout).with_context(|| format!("no tps in pgbench's output: {stdout}"))
}

/// `tps = 1234.5 (without initial connection time)`.
fn parse_tps(out: &str) -> Option<f64> {
    out.lines()
        .filter_map(|l| l.trim().strip_prefix("tps = "))
        .filter_map(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
        .next_back()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgbench_tps_is_read_from_its_summary() {
        let out = "number of failed transactions: 0 (0.000%)\nlatency average = 10.1 ms\ninitial connection time = 20.5 ms\ntps = 6321.123456 (without initial connection time)\n";
        assert_eq!(parse_tps(out), Some(6321.123456));
        assert_eq!(parse_tps("nothing"), None);
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1234.0), "1,234");
        assert_eq!(thousands(1234567.0), "1,234,567");
    }
}
