//! The verdict: what `check` prints and the status page leads with. Pure: a snapshot with
//! session detail in; findings out, each naming one cause, the pool, and whom to look at.
//!
//! Causes, as the incidents of this project come: a **leak** (sessions idle in a
//! transaction: checked out and forgotten), a **lock chain** (sessions waiting behind a root
//! blocker), **slow queries** (statements running past `long_query`), **capacity** (the
//! declared pools add up past `max_connections`, the server or a user near its limit), or
//! plain **load** (the pool is held by working sessions). A pool's utilisation counts only
//! the sessions that hold a slot of the application's pool (`PoolStats::held`): a connection
//! parked in SQLAlchemy's QueuePool is open but free.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use super::connection_ratio;
use super::host::strip_port;
use super::locks::{root_blockers, RootBlocker};
use super::pools::{overcommit_ratio, pool_stats, session_pool, user_limit, user_sessions};
use super::sessions::{classify, SessionState};
use crate::config::{PoolConfig, Thresholds};
use crate::snapshot::{parse_status_value, SessionRow, Snapshot, Source};

/// What the verdict reads: everything it needs, session detail included (`check`, and the
/// status page at most every few seconds; scrapes never pay for the session list).
pub const REPORT_SOURCES: [Source; 6] = [
    Source::GlobalStatus,
    Source::GlobalVariables,
    Source::Threads,
    Source::Sessions,
    Source::LockWaits,
    Source::AccountLimits,
];

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

    /// How bad, for ordering findings: UNKNOWN (nothing could be judged) ranks below a real
    /// CRITICAL or WARNING, above OK.
    fn rank(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Unknown => 1,
            Status::Warning => 2,
            Status::Critical => 3,
        }
    }
}

/// Why a pool or the server is in trouble.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// Sessions idle inside a transaction past `idle_in_transaction`.
    Leak,
    /// Sessions waiting for row locks behind a root blocker past `lock_wait`.
    LockChain,
    /// Statements running past `long_query`.
    SlowQueries,
    /// Declared pools past `max_connections`, the server or a user near its limit.
    Capacity,
    /// The pool is held by working sessions: more work than connections.
    Load,
    /// The server or the pool cannot be read.
    Unknown,
}

impl Cause {
    pub fn label(self) -> &'static str {
        match self {
            Cause::Leak => "leak",
            Cause::LockChain => "lock chain",
            Cause::SlowQueries => "slow queries",
            Cause::Capacity => "capacity",
            Cause::Load => "load",
            Cause::Unknown => "unknown",
        }
    }
}

/// How many sessions a finding or a pool lists.
pub const WORST_SESSIONS: usize = 5;

/// One thing `check` found: how bad, why, where, and whom to look at.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    pub status: Status,
    pub cause: Cause,
    /// The pool it is about; `None`: the server as a whole.
    pub pool: Option<String>,
    /// What and how much, e.g. `45 sessions idle in transaction (oldest 96s), 45/45 held`.
    pub summary: String,
    /// The sessions to look at, worst first (at most [`WORST_SESSIONS`]); for a lock chain,
    /// the root blockers.
    pub culprits: Vec<Culprit>,
    /// Further culprits' ids beyond those listed.
    pub more_ids: Vec<u64>,
}

/// A session to look at.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Culprit {
    #[serde(flatten)]
    pub session: SessionView,
    /// For a root blocker: the sessions waiting for it, directly or through others.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocks: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
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
pub struct PoolReport {
    pub pool: String,
    pub capacity: u64,
    /// Sessions holding a slot of the app's pool.
    pub held: u64,
    /// Every open session of the pool, parked ones included.
    pub open: u64,
    /// held / capacity.
    pub utilization: f64,
    /// open / capacity.
    pub open_ratio: f64,
    pub by_state: BTreeMap<SessionState, u64>,
    pub oldest_idle_transaction_seconds: u64,
    /// Why it cannot be judged (it matches by connect attributes the server does not fill).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown: Option<String>,
}

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
    /// Sessions that hold locks others wait for and wait for none themselves.
    pub root_blockers: Vec<Culprit>,
    pub status: Status,
    /// Worst first; the first is the headline.
    pub findings: Vec<Finding>,
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

