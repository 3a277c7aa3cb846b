//! For tests of every crate (the `testing` feature): the PostgreSQL server
//! tests run against and throw-away databases on it, a store on either
//! backend with rows to put in it, and waiting for a condition instead of
//! sleeping. The server's test kit (`actas_server::testing`) builds on it.

use std::fmt::Display;
use std::future::Future;
use std::io::Write;
use std::sync::Once;
use std::time::Duration;

use actas_core::model::{
    Approver, NewRequest, Request, RequestKind, RequestStatus, Role, Session, SessionState, Staff, Ticket,
};
use actas_core::Timestamp;
use sqlx::Connection;

use crate::{Options, Store};

/// The variable naming the PostgreSQL server for tests: a URL whose last
/// path segment names a database the tests may connect to.
pub const PG_URL_VAR: &str = "ACTAS_TEST_PG_URL";

/// The PostgreSQL server for tests, from [`PG_URL_VAR`]. `None` skips the
/// PostgreSQL variant of a test, and says so on standard error (once per
/// test binary), except on CI (`CI=true`), where a missing URL fails.
pub fn pg_base_url() -> Option<String> {
    static SAID: Once = Once::new();
    match std::env::var(PG_URL_VAR) {
        Ok(u) if !u.trim().is_empty() => Some(u.trim().to_string()),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => panic!("{PG_URL_VAR} must be set on CI"),
        _ => {
            // Written to the terminal itself: the test harness hides what
            // `eprintln!` prints from tests that pass.
            SAID.call_once(|| {
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIPPED: the PostgreSQL variants of these tests, because {PG_URL_VAR} is not set \
                     (e.g. {PG_URL_VAR}=postgres://postgres@127.0.0.1:5432/test)"
                );
            });
            None
        }
    }
}

/// A fresh database on the test server; dropped, with whatever is still
/// connected to it, when this value is dropped.
#[derive(Debug)]
pub struct PgDatabase {
    /// The new database's URL.
    pub url: String,
    /// The server's URL the test was given (for statements about the database).
    pub admin_url: String,
    /// The database's name.
    pub name: String,
}

impl PgDatabase {
    /// `CREATE DATABASE actas_t_<random>` on the server of `base`. Panics
    /// when the server cannot be reached: a test setup failure.
    pub async fn create(base: &str) -> PgDatabase {
        let name = actas_core::id::new_id("actas_t");
        let Some((server, _)) = base.rsplit_once('/') else { panic!("{PG_URL_VAR} must end in /DATABASE: {base}") };
        let mut conn = sqlx::PgConnection::connect(base).await.unwrap_or_else(|e| panic!("connecting to {base}: {e}"));
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("creating {name}: {e}"));
        let _ = conn.close().await;
        PgDatabase { url: format!("{server}/{name}"), admin_url: base.to_string(), name }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(e) = exec_blocking(&self.admin_url, &sql) {
            eprintln!("could not drop the test database {}: {e}", self.name);
        }
    }
}

/// Runs `sql` on `url` from a thread of its own with its own runtime, so
/// that it can run from `Drop` (also inside an async test). Errors are
/// answered, not raised.
pub fn exec_blocking(url: &str, sql: &str) -> Result<(), String> {
    let (url, sql) = (url.to_string(), sql.to_string());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        rt.block_on(async move {
            let mut conn = sqlx::PgConnection::connect(&url).await.map_err(|e| e.to_string())?;
            sqlx::query(&sql).execute(&mut conn).await.map_err(|e| e.to_string())?;
            let _ = conn.close().await;
            Ok(())
        })
    })
    .join()
    .unwrap_or_else(|_| Err("the thread running the statement panicked".into()))
}

/// A migrated store on a temporary SQLite file or a fresh PostgreSQL
/// database, gone when dropped.
#[derive(Debug)]
pub struct TestStore {
    /// The store.
    pub store: Store,
    /// Its database URL (a file path on SQLite).
    pub url: String,
    _dir: tempfile::TempDir,
    /// Dropped after the store: the PostgreSQL database, if on one.
    _pg: Option<PgDatabase>,
}

impl TestStore {
    /// On a temporary SQLite file.
    pub async fn sqlite() -> TestStore {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let url = dir.path().join("t.db").to_string_lossy().to_string();
        let store = Store::open(&Options::new(url.clone())).await.expect("the SQLite store opens");
        TestStore { store, url, _dir: dir, _pg: None }
    }

    /// On a fresh database of the PostgreSQL test server; `None`, said
    /// loudly, when there is none (see [`pg_base_url`]).
    pub async fn postgres() -> Option<TestStore> {
        let db = PgDatabase::create(&pg_base_url()?).await;
        let url = db.url.clone();
        let store = Store::open(&Options::new(url.clone())).await.expect("the PostgreSQL store opens");
        Some(TestStore { store, url, _dir: tempfile::tempdir().expect("a temporary folder"), _pg: Some(db) })
    }
}

