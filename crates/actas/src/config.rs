//! The settings of every command, from four places, each over the next: a
//! flag, an `ACTAS_*` environment variable, the config file (`--config
//! FILE` or `ACTAS_CONFIG`), and the default.
//!
//! The file is TOML in sections (`[server]`, `[database]`, `[keys]`,
//! `[limits]`, `[console]`, `[oidc]`, `[audit]`, `[log]`), one key per
//! setting of [`SETTINGS`]. It is checked whole before anything runs: an
//! unknown section or key, a value of the wrong type or out of range is
//! refused with its line, like the policy. Secrets are not written in it:
//! the OIDC client secret comes from a file it names or from the
//! environment, the key-encryption key from its file or the environment.
//! `actas config show` prints what is in force, each value with where it
//! came from, secrets masked.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use actas_core::id::Secret;
use actas_server::console::oidc::OidcConfig;
use actas_server::http::connections::Limits;
use anyhow::{anyhow, bail, Context};
use toml::Spanned;

use crate::logs::LogFormat;

/// How a setting is written in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Number,
    Bool,
    /// A list of strings; a comma-separated value in the environment, a
    /// repeated flag.
    List,
}

/// One setting: its key in the file (`section.name`), its flag and its
/// environment variable.
#[derive(Debug)]
pub struct Setting {
    /// `section.name` in the file.
    pub key: &'static str,
    /// The flag, when there is one (secrets have none: a command line is
    /// seen by every user of the machine).
    pub flag: Option<&'static str>,
    /// The environment variable.
    pub env: &'static str,
    kind: Kind,
    /// Printed masked.
    secret: bool,
}

const fn s(key: &'static str, flag: Option<&'static str>, env: &'static str, kind: Kind) -> Setting {
    Setting { key, flag, env, kind, secret: false }
}

/// Every setting, in the order `config show` prints them.
pub static SETTINGS: &[Setting] = &[
    s("server.listen", Some("--listen"), "ACTAS_LISTEN", Kind::Text),
    s("server.base_url", Some("--base-url"), "ACTAS_BASE_URL", Kind::Text),
    s("server.policy", Some("--policy"), "ACTAS_POLICY", Kind::Text),
    s("server.witness", Some("--witness"), "ACTAS_WITNESS_FILE", Kind::Text),
    s("server.trusted_proxies", Some("--trusted-proxy"), "ACTAS_TRUSTED_PROXIES", Kind::List),
    s("server.drain_seconds", Some("--drain-seconds"), "ACTAS_DRAIN_SECONDS", Kind::Number),
    Setting { secret: true, ..s("database.url", Some("--database"), "ACTAS_DATABASE_URL", Kind::Text) },
    s("database.pool_size", Some("--pool-size"), "ACTAS_POOL_SIZE", Kind::Number),
    s("keys.key_encryption_key_file", Some("--key-encryption-key-file"), "ACTAS_KEY_ENCRYPTION_KEY_FILE", Kind::Text),
    Setting { secret: true, ..s("keys.key_encryption_key", None, "ACTAS_KEY_ENCRYPTION_KEY", Kind::Text) },
    s("keys.allow_plaintext_keys", Some("--allow-plaintext-keys"), "ACTAS_ALLOW_PLAINTEXT_KEYS", Kind::Bool),
    s("limits.max_connections", Some("--max-connections"), "ACTAS_MAX_CONNECTIONS", Kind::Number),
    s("limits.header_timeout_seconds", Some("--header-timeout"), "ACTAS_HEADER_TIMEOUT", Kind::Number),
    s("limits.idle_timeout_seconds", Some("--idle-timeout"), "ACTAS_IDLE_TIMEOUT", Kind::Number),
    s("limits.body_timeout_seconds", Some("--body-timeout"), "ACTAS_BODY_TIMEOUT", Kind::Number),
    s("limits.password_checks", Some("--password-checks"), "ACTAS_PASSWORD_CHECKS", Kind::Number),
    s("console.password_sign_in", Some("--password-sign-in"), "ACTAS_PASSWORD_SIGN_IN", Kind::Bool),
    s("console.idle_minutes", Some("--console-idle-minutes"), "ACTAS_CONSOLE_IDLE_MINUTES", Kind::Number),
    s("console.absolute_hours", Some("--console-absolute-hours"), "ACTAS_CONSOLE_ABSOLUTE_HOURS", Kind::Number),
    s("oidc.issuer", Some("--oidc-issuer"), "ACTAS_OIDC_ISSUER", Kind::Text),
    s("oidc.client_id", Some("--oidc-client-id"), "ACTAS_OIDC_CLIENT_ID", Kind::Text),
    Setting { secret: true, ..s("oidc.client_secret", None, "ACTAS_OIDC_CLIENT_SECRET", Kind::Text) },
    s("oidc.client_secret_file", None, "ACTAS_OIDC_CLIENT_SECRET_FILE", Kind::Text),
    s("oidc.roles_claim", Some("--oidc-roles-claim"), "ACTAS_OIDC_ROLES_CLAIM", Kind::Text),
    s("oidc.username_claim", Some("--oidc-username-claim"), "ACTAS_OIDC_USERNAME_CLAIM", Kind::Text),
    s("audit.checkpoint_events", Some("--checkpoint-events"), "ACTAS_CHECKPOINT_EVENTS", Kind::Number),
    s("audit.checkpoint_ms", Some("--checkpoint-ms"), "ACTAS_CHECKPOINT_MS", Kind::Number),
    s("log.format", Some("--log-format"), "ACTAS_LOG_FORMAT", Kind::Text),
    s("log.filter", None, "ACTAS_LOG", Kind::Text),
    s("traces.otlp_endpoint", Some("--otlp-endpoint"), "ACTAS_OTLP_ENDPOINT", Kind::Text),
    s("traces.sample_ratio", Some("--traces-sample-ratio"), "ACTAS_TRACES_SAMPLE_RATIO", Kind::Text),
];

