//! `actas-bench`: the benchmark of actas, one command.
//!
//! The real server runs in a child process (this program started again
//! with the hidden `__serve`), on a fresh SQLite file or a fresh PostgreSQL
//! database; set-up and the seeded audit trail go in through the service
//! layer and the store before it starts. The load comes from this process
//! over HTTP. Every figure is printed beside a baseline measured in the same
//! run (the same server's cheapest endpoint, raw inserts into a table like
//! `audit_events`, pgbench, the figure at an empty trail, ...), because
//! absolute numbers move between machines and ratios do not.
//!
//! `all` writes its table into BENCHMARKS.md between the markers; `quick`
//! prints it and fails only when a ratio collapses (see `report::CHECKS`).
#![allow(clippy::print_stdout)] // the table goes to standard output

mod authorize;
mod baseline;
mod cast;
mod db;
mod load;
mod machine;
mod memory;
mod plan;
mod report;
mod seed;
mod server;
mod trail;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::{Args as ClapArgs, Parser, Subcommand};

use crate::db::Target;
use crate::plan::Plan;
use crate::report::Report;

/// mimalloc: see "Why these dependencies" in the README.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Throughput, latency and memory of actas against baselines of the same run.
#[derive(Debug, Parser)]
#[command(name = "actas-bench")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Everything, full length (one to two hours: 10 million events are
    /// seeded on each backend); writes the table into BENCHMARKS.md, after
    /// each part as it goes.
    All {
        #[command(flatten)]
        common: Common,
        /// The file whose marked section receives the table.
        #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../BENCHMARKS.md"))]
        write: PathBuf,
    },
    /// Everything, short (trail of 0 and 100,000 events), under two minutes
    /// for CI; prints the table and fails only when a ratio collapses.
    Quick {
        #[command(flatten)]
        common: Common,
    },
    /// The baselines alone: no-op floor, SQLite batch inserts, pgbench.
    Baseline(Part),
    /// Authorize at 1, 16 and 64 clients and at a fixed rate, beside the
    /// baselines (and two nodes on PostgreSQL).
    Authorize(Part),
    /// Authorize, session end, access log and audit search as the trail
    /// grows, with `audit verify` at each size.
    Trail(Part),
    /// `audit verify` on a seeded trail: events per second and peak memory.
    Verify(Part),
    /// Server memory and idle CPU with thousands of live sessions.
    Memory(Part),
    /// The server child (internal).
    #[command(name = "__serve", hide = true)]
    Serve(server::ServeArgs),
    /// The `audit verify` child (internal).
    #[command(name = "__verify", hide = true)]
    VerifyChild(server::VerifyArgs),
}

#[derive(Debug, ClapArgs)]
struct Common {
    /// A PostgreSQL server to measure too (a fresh database is made on it
    /// and dropped at the end; the role needs CREATEDB).
    #[arg(long, env = "ACTAS_BENCH_PG_URL")]
    pg_url: Option<String>,
}

#[derive(Debug, ClapArgs)]
struct Part {
    #[command(flatten)]
    common: Common,
    /// The quick mode's lengths and sizes.
    #[arg(long)]
    quick: bool,
}

/// Which parts a run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Parts {
    All,
    Baseline,
    Authorize,
    Trail,
    Verify,
    Memory,
}

impl Parts {
    /// The command line that measures these parts (no URL: it may hold a
    /// password).
    fn command(self, plan: &Plan) -> String {
        let name = match self {
            Parts::All if plan.quick => return "quick".into(),
            Parts::All => return "all".into(),
            Parts::Baseline => "baseline",
            Parts::Authorize => "authorize",
            Parts::Trail => "trail",
            Parts::Verify => "verify",
            Parts::Memory => "memory",
        };
        if plan.quick {
            format!("{name} --quick")
        } else {
            name.into()
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("actas-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("actas-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (parts, plan, pg_url, write) = match args.command {
        Command::Serve(a) => return server::serve(a).await.map(|()| ExitCode::SUCCESS),
        Command::VerifyChild(a) => return server::verify_child(a).await,
        Command::All { common, write } => (Parts::All, Plan::full(), common.pg_url, Some(write)),
        Command::Quick { common } => {
            // CI sets ACTAS_TEST_PG_URL for the tests; quick mode uses it too.
            let pg = common.pg_url.or_else(|| std::env::var("ACTAS_TEST_PG_URL").ok().filter(|u| !u.is_empty()));
            (Parts::All, Plan::quick(), pg, None)
        }
        Command::Baseline(p) => (Parts::Baseline, Plan::pick(p.quick), p.common.pg_url, None),
        Command::Authorize(p) => (Parts::Authorize, Plan::pick(p.quick), p.common.pg_url, None),
        Command::Trail(p) => (Parts::Trail, Plan::pick(p.quick), p.common.pg_url, None),
        Command::Verify(p) => (Parts::Verify, Plan::pick(p.quick), p.common.pg_url, None),
        Command::Memory(p) => (Parts::Memory, Plan::pick(p.quick), p.common.pg_url, None),
    };
    let started = Instant::now();
    let dir = tempfile::Builder::new().prefix("actas-bench-").tempdir().context("cannot make a temporary folder")?;
    eprintln!("bench: {} mode, working in {}", plan.name(), dir.path().display());
    if db::keep() {
        eprintln!("bench: ACTAS_BENCH_KEEP is set: the folder and the databases stay after the run");
    }
    let mut targets = vec![Target::Sqlite];
    if let Some(url) = pg_url {
        targets.push(Target::Postgres(url));
    }

    let machine = machine::describe(dir.path(), &targets).await;
    // A long run writes what it has after each part, so a run stopped
    // half-way still leaves its figures, marked as incomplete.
    let save = |report: &Report, after: Option<String>| -> anyhow::Result<()> {
        match &write {
            Some(path) => report::write_section(path, &report.markdown(&machine, started.elapsed(), after.as_deref())),
            None => Ok(()),
        }
    };
    let mut report = Report::new(plan, &parts.command(&plan));
    let baselines = baseline::measure(&plan, dir.path(), &targets, &mut report).await?;
    save(&report, Some("the baselines".into()))?;
    for target in &targets {
        let label = target.label();
        if matches!(parts, Parts::All | Parts::Authorize) {
            authorize::run(&plan, dir.path(), target, &baselines, &mut report).await?;
            save(&report, Some(format!("{label} authorize")))?;
        }
        if matches!(parts, Parts::All | Parts::Trail | Parts::Verify) {
            let http = parts != Parts::Verify;
            trail::run(&plan, dir.path(), target, &baselines, http, &mut report).await?;
            save(&report, Some(format!("{label} trail")))?;
        }
        if matches!(parts, Parts::All | Parts::Memory) {
            memory::run(&plan, dir.path(), target, &mut report).await?;
            save(&report, Some(format!("{label} memory")))?;
        }
    }
    let took = started.elapsed();
    eprintln!("bench: done in {:.0} s", took.as_secs_f64());

    println!("{}", report.markdown(&machine, took, None));
    save(&report, None)?;
    if let Some(path) = &write {
        eprintln!("bench: wrote the table into {}", path.display());
    }
    if db::keep() {
        let kept = dir.keep();
        eprintln!("bench: kept {}", kept.display());
    }
    let failed = report.failed_checks();
    if failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        for f in &failed {
            eprintln!("bench: ratio collapsed: {f}");
        }
        Ok(ExitCode::FAILURE)
    }
}
