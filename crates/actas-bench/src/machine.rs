//! What the run was measured on: CPU, cores, memory, kernel, the disk and
//! file system of the temporary folder, rustc, PostgreSQL, the date and the
//! commit. Each line says `unknown` rather than failing the run.

use std::path::Path;

use actas_core::{Clock, SystemClock};
use sqlx::Connection;

use crate::db::Target;

/// `(what, description)` lines.
pub async fn describe(dir: &Path, targets: &[Target]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    out.push(("date".into(), SystemClock.now().format("%Y-%m-%d %H:%M UTC").to_string()));
    out.push(("CPU".into(), cpu()));
    out.push(("cores".into(), cores()));
    out.push(("memory".into(), memory()));
    out.push((
        "kernel".into(),
        read_trim("/proc/sys/kernel/osrelease").map(|k| format!("Linux {k}")).unwrap_or_else(unknown),
    ));
    out.push(("temporary folder".into(), disk(dir)));
    for t in targets {
        if let Target::Postgres(url) = t {
            out.push(("PostgreSQL".into(), postgres(url).await));
        }
    }
    out.push(("rustc".into(), command("rustc", &["--version"]).unwrap_or_else(unknown)));
    out.push((
        "profile".into(),
        if cfg!(debug_assertions) { "debug (figures not meaningful)" } else { "release" }.into(),
    ));
    out.push(("commit".into(), command("git", &["rev-parse", "--short", "HEAD"]).unwrap_or_else(unknown)));
    out
}

fn unknown() -> String {
    "unknown".into()
}

fn read_trim(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

fn command(program: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(program).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The model name, and whether it runs under a hypervisor.
fn cpu() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, v)| v.trim().to_string()))
        .unwrap_or_else(unknown);
    let guest = info.lines().any(|l| l.starts_with("flags") && l.split_whitespace().any(|f| f == "hypervisor"));
    if guest {
        format!("{model} (virtual machine)")
    } else {
        model
    }
}

/// The cores this program may run on (1 when the system does not say).
pub fn usable_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Logical CPUs this process may use, and those of /proc/cpuinfo.
fn cores() -> String {
    let usable = usable_cores();
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let listed = info.lines().filter(|l| l.starts_with("processor")).count();
    format!("{usable} usable ({listed} in /proc/cpuinfo); the server, the load and the database share them")
}

fn memory() -> String {
    let info = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kib = |name: &str| -> Option<u64> {
        info.lines().find_map(|l| l.strip_prefix(name))?.trim().trim_end_matches("kB").trim().parse().ok()
    };
    match (kib("MemTotal:"), kib("SwapTotal:")) {
        (Some(total), swap) => {
            let swap = match swap {
                Some(0) | None => "no swap".to_string(),
                Some(s) => format!("{:.1} GiB swap", s as f64 / 1048576.0),
            };
            format!("{:.1} GiB, {swap}", total as f64 / 1048576.0)
        }
        _ => unknown(),
    }
}

/// `df -PT`'s device and type for the folder, and its free space.
fn disk(dir: &Path) -> String {
    let Some(out) = command("df", &["-PT", &dir.to_string_lossy()]) else { return unknown() };
    let Some(line) = out.lines().nth(1) else { return unknown() };
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 7 {
        return unknown();
    }
    let free_gib = f[4].parse::<f64>().map(|k| k / 1048576.0).unwrap_or(0.0);
    format!("{} ({}) on {}, {free_gib:.0} GiB free at the start", dir.display(), f[1], f[0])
}

async fn postgres(url: &str) -> String {
    let Ok(mut c) = sqlx::PgConnection::connect(url).await else { return unknown() };
    let mut settings = Vec::new();
    let version: Option<String> = sqlx::query_scalar("SHOW server_version").fetch_one(&mut c).await.ok();
    for name in ["fsync", "synchronous_commit", "shared_buffers", "wal_sync_method"] {
        if let Ok(v) = sqlx::query_scalar::<_, String>(&format!("SHOW {name}")).fetch_one(&mut c).await {
            settings.push(format!("{name} = {v}"));
        }
    }
    c.close().await.ok();
    format!("{} on the same machine, TCP on loopback; {}", version.unwrap_or_else(unknown), settings.join(", "))
}

/// Free bytes of the file system holding `path` (`df -Pk`).
pub fn free_bytes(path: &Path) -> Option<u64> {
    let out = command("df", &["-Pk", &path.to_string_lossy()])?;
    let line = out.lines().nth(1)?;
    line.split_whitespace().nth(3)?.parse::<u64>().ok().map(|k| k * 1024)
}
