//! The command line: one verb per operation of SPEC §8. Each verb opens
//! the database, calls the same service operation the HTTP API uses, and
//! prints a plain answer; secrets are printed once, as the last line.

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use actas_core::audit::Actor;
use actas_core::id::Secret;
use actas_core::model::Role;
use actas_core::policy::Policy;
use actas_core::SystemClock;
use actas_server::{export, service, Config, Ctx, Kek, KeyAccess, KeyError, Server};
use actas_store::KeyRole;
use anyhow::{bail, Context};
use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{Common, CommonFlags, Resolver, ServeFlags};

/// Support impersonation tied to tickets, approved where risky, shown by a
/// banner, and told afterwards in a tamper-evident audit trail.
#[derive(Debug, Parser)]
#[command(name = "actas", version = version())]
pub struct Args {
    /// A config file (TOML, in sections: `[server]`, `[database]`, `[keys]`,
    /// `[limits]`, `[console]`, `[oidc]`, `[audit]`, `[log]`); a flag or an ACTAS_* variable
    /// overrides each of its settings. `actas config show` prints them.
    #[arg(long, global = true, env = "ACTAS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Database: a SQLite file path or sqlite:// URL, or a postgres:// URL
    /// [env: ACTAS_DATABASE_URL] [default: actas.db].
    #[arg(long, global = true)]
    pub database: Option<String>,
    /// Reader connections to PostgreSQL or SQLite; the writer has one more
    /// [env: ACTAS_POOL_SIZE] [default: 16 for PostgreSQL, 8 for SQLite].
    #[arg(long, global = true)]
    pub pool_size: Option<u32>,
    /// The key-encryption key that seals the private signing keys: a file
    /// holding 32 random bytes, raw or base64 (`actas key new-kek FILE`).
    /// `ACTAS_KEY_ENCRYPTION_KEY` may hold the base64 instead
    /// [env: ACTAS_KEY_ENCRYPTION_KEY_FILE].
    #[arg(long, global = true, value_name = "FILE")]
    pub key_encryption_key_file: Option<PathBuf>,
    /// Without a key-encryption key, use (and make) signing keys stored in
    /// the clear, as before sealing existed. Insecure: whoever reads the
    /// database can sign tokens and checkpoints. Only to keep an old
    /// database running until `actas key encrypt`
    /// [env: ACTAS_ALLOW_PLAINTEXT_KEYS].
    #[arg(long, global = true)]
    pub allow_plaintext_keys: bool,
    /// How the log on standard error is written: `text` (colours only on a
    /// terminal) or `json` (one object per line, with the request id)
    /// [env: ACTAS_LOG_FORMAT] [default: text].
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<crate::logs::LogFormat>,
    /// Send every span (each request, with its request id) to this
    /// OpenTelemetry collector's OTLP/HTTP address, as JSON to its
    /// `/v1/traces` [env: ACTAS_OTLP_ENDPOINT].
    #[arg(long, global = true, value_name = "URL")]
    pub otlp_endpoint: Option<String>,
    /// The share of traces sent, from 0 to 1 [env:
    /// ACTAS_TRACES_SAMPLE_RATIO] [default: 1].
    #[arg(long, global = true, value_name = "RATIO")]
    pub traces_sample_ratio: Option<f64>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API. Each flag has a key in the config file and an
    /// ACTAS_* variable (`actas config show` lists them).
    Serve(ServeFlags),
    /// Serve with demo staff, an app and tickets on a fresh SQLite file,
    /// beside the demo host app "Acme Billing".
    Demo {
        /// Address for actas.
        #[arg(long, default_value = "127.0.0.1:7878")]
        listen: SocketAddr,
        /// Address for the demo host app.
        #[arg(long, default_value = "127.0.0.1:7879")]
        app_listen: SocketAddr,
        /// Leave the host app to another program at this origin (the
        /// Express or FastAPI Acme Billing of the SDKs): actas registers
        /// it and prints its app id and key, and starts no host app itself.
        #[arg(long, value_name = "URL", conflicts_with = "app_listen")]
        host_app: Option<String>,
    },
    /// Bring the database to the current schema.
    Migrate,
    /// Manage staff.
    Staff {
        #[command(subcommand)]
        command: StaffCommand,
    },
    /// Manage host apps and ticket systems.
    App {
        #[command(subcommand)]
        command: AppCommand,
    },
    /// Send audit events to other systems (a SIEM), signed.
    Webhook {
        #[command(subcommand)]
        command: WebhookCommand,
    },
    /// Manage signing keys.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Copy the database (SQLite), online, to a new FILE, and verify the
    /// copy's audit trail. PostgreSQL: use pg_dump.
    Backup {
        /// The new file; an existing file is never overwritten.
        file: PathBuf,
    },
    /// Put a backup in the database's place (SQLite; stop the server
    /// first): its audit trail is verified before anything is replaced, and
    /// the database it replaces is kept beside it as `*.before-restore`.
    Restore {
        /// The backup file (`actas backup FILE`).
        file: PathBuf,
    },
    /// Check a policy file.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Verify or export the audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The settings in force.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the settings `actas serve` would run with, as a config file,
    /// each value with where it came from (flag, environment, file,
    /// default); secrets are masked. Checks the config file first, and
    /// takes `serve`'s flags to show their effect.
    Show(ServeFlags),
}

