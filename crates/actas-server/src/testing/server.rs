//! [`TestServer`]: a real server on 127.0.0.1:0, its database, its clock,
//! and builders for the people and apps only the command line adds.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use actas_core::audit::Actor;
use actas_core::model::Role;
use actas_core::policy::Policy;
use actas_core::{ManualClock, SystemClock, Timestamp};
use actas_store::testing::{pg_base_url, PgDatabase};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::api::Api;
use super::{t0, wait_until};
use crate::console::Throttle;
use crate::service::{self, Ctx};
use crate::{Config, Kek, KeyAccess, Server};

/// Which database a test server runs on.
#[derive(Debug, Clone)]
pub enum Backend {
    /// A temporary SQLite file.
    Sqlite,
    /// A fresh database on the PostgreSQL server at this base URL.
    Postgres(String),
}

impl Backend {
    /// The PostgreSQL test server ([`pg_base_url`]); `None`, said loudly,
    /// when there is none.
    pub fn postgres() -> Option<Backend> {
        pg_base_url().map(Backend::Postgres)
    }
}

/// The key-encryption key of every test server, one per test binary, so
/// that a restart, a second node or another process opens the same keys.
pub fn test_keys() -> KeyAccess {
    static KEK: OnceLock<Arc<Kek>> = OnceLock::new();
    KeyAccess::Sealed(KEK.get_or_init(|| Arc::new(Kek::generate())).clone())
}

type Configure = Box<dyn FnOnce(&mut Config) + Send>;

/// How to spawn a [`TestServer`]: SQLite, the shipped policy and a manual
/// clock at [`t0`] unless told otherwise.
#[must_use = "a server starts only by spawn()"]
pub struct TestServerBuilder {
    backend: Backend,
    policy: Policy,
    start: Timestamp,
    real_clock: bool,
    configure: Vec<Configure>,
}

impl std::fmt::Debug for TestServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServerBuilder").field("backend", &self.backend).finish_non_exhaustive()
    }
}

impl TestServerBuilder {
    /// On this database.
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// With this policy.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// With the manual clock starting at `start`.
    pub fn starting_at(mut self, start: Timestamp) -> Self {
        self.start = start;
        self
    }

    /// On the system clock, for tests whose tokens meet real time (an
    /// offline check in the host app); [`TestServer::clock`] then moves
    /// nothing.
    pub fn real_clock(mut self) -> Self {
        self.real_clock = true;
        self
    }

    /// Adjusts the configuration (limits, proxies, base URL...) last.
    pub fn configure(mut self, f: impl FnOnce(&mut Config) + Send + 'static) -> Self {
        self.configure.push(Box::new(f));
        self
    }

    /// Opens the database, binds 127.0.0.1:0 and serves in the background
    /// until the [`TestServer`] is dropped.
    pub async fn spawn(self) -> TestServer {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let db_path = dir.path().join("actas.db");
        let pg = match &self.backend {
            Backend::Postgres(base) => Some(PgDatabase::create(base).await),
            Backend::Sqlite => None,
        };
        let db_url = match &pg {
            Some(p) => p.url.clone(),
            None => db_path.to_string_lossy().to_string(),
        };
        let clock = Arc::new(ManualClock::new(self.start));
        let mut config = Config::new(db_url.clone());
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.policy = self.policy;
        config.clock = if self.real_clock { Arc::new(SystemClock) } else { clock.clone() };
        config.reap_every = None;
        config.keys = test_keys();
        for f in self.configure {
            f(&mut config);
        }
        let server = Server::build(config.clone()).await.expect("the test server starts");
        let addr = server.addr();
        // A restart comes back on the same address.
        config.listen = addr;
        let mut s = TestServer {
            api: Api::new(format!("http://{addr}")),
            backend: self.backend,
            db_url,
            db_path,
            addr,
            clock,
            ctx: server.ctx().clone(),
            throttle: server.throttle().clone(),
            config,
            running: None,
            _dir: dir,
            _pg: pg,
        };
        s.run(server);
        s
    }
}

