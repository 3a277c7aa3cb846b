//! The server under test, in a process of its own: this program started
//! again as `actas-bench __serve`, which builds and runs the server as
//! `actas serve` does. Being a process of its own, its resident memory and
//! CPU time can be read from /proc. And `__verify`, which runs `audit
//! verify` as the command line does, in a process whose peak memory it
//! reports itself.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actas_core::policy::Policy;
use actas_core::SystemClock;
use actas_server::{service, Config, KeyAccess, Server};
use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;
use tokio::process::{Child, ChildStdin, Command};

use crate::db::Db;

/// How long a server may take to start (open the database, load keys,
/// record the policy) and to stop.
const START_WITHIN: Duration = Duration::from_secs(120);
const STOP_WITHIN: Duration = Duration::from_secs(30);

/// `__serve`: the server, as `actas serve` runs it.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The database.
    #[arg(long)]
    db: String,
    /// The key-encryption key file.
    #[arg(long)]
    kek: PathBuf,
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Written with the bound address once the server is ready.
    #[arg(long)]
    ready_file: PathBuf,
}

/// Builds and runs the server with the configuration `actas serve` gives
/// it by default (shipped policy, real clock, the reaper every second, the
/// default connection limits), its keys sealed under `--kek`. It stops
/// when its standard input closes (the bench ended it, or died).
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ACTAS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let mut config = Config::new(args.db);
    config.listen = args.listen;
    config.keys = KeyAccess::Sealed(Arc::new(actas_server::Kek::from_file(&args.kek)?));
    let server = Server::build(config).await?;
    let tmp = args.ready_file.with_extension("tmp");
    std::fs::write(&tmp, server.addr().to_string()).context("cannot write the ready file")?;
    std::fs::rename(&tmp, &args.ready_file).context("cannot write the ready file")?;
    server
        .run_until(async {
            let mut stdin = tokio::io::stdin();
            let mut buf = [0u8; 64];
            while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {}
        })
        .await
}

/// A process's CPU time at one moment ([`Process::cpu_mark`]).
pub struct CpuMark {
    /// Each thread's name and its time on a CPU so far, in nanoseconds.
    threads: std::collections::HashMap<u64, (String, u64)>,
    ticks: Duration,
}

impl CpuMark {
    /// CPU time (user + system) used from `earlier` to this mark: the
    /// threads' time on a CPU in nanoseconds (/proc/PID/task/*/schedstat;
    /// a thread that ended meanwhile takes its share with it, and only
    /// threads that had sat idle for seconds end), else from
    /// /proc/PID/stat, which counts in clock ticks of 10 ms (a few reads
    /// take less).
    pub fn since(&self, earlier: &CpuMark) -> Duration {
        if earlier.threads.is_empty() || self.threads.is_empty() {
            return self.ticks.saturating_sub(earlier.ticks);
        }
        self.named_since(earlier, "")
    }

    /// [`CpuMark::since`] of the threads whose name starts with `name`
    /// (zero when /proc does not say).
    pub fn named_since(&self, earlier: &CpuMark, name: &str) -> Duration {
        let ns = self
            .threads
            .iter()
            .filter(|(_, (n, _))| n.starts_with(name))
            .map(|(tid, (_, ns))| ns.saturating_sub(earlier.threads.get(tid).map_or(0, |(_, ns)| *ns)))
            .sum();
        Duration::from_nanos(ns)
    }
}

/// A process whose CPU time is read from /proc: a server child, or this
/// program (the load generator).
#[derive(Debug, Clone, Copy)]
pub struct Process(pub u32);

impl Process {
    /// This program.
    pub fn this() -> Process {
        Process(std::process::id())
    }

    /// Where its CPU time stands now ([`CpuMark::since`]).
    pub fn cpu_mark(&self) -> anyhow::Result<CpuMark> {
        Ok(CpuMark { threads: self.threads_ns(), ticks: self.cpu_ticks()? })
    }

