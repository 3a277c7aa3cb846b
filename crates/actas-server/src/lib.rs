//! The actas server: configuration, start-up, the HTTP surface and the
//! background reaper.
//!
//! [`Server::build`] opens the database, loads the signing keys (which needs
//! the key-encryption key), opens the witness file, records the policy it
//! runs with, and binds its listener (port 0 works, for tests);
//! [`Server::run`] serves until the shutdown signal.

pub mod authz;
pub mod console;
pub mod credentials;
pub mod ctx;
pub mod export;
pub mod feed;
pub mod http;
pub mod keys;
pub mod routes;
pub mod service;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod views;
pub mod witness;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actas_core::id::{Ids, RandomIds};
use actas_core::policy::Policy;
use actas_core::{Clock, SystemClock};
use actas_store::Store;
use anyhow::Context;
use tokio::net::TcpListener;

pub use keys::{Kek, KeyAccess, KeyError};
pub use service::Ctx;

/// How to run a server.
#[derive(Clone)]
pub struct Config {
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// `sqlite://...`, a file path, or `postgres://...`.
    pub database_url: String,
    /// The policy.
    pub policy: Policy,
    /// The base URL (`iss`); `http://{listen}` when not set.
    pub base_url: Option<String>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// New ids and secrets (random; tests may seed them).
    pub ids: Arc<dyn Ids>,
    /// How often the reaper looks for ended sessions and the webhook
    /// sender for events to send; `None` turns both off (tests run them
    /// step by step).
    pub reap_every: Option<Duration>,
    /// How the private signing keys are reached. A server signs, so
    /// [`KeyAccess::PublicOnly`] (the default) refuses to start, saying why.
    pub keys: KeyAccess,
    /// A file outside the database that every signed head is appended to.
    pub witness: Option<PathBuf>,
    /// Reverse proxies whose `X-Forwarded-For` names the client (none by
    /// default: the connecting address is the client).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Connections open at once, and how long each may take or wait.
    pub connections: http::connections::Limits,
    /// Console password checks (argon2id, ~19 MiB each) run at once.
    pub password_checks: usize,
    /// How often the audit trail's head is signed.
    pub checkpoints: actas_store::CheckpointSchedule,
    /// Console sign-in through the company's OpenID Connect provider.
    pub oidc: Option<console::oidc::OidcConfig>,
    /// Whether the console takes passwords; off needs [`Config::oidc`].
    pub password_sign_in: bool,
    /// How long a console sign-in lasts.
    pub console: console::Lifetimes,
    /// Connections to PostgreSQL, or SQLite's reader connections (the
    /// store's default when `None`).
    pub pool_size: Option<u32>,
}

impl Config {
    /// Defaults: 127.0.0.1:7878, `actas.db`, the shipped policy, real time,
    /// no trusted proxy, [`http::connections::Limits::default`], as many
    /// password checks at once as there are CPUs.
    pub fn new(database_url: impl Into<String>) -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 7878)),
            database_url: database_url.into(),
            policy: Policy::shipped(),
            base_url: None,
            clock: Arc::new(SystemClock),
            ids: Arc::new(RandomIds),
            reap_every: Some(Duration::from_secs(1)),
            keys: KeyAccess::PublicOnly,
            witness: None,
            trusted_proxies: Vec::new(),
            connections: http::connections::Limits::default(),
            password_checks: std::thread::available_parallelism().map_or(2, |n| n.get()),
            checkpoints: actas_store::CheckpointSchedule::default(),
            oidc: None,
            password_sign_in: true,
            console: console::Lifetimes::default(),
            pool_size: None,
        }
    }
}

/// Shared state of the HTTP handlers: [`App`] behind one reference count,
/// because axum clones the state for every extractor and layer of every
/// request, and cloning each part on its own costs a dozen atomic
/// increments and decrements a request, on counters every core shares.
#[derive(Clone, Debug)]
pub struct AppState(Arc<App>);

impl AppState {
    /// Shares `app` with the handlers.
    pub fn new(app: App) -> AppState {
        AppState(Arc::new(app))
    }
}

impl std::ops::Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