/// A real server on 127.0.0.1:0 (see the [module](super)). It derefs to
/// its [`Api`]; it stops when dropped, and its database goes with it.
pub struct TestServer {
    /// Its HTTP API.
    pub api: Api,
    /// Its database.
    pub backend: Backend,
    /// The database URL (a file path on SQLite).
    pub db_url: String,
    /// The SQLite file (unused on PostgreSQL).
    pub db_path: PathBuf,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The manual clock it reads (unless built with
    /// [`TestServerBuilder::real_clock`]).
    pub clock: Arc<ManualClock>,
    /// Its operations' context, for what has no HTTP call (adding staff,
    /// rotating keys, the reaper).
    pub ctx: Ctx,
    /// The console's sign-in throttle, for its figures.
    pub throttle: Arc<Throttle>,
    config: Config,
    running: Option<(oneshot::Sender<()>, JoinHandle<anyhow::Result<()>>)>,
    _dir: tempfile::TempDir,
    /// Dropped last: the PostgreSQL database, if on one.
    _pg: Option<PgDatabase>,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer").field("base", &self.api.base).field("backend", &self.backend).finish()
    }
}

impl std::ops::Deref for TestServer {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

impl TestServer {
    /// How to spawn one.
    pub fn builder() -> TestServerBuilder {
        TestServerBuilder {
            backend: Backend::Sqlite,
            policy: Policy::shipped(),
            start: t0(),
            real_clock: false,
            configure: Vec::new(),
        }
    }

    /// A server on SQLite with the shipped policy.
    pub async fn spawn() -> TestServer {
        TestServer::builder().spawn().await
    }

    fn run(&mut self, server: Server) {
        let (stop, stopped) = oneshot::channel::<()>();
        let done = tokio::spawn(server.run_until(async move {
            let _ = stopped.await;
        }));
        self.running = Some((stop, done));
    }

    /// Stops serving and waits until it has stopped; the database stays.
    pub async fn stop(&mut self) {
        if let Some((stop, done)) = self.running.take() {
            let _ = stop.send(());
            let _ = done.await;
        }
    }

    /// Serves again on the same address and database, with the same
    /// configuration, as a restarted process would.
    pub async fn start_again(&mut self) {
        self.stop().await;
        let server = Server::build(self.config.clone()).await.expect("the test server starts again");
        self.ctx = server.ctx().clone();
        self.throttle = server.throttle().clone();
        self.run(server);
    }

    /// A staff member to add, with the agent role unless told otherwise.
    pub fn staff(&self, login: &str) -> StaffBuilder<'_> {
        StaffBuilder {
            server: self,
            login: login.to_string(),
            name: login.to_string(),
            roles: vec![Role::Agent],
            password: None,
            disabled: false,
        }
    }

