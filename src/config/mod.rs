//! The configuration file (examples/config.yml documents every field): what to watch, which
//! pools exist, when to worry.
//!
//! Loading is two steps: serde reads the YAML into `file::*` structs (unknown fields are
//! refused, every error carries its field path and line), then `validate.rs` turns them into
//! the effective [`Config`], reading password files and checking what serde cannot.

mod dsn;
mod duration;
mod file;
mod matcher;
mod render;
mod tls;
mod validate;
pub(crate) mod yaml;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use dsn::{parse_dsn, Dsn, Secret};
pub use duration::{parse_duration, HumanDuration};
pub use file::{IdleSessions, MatchSpec, TlsMode};
pub use matcher::{valid_attribute_name, Client, Matcher};
pub use tls::{load_ca_file, pem_problem};

/// The effective, validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub targets: Vec<TargetConfig>,
    pub pools: Vec<PoolConfig>,
    pub thresholds: Thresholds,
    pub limits: Limits,
}

#[derive(Clone, Debug)]
pub struct TargetConfig {
    pub name: String,
    pub dsn: Dsn,
    pub password: Option<Secret>,
    /// Where the password came from, for `config check` (never the value).
    pub password_source: PasswordSource,
    pub tls: TlsConfig,
    pub connect_timeout: Duration,
    pub statement_timeout: Duration,
    /// MariaDB's `extra_port`: tried when the main port answers "too many connections".
    pub extra_port: Option<u16>,
}

/// Where a target's password came from: said by `config check`, never the value. The first
/// that exists wins, in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasswordSource {
    /// `password_file`.
    File,
    /// The DSN's `user:password@`.
    Dsn,
    /// The environment variable `MYSQL_PASSWORD`.
    Env,
    /// No password.
    None,
}

impl fmt::Display for PasswordSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PasswordSource::File => "password_file",
            PasswordSource::Dsn => "dsn",
            PasswordSource::Env => "env MYSQL_PASSWORD",
            PasswordSource::None => "none",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsConfig {
    pub mode: TlsMode,
    pub ca_file: Option<PathBuf>,
}

#[derive(Clone, Debug)]
pub struct PoolConfig {
    pub name: String,
    pub matcher: Matcher,
    pub size: u32,
    pub max_overflow: u32,
    pub processes: u32,
    /// The target this pool's sessions live on; `None`: every target.
    pub target: Option<String>,
    /// Whether idle sessions are parked in the pool (available) or checked out (held).
    pub idle_sessions: IdleSessions,
}

impl PoolConfig {
    /// What one application process can open: SQLAlchemy's size + max_overflow.
    pub fn process_capacity(&self) -> u64 {
        u64::from(self.size) + u64::from(self.max_overflow)
    }

    /// What the application can open at most: (size + overflow) × processes.
    pub fn capacity(&self) -> u64 {
        self.process_capacity() * u64::from(self.processes)
    }

    /// Whether the pool's sessions live on the target named `target`.
    pub fn lives_on(&self, target: &str) -> bool {
        self.target.as_deref().is_none_or(|t| t == target)
    }
}

/// The defaults shared with the bundled alerts, read from `mixin/thresholds.json` when the
/// exporter is built (build.rs): one file, so `check` and the alerts cannot disagree.
pub mod defaults {
    include!(concat!(env!("OUT_DIR"), "/thresholds.rs"));
}

/// When `check` says WARNING or CRITICAL (the alerting rules use the same defaults).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thresholds {
    pub idle_in_transaction: Duration,
    pub long_query: Duration,
    /// A lock wait longer than this behind one root blocker is a lock chain (InnoDB gives up
    /// a row-lock wait at `innodb_lock_wait_timeout`, 50 s by default: this must be well
    /// below).
    pub lock_wait: Duration,
    /// Held sessions / the pool's capacity.
    pub pool_utilization: Levels,
    /// Threads_connected / max_connections.
    pub connections: Levels,
    /// One user's sessions / its connection limit (`MAX_USER_CONNECTIONS`): at 1 the server
    /// refuses the next login of that user, whatever the pools say.
    pub user_connections: Levels,
    /// Connections one account opens per second (not a ratio): an app that connects per
    /// request instead of keeping a pool.
    pub connection_churn: Levels,
}