fn setting(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.key == key)
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A flag on the command line.
    Flag(&'static str),
    /// An environment variable.
    Env(&'static str),
    /// The config file, at this line.
    File(usize),
    /// The built-in default.
    Default,
}

/// A value as given, before it is read as its type.
#[derive(Debug, Clone)]
struct Raw {
    text: String,
    from: Source,
}

/// The config file, read and checked for its shape: every key known, of
/// its kind. Values are checked by the [`Resolver`] that reads them.
#[derive(Debug, Default)]
pub struct File {
    path: Option<PathBuf>,
    values: BTreeMap<&'static str, Raw>,
}

impl File {
    /// No file: every value from a flag, the environment or a default.
    pub fn none() -> File {
        File::default()
    }

    /// Reads and checks the file at `path`.
    pub fn read(path: &Path) -> anyhow::Result<File> {
        let src = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        File::parse(&src).map(|f| File { path: Some(path.to_path_buf()), ..f }).map_err(|(line, message)| match line {
            Some(line) => anyhow!("{}:{line}: {message}", path.display()),
            None => anyhow!("{}: {message}", path.display()),
        })
    }

    /// Checks a file's text; an error names its line when it has one.
    fn parse(src: &str) -> Result<File, (Option<usize>, String)> {
        type Section = BTreeMap<Spanned<String>, Spanned<toml::Value>>;
        let top: BTreeMap<Spanned<String>, Section> = toml::from_str(src)
            .map_err(|e| (e.span().map(|s| line_of(src, s.start)), e.message().trim().to_string()))?;
        let mut values = BTreeMap::new();
        for (section, table) in top {
            let at = line_of(src, section.span().start);
            let section = section.into_inner();
            if !SETTINGS.iter().any(|s| s.key.split_once('.').is_some_and(|(sec, _)| sec == section)) {
                return Err((Some(at), format!("unknown section [{section}]; the sections are {}", sections())));
            }
            for (name, value) in table {
                let line = line_of(src, name.span().start);
                let name = name.into_inner();
                let key = format!("{section}.{name}");
                let Some(def) = setting(&key) else {
                    return Err((Some(line), unknown_key(&section, &name)));
                };
                if def.secret && def.key != "database.url" {
                    let holder = match def.key {
                        "oidc.client_secret" => "oidc.client_secret_file",
                        _ => "keys.key_encryption_key_file",
                    };
                    return Err((
                        Some(line),
                        format!(
                            "{key}: a secret is not written in the config file; set {} in the environment or name \
                             a file holding it with {holder}",
                            def.env
                        ),
                    ));
                }
                let value_line = line_of(src, value.span().start);
                let text = file_text(def, value.get_ref()).map_err(|m| (Some(value_line), format!("{key}: {m}")))?;
                values.insert(def.key, Raw { text, from: Source::File(line) });
            }
        }
        Ok(File { path: None, values })
    }
}

fn sections() -> String {
    let mut names: Vec<&str> = SETTINGS.iter().filter_map(|s| s.key.split_once('.').map(|(sec, _)| sec)).collect();
    names.dedup();
    names.iter().map(|n| format!("[{n}]")).collect::<Vec<_>>().join(", ")
}

fn unknown_key(section: &str, name: &str) -> String {
    let known: Vec<&str> = SETTINGS
        .iter()
        .filter_map(|s| s.key.split_once('.'))
        .filter(|(sec, _)| *sec == section)
        .map(|(_, n)| n)
        .collect();
    format!("unknown setting {name} in [{section}]; it takes {}", known.join(", "))
}

/// A file value as text, refused when it is not of the setting's kind.
fn file_text(def: &Setting, value: &toml::Value) -> Result<String, String> {
    match (def.kind, value) {
        (Kind::Text, toml::Value::String(s)) => Ok(s.clone()),
        (Kind::Number, toml::Value::Integer(n)) => Ok(n.to_string()),
        (Kind::Bool, toml::Value::Boolean(b)) => Ok(b.to_string()),
        (Kind::List, toml::Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string).ok_or_else(|| "expected a list of strings".to_string()))
            .collect::<Result<Vec<_>, _>>()
            .map(|v| v.join(",")),
        (Kind::Text, _) => Err("expected a string in quotes".into()),
        (Kind::Number, _) => Err("expected a whole number".into()),
        (Kind::Bool, _) => Err("expected true or false".into()),
        (Kind::List, _) => Err("expected a list of strings, like [\"10.0.0.0/8\"]".into()),
    }
}