/// A setting that is on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    /// On.
    On,
    /// Off.
    Off,
}

#[derive(Debug, Subcommand)]
pub enum StaffCommand {
    /// Add a staff member; prints their personal API token as the last line.
    Add {
        /// Login: their stable id everywhere.
        login: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Roles: agent, lead, admin, auditor; breakglass (with agent) starts
        /// sessions without approval in an outage, within the policy.
        #[arg(long = "role", required = true, num_args = 1..)]
        roles: Vec<String>,
        /// Read a console password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a console password, read from standard input.
    Password {
        /// Login.
        login: String,
    },
    /// Disable a staff member; their live session ends at once.
    Disable {
        /// Login.
        login: String,
    },
    /// Enable a disabled staff member again; their ended sessions stay ended.
    Enable {
        /// Login.
        login: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Add an endpoint that receives audit events as signed JSON, in trail
    /// order; prints its signing secret as the last line (shown once).
    Add {
        /// Where to POST: https://, or http:// to 127.0.0.1 or localhost.
        url: String,
        /// The event types to send (`session.started breakglass.started`),
        /// or `*` for every one.
        #[arg(long, required = true, num_args = 1..)]
        events: Vec<String>,
    },
    /// List the endpoints, whether each is sending or paused, and how far
    /// each got.
    List,
    /// Remove an endpoint and its delivery log; nothing more is sent to it.
    Remove {
        /// The webhook's id (`whk_...`, from `webhook list`).
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Register an app; prints its key as the last line.
    Add {
        /// Display name.
        name: String,
        /// It may push tickets.
        #[arg(long)]
        tickets: bool,
        /// It may provision staff through SCIM (`/scim/v2`, the identity
        /// provider's bearer token is this app's key).
        #[arg(long)]
        scim: bool,
        /// `required`: support enters a customer's account only while the
        /// customer's grant is live (the host app records it with
        /// POST /api/v1/accounts/{id}/grants).
        #[arg(long, value_enum, default_value = "none")]
        consent: Consent,
        /// A web origin the banner runs on (repeatable).
        #[arg(long = "origin")]
        origins: Vec<String>,
        /// Where the host app takes one-time entry codes (`?code=` is
        /// appended); default: /support/enter on the first origin.
        #[arg(long = "entry-url")]
        entry_url: Option<String>,
        /// Take tickets from this system's webhook at
        /// /api/v1/connectors/SYSTEM/APP_ID (needs --tickets and
        /// --secret-stdin).
        #[arg(long, value_enum, requires = "tickets", requires = "secret_stdin")]
        connector: Option<ConnectorKind>,
        /// Read the connector's webhook secret (the one the ticket system
        /// signs with) from standard input; it is stored sealed.
        #[arg(long, requires = "connector")]
        secret_stdin: bool,
        /// Where a ticket field is in the system's body, as FIELD=POINTER
        /// (repeatable; e.g. `account=/detail/organization_id`,
        /// `url_base=https://acme.zendesk.com/agent/tickets/`). Fields:
        /// reference, account, account_name, subject, status, tags,
        /// assignee, url, url_base.
        #[arg(long = "map", requires = "connector", value_name = "FIELD=POINTER")]
        map: Vec<String>,
    },
    /// Give a registered app (with --tickets) a ticket system's webhook
    /// connector, or replace the secret of the one it has.
    Connector {
        /// The app's id (app_...).
        app: String,
        /// The ticket system.
        #[arg(long, value_enum)]
        connector: ConnectorKind,
        /// Read the webhook secret from standard input; it is stored sealed.
        #[arg(long)]
        secret_stdin: bool,
        /// Where a ticket field is in the system's body, as FIELD=POINTER
        /// (repeatable, as for `app add`); without it, a new connector
        /// takes the system's defaults and a replaced secret keeps the
        /// connector's mapping.
        #[arg(long = "map", value_name = "FIELD=POINTER")]
        map: Vec<String>,
    },
}

/// Whether support needs the customer's grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Consent {
    /// Only while the customer's grant is live.
    Required,
    /// Not asked (an account may still ask for it).
    None,
}

/// A ticket system with a webhook connector.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ConnectorKind {
    /// Zendesk.
    Zendesk,
    /// Jira Service Management.
    Jira,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RotateRole {
    /// The key that signs impersonation tokens (published in the JWKS).
    Token,
    /// The key that signs the audit trail's head.
    Checkpoint,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Make a new signing key; the old one stays published until its tokens
    /// end (token keys) or keeps verifying what it signed (checkpoint keys).
    Rotate {
        /// Which key.
        #[arg(long, value_enum, default_value = "token")]
        role: RotateRole,
    },
    /// Seal the keys stored in the clear under the key-encryption key, then
    /// replace them with new sealed keys (they may have been copied).
    Encrypt,
    /// Seal every key again under a new key-encryption key (KEK rotation).
    Rewrap {
        /// The new key-encryption key; the current one is given as usual.
        #[arg(long, value_name = "FILE")]
        new_key_encryption_key_file: PathBuf,
    },
    /// Write a new random key-encryption key to FILE (readable by its owner only).
    NewKek {
        /// A file that does not exist yet.
        file: PathBuf,
    },
    /// Print every key's public part: token keys (also in the JWKS) and
    /// checkpoint keys (which sign the audit trail's head).
    List,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Check a policy file; prints the line and reason of the first problem.
    Check {
        /// The file.
        file: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    /// One JSON event per line.
    Jsonl,
    /// CSV with a header row.
    Csv,
    /// One plain sentence per line.
    Text,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Re-compute the chain; exits non-zero naming the first bad event.
    Verify {
        /// A head recorded elsewhere (the server logs `audit head seq=N
        /// hash=H` every minute), as `SEQ:HASH`; the chain must contain it.
        #[arg(long = "head", value_parser = parse_head)]
        heads: Vec<(i64, String)>,
        /// A witness file a server appended its signed heads to (`serve
        /// --witness`); the chain must hold every head in it (repeatable:
        /// one file per node).
        #[arg(long = "witness", value_name = "FILE")]
        witnesses: Vec<PathBuf>,
        /// The folder of the archived segments (`audit archive --to`): the
        /// whole trail is checked, from its first event through the
        /// archive's files into the database. Without it, the database's
        /// part is checked from the last sealed head.
        #[arg(long, value_name = "DIR")]
        archive: Option<PathBuf>,
    },
    /// Move the events before a date out of the database into sealed
    /// segments: files of JSON lines, each with a manifest signed by a
    /// checkpoint key. The trail stays verifiable across the cut.
    Archive {
        /// Archive the events before this moment: a date (midnight UTC) or
        /// an RFC 3339 time. The trail's newest event always stays.
        #[arg(long, value_parser = parse_before)]
        before: actas_core::Timestamp,
        /// The archive's folder (made when missing).
        #[arg(long = "to", value_name = "DIR")]
        to: PathBuf,
        /// Events per segment file.
        #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(i64).range(1..))]
        segment_events: i64,
    },
    /// Print every event.
    Export {
        /// Output format.
        #[arg(long, value_enum)]
        format: ExportFormat,
    },
}

fn parse_before(s: &str) -> Result<actas_core::Timestamp, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| "expected a date (2026-01-31) or an RFC 3339 time (2026-01-31T12:00:00Z)".to_string())
}

fn parse_head(s: &str) -> Result<(i64, String), String> {
    let (seq, hash) = s.split_once(':').ok_or("expected SEQ:HASH")?;
    let seq = seq.parse::<i64>().map_err(|_| "SEQ must be a number")?;
    if hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err("HASH must be 64 hex digits".into());
    }
    Ok((seq, hash.to_ascii_lowercase()))
}

