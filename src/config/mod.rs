//! The configuration file (examples/config.yml documents every field): what to watch, which
//! pools exist, when to worry.
//!
//! Loading is two steps: serde reads the YAML into `file::*` structs (unknown fields are
//! refused, every error carries its field path and line), then [`validate`] turns them into
//! the effective [`Config`], reading password files and checking what serde cannot.

mod dsn;
mod duration;
mod file;
mod matcher;
mod render;
mod tls;
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_label_values: usize,
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
    validate(raw, base, env)
}

/// A config with one target from `--mysql.dsn` / `MYSQL_DSN`, for running without a file.
pub fn from_dsn(dsn: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
    let dsn = parse_dsn(dsn).map_err(|m| ConfigError::at("--mysql.dsn", None, m))?;
    let (password, password_source) = resolve_password(&dsn, None, env, "--mysql.dsn", None)?;
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

fn validate(
    raw: file::FileConfig,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let targets = validate_targets(raw.targets, base, env)?;
    let pools = validate_pools(raw.pools, &targets)?;
    check_thresholds(&raw.thresholds)?;
    check_limits(&raw.limits)?;
    Ok(Config {
        targets,
        pools,
        thresholds: raw.thresholds.into(),
        limits: raw.limits.into(),
    })
}

/// A config without a target would start an exporter that watches nothing.
fn validate_targets(
    raw: Vec<serde_saphyr::Spanned<file::TargetSpec>>,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<TargetConfig>, ConfigError> {
    if raw.is_empty() {
        return Err(ConfigError::at(
            "targets",
            None,
            "no target is configured; add one, e.g. `targets: [{name: primary, dsn: \"mysql://exporter@127.0.0.1:3306\"}]`",
        ));
    }
    let mut targets: Vec<TargetConfig> = Vec::new();
    for (i, spanned) in raw.into_iter().enumerate() {
        let line = Some(spanned.referenced.line());
        let path = format!("targets[{i}]");
        let target = validate_target(spanned.value, &targets, base, env, &path, line)?;
        targets.push(target);
    }
    Ok(targets)
}

/// Names label every series, so one used twice would merge two targets' metrics.
fn validate_target(
    t: file::TargetSpec,
    earlier: &[TargetConfig],
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    path: &str,
    line: Option<u64>,
) -> Result<TargetConfig, ConfigError> {
    check_name(&t.name, &format!("{path}.name"), line)?;
    if earlier.iter().any(|o| o.name == t.name) {
        return Err(ConfigError::at(
            format!("{path}.name"),
            line,
            format!(
                "target name `{}` is used twice; names must be unique",
                t.name
            ),
        ));
    }
    let dsn = parse_dsn(&t.dsn).map_err(|m| ConfigError::at(format!("{path}.dsn"), line, m))?;
    let password_file = t.password_file.map(|p| base.join(p));
    let (password, password_source) =
        resolve_password(&dsn, password_file.as_deref(), env, path, line)?;
    let tls_ca = t.tls.ca_file.map(|p| base.join(p));
    check_tls(t.tls.mode, tls_ca.as_deref(), path, line)?;
    if t.connect_timeout.0.is_zero() || t.statement_timeout.0.is_zero() {
        return Err(ConfigError::at(
            path,
            line,
            "connect_timeout and statement_timeout must be above 0s",
        ));
    }
    Ok(TargetConfig {
        name: t.name,
        dsn,
        password,
        password_source,
        tls: TlsConfig {
            mode: t.tls.mode,
            ca_file: tls_ca,
        },
        connect_timeout: t.connect_timeout.0,
        statement_timeout: t.statement_timeout.0,
        extra_port: t.extra_port,
    })
}

/// Pools are checked in file order because a session belongs to the first pool that
/// matches: each one is judged against those before it.
fn validate_pools(
    raw: Vec<serde_saphyr::Spanned<file::PoolSpec>>,
    targets: &[TargetConfig],
) -> Result<Vec<PoolConfig>, ConfigError> {
    let mut pools: Vec<PoolConfig> = Vec::new();
    for (i, spanned) in raw.into_iter().enumerate() {
        let line = Some(spanned.referenced.line());
        let path = format!("pools[{i}]");
        let pool = validate_pool(spanned.value, &pools, targets, &path, line)?;
        pools.push(pool);
    }
    Ok(pools)
}

/// One pool against the pools before it (`earlier`) and the known targets.
fn validate_pool(
    p: file::PoolSpec,
    earlier: &[PoolConfig],
    targets: &[TargetConfig],
    path: &str,
    line: Option<u64>,
) -> Result<PoolConfig, ConfigError> {
    check_name(&p.name, &format!("{path}.name"), line)?;
    if earlier.iter().any(|o| o.name == p.name) {
        return Err(ConfigError::at(
            format!("{path}.name"),
            line,
            format!("pool name `{}` is used twice; names must be unique", p.name),
        ));
    }
    let matcher = pool_matcher(&p, earlier, path, line)?;
    check_pool_sizes(&p, path, line)?;
    if let Some(target) = &p.target {
        check_pool_target(target, targets, path, line)?;
    }
    Ok(PoolConfig {
        name: p.name,
        matcher,
        size: p.size,
        max_overflow: p.max_overflow,
        processes: p.processes,
        target: p.target,
        idle_sessions: p.idle_sessions,
    })
}

/// A pool whose sessions all go to an earlier pool would always read zero, which looks
/// healthy and hides the misconfiguration, so it is refused.
fn pool_matcher(
    p: &file::PoolSpec,
    earlier: &[PoolConfig],
    path: &str,
    line: Option<u64>,
) -> Result<Matcher, ConfigError> {
    if p.matcher.is_empty() {
        return Err(ConfigError::at(
            format!("{path}.match"),
            line,
            "an empty match would take every session; name at least one of `user`, `client_host`, `db`",
        ));
    }
    let matcher = Matcher::compile(&p.matcher)
        .map_err(|(field, m)| ConfigError::at(format!("{path}.match.{field}"), line, m))?;
    let same_target =
        |o: &PoolConfig| o.target.is_none() || p.target.is_none() || o.target == p.target;
    if let Some((j, shadow)) = earlier
        .iter()
        .enumerate()
        .find(|(_, o)| same_target(o) && o.matcher.covers(&matcher))
    {
        return Err(ConfigError::at(
            format!("{path}.match"),
            line,
            format!(
                "pool `{}` can never see a session: every session it matches belongs to pool `{}` \
                 (pools[{j}]), which comes first; a session belongs to the first pool that \
                 matches, so put the more specific pool first",
                p.name, shadow.name
            ),
        ));
    }
    Ok(matcher)
}

/// A zero size or process count would make the capacity zero and utilization undefined.
fn check_pool_sizes(p: &file::PoolSpec, path: &str, line: Option<u64>) -> Result<(), ConfigError> {
    if p.size == 0 {
        return Err(ConfigError::at(
            format!("{path}.size"),
            line,
            "size must be at least 1 (SQLAlchemy's pool_size)",
        ));
    }
    if p.processes == 0 {
        return Err(ConfigError::at(
            format!("{path}.processes"),
            line,
            "processes must be at least 1 (gunicorn workers × hosts)",
        ));
    }
    Ok(())
}

/// A pool bound to an unknown target would silently never be reported.
fn check_pool_target(
    target: &str,
    targets: &[TargetConfig],
    path: &str,
    line: Option<u64>,
) -> Result<(), ConfigError> {
    if targets.iter().any(|t| t.name == target) {
        return Ok(());
    }
    Err(ConfigError::at(
        format!("{path}.target"),
        line,
        format!(
            "no target is named `{target}`; known targets: {}",
            targets
                .iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ))
}

/// The levels are ratios compared with `>=`: zero or NaN would fire always or never, and a
/// warning above the critical level would never be seen before the critical one.
fn check_thresholds(t: &file::Thresholds) -> Result<(), ConfigError> {
    for (name, warning, critical) in [
        (
            "pool_utilization",
            t.pool_utilization_warning,
            t.pool_utilization_critical,
        ),
        ("connections", t.connections_warning, t.connections_critical),
        (
            "user_connections",
            t.user_connections_warning,
            t.user_connections_critical,
        ),
    ] {
        check_levels(name, warning, critical)?;
    }
    Ok(())
}

fn check_levels(name: &str, warning: f64, critical: f64) -> Result<(), ConfigError> {
    for (level, v) in [("warning", warning), ("critical", critical)] {
        if !(v.is_finite() && v > 0.0) {
            return Err(ConfigError::at(
                format!("thresholds.{name}_{level}"),
                None,
                format!("`{v}` must be a ratio above 0, e.g. 0.8 for 80 %"),
            ));
        }
    }
    if warning > critical {
        return Err(ConfigError::at(
            format!("thresholds.{name}_warning"),
            None,
            format!(
                "`{warning}` is above {name}_critical (`{critical}`): a warning must come \
                 before the critical level"
            ),
        ));
    }
    Ok(())
}

/// With no room for a single label value every user and host would fold into "other".
fn check_limits(l: &file::Limits) -> Result<(), ConfigError> {
    if l.max_label_values == 0 {
        return Err(ConfigError::at(
            "limits.max_label_values",
            None,
            "must be at least 1; it caps how many users/hosts get their own label value",
        ));
    }
    Ok(())
}

/// `ca_file` only means something to the verifying modes, and must hold PEM CA certificates.
fn check_tls(
    mode: TlsMode,
    ca_file: Option<&Path>,
    path: &str,
    line: Option<u64>,
) -> Result<(), ConfigError> {
    let Some(ca) = ca_file else {
        return Ok(());
    };
    if !matches!(mode, TlsMode::VerifyCa | TlsMode::VerifyIdentity) {
        return Err(ConfigError::at(
            format!("{path}.tls.ca_file"),
            line,
            format!(
                "a CA is given but tls.mode is {mode}, which does not check the server's \
                 certificate; set mode: verify_ca (or verify_identity), or remove ca_file"
            ),
        ));
    }
    load_ca_file(ca)
        .map(drop)
        .map_err(|m| ConfigError::at(format!("{path}.tls.ca_file"), line, m))
}

fn check_name(name: &str, path: &str, line: Option<u64>) -> Result<(), ConfigError> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ConfigError::at(
            path,
            line,
            format!("`{name}` is not a valid name; use letters, digits, `-`, `_` and `.`"),
        ))
    }
}

/// Password precedence: `password_file`, then the DSN, then `MYSQL_PASSWORD`.
fn resolve_password(
    dsn: &Dsn,
    password_file: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
    path: &str,
    line: Option<u64>,
) -> Result<(Option<Secret>, PasswordSource), ConfigError> {
    if let Some(file) = password_file {
        let text = std::fs::read_to_string(file).map_err(|e| {
            ConfigError::at(
                format!("{path}.password_file"),
                line,
                format!(
                    "cannot read `{}`: {e}; the file must hold the MySQL password",
                    file.display()
                ),
            )
        })?;
        let trimmed = text.trim_end_matches(['\n', '\r']);
        return Ok((Some(Secret::new(trimmed)), PasswordSource::File));
    }
    if let Some(p) = &dsn.password {
        return Ok((Some(p.clone()), PasswordSource::Dsn));
    }
    if let Some(p) = env("MYSQL_PASSWORD") {
        return Ok((Some(Secret::new(p)), PasswordSource::Env));
    }
    Ok((None, PasswordSource::None))
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