fn pct(r: f64) -> String {
    format!("{:.0}%", r * 100.0)
}

/// A finding about `sessions` (already sorted worst first): the first few as culprits, the
/// ids of the rest.
fn finding(
    status: Status,
    cause: Cause,
    pool: Option<&str>,
    summary: String,
    sessions: &[&SessionView],
) -> Finding {
    Finding {
        status,
        cause,
        pool: pool.map(String::from),
        summary,
        culprits: sessions
            .iter()
            .take(WORST_SESSIONS)
            .map(|s| Culprit {
                session: (*s).clone(),
                blocks: None,
            })
            .collect(),
        more_ids: sessions.iter().skip(WORST_SESSIONS).map(|s| s.id).collect(),
    }
}

/// What a group of sessions is up to, worst first.
struct Troubles<'a> {
    /// Idle in a transaction past the limit, oldest first.
    leaked: Vec<&'a SessionView>,
    /// Running a statement past `long_query`, oldest first.
    slow: Vec<&'a SessionView>,
    /// Waiting for a row lock, longest first.
    waiting: Vec<&'a SessionView>,
    /// Running a statement, longest first.
    active: Vec<&'a SessionView>,
}

impl<'a> Troubles<'a> {
    fn of(sessions: impl Iterator<Item = &'a SessionView>, t: &Thresholds) -> Self {
        let mut x = Troubles {
            leaked: Vec::new(),
            slow: Vec::new(),
            waiting: Vec::new(),
            active: Vec::new(),
        };
        for s in sessions {
            match s.state {
                SessionState::IdleInTransaction
                    if s.age_seconds > t.idle_in_transaction.as_secs() =>
                {
                    x.leaked.push(s)
                }
                SessionState::Active => {
                    if s.age_seconds > t.long_query.as_secs() {
                        x.slow.push(s);
                    }
                    x.active.push(s);
                }
                SessionState::LockWait => x.waiting.push(s),
                _ => {}
            }
        }
        for list in [&mut x.leaked, &mut x.slow, &mut x.waiting, &mut x.active] {
            list.sort_by_key(|s| (std::cmp::Reverse(s.age_seconds), s.id));
        }
        x
    }
}

fn leak_summary(leaked: &[&SessionView]) -> String {
    format!(
        "{} session{} idle in transaction (oldest {}s)",
        leaked.len(),
        if leaked.len() == 1 { "" } else { "s" },
        leaked.first().map_or(0, |s| s.age_seconds)
    )
}

fn slow_summary(slow: &[&SessionView], t: &Thresholds) -> String {
    format!(
        "{} statement{} running longer than {}s (oldest {}s)",
        slow.len(),
        if slow.len() == 1 { "" } else { "s" },
        t.long_query.as_secs(),
        slow.first().map_or(0, |s| s.age_seconds)
    )
}

fn chain_summary(roots: &[Culprit]) -> String {
    let r = &roots[0];
    let behind = r.blocks.unwrap_or(0);
    let s = &r.session;
    let mut out = format!(
        "{behind} session{} wait{} for session {} ({}@{}, {} {}s)",
        if behind == 1 { "" } else { "s" },
        if behind == 1 { "s" } else { "" },
        s.id,
        s.user,
        s.host,
        s.state.label(),
        s.age_seconds
    );
    if roots.len() > 1 {
        let _ = write!(out, " and {} more blocker(s)", roots.len() - 1);
    }
    out
}

/// The root blockers as culprits (a waiter is never one); those the session list lacks
/// (they ended meanwhile) are left out.
fn blocker_culprits(roots: &[RootBlocker], views: &BTreeMap<u64, SessionView>) -> Vec<Culprit> {
    roots
        .iter()
        .filter_map(|r| {
            Some(Culprit {
                session: views.get(&r.id)?.clone(),
                blocks: Some(r.waiters),
            })
        })
        .collect()
}

