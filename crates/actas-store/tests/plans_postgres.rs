//! `plans.rs` on PostgreSQL: every query the store runs must have a plan
//! that walks an index for what it returns, never a sequential scan of a
//! table that grows with use, nor a sort of the trail.
//!
//! The statements are the ones the store really sends, recorded from
//! sqlx's statement log while the workload (`workload/mod.rs`) runs. Each is
//! then prepared and its generic plan (the one for any arguments) explained
//! with sequential scans and sorts priced out of reach: a plan that still
//! has one has no index path, whatever the tables hold. Walking a whole
//! index without a condition counts as a scan, except the partial indexes
//! of what is live now.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use actas_store::testing::TestStore;
use sqlx::{Connection, Executor, Row};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;
use workload::{BOUNDED, GROWING};

mod workload;

/// Statements sqlx reported running.
#[derive(Clone, Default)]
struct Statements(Arc<Mutex<BTreeSet<String>>>);

/// Reads a statement's text off sqlx's `sqlx::query` events: `db.statement`
/// when sqlx shortened the summary, else the summary itself.
#[derive(Default)]
struct Text {
    summary: String,
    statement: String,
}

impl Visit for Text {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "summary" => self.summary = value.to_string(),
            "db.statement" => self.statement = value.to_string(),
            _ => {}
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "summary" => self.summary = format!("{value:?}").trim_matches('"').to_string(),
            "db.statement" => self.statement = format!("{value:?}"),
            _ => {}
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for Statements {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        let mut text = Text::default();
        event.record(&mut text);
        let sql = if text.statement.trim().is_empty() { text.summary } else { text.statement };
        self.0.lock().unwrap().insert(sql.trim().to_string());
    }
}

/// The highest `$N` in `sql`: how many arguments its prepared form takes.
fn arguments(sql: &str) -> usize {
    sql.split('$')
        .skip(1)
        .filter_map(|rest| rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
        .max()
        .unwrap_or(0)
}

/// Whether a plan line reads a growing table (or a whole index of one)
/// without a condition.
fn scans_growing(line: &str, next: Option<&str>) -> bool {
    let line = line.trim_start_matches([' ', '-', '>']).trim();
    if let Some(table) = line.strip_prefix("Seq Scan on ") {
        let table = table.split_whitespace().next().unwrap_or_default();
        return GROWING.contains(&table);
    }
    let index = line
        .strip_prefix("Index Scan using ")
        .or_else(|| line.strip_prefix("Index Only Scan using "))
        .or_else(|| line.strip_prefix("Index Scan Backward using "))
        .or_else(|| line.strip_prefix("Index Only Scan Backward using "))
        .or_else(|| line.strip_prefix("Bitmap Index Scan on "));
    let Some(rest) = index else { return false };
    let index = rest.split_whitespace().next().unwrap_or_default();
    let table = rest.split(" on ").nth(1).and_then(|t| t.split_whitespace().next()).unwrap_or(index);
    let conditioned = next.is_some_and(|l| l.trim().starts_with("Index Cond:"));
    !conditioned
        && !BOUNDED.contains(&index)
        && (GROWING.contains(&table) || GROWING.iter().any(|t| index.starts_with(t)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_query_scans_the_trail_or_sorts_it_on_postgresql() {
    let seen = Statements::default();
    let subscriber = tracing_subscriber::registry().with(
        seen.clone()
            .with_filter(tracing_subscriber::filter::Targets::new().with_target("sqlx::query", tracing::Level::TRACE)),
    );
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let Some(db) = TestStore::postgres().await else { return };
    workload::run(&db.store).await;

    let statements: Vec<String> = seen.0.lock().unwrap().iter().cloned().collect();
    assert!(statements.len() > 40, "the statements were not captured: {statements:?}");
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    conn.execute("ANALYZE; SET enable_seqscan = off; SET enable_sort = off; SET plan_cache_mode = force_generic_plan")
        .await
        .unwrap();
    let mut bad = Vec::new();
    let mut explained = 0;
    // A search no index serves, to show the check sees one.
    let statements = statements.iter().map(String::as_str).chain(["SELECT seq FROM audit_events WHERE text = $1"]);
    for sql in statements {
        let verb = sql.split_whitespace().next().unwrap_or_default().to_ascii_uppercase();
        if !["SELECT", "INSERT", "UPDATE", "DELETE"].contains(&verb.as_str())
            || sql.contains("_sqlx_migrations")
            || sql.contains("pg_advisory")
        {
            continue;
        }
        // Several statements sent as one text: each on its own.
        for one in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            conn.execute(&*format!("PREPARE plan_of AS {one}")).await.unwrap_or_else(|e| panic!("{one}: {e}"));
            let n = arguments(one);
            let nulls = vec!["NULL"; n].join(", ");
            let explain = if n == 0 {
                "EXPLAIN EXECUTE plan_of".to_string()
            } else {
                format!("EXPLAIN EXECUTE plan_of({nulls})")
            };
            let rows = conn.fetch_all(&*explain).await.unwrap_or_else(|e| panic!("{one}: {e}"));
            conn.execute("DEALLOCATE plan_of").await.unwrap();
            let lines: Vec<String> = rows.iter().map(|r| r.get::<String, _>(0)).collect();
            explained += 1;
            let scans = lines.iter().enumerate().any(|(i, l)| scans_growing(l, lines.get(i + 1).map(String::as_str)));
            let sorts_trail = one.contains("audit_events")
                && lines.iter().any(|l| l.trim_start_matches([' ', '-', '>']).starts_with("Sort"));
            if scans || sorts_trail {
                bad.push(format!("{one}\n    {}", lines.join("\n    ")));
            }
        }
    }
    assert!(explained > 40, "only {explained} statements explained");
    assert!(bad.pop().is_some_and(|b| b.contains("WHERE text = $1")), "the search by text was not caught");
    assert!(bad.is_empty(), "plans that grow with the tables:\n{}", bad.join("\n\n"));
}
