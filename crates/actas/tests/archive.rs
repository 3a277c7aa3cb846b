//! `actas audit archive`: the events before a date move into sealed,
//! signed segment files and out of the database, and the proof holds
//! across the cut: `audit verify` checks the database's part from the
//! last sealed head, `audit verify --archive DIR` checks everything, and
//! a change to either part, or to where the cut is, is found.
//!
//! The large trail's size is `ACTAS_ARCHIVE_TEST_EVENTS` (one million by
//! default).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use actas_core::audit::data::StaffEnabled;
use actas_core::audit::{Actor, EventData, NewEvent};
use actas_core::policy::Policy;
use actas_core::SystemClock;
use actas_server::{Kek, KeyAccess};
use actas_store::write_fn;
use chrono::{Duration, TimeZone, Utc};
use common::*;

/// The first seeded event's time; each next one is `STEP` later.
fn start() -> actas_core::Timestamp {
    Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).single().expect("a valid date")
}

const STEP_MS: i64 = 250;

/// Appends `n` events to the database of `env` through the store's own
/// append (a correctly chained trail), `STEP_MS` apart from [`start`],
/// after making its signing keys; answers the seq before the first.
async fn seed(env: &Env, n: i64) -> Seeded {
    seed_from(env, 0, n).await
}

/// [`seed`], the first event being seeded event `first` (its time follows
/// those of an earlier [`seed`]).
async fn seed_from(env: &Env, first: i64, n: i64) -> Seeded {
    let kek = Arc::new(Kek::from_file(env.kek()).expect("the test's key-encryption key"));
    let database = env.database().to_string_lossy().into_owned();
    let ctx = actas_server::open_ctx(
        &database,
        Policy::shipped(),
        Arc::new(SystemClock),
        "http://127.0.0.1:7878".into(),
        KeyAccess::Sealed(kek),
    )
    .await
    .expect("the database opens");
    ctx.keys.make_missing(&ctx.store, start()).await.expect("signing keys");
    let head = ctx
        .store
        .read(actas_store::read_fn(|tx| Box::pin(async move { tx.get_event_head().await })))
        .await
        .expect("the head");
    let base = head.map_or(0, |(seq, _)| seq) - first;
    let per_write = 5000;
    let mut made = first;
    while made < first + n {
        let batch: Vec<NewEvent> = (made..(made + per_write).min(first + n))
            .map(|i| {
                let at = start() + Duration::milliseconds(i * STEP_MS);
                let login = format!("agent{}", i % 97);
                let mut e = NewEvent::new(
                    at,
                    Actor::staff("st_admin", "An Admin"),
                    format!("{login} was enabled again."),
                    EventData::StaffEnabled(StaffEnabled { login }),
                );
                e.account_id = Some(format!("acct_{}", i % 1000));
                e
            })
            .collect();
        made += batch.len() as i64;
        ctx.store
            .write(write_fn(move |tx| {
                Box::pin(async move {
                    for e in batch {
                        tx.append_event(e).await?;
                    }
                    Ok(())
                })
            }))
            .await
            .expect("seeding writes");
    }
    ctx.store.sign_head().await.expect("the head is signed");
    Seeded { base }
}

/// A seeded trail: seeded event `i` (from 0) has seq `base + 1 + i`.
struct Seeded {
    base: i64,
}

impl Seeded {
    /// The time of event `seq` (a seeded one), as `audit archive --before`
    /// takes it: archiving before it archives every event before `seq`.
    fn time_of(&self, seq: i64) -> String {
        (start() + Duration::milliseconds((seq - self.base - 1) * STEP_MS))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }
}

async fn live_events(env: &Env) -> (i64, i64, i64) {
    let url = match &env.url {
        Some(u) => u.clone(),
        None => format!("sqlite://{}", env.db.display()),
    };
    let sql = "SELECT COUNT(*), COALESCE(MIN(seq), 0), COALESCE(MAX(seq), 0) FROM audit_events";
    if url.starts_with("postgres") {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&url).await.expect("PostgreSQL");
        sqlx::query_as(sql).fetch_one(&mut c).await.expect("count")
    } else {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&url).await.expect("SQLite");
        sqlx::query_as(sql).fetch_one(&mut c).await.expect("count")
    }
}