/// Builds one target's report from a snapshot read with the Threads, GlobalStatus,
/// GlobalVariables, Sessions, LockWaits and (optionally) AccountLimits sources.
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
        root_blockers: Vec::new(),
        status: Status::Ok,
        findings: Vec::new(),
    };
    let (Some(groups), Some(sessions)) = (snap.threads.ok(), snap.sessions.ok()) else {
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
            cause: Cause::Unknown,
            pool: None,
            summary: format!("cannot read the server: {why}"),
            culprits: Vec::new(),
            more_ids: Vec::new(),
        });
        r.status = Status::Unknown;
        return r;
    };

    // Every client session, with its pool.
    let views: Vec<(Option<usize>, SessionView)> = sessions
        .iter()
        .filter_map(|s| Some((session_pool(pools, s), view(s)?)))
        .collect();
    let by_id: BTreeMap<u64, SessionView> = views.iter().map(|(_, v)| (v.id, v.clone())).collect();
    let lock_limit = t.lock_wait.as_secs();
    let roots: Vec<RootBlocker> = snap
        .lock_waits
        .ok()
        .map(|w| root_blockers(w))
        .unwrap_or_default();
    r.root_blockers = blocker_culprits(&roots, &by_id);
    let mut findings = Vec::new();

    // ---------------------------------------------------------------- pools
    let attributes = snap.connect_attributes();
    let mut judged_elsewhere: Vec<u64> = Vec::new();
    for (i, (p, stats)) in pools
        .iter()
        .zip(pool_stats(pools, groups, &attributes))
        .enumerate()
    {
        let by_state = SessionState::ALL
            .iter()
            .map(|s| (*s, stats.sessions.count(*s)))
            .collect();
        r.pools.push(PoolReport {
            pool: p.name.clone(),
            capacity: stats.capacity,
            held: stats.held(),
            open: stats.open(),
            utilization: stats.utilization(),
            open_ratio: stats.open_ratio(),
            by_state,
            oldest_idle_transaction_seconds: stats
                .sessions
                .histogram(SessionState::IdleInTransaction)
                .max,
            unknown: stats.unknown.clone(),
        });
        if let Some(why) = &stats.unknown {
            findings.push(Finding {
                status: Status::Unknown,
                cause: Cause::Unknown,
                pool: Some(p.name.clone()),
                summary: why.clone(),
                culprits: Vec::new(),
                more_ids: Vec::new(),
            });
            continue;
        }
        let mine = Troubles::of(
            views
                .iter()
                .filter(|(pool, _)| *pool == Some(i))
                .map(|(_, v)| v),
            t,
        );
        let u = stats.utilization();
        let held = format!("{}/{} held", stats.held(), stats.capacity);
        let status = if u >= t.pool_utilization_critical {
            Status::Critical
        } else if u >= t.pool_utilization_warning {
            Status::Warning
        } else {
            Status::Ok
        };
        if status == Status::Ok {
            // Not near its limit: a leak is still a leak.
            if !mine.leaked.is_empty() {
                findings.push(finding(
                    Status::Warning,
                    Cause::Leak,
                    Some(&p.name),
                    format!("{}, {held}", leak_summary(&mine.leaked)),
                    &mine.leaked,
                ));
                judged_elsewhere.extend(mine.leaked.iter().map(|s| s.id));
            }
            continue;
        }
        // Near or at its limit: why. What holds most of the pool's slots decides.
        // A chain is the pool's when the pool's own sessions wait in it.
        let pool_roots: Vec<Culprit> = r
            .root_blockers
            .iter()
            .filter(|c| {
                roots.iter().any(|root| {
                    root.id == c.session.id
                        && mine
                            .waiting
                            .iter()
                            .any(|w| root.waiting_ids.contains(&w.id))
                })
            })
            .cloned()
            .collect();
        let (cause, summary, culprits): (Cause, String, Vec<&SessionView>) =
            if !mine.waiting.is_empty()
                && mine.waiting.len() >= mine.leaked.len().max(mine.slow.len())
                && !pool_roots.is_empty()
            {
                (
                    Cause::LockChain,
                    format!("{}, {held}", chain_summary(&pool_roots)),
                    Vec::new(),
                )
            } else if !mine.leaked.is_empty() && mine.leaked.len() >= mine.slow.len() {
                (
                    Cause::Leak,
                    format!("{}, {held}", leak_summary(&mine.leaked)),
                    mine.leaked.clone(),
                )
            } else if !mine.slow.is_empty() {
                (
                    Cause::SlowQueries,
                    format!("{}, {held}", slow_summary(&mine.slow, t)),
                    mine.slow.clone(),
                )
            } else {
                (
                    Cause::Load,
                    format!(
                        "{held} ({}) by working sessions: {} running, {} waiting for locks",
                        pct(u),
                        mine.active.len(),
                        mine.waiting.len()
                    ),
                    mine.active.clone(),
                )
            };
        let mut f = finding(status, cause, Some(&p.name), summary, &culprits);
        if cause == Cause::LockChain {
            f.culprits = pool_roots.iter().take(WORST_SESSIONS).cloned().collect();
        }
        judged_elsewhere.extend(f.culprits.iter().map(|c| c.session.id));
        judged_elsewhere.extend(culprits.iter().map(|s| s.id));
        findings.push(f);
    }

    // ---------------------------------------------------------------- the whole server
    let all = Troubles::of(views.iter().map(|(_, v)| v), t);
    // Lock chains whose waiters have waited past `lock_wait` (InnoDB gives up at 50 s).
    let chains: Vec<Culprit> = r
        .root_blockers
        .iter()
        .filter(|c| {
            roots
                .iter()
                .any(|root| root.id == c.session.id && root.longest_wait >= lock_limit)
        })
        .filter(|c| !judged_elsewhere.contains(&c.session.id))
        .cloned()
        .collect();
    if !chains.is_empty() {
        findings.push(Finding {
            status: Status::Warning,
            cause: Cause::LockChain,
            pool: None,
            summary: chain_summary(&chains),
            culprits: chains.into_iter().take(WORST_SESSIONS).collect(),
            more_ids: Vec::new(),
        });
    }
    let slow: Vec<&SessionView> = all
        .slow
        .iter()
        .copied()
        .filter(|s| !judged_elsewhere.contains(&s.id))
        .collect();
    if !slow.is_empty() {
        findings.push(finding(
            Status::Warning,
            Cause::SlowQueries,
            None,
            slow_summary(&slow, t),
            &slow,
        ));
    }
    let leaked_outside: Vec<&SessionView> = views
        .iter()
        .filter(|(pool, _)| pool.is_none())
        .map(|(_, v)| v)
        .filter(|v| {
            v.state == SessionState::IdleInTransaction
                && v.age_seconds > t.idle_in_transaction.as_secs()
                && !judged_elsewhere.contains(&v.id)
        })
        .collect();
    if !leaked_outside.is_empty() {
        let mut sorted = leaked_outside;
        sorted.sort_by_key(|s| (std::cmp::Reverse(s.age_seconds), s.id));
        findings.push(finding(
            Status::Warning,
            Cause::Leak,
            None,
            format!("{} outside the configured pools", leak_summary(&sorted)),
            &sorted,
        ));
    }

    // ---------------------------------------------------------------- capacity
    let overcommit = snap
        .variable("max_connections")
        .and_then(parse_status_value)
        .and_then(|m| overcommit_ratio(pools, m));
    let declared: u64 = pools.iter().map(PoolConfig::capacity).sum();
    let overcommit_text = overcommit.filter(|o| *o > 1.0).map(|o| {
        format!(
            "the pools are declared to {declared} connections, {} of max_connections",
            pct(o)
        )
    });
    if let Some((used, max, ratio)) = server {
        let status = if ratio >= t.connections_critical {
            Status::Critical
        } else if ratio >= t.connections_warning {
            Status::Warning
        } else {
            Status::Ok
        };
        if status != Status::Ok {
            let mut summary = format!(
                "server at {used}/{max} max_connections ({}){}",
                pct(ratio),
                top_users(groups)
            );
            if let Some(o) = &overcommit_text {
                let _ = write!(summary, "; {o}");
            }
            findings.push(Finding {
                status,
                cause: Cause::Capacity,
                pool: None,
                summary,
                culprits: Vec::new(),
                more_ids: Vec::new(),
            });
        } else if let Some(o) = overcommit_text {
            findings.push(Finding {
                status: Status::Warning,
                cause: Cause::Capacity,
                pool: None,
                summary: format!("{o} ({max}): together they can exhaust the server"),
                culprits: Vec::new(),
                more_ids: Vec::new(),
            });
        }
    }
    let global_user_limit = snap
        .variable("max_user_connections")
        .and_then(parse_status_value);
    for p in pools {
        let Some((user, limit)) = user_limit(
            p,
            snap.account_limits.ok().map(Vec::as_slice),
            global_user_limit,
        ) else {
            continue;
        };
        let n = user_sessions(groups, &user);
        let ratio = n as f64 / limit as f64;
        let status = if ratio >= t.pool_utilization_critical {
            Status::Critical
        } else if ratio >= t.pool_utilization_warning {
            Status::Warning
        } else {
            continue;
        };
        findings.push(Finding {
            status,
            cause: Cause::Capacity,
            pool: Some(p.name.clone()),
            summary: format!(
                "user {user} has {n} of its {limit} connections (MAX_USER_CONNECTIONS, {})",
                pct(ratio)
            ),
            culprits: Vec::new(),
            more_ids: Vec::new(),
        });
    }

    // Worst first; at equal status a pool's finding before the server's, then by cause.
    findings.sort_by(|a, b| {
        b.status
            .rank()
            .cmp(&a.status.rank())
            .then(b.pool.is_some().cmp(&a.pool.is_some()))
            .then(a.cause.cmp(&b.cause))
    });
    r.status = findings.first().map(|f| f.status).unwrap_or(Status::Ok);
    r.findings = findings;
    r
}

