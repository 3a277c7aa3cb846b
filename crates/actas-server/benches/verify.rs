#![allow(clippy::print_stdout)]
//! Throughput and memory of verifying the audit trail.
//!
//! Seeds `ACTAS_BENCH_EVENTS` events (default 100,000) into a SQLite file
//! through the store, in write batches of `ACTAS_BENCH_BATCH` (default
//! 5,000; each batch signs a checkpoint, as a quiet server's do, so a small
//! batch makes a trail with many checkpoints), then times `service::verify`
//! and prints events per second and the process's peak resident memory
//! (`VmHWM`). The events are a mix of every kind an ordinary day writes,
//! mostly authorize answers.
//!
//! With `ACTAS_BENCH_DB` set to a file that exists, nothing is seeded: the
//! file is verified as it is, so the peak memory is the verification's
//! alone. A file that does not exist yet is seeded there and kept.
//!
//! Run with `cargo bench -p actas-server --bench verify`.

use std::sync::Arc;
use std::time::Instant;

use actas_core::audit::data::*;
use actas_core::audit::{Actor, EventData, NewEvent};
use actas_core::policy::Policy;
use actas_core::SystemClock;
use actas_server::{service, KeyAccess};
use actas_store::write_fn;
use anyhow::Context;
use chrono::{Duration, TimeZone, Utc};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n = number("ACTAS_BENCH_EVENTS", 100_000)?;
    let batch = number("ACTAS_BENCH_BATCH", 5_000)?.max(1);
    let dir = tempfile::tempdir().context("cannot make a temporary folder")?;
    let db = match std::env::var("ACTAS_BENCH_DB") {
        Ok(path) => std::path::PathBuf::from(path),
        Err(_) => dir.path().join("verify-bench.db"),
    };
    let seeded = db.exists();
    let url = format!("sqlite://{}", db.display());
    let access = if seeded { KeyAccess::PublicOnly } else { KeyAccess::Plaintext };
    let ctx =
        actas_server::open_ctx(&url, Policy::shipped(), Arc::new(SystemClock), "http://127.0.0.1:7878".into(), access)
            .await?;
    if !seeded {
        ctx.keys.make_missing(&ctx.store, ctx.clock.now()).await?;
        let started = Instant::now();
        let mut done = 0;
        while done < n {
            let to = (done + batch).min(n);
            let from = done;
            ctx.store
                .write(write_fn(move |tx| {
                    Box::pin(async move {
                        for i in from..to {
                            tx.append_event(event(i)).await?;
                        }
                        Ok(())
                    })
                }))
                .await?;
            done = to;
        }
        let secs = started.elapsed().as_secs_f64();
        eprintln!("seeded {n} events in {secs:.1} s ({:.0} events/s) into {}", n as f64 / secs, db.display());
    }
    let before = peak_rss_kib();
    let started = Instant::now();
    let v = service::verify(&ctx).await?;
    let secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(v.ok, "the seeded trail does not verify: {:?}", v.problem);
    println!(
        "verified {} events and {} checkpoints in {secs:.2} s: {:.0} events/s; peak RSS {} MiB (before verifying {} MiB)",
        v.events,
        v.checkpoints,
        v.events as f64 / secs,
        peak_rss_kib() / 1024,
        before / 1024
    );
    Ok(())
}

/// A count from the environment (`_` allowed between digits), or `default`.
fn number(name: &str, default: u64) -> anyhow::Result<u64> {
    match std::env::var(name) {
        Ok(v) => v.trim().replace('_', "").parse().with_context(|| format!("{name}={v:?}")),
        Err(_) => Ok(default),
    }
}

/// `VmHWM` of this process, in KiB (0 where `/proc` does not say).
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The `i`th event of the seeded trail: mostly authorize answers, with
/// requests, sessions and the occasional note around them.
fn event(i: u64) -> NewEvent {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 25, 14, 0, 0).single().unwrap_or_default();
    let at = t0 + Duration::milliseconds(i64::try_from(i).unwrap_or(0) * 250);
    let session = format!("ses_{:08}", i / 50);
    let request = format!("req_{:08}", i / 50);
    let account = format!("acct_{}", i % 997);
    let ticket = format!("{}", 48_000 + i / 50);
    let maria = Actor::staff("maria", "Maria López");
    let app = Actor::app("app_1", "Acme Billing");
    let target =
        Some(Target { account_id: Some(account.clone()), kind: Some("invoice".into()), id: Some(format!("inv_{i}")) });
    let list = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let (actor, text, data) = match i % 50 {
        0 => (
            maria.clone(),
            format!("Maria López asked for access to account {account} under ticket {ticket}."),
            EventData::RequestCreated(RequestCreated {
                reason: "Customer cannot see the tax settings on the invoice page".into(),
                actions: list(&["settings.view", "invoice_email.update"]),
                minutes: 15,
                needs_approval: false,
                playbook: None,
                beyond_playbook: Vec::new(),
                breakglass: false,
            }),
        ),
        1 => (
            Actor::policy(),
            "The policy approved Maria López's request.".into(),
            EventData::RequestApproved(Approval {
                asked: Grant { actions: list(&["settings.view", "invoice_email.update"]), minutes: 15 },
                granted: Grant { actions: list(&["settings.view", "invoice_email.update"]), minutes: 15 },
                removed: vec![],
                added: vec![],
                note: None,
                by_policy: true,
            }),
        ),
        2 => (
            maria.clone(),
            format!("Maria López started a session on account {account}."),
            EventData::SessionStarted(SessionStarted {
                scope: list(&["settings.view", "invoice_email.update"]),
                ends_at: at + Duration::minutes(15),
                approver: "policy".into(),
                audience: "app_1".into(),
            }),
        ),
        49 => (
            maria.clone(),
            "Maria López ended the session.".into(),
            EventData::SessionEnded(SessionEnd { end_reason: "ended".into(), note: None, started_at: at }),
        ),
        k if k % 7 == 0 => (
            app.clone(),
            format!("Maria López changed invoice email from a{i}@acme.test to b{i}@acme.test."),
            EventData::ActionPerformed(ActionPerformed {
                action: "invoice_email.update".into(),
                label: "Update invoice email".into(),
                allowed: true,
                reason: "ok".into(),
                target,
                changes: vec![StoredChange {
                    field: "invoice_email".into(),
                    old: Some(format!("a{i}@acme.test")),
                    new: Some(format!("b{i}@acme.test")),
                }],
                summary: format!("changed invoice email from a{i}@acme.test to b{i}@acme.test"),
                app: "app_1".into(),
            }),
        ),
        k if k % 11 == 0 => (
            app.clone(),
            "Acme Billing was told no: billing.update is not in the session's scope.".into(),
            EventData::ActionDenied(ActionDenied {
                action: "billing.update".into(),
                label: Some("Update billing details".into()),
                allowed: false,
                reason: "not_in_scope".into(),
                target,
                app: Some("app_1".into()),
            }),
        ),
        _ => (
            app.clone(),
            format!("Maria López viewed invoice inv_{i} of account {account}."),
            EventData::RecordViewed(RecordViewed {
                action: "settings.view".into(),
                label: "View account settings".into(),
                allowed: true,
                reason: "ok".into(),
                target,
                sensitive: false,
                app: "app_1".into(),
            }),
        ),
    };
    let e = NewEvent::new(at, actor, text, data).account(&account).ticket(&ticket).agent("maria");
    if i % 50 == 0 {
        e.request(&request)
    } else {
        e.request(&request).session(&session)
    }
}
