//! Application pools (the `pools:` of the config): how close each is to its limit, why, and
//! the fullest client process; and the apps found by their sessions' `program_name` (or
//! `user@host`) outside every pool, with their sessions but no capacity until a pool declares
//! it. From the same snapshot as the other collectors.

use std::fmt;

use super::{Collector, EncodeContext};
use super::{Families, Labels};
use crate::analysis::pools::{
    fullest_process, fullest_process_held, overcommit_ratio, user_limit, PoolStats,
};
use crate::analysis::{AgeHistogram, SessionState};
use crate::snapshot::{parse_status_value, Snapshot, Source};

#[derive(Debug)]
pub struct Pools;

impl Collector for Pools {
    fn name(&self) -> &'static str {
        "pools"
    }
    fn help(&self) -> &'static str {
        "application pools from the config and apps found by program_name: sessions by state, capacity, utilization, overcommit"
    }
    fn sources(&self) -> &'static [Source] {
        &[Source::Threads]
    }
    /// max_connections for the overcommit ratio and the global max_user_connections;
    /// connect attributes for per-process counts; accounts' own connection limits.
    fn optional_sources(&self) -> &'static [Source] {
        &[
            Source::GlobalVariables,
            Source::ClientProcesses,
            Source::AccountLimits,
        ]
    }

    fn encode(&self, snap: &Snapshot, ctx: &EncodeContext, out: &mut Families) -> fmt::Result {
        let Some(all) = ctx.pool_stats.filter(|s| !s.is_empty()) else {
            return Ok(());
        };
        // A pool that cannot be judged (it matches by connect attributes the server does not
        // fill: logged once as the client_processes source) shows no series at all.
        let stats: Vec<&PoolStats> = all.iter().filter(|p| p.unknown.is_none()).collect();
        let (sessions, ages) = by_state(&stats);
        out.gauge(
            "mysql_pool_sessions",
            "Sessions of the application pool by state.",
            &sessions,
        )?;
        encode_capacity(&stats, out)?;
        out.snapshot_histogram(
            "mysql_pool_session_age_seconds",
            "Time the pool's current sessions have spent in their state.",
            &ages,
        )?;
        encode_fullest_process(snap, ctx, out)?;
        encode_user_limits(snap, ctx, out)?;
        encode_overcommit(snap, ctx, out)
    }
}

/// One age histogram per label set, as `Families::snapshot_histogram` takes them.
type AgeSeries<'a> = Vec<(Labels, &'a AgeHistogram)>;

fn pool_label(name: &str) -> Labels {
    vec![("pool", name.to_string())]
}

/// The session counts and their age histograms share one label set per pool and state, so
/// both are built in one pass.
fn by_state<'a>(stats: &[&'a PoolStats]) -> (Vec<(Labels, f64)>, AgeSeries<'a>) {
    let mut sessions = Vec::new();
    let mut ages = Vec::new();
    for p in stats {
        for state in SessionState::ALL {
            let l = vec![
                ("pool", p.name.clone()),
                ("state", state.label().to_string()),
            ];
            sessions.push((l.clone(), p.sessions.count(state) as f64));
            ages.push((l, p.sessions.histogram(state)));
        }
    }
    (sessions, ages)
}