fn archive(env: &Env, before: &str, dir: &Path, per_segment: &str) -> String {
    let dir = dir.to_string_lossy();
    env.ok(&["audit", "archive", "--before", before, "--to", &dir, "--segment-events", per_segment])
}

fn verify(env: &Env, archive: Option<&Path>) -> std::process::Output {
    let dir = archive.map(|d| d.to_string_lossy().into_owned());
    let mut args = vec!["audit", "verify"];
    if let Some(d) = &dir {
        args.extend(["--archive", d.as_str()]);
    }
    env.run(&args)
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("the archive folder")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    files
}

async fn a_large_trail_is_archived_and_both_parts_verify(env: Env, n: i64) {
    let seeded = seed(&env, n).await;
    let dir = env.path("archive");
    // About the first 90 % go: every event before seq `cut + 1`.
    let cut = seeded.base + n / 10 * 9;
    let said = archive(&env, &seeded.time_of(cut + 1), &dir, "250000");
    assert!(said.contains(&format!("Events 1 to {cut} are archived; {cut} events left the database.")), "{said}");
    let (count, first, last) = live_events(&env).await;
    assert_eq!((count, first), (seeded.base + n - cut, cut + 1), "only the events from the cut on stay");
    assert_eq!(last, seeded.base + n);
    let files = segment_files(&dir);
    assert_eq!(files.len() as i64, (cut + 249_999) / 250_000, "{files:?}");
    for f in &files {
        let manifest = f.with_extension("manifest.json");
        let m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&manifest).expect("a manifest beside each segment"))
                .expect("JSON");
        assert_eq!(m["format"], "actas-audit-segment/1");
        assert!(m["signature"].as_str().is_some_and(|s| s.len() > 40), "{m}");
    }

    // The database's part verifies on its own, from the signed sealed head.
    let out = verify(&env, None);
    assert_success(&out, &["audit", "verify"]);
    let said = stdout(&out);
    assert!(said.contains(&format!("Events 1 to {cut} are archived in")), "{said}");
    // And everything verifies with the archive.
    let out = verify(&env, Some(&dir));
    assert_success(&out, &["audit", "verify", "--archive"]);
    let said = stdout(&out);
    assert!(said.contains(&format!("Events 1 to {cut} were checked in the archive")), "{said}");
    let total: i64 = said
        .split("intact: ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{said}"));
    assert_eq!(total, seeded.base + n, "every event is checked: {said}");

    // Running it again with the same date archives nothing more.
    let said = archive(&env, &seeded.time_of(cut + 1), &dir, "250000");
    assert!(said.contains(&format!("Nothing more to archive before {}", seeded.time_of(cut + 1))), "{said}");
}