/// ` (kefu 40, report 17, …)`: the users holding the most connections.
fn top_users(groups: &[crate::snapshot::ThreadGroup]) -> String {
    let mut by_user: BTreeMap<&str, u64> = BTreeMap::new();
    for g in groups {
        if classify(&g.user, &g.command, g.trx_state.as_deref()).is_some() {
            *by_user.entry(&g.user).or_default() += g.count;
        }
    }
    let mut users: Vec<(&str, u64)> = by_user.into_iter().collect();
    users.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    if users.is_empty() {
        return String::new();
    }
    let shown: Vec<String> = users
        .iter()
        .take(3)
        .map(|(u, n)| format!("{u} {n}"))
        .collect();
    format!(
        " ({}{})",
        shown.join(", "),
        if users.len() > 3 { ", …" } else { "" }
    )
}

/// The status of several targets' reports: the worst by [`Status::rank`].
pub fn overall(reports: &[TargetReport]) -> Status {
    reports
        .iter()
        .map(|r| r.status)
        .max_by_key(|s| s.rank())
        .unwrap_or(Status::Unknown)
}

/// The first line of `check` (and the status page's heading), as the Nagios plugin
/// guidelines want it: `MYSQL POOL CRITICAL - kefu-flask: leak, 45 sessions idle in
/// transaction (oldest 96s), 45/45 held; look at 12, 13, 14, 15, 16 and 40 more`.
pub fn headline(reports: &[TargetReport]) -> String {
    let status = overall(reports);
    let several = reports.len() > 1;
    let worst = reports
        .iter()
        .filter(|r| r.status == status)
        .find_map(|r| r.findings.first().map(|f| (r, f)));
    let text = match worst {
        Some((r, f)) if f.status != Status::Ok => {
            let subject = match (&f.pool, several) {
                (Some(p), true) => format!("{}/{p}", r.target),
                (Some(p), false) => p.clone(),
                (None, _) => r.target.clone(),
            };
            let mut line = if f.cause == Cause::Unknown {
                format!("{subject}: {}", f.summary)
            } else {
                format!("{subject}: {}, {}", f.cause.label(), f.summary)
            };
            let ids: Vec<String> = f
                .culprits
                .iter()
                .map(|c| c.session.id.to_string())
                .collect();
            if !ids.is_empty() && f.cause != Cause::LockChain {
                let _ = write!(line, "; look at {}", ids.join(", "));
                if !f.more_ids.is_empty() {
                    let _ = write!(line, " and {} more", f.more_ids.len());
                }
            }
            line
        }
        _ => {
            let pools: Vec<String> = reports
                .iter()
                .flat_map(|r| r.pools.iter())
                .map(|p| format!("{} {}/{} held", p.pool, p.held, p.capacity))
                .collect();
            let server: Vec<String> = reports
                .iter()
                .filter_map(|r| {
                    Some(format!(
                        "{} {}/{} connections",
                        r.target, r.connections?, r.max_connections?
                    ))
                })
                .collect();
            let mut parts = pools;
            parts.extend(server);
            if parts.is_empty() {
                "nothing to report".into()
            } else {
                parts.join(", ")
            }
        }
    };
    // One line, and `|` starts the performance data: neither may come from a message.
    let text: String = text
        .chars()
        .map(|c| match c {
            '|' => '/',
            '\n' | '\r' => ' ',
            c => c,
        })
        .collect();
    format!("MYSQL POOL {} - {}", status.label(), text)
}