/// The families with one sample per judged pool: its size and how much of it is in use.
/// A discovered app has no capacity: only its held sessions and its oldest idle transaction.
fn encode_capacity(stats: &[&PoolStats], out: &mut Families) -> fmt::Result {
    let per_pool = |f: &dyn Fn(&PoolStats) -> f64| -> Vec<(Labels, f64)> {
        stats
            .iter()
            .filter(|p| !p.discovered)
            .map(|p| (pool_label(&p.name), f(p)))
            .collect()
    };
    let every = |f: &dyn Fn(&PoolStats) -> f64| -> Vec<(Labels, f64)> {
        stats.iter().map(|p| (pool_label(&p.name), f(p))).collect()
    };
    out.gauge(
        "mysql_pool_capacity",
        "Connections the pool may open: (size + max_overflow) × processes.",
        &per_pool(&|p| p.capacity as f64),
    )?;
    out.gauge(
        "mysql_pool_process_capacity",
        "Connections one process of the pool may open: size + max_overflow.",
        &per_pool(&|p| p.process_capacity as f64),
    )?;
    out.gauge(
        "mysql_pool_held_sessions",
        "Sessions holding a slot of the application's pool: active, lock_wait, idle_in_transaction (and idle when the pool's idle_sessions is checked_out).",
        &every(&|p| p.held() as f64),
    )?;
    out.gauge(
        "mysql_pool_utilization_ratio",
        "Held sessions / capacity; 1 means the application's pool is exhausted. Idle sessions parked in the pool are not held.",
        &per_pool(&|p| p.utilization()),
    )?;
    out.gauge(
        "mysql_pool_open_ratio",
        "All the pool's open sessions (held or parked) / capacity.",
        &per_pool(&|p| p.open_ratio()),
    )?;
    out.gauge(
        "mysql_pool_oldest_idle_transaction_seconds",
        "Age of the pool's oldest idle-in-transaction session (0 if none): the leak signal.",
        &every(&|p| p.sessions.histogram(SessionState::IdleInTransaction).max as f64),
    )?;
    let discovered: Vec<(Labels, f64)> = stats
        .iter()
        .filter(|p| p.discovered)
        .map(|p| (pool_label(&p.name), 1.0))
        .collect();
    out.gauge(
        "mysql_pool_discovered",
        "1 for an app found by its sessions' program_name (or user@host) outside every configured pool: its capacity is unknown until a pool declares it.",
        &discovered,
    )
}

/// One process can exhaust its own pool while the pool as a whole looks fine; this needs
/// the optional client_processes source, and is left out rather than guessed without it.
fn encode_fullest_process(snap: &Snapshot, ctx: &EncodeContext, out: &mut Families) -> fmt::Result {
    let Some(rows) = snap.client_processes.ok() else {
        return Ok(());
    };
    let per_pool = |counts: Vec<Option<u64>>| -> Vec<(Labels, f64)> {
        counts
            .into_iter()
            .zip(ctx.pools)
            .filter_map(|(n, p)| Some((pool_label(&p.name), n? as f64)))
            .collect()
    };
    out.gauge(
        "mysql_pool_process_sessions_max",
        "Open sessions of the pool's fullest client process (host and _pid connect attribute), parked ones included.",
        &per_pool(fullest_process(ctx.pools, rows)),
    )?;
    out.gauge(
        "mysql_pool_process_held_sessions_max",
        "Held sessions of the pool's most held client process (parked idle ones left out, as in mysql_pool_held_sessions); at mysql_pool_process_capacity that process's requests wait.",
        &per_pool(fullest_process_held(ctx.pools, rows)),
    )
}

/// The server refuses a login at the user's limit whatever the pool's size says, so the
/// limit is shown next to the pool; it comes from the accounts and variables, not from the
/// sessions, and so covers every configured pool.
fn encode_user_limits(snap: &Snapshot, ctx: &EncodeContext, out: &mut Families) -> fmt::Result {
    let global_user_limit = snap
        .variable("max_user_connections")
        .and_then(parse_status_value);
    let accounts = snap.account_limits.ok().map(Vec::as_slice);
    let limits: Vec<(Labels, f64)> = ctx
        .pools
        .iter()
        .filter_map(|p| {
            let (user, limit) = user_limit(p, accounts, global_user_limit)?;
            Some((
                vec![("pool", p.name.clone()), ("mysql_user", user)],
                limit as f64,
            ))
        })
        .collect();
    out.gauge(
        "mysql_pool_user_connection_limit",
        "MAX_USER_CONNECTIONS that applies to the pool's user (the account's own, else the global max_user_connections); absent when unlimited.",
        &limits,
    )
}

