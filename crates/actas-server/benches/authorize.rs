#![allow(clippy::print_stdout)]
//! Throughput and latency of `POST /api/v1/authorize`.
//!
//! Starts the real server in-process on 127.0.0.1 (SQLite file in a
//! temporary folder; PostgreSQL too when `ACTAS_BENCH_PG_URL` is set), sets
//! up one live session through the service layer, then drives the endpoint
//! over HTTP with 1, 16 and 64 client tasks, each level for a fixed wall
//! time (`ACTAS_BENCH_SECS`, default 5). Calls alternate between an allowed
//! change (`invoice_email.update`) and a refused one (`billing.update`).
//! Every answer must be `200` with the expected verdict; anything else is
//! counted as an error and fails the run.
//!
//! Run with `cargo bench -p actas-server --bench authorize`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actas_api::{AuthorizeReason, AuthorizeRequest, AuthorizeResponse, Change, NewRequest, NewTicket, Refusal};
use actas_core::audit::Actor;
use actas_core::model::Role;
use actas_server::service::{self, Principal};
use actas_server::{Config, Server};
use anyhow::{bail, Context};
use rand::Rng;
use sqlx::Connection;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Client tasks per level.
const LEVELS: [usize; 3] = [1, 16, 64];
/// Wall time per level unless `ACTAS_BENCH_SECS` says otherwise.
const DEFAULT_SECS: f64 = 5.0;
/// Unmeasured calls before the first level (connections, caches).
const WARM_UP: Duration = Duration::from_secs(1);

/// A running server with one live session.
struct Fixture {
    url: String,
    app_key: String,
    token: String,
    keys: actas_server::KeyAccess,
    stop: oneshot::Sender<()>,
    served: JoinHandle<anyhow::Result<()>>,
}

/// The figures of one level.
struct Row {
    backend: &'static str,
    clients: usize,
    requests: usize,
    secs: f64,
    p50: Duration,
    p90: Duration,
    p99: Duration,
    max: Duration,
}

/// What one client task saw.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    errors: usize,
    first_error: Option<String>,
}

impl Tally {
    fn error(&mut self, what: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(what);
        }
    }
}

/// The two calls the clients alternate, serialized once.
struct Bodies {
    allowed: String,
    denied: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let secs = match std::env::var("ACTAS_BENCH_SECS") {
        Ok(v) => v
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s > 0.0)
            .with_context(|| format!("ACTAS_BENCH_SECS={v:?} is not a positive number"))?,
        Err(_) => DEFAULT_SECS,
    };
    let per_level = Duration::from_secs_f64(secs);

    let mut rows = Vec::new();

    let dir = tempfile::tempdir().context("cannot make a temporary folder")?;
    let db = dir.path().join("actas-bench.db");
    rows.extend(run_backend("sqlite", db.to_string_lossy().to_string(), per_level, 1).await?);

    if let Ok(pg_url) = std::env::var("ACTAS_BENCH_PG_URL") {
        // One node, then two nodes on one database; each on a fresh database.
        for (label, nodes) in [("postgres", 1), ("postgres, 2 nodes", 2)] {
            let name = format!("actas_bench_{:08x}", rand::thread_rng().gen::<u32>());
            let mut admin =
                sqlx::PgConnection::connect(&pg_url).await.context("cannot connect to ACTAS_BENCH_PG_URL")?;
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut admin)
                .await
                .with_context(|| format!("cannot create the database {name}"))?;
            let measured = run_backend(label, with_database(&pg_url, &name)?, per_level, nodes).await;
            let dropped = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin)
                .await
                .with_context(|| format!("cannot drop the database {name}"));
            admin.close().await.ok();
            rows.extend(measured?);
            dropped?;
        }
    }

    println!();
    println!(
        "POST /api/v1/authorize, {} s per level, half allowed (invoice_email.update), half refused (billing.update)",
        fmt_secs(secs)
    );
    println!();
    println!("| backend | clients | requests | req/s | p50 ms | p90 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} |",
            r.backend,
            r.clients,
            r.requests,
            r.requests as f64 / r.secs,
            ms(r.p50),
            ms(r.p90),
            ms(r.p99),
            ms(r.max),
        );
    }
    println!();
    Ok(())
}

