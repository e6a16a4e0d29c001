//! The `check` report: the successor of the seed's `check_db_pool.py`. Pure: a snapshot
//! with session detail in, a verdict with its reasons out.

use std::collections::BTreeMap;

use serde::Serialize;

use super::connection_ratio;
use super::host::strip_port;
use super::pools::{pool_stats, session_pool, user_limit, user_sessions};
use super::sessions::{classify, SessionState};
use crate::config::{PoolConfig, Thresholds};
use crate::snapshot::{parse_status_value, LockWait, SessionRow, Snapshot};

/// Nagios exit codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Ok = 0,
    Warning = 1,
    Critical = 2,
    Unknown = 3,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warning => "WARNING",
            Status::Critical => "CRITICAL",
            Status::Unknown => "UNKNOWN",
        }
    }
}

/// How many sessions a pool lists as its worst.
pub const WORST_SESSIONS: usize = 5;

#[derive(Clone, Debug, Serialize)]
pub struct TargetReport {
    pub target: String,
    pub version: Option<String>,
    pub error: Option<String>,
    pub connections: Option<u64>,
    pub max_connections: Option<u64>,
    /// connections / max_connections.
    pub connection_ratio: Option<f64>,
    pub pools: Vec<PoolReport>,
    /// Sessions that block others, worst first.
    pub blockers: Vec<Blocker>,
    pub status: Status,
    /// What decided the status, each with its own; worst first once the report is done.
    pub findings: Vec<Finding>,
}

