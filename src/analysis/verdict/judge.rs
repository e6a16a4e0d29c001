//! The judgement: one snapshot (with session detail) in, one [`TargetReport`] out. Pure.
//!
//! Pool numbers and culprits come from the same session list: the pools are counted from
//! the detailed rows the culprits are picked from, with the same membership function, so
//! "45/45 held" and the sessions it names can never come from two different moments.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::fmt::Write;

use super::facts::{held, pct, plural, Facts};
use super::{between, chains};
use super::{Cause, Finding, PoolReport, SessionView, Status, TargetReport};
use crate::analysis::connection_ratio;
use crate::analysis::peaks::Peaks;
use crate::analysis::pools::{
    declared_capacity, overcommit_ratio, user_limit, user_sessions, PoolStats,
};
use crate::analysis::sessions::SessionState;
use crate::config::{PoolConfig, Thresholds};
use crate::snapshot::{parse_status_value, SessionRow, Snapshot};

use super::view;

/// Builds one target's report from a snapshot read with [`super::REPORT_SOURCES`], and
/// what the sampler's window showed between the scrapes when there is one.
pub fn target_report(
    target: &str,
    snap: &Snapshot,
    pools: &[PoolConfig],
    t: &Thresholds,
    peaks: Option<&Peaks>,
) -> TargetReport {
    let server = connection_ratio(snap);
    let mut r = TargetReport {
        target: target.to_string(),
        version: snap.server.as_ref().map(|s| s.version.clone()),
        error: snap.down_reason.as_ref().map(|r| r.text.clone()),
        connections: server.map(|(used, _, _)| used),
        max_connections: server.map(|(_, max, _)| max),
        connection_ratio: server.map(|(_, _, ratio)| ratio),
        pools: Vec::new(),
        root_blockers: Vec::new(),
        status: Status::Ok,
        findings: Vec::new(),
    };
    let Some(sessions) = snap.sessions.ok() else {
        let why = snap
            .down_reason
            .as_ref()
            .or(snap.sessions.problem())
            .map_or("no session data", |r| r.text.as_str());
        r.findings.push(Finding::plain(
            Status::Unknown,
            Cause::Unknown,
            None,
            format!("cannot read the server: {why}"),
        ));
        r.status = Status::Unknown;
        return r;
    };
    let facts = Facts::of(snap, sessions, pools);
    let mut findings = Vec::new();
    let (mut judged, explained) = chains::chain_findings(&facts, t, &mut findings);
    chains::unexplained_findings(snap, &facts, t, &mut judged, &mut findings);
    judged.extend(pool_findings(&facts, t, &explained, &judged, &mut findings));
    server_findings(&facts, t, &judged, &mut findings);
    capacity_findings(snap, &facts, t, &mut findings);
    if let Some(peaks) = peaks {
        between::findings(&facts, peaks, t, &mut findings);
    }
    // Worst first; at equal status the one that holds up more sessions, a pool's before the
    // server's, then by cause.
    findings.sort_by(|a, b| {
        b.status
            .cmp(&a.status)
            .then(b.weight().cmp(&a.weight()))
            .then(b.pool.is_some().cmp(&a.pool.is_some()))
            .then(a.cause.cmp(&b.cause))
    });
    r.pools = pool_reports(&facts, &findings);
    r.root_blockers = facts.root_culprits;
    r.status = findings.first().map_or(Status::Ok, |f| f.status);
    r.findings = findings;
    r
}

/// What a group of sessions is up to, each list worst (oldest) first.
struct Troubles<'a> {
    /// Idle in a transaction past the limit.
    leaked: Vec<&'a SessionView>,
    /// Running a statement past `long_query`.
    slow: Vec<&'a SessionView>,
    /// Waiting for a lock.
    waiting: Vec<&'a SessionView>,
    /// Running a statement.
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
            list.sort_by_key(|s| (Reverse(s.age_seconds), s.id));
        }
        x
    }
}

fn leak_summary(leaked: &[&SessionView]) -> String {
    format!(
        "{} session{} idle in transaction (oldest {}s)",
        leaked.len(),
        plural(leaked.len()),
        leaked.first().map_or(0, |s| s.age_seconds)
    )
}