/// Starts `nodes` servers on `database_url`, measures every level with the
/// clients spread over the nodes, stops them.
async fn run_backend(
    backend: &'static str,
    database_url: String,
    per_level: Duration,
    nodes: usize,
) -> anyhow::Result<Vec<Row>> {
    let fx = start(database_url.clone()).await?;
    let mut endpoints = vec![format!("{}/api/v1/authorize", fx.url)];
    let mut others = Vec::new();
    for _ in 1..nodes {
        let mut config = Config::new(database_url.clone());
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.reap_every = None;
        config.keys = fx.keys.clone();
        let server = Server::build(config).await?;
        endpoints.push(format!("http://{}/api/v1/authorize", server.addr()));
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(server.run_until(async {
            let _ = stopped.await;
        }));
        others.push((stop, served));
    }
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(usize::MAX)
        .tcp_nodelay(true)
        .build()
        .context("cannot build the HTTP client")?;
    let endpoint = Arc::new(endpoints);
    let auth = Arc::new(format!("Bearer {}", fx.app_key));
    let bodies = Arc::new(bodies(&fx.token)?);

    let warm = drive(&client, &endpoint, &auth, &bodies, LEVELS[1], WARM_UP).await?;
    check(backend, 0, &warm)?;

    let mut rows = Vec::new();
    for clients in LEVELS {
        let started = Instant::now();
        let tallies = drive(&client, &endpoint, &auth, &bodies, clients, per_level).await?;
        let secs = started.elapsed().as_secs_f64();
        let latencies = check(backend, clients, &tallies)?;
        let row = row(backend, clients, secs, latencies)?;
        eprintln!(
            "{backend}, {clients} clients: {} requests, {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
            row.requests,
            row.requests as f64 / row.secs,
            ms(row.p50),
            ms(row.p99)
        );
        rows.push(row);
    }

    drop(client);
    for (stop, served) in others {
        let _ = stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(10), served).await;
    }
    let _ = fx.stop.send(());
    match tokio::time::timeout(Duration::from_secs(10), fx.served).await {
        Ok(joined) => joined.context("the server task failed")??,
        Err(_) => bail!("the {backend} server did not stop within 10 s"),
    }
    Ok(rows)
}

/// Builds and starts the server, and sets up the session the calls use:
/// staff `maria` (agent) and `sam` (lead), a host app, a ticket, a request
/// approved by sam and started by maria.
async fn start(database_url: String) -> anyhow::Result<Fixture> {
    let keys = actas_server::KeyAccess::Sealed(std::sync::Arc::new(actas_server::Kek::generate()));
    let mut config = Config::new(database_url);
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.reap_every = None;
    config.keys = keys.clone();
    let server = Server::build(config).await?;
    let ctx = server.ctx().clone();
    let url = format!("http://{}", server.addr());
    let setup = Actor::system();

    let (maria, _) = service::add_staff(&ctx, setup.clone(), "maria", "Maria Lopez", vec![Role::Agent], None).await?;
    let (sam, _) = service::add_staff(&ctx, setup.clone(), "sam", "Sam Lee", vec![Role::Lead], None).await?;
    let (app, app_key) =
        service::add_app(&ctx, setup, service::NewApp::new("Acme Billing", true, vec!["http://localhost:3000".into()]))
            .await?;
    service::create_ticket(
        &ctx,
        &Principal::App(app.clone()),
        NewTicket {
            reference: "48192".into(),
            account_id: "acct_42".into(),
            account_name: Some("Acme Corp".into()),
            subject: "Invoice emails bounce since the domain move".into(),
            url: None,
        },
    )
    .await?;
    let request = service::create_request(
        &ctx,
        &maria,
        NewRequest {
            ticket: "48192".into(),
            account_id: Some("acct_42".into()),
            reason: "Customer asked us to change the invoice email after their domain move".into(),
            actions: vec!["settings.view".into(), "invoice_email.update".into()],
            minutes: Some(ctx.policy.session.max_minutes),
        },
    )
    .await?;
    service::approve(&ctx, &sam, &request.id, actas_api::Approve::default()).await?;
    let (_session, token) = service::start(&ctx, &maria, &request.id, Some(app.id.clone())).await?;

    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(server.run_until(async {
        let _ = stopped.await;
    }));
    Ok(Fixture { url, app_key: app_key.expose().to_string(), token: token.expose().to_string(), keys, stop, served })
}

fn bodies(token: &str) -> anyhow::Result<Bodies> {
    let allowed = AuthorizeRequest {
        token: token.into(),
        action: "invoice_email.update".into(),
        target: None,
        changes: Some(vec![Change {
            field: "invoice_email".into(),
            old: Some("old@acme.test".into()),
            new: Some("new@acme.test".into()),
        }]),
    };
    let denied = AuthorizeRequest { token: token.into(), action: "billing.update".into(), target: None, changes: None };
    Ok(Bodies { allowed: serde_json::to_string(&allowed)?, denied: serde_json::to_string(&denied)? })
}