    /// Each thread's name and time on a CPU so far, in nanoseconds (empty
    /// when /proc does not say).
    fn threads_ns(&self) -> std::collections::HashMap<u64, (String, u64)> {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.0)) else {
            return Default::default();
        };
        tasks
            .filter_map(|t| {
                let t = t.ok()?;
                let tid = t.file_name().to_str()?.parse().ok()?;
                let schedstat = std::fs::read_to_string(t.path().join("schedstat")).ok()?;
                let name = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
                Some((tid, (name.trim_end().to_string(), schedstat.split_whitespace().next()?.parse().ok()?)))
            })
            .collect()
    }

    /// CPU time it has used, from /proc/PID/stat (ended threads included).
    fn cpu_ticks(&self) -> anyhow::Result<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.0)).context("cannot read /proc/PID/stat")?;
        // The command name (field 2) may hold spaces; the rest follows its ')'.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).context("unexpected /proc/PID/stat")?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // Fields 14 and 15 of the line (utime, stime) are 12 and 13 after ')'.
        let ticks: u64 = fields.get(11).and_then(|v| v.parse::<u64>().ok()).context("no utime")?
            + fields.get(12).and_then(|v| v.parse::<u64>().ok()).context("no stime")?;
        Ok(Duration::from_secs_f64(ticks as f64 / clock_ticks() as f64))
    }
}

/// A running server child.
pub struct Node {
    child: Child,
    stdin: Option<ChildStdin>,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its process id.
    pub pid: u32,
    log: PathBuf,
}

/// What a process has moved to and from the disk ([`Node::disk`]).
#[derive(Debug, Clone, Copy)]
pub struct Disk {
    /// Bytes written.
    pub written: u64,
    /// Bytes read.
    pub read: u64,
}

/// Resident memory of a process, in KiB.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    /// `VmRSS`.
    pub rss_kib: u64,
    /// `VmHWM`, the peak of `VmRSS`.
    pub hwm_kib: u64,
}

impl Node {
    /// Starts a server on `db`; `name` names its log and ready files in `dir`.
    pub async fn start(db: &Db, dir: &Path, name: &str) -> anyhow::Result<Node> {
        let ready = dir.join(format!("{name}.ready"));
        let _ = std::fs::remove_file(&ready);
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        let exe = std::env::current_exe().context("cannot find this program to start the server")?;
        let mut child = Command::new(exe)
            .arg("__serve")
            .arg("--db")
            .arg(&db.url)
            .arg("--kek")
            .arg(&db.kek)
            .arg("--ready-file")
            .arg(&ready)
            .envs(std::env::var_os("ACTAS_BENCH_SERVER_WORKERS").map(|v| ("TOKIO_WORKER_THREADS", v)))
            .stdin(Stdio::piped())
            .stdout(out.try_clone()?)
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .context("cannot start the server process")?;
        let pid = child.id().context("the server process has no id")?;
        let stdin = child.stdin.take();
        let started = Instant::now();
        let addr = loop {
            if let Ok(a) = std::fs::read_to_string(&ready) {
                break a;
            }
            if let Some(status) = child.try_wait()? {
                bail!("the server exited at start ({status}); its log:\n{}", tail(&log));
            }
            if started.elapsed() > START_WITHIN {
                bail!("the server did not start within {START_WITHIN:?}; its log:\n{}", tail(&log));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        Ok(Node { child, stdin, url: format!("http://{}", addr.trim()), pid, log })
    }

    /// Its memory now.
    pub fn memory(&self) -> anyhow::Result<Memory> {
        memory_of(&format!("/proc/{}/status", self.pid))
    }

    /// Bytes it has caused to be written to and read from the disk so far
    /// (`write_bytes`, `read_bytes` of /proc/PID/io): unlike times, the
    /// same on a busy machine as on an idle one.
    pub fn disk(&self) -> anyhow::Result<Disk> {
        let io = std::fs::read_to_string(format!("/proc/{}/io", self.pid)).context("cannot read /proc/PID/io")?;
        let field = |name: &str| {
            io.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':')?.trim().parse::<u64>().ok())
                .with_context(|| format!("no {name} in /proc/PID/io"))
        };
        Ok(Disk { written: field("write_bytes")?, read: field("read_bytes")? })
    }