fn slow_summary(slow: &[&SessionView], t: &Thresholds) -> String {
    format!(
        "{} statement{} running longer than {}s (oldest {}s)",
        slow.len(),
        plural(slow.len()),
        t.long_query.as_secs(),
        slow.first().map_or(0, |s| s.age_seconds)
    )
}

/// One finding per pool in trouble; returns the ids of the sessions they name, which the
/// server-wide findings do not name again.
fn pool_findings(
    facts: &Facts,
    t: &Thresholds,
    explained: &[usize],
    named: &[u64],
    out: &mut Vec<Finding>,
) -> Vec<u64> {
    let mut judged = Vec::new();
    for (i, (p, stats)) in facts.pools.iter().zip(&facts.stats).enumerate() {
        if let Some(why) = &stats.unknown {
            let f = Finding::plain(Status::Unknown, Cause::Unknown, Some(&p.name), why.clone());
            out.push(f);
            continue;
        }
        if explained.contains(&i) {
            continue;
        }
        // A chain's root and waiters are that chain's finding, not a leak or load here.
        let mine = Troubles::of(
            facts
                .sessions_of(Some(i))
                .filter(|v| !named.contains(&v.id)),
            t,
        );
        let status = Status::of_ratio(stats.utilization(), t.pool_utilization);
        let f = if status == Status::Ok {
            // Not near its limit: a leak is still a leak.
            if mine.leaked.is_empty() {
                continue;
            }
            let summary = format!("{}, {}", leak_summary(&mine.leaked), held(stats));
            Finding::about(
                Status::Warning,
                Cause::Leak,
                Some(&p.name),
                summary,
                &mine.leaked,
            )
        } else {
            why_full(&p.name, stats, &mine, status, t)
        };
        judged.extend(f.culprits.iter().map(|c| c.session.id));
        judged.extend(f.more_ids.iter().copied());
        out.push(f);
    }
    judged
}

/// A pool near or at its limit that no lock chain explains: what holds most of its slots
/// decides why.
fn why_full(
    pool: &str,
    stats: &PoolStats,
    mine: &Troubles,
    status: Status,
    t: &Thresholds,
) -> Finding {
    let held = held(stats);
    if !mine.leaked.is_empty() && mine.leaked.len() >= mine.slow.len() {
        let summary = format!("{}, {held}", leak_summary(&mine.leaked));
        return Finding::about(status, Cause::Leak, Some(pool), summary, &mine.leaked);
    }
    if !mine.slow.is_empty() {
        let summary = format!("{}, {held}", slow_summary(&mine.slow, t));
        return Finding::about(status, Cause::SlowQueries, Some(pool), summary, &mine.slow);
    }
    let summary = format!(
        "{held} ({}) by working sessions: {} running, {} waiting for locks",
        pct(stats.utilization()),
        mine.active.len(),
        mine.waiting.len()
    );
    Finding::about(status, Cause::Load, Some(pool), summary, &mine.active)
}

/// What no other finding covers: slow statements, and leaks outside the configured pools.
fn server_findings(facts: &Facts, t: &Thresholds, judged: &[u64], out: &mut Vec<Finding>) {
    let fresh = |id: &u64| !judged.contains(id);
    let all = Troubles::of(facts.views.iter().map(|(_, v)| v), t);
    let slow: Vec<&SessionView> = all.slow.into_iter().filter(|s| fresh(&s.id)).collect();
    if !slow.is_empty() {
        let summary = slow_summary(&slow, t);
        out.push(Finding::about(
            Status::Warning,
            Cause::SlowQueries,
            None,
            summary,
            &slow,
        ));
    }
    let outside = Troubles::of(facts.sessions_of(None), t);
    let leaked: Vec<&SessionView> = outside
        .leaked
        .into_iter()
        .filter(|s| fresh(&s.id))
        .collect();
    // One finding per app (its program_name, else user@host): with no pools configured
    // that is how a leak is told apart from the others, and whose it is.
    let mut by_app: BTreeMap<&str, Vec<&SessionView>> = BTreeMap::new();
    for s in leaked {
        by_app.entry(s.app.as_str()).or_default().push(s);
    }
    for (app, leaked) in by_app {
        let summary = format!(
            "{} outside the configured pools, from app {app}",
            leak_summary(&leaked)
        );
        out.push(Finding::about(
            Status::Warning,
            Cause::Leak,
            None,
            summary,
            &leaked,
        ));
    }
}

