//! For tests of every crate (the `testing` feature): the PostgreSQL server
//! tests run against, and throw-away databases on it.

use std::io::Write;
use std::sync::Once;

use sqlx::Connection;

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