/// Runs `clients` tasks calling the endpoint back to back for `length`.
async fn drive(
    client: &reqwest::Client,
    endpoint: &Arc<Vec<String>>,
    auth: &Arc<String>,
    bodies: &Arc<Bodies>,
    clients: usize,
    length: Duration,
) -> anyhow::Result<Vec<Tally>> {
    let deadline = Instant::now() + length;
    let tasks: Vec<JoinHandle<Tally>> = (0..clients)
        .map(|n| {
            let client = client.clone();
            let endpoint = endpoint.clone();
            let auth = auth.clone();
            let bodies = bodies.clone();
            tokio::spawn(async move {
                let mut tally = Tally::default();
                // Half the tasks start with a refused call so that both
                // kinds are in flight at every moment.
                let mut allowed = n % 2 == 0;
                while Instant::now() < deadline {
                    let body = if allowed { bodies.allowed.clone() } else { bodies.denied.clone() };
                    let sent = Instant::now();
                    match call(&client, &endpoint[n % endpoint.len()], &auth, body).await {
                        Ok(answer) => {
                            let took = sent.elapsed();
                            match verdict_error(allowed, &answer) {
                                None => tally.latencies.push(took),
                                Some(e) => tally.error(e),
                            }
                        }
                        Err(e) => tally.error(format!("{e:#}")),
                    }
                    allowed = !allowed;
                }
                tally
            })
        })
        .collect();
    let mut tallies = Vec::with_capacity(clients);
    for t in tasks {
        tallies.push(t.await.context("a client task failed")?);
    }
    Ok(tallies)
}

/// One call: must answer 200 with an `AuthorizeResponse`.
async fn call(client: &reqwest::Client, endpoint: &str, auth: &str, body: String) -> anyhow::Result<AuthorizeResponse> {
    let resp = client
        .post(endpoint)
        .header(reqwest::header::AUTHORIZATION, auth)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .context("request failed")?;
    let status = resp.status();
    if status != reqwest::StatusCode::OK {
        let text = resp.text().await.unwrap_or_default();
        bail!("status {status}: {text}");
    }
    resp.json::<AuthorizeResponse>().await.context("the answer is not an AuthorizeResponse")
}

/// Whether the answer is the one expected for this call.
fn verdict_error(allowed: bool, a: &AuthorizeResponse) -> Option<String> {
    let expected = if allowed { AuthorizeReason::Ok } else { AuthorizeReason::Refused(Refusal::NotInScope) };
    if a.allowed != allowed || a.reason != expected || a.event_id.is_none() {
        Some(format!(
            "expected allowed={allowed} reason={expected} with an event id, got allowed={} reason={} event_id={:?}",
            a.allowed, a.reason, a.event_id
        ))
    } else {
        None
    }
}

/// Fails loudly on any error; answers all latencies.
fn check(backend: &str, clients: usize, tallies: &[Tally]) -> anyhow::Result<Vec<Duration>> {
    let errors: usize = tallies.iter().map(|t| t.errors).sum();
    if errors > 0 {
        let first = tallies.iter().find_map(|t| t.first_error.clone()).unwrap_or_default();
        bail!("{backend}, {clients} clients: {errors} failed calls; first: {first}");
    }
    let mut all: Vec<Duration> = tallies.iter().flat_map(|t| t.latencies.iter().copied()).collect();
    if all.is_empty() {
        bail!("{backend}, {clients} clients: no call completed");
    }
    all.sort_unstable();
    Ok(all)
}

fn row(backend: &'static str, clients: usize, secs: f64, sorted: Vec<Duration>) -> anyhow::Result<Row> {
    let max = *sorted.last().context("no latencies")?;
    Ok(Row {
        backend,
        clients,
        requests: sorted.len(),
        secs,
        p50: percentile(&sorted, 50.0),
        p90: percentile(&sorted, 90.0),
        p99: percentile(&sorted, 99.0),
        max,
    })
}

/// Nearest-rank percentile of a sorted, non-empty slice.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn fmt_secs(s: f64) -> String {
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s}")
    }
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let after_scheme = url.find("://").map(|i| i + 3).context("ACTAS_BENCH_PG_URL is not a postgres:// URL")?;
    let (head, rest) = url.split_at(after_scheme);
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let query = tail.find('?').map(|i| &tail[i..]).unwrap_or("");
    Ok(format!("{head}{authority}/{name}{query}"))
}