/// Needs max_connections, an optional source: without it there is no ratio to report.
fn encode_overcommit(snap: &Snapshot, ctx: &EncodeContext, out: &mut Families) -> fmt::Result {
    let max_connections = snap
        .variable("max_connections")
        .and_then(parse_status_value);
    if let Some(ratio) = max_connections.and_then(|m| overcommit_ratio(ctx.pools, m)) {
        out.gauge(
            "mysql_pool_overcommit_ratio",
            "Sum of the configured pools' capacity / max_connections; above 1 the pools can exhaust the server.",
            &[(Vec::new(), ratio)],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::om;
    use crate::collect::testing::{encode_full, recorded};
    use crate::config::{IdleSessions, MatchSpec, Matcher, PoolConfig};
    use crate::snapshot::{Outcome, ThreadGroup};

    fn pool(idle_sessions: IdleSessions) -> PoolConfig {
        PoolConfig {
            name: "kefu-flask".into(),
            matcher: Matcher::compile(&MatchSpec {
                user: Some("kefu".into()),
                ..MatchSpec::default()
            })
            .unwrap(),
            size: 20,
            max_overflow: 0,
            processes: 1,
            target: None,
            idle_sessions,
        }
    }

    /// 14 busy, 6 parked: held 14 (70 %), open 20 (100 %); checked-out idle: held 20.
    #[test]
    fn utilization_counts_held_sessions_and_open_ratio_all() {
        let mut snap = recorded();
        snap.threads = Outcome::Ok(vec![
            ThreadGroup::uniform("kefu", "h", None, "Query", "User sleep", None, 14, 0),
            ThreadGroup::uniform("kefu", "h", None, "Sleep", "", None, 6, 30),
        ]);
        snap.global_variables = Outcome::Ok(vec![("max_connections".into(), "100".into())]);
        let get = |s: &om::Samples, name: &str| om::get(s, name, &[("pool", "kefu-flask")]);
        let s = om::parse(&encode_full(
            &Pools,
            &snap,
            50,
            &[pool(IdleSessions::Parked)],
        ));
        assert_eq!(get(&s, "mysql_pool_held_sessions"), Some(14.0));
        assert_eq!(get(&s, "mysql_pool_utilization_ratio"), Some(0.7));
        assert_eq!(get(&s, "mysql_pool_open_ratio"), Some(1.0));
        assert_eq!(om::get(&s, "mysql_pool_overcommit_ratio", &[]), Some(0.2));
        let s = om::parse(&encode_full(
            &Pools,
            &snap,
            50,
            &[pool(IdleSessions::CheckedOut)],
        ));
        assert_eq!(get(&s, "mysql_pool_utilization_ratio"), Some(1.0));
    }

    /// No pools configured: every app shows by its program_name (or user@host), with its
    /// sessions and leak signal but no capacity; the exporter's own sessions nowhere.
    #[test]
    fn apps_are_discovered_by_program_name_without_any_pool() {
        let named = |name: &str, g: ThreadGroup| ThreadGroup {
            attributes: vec![("program_name".into(), name.into())],
            ..g
        };
        let mut snap = recorded();
        snap.threads = Outcome::Ok(vec![
            named(
                "billing",
                ThreadGroup::uniform("app", "h", None, "Sleep", "", Some(("RUNNING", 90)), 3, 90),
            ),
            named(
                "search",
                ThreadGroup::uniform("app", "h", None, "Query", "executing", None, 2, 0),
            ),
            ThreadGroup::uniform("cron", "10.0.0.4", None, "Sleep", "", None, 1, 5),
            named(
                "mysql_pool_exporter",
                ThreadGroup::uniform("exporter", "h", None, "Query", "", None, 1, 0),
            ),
        ]);
        let s = om::parse(&encode_full(&Pools, &snap, 50, &[]));
        let held = |p: &str| om::get(&s, "mysql_pool_held_sessions", &[("pool", p)]);
        assert_eq!(held("billing"), Some(3.0));
        assert_eq!(held("search"), Some(2.0));
        assert_eq!(held("cron@10.0.0.4"), Some(0.0));
        assert_eq!(held("mysql_pool_exporter"), None);
        assert_eq!(
            om::get(
                &s,
                "mysql_pool_oldest_idle_transaction_seconds",
                &[("pool", "billing")]
            ),
            Some(90.0)
        );
        assert_eq!(
            om::get(&s, "mysql_pool_discovered", &[("pool", "billing")]),
            Some(1.0)
        );
        assert_eq!(
            om::get(&s, "mysql_pool_capacity", &[("pool", "billing")]),
            None
        );
        assert_eq!(
            om::get(&s, "mysql_pool_utilization_ratio", &[("pool", "billing")]),
            None
        );
        // A cap of one app: the one with most sessions keeps its name, the rest are `other`.
        let s = om::parse(&encode_full(&Pools, &snap, 1, &[]));
        let open = |p: &str| {
            ["active", "idle", "idle_in_transaction", "lock_wait"]
                .iter()
                .filter_map(|st| om::get(&s, "mysql_pool_sessions", &[("pool", p), ("state", st)]))
                .sum::<f64>()
        };
        assert_eq!((open("billing"), open("other")), (3.0, 3.0));
    }
}