    /// Where its CPU time stands now, for [`Node::cpu_since`].
    pub fn cpu_mark(&self) -> anyhow::Result<CpuMark> {
        Process(self.pid).cpu_mark()
    }

    /// CPU time (user + system) it used since `mark` ([`CpuMark::since`]).
    pub fn cpu_since(&self, mark: &CpuMark) -> anyhow::Result<Duration> {
        Ok(self.cpu_mark()?.since(mark))
    }

    /// Stops it (closes its standard input) and checks it exited cleanly.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        drop(self.stdin.take());
        match tokio::time::timeout(STOP_WITHIN, self.child.wait()).await {
            Ok(status) => {
                let status = status?;
                if !status.success() {
                    bail!("the server exited with {status}; its log:\n{}", tail(&self.log));
                }
                Ok(())
            }
            Err(_) => {
                let _ = self.child.kill().await;
                bail!("the server did not stop within {STOP_WITHIN:?}; its log:\n{}", tail(&self.log))
            }
        }
    }
}

/// `VmRSS` and `VmHWM` from a /proc status file.
fn memory_of(path: &str) -> anyhow::Result<Memory> {
    let status = std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .with_context(|| format!("no {name} in {path}"))
    };
    Ok(Memory { rss_kib: field("VmRSS:")?, hwm_kib: field("VmHWM:")? })
}

/// Clock ticks per second of /proc/PID/stat (`getconf CLK_TCK`, 100 on Linux).
fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100)
    })
}

/// The last lines of a log file.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// `__verify`: `audit verify`, as the command line runs it.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The database.
    #[arg(long)]
    db: String,
    /// The key-encryption key file.
    #[arg(long)]
    kek: PathBuf,
}

/// What `__verify` prints, one JSON line.
#[derive(Debug, Serialize, Deserialize)]
pub struct Verified {
    /// Whether the chain and every checkpoint check out.
    pub ok: bool,
    /// Events checked.
    pub events: u64,
    /// Signed checkpoints checked.
    pub checkpoints: u64,
    /// What is wrong, when something is.
    pub problem: Option<String>,
    /// Wall time of the verification, seconds.
    pub secs: f64,
    /// The process's peak resident memory at the end, KiB.
    pub hwm_kib: u64,
}

/// Opens the database with the KEK (so every stored key must open) and
/// verifies the whole trail, as `actas audit verify` does.
pub async fn verify_child(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let access = KeyAccess::Sealed(Arc::new(actas_server::Kek::from_file(&args.kek)?));
    let started = Instant::now();
    let ctx = actas_server::open_ctx(
        &args.db,
        Policy::shipped(),
        Arc::new(SystemClock),
        "http://127.0.0.1:7878".into(),
        access,
    )
    .await?;
    let v = service::verify_against(&ctx, &[], &[]).await?;
    let secs = started.elapsed().as_secs_f64();
    let mem = memory_of("/proc/self/status")?;
    let out = Verified {
        ok: v.ok,
        events: v.events,
        checkpoints: v.checkpoints,
        problem: v.problem,
        secs,
        hwm_kib: mem.hwm_kib,
    };
    println!("{}", serde_json::to_string(&out)?);
    Ok(if out.ok { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

/// Runs `__verify` on `db` and reads its answer; a trail that does not
/// verify fails the run.
pub async fn verify(db: &Db) -> anyhow::Result<Verified> {
    let exe = std::env::current_exe().context("cannot find this program to run audit verify")?;
    let out = Command::new(exe)
        .arg("__verify")
        .arg("--db")
        .arg(&db.url)
        .arg("--kek")
        .arg(&db.kek)
        .stdin(Stdio::null())
        .output()
        .await
        .context("cannot run audit verify")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let v: Verified = serde_json::from_str(line).with_context(|| {
        format!(
            "audit verify answered no result ({}); its output: {stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    if !v.ok {
        bail!("audit verify says the seeded trail is NOT intact: {}", v.problem.unwrap_or_default());
    }
    Ok(v)
}