/// What the HTTP handlers share ([`AppState`]).
#[derive(Debug)]
pub struct App {
    /// The operations' context.
    pub ctx: Ctx,
    /// Turns true when the server shuts down, so long-lived streams end.
    pub closing: tokio::sync::watch::Receiver<bool>,
    /// Console sign-ins: throttled per login and per client address.
    pub console: Arc<console::Throttle>,
    /// Whose `X-Forwarded-For` names the client.
    pub proxies: http::forwarded::TrustedProxies,
    /// Sign-in through the identity provider, when set up.
    pub oidc: Option<Arc<console::oidc::Oidc>>,
    /// Whether the console takes passwords.
    pub password_sign_in: bool,
    /// How long a console sign-in lasts.
    pub console_lifetimes: console::Lifetimes,
}

/// Opens the database and loads keys: the context every surface uses.
/// With `PublicOnly` keys it verifies but signs no token and no checkpoint.
pub async fn open_ctx(
    database_url: &str,
    policy: Policy,
    clock: Arc<dyn Clock>,
    base_url: String,
    access: KeyAccess,
) -> anyhow::Result<Ctx> {
    open_ctx_with_ids(&actas_store::Options::new(database_url), policy, clock, Arc::new(RandomIds), base_url, access)
        .await
}

/// [`open_ctx`] taking new ids and secrets from `ids`.
pub async fn open_ctx_with_ids(
    database: &actas_store::Options,
    policy: Policy,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn Ids>,
    base_url: String,
    access: KeyAccess,
) -> anyhow::Result<Ctx> {
    let store = Store::open(&database.clone().with_ids(ids.clone())).await?;
    let keys = Arc::new(
        keys::KeyRing::load(&store, policy.session.max_minutes, access).await.context("cannot load signing keys")?,
    );
    store.set_head_signer(Arc::new(keys::HeadSigner { keys: keys.clone(), clock: clock.clone(), witness: None }));
    // A command-line process writes little and may exit at once: it signs
    // every head it leaves. A server sets its own schedule.
    store.set_checkpoint_schedule(actas_store::CheckpointSchedule::every_batch());
    Ok(Ctx {
        store,
        policy: Arc::new(policy),
        keys,
        clock,
        ids,
        feed: feed::Feed::default(),
        base_url,
        app_keys: Arc::default(),
        telemetry: Arc::default(),
    })
}

/// A server, bound and ready to run.
pub struct Server {
    ctx: Ctx,
    listener: TcpListener,
    addr: SocketAddr,
    reap_every: Option<Duration>,
    witness: Option<Arc<witness::Witness>>,
    throttle: Arc<console::Throttle>,
    proxies: http::forwarded::TrustedProxies,
    limits: http::connections::Limits,
    oidc: Option<Arc<console::oidc::Oidc>>,
    password_sign_in: bool,
    console_lifetimes: console::Lifetimes,
}

