//! The same figures as the trail grows: one database, seeded from 0 to
//! each size in turn (server stopped), then at each size a server started
//! on it and measured: authorize (64 clients, with the bytes the server
//! wrote and read per call, and the open loop), ending sessions, the
//! customer access log and each kind of audit search, with the server's
//! CPU time per call of each; then `audit verify` on it in a process of
//! its own. Each figure at a size is divided by the same figure at 0
//! seeded events.
//!
//! The searches are the same at every size and find events at every size:
//! by the bench's account, agent and ticket (which the seeded trail uses
//! too), its session, one event type, and the day before the run (which
//! the seeded trail reaches), so the page is full at 0 events as at 10
//! million and only what the database must look through changes.

use std::path::Path;

use actas_core::{Clock, SystemClock, Timestamp};
use anyhow::bail;
use chrono::Duration;

use crate::authorize::{closed_value, cpu_per_call, open_value, us};
use crate::baseline::{rate, thousands, Baselines};
use crate::cast::{self, Cast, Stage};
use crate::db::{Db, Target};
use crate::load::{self, Check, Endpoint, Figures};
use crate::plan::{Plan, BUSY, OPEN_CONNECTIONS};
use crate::report::{self, ms, Report, Row};
use crate::seed::{Seeder, BATCH};
use crate::server::{self, Node};

/// A generous guess of the disk one seeded event takes with its indexes
/// (measured: about 1.1 KB on SQLite, 1.4 KB on PostgreSQL), to refuse a
/// run that would fill the disk.
const BYTES_PER_EVENT: u64 = 2_000;