    /// A host app (or ticket system) to register: no origin, no tickets,
    /// unless told otherwise.
    pub fn host_app(&self, name: &str) -> AppBuilder<'_> {
        AppBuilder { server: self, app: service::NewApp::new(name, false, Vec::new()) }
    }

    /// Sets a staff member's console password.
    pub async fn set_password(&self, login: &str, password: &str) {
        // A fixture, not an admin's act: the hash is stored as the service
        // stores it, without a `staff.updated` event in the trail.
        let hash = crate::credentials::hash_password(password).unwrap_or_else(|e| panic!("password of {login}: {e}"));
        let who = login.to_string();
        self.ctx
            .store
            .write(actas_store::write_fn(move |tx| {
                Box::pin(async move { tx.set_staff_password(&who, Some(&hash)).await })
            }))
            .await
            .unwrap_or_else(|e| panic!("password of {login}: {e}"));
    }

    /// Waits until `n` subscriptions to the session feed are open on this
    /// server, so that a change made next reaches them.
    pub async fn wait_for_followers(&self, n: usize) {
        let feed = &self.ctx.feed;
        wait_until(Duration::from_secs(5), &format!("{n} followers of the session feed"), || async move {
            feed.subscribers() >= n
        })
        .await;
    }

    /// A second server on the same database and clock: another node.
    pub async fn second_node(&self) -> Node {
        let mut config = Config::new(self.db_url.clone());
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.clock = self.config.clock.clone();
        config.reap_every = None;
        config.keys = test_keys();
        let server = Server::build(config).await.expect("the second node starts");
        let base = format!("http://{}", server.addr());
        let ctx = server.ctx().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(server.run_until(async move {
            let _ = stopped.await;
        }));
        Node { base, ctx, _stop: stop }
    }

    /// Another process on the same database (the command line, or another
    /// node): its own store, keys and feed, no HTTP.
    pub async fn other_process(&self) -> Ctx {
        crate::open_ctx(&self.db_url, Policy::shipped(), self.config.clock.clone(), self.api.base.clone(), test_keys())
            .await
            .expect("another process opens the database")
    }

    /// Runs SQL on the database directly, as an attacker or a broken disk
    /// would.
    pub async fn sql(&self, statement: &str) {
        self.sql_later().run(statement).await
    }

    /// [`TestServer::sql`], owned: for code that runs later, such as a
    /// hook between two page reads.
    pub fn sql_later(&self) -> DirectSql {
        DirectSql { backend: self.backend.clone(), db_path: self.db_path.clone(), db_url: self.db_url.clone() }
    }

    /// Drops the triggers that keep the audit trail append-only, as someone
    /// with write access to the database could, so that [`TestServer::sql`]
    /// can edit and delete events.
    pub async fn unlock_trail(&self) {
        match self.backend {
            Backend::Sqlite => {
                self.sql("DROP TRIGGER audit_events_append_only_update; DROP TRIGGER audit_events_append_only_delete")
                    .await
            }
            Backend::Postgres(_) => {
                self.sql(
                    "DROP TRIGGER audit_events_append_only ON audit_events; \
                     DROP TRIGGER audit_events_only_sealed_go ON audit_events",
                )
                .await
            }
        }
    }

    /// Drops the triggers that keep the archive's recorded segments
    /// append-only, so that [`TestServer::sql`] can change and remove them.
    pub async fn unlock_segments(&self) {
        match self.backend {
            Backend::Sqlite => {
                self.sql(
                    "DROP TRIGGER audit_segments_append_only_update; DROP TRIGGER audit_segments_append_only_delete",
                )
                .await
            }
            Backend::Postgres(_) => self.sql("DROP TRIGGER audit_segments_append_only ON audit_segments").await,
        }
    }

    /// Makes every insert into the audit trail fail.
    pub async fn break_audit(&self) {
        match self.backend {
            Backend::Sqlite => {
                self.sql(
                    "CREATE TRIGGER audit_down BEFORE INSERT ON audit_events \
                     BEGIN SELECT RAISE(ABORT, 'disk on fire'); END",
                )
                .await
            }
            Backend::Postgres(_) => {
                self.sql(
                    "CREATE FUNCTION audit_down() RETURNS trigger LANGUAGE plpgsql AS \
                     $$ BEGIN RAISE EXCEPTION 'disk on fire'; END; $$; \
                     CREATE TRIGGER audit_down BEFORE INSERT ON audit_events \
                     FOR EACH ROW EXECUTE FUNCTION audit_down();",
                )
                .await
            }
        }
    }

    /// Undoes [`TestServer::break_audit`].
    pub async fn repair_audit(&self) {
        match self.backend {
            Backend::Sqlite => self.sql("DROP TRIGGER audit_down").await,
            Backend::Postgres(_) => {
                self.sql("DROP TRIGGER audit_down ON audit_events; DROP FUNCTION audit_down();").await
            }
        }
    }

    /// Whether `needle` is stored anywhere in the database: the SQLite file
    /// and its log, or any PostgreSQL table.
    pub async fn stored_anywhere(&self, needle: &str) -> bool {
        match self.backend {
            Backend::Sqlite => ["", "-wal"].iter().any(|suffix| {
                let mut path = self.db_path.clone().into_os_string();
                path.push(suffix);
                std::fs::read(&path).is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
            }),
            Backend::Postgres(_) => {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(&self.db_url).await.expect("a PostgreSQL connection");
                let tables: Vec<String> =
                    sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
                        .fetch_all(&mut conn)
                        .await
                        .expect("the list of tables");
                assert!(tables.len() >= 10, "{tables:?}");
                for t in tables {
                    let n: i64 =
                        sqlx::query_scalar(&format!("SELECT count(*) FROM {t} x WHERE x::text LIKE '%' || $1 || '%'"))
                            .bind(needle)
                            .fetch_one(&mut conn)
                            .await
                            .unwrap_or_else(|e| panic!("searching {t}: {e}"));
                    if n > 0 {
                        return true;
                    }
                }
                false
            }
        }
    }
}

/// Another server on the same database; stops when dropped.
#[derive(Debug)]
pub struct Node {
    /// Where it listens.
    pub base: String,
    /// Its operations' context.
    pub ctx: Ctx,
    _stop: oneshot::Sender<()>,
}

/// A staff member being put together; [`StaffBuilder::add`] adds them.
#[derive(Debug)]
#[must_use = "a staff member is added only by add()"]
pub struct StaffBuilder<'a> {
    server: &'a TestServer,
    login: String,
    name: String,
    roles: Vec<Role>,
    password: Option<String>,
    disabled: bool,
}