fn line_of(src: &str, offset: usize) -> usize {
    src.as_bytes()[..offset.min(src.len())].iter().filter(|b| **b == b'\n').count() + 1
}

/// A value shown by `config show`.
#[derive(Debug)]
struct Shown {
    def: &'static Setting,
    text: Option<String>,
    from: Source,
}

/// Reads each setting from the first place that has it, and keeps what
/// it read for `config show`.
pub struct Resolver<'a> {
    file: &'a File,
    env: &'a dyn Fn(&str) -> Option<String>,
    shown: Vec<Shown>,
}

impl fmt::Debug for Resolver<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver").field("file", &self.file.path).finish_non_exhaustive()
    }
}

impl<'a> Resolver<'a> {
    /// Over `file`, reading the environment through `env` (an empty
    /// variable counts as unset).
    pub fn new(file: &'a File, env: &'a dyn Fn(&str) -> Option<String>) -> Resolver<'a> {
        Resolver { file, env, shown: Vec::new() }
    }

    fn raw(&self, def: &'static Setting, flag: Option<String>) -> Option<Raw> {
        if let (Some(text), Some(name)) = (flag, def.flag) {
            return Some(Raw { text, from: Source::Flag(name) });
        }
        if let Some(text) = (self.env)(def.env).filter(|v| !v.trim().is_empty()) {
            return Some(Raw { text, from: Source::Env(def.env) });
        }
        self.file.values.get(def.key).cloned()
    }

    fn place(&self, from: &Source) -> String {
        match from {
            Source::Flag(f) => f.to_string(),
            Source::Env(e) => e.to_string(),
            Source::File(line) => match &self.file.path {
                Some(p) => format!("{}:{line}", p.display()),
                None => format!("line {line}"),
            },
            Source::Default => "the default".into(),
        }
    }

    /// The value of `key`: from `flag`, the environment, the file, else
    /// `default`; read by `parse`, whose error is told with where the
    /// value came from.
    fn get<T>(
        &mut self,
        key: &'static str,
        flag: Option<String>,
        default: Option<&str>,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> anyhow::Result<Option<T>> {
        let def = setting(key).ok_or_else(|| anyhow!("no setting {key}"))?;
        let raw = self.raw(def, flag).or_else(|| default.map(|d| Raw { text: d.to_string(), from: Source::Default }));
        let Some(raw) = raw else {
            self.shown.push(Shown { def, text: None, from: Source::Default });
            return Ok(None);
        };
        let value = parse(raw.text.trim()).map_err(|m| match &raw.from {
            Source::File(_) => anyhow!("{}: {key}: {m}", self.place(&raw.from)),
            Source::Flag(f) => anyhow!("{f} {:?}: {m}", raw.text),
            Source::Env(e) => anyhow!("{e}={:?}: {m}", raw.text),
            Source::Default => anyhow!("the default {key} {:?}: {m}", raw.text),
        })?;
        self.shown.push(Shown { def, text: Some(raw.text), from: raw.from });
        Ok(Some(value))
    }

    fn text(&mut self, key: &'static str, flag: Option<String>) -> anyhow::Result<Option<String>> {
        self.get(key, flag, None, |t| Ok(t.to_string()))
    }

    fn number(
        &mut self,
        key: &'static str,
        flag: Option<u64>,
        default: u64,
        min: u64,
        max: u64,
    ) -> anyhow::Result<u64> {
        let default = default.to_string();
        let n = self.get(key, flag.map(|n| n.to_string()), Some(&default), |t| {
            let n: u64 = t.parse().map_err(|_| format!("expected a whole number, got {t:?}"))?;
            if n < min || n > max {
                return Err(format!("must be from {min} to {max}"));
            }
            Ok(n)
        })?;
        n.ok_or_else(|| anyhow!("{key} has no value"))
    }

    fn boolean(&mut self, key: &'static str, flag: Option<bool>, default: bool) -> anyhow::Result<bool> {
        let default = default.to_string();
        let b = self.get(key, flag.map(|b| b.to_string()), Some(&default), parse_bool)?;
        b.ok_or_else(|| anyhow!("{key} has no value"))
    }

    /// What `config show` prints: the settings read, as a config file
    /// with each value's source beside it, secrets masked.
    pub fn show(&self) -> String {
        let mut out = String::from(
            "# The settings in force. Each comes from the first of: a flag, the environment, the config file, the \
             default.\n",
        );
        match &self.file.path {
            Some(p) => out.push_str(&format!("# Config file: {}\n", p.display())),
            None => out.push_str("# No config file (--config FILE or ACTAS_CONFIG).\n"),
        }
        let mut section = "";
        for def in SETTINGS {
            let Some(shown) = self.shown.iter().find(|s| std::ptr::eq(s.def, def)) else { continue };
            let (sec, name) = def.key.split_once('.').unwrap_or(("", def.key));
            if sec != section {
                out.push_str(&format!("\n[{sec}]\n"));
                section = sec;
            }
            let from = match &shown.from {
                Source::Default if shown.text.is_none() => "not set".to_string(),
                Source::Default => "default".to_string(),
                other => format!("from {}", self.place(other)),
            };
            match &shown.text {
                None => out.push_str(&format!("# {name} =  # {from}, {}\n", def.env)),
                Some(text) => {
                    let shown_text = if def.secret { mask(def, text) } else { text.clone() };
                    out.push_str(&format!("{name} = {}  # {from}\n", toml_value(def.kind, &shown_text)));
                }
            }
        }
        out
    }
}

