//! Every query the store runs, against a seeded trail, must cost what it
//! returns, not what the trail holds (`plans_postgres.rs` checks the same
//! on PostgreSQL): SQLite's plan for each one may not
//! scan `audit_events` (nor another table that grows with use) and may not
//! sort the trail in a temporary B-tree.
//!
//! The statements are the ones the store really sends: this test runs the
//! workload (`workload/mod.rs`: every method of the store's transaction,
//! with every search the server makes) and records each statement its connections run (SQLite's profile
//! hook, `observe_sqlite_statements`); then it asks SQLite for the plan of
//! each.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use actas_store::testing::TestStore;
use sqlx::Connection;
use workload::{BOUNDED, GROWING};

mod workload;

/// Statements the store ran, as one of SQLite's hooks reports them.
#[derive(Clone, Default)]
struct Statements(Arc<Mutex<BTreeSet<String>>>);

impl Statements {
    /// A set that `hook` fills: it is handed the function that records one.
    fn recorded_by(hook: impl FnOnce(Box<dyn Fn(&str) + Send + Sync>)) -> Statements {
        let seen = Statements::default();
        let log = seen.clone();
        hook(Box::new(move |sql: &str| {
            log.0.lock().unwrap().insert(sql.trim().to_string());
        }));
        seen
    }

    /// What was recorded, in order.
    fn list(&self) -> Vec<String> {
        self.0.lock().unwrap().iter().cloned().collect()
    }
}

/// Whether a plan line reads a growing table whole.
fn scans_growing(line: &str) -> bool {
    GROWING.iter().any(|t| {
        let Some(rest) = line.strip_prefix(&format!("SCAN {t}")) else { return false };
        let index =
            rest.trim().strip_prefix("USING INDEX ").or_else(|| rest.trim().strip_prefix("USING COVERING INDEX "));
        rest.is_empty()
            || rest.starts_with(' ')
                && !index.is_some_and(|i| BOUNDED.contains(&i.split_whitespace().next().unwrap_or_default()))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_query_scans_the_trail_or_sorts_it() {
    let seen = Statements::recorded_by(|record| actas_store::testing::observe_sqlite_statements(record));

    let db = TestStore::sqlite().await;
    workload::run(&db.store).await;

    // Each statement's plan, on the seeded file.
    let statements = seen.list();
    assert!(statements.len() > 40, "the statements were not captured: {statements:?}");
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.url)).await.unwrap();
    let mut bad = Vec::new();
    for sql in &statements {
        let verb = sql.split_whitespace().next().unwrap_or_default().to_ascii_uppercase();
        if !["SELECT", "INSERT", "UPDATE", "DELETE"].contains(&verb.as_str()) || sql.contains("_sqlx_migrations") {
            continue;
        }
        let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}"))
            .fetch_all(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let lines: Vec<&str> = plan.iter().map(|p| p.3.as_str()).collect();
        let scans = lines.iter().any(|l| scans_growing(l));
        let sorts_trail = sql.contains("audit_events") && lines.iter().any(|l| l.contains("TEMP B-TREE"));
        if scans || sorts_trail {
            bad.push(format!("{sql}\n    {}", lines.join("\n    ")));
        }
    }
    assert!(bad.is_empty(), "plans that grow with the tables:\n{}", bad.join("\n\n"));
}

/// A cached statement whose plan depends on a bound value (a parameter in
/// the place of a partial index's condition) is compiled again on every run:
/// the hot path then pays a compile per call. None of the store's may be.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_statement_is_compiled_again_on_each_run() {
    let again = Statements::recorded_by(|record| actas_store::testing::observe_sqlite_recompiles(record));

    let db = TestStore::sqlite().await;
    workload::run(&db.store).await;

    let again = again.list();
    assert!(again.is_empty(), "statements SQLite compiled again to run:\n{}", again.join("\n\n"));
}