/// `actas --version`: the build and the database schema it writes.
fn version() -> &'static str {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VERSION.get_or_init(|| format!("{} (database schema {})", env!("CARGO_PKG_VERSION"), actas_store::schema_version()))
}

impl Args {
    /// The flags every command takes, apart from the command.
    pub fn split(self) -> (CommonFlags, Command) {
        let flags = CommonFlags {
            database: self.database,
            pool_size: self.pool_size,
            kek_file: self.key_encryption_key_file,
            allow_plaintext_keys: self.allow_plaintext_keys,
            log_format: self.log_format,
            otlp_endpoint: self.otlp_endpoint,
            traces_sample_ratio: self.traces_sample_ratio,
        };
        (flags, self.command)
    }
}

/// Logs go to standard error: `info` when serving, `warn` otherwise.
pub fn init_logs(command: &Command, common: &Common) -> anyhow::Result<crate::logs::Flush> {
    let default = match command {
        Command::Serve { .. } | Command::Demo { .. } => "info",
        _ => "warn",
    };
    crate::logs::init(common.log_filter.as_deref().unwrap_or(default), common.log_format, common.traces.as_ref())
}

fn load_policy(file: Option<&PathBuf>) -> anyhow::Result<Policy> {
    match file {
        None => Ok(Policy::shipped()),
        Some(path) => {
            let src = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            Policy::parse(&src).map_err(|e| match e.line {
                Some(line) => anyhow::anyhow!("{}:{line}: {}", path.display(), e.message),
                None => anyhow::anyhow!("{}: {}", path.display(), e.message),
            })
        }
    }
}

