//! A client that hangs up mid-request never leaves a database connection
//! inside a transaction: later calls all succeed, and on SQLite the WAL can
//! still be checkpointed down to nothing (an open read would pin it).

use std::time::{Duration, Instant};

use actas_server::testing::*;
use reqwest::StatusCode;
use serde_json::json;

/// Whether a connection of the app's database sits inside a transaction:
/// on SQLite a TRUNCATE checkpoint that cannot complete, or a WAL left
/// behind it; on PostgreSQL a session idle in a transaction.
async fn connection_left_in_transaction(app: &TestApp) -> Option<String> {
    use sqlx::Connection;
    match app.backend {
        Backend::Postgres(_) => {
            let mut c = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
            let n: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'",
            )
            .fetch_one(&mut c)
            .await
            .unwrap();
            (n > 0).then(|| format!("{n} sessions idle in a transaction"))
        }
        Backend::Sqlite => {
            let opts =
                sqlx::sqlite::SqliteConnectOptions::new().filename(&app.db_path).busy_timeout(Duration::from_secs(2));
            let mut c = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
            let (busy, _, _): (i64, i64, i64) =
                sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)").fetch_one(&mut c).await.unwrap();
            let wal = std::fs::metadata(app.db_path.with_extension("db-wal")).map(|m| m.len()).unwrap_or(0);
            (busy != 0 || wal != 0).then(|| format!("checkpoint busy: {busy}, WAL of {wal} bytes left"))
        }
    }
}

/// `GET` or `POST` with a client timeout; `Ok(status)` or `Err(())` when
/// the client gave up first.
async fn call(
    http: &reqwest::Client,
    url: &str,
    bearer: &str,
    body: Option<&serde_json::Value>,
    timeout: Duration,
) -> Result<StatusCode, ()> {
    let req = match body {
        Some(b) => http.post(url).json(b),
        None => http.get(url),
    };
    req.bearer_auth(bearer).timeout(timeout).send().await.map(|r| r.status()).map_err(|_| ())
}

async fn cut_off_mid_flight(app: TestApp) {
    let LiveSession { id: session, token, .. } = app.session(&app.maria).actions(&["settings.view"]).start().await;
    let authorize = format!("{}/api/v1/authorize", app.base);
    let asked = json!({"token": token, "action": "settings.view"});
    // A trail long enough that verifying or searching it takes a while.
    let mut warm = Vec::new();
    for _ in 0..16 {
        let (http, url, key, asked) = (app.http.clone(), authorize.clone(), app.app.clone(), asked.clone());
        warm.push(tokio::spawn(async move {
            for _ in 0..20 {
                let status = call(&http, &url, &key, Some(&asked), Duration::from_secs(30)).await;
                assert_eq!(status, Ok(StatusCode::OK));
            }
        }));
    }
    for t in warm {
        t.await.unwrap();
    }

    // Reads and writes whose clients hang up part of the way through:
    // each is timed whole first, then cut at a share of that time.
    let targets = [
        (format!("{}/api/v1/audit/verify", app.base), app.audrey.clone(), None),
        (format!("{}/api/v1/audit?limit=1000", app.base), app.audrey.clone(), None),
        (format!("{}/api/v1/sessions/{session}/timeline", app.base), app.maria.clone(), None),
        (authorize.clone(), app.app.clone(), Some(asked.clone())),
    ];
    let started = Instant::now();
    let (mut cut, mut refused) = (0, 0);
    let mut calls = Vec::new();
    let mut verify_takes = Duration::ZERO;
    for (url, bearer, body) in &targets {
        let mut whole = Duration::MAX;
        for _ in 0..3 {
            let fresh = reqwest::Client::new();
            let began = Instant::now();
            let status = call(&fresh, url, bearer, body.as_ref(), Duration::from_secs(30)).await;
            assert_eq!(status, Ok(StatusCode::OK), "{url}");
            whole = whole.min(began.elapsed());
        }
        if verify_takes.is_zero() {
            verify_takes = whole;
        }
        for n in 0..30_u32 {
            let share = whole.mul_f64(0.05 + 0.9 * f64::from(n) / 30.0).max(Duration::from_micros(200));
            calls.push((url.clone(), bearer.clone(), body.clone(), share));
        }
    }
    // Six at a time, each on its own connection that the timeout closes.
    for chunk in calls.chunks(6) {
        let mut tasks = Vec::new();
        for (url, bearer, body, share) in chunk.iter().cloned() {
            tasks.push(tokio::spawn(async move {
                let http = reqwest::Client::new();
                call(&http, &url, &bearer, body.as_ref(), share).await
            }));
        }
        for t in tasks {
            match t.await.unwrap() {
                Err(()) => cut += 1,
                Ok(StatusCode::OK) => {}
                Ok(_) => refused += 1,
            }
        }
    }
    // Last, as many verifications at once as a pool holds, all cut a third
    // of the way through: nothing runs after them to reuse what they leave.
    let mut last = Vec::new();
    for _ in 0..16 {
        let (url, bearer, _) = targets[0].clone();
        last.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            call(&http, &url, &bearer, None, verify_takes / 3).await
        }));
    }
    for t in last {
        match t.await.unwrap() {
            Err(()) => cut += 1,
            Ok(StatusCode::OK) => {}
            Ok(_) => refused += 1,
        }
    }
    eprintln!(
        "{:?}: {cut} of {} requests were cut off mid-flight ({refused} refused), in {:?}",
        app.backend,
        calls.len() + 16,
        started.elapsed()
    );
    assert!(cut >= 20, "requests were cut off mid-flight ({cut})");
    // Right away (PostgreSQL would end an idle transaction itself after 5 s).
    no_connection_left_in_transaction(&app).await;

    // Every later call succeeds: sixteen at a time, as many as the
    // PostgreSQL pool holds and twice the SQLite readers, so every pooled
    // connection serves some.
    let mut failed = Vec::new();
    for round in 0..4 {
        let mut later = Vec::new();
        for n in 0..16 {
            let (http, (url, bearer, body)) = (app.http.clone(), targets[(round + n) % targets.len()].clone());
            later.push(tokio::spawn(async move {
                (url.clone(), call(&http, &url, &bearer, body.as_ref(), Duration::from_secs(30)).await)
            }));
        }
        for t in later {
            let (url, status) = t.await.unwrap();
            if status != Ok(StatusCode::OK) {
                failed.push(format!("{url}: {status:?}"));
            }
        }
    }
    assert!(failed.is_empty(), "{} of 64 later calls failed: {failed:?}", failed.len());
    let v = app.verify().await;
    assert_eq!(v["ok"], true, "{v}");

    no_connection_left_in_transaction(&app).await;
}

/// Within two seconds, no connection is inside a transaction.
async fn no_connection_left_in_transaction(app: &TestApp) {
    wait_for(Duration::from_secs(2), "no connection left inside a transaction", || async {
        match connection_left_in_transaction(app).await {
            Some(why) => Err(why),
            None => Ok(()),
        }
    })
    .await;
}

mod requests_cut_off_mid_flight_leave_no_connection_in_a_transaction {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        cut_off_mid_flight(TestApp::spawn().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres() {
        let Some(backend) = Backend::postgres() else { return };
        cut_off_mid_flight(TestApp::on(backend, Policy::shipped()).await).await;
    }
}