impl StaffBuilder<'_> {
    /// Their display name (the login when not said).
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.to_string();
        self
    }

    /// Their roles.
    pub fn roles(mut self, roles: impl IntoIterator<Item = Role>) -> Self {
        self.roles = roles.into_iter().collect();
        self
    }

    /// With this console password.
    pub fn password(mut self, password: &str) -> Self {
        self.password = Some(password.to_string());
        self
    }

    /// Disabled right after being added (their token then opens nothing).
    pub fn disabled(mut self) -> Self {
        self.disabled = true;
        self
    }

    /// Adds them as the command line would; answers their personal token.
    pub async fn add(self) -> String {
        let ctx = &self.server.ctx;
        let (_, token) = service::add_staff(ctx, Actor::system(), &self.login, &self.name, self.roles, self.password)
            .await
            .unwrap_or_else(|e| panic!("adding {}: {e}", self.login));
        if self.disabled {
            service::disable_staff(ctx, Actor::system(), &self.login)
                .await
                .unwrap_or_else(|e| panic!("disabling {}: {e}", self.login));
        }
        token.expose().to_string()
    }
}

/// An app being put together; [`AppBuilder::add`] registers it.
#[derive(Debug)]
#[must_use = "an app is registered only by add()"]
pub struct AppBuilder<'a> {
    server: &'a TestServer,
    app: service::NewApp,
}

impl AppBuilder<'_> {
    /// It may push tickets.
    pub fn tickets(mut self) -> Self {
        self.app.tickets = true;
        self
    }

    /// It may provision staff through SCIM.
    pub fn scim(mut self) -> Self {
        self.app.scim = true;
        self
    }

    /// Support needs the customer's grant for every account.
    pub fn consent(mut self) -> Self {
        self.app.consent = true;
        self
    }

    /// It takes tickets from `kind`'s webhook, signed with `secret` (and
    /// may push tickets).
    pub fn connector(mut self, kind: actas_core::connector::Connector, secret: &str) -> Self {
        self.app.tickets = true;
        self.app.connector = Some(service::ConnectorSetup {
            kind,
            secret: secret.into(),
            mapping: actas_core::connector::Mapping::default_for(kind),
        });
        self
    }

    /// A web origin of it (for CORS and the banner).
    pub fn origin(mut self, origin: &str) -> Self {
        self.app.origins.push(origin.to_string());
        self
    }

    /// Registers it as the command line would.
    pub async fn add(self) -> HostApp {
        let (app, key) = service::add_app(&self.server.ctx, Actor::system(), self.app.clone())
            .await
            .unwrap_or_else(|e| panic!("registering {}: {e}", self.app.name));
        HostApp { id: app.id, key: key.expose().to_string() }
    }
}

/// A registered app.
#[derive(Debug, Clone)]
pub struct HostApp {
    /// `app_...`: the tokens' audience.
    pub id: String,
    /// Its app key (shown once in real life).
    pub key: String,
}

/// Runs SQL on a test server's database directly ([`TestServer::sql_later`]).
#[derive(Debug, Clone)]
pub struct DirectSql {
    backend: Backend,
    db_path: PathBuf,
    db_url: String,
}

impl DirectSql {
    /// Runs `statement` (one or more statements); panics when it fails.
    /// The work runs on a thread of its own, so the returned future is
    /// `Send` wherever it is boxed (sqlx's own futures cannot show it).
    pub fn run(&self, statement: &str) -> impl std::future::Future<Output = ()> + Send + 'static {
        let (this, statement) = (self.clone(), statement.to_string());
        let task = tokio::task::spawn_blocking(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
            runtime.block_on(this.run_here(&statement))
        });
        async move {
            if let Err(e) = task.await {
                std::panic::resume_unwind(e.into_panic());
            }
        }
    }

    async fn run_here(&self, statement: &str) {
        use sqlx::{ConnectOptions, Connection};
        let done = match &self.backend {
            Backend::Sqlite => {
                let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(&self.db_path)
                    .connect()
                    .await
                    .expect("a connection to the SQLite file");
                sqlx::raw_sql(statement).execute(&mut conn).await.map(drop)
            }
            Backend::Postgres(_) => {
                let mut conn = sqlx::PgConnection::connect(&self.db_url).await.expect("a PostgreSQL connection");
                sqlx::raw_sql(statement).execute(&mut conn).await.map(drop)
            }
        };
        done.unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
}