/// One thing `check` found, and how bad it is.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    pub status: Status,
    pub message: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct PoolReport {
    pub pool: String,
    pub capacity: u64,
    pub sessions: u64,
    pub utilization: f64,
    pub by_state: BTreeMap<SessionState, u64>,
    pub oldest_idle_transaction_seconds: u64,
    pub worst: Vec<SessionView>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SessionView {
    pub id: u64,
    pub user: String,
    pub host: String,
    pub db: Option<String>,
    pub state: SessionState,
    /// Seconds in that state (transaction age for idle_in_transaction).
    pub age_seconds: u64,
    pub trx_started: Option<String>,
    pub trx_rows_locked: u64,
    pub last_query: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Blocker {
    pub session: SessionView,
    /// Sessions waiting for it, directly or through others.
    pub blocks: usize,
}

/// The state and age of one session, or `None` for server threads.
pub fn view(s: &SessionRow) -> Option<SessionView> {
    let state = classify(&s.user, &s.command, s.trx_state.as_deref())?;
    let age = match state {
        SessionState::IdleInTransaction => s.trx_age.unwrap_or(s.time),
        _ => s.time,
    };
    Some(SessionView {
        id: s.id,
        user: s.user.clone(),
        host: strip_port(&s.host).to_string(),
        db: s.db.clone(),
        state,
        age_seconds: age,
        trx_started: s.trx_started.clone(),
        trx_rows_locked: s.trx_rows_locked,
        last_query: s.info.as_ref().map(|q| truncate(q, 120)),
    })
}

fn truncate(q: &str, max: usize) -> String {
    let flat: String = q.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        format!("{}…", flat.chars().take(max).collect::<String>())
    }
}

/// For each blocking session, how many sessions wait on it, directly or transitively.
pub fn blockers(waits: &[LockWait]) -> Vec<(u64, usize)> {
    let mut waiting_on: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for w in waits {
        waiting_on.entry(w.blocking).or_default().push(w.waiting);
    }
    let mut out: Vec<(u64, usize)> = waiting_on
        .keys()
        .map(|&b| {
            let mut seen = std::collections::BTreeSet::new();
            let mut stack = vec![b];
            while let Some(x) = stack.pop() {
                for &w in waiting_on.get(&x).into_iter().flatten() {
                    if w != b && seen.insert(w) {
                        stack.push(w);
                    }
                }
            }
            (b, seen.len())
        })
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

/// Builds one target's report from a snapshot read with the Threads, GlobalStatus,
/// GlobalVariables, Sessions and LockWaits sources.
pub fn target_report(
    target: &str,
    snap: &Snapshot,
    pools: &[PoolConfig],
    t: &Thresholds,
) -> TargetReport {
    let server = connection_ratio(snap);
    let mut r = TargetReport {
        target: target.to_string(),
        version: snap.server.as_ref().map(|s| s.version.clone()),
        error: snap.down_reason.clone(),
        connections: server.map(|(used, _, _)| used),
        max_connections: server.map(|(_, max, _)| max),
        connection_ratio: server.map(|(_, _, ratio)| ratio),
        pools: Vec::new(),
        blockers: Vec::new(),
        status: Status::Ok,
        findings: Vec::new(),
    };
    let (Some(groups), Some(sessions)) = (snap.threads.ok(), snap.sessions.ok()) else {
        r.status = Status::Unknown;
        let why = snap
            .down_reason
            .clone()
            .or_else(|| {
                snap.threads
                    .reason()
                    .or(snap.sessions.reason())
                    .map(String::from)
            })
            .unwrap_or_else(|| "no session data".into());
        r.findings.push(Finding {
            status: Status::Unknown,
            message: format!("cannot read the server: {why}"),
        });
        return r;
    };
    let raise = |r: &mut TargetReport, status: Status, message: String| {
        r.status = r.status.max(status);
        r.findings.push(Finding { status, message });
    };
    if let Some((c, m, ratio)) = server {
        if ratio >= t.connections_critical {
            raise(
                &mut r,
                Status::Critical,
                format!(
                    "server connections at {c}/{m} max_connections ({:.0}%)",
                    ratio * 100.0
                ),
            );
        } else if ratio >= t.connections_warning {
            raise(
                &mut r,
                Status::Warning,
                format!(
                    "server connections at {c}/{m} max_connections ({:.0}%)",
                    ratio * 100.0
                ),
            );
        }
    }
    // (the pool, the session) for every client session.
    let views: Vec<(Option<usize>, SessionView)> = sessions
        .iter()
        .filter_map(|s| Some((session_pool(pools, s), view(s)?)))
        .collect();
    let iit_limit = t.idle_in_transaction.as_secs();
    let long_limit = t.long_query.as_secs();
    let attributes = snap.connect_attributes();
    for (i, (p, stats)) in pools
        .iter()
        .zip(pool_stats(pools, groups, &attributes))
        .enumerate()
    {
        if let Some(why) = &stats.unknown {
            // Unknown, not OK: but a real problem elsewhere still decides the status.
            if r.status == Status::Ok {
                r.status = Status::Unknown;
            }
            r.findings.push(Finding {
                status: Status::Unknown,
                message: why.clone(),
            });
            continue;
        }
        let mut mine: Vec<&SessionView> = views
            .iter()
            .filter(|(pool, _)| *pool == Some(i))
            .map(|(_, v)| v)
            .collect();
        // Worst first: leaked transactions (oldest, then those holding most row locks),
        // then lock waits, then long queries.
        mine.sort_by_key(|v| {
            let rank = match v.state {
                SessionState::IdleInTransaction => 0,
                SessionState::LockWait => 1,
                SessionState::Active => 2,
                SessionState::Idle => 3,
            };
            (
                rank,
                std::cmp::Reverse(v.age_seconds),
                std::cmp::Reverse(v.trx_rows_locked),
                v.id,
            )
        });
        let by_state = SessionState::ALL
            .iter()
            .map(|s| (*s, stats.sessions.count(*s)))
            .collect();
        let oldest = stats
            .sessions
            .histogram(SessionState::IdleInTransaction)
            .max;
        let u = stats.utilization();
        let total = stats.sessions.total();
        if u >= t.pool_utilization_critical {
            raise(
                &mut r,
                Status::Critical,
                format!(
                    "pool {} is exhausted: {total}/{} connections in use",
                    p.name, stats.capacity
                ),
            );
        } else if u >= t.pool_utilization_warning {
            raise(
                &mut r,
                Status::Warning,
                format!(
                    "pool {} is at {:.0}% ({total}/{})",
                    p.name,
                    u * 100.0,
                    stats.capacity
                ),
            );
        }
        let global_user_limit = snap
            .variable("max_user_connections")
            .and_then(parse_status_value);
        if let Some((user, limit)) = user_limit(
            p,
            snap.account_limits.ok().map(Vec::as_slice),
            global_user_limit,
        ) {
            let n = user_sessions(groups, &user);
            let ratio = n as f64 / limit as f64;
            let why = format!(
                "pool {}: user {user} has {n} of its {limit} connections (MAX_USER_CONNECTIONS)",
                p.name
            );
            if ratio >= t.pool_utilization_critical {
                raise(&mut r, Status::Critical, why);
            } else if ratio >= t.pool_utilization_warning {
                raise(&mut r, Status::Warning, why);
            }
        }
        let leaked: Vec<&&SessionView> = mine
            .iter()
            .filter(|v| v.state == SessionState::IdleInTransaction && v.age_seconds > iit_limit)
            .collect();
        if !leaked.is_empty() {
            let ids: Vec<String> = leaked.iter().take(10).map(|v| v.id.to_string()).collect();
            raise(
                &mut r,
                Status::Warning,
                format!(
                    "pool {}: {} sessions idle in transaction for more than {iit_limit}s (oldest {oldest}s; ids {}{}) — a leak: the app did not commit/rollback and return them (session.remove())",
                    p.name,
                    leaked.len(),
                    ids.join(","),
                    if leaked.len() > 10 { ",…" } else { "" }
                ),
            );
        }
        r.pools.push(PoolReport {
            pool: p.name.clone(),
            capacity: stats.capacity,
            sessions: total,
            utilization: u,
            by_state,
            oldest_idle_transaction_seconds: oldest,
            worst: mine.into_iter().take(WORST_SESSIONS).cloned().collect(),
        });
    }
    let views: Vec<SessionView> = views.into_iter().map(|(_, v)| v).collect();
    let long: Vec<&SessionView> = views
        .iter()
        .filter(|v| v.state == SessionState::Active && v.age_seconds > long_limit)
        .collect();
    if !long.is_empty() {
        let oldest = long.iter().map(|v| v.age_seconds).max().unwrap_or(0);
        raise(
            &mut r,
            Status::Warning,
            format!(
                "{} statements running longer than {long_limit}s (oldest {oldest}s)",
                long.len()
            ),
        );
    }
    if let Some(waits) = snap.lock_waits.ok() {
        for (id, n) in blockers(waits) {
            let Some(v) = views.iter().find(|v| v.id == id) else {
                continue;
            };
            if v.state == SessionState::IdleInTransaction {
                raise(
                    &mut r,
                    Status::Critical,
                    format!("session {id} ({}@{}) is idle in transaction for {}s and blocks {n} sessions with its row locks", v.user, v.host, v.age_seconds),
                );
            }
            r.blockers.push(Blocker {
                session: v.clone(),
                blocks: n,
            });
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blockers_count_transitive_waiters_and_survive_cycles() {
        let w = |waiting, blocking| LockWait { waiting, blocking };
        let got = blockers(&[w(2, 1), w(3, 1), w(4, 2), w(5, 9), w(9, 5)]);
        assert_eq!(got[0], (1, 3));
        assert!(got.contains(&(2, 1)));
        assert!(got.contains(&(5, 1)) && got.contains(&(9, 1)));
    }

    #[test]
    fn views_age_idle_transactions_by_the_transaction() {
        let s = SessionRow {
            id: 7,
            user: "kefu".into(),
            host: "10.0.0.7:51514".into(),
            command: "Sleep".into(),
            time: 3,
            trx_state: Some("RUNNING".into()),
            trx_age: Some(400),
            info: Some("SELECT   *\n FROM visitors".into()),
            ..SessionRow::default()
        };
        let v = view(&s).unwrap();
        assert_eq!(
            (v.state, v.age_seconds, v.host.as_str()),
            (SessionState::IdleInTransaction, 400, "10.0.0.7")
        );
        assert_eq!(v.last_query.as_deref(), Some("SELECT * FROM visitors"));
        assert!(view(&SessionRow {
            user: "system user".into(),
            ..s
        })
        .is_none());
    }
}
