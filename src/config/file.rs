//! The YAML shape of the config file, as serde reads it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::{defaults, ConfigError, HumanDuration, Levels};

pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub targets: Vec<Spanned<TargetSpec>>,
    #[serde(default)]
    pub pools: Vec<Spanned<PoolSpec>>,
    #[serde(default)]
    pub thresholds: Thresholds,
    #[serde(default)]
    pub limits: Limits,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    pub name: String,
    pub dsn: String,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    #[serde(default)]
    pub tls: TlsSpec,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: HumanDuration,
    #[serde(default = "default_statement_timeout")]
    pub statement_timeout: HumanDuration,
    #[serde(default)]
    pub extra_port: Option<u16>,
}

fn default_connect_timeout() -> HumanDuration {
    HumanDuration(DEFAULT_CONNECT_TIMEOUT)
}
fn default_statement_timeout() -> HumanDuration {
    HumanDuration(DEFAULT_STATEMENT_TIMEOUT)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSpec {
    #[serde(default)]
    pub mode: TlsMode,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// MySQL client TLS modes, named as `mysql --ssl-mode` names them.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TlsMode {
    Disabled,
    #[default]
    Preferred,
    Required,
    VerifyCa,
    VerifyIdentity,
}

impl fmt::Display for TlsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsMode::Disabled => "disabled",
            TlsMode::Preferred => "preferred",
            TlsMode::Required => "required",
            TlsMode::VerifyCa => "verify_ca",
            TlsMode::VerifyIdentity => "verify_identity",
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSpec {
    pub name: String,
    #[serde(rename = "match")]
    pub matcher: MatchSpec,
    pub size: u32,
    #[serde(default)]
    pub max_overflow: u32,
    #[serde(default = "one")]
    pub processes: u32,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub idle_sessions: IdleSessions,
}

fn one() -> u32 {
    1
}

/// What the pool's idle sessions (`Sleep`, no transaction) are to the application.
#[derive(Clone, Copy, Debug, Default, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum IdleSessions {
    /// Checked in, waiting in the pool: available. SQLAlchemy's QueuePool keeps up to
    /// `pool_size` connections open when checked in, and its default reset-on-return rolls
    /// back, so a checked-in connection holds no transaction.
    #[default]
    Parked,
    /// Checked out by the application even while idle (an app in autocommit mode that holds
    /// its connection across requests): idle sessions hold slots of the pool.
    CheckedOut,
}

/// Which sessions belong to a pool. Every named field must match.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MatchSpec {
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub client_host: Option<String>,
    #[serde(default)]
    pub db: Option<String>,
    /// Connect attributes the client sent (`performance_schema.session_connect_attrs`), e.g.
    /// `program_name: kefu-flask`: the one way to tell apart apps that share a MySQL user.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

impl MatchSpec {
    pub fn is_empty(&self) -> bool {
        self.user.is_none()
            && self.client_host.is_none()
            && self.db.is_none()
            && self.attributes.is_empty()
    }
}

impl fmt::Display for MatchSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = [
            ("user", &self.user),
            ("client_host", &self.client_host),
            ("db", &self.db),
        ]
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}: {v}")))
        .collect();
        if !self.attributes.is_empty() {
            let attrs: Vec<String> = self
                .attributes
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            parts.push(format!("attributes: {{ {} }}", attrs.join(", ")));
        }
        write!(f, "{{ {} }}", parts.join(", "))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    #[serde(default = "default_idle_in_transaction")]
    pub idle_in_transaction: HumanDuration,
    #[serde(default = "default_long_query")]
    pub long_query: HumanDuration,
    #[serde(default = "default_lock_wait")]
    pub lock_wait: HumanDuration,
    #[serde(default = "default_pool_warning")]
    pub pool_utilization_warning: f64,
    #[serde(default = "default_pool_critical")]
    pub pool_utilization_critical: f64,
    #[serde(default = "default_connections_warning")]
    pub connections_warning: f64,
    #[serde(default = "default_connections_critical")]
    pub connections_critical: f64,
    #[serde(default = "default_user_connections_warning")]
    pub user_connections_warning: f64,
    #[serde(default = "default_user_connections_critical")]
    pub user_connections_critical: f64,
    #[serde(default = "default_connection_churn_warning")]
    pub connection_churn_warning: f64,
    #[serde(default = "default_connection_churn_critical")]
    pub connection_churn_critical: f64,
}