/// A secret as `config show` prints it: a database URL keeps all but its
/// password; anything else is stars.
fn mask(def: &Setting, text: &str) -> String {
    if def.key != "database.url" {
        return "********".into();
    }
    // scheme://user:password@host/...: the password goes.
    let Some((scheme, rest)) = text.split_once("://") else { return text.to_string() };
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let Some((userinfo, host)) = authority.rsplit_once('@') else { return text.to_string() };
    let Some((user, _)) = userinfo.split_once(':') else { return text.to_string() };
    format!("{scheme}://{user}:********@{host}{}", &rest[authority.len()..])
}

/// A value written as TOML.
fn toml_value(kind: Kind, text: &str) -> String {
    match kind {
        Kind::Number | Kind::Bool => text.to_string(),
        Kind::Text => toml::Value::String(text.to_string()).to_string(),
        Kind::List => {
            let items: Vec<String> = text
                .split(',')
                .map(str::trim)
                .filter(|i| !i.is_empty())
                .map(|i| toml::Value::String(i.to_string()).to_string())
                .collect();
            format!("[{}]", items.join(", "))
        }
    }
}

fn parse_bool(t: &str) -> Result<bool, String> {
    match t.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("expected true or false, got {t:?}")),
    }
}

/// What every command reads: the database, the keys, the log.
#[derive(Debug)]
pub struct Common {
    /// `database.url`.
    pub database: String,
    /// `database.pool_size`: reader connections (PostgreSQL or SQLite).
    pub pool_size: Option<u32>,
    /// `keys.key_encryption_key_file`.
    pub kek_file: Option<PathBuf>,
    /// `keys.key_encryption_key` (base64), from the environment only.
    pub kek: Option<Secret>,
    /// `keys.allow_plaintext_keys`.
    pub allow_plaintext_keys: bool,
    /// `log.format`.
    pub log_format: LogFormat,
    /// `log.filter`, as `tracing`'s `EnvFilter` reads it.
    pub log_filter: Option<String>,
    /// `traces.*`: spans to an OpenTelemetry collector, when set.
    pub traces: Option<crate::logs::Traces>,
}

/// The flags that every command takes.
#[derive(Debug, Default)]
pub struct CommonFlags {
    pub database: Option<String>,
    pub pool_size: Option<u32>,
    pub kek_file: Option<PathBuf>,
    pub allow_plaintext_keys: bool,
    pub log_format: Option<LogFormat>,
    pub otlp_endpoint: Option<String>,
    pub traces_sample_ratio: Option<f64>,
}

