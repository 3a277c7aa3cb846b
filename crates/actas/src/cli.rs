//! The command line: one verb per operation of SPEC §8. Each verb opens
//! the database, calls the same service operation the HTTP API uses, and
//! prints a plain answer; secrets are printed once, as the last line.

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use actas_core::audit::Actor;
use actas_core::model::Role;
use actas_core::policy::Policy;
use actas_core::SystemClock;
use actas_server::{export, service, Config, Ctx, Server};
use anyhow::{bail, Context};
use clap::{Parser, Subcommand, ValueEnum};

/// Support impersonation tied to tickets, approved where risky, shown by a
/// banner, and told afterwards in a tamper-evident audit trail.
#[derive(Debug, Parser)]
#[command(name = "actas", version)]
pub struct Args {
    /// Database: a SQLite file path or sqlite:// URL, or a postgres:// URL.
    #[arg(long, global = true, env = "ACTAS_DATABASE_URL", default_value = "actas.db")]
    pub database: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:7878")]
        listen: SocketAddr,
        /// Policy file (the shipped policy when absent).
        #[arg(long, env = "ACTAS_POLICY")]
        policy: Option<PathBuf>,
        /// Public base URL, used as the tokens' issuer.
        #[arg(long, env = "ACTAS_BASE_URL")]
        base_url: Option<String>,
    },
    /// Serve with demo staff, an app and tickets on a fresh SQLite file,
    /// beside the demo host app "Acme Billing".
    Demo {
        /// Address for actas.
        #[arg(long, default_value = "127.0.0.1:7878")]
        listen: SocketAddr,
        /// Address for the demo host app.
        #[arg(long, default_value = "127.0.0.1:7879")]
        app_listen: SocketAddr,
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
    /// Manage signing keys.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
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
        /// Roles: agent, lead, admin, auditor.
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
        /// A web origin the banner runs on (repeatable).
        #[arg(long = "origin")]
        origins: Vec<String>,
        /// Where the host app takes one-time entry codes (`?code=` is
        /// appended); default: /support/enter on the first origin.
        #[arg(long = "entry-url")]
        entry_url: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Make a new token signing key; the old one stays published until its tokens end.
    Rotate,
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
    },
    /// Print every event.
    Export {
        /// Output format.
        #[arg(long, value_enum)]
        format: ExportFormat,
    },
}

fn parse_head(s: &str) -> Result<(i64, String), String> {
    let (seq, hash) = s.split_once(':').ok_or("expected SEQ:HASH")?;
    let seq = seq.parse::<i64>().map_err(|_| "SEQ must be a number")?;
    if hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err("HASH must be 64 hex digits".into());
    }
    Ok((seq, hash.to_ascii_lowercase()))
}

/// Logs go to standard error: `info` when serving, `warn` otherwise.
pub fn init_logs(args: &Args) {
    let default = match args.command {
        Command::Serve { .. } | Command::Demo { .. } => "info",
        _ => "warn",
    };
    crate::logs::init(default);
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

async fn ctx(database: &str) -> anyhow::Result<Ctx> {
    actas_server::open_ctx(database, Policy::shipped(), Arc::new(SystemClock), "http://127.0.0.1:7878".into()).await
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

/// Runs a command; the exit code tells success.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let db = args.database;
    match args.command {
        Command::Serve { listen, policy, base_url } => {
            let policy = load_policy(policy.as_ref())?;
            let mut config = Config::new(db);
            config.listen = listen;
            config.policy = policy;
            config.base_url = base_url;
            Server::build(config).await?.run().await?;
        }
        Command::Demo { listen, app_listen } => crate::demo::run(listen, app_listen).await?,
        Command::Migrate => {
            actas_store::Store::open(&actas_store::Options { url: db, migrate: true }).await?;
            println!("The database is at the current schema.");
        }
        Command::Staff { command } => staff(&db, command).await?,
        Command::App { command: AppCommand::Add { name, tickets, origins, entry_url } } => {
            let c = ctx(&db).await?;
            let (app, key) = service::add_app(
                &c,
                cli_actor(),
                service::NewApp { entry_url, ..service::NewApp::new(&name, tickets, origins) },
            )
            .await?;
            println!("Registered {} as {}. Its key is shown once; keep it secret:", app.name, app.id);
            println!("{key}");
        }
        Command::Key { command: KeyCommand::Rotate } => {
            let c = ctx(&db).await?;
            let now = c.clock.now();
            let kid = c.keys.rotate(&c.store, now, cli_actor()).await?;
            println!("New signing key {kid}; the previous key stays published until its tokens have ended.");
        }
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
        Command::Audit { command: AuditCommand::Verify { heads } } => {
            let c = ctx(&db).await?;
            let v = service::verify_against(&c, &heads).await?;
            if v.ok {
                println!(
                    "The audit trail is intact: {} events, {} signed checkpoints, head {}.",
                    v.events,
                    v.checkpoints,
                    v.head.unwrap_or_default()
                );
            } else {
                println!(
                    "The audit trail is NOT intact. First bad event: {}. {}",
                    v.first_bad.unwrap_or_default(),
                    v.problem.unwrap_or_default()
                );
                return Ok(ExitCode::from(2));
            }
        }
        Command::Audit { command: AuditCommand::Export { format } } => export(&db, format).await?,
    }
    Ok(ExitCode::SUCCESS)
}

async fn staff(db: &str, command: StaffCommand) -> anyhow::Result<()> {
    match command {
        StaffCommand::Add { login, name, roles, password_stdin } => {
            let roles = roles
                .iter()
                .map(|r| r.parse::<Role>().map_err(anyhow::Error::msg))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let password = if password_stdin { Some(read_password()?) } else { None };
            let c = ctx(db).await?;
            let (s, token) = service::add_staff(&c, cli_actor(), &login, &name, roles, password).await?;
            let roles: Vec<&str> = s.roles.iter().map(|r| r.as_str()).collect();
            println!(
                "Added {} ({}) with roles: {}. Their personal API token is shown once:",
                s.name,
                s.id,
                roles.join(", ")
            );
            println!("{token}");
        }
        StaffCommand::Password { login } => {
            let password = read_password()?;
            let c = ctx(db).await?;
            service::set_password(&c, &login, &password).await?;
            println!("Password set for {login}.");
        }
        StaffCommand::Disable { login } => {
            let c = ctx(db).await?;
            let s = service::disable_staff(&c, cli_actor(), &login).await?;
            println!("{} ({}) is disabled; any live session of theirs has ended.", s.name, s.id);
        }
    }
    Ok(())
}

async fn export(db: &str, format: ExportFormat) -> anyhow::Result<()> {
    use std::io::Write;
    let c = ctx(db).await?;
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
