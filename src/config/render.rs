//! The effective config in the file's own shape, for `config check`: defaults filled in,
//! secrets replaced by where they come from, each pool's capacity spelled out.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Config, HumanDuration, IdleSessions, MatchSpec};

#[derive(Serialize)]
pub struct Effective {
    targets: Vec<Target>,
    pools: Vec<Pool>,
    thresholds: Thresholds,
    limits: Limits,
}

#[derive(Serialize)]
struct Target {
    name: String,
    dsn: String,
    /// `<redacted>` or `<none>`: never the value.
    password: &'static str,
    password_source: String,
    tls: Tls,
    connect_timeout: String,
    statement_timeout: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    extra_port: Option<u16>,
}

#[derive(Serialize)]
struct Tls {
    mode: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    ca_file: Option<String>,
}

#[derive(Serialize)]
struct Pool {
    name: String,
    #[serde(rename = "match")]
    matcher: Match,
    size: u32,
    max_overflow: u32,
    processes: u32,
    /// (size + max_overflow) × processes; `config check` shows it, the file has no such field.
    capacity: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<String>,
    idle_sessions: IdleSessions,
}

#[derive(Serialize)]
struct Match {
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    db: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    attributes: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct Thresholds {
    idle_in_transaction: String,
    long_query: String,
    lock_wait: String,
    pool_utilization_warning: f64,
    pool_utilization_critical: f64,
    connections_warning: f64,
    connections_critical: f64,
    user_connections_warning: f64,
    user_connections_critical: f64,
    connection_churn_warning: f64,
    connection_churn_critical: f64,
}

#[derive(Serialize)]
struct Limits {
    max_label_values: usize,
    connects_per_server_per_second: f64,
}

impl Effective {
    pub fn of(c: &Config) -> Self {
        let t = &c.thresholds;
        Effective {
            targets: c
                .targets
                .iter()
                .map(|t| Target {
                    name: t.name.clone(),
                    dsn: t.dsn.to_string(),
                    password: if t.password.is_some() {
                        "<redacted>"
                    } else {
                        "<none>"
                    },
                    password_source: t.password_source.to_string(),
                    tls: Tls {
                        mode: t.tls.mode.to_string(),
                        ca_file: t.tls.ca_file.as_ref().map(|p| p.display().to_string()),
                    },
                    connect_timeout: HumanDuration(t.connect_timeout).to_string(),
                    statement_timeout: HumanDuration(t.statement_timeout).to_string(),
                    extra_port: t.extra_port,
                })
                .collect(),
            pools: c
                .pools
                .iter()
                .map(|p| {
                    let MatchSpec {
                        user,
                        client_host,
                        db,
                        attributes,
                    } = p.matcher.spec();
                    Pool {
                        name: p.name.clone(),
                        matcher: Match {
                            user,
                            client_host,
                            db,
                            attributes,
                        },
                        size: p.size,
                        max_overflow: p.max_overflow,
                        processes: p.processes,
                        capacity: p.capacity(),
                        target: p.target.clone(),
                        idle_sessions: p.idle_sessions,
                    }
                })
                .collect(),
            thresholds: Thresholds {
                idle_in_transaction: HumanDuration(t.idle_in_transaction).to_string(),
                long_query: HumanDuration(t.long_query).to_string(),
                lock_wait: HumanDuration(t.lock_wait).to_string(),
                pool_utilization_warning: t.pool_utilization.warning,
                pool_utilization_critical: t.pool_utilization.critical,
                connections_warning: t.connections.warning,
                connections_critical: t.connections.critical,
                user_connections_warning: t.user_connections.warning,
                user_connections_critical: t.user_connections.critical,
                connection_churn_warning: t.connection_churn.warning,
                connection_churn_critical: t.connection_churn.critical,
            },
            limits: Limits {
                max_label_values: c.limits.max_label_values,
                connects_per_server_per_second: c.limits.connects_per_server_per_second,
            },
        }
    }
}
