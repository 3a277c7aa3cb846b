//! The server's memory and idle CPU: started on a database with one live
//! session, then again on the same database with thousands more (each
//! agent with an approved request and a started session), the reaper on as
//! in production. Each time: idle for a few seconds (VmRSS, and the CPU
//! time used, which is the reaper's and the other loops' idle cost), then
//! 64 busy clients on authorize (VmRSS and VmHWM after).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::baseline::thousands;
use crate::cast::{self, Cast};
use crate::db::{Db, Target};
use crate::load::{self, Endpoint};
use crate::plan::{Plan, BUSY};
use crate::report::{Report, Row};
use crate::server::{Memory, Node};

/// What one start measured.
struct Seen {
    idle: Memory,
    idle_cpu: Duration,
    busy: Memory,
}

/// Runs the part on a database of its own, removed afterwards.
pub async fn run(plan: &Plan, dir: &Path, target: &Target, report: &mut Report) -> anyhow::Result<()> {
    eprintln!("bench: {}: memory", target.label());
    let db = Db::fresh(target, dir, &format!("{}-memory", target.label())).await?;
    let measured = measure(plan, dir, target, &db, report).await;
    db.remove().await?;
    measured
}

async fn measure(plan: &Plan, dir: &Path, target: &Target, db: &Db, report: &mut Report) -> anyhow::Result<()> {
    let label = target.label();
    let ctx = cast::open(db).await?;
    let mut cast = Cast::create(&ctx, 0).await?;
    let stage = cast.stage(&ctx).await?;
    let one = observe(plan, dir, db, &format!("{label}-memory-1"), &cast.app_key, &stage.token).await?;

    let n = plan.live_sessions;
    eprintln!("bench: {label}: making {} live sessions", thousands(n as f64));
    let started = Instant::now();
    cast.live_sessions(&ctx, n).await?;
    eprintln!("bench: {label}: made them in {:.1} s", started.elapsed().as_secs_f64());
    let many = observe(plan, dir, db, &format!("{label}-memory-{n}"), &cast.app_key, &stage.token).await?;

    let live = live_count(&ctx, n + 1).await?;
    if live < n {
        anyhow::bail!("only {live} of the {n} sessions were still live after the measurement");
    }
    let sessions = format!("{} live sessions", thousands((n + 1) as f64));
    let mib = |k: u64| format!("{:.1} MiB", k as f64 / 1024.0);
    let idle_for = plan.idle_for.as_secs_f64();
    report.push(Row::new(label, "server VmRSS idle, 1 live session", mib(one.idle.rss_kib)));
    report.push(Row::new(label, &format!("server VmRSS idle, {sessions}"), mib(many.idle.rss_kib)).against(
        "1 live session",
        mib(one.idle.rss_kib),
        many.idle.rss_kib as f64 / one.idle.rss_kib as f64,
    ));
    report.push(Row::new(
        label,
        &format!("server VmRSS / VmHWM after {BUSY} busy clients, 1 live session"),
        format!("{} / {}", mib(one.busy.rss_kib), mib(one.busy.hwm_kib)),
    ));
    report.push(
        Row::new(
            label,
            &format!("server VmRSS / VmHWM after {BUSY} busy clients, {sessions}"),
            format!("{} / {}", mib(many.busy.rss_kib), mib(many.busy.hwm_kib)),
        )
        .against(
            "1 live session, VmHWM",
            mib(one.busy.hwm_kib),
            many.busy.hwm_kib as f64 / one.busy.hwm_kib as f64,
        ),
    );
    let cpu = |d: Duration| format!("{} ms ({:.2} % of a core)", d.as_millis(), d.as_secs_f64() / idle_for * 100.0);
    report.push(Row::new(
        label,
        &format!("server CPU time over {idle_for:.0} idle s, 1 live session"),
        cpu(one.idle_cpu),
    ));
    let ratio =
        if one.idle_cpu.is_zero() { f64::NAN } else { many.idle_cpu.as_secs_f64() / one.idle_cpu.as_secs_f64() };
    report.push(
        Row::new(label, &format!("server CPU time over {idle_for:.0} idle s, {sessions}"), cpu(many.idle_cpu)).against(
            "1 live session",
            cpu(one.idle_cpu),
            ratio,
        ),
    );
    Ok(())
}

/// Starts a server, lets it settle, reads its idle memory and CPU, loads
/// it with [`BUSY`] clients, reads its memory again, stops it.
async fn observe(plan: &Plan, dir: &Path, db: &Db, name: &str, app_key: &str, token: &str) -> anyhow::Result<Seen> {
    let node = Node::start(db, dir, name).await?;
    // Start-up (key loading, the first reaper pass) is not idle time.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = node.cpu_mark()?;
    tokio::time::sleep(plan.idle_for).await;
    let idle_cpu = node.cpu_since(&before)?;
    let idle = node.memory()?;
    let client = load::client()?;
    let authz = Endpoint::authorize(&client, std::slice::from_ref(&node.url), app_key, token)?;
    load::closed(&authz, BUSY, plan.level).await?;
    let busy = node.memory()?;
    node.stop().await?;
    Ok(Seen { idle, idle_cpu, busy })
}

/// Live sessions in the database now, counting up to `most` (a list
/// without a limit stops at the store's default page).
async fn live_count(ctx: &actas_server::Ctx, most: usize) -> anyhow::Result<usize> {
    let f = actas_store::SessionFilter { live_only: true, limit: Some(most as i64), ..Default::default() };
    let live =
        ctx.store.read(actas_store::read_fn(move |tx| Box::pin(async move { tx.list_sessions(&f).await }))).await?;
    Ok(live.len())
}