impl Server {
    /// Opens everything and binds the listener.
    pub async fn build(config: Config) -> anyhow::Result<Server> {
        if !config.password_sign_in && config.oidc.is_none() {
            anyhow::bail!(
                "password sign-in is off and no identity provider is set up (--oidc-issuer and --oidc-client-id), so nobody could sign in to the console"
            );
        }
        let listener =
            TcpListener::bind(config.listen).await.with_context(|| format!("cannot listen on {}", config.listen))?;
        let addr = listener.local_addr()?;
        let base_url = config.base_url.clone().unwrap_or_else(|| format!("http://{addr}"));
        let oidc = match config.oidc {
            Some(o) => Some(Arc::new(console::oidc::Oidc::new(o, &base_url, &config.keys)?)),
            None => None,
        };
        let database =
            actas_store::Options { pool_size: config.pool_size, ..actas_store::Options::new(config.database_url) };
        let ctx = open_ctx_with_ids(&database, config.policy, config.clock, config.ids, base_url, config.keys).await?;
        ctx.keys.make_missing(&ctx.store, ctx.clock.now()).await.context("cannot load signing keys")?;
        ctx.store.set_checkpoint_schedule(config.checkpoints);
        let witness = match &config.witness {
            Some(path) => Some(Arc::new(witness::Witness::open(path, &ctx.store).await?)),
            None => None,
        };
        if let Some(w) = &witness {
            tracing::info!(witness = %w.path().display(), "every signed audit head is appended to the witness");
            ctx.store.set_head_signer(Arc::new(keys::HeadSigner {
                keys: ctx.keys.clone(),
                clock: ctx.clock.clone(),
                witness: Some(w.clone()),
            }));
        }
        // The policy in force is the first event this server writes. On a
        // database it cannot write yet (read-only, full), it serves anyway:
        // reads work, every write answers 503 until this one commits first.
        match ctx.store.write_first(service::policy_loaded(&ctx)).await {
            Ok(()) => {}
            Err(actas_core::Error::Unavailable(e)) => tracing::error!(
                error = %format!("{e:#}"),
                "cannot write to the audit trail; every write is refused until the policy in force is recorded"
            ),
            Err(e) => return Err(e).context("cannot write to the audit trail"),
        }
        Ok(Server {
            ctx,
            listener,
            addr,
            reap_every: config.reap_every,
            witness,
            throttle: Arc::new(console::Throttle::new(config.password_checks)),
            proxies: http::forwarded::TrustedProxies::new(config.trusted_proxies),
            limits: config.connections,
            oidc,
            password_sign_in: config.password_sign_in,
            console_lifetimes: config.console,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The operations' context (for tests and the demo).
    pub fn ctx(&self) -> &Ctx {
        &self.ctx
    }

    /// The console's sign-in throttle (for tests: its figures).
    pub fn throttle(&self) -> &Arc<console::Throttle> {
        &self.throttle
    }

    /// Serves until `shutdown` completes.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let reaper = self.reap_every.map(|every| tokio::spawn(reap_loop(self.ctx.clone(), every)));
        let sender = self.reap_every.map(|every| tokio::spawn(webhook_loop(self.ctx.clone(), every)));
        let head = feed::head(&self.ctx.store).await;
        let tail =
            tokio::spawn(feed::tail(self.ctx.store.clone(), self.ctx.policy.clone(), self.ctx.feed.clone(), head));
        let keys = tokio::spawn(key_refresh_loop(self.ctx.clone()));
        let heads = tokio::spawn(head_log_loop(self.ctx.clone()));
        let (close, closing) = tokio::sync::watch::channel(false);
        let app = http::router(AppState::new(App {
            ctx: self.ctx.clone(),
            closing,
            console: self.throttle.clone(),
            proxies: self.proxies.clone(),
            oidc: self.oidc.clone(),
            password_sign_in: self.password_sign_in,
            console_lifetimes: self.console_lifetimes,
        }));
        tracing::info!(addr = %self.addr, database = self.ctx.store.engine().as_str(), "actas is listening");
        // Streams (the session feed) end when shutdown starts; otherwise a
        // graceful shutdown would wait for them forever.
        let shutdown = async move {
            shutdown.await;
            let _ = close.send(true);
        };
        let served = http::connections::serve(self.listener, app, self.limits, shutdown).await;
        if let Some(r) = reaper {
            r.abort();
        }
        if let Some(s) = sender {
            s.abort();
        }
        tail.abort();
        keys.abort();
        heads.abort();
        // The last writes' head is signed before the process ends, so a
        // cut of them is found too.
        if let Err(e) = self.ctx.store.sign_head().await {
            tracing::warn!(error = %e, "could not sign the audit head before stopping");
        }
        if let Some(w) = &self.witness {
            w.flush(Duration::from_secs(5));
        }
        served.context("server failed")
    }

    /// Serves until Ctrl-C or SIGTERM.
    pub async fn run(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }
}

async fn reap_loop(ctx: Ctx, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match service::reap(&ctx).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(ended = n, "reaper ended sessions and approvals whose time was up"),
            Err(e) => tracing::warn!(error = %e, "reaper could not run"),
        }
    }
}

/// Sends the audit events webhooks chose ([`service::deliver`]).
async fn webhook_loop(ctx: Ctx, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = service::deliver(&ctx).await {
            tracing::warn!(error = %e, "webhooks could not be sent");
        }
    }
}

/// Logs the audit chain's head once a minute when it moved, so that a copy
/// of it lives outside the database (`actas audit verify --head SEQ:HASH`).
async fn head_log_loop(ctx: Ctx) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = None;
    loop {
        tick.tick().await;
        let head = ctx.store.read(actas_store::read_fn(|tx| Box::pin(async move { tx.get_event_head().await }))).await;
        if let Ok(Some((seq, hash))) = head {
            if last != Some(seq) {
                tracing::info!(seq, %hash, "audit head");
                last = Some(seq);
            }
        }
    }
}

/// Picks up keys rotated by another process or node.
async fn key_refresh_loop(ctx: Ctx) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = ctx.keys.refresh(&ctx.store).await {
            tracing::warn!(error = %e, "could not refresh signing keys");
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