/// Verifying needs public keys only; with the KEK, every stored key must
/// also open, so a key row actas did not make is refused.
fn verify_access(access: KeyAccess) -> KeyAccess {
    match access {
        KeyAccess::Plaintext => KeyAccess::PublicOnly,
        other => other,
    }
}

/// Verifies the trail of database `db`; answers the sentence that says so.
async fn verified(db: &str, access: KeyAccess) -> anyhow::Result<String> {
    let c = ctx(db, verify_access(access)).await?;
    let v = service::verify_against(&c, &[], &[]).await?;
    if v.ok {
        Ok(format!(
            "Its audit trail is intact: {} events, {} signed checkpoints, head {}.",
            v.events,
            v.checkpoints,
            v.head.unwrap_or_default()
        ))
    } else {
        bail!("first bad event {}: {}", v.first_bad.unwrap_or_default(), v.problem.unwrap_or_default())
    }
}

/// The SQLite file a `--database` names; `None` for PostgreSQL.
fn sqlite_file(db: &str) -> Option<PathBuf> {
    if db.starts_with("postgres://") || db.starts_with("postgresql://") {
        return None;
    }
    let path = db.strip_prefix("sqlite://").or_else(|| db.strip_prefix("sqlite:")).unwrap_or(db);
    Some(PathBuf::from(path.split('?').next().unwrap_or(path)))
}

/// `actas restore FILE`: copies the backup beside the database, verifies
/// the copy's trail, keeps the database it replaces (and its WAL) as
/// `*.before-restore`, and moves the copy into place.
async fn restore(db: &str, backup: &Path, access: KeyAccess) -> anyhow::Result<()> {
    let Some(target) = sqlite_file(db) else {
        bail!(
            "a PostgreSQL database is restored with pg_restore (from pg_dump --format=custom); then run actas audit \
             verify on it"
        );
    };
    if !backup.is_file() {
        bail!("there is no backup file {}", backup.display());
    }
    let staged = target.with_extension("restoring");
    std::fs::copy(backup, &staged).with_context(|| format!("cannot copy {} beside the database", backup.display()))?;
    let line = match verified(&staged.to_string_lossy(), access).await {
        Ok(line) => line,
        Err(e) => {
            let _ = std::fs::remove_file(&staged);
            bail!("the backup {} was not restored: its trail does not verify: {e:#}", backup.display());
        }
    };
    let kept = target.with_extension("before-restore");
    if target.exists() {
        if kept.exists() {
            let _ = std::fs::remove_file(&staged);
            bail!("{} exists from an earlier restore; move it away first", kept.display());
        }
        std::fs::rename(&target, &kept).with_context(|| format!("cannot move {} aside", target.display()))?;
        for side in ["-wal", "-shm"] {
            let from = PathBuf::from(format!("{}{side}", target.display()));
            if from.exists() {
                std::fs::rename(&from, format!("{}{side}", kept.display()))?;
            }
        }
    }
    std::fs::rename(&staged, &target).with_context(|| format!("cannot move the backup into {}", target.display()))?;
    // Whatever the verifying connections left in the copy's WAL goes with it.
    for side in ["-wal", "-shm"] {
        let from = PathBuf::from(format!("{}{side}", staged.display()));
        if from.exists() {
            std::fs::rename(&from, format!("{}{side}", target.display()))?;
        }
    }
    println!("Restored {} from {}. {line}", target.display(), backup.display());
    if kept.exists() {
        println!("The database it replaced is kept as {}.", kept.display());
    }
    Ok(())
}

async fn ctx(database: &str, access: KeyAccess) -> anyhow::Result<Ctx> {
    actas_server::open_ctx(database, Policy::shipped(), Arc::new(SystemClock), "http://127.0.0.1:7878".into(), access)
        .await
}