/// Calls `observer` with the text of each statement that the SQLite
/// stores opened after this call run (as prepared, with placeholders, once
/// per run), through SQLite's profile hook: how a test sees every statement
/// the store sends. One observer for the whole process; a later call
/// replaces it. Stores opened before the first call are not observed.
pub fn observe_sqlite_statements(observer: impl Fn(&str) + Send + Sync + 'static) {
    crate::sqlite::observe::set(std::sync::Arc::new(observer));
}

/// Calls `observer` with the text of a statement each time SQLite had to
/// compile it again before it could run (a cached statement whose plan
/// depends on a bound value, as when a partial index's condition is a
/// parameter, is compiled anew on every run). For every SQLite store, opened
/// before or after this call; one observer for the whole process.
pub fn observe_sqlite_recompiles(observer: impl Fn(&str) + Send + Sync + 'static) {
    crate::sqlite::observe::set_reprepared(std::sync::Arc::new(observer));
}

/// Where the tests' time starts: 2026-11-25 14:00 UTC.
pub fn t0() -> Timestamp {
    use chrono::TimeZone;
    chrono::Utc.with_ymd_and_hms(2026, 11, 25, 14, 0, 0).single().expect("a valid time")
}

/// An agent, added at [`t0`].
pub fn agent(login: &str, name: &str) -> Staff {
    Staff { id: login.into(), name: name.into(), roles: vec![Role::Agent], disabled: false, created_at: t0() }
}

/// A ticket on `account`, created at [`t0`].
pub fn ticket(reference: &str, account: &str) -> Ticket {
    Ticket {
        reference: reference.into(),
        account_id: account.into(),
        account_name: None,
        subject: "s".into(),
        url: None,
        created_by: "x".into(),
        created_at: t0(),
        status: actas_core::model::TicketStatus::Open,
        assignee: None,
        tags: Vec::new(),
        source: actas_core::model::TicketSource::App,
        updated_at: t0(),
    }
}

/// `requester`'s request `id` for `settings.view` under `ticket`,
/// approved by the policy at [`t0`] and not started.
pub fn approved_request(id: &str, ticket: &Ticket, requester: &str) -> Request {
    let new = NewRequest {
        kind: RequestKind::Access,
        ticket: ticket.reference.clone(),
        account_id: ticket.account_id.clone(),
        account_name: None,
        reason: "r".into(),
        actions: vec!["settings.view".into()],
        minutes: 15,
        session_id: None,
        playbook: None,
        stepup: None,
    };
    let mut r = Request::pending(id.into(), new, &agent(requester, requester), t0());
    r.status = RequestStatus::Approved;
    r
}

/// `agent`'s live session `id`, started at [`t0`] from `request`.
pub fn live_session(id: &str, request: &Request, agent: &str) -> Session {
    let policy = Approver { id: "policy".into(), name: "Policy".into() };
    Session {
        id: id.into(),
        request_id: request.id.clone(),
        ticket: request.ticket.clone(),
        account_id: request.account_id.clone(),
        account_name: None,
        agent: agent.into(),
        agent_name: agent.into(),
        approver: policy.id.clone(),
        approver_name: policy.name.clone(),
        approvers: vec![policy],
        app_id: "app_1".into(),
        scope: request.actions.clone(),
        reason: request.reason.clone(),
        started_at: t0(),
        ends_at: t0(),
        last_activity_at: t0(),
        state: SessionState::Live,
        end_reason: None,
        ended_at: None,
        ended_by: None,
        end_note: None,
        breakglass: false,
        review: None,
    }
}

/// How often a condition is asked again.
const EVERY: Duration = Duration::from_millis(50);

/// Asks `condition` until it holds; fails the test, naming `what` it waited
/// for, when `within` passes first.
///
/// ```no_run
/// # async fn run(store: actas_store::Store) {
/// use std::time::Duration;
/// use actas_store::testing::wait_until;
/// wait_until(Duration::from_secs(2), "the writer to run", || async { store.writer_alive() }).await;
/// # }
/// ```
pub async fn wait_until<F, Fut>(within: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    wait_for(within, what, || {
        let holds = condition();
        async move {
            if holds.await {
                Ok(())
            } else {
                Err("not yet")
            }
        }
    })
    .await
}

/// Asks `probe` until it answers `Ok`, and answers that; fails the test
/// when `within` passes first, naming `what` it waited for and the last
/// `Err` (say, what it saw instead).
pub async fn wait_for<T, E, F, Fut>(within: Duration, what: &str, mut probe: F) -> T
where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match probe().await {
            Ok(v) => return v,
            Err(last) if tokio::time::Instant::now() >= deadline => {
                panic!("waited {within:?} for {what}; last: {last}")
            }
            Err(_) => tokio::time::sleep(EVERY).await,
        }
    }
}