// Every default below is the mixin's (mixin/thresholds.json, read by build.rs).
fn default_pool_warning() -> f64 {
    defaults::POOL_UTILIZATION_WARNING
}
fn default_pool_critical() -> f64 {
    defaults::POOL_UTILIZATION_CRITICAL
}
fn default_connections_warning() -> f64 {
    defaults::CONNECTIONS_WARNING
}
fn default_connections_critical() -> f64 {
    defaults::CONNECTIONS_CRITICAL
}
fn default_user_connections_warning() -> f64 {
    defaults::USER_CONNECTIONS_WARNING
}
fn default_user_connections_critical() -> f64 {
    defaults::USER_CONNECTIONS_CRITICAL
}
fn default_connection_churn_warning() -> f64 {
    defaults::CONNECTION_CHURN_WARNING
}
fn default_connection_churn_critical() -> f64 {
    defaults::CONNECTION_CHURN_CRITICAL
}
fn default_idle_in_transaction() -> HumanDuration {
    HumanDuration::from_secs(defaults::IDLE_IN_TRANSACTION_SECONDS)
}
fn default_long_query() -> HumanDuration {
    HumanDuration::from_secs(defaults::LONG_QUERY_SECONDS)
}
fn default_lock_wait() -> HumanDuration {
    HumanDuration::from_secs(defaults::LOCK_WAIT_SECONDS)
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            idle_in_transaction: default_idle_in_transaction(),
            long_query: default_long_query(),
            lock_wait: default_lock_wait(),
            pool_utilization_warning: default_pool_warning(),
            pool_utilization_critical: default_pool_critical(),
            connections_warning: default_connections_warning(),
            connections_critical: default_connections_critical(),
            user_connections_warning: default_user_connections_warning(),
            user_connections_critical: default_user_connections_critical(),
            connection_churn_warning: default_connection_churn_warning(),
            connection_churn_critical: default_connection_churn_critical(),
        }
    }
}

impl From<Thresholds> for super::Thresholds {
    fn from(t: Thresholds) -> Self {
        let levels = |warning, critical| Levels { warning, critical };
        super::Thresholds {
            idle_in_transaction: t.idle_in_transaction.0,
            long_query: t.long_query.0,
            lock_wait: t.lock_wait.0,
            pool_utilization: levels(t.pool_utilization_warning, t.pool_utilization_critical),
            connections: levels(t.connections_warning, t.connections_critical),
            user_connections: levels(t.user_connections_warning, t.user_connections_critical),
            connection_churn: levels(t.connection_churn_warning, t.connection_churn_critical),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(default = "default_max_label_values")]
    pub max_label_values: usize,
    #[serde(default = "default_connects_per_server_per_second")]
    pub connects_per_server_per_second: f64,
}

fn default_max_label_values() -> usize {
    50
}

/// A server takes 10 logins a second from a starting exporter without noticing; 40 targets
/// on one server are all connected within 4 s.
fn default_connects_per_server_per_second() -> f64 {
    10.0
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_label_values: default_max_label_values(),
            connects_per_server_per_second: default_connects_per_server_per_second(),
        }
    }
}

impl From<Limits> for super::Limits {
    fn from(l: Limits) -> Self {
        super::Limits {
            max_label_values: l.max_label_values,
            connects_per_server_per_second: l.connects_per_server_per_second,
        }
    }
}

/// Reads the YAML; errors name the field path and the line.
pub fn parse(text: &str) -> Result<FileConfig, ConfigError> {
    super::yaml::read(text)
}