/// How this run reaches the private keys: the KEK from its file or from
/// `ACTAS_KEY_ENCRYPTION_KEY`, else in the clear when allowed, else not at all.
fn key_access(common: &Common) -> anyhow::Result<KeyAccess> {
    let (file, from_env, allow_plaintext) =
        (common.kek_file.as_deref(), common.kek.as_ref().map(Secret::expose), common.allow_plaintext_keys);
    Ok(match (file, from_env) {
        (Some(_), Some(_)) => {
            return Err(KeyError::BadKek(
                "both a key-encryption key file and ACTAS_KEY_ENCRYPTION_KEY are given; give one".into(),
            )
            .into())
        }
        (Some(path), None) => KeyAccess::Sealed(Arc::new(Kek::from_file(path)?)),
        (None, Some(text)) => KeyAccess::Sealed(Arc::new(
            Kek::parse(text.as_bytes())
                .map_err(|e| anyhow::Error::new(e).context("ACTAS_KEY_ENCRYPTION_KEY is not usable"))?,
        )),
        (None, None) if allow_plaintext => KeyAccess::Plaintext,
        (None, None) => KeyAccess::PublicOnly,
    })
}

/// The KEK a verb cannot do without.
fn required_kek(access: &KeyAccess) -> anyhow::Result<Arc<Kek>> {
    match access {
        KeyAccess::Sealed(kek) => Ok(kek.clone()),
        _ => Err(KeyError::NoKek.into()),
    }
}

fn cli_actor() -> Actor {
    Actor {
        kind: actas_core::audit::ActorKind::System,
        id: "cli".into(),
        name: "An operator at the command line".into(),
    }
}

fn read_password() -> anyhow::Result<String> {
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s).context("cannot read the password from standard input")?;
    let p = s.trim_end_matches(['\n', '\r']).to_string();
    if p.is_empty() {
        bail!("no password on standard input");
    }
    Ok(p)
}

/// A connector's setup from `app add`'s flags, its secret read from
/// standard input.
fn connector_setup(kind: ConnectorKind, secret_stdin: bool, map: &[String]) -> anyhow::Result<service::ConnectorSetup> {
    let kind = match kind {
        ConnectorKind::Zendesk => actas_core::connector::Connector::Zendesk,
        ConnectorKind::Jira => actas_core::connector::Connector::Jira,
    };
    let mut mapping = actas_core::connector::Mapping::default_for(kind);
    for m in map {
        let (field, pointer) =
            m.split_once('=').with_context(|| format!("--map {m:?}: write FIELD=POINTER, e.g. account=/detail/id"))?;
        mapping.set(field.trim(), pointer).map_err(|e| anyhow::anyhow!("--map {m:?}: {e}"))?;
    }
    if !secret_stdin {
        bail!("a connector needs its webhook secret: pass --secret-stdin and write it to standard input");
    }
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s).context("cannot read the secret from standard input")?;
    let secret = s.trim_end_matches(['\n', '\r']).to_string();
    if secret.is_empty() {
        bail!("no secret on standard input");
    }
    Ok(service::ConnectorSetup { kind, secret: secret.into(), mapping })
}