fn large() -> i64 {
    std::env::var("ACTAS_ARCHIVE_TEST_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000)
}

#[tokio::test]
async fn a_million_events_are_archived_and_both_parts_verify_sqlite() {
    a_large_trail_is_archived_and_both_parts_verify(Env::new(), large()).await;
}

#[tokio::test]
async fn archived_events_leave_postgresql_and_both_parts_verify() {
    let Some(base) = pg_base_url() else { return };
    let db = PgDatabase::create(&base).await;
    a_large_trail_is_archived_and_both_parts_verify(Env::on(&db.url), 20_000).await;
}

/// A small trail of which events 1 to 600 are archived in segments of
/// 100, and the archive's folder.
async fn small() -> (Env, PathBuf) {
    let env = Env::new();
    let seeded = seed(&env, 1000).await;
    let dir = env.path("archive");
    archive(&env, &seeded.time_of(601), &dir, "100");
    assert_eq!(segment_files(&dir).len(), 6);
    assert_success(&verify(&env, Some(&dir)), &["audit", "verify", "--archive"]);
    (env, dir)
}

fn fails_at(out: &std::process::Output, seq: i64, words: &str) {
    assert!(!out.status.success(), "{}", both(out));
    let said = both(out);
    assert!(said.contains(&format!("First bad event: {seq}.")), "expected event {seq}: {said}");
    assert!(said.contains(words), "expected {words:?}: {said}");
}

#[tokio::test]
async fn a_changed_segment_file_is_found_and_the_database_part_still_verifies() {
    let (env, dir) = small().await;
    let file = &segment_files(&dir)[2];
    let text = std::fs::read_to_string(file).unwrap();
    std::fs::write(file, text.replacen("was enabled again", "was enabled AGAIN", 1)).unwrap();
    fails_at(&verify(&env, Some(&dir)), 201, "was changed: its SHA-256");
    assert_success(&verify(&env, None), &["audit", "verify"]);

    // Re-writing the manifest's digest to match does not help: its signature breaks.
    let manifest = file.with_extension("manifest.json");
    let mut m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    let digest = ring::digest::digest(&ring::digest::SHA256, &std::fs::read(file).unwrap());
    m["sha256"] = hex_digest(digest.as_ref()).into();
    std::fs::write(&manifest, serde_json::to_string_pretty(&m).unwrap()).unwrap();
    fails_at(&verify(&env, Some(&dir)), 201, "differs from the one the database recorded");
}

fn hex_digest(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn a_missing_segment_is_found() {
    let (env, dir) = small().await;
    let file = &segment_files(&dir)[4];
    std::fs::remove_file(file).unwrap();
    fails_at(&verify(&env, Some(&dir)), 401, "cannot be read");
}

#[tokio::test]
async fn events_not_sealed_cannot_be_removed_and_a_forged_segment_is_found() {
    use sqlx::Connection;
    let (env, _dir) = small().await;
    let url = format!("sqlite://{}", env.db.display());
    let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
    // The database refuses to remove an event no segment seals.
    let before = live_events(&env).await;
    let err = sqlx::query("DELETE FROM audit_events WHERE seq = 700").execute(&mut c).await.unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    assert_eq!(live_events(&env).await, before);
    // Segments cannot be changed or removed either.
    for sql in ["UPDATE audit_segments SET last_seq = 900", "DELETE FROM audit_segments"] {
        let err = sqlx::query(sql).execute(&mut c).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    // Someone who can insert a segment of their own to hide events
    // 601..=700 is found: its manifest is not signed by a checkpoint key.
    let forged = serde_json::json!({
        "format": "actas-audit-segment/1", "file": "x.jsonl", "first_seq": 601, "last_seq": 700,
        "prev_hash": "0", "last_hash": "0", "first_at": "", "last_at": "", "sha256": "", "sealed_at": "",
        "kid": "k", "signature": "AAAA"
    });
    sqlx::query("INSERT INTO audit_segments (last_seq, first_seq, manifest, sealed_at) VALUES (700, 601, ?1, 0)")
        .bind(forged.to_string())
        .execute(&mut c)
        .await
        .unwrap();
    sqlx::query("DELETE FROM audit_events WHERE seq <= 700").execute(&mut c).await.unwrap();
    c.close().await.unwrap();
    fails_at(&verify(&env, None), 601, "does not follow the one before it");
}

#[tokio::test]
async fn an_archive_that_stopped_before_removing_is_finished_by_the_next_run() {
    use sqlx::Connection;
    let env = Env::new();
    let seeded = seed(&env, 300).await;
    let dir = env.path("archive");
    archive(&env, &seeded.time_of(101), &dir, "1000");
    // As if the removal had stopped: the segment 101..=200 is recorded and
    // its events are still in the database.
    let copy = env.path("copy.sqlite");
    std::fs::copy(&env.db, &copy).unwrap();
    for side in ["-wal", "-shm"] {
        let from = PathBuf::from(format!("{}{side}", env.db.display()));
        if from.exists() {
            std::fs::copy(&from, format!("{}{side}", copy.display())).unwrap();
        }
    }
    archive(&env, &seeded.time_of(201), &dir, "1000");
    let manifest = std::fs::read_to_string(dir.join("actas-audit-000000000101-000000000200.manifest.json")).unwrap();
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", copy.display())).await.unwrap();
    sqlx::query("INSERT INTO audit_segments (last_seq, first_seq, manifest, sealed_at) VALUES (200, 101, ?1, 0)")
        .bind(manifest.trim())
        .execute(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();
    assert_eq!(live_events_at(&copy).await.1, 101);
    // The half-done database verifies, from the sealed head, and with the archive.
    assert_success(&env.run_on(&copy, &["audit", "verify"]), &["audit", "verify"]);
    let d = dir.to_string_lossy().into_owned();
    assert_success(&env.run_on(&copy, &["audit", "verify", "--archive", &d]), &["audit", "verify", "--archive"]);
    // The next run removes what is sealed and archives nothing twice.
    let out = env.run_on(&copy, &["audit", "archive", "--before", &seeded.time_of(201), "--to", &d]);
    assert_success(&out, &["audit", "archive"]);
    assert!(stdout(&out).contains("100 of them left the database now"), "{}", both(&out));
    assert_eq!(live_events_at(&copy).await.1, 201);
}

async fn live_events_at(db: &Path) -> (i64, i64) {
    use sqlx::Connection;
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    sqlx::query_as("SELECT COUNT(*), COALESCE(MIN(seq), 0) FROM audit_events").fetch_one(&mut c).await.unwrap()
}

#[tokio::test]
async fn events_a_webhook_has_not_sent_stay_until_it_has() {
    let env = Env::new();
    seed(&env, 200).await;
    env.ok(&["webhook", "add", "https://siem.acme.test/actas", "--events", "*"]);
    seed_from(&env, 200, 100).await;
    let dir = env.path("archive");
    // Every event is before the date; the webhook has taken none of those
    // written since it was added (nothing sends here), so they stay.
    let said = archive(&env, "2100-01-01", &dir, "1000");
    let kept: i64 = said
        .split("Events after ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no event was held back: {said}"));
    assert!(said.contains(&format!("Events after {kept} were kept: webhook whk_")), "{said}");
    assert!(said.contains(&format!("Events 1 to {kept} are archived")), "{said}");
    assert!((200..=205).contains(&kept), "the webhook began after the first 200 events: {said}");
    assert_eq!(live_events(&env).await.1, kept + 1);
    assert_success(&verify(&env, Some(&dir)), &["audit", "verify", "--archive"]);
}

#[tokio::test]
async fn two_archives_at_once_into_one_folder_leave_one_consistent_archive() {
    let env = Env::new();
    let seeded = seed(&env, 3000).await;
    let dir = env.path("archive");
    let d = dir.to_string_lossy().into_owned();
    let before = seeded.time_of(seeded.base + 2801);
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let mut c = env.cmd(&["audit", "archive", "--before", &before, "--to", &d, "--segment-events", "100"]);
            c.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
            c.spawn().expect("actas starts")
        })
        .collect();
    let outs: Vec<_> = runs.into_iter().map(|r| r.wait_with_output().expect("actas ends")).collect();
    assert!(outs.iter().any(|o| o.status.success()), "{}", outs.iter().map(both).collect::<Vec<_>>().join("\n"));
    for o in outs.iter().filter(|o| !o.status.success()) {
        assert!(both(o).contains("another archive sealed events through"), "{}", both(o));
    }
    // Whatever the order, what was recorded is in the folder as recorded;
    // a run again finishes the job.
    assert_success(&verify(&env, Some(&dir)), &["audit", "verify", "--archive"]);
    archive(&env, &before, &dir, "100");
    assert_eq!(live_events(&env).await.1, seeded.base + 2801);
    assert_success(&verify(&env, Some(&dir)), &["audit", "verify", "--archive"]);
}

#[tokio::test]
async fn a_run_that_stopped_before_naming_its_files_is_mended_by_the_next() {
    let env = Env::new();
    let seeded = seed(&env, 300).await;
    let dir = env.path("archive");
    let before = seeded.time_of(seeded.base + 201);
    archive(&env, &before, &dir, "100");
    // As if it had stopped right after recording its last segment: the
    // files still have the names they were written under.
    let last = segment_files(&dir).pop().expect("a segment");
    let manifest = last.with_extension("manifest.json");
    let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    let sig: String = m["signature"].as_str().unwrap().chars().filter(char::is_ascii_alphanumeric).take(16).collect();
    let staged = |p: &Path| PathBuf::from(format!("{}.staged-{sig}", p.display()));
    std::fs::rename(&last, staged(&last)).unwrap();
    std::fs::rename(&manifest, staged(&manifest)).unwrap();
    fails_at(&verify(&env, Some(&dir)), m["first_seq"].as_i64().unwrap(), "cannot be read");
    let said = archive(&env, &before, &dir, "100");
    assert!(said.contains("Nothing more to archive"), "{said}");
    assert!(last.exists() && manifest.exists());
    assert_success(&verify(&env, Some(&dir)), &["audit", "verify", "--archive"]);
}