impl Resolver<'_> {
    /// The settings every command reads.
    pub fn common(&mut self, flags: CommonFlags) -> anyhow::Result<Common> {
        let database =
            self.get("database.url", flags.database, Some("actas.db"), |t| Ok(t.to_string()))?.unwrap_or_default();
        let pool_size = self.get("database.pool_size", flags.pool_size.map(|n| n.to_string()), None, |t| {
            let n: u32 = t.parse().map_err(|_| format!("expected a whole number, got {t:?}"))?;
            if !(1..=1000).contains(&n) {
                return Err("must be from 1 to 1000".into());
            }
            Ok(n)
        })?;
        let kek_file = self.text("keys.key_encryption_key_file", flags.kek_file.map(path_text))?.map(PathBuf::from);
        let kek = self.text("keys.key_encryption_key", None)?.map(Secret::new);
        let allow_plaintext_keys =
            self.boolean("keys.allow_plaintext_keys", flags.allow_plaintext_keys.then_some(true), false)?;
        let log_format = self
            .get("log.format", flags.log_format.map(|f| f.as_str().to_string()), Some("text"), |t| {
                LogFormat::parse(t).ok_or_else(|| format!("expected text or json, got {t:?}"))
            })?
            .unwrap_or_default();
        let log_filter = self.get("log.filter", None, None, |t| {
            tracing_subscriber::EnvFilter::try_new(t).map(|_| t.to_string()).map_err(|e| e.to_string())
        })?;
        let endpoint = self.get("traces.otlp_endpoint", flags.otlp_endpoint, None, |t| {
            let rest = t.strip_prefix("http://").or_else(|| t.strip_prefix("https://"));
            match rest {
                Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => Ok(t.to_string()),
                _ => Err("expected the collector's http:// address, like http://127.0.0.1:4318".into()),
            }
        })?;
        let sample_ratio = self
            .get("traces.sample_ratio", flags.traces_sample_ratio.map(|r| r.to_string()), Some("1"), |t| {
                match t.parse::<f64>() {
                    Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
                    _ => Err(format!("expected a share from 0 to 1, like 0.1, got {t:?}")),
                }
            })?
            .unwrap_or(1.0);
        let traces = endpoint.map(|endpoint| crate::logs::Traces { endpoint, sample_ratio });
        Ok(Common { database, pool_size, kek_file, kek, allow_plaintext_keys, log_format, log_filter, traces })
    }

    /// The settings of `actas serve`.
    pub fn serve(&mut self, flags: ServeFlags) -> anyhow::Result<Serve> {
        let listen = self
            .get("server.listen", flags.listen.map(|a| a.to_string()), Some("127.0.0.1:7878"), |t| {
                t.parse::<SocketAddr>()
                    .map_err(|_| format!("expected an address and port, like 0.0.0.0:7878, got {t:?}"))
            })?
            .ok_or_else(|| anyhow!("server.listen has no value"))?;
        let base_url = self.get("server.base_url", flags.base_url, None, |t| {
            let host = t.strip_prefix("https://").or_else(|| t.strip_prefix("http://"));
            if host.is_none_or(|h| h.trim_matches('/').is_empty() || h.contains(char::is_whitespace)) {
                return Err("expected an https:// (or http://) URL, like https://actas.example.com".into());
            }
            Ok(t.trim_end_matches('/').to_string())
        })?;
        let policy = self.text("server.policy", flags.policy.map(path_text))?.map(PathBuf::from);
        let witness = self.text("server.witness", flags.witness.map(path_text))?.map(PathBuf::from);
        let proxies = (!flags.trusted_proxies.is_empty()).then(|| flags.trusted_proxies.join(","));
        let trusted_proxies = self
            .get("server.trusted_proxies", proxies, None, |t| {
                t.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(|p| actas_server::http::forwarded::parse_proxy(p).map_err(|e| format!("{p:?}: {e}")))
                    .collect::<Result<Vec<_>, _>>()
            })?
            .unwrap_or_default();
        let drain = self.number("server.drain_seconds", flags.drain_seconds, 10, 1, 600)?;
        let limits = Limits {
            max_connections: self.number("limits.max_connections", flags.max_connections, 1024, 1, 1_000_000)? as usize,
            header_timeout: secs(self.number("limits.header_timeout_seconds", flags.header_timeout, 10, 1, 3600)?),
            idle_timeout: secs(self.number("limits.idle_timeout_seconds", flags.idle_timeout, 60, 1, 86_400)?),
            body_timeout: secs(self.number("limits.body_timeout_seconds", flags.body_timeout, 30, 1, 3600)?),
            drain: secs(drain),
        };
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
        let password_checks = self.number("limits.password_checks", flags.password_checks, cpus, 1, 256)? as usize;
        let password_sign_in =
            self.boolean("console.password_sign_in", flags.password_sign_in.map(|o| o == crate::cli::OnOff::On), true)?;
        let console = actas_server::console::Lifetimes {
            idle: chrono::Duration::minutes(self.number(
                "console.idle_minutes",
                flags.console_idle_minutes,
                30,
                1,
                24 * 60,
            )? as i64),
            absolute: chrono::Duration::hours(self.number(
                "console.absolute_hours",
                flags.console_absolute_hours,
                12,
                1,
                24 * 30,
            )? as i64),
        };
        let issuer = self.text("oidc.issuer", flags.oidc_issuer)?;
        let client_id = self.text("oidc.client_id", flags.oidc_client_id)?;
        let secret = self.text("oidc.client_secret", None)?;
        let secret_file = self.text("oidc.client_secret_file", None)?;
        let roles_claim =
            self.get("oidc.roles_claim", flags.oidc_roles_claim, Some("groups"), |t| Ok(t.to_string()))?;
        let username_claim =
            self.get("oidc.username_claim", flags.oidc_username_claim, Some("preferred_username"), |t| {
                Ok(t.to_string())
            })?;
        let client_secret = match (secret, secret_file) {
            (Some(_), Some(_)) => {
                bail!("both ACTAS_OIDC_CLIENT_SECRET and oidc.client_secret_file are given; give one")
            }
            (Some(s), None) => Some(Secret::new(s)),
            (None, Some(path)) => {
                let s = std::fs::read_to_string(&path)
                    .with_context(|| format!("oidc.client_secret_file: cannot read {path}"))?;
                let s = s.trim_end_matches(['\n', '\r']).to_string();
                if s.is_empty() {
                    bail!("oidc.client_secret_file: {path} is empty");
                }
                Some(Secret::new(s))
            }
            (None, None) => None,
        };
        let oidc = match (issuer, client_id) {
            (Some(issuer), Some(client_id)) => Some(OidcConfig {
                client_secret,
                roles_claim: roles_claim.unwrap_or_else(|| "groups".into()),
                username_claim: username_claim.unwrap_or_else(|| "preferred_username".into()),
                ..OidcConfig::new(issuer, client_id)
            }),
            (None, None) => None,
            (Some(_), None) => bail!("oidc.issuer is set but not oidc.client_id (--oidc-client-id): give both"),
            (None, Some(_)) => bail!("oidc.client_id is set but not oidc.issuer (--oidc-issuer): give both"),
        };
        if !password_sign_in && oidc.is_none() {
            bail!(
                "--password-sign-in off needs --oidc-issuer and --oidc-client-id (in the config file: \
                 console.password_sign_in, oidc.issuer, oidc.client_id): without either, nobody could sign in to the \
                 console"
            );
        }
        let checkpoints = actas_store::CheckpointSchedule {
            events: self.number("audit.checkpoint_events", flags.checkpoint_events, 10_000, 1, 1_000_000)? as i64,
            every: Duration::from_millis(self.number("audit.checkpoint_ms", flags.checkpoint_ms, 1000, 10, 60_000)?),
        };
        Ok(Serve {
            listen,
            base_url,
            policy,
            witness,
            trusted_proxies,
            limits,
            password_checks,
            password_sign_in,
            console,
            oidc,
            checkpoints,
        })
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn path_text(p: PathBuf) -> String {
    p.to_string_lossy().into_owned()
}

/// The flags of `actas serve`; each also has a key in the file and a
/// variable (see [`SETTINGS`]).
#[derive(Debug, Default, clap::Args)]
pub struct ServeFlags {
    /// Address to listen on [default: 127.0.0.1:7878].
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Policy file (the shipped policy when absent).
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Public base URL, used as the tokens' issuer.
    #[arg(long)]
    pub base_url: Option<String>,
    /// Append every signed audit head to this file, outside the database
    /// (one JSON line each; `audit verify --witness FILE`).
    #[arg(long, value_name = "FILE")]
    pub witness: Option<PathBuf>,
    /// A reverse proxy (address or network, like 10.0.0.0/8) whose
    /// X-Forwarded-For names the client; repeat for each. Without one, the
    /// connecting address is the client.
    #[arg(long = "trusted-proxy", value_name = "IP_OR_CIDR")]
    pub trusted_proxies: Vec<String>,
    /// Seconds a stopping server gives requests in flight [default: 10].
    #[arg(long)]
    pub drain_seconds: Option<u64>,
    /// Connections open at once; past it, the longest idle one is closed or
    /// the newcomer waits [default: 1024].
    #[arg(long)]
    pub max_connections: Option<u64>,
    /// Seconds a client has to send a request's head [default: 10].
    #[arg(long)]
    pub header_timeout: Option<u64>,
    /// Seconds a keep-alive connection may wait for its next request
    /// [default: 60].
    #[arg(long)]
    pub idle_timeout: Option<u64>,
    /// Seconds a client has to send a request's body once its head is in
    /// [default: 30].
    #[arg(long)]
    pub body_timeout: Option<u64>,
    /// Console password checks (argon2id, ~19 MiB each) run at once
    /// [default: the number of CPUs].
    #[arg(long)]
    pub password_checks: Option<u64>,
    /// The company's OpenID Connect provider (its issuer URL): staff may
    /// sign in to the console through it. A confidential client's secret is
    /// read from ACTAS_OIDC_CLIENT_SECRET or oidc.client_secret_file.
    #[arg(long, value_name = "URL")]
    pub oidc_issuer: Option<String>,
    /// actas' client id at the provider.
    #[arg(long, value_name = "ID")]
    pub oidc_client_id: Option<String>,
    /// The ID token claim that lists the person's groups, mapped to roles
    /// by the policy's [oidc.roles] [default: groups].
    #[arg(long, value_name = "NAME")]
    pub oidc_roles_claim: Option<String>,
    /// The ID token claim whose value is the staff login [default:
    /// preferred_username].
    #[arg(long, value_name = "NAME")]
    pub oidc_username_claim: Option<String>,
    /// Whether the console takes passwords; off needs --oidc-issuer
    /// [default: on].
    #[arg(long, value_enum, value_name = "on|off")]
    pub password_sign_in: Option<crate::cli::OnOff>,
    /// Minutes a console sign-in lasts without use [default: 30].
    #[arg(long)]
    pub console_idle_minutes: Option<u64>,
    /// Hours a console sign-in lasts at most [default: 12].
    #[arg(long)]
    pub console_absolute_hours: Option<u64>,
    /// Sign the trail's head at the latest this many events after the last
    /// signed one [default: 10000].
    #[arg(long)]
    pub checkpoint_events: Option<u64>,
    /// Sign the trail's head at the latest this many milliseconds after the
    /// first unsigned commit [default: 1000].
    #[arg(long)]
    pub checkpoint_ms: Option<u64>,
}

/// What `actas serve` runs with.
#[derive(Debug)]
pub struct Serve {
    pub listen: SocketAddr,
    pub base_url: Option<String>,
    pub policy: Option<PathBuf>,
    pub witness: Option<PathBuf>,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub limits: Limits,
    pub password_checks: usize,
    pub password_sign_in: bool,
    pub console: actas_server::console::Lifetimes,
    pub oidc: Option<OidcConfig>,
    pub checkpoints: actas_store::CheckpointSchedule,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    fn parse(src: &str) -> File {
        File::parse(src).unwrap()
    }

    fn err(src: &str) -> (Option<usize>, String) {
        File::parse(src).unwrap_err()
    }

    #[test]
    fn a_flag_beats_the_environment_which_beats_the_file_which_beats_the_default() {
        let file = parse("[limits]\nmax_connections = 30\nidle_timeout_seconds = 20\nheader_timeout_seconds = 5\n");
        let env = env(&[("ACTAS_MAX_CONNECTIONS", "40"), ("ACTAS_IDLE_TIMEOUT", "25")]);
        let mut r = Resolver::new(&file, &env);
        let serve = r.serve(ServeFlags { max_connections: Some(50), ..ServeFlags::default() }).unwrap();
        assert_eq!(serve.limits.max_connections, 50);
        assert_eq!(serve.limits.idle_timeout, secs(25));
        assert_eq!(serve.limits.header_timeout, secs(5));
        assert_eq!(serve.limits.body_timeout, secs(30));
        let shown = r.show();
        assert!(shown.contains("max_connections = 50  # from --max-connections"), "{shown}");
        assert!(shown.contains("idle_timeout_seconds = 25  # from ACTAS_IDLE_TIMEOUT"), "{shown}");
        assert!(shown.contains("header_timeout_seconds = 5  # from line 4"), "{shown}");
        assert!(shown.contains("body_timeout_seconds = 30  # default"), "{shown}");
    }

    #[test]
    fn errors_in_the_file_name_their_line() {
        assert_eq!(err("[server]\nlisten = \"0.0.0.0:1\"\n\n[limts]\n").0, Some(4));
        let (line, message) = err("[server]\nlisten = \"0.0.0.0:1\"\nlisen = \"x\"\n");
        assert_eq!(line, Some(3));
        assert!(message.contains("unknown setting lisen in [server]"), "{message}");
        let (line, message) = err("[limits]\n\nmax_connections = \"many\"\n");
        assert_eq!(line, Some(3));
        assert!(message.contains("expected a whole number"), "{message}");
        let (line, _) = err("[server]\nlisten = \n");
        assert_eq!(line, Some(2));
        let file = parse("[limits]\n\nmax_connections = 0\n");
        let none = env(&[]);
        let e = Resolver::new(&file, &none).serve(ServeFlags::default()).unwrap_err().to_string();
        assert_eq!(e, "line 3: limits.max_connections: must be from 1 to 1000000");
    }

    #[test]
    fn secrets_are_refused_in_the_file_and_masked_when_shown() {
        let (line, message) = err("[oidc]\nissuer = \"https://id.example\"\nclient_secret = \"hunter2\"\n");
        assert_eq!(line, Some(3));
        assert!(message.contains("ACTAS_OIDC_CLIENT_SECRET"), "{message}");
        assert!(!message.contains("hunter2"));
        let file = parse("[database]\nurl = \"postgres://actas:s3cret@db:5432/actas\"\n");
        let env = env(&[
            ("ACTAS_OIDC_ISSUER", "https://id.example"),
            ("ACTAS_OIDC_CLIENT_ID", "actas"),
            ("ACTAS_OIDC_CLIENT_SECRET", "hunter2"),
            ("ACTAS_KEY_ENCRYPTION_KEY", "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI="),
        ]);
        let mut r = Resolver::new(&file, &env);
        let common = r.common(CommonFlags::default()).unwrap();
        assert_eq!(common.database, "postgres://actas:s3cret@db:5432/actas");
        let serve = r.serve(ServeFlags::default()).unwrap();
        assert_eq!(serve.oidc.unwrap().client_secret.unwrap().expose(), "hunter2");
        let shown = r.show();
        assert!(!shown.contains("s3cret") && !shown.contains("hunter2") && !shown.contains("c2VjcmV0"), "{shown}");
        assert!(shown.contains("url = \"postgres://actas:********@db:5432/actas\"  # from line 2"), "{shown}");
        assert!(shown.contains("client_secret = \"********\"  # from ACTAS_OIDC_CLIENT_SECRET"), "{shown}");
    }

    #[test]
    fn what_is_shown_reads_back_as_the_same_settings() {
        let file = parse(
            "[server]\nlisten = \"0.0.0.0:9000\"\ntrusted_proxies = [\"10.0.0.0/8\", \"192.168.1.1\"]\n\
             [audit]\ncheckpoint_events = 500\n[log]\nformat = \"json\"\n",
        );
        let none = env(&[]);
        let mut r = Resolver::new(&file, &none);
        let common = r.common(CommonFlags::default()).unwrap();
        let serve = r.serve(ServeFlags::default()).unwrap();
        let shown = r.show();
        let again = parse(&shown);
        let mut r2 = Resolver::new(&again, &none);
        let common2 = r2.common(CommonFlags::default()).unwrap();
        let serve2 = r2.serve(ServeFlags::default()).unwrap();
        assert_eq!(common2.log_format, LogFormat::Json);
        assert_eq!(common.log_format, common2.log_format);
        assert_eq!(serve.listen, serve2.listen);
        assert_eq!(serve.trusted_proxies, serve2.trusted_proxies);
        assert_eq!(serve2.trusted_proxies.len(), 2);
        assert_eq!(serve.checkpoints, serve2.checkpoints);
        assert_eq!(serve.limits.max_connections, serve2.limits.max_connections);
    }

    #[test]
    fn the_example_file_in_the_repository_is_valid_and_sets_every_setting() {
        let file = parse(include_str!("../../../actas.example.toml"));
        let secret = std::env::temp_dir().join(format!("actas-example-secret-{}", std::process::id()));
        std::fs::write(&secret, "s").unwrap();
        let mut file = file;
        if let Some(raw) = file.values.get_mut("oidc.client_secret_file") {
            raw.text = secret.to_string_lossy().into_owned();
        }
        let none = env(&[]);
        let mut r = Resolver::new(&file, &none);
        r.common(CommonFlags::default()).unwrap();
        r.serve(ServeFlags::default()).unwrap();
        let _ = std::fs::remove_file(&secret);
        let unset: Vec<&str> =
            SETTINGS.iter().filter(|s| !s.secret && !file.values.contains_key(s.key)).map(|s| s.key).collect();
        assert_eq!(unset, Vec::<&str>::new(), "the example leaves out settings");
    }

    #[test]
    fn an_identity_provider_half_given_or_a_secret_given_twice_is_refused() {
        let none = File::none();
        let only_issuer = env(&[("ACTAS_OIDC_ISSUER", "https://id.example")]);
        let e = Resolver::new(&none, &only_issuer).serve(ServeFlags::default()).unwrap_err().to_string();
        assert!(e.contains("oidc.issuer is set but not oidc.client_id"), "{e}");
        let only_client = env(&[("ACTAS_OIDC_CLIENT_ID", "actas")]);
        let e = Resolver::new(&none, &only_client).serve(ServeFlags::default()).unwrap_err().to_string();
        assert!(e.contains("oidc.client_id is set but not oidc.issuer"), "{e}");
        let twice = env(&[
            ("ACTAS_OIDC_ISSUER", "https://id.example"),
            ("ACTAS_OIDC_CLIENT_ID", "actas"),
            ("ACTAS_OIDC_CLIENT_SECRET", "hunter2"),
            ("ACTAS_OIDC_CLIENT_SECRET_FILE", "/nonexistent/secret"),
        ]);
        let e = Resolver::new(&none, &twice).serve(ServeFlags::default()).unwrap_err().to_string();
        assert!(e.contains("give one"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn bad_values_from_flags_and_the_environment_say_where_they_came_from() {
        let none = File::none();
        let env = env(&[("ACTAS_LISTEN", "nowhere")]);
        let e = Resolver::new(&none, &env).serve(ServeFlags::default()).unwrap_err().to_string();
        assert!(e.starts_with("ACTAS_LISTEN=\"nowhere\": expected an address"), "{e}");
        let nothing = super::tests::env(&[]);
        let e = Resolver::new(&none, &nothing)
            .serve(ServeFlags { password_sign_in: Some(crate::cli::OnOff::Off), ..ServeFlags::default() })
            .unwrap_err()
            .to_string();
        assert!(e.contains("nobody could sign in"), "{e}");
    }
}