/// A ratio's warning and critical levels: at or above `critical` is critical, at or above
/// `warning` a warning. Validated at load: both above 0, warning not above critical.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Levels {
    pub warning: f64,
    pub critical: f64,
}

impl Default for Thresholds {
    /// The defaults of `examples/config.yml`, which the alerting rules use too.
    fn default() -> Self {
        file::Thresholds::default().into()
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    pub max_label_values: usize,
    /// How many of its targets' connections the exporter opens per second to one server
    /// (host and port) when it starts: a fleet's first connects, spread and jittered.
    pub connects_per_server_per_second: f64,
}

impl Default for Limits {
    /// The file's defaults: a config without `limits:`.
    fn default() -> Self {
        file::Limits::default().into()
    }
}

/// A configuration error: where it is and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: Option<String>,
    pub line: Option<u64>,
    pub path: Option<String>,
    pub message: String,
}

impl ConfigError {
    fn at(path: impl Into<String>, line: Option<u64>, message: impl Into<String>) -> Self {
        ConfigError {
            file: None,
            line,
            path: Some(path.into()),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{file}:{line}: ")?,
            (Some(file), None) => write!(f, "{file}: ")?,
            (None, Some(line)) => write!(f, "line {line}: ")?,
            (None, None) => {}
        }
        if let Some(path) = &self.path {
            write!(f, "{path}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Reads and validates a config file.
pub fn load(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
    let display = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: Some(display.clone()),
        line: None,
        path: None,
        message: format!("cannot read the config file: {e}; pass it with --config.file"),
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    parse(&text, base, env).map_err(|mut e| {
        e.file = Some(display);
        e
    })
}

/// Parses and validates config text; relative `password_file`s resolve against `base`.
pub fn parse(
    text: &str,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let raw = file::parse(text)?;
    validate::validate(raw, base, env)
}

/// A config with one target from `--mysql.dsn` / `MYSQL_DSN`, for running without a file.
pub fn from_dsn(dsn: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
    let dsn = parse_dsn(dsn).map_err(|m| ConfigError::at("--mysql.dsn", None, m))?;
    let (password, password_source) =
        validate::resolve_password(&dsn, None, env, "--mysql.dsn", None)?;
    Ok(Config {
        targets: vec![TargetConfig {
            name: "default".into(),
            dsn,
            password,
            password_source,
            tls: TlsConfig {
                mode: TlsMode::Preferred,
                ca_file: None,
            },
            connect_timeout: file::DEFAULT_CONNECT_TIMEOUT,
            statement_timeout: file::DEFAULT_STATEMENT_TIMEOUT,
            extra_port: None,
        }],
        pools: Vec::new(),
        thresholds: file::Thresholds::default().into(),
        limits: file::Limits::default().into(),
    })
}

impl Config {
    /// The pools whose sessions live on `target` (those without a `target` live on every one).
    pub fn pools_for(&self, target: &str) -> Vec<PoolConfig> {
        self.pools
            .iter()
            .filter(|p| p.lives_on(target))
            .cloned()
            .collect()
    }

    /// The effective config as YAML, secrets redacted: what `config check` prints. Written
    /// by serde, so what needs quoting is quoted (a glob like `*_worker` is not an alias),
    /// and it reads back as the same config (a test says so).
    pub fn render(&self) -> String {
        serde_saphyr::to_string(&render::Effective::of(self))
            .unwrap_or_else(|e| format!("# the config cannot be shown: {e}\n"))
    }
}

#[cfg(test)]
mod tests;