/// What one size measured.
struct Level {
    authorize: Figures,
    /// Bytes the server wrote and read per authorize call at 64 clients.
    disk: (f64, f64),
    open: Figures,
    ends: Figures,
    access_log: Figures,
    searches: Vec<(&'static str, Figures)>,
    /// The server's CPU time per call, in µs: authorize at 64 clients,
    /// the access log, then each search. What a query that looked through
    /// more of the trail would cost shows here even when the machine's
    /// noise hides it in the times (on SQLite, where the queries run in
    /// the server's process).
    cpu: Vec<(&'static str, f64)>,
}

/// Runs the part on a database of its own, removed afterwards. Without
/// `http`, only seeds and verifies.
pub async fn run(
    plan: &Plan,
    dir: &Path,
    target: &Target,
    b: &Baselines,
    http: bool,
    report: &mut Report,
) -> anyhow::Result<()> {
    eprintln!("bench: {}: trail sizes {:?}", target.label(), plan.trail_sizes);
    let db = Db::fresh(target, dir, &format!("{}-trail", target.label())).await?;
    let measured = measure(plan, dir, target, &db, b, http, report).await;
    db.remove().await?;
    measured
}

async fn measure(
    plan: &Plan,
    dir: &Path,
    target: &Target,
    db: &Db,
    b: &Baselines,
    http: bool,
    report: &mut Report,
) -> anyhow::Result<()> {
    let label = target.label();
    check_disk(plan, dir, db).await?;
    let ctx = cast::open(db).await?;
    let mut cast = Cast::create(&ctx, plan.ends).await?;
    let now = SystemClock.now();
    // The seeded trail covers the past year up to a minute before the run.
    let (since, until) = (now - Duration::days(365), now - Duration::minutes(1));
    let mut seeder = Seeder::default();
    let mut zero: Option<Level> = None;
    let mut verified: Option<(u64, server::Verified)> = None;
    for &size in plan.trail_sizes {
        if size > seeder.seeded() {
            eprintln!("bench: {label}: seeding the trail to {} events", thousands(size as f64));
            let from = seeder.seeded();
            let g = seeder.grow(&ctx.store, size, since, until).await?;
            // As a server does when it stops: the last head gets its checkpoint.
            ctx.store.sign_head().await?;
            analyze(db).await?;
            settle(db).await?;
            let row = Row::new(
                label,
                &format!(
                    "seeding {} → {} events (store's append, {} per transaction)",
                    thousands(from as f64),
                    thousands(size as f64),
                    thousands(BATCH as f64)
                ),
                rate(g.events as f64 / g.secs, "events/s"),
            );
            let row = match (target, b.sqlite_best()) {
                (Target::Sqlite, Some((batch, rows))) => row.against(
                    &format!("SQLite insert ceiling, {batch} rows per commit"),
                    rate(rows, "rows/s"),
                    g.events as f64 / g.secs / rows,
                ),
                _ => row,
            };
            report.push(row);
            if let Some(bytes) = size_on_disk(db).await {
                report.push(Row::new(
                    label,
                    &format!("database size at {} seeded events", thousands(size as f64)),
                    format!("{:.2} GB ({} bytes per event)", bytes as f64 / 1e9, thousands(bytes as f64 / size as f64)),
                ));
            }
        }
        if http {
            let stage = cast.stage(&ctx).await?;
            let node = Node::start(db, dir, &format!("{label}-trail-{size}")).await?;
            let level = level(plan, &node, &cast, &stage, since + Duration::days(364)).await?;
            node.stop().await?;
            rows(report, label, plan.open_rate, size, &level, zero.as_ref());
            if zero.is_none() {
                zero = Some(level);
            }
        }
        if size > 0 {
            eprintln!("bench: {label}: audit verify at {} events", thousands(size as f64));
            let v = server::verify(db).await?;
            let value = format!(
                "{} ({} events in {:.1} s), peak memory {:.0} MiB",
                rate(v.events as f64 / v.secs, "events/s"),
                thousands(v.events as f64),
                v.secs,
                v.hwm_kib as f64 / 1024.0
            );
            let figure = format!("audit verify at {} seeded events", thousands(size as f64));
            let row = Row::new(label, &figure, value);
            let row = match &verified {
                Some((at, before)) => row.against(
                    &format!("audit verify at {} events, events/s", thousands(*at as f64)),
                    rate(before.events as f64 / before.secs, "events/s"),
                    (v.events as f64 / v.secs) / (before.events as f64 / before.secs),
                ),
                None => row,
            };
            report.push(row);
            if let Some((at, before)) = &verified {
                report.push(
                    Row::new(label, &format!("{figure}: peak memory"), format!("{:.0} MiB", v.hwm_kib as f64 / 1024.0))
                        .against(
                            &format!("at {} events", thousands(*at as f64)),
                            format!("{:.0} MiB", before.hwm_kib as f64 / 1024.0),
                            v.hwm_kib as f64 / before.hwm_kib as f64,
                        ),
                );
            }
            verified = Some((size, v));
        }
    }
    Ok(())
}

/// Measures one size on a running server. `day` is the start of the last
/// day before the run, the time range searched.
async fn level(plan: &Plan, node: &Node, cast: &Cast, stage: &Stage, day: Timestamp) -> anyhow::Result<Level> {
    let client = load::client()?;
    let nodes = vec![node.url.clone()];
    let authz = Endpoint::authorize(&client, &nodes, &cast.app_key, &stage.token)?;
    load::closed(&authz, 16, plan.warm_up).await?;
    let before = node.disk()?;
    let (authorize, authorize_cpu) = cpu_per_call(node, load::closed(&authz, BUSY, plan.level)).await?;
    let after = node.disk()?;
    let mut cpu = vec![("authorize", authorize_cpu.server)];
    let per_call = |b: u64, a: u64| a.saturating_sub(b) as f64 / authorize.calls.max(1) as f64;
    let disk = (per_call(before.written, after.written), per_call(before.read, after.read));
    let open = load::open(&authz, plan.open_rate, plan.open_for, OPEN_CONNECTIONS).await?;
    let ends: Vec<(String, String)> = stage
        .to_end
        .iter()
        .map(|(id, token)| (format!("{}/api/v1/sessions/{id}/end", node.url), token.clone()))
        .collect();
    let ends = load::end_sessions(&client, &ends).await?;
    let log = Endpoint::get(
        &client,
        &nodes,
        &format!("/api/v1/accounts/{}/access-log", stage.ends_account),
        Some(&cast.app_key),
        Check::AccessLog,
    );
    let (access_log, log_cpu) = cpu_per_call(node, load::sequential(&log, plan.reads, plan.read_budget)).await?;
    cpu.push(("access log", log_cpu.server));
    let t = |t: Timestamp| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let queries: [(&'static str, String); 6] = [
        ("account", format!("account={}", cast.account)),
        ("agent", format!("agent={}", cast.agent_login)),
        ("ticket", format!("ticket={}", cast.ticket)),
        ("session", format!("session={}", stage.session_id)),
        ("type", "type=action.performed".to_string()),
        ("time range", format!("since={}&until={}", t(day), t(SystemClock.now() + Duration::days(1)))),
    ];
    let mut searches = Vec::new();
    for (name, q) in queries {
        let ep = Endpoint::get(&client, &nodes, &format!("/api/v1/audit?{q}"), Some(&cast.auditor), Check::AuditPage);
        let (found, search_cpu) = cpu_per_call(node, load::sequential(&ep, plan.reads, plan.read_budget)).await?;
        searches.push((name, found));
        cpu.push((name, search_cpu.server));
    }
    Ok(Level { authorize, disk, open, ends, access_log, searches, cpu })
}

/// The rows of one size, each against its figure at 0 events.
fn rows(report: &mut Report, label: &str, open_rate: u32, size: u64, l: &Level, zero: Option<&Level>) {
    let at = format!("{} events", thousands(size as f64));
    let base = "same at 0 events";
    let reads = |f: &Figures| format!("p50 {}, p99 {} ms ({} calls)", ms(f.ms(0.5)), ms(f.ms(0.99)), f.calls);
    let mut push = |figure: String, value: String, baseline: Option<(String, f64)>| {
        let row = Row::new(label, &figure, value);
        report.push(match baseline {
            Some((v, r)) => row.against(base, v, r),
            None => row,
        });
    };
    push(
        format!("authorize, {BUSY} clients, trail {at}"),
        closed_value(&l.authorize),
        zero.map(|z| (rate(z.authorize.rate(), "req/s"), l.authorize.rate() / z.authorize.rate())),
    );
    push(
        format!("disk written per authorize call, {BUSY} clients, trail {at}"),
        format!("{} bytes (read {} bytes)", thousands(l.disk.0), thousands(l.disk.1)),
        zero.map(|z| (format!("{} bytes", thousands(z.disk.0)), l.disk.0 / z.disk.0.max(1.0))),
    );
    push(
        format!("authorize, open loop at {open_rate}/s, trail {at}"),
        open_value(&l.open),
        zero.map(|z| (format!("p99 {} ms", ms(z.open.ms(0.99))), l.open.ms(0.99) / z.open.ms(0.99))),
    );
    push(
        format!("POST /sessions/{{id}}/end, {} sessions, trail {at}", l.ends.calls),
        format!("p50 {}, max {} ms", ms(l.ends.ms(0.5)), ms(l.ends.max_ms())),
        zero.map(|z| (format!("p50 {} ms", ms(z.ends.ms(0.5))), l.ends.ms(0.5) / z.ends.ms(0.5))),
    );
    push(
        format!("GET /accounts/{{id}}/access-log, trail {at}"),
        reads(&l.access_log),
        zero.map(|z| (format!("p99 {} ms", ms(z.access_log.ms(0.99))), l.access_log.ms(0.99) / z.access_log.ms(0.99))),
    );
    for (name, f) in &l.searches {
        let z = zero.and_then(|z| z.searches.iter().find(|(n, _)| n == name)).map(|(_, f)| f);
        push(
            format!("GET /audit by {name}, trail {at}"),
            reads(f),
            z.map(|z| (format!("p99 {} ms", ms(z.ms(0.99))), f.ms(0.99) / z.ms(0.99))),
        );
    }
    let cpu = l.cpu.iter().map(|(name, c)| format!("{name} {}", us(*c))).collect::<Vec<_>>().join(", ");
    // The call whose CPU time grew the most from 0 events.
    let grown = zero.and_then(|z| {
        l.cpu
            .iter()
            .filter_map(|(name, c)| {
                z.cpu.iter().find(|(n, _)| n == name).map(|(_, zc)| (*name, *zc, c / zc.max(0.001)))
            })
            .max_by(|a, b| a.2.total_cmp(&b.2))
    });
    push(
        format!("server CPU time per call, trail {at}"),
        cpu,
        grown.map(|(name, zc, ratio)| (format!("{name} {} (grew the most)", us(zc)), ratio)),
    );
    if let Some(z) = zero {
        report.at_least(
            &format!("{label} authorize at {at} ÷ at 0"),
            l.authorize.rate() / z.authorize.rate(),
            report::MIN_AUTHORIZE_AT_TRAIL,
        );
        for (name, f) in &l.searches {
            if let Some((_, zf)) = z.searches.iter().find(|(n, _)| n == name) {
                report.at_most(
                    &format!("{label} audit search by {name}, p99 at {at} ÷ at 0"),
                    f.ms(0.99) / zf.ms(0.99),
                    report::MAX_SEARCH_P99_AT_TRAIL,
                );
            }
        }
    }
}

/// On PostgreSQL, `ANALYZE`: a trail that grew over a year has been
/// analyzed by autovacuum many times, while one seeded a minute ago has
/// not, and the planner would judge the new rows by the old statistics.
/// (SQLite keeps no statistics unless asked, and the store does not ask.)
async fn analyze(db: &Db) -> anyhow::Result<()> {
    use anyhow::Context;
    use sqlx::{Connection, Executor};
    if db.pg_name().is_none() {
        return Ok(());
    }
    let mut c = sqlx::PgConnection::connect(&db.url).await?;
    c.execute("ANALYZE").await.context("ANALYZE failed")?;
    c.close().await.ok();
    Ok(())
}

/// Puts the seeded trail where a trail that grew over a year would be: in
/// the database file rather than SQLite's write-ahead log, and on the disk
/// rather than in the kernel's dirty pages. Otherwise the measurements
/// that follow seeding would share the disk with the write-back of
/// gigabytes, and each commit's fsync would wait behind it.
async fn settle(db: &Db) -> anyhow::Result<()> {
    use anyhow::Context;
    use sqlx::{Connection, Executor};
    let started = std::time::Instant::now();
    if db.pg_name().is_none() {
        let mut c = sqlx::SqliteConnection::connect(&db.url).await?;
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)").await.context("the WAL checkpoint failed")?;
        c.close().await.ok();
    } else {
        // CHECKPOINT needs a superuser or pg_checkpoint; without it the
        // kernel's write-back below still happens.
        let mut c = sqlx::PgConnection::connect(&db.url).await?;
        if let Err(e) = c.execute("CHECKPOINT").await {
            eprintln!("bench:   CHECKPOINT refused ({e}); the trail is synced without it");
        }
        c.close().await.ok();
    }
    let synced = tokio::process::Command::new("sync").status().await.context("cannot run sync")?;
    anyhow::ensure!(synced.success(), "sync failed");
    eprintln!("bench:   the seeded trail written out to disk in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Refuses to seed a trail the disk cannot hold.
async fn check_disk(plan: &Plan, dir: &Path, db: &Db) -> anyhow::Result<()> {
    let need = plan.max_trail() * BYTES_PER_EVENT;
    let place = match db.pg_name() {
        None => Some(dir.to_path_buf()),
        Some(_) => pg_data_directory(db).await,
    };
    let Some(place) = place else {
        eprintln!("bench: cannot tell where PostgreSQL keeps its data; the free disk is not checked");
        return Ok(());
    };
    if let Some(free) = crate::machine::free_bytes(&place) {
        if free < need {
            bail!(
                "seeding {} events needs about {:.1} GB free at {}, and {:.1} GB are",
                thousands(plan.max_trail() as f64),
                need as f64 / 1e9,
                place.display(),
                free as f64 / 1e9
            );
        }
    }
    Ok(())
}

async fn pg_data_directory(db: &Db) -> Option<std::path::PathBuf> {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(&db.url).await.ok()?;
    let dir: Option<String> = sqlx::query_scalar("SHOW data_directory").fetch_one(&mut c).await.ok();
    c.close().await.ok();
    dir.map(Into::into)
}

/// The database's size in bytes (the SQLite file and its WAL, or
/// `pg_database_size`).
async fn size_on_disk(db: &Db) -> Option<u64> {
    if let Some(file) = db.file() {
        let wal = file.with_file_name(format!("{}-wal", file.file_name()?.to_string_lossy()));
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        return Some(size(file) + size(&wal));
    }
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(&db.url).await.ok()?;
    let n: Option<i64> = sqlx::query_scalar("SELECT pg_database_size(current_database())").fetch_one(&mut c).await.ok();
    c.close().await.ok();
    n.map(|n| n as u64)
}