/// The server near `max_connections`, pools declared past it, users near their own limit.
fn capacity_findings(snap: &Snapshot, facts: &Facts, t: &Thresholds, out: &mut Vec<Finding>) {
    let pools = facts.pools;
    let overcommit = snap
        .variable("max_connections")
        .and_then(parse_status_value)
        .and_then(|m| overcommit_ratio(pools, m));
    let declared = declared_capacity(pools);
    let overcommit_text = overcommit.filter(|o| *o > 1.0).map(|o| {
        format!(
            "the pools are declared to {declared} connections, {} of max_connections",
            pct(o)
        )
    });
    if let Some((used, max, ratio)) = connection_ratio(snap) {
        let status = Status::of_ratio(ratio, t.connections);
        if status != Status::Ok {
            let mut summary = format!(
                "server at {used}/{max} max_connections ({}){}",
                pct(ratio),
                top_users(facts.sessions)
            );
            if let Some(o) = &overcommit_text {
                let _ = write!(summary, "; {o}");
            }
            out.push(Finding::plain(status, Cause::Capacity, None, summary));
        } else if let Some(o) = overcommit_text {
            let summary = format!("{o} ({max}): together they can exhaust the server");
            out.push(Finding::plain(
                Status::Warning,
                Cause::Capacity,
                None,
                summary,
            ));
        }
    }
    let global = snap
        .variable("max_user_connections")
        .and_then(parse_status_value);
    let accounts = snap.account_limits.ok().map(Vec::as_slice);
    for p in pools {
        let Some((user, limit)) = user_limit(p, accounts, global) else {
            continue;
        };
        let n = user_sessions(facts.sessions, &user);
        let ratio = n as f64 / limit as f64;
        let status = Status::of_ratio(ratio, t.user_connections);
        if status == Status::Ok {
            continue;
        }
        let summary = format!(
            "user {user} has {n} of its {limit} connections (MAX_USER_CONNECTIONS, {})",
            pct(ratio)
        );
        out.push(Finding::plain(
            status,
            Cause::Capacity,
            Some(&p.name),
            summary,
        ));
    }
}

/// ` (kefu 40, report 17, …)`: the users holding the most connections.
fn top_users(sessions: &[SessionRow]) -> String {
    let mut by_user: BTreeMap<&str, u64> = BTreeMap::new();
    for s in sessions {
        if view(s).is_some() {
            *by_user.entry(&s.user).or_default() += 1;
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
    let more = if users.len() > 3 { ", …" } else { "" };
    format!(" ({}{more})", shown.join(", "))
}

/// Each pool's numbers, with the worst status of the findings about it.
fn pool_reports(facts: &Facts, findings: &[Finding]) -> Vec<PoolReport> {
    facts
        .stats
        .iter()
        .map(|stats| {
            let status = findings
                .iter()
                .filter(|f| f.pool.as_deref() == Some(stats.name.as_str()))
                .map(|f| f.status)
                .max()
                .unwrap_or(Status::Ok);
            PoolReport {
                pool: stats.name.clone(),
                capacity: stats.capacity,
                held: stats.held(),
                open: stats.open(),
                utilization: stats.utilization(),
                open_ratio: stats.open_ratio(),
                by_state: SessionState::ALL
                    .iter()
                    .map(|s| (*s, stats.sessions.count(*s)))
                    .collect(),
                oldest_idle_transaction_seconds: stats
                    .sessions
                    .histogram(SessionState::IdleInTransaction)
                    .max,
                status,
                unknown: stats.unknown.clone(),
            }
        })
        .collect()
}