/// Nagios performance data: per pool `held`, `open`, `capacity`, `idle_in_transaction` and
/// the oldest idle transaction; per server `connections` and `max_connections`. Warning and
/// critical levels where thresholds apply.
pub fn perfdata(reports: &[TargetReport], t: &Thresholds) -> String {
    let several = reports.len() > 1;
    let mut out = Vec::new();
    let num = |v: f64| {
        if v.fract() == 0.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.2}")
        }
    };
    for r in reports {
        let prefix = if several {
            format!("{}.", r.target)
        } else {
            String::new()
        };
        for p in r.pools.iter().filter(|p| p.unknown.is_none()) {
            let cap = p.capacity as f64;
            let name = format!("{prefix}{}", p.pool);
            out.push(format!(
                "'{name}_held'={};{};{};0;{}",
                p.held,
                num(cap * t.pool_utilization_warning),
                num(cap * t.pool_utilization_critical),
                p.capacity
            ));
            out.push(format!("'{name}_open'={};;;0;{}", p.open, p.capacity));
            out.push(format!("'{name}_capacity'={}", p.capacity));
            out.push(format!(
                "'{name}_idle_in_transaction'={};;;0;{}",
                p.by_state
                    .get(&SessionState::IdleInTransaction)
                    .copied()
                    .unwrap_or(0),
                p.capacity
            ));
            out.push(format!(
                "'{name}_oldest_idle_transaction'={}s;{};;0",
                p.oldest_idle_transaction_seconds,
                t.idle_in_transaction.as_secs()
            ));
        }
        if let (Some(c), Some(m)) = (r.connections, r.max_connections) {
            let max = m as f64;
            out.push(format!(
                "'{prefix}connections'={c};{};{};0;{m}",
                num(max * t.connections_warning),
                num(max * t.connections_critical)
            ));
            out.push(format!("'{prefix}max_connections'={m}"));
        }
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{IdleSessions, MatchSpec, Matcher};
    use crate::snapshot::{Flavor, LockWait, Outcome, ServerInfo, ThreadGroup};

    fn pool(name: &str, size: u32, overflow: u32) -> PoolConfig {
        PoolConfig {
            name: name.into(),
            matcher: Matcher::compile(&MatchSpec {
                user: Some("kefu".into()),
                ..MatchSpec::default()
            })
            .unwrap(),
            size,
            max_overflow: overflow,
            processes: 1,
            target: None,
            idle_sessions: IdleSessions::Parked,
        }
    }

    /// A session of kefu: (command, time, transaction (state, age)).
    fn s(id: u64, command: &str, time: u64, trx: Option<(&str, u64)>) -> SessionRow {
        SessionRow::recorded(id, command, time, trx)
    }

    /// A snapshot whose Threads groups are built from the sessions themselves.
    fn snapshot(sessions: Vec<SessionRow>, max_connections: u64, waits: Vec<LockWait>) -> Snapshot {
        let mut snap = Snapshot::up(ServerInfo::recorded(Flavor::MySql, "9.7.4", 1));
        snap.threads = Outcome::Ok(
            sessions
                .iter()
                .map(|r| {
                    ThreadGroup::uniform(
                        &r.user,
                        strip_port(&r.host),
                        r.db.as_deref(),
                        &r.command,
                        "",
                        r.trx_state.as_deref().zip(r.trx_age),
                        1,
                        r.time,
                    )
                })
                .collect(),
        );
        snap.global_status = Outcome::Ok(vec![(
            "Threads_connected".into(),
            (sessions.len() + 1).to_string(),
        )]);
        snap.global_variables = Outcome::Ok(vec![(
            "max_connections".into(),
            max_connections.to_string(),
        )]);
        snap.sessions = Outcome::Ok(sessions);
        snap.lock_waits = Outcome::Ok(waits);
        snap
    }

    fn report(snap: &Snapshot, pools: &[PoolConfig]) -> TargetReport {
        target_report("primary", snap, pools, &Thresholds::default())
    }

    #[test]
    fn a_leak_is_named_with_its_sessions() {
        let sessions: Vec<SessionRow> = (1..=45)
            .map(|i| s(i, "Sleep", 2, Some(("RUNNING", 50 + i))))
            .collect();
        let r = report(
            &snapshot(sessions, 300, vec![]),
            &[pool("kefu-flask", 15, 30)],
        );
        let f = &r.findings[0];
        assert_eq!((r.status, f.cause), (Status::Critical, Cause::Leak));
        assert_eq!(f.culprits[0].session.id, 45, "oldest first");
        assert_eq!(f.more_ids.len(), 40);
        assert_eq!(
            headline(&[r]),
            "MYSQL POOL CRITICAL - kefu-flask: leak, 45 sessions idle in transaction \
             (oldest 95s), 45/45 held; look at 45, 44, 43, 42, 41 and 40 more"
        );
    }

    #[test]
    fn a_lock_chain_names_the_root_not_the_queue() {
        // Session 1 idle in a transaction holds the row; 2..=21 queue behind it.
        let mut sessions = vec![s(1, "Sleep", 30, Some(("RUNNING", 35)))];
        let mut waits = Vec::new();
        for i in 2..=21u64 {
            sessions.push(s(i, "Query", 25, Some(("LOCK WAIT", 25))));
            waits.push(LockWait {
                waiting: i,
                blocking: 1,
                wait_seconds: 25,
                blocking_user: "kefu".into(),
                blocking_host: "10.0.0.7:4000".into(),
            });
            for ahead in 2..i {
                waits.push(LockWait {
                    waiting: i,
                    blocking: ahead,
                    wait_seconds: 25,
                    blocking_user: "kefu".into(),
                    blocking_host: "10.0.0.7:4001".into(),
                });
            }
        }
        let r = report(
            &snapshot(sessions, 300, waits),
            &[pool("kefu-flask", 20, 0)],
        );
        let f = &r.findings[0];
        assert_eq!(
            (r.status, f.cause),
            (Status::Critical, Cause::LockChain),
            "{r:#?}"
        );
        assert_eq!(r.root_blockers.len(), 1, "waiters are never blockers");
        assert_eq!(f.culprits.len(), 1);
        assert_eq!(
            (f.culprits[0].session.id, f.culprits[0].blocks),
            (1, Some(20))
        );
        assert!(headline(&[r]).starts_with(
            "MYSQL POOL CRITICAL - kefu-flask: lock chain, 20 sessions wait for session 1 \
             (kefu@10.0.0.7, idle_in_transaction 35s), 21/20 held"
        ));
    }

    #[test]
    fn capacity_names_the_overcommit_and_the_server() {
        let sessions: Vec<SessionRow> = (1..=56).map(|i| s(i, "Sleep", 1, None)).collect();
        let pools = [pool("kefu-flask", 40, 0), pool("kefu-jobs", 40, 0)];
        let r = report(&snapshot(sessions, 60, vec![]), &pools);
        let f = &r.findings[0];
        assert_eq!(
            (r.status, f.cause, f.pool.as_deref()),
            (Status::Warning, Cause::Capacity, None)
        );
        assert_eq!(
            f.summary,
            "server at 57/60 max_connections (95%) (kefu 56); the pools are declared to 80 \
             connections, 133% of max_connections"
        );
    }

    #[test]
    fn a_healthy_busy_pool_is_ok_and_autocommit_pools_count_idle_as_held() {
        let mut sessions: Vec<SessionRow> = (1..=14)
            .map(|i| s(i, "Query", 0, Some(("RUNNING", 0))))
            .collect();
        sessions.extend((15..=20).map(|i| s(i, "Sleep", 40, None)));
        let snap = snapshot(sessions, 300, vec![]);
        let r = report(&snap, &[pool("kefu-flask", 20, 0)]);
        assert_eq!(r.status, Status::Ok, "{:?}", r.findings);
        assert_eq!((r.pools[0].held, r.pools[0].open), (14, 20));
        assert_eq!(
            headline(std::slice::from_ref(&r)),
            "MYSQL POOL OK - kefu-flask 14/20 held, primary 21/300 connections"
        );
        let mut autocommit = pool("kefu-flask", 20, 0);
        autocommit.idle_sessions = IdleSessions::CheckedOut;
        let r = report(&snap, &[autocommit]);
        assert_eq!(
            (r.status, r.findings[0].cause),
            (Status::Critical, Cause::Load)
        );
    }

    #[test]
    fn perfdata_follows_the_plugin_guidelines() {
        let sessions: Vec<SessionRow> = (1..=3)
            .map(|i| s(i, "Sleep", 2, Some(("RUNNING", 40))))
            .collect();
        let r = report(&snapshot(sessions, 100, vec![]), &[pool("web", 15, 30)]);
        assert_eq!(
            perfdata(&[r], &Thresholds::default()),
            "'web_held'=3;36;45;0;45 'web_open'=3;;;0;45 'web_capacity'=45 \
             'web_idle_in_transaction'=3;;;0;45 'web_oldest_idle_transaction'=40s;30;;0 \
             'connections'=4;80;98;0;100 'max_connections'=100"
        );
    }

    #[test]
    fn views_age_idle_transactions_by_the_transaction() {
        let row = SessionRow {
            info: Some("SELECT   *\n FROM visitors".into()),
            ..s(7, "Sleep", 3, Some(("RUNNING", 400)))
        };
        let v = view(&row).unwrap();
        assert_eq!(
            (v.state, v.age_seconds, v.host.as_str()),
            (SessionState::IdleInTransaction, 400, "10.0.0.7")
        );
        assert_eq!(v.last_query.as_deref(), Some("SELECT * FROM visitors"));
        assert!(view(&SessionRow {
            user: "system user".into(),
            ..row
        })
        .is_none());
    }
}