/// Runs a command; the exit code tells success.
pub async fn run(command: Command, mut settings: Resolver<'_>, common: Common) -> anyhow::Result<ExitCode> {
    let access = || key_access(&common);
    let db = common.database.clone();
    let pool_size = common.pool_size;
    match command {
        Command::Serve(flags) => {
            let serve = settings.serve(flags)?;
            let policy = load_policy(serve.policy.as_ref())?;
            let mut config = Config::new(db);
            config.pool_size = pool_size;
            config.listen = serve.listen;
            config.policy = policy;
            config.base_url = serve.base_url;
            config.keys = access()?;
            config.witness = serve.witness;
            config.trusted_proxies = serve.trusted_proxies;
            config.connections = serve.limits;
            config.password_checks = serve.password_checks;
            config.console = serve.console;
            config.checkpoints = serve.checkpoints;
            config.oidc = serve.oidc;
            config.password_sign_in = serve.password_sign_in;
            Server::build(config).await?.run().await?;
        }
        Command::Config { command: ConfigCommand::Show(flags) } => {
            settings.serve(flags)?;
            print!("{}", settings.show());
        }
        Command::Demo { listen, app_listen, host_app } => {
            let host = match host_app {
                Some(origin) => crate::demo::HostApp::Elsewhere(origin),
                None => crate::demo::HostApp::Here(app_listen),
            };
            crate::demo::run(listen, host).await?
        }
        Command::Migrate => {
            actas_store::Store::open(&actas_store::Options::new(db)).await?;
            println!("The database is at the current schema.");
        }
        Command::Staff { command } => staff(&db, access()?, command).await?,
        Command::App {
            command: AppCommand::Add { name, tickets, scim, consent, origins, entry_url, connector, secret_stdin, map },
        } => {
            let keys = access()?;
            if connector.is_some() && !matches!(keys, KeyAccess::Sealed(_)) {
                // Checked before the secret is read: nothing is stored
                // and the secret is not asked for in vain.
                bail!(
                    "a connector's webhook secret is stored only sealed under the key-encryption key, and none was \
                     given, so nothing was registered: pass the server's key-encryption key with \
                     --key-encryption-key-file FILE (or set ACTAS_KEY_ENCRYPTION_KEY_FILE, or ACTAS_KEY_ENCRYPTION_KEY \
                     to its base64; `actas key new-kek FILE` makes one); --allow-plaintext-keys does not cover \
                     connector secrets"
                );
            }
            let connector = match connector {
                Some(kind) => Some(connector_setup(kind, secret_stdin, &map)?),
                None => None,
            };
            let system = connector.as_ref().map(|c| c.kind);
            let c = ctx(&db, keys).await?;
            let (app, key) = service::add_app(
                &c,
                cli_actor(),
                service::NewApp {
                    entry_url,
                    scim,
                    connector,
                    consent: consent == Consent::Required,
                    ..service::NewApp::new(&name, tickets, origins)
                },
            )
            .await?;
            println!("Registered {} as {}.", app.name, app.id);
            if let Some(kind) = system {
                println!(
                    "Point the {} webhook at <actas address>/api/v1/connectors/{}/{}, signed with the secret given.",
                    kind.as_str(),
                    kind.as_str(),
                    app.id
                );
            }
            println!("Its key is shown once; keep it secret:");
            println!("{}", key.expose());
        }
        Command::App { command: AppCommand::Connector { app, connector, secret_stdin, map } } => {
            let keys = access()?;
            if !matches!(keys, KeyAccess::Sealed(_)) {
                bail!(
                    "a connector's webhook secret is stored only sealed under the key-encryption key, and none was \
                     given, so nothing was changed: pass the server's key-encryption key with \
                     --key-encryption-key-file FILE (or set ACTAS_KEY_ENCRYPTION_KEY_FILE, or ACTAS_KEY_ENCRYPTION_KEY \
                     to its base64)"
                );
            }
            let setup = connector_setup(connector, secret_stdin, &map)?;
            let kind = setup.kind;
            let c = ctx(&db, keys).await?;
            let (app, change) = service::set_connector(&c, cli_actor(), &app, setup, map.is_empty()).await?;
            match change {
                service::ConnectorChange::Added => println!(
                    "{} ({}) now takes tickets from {}: point its webhook at <actas address>/api/v1/connectors/{}/{}, \
                     signed with the secret given.",
                    app.name,
                    app.id,
                    kind.as_str(),
                    kind.as_str(),
                    app.id
                ),
                service::ConnectorChange::SecretReplaced => println!(
                    "The {} connector of {} ({}) has its new secret; deliveries signed with the old one are refused.",
                    kind.as_str(),
                    app.name,
                    app.id
                ),
            }
        }
        Command::Webhook { command: WebhookCommand::Add { url, events } } => {
            let keys = access()?;
            if !matches!(keys, KeyAccess::Sealed(_)) {
                bail!(
                    "a webhook's signing secret is stored only sealed under the key-encryption key, and none was \
                     given, so nothing was added: pass the server's key-encryption key with \
                     --key-encryption-key-file FILE (or set ACTAS_KEY_ENCRYPTION_KEY_FILE, or ACTAS_KEY_ENCRYPTION_KEY \
                     to its base64)"
                );
            }
            let c = ctx(&db, keys).await?;
            let (w, secret) = service::add_webhook(&c, cli_actor(), &url, &events).await?;
            println!("Added webhook {} for {} to {}.", w.id, w.events, w.url);
            println!("Its signing secret is shown once; give it to the receiver to check the signatures:");
            println!("{}", secret.expose());
        }
        Command::Webhook { command: WebhookCommand::Remove { id } } => {
            let c = ctx(&db, access()?).await?;
            let w = service::remove_webhook(&c, cli_actor(), &id).await?;
            println!("Removed webhook {} to {}; it had taken the events through #{}.", w.id, w.url, w.after_seq);
        }
        Command::Webhook { command: WebhookCommand::List } => {
            let c = ctx(&db, access()?).await?;
            for w in service::all_webhooks(&c).await? {
                let error = w.last_error.as_deref().map(|e| format!(", last error: {e}")).unwrap_or_default();
                println!(
                    "{}  {}  {}  {}  sent through event #{}{}",
                    w.id,
                    w.state.as_str(),
                    w.url,
                    w.events.names().join(" "),
                    w.after_seq,
                    error
                );
            }
        }
        Command::Key { command } => key(&db, &access, command).await?,
        Command::Backup { file } => {
            if file.exists() {
                bail!("{} exists already; a backup never overwrites a file: name a new one", file.display());
            }
            let c = ctx(&db, verify_access(access()?)).await?;
            c.store.backup_to(&file).await?;
            match verified(&file.to_string_lossy(), access()?).await {
                Ok(line) => println!("Backed up to {}. {line}", file.display()),
                Err(e) => bail!("the backup {} was written, but its trail does not verify: {e:#}", file.display()),
            }
        }
        Command::Restore { file } => restore(&db, &file, access()?).await?,
        Command::Policy { command: PolicyCommand::Check { file } } => {
            let p = load_policy(Some(&file))?;
            println!(
                "{} is valid: {} actions; sessions {} minutes by default, at most {}, idle timeout {}.",
                file.display(),
                p.actions().len(),
                p.session.default_minutes,
                p.session.max_minutes,
                p.session.idle_minutes
            );
        }
        Command::Audit { command: AuditCommand::Verify { heads, witnesses, archive } } => {
            let mut witnessed = Vec::new();
            for w in &witnesses {
                witnessed.extend(actas_server::witness::read(w)?);
            }
            let c = ctx(&db, verify_access(access()?)).await?;
            let (v, sealed) = service::verify_trail(&c, &heads, &witnessed, archive.as_deref()).await?;
            if v.ok {
                println!(
                    "The audit trail is intact: {} events, {} signed checkpoints, {} witnessed heads, head {}.",
                    v.events,
                    v.checkpoints,
                    witnessed.len(),
                    v.head.unwrap_or_default()
                );
                match (sealed.sealed_through, &archive) {
                    (Some(through), Some(dir)) => println!(
                        "Events 1 to {through} were checked in the archive {} ({} segments, {} events); the rest in \
                         the database.",
                        dir.display(),
                        sealed.segments,
                        sealed.archived_events
                    ),
                    (Some(through), None) => println!(
                        "Events 1 to {through} are archived in {} sealed segments and were not read: the database's \
                         part was checked from the signed head of the last one. Add --archive DIR to check them too.",
                        sealed.segments
                    ),
                    (None, _) => {}
                }
            } else {
                println!(
                    "The audit trail is NOT intact. First bad event: {}. {}",
                    v.first_bad.unwrap_or_default(),
                    v.problem.unwrap_or_default()
                );
                return Ok(ExitCode::from(2));
            }
        }
        Command::Audit { command: AuditCommand::Export { format } } => export(&db, access()?, format).await?,
        Command::Audit { command: AuditCommand::Archive { before, to, segment_events } } => {
            let c = ctx(&db, access()?).await?;
            let done = service::archive(&c, before, &to, segment_events).await?;
            for m in &done.segments {
                println!(
                    "Sealed events {} to {} ({} to {}) in {}.",
                    m.first_seq,
                    m.last_seq,
                    m.first_at,
                    m.last_at,
                    to.join(&m.file).display()
                );
            }
            match done.sealed_through {
                Some(through) if done.segments.is_empty() => println!(
                    "Nothing more to archive before {}: events 1 to {through} were archived before.{}",
                    actas_core::clock::format_ms(before),
                    if done.removed > 0 {
                        format!(" {} of them left the database now.", done.removed)
                    } else {
                        String::new()
                    }
                ),
                Some(through) => println!(
                    "Events 1 to {through} are archived; {} events left the database. Keep {} with the backups: \
                     `actas audit verify --archive {}` checks it.",
                    done.removed,
                    to.display(),
                    to.display()
                ),
                None => println!("Nothing to archive before {}.", actas_core::clock::format_ms(before)),
            }
            if let Some((hook, after)) = &done.held_by {
                println!(
                    "Events after {after} were kept: webhook {hook} has not sent them yet. Archive again once it has \
                     (or remove the webhook)."
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn key(db: &str, access: &dyn Fn() -> anyhow::Result<KeyAccess>, command: KeyCommand) -> anyhow::Result<()> {
    let options = actas_store::Options::new(db);
    let open = || actas_store::Store::open(&options);
    match command {
        KeyCommand::Rotate { role } => {
            let c = ctx(db, access()?).await?;
            let now = c.clock.now();
            match role {
                RotateRole::Token => {
                    let kid = c.keys.rotate(&c.store, now, cli_actor(), KeyRole::Token).await?;
                    println!("New signing key {kid}; the previous key stays published until its tokens have ended.");
                }
                RotateRole::Checkpoint => {
                    let kid = c.keys.rotate(&c.store, now, cli_actor(), KeyRole::Checkpoint).await?;
                    println!("New checkpoint key {kid}; the previous one still verifies the checkpoints it signed.");
                }
            }
        }
        KeyCommand::Encrypt => {
            let kek = required_kek(&access()?)?;
            let store = open().await?;
            let now = actas_core::Clock::now(&SystemClock);
            let done = actas_server::keys::encrypt_plain(&store, kek.clone(), now, cli_actor()).await?;
            if done.sealed.is_empty() {
                println!("No signing key is stored in the clear; nothing to do.");
            } else {
                println!(
                    "Sealed {} key(s) under key-encryption key {}: {}. They may have been copied while in the clear, so they sign nothing more; new keys: {}.",
                    done.sealed.len(),
                    kek.id(),
                    done.sealed.join(", "),
                    done.made.join(", ")
                );
                println!("Start every server with this key-encryption key from now on.");
            }
        }
        KeyCommand::Rewrap { new_key_encryption_key_file } => {
            let old = required_kek(&access()?)?;
            let new = Arc::new(Kek::from_file(&new_key_encryption_key_file)?);
            let store = open().await?;
            let now = actas_core::Clock::now(&SystemClock);
            let n = actas_server::keys::rewrap(&store, old.clone(), new.clone(), now, cli_actor()).await?;
            println!(
                "Sealed {n} key(s) again, under key-encryption key {} instead of {}. Restart every server with the new one; the old one opens nothing now.",
                new.id(),
                old.id()
            );
        }
        // Making a KEK reads none: the variable may name the file to be made.
        KeyCommand::NewKek { file } => {
            let kek = Kek::write_new(&file)?;
            println!("Wrote key-encryption key {} to {} (readable by its owner only).", kek.id(), file.display());
            println!("Keep a copy apart from the database's backups: without it the signing keys cannot be opened.");
        }
        KeyCommand::List => {
            let c = ctx(db, KeyAccess::PublicOnly).await?;
            println!(
                "{:<10}  {:<18}  {:<24}  {:<24}  public key (Ed25519, base64url)",
                "role", "kid", "created", "retired"
            );
            for k in c.keys.public_keys() {
                println!(
                    "{:<10}  {:<18}  {:<24}  {:<24}  {}",
                    k.role.as_str(),
                    k.kid,
                    actas_core::clock::format_ms(k.created_at),
                    k.retired_at.map(actas_core::clock::format_ms).unwrap_or_else(|| "-".into()),
                    k.public_key
                );
            }
            println!("Token keys are in /.well-known/jwks.json. Checkpoint keys sign \"actas-audit-head\\n{{seq}}\\n{{hash}}\" and are served at /api/v1/audit/keys.");
        }
    }
    Ok(())
}

async fn staff(db: &str, access: KeyAccess, command: StaffCommand) -> anyhow::Result<()> {
    match command {
        StaffCommand::Add { login, name, roles, password_stdin } => {
            let roles = roles
                .iter()
                .map(|r| r.parse::<Role>().map_err(anyhow::Error::msg))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let password = if password_stdin { Some(read_password()?) } else { None };
            let c = ctx(db, access).await?;
            let (s, token) = service::add_staff(&c, cli_actor(), &login, &name, roles, password).await?;
            let roles: Vec<&str> = s.roles.iter().map(|r| r.as_str()).collect();
            println!(
                "Added {} ({}) with roles: {}. Their personal API token is shown once:",
                s.name,
                s.id,
                roles.join(", ")
            );
            println!("{}", token.expose());
        }
        StaffCommand::Password { login } => {
            let password = read_password()?;
            let c = ctx(db, access).await?;
            service::set_password(&c, cli_actor(), &login, &password).await?;
            println!("Password set for {login}.");
        }
        StaffCommand::Disable { login } => {
            let c = ctx(db, access).await?;
            let s = service::disable_staff(&c, cli_actor(), &login).await?;
            println!("{} ({}) is disabled; any live session of theirs has ended.", s.name, s.id);
        }
        StaffCommand::Enable { login } => {
            let c = ctx(db, access).await?;
            let s = service::enable_staff(&c, cli_actor(), &login).await?;
            println!("{} ({}) is enabled again.", s.name, s.id);
        }
    }
    Ok(())
}

async fn export(db: &str, access: KeyAccess, format: ExportFormat) -> anyhow::Result<()> {
    use std::io::Write;
    let c = ctx(db, access).await?;
    let internal =
        |e: &dyn std::fmt::Display| actas_core::Error::Internal(anyhow::anyhow!("cannot write the export: {e}"));
    let all = actas_store::EventFilter::default();
    match format {
        ExportFormat::Csv => {
            let mut w = csv::Writer::from_writer(std::io::stdout().lock());
            w.write_record(export::CSV_COLUMNS)?;
            service::all_events(&c, all, |e| w.write_record(export::csv_record(e)?).map_err(|e| internal(&e))).await?;
            w.flush()?;
        }
        ExportFormat::Jsonl | ExportFormat::Text => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            service::all_events(&c, all, |e| {
                let line = match format {
                    ExportFormat::Jsonl => export::json_line(e)?,
                    _ => export::text_line(e),
                };
                writeln!(out, "{line}").map_err(|e| internal(&e))
            })
            .await?;
            out.flush()?;
        }
    }
    Ok(())
}
