//! Application pools: which sessions are whose, how full each pool is, and which single
//! client process is fullest.

use std::collections::BTreeMap;

use super::host::strip_port;
use super::sessions::{classify, SessionState, SessionStats};
use crate::config::{Client, IdleSessions, PoolConfig};
use crate::snapshot::{
    ClientProcessGroup, ConnectAttributes, Plan, SessionRow, Snapshot, ThreadGroup,
};

#[derive(Clone, Debug, PartialEq)]
pub struct PoolStats {
    pub name: String,
    pub capacity: u64,
    /// size + max_overflow: what one process may open.
    pub process_capacity: u64,
    /// Whether idle sessions hold a slot (an app that keeps them checked out).
    pub idle_sessions: IdleSessions,
    pub sessions: SessionStats,
    /// Why the pool cannot be judged this time: it matches by connect attributes the server
    /// does not fill. Its counts are then not zero, they are unknown: never shown as data.
    pub unknown: Option<String>,
    /// Not configured: an app found by its sessions' `program_name` (or `user@host`), whose
    /// capacity is unknown until a pool of the config declares it (`capacity` is then 0).
    pub discovered: bool,
}

impl PoolStats {
    /// Sessions that hold a slot of the application's pool: working (`active`), waiting
    /// for a lock, or idle inside a transaction (checked out and forgotten). An idle session
    /// without a transaction is a connection parked in the pool, free for the next request,
    /// unless the pool says its app keeps idle sessions checked out.
    pub fn held(&self) -> u64 {
        let s = &self.sessions;
        let idle = match self.idle_sessions {
            IdleSessions::Parked => 0,
            IdleSessions::CheckedOut => s.count(SessionState::Idle),
        };
        s.count(SessionState::Active)
            + s.count(SessionState::LockWait)
            + s.count(SessionState::IdleInTransaction)
            + idle
    }

    /// Every open session of the pool, held or parked.
    pub fn open(&self) -> u64 {
        self.sessions.total()
    }

    /// Held / capacity: 1 is SQLAlchemy's "QueuePool limit ... reached".
    pub fn utilization(&self) -> f64 {
        ratio(self.held(), self.capacity)
    }

    /// Open / capacity: how much of what the app may open is open.
    pub fn open_ratio(&self) -> f64 {
        ratio(self.open(), self.capacity)
    }
}

fn ratio(n: u64, capacity: u64) -> f64 {
    if capacity == 0 {
        0.0
    } else {
        n as f64 / capacity as f64
    }
}

/// The index of the first pool a session belongs to.
pub fn pool_of(pools: &[PoolConfig], client: &Client) -> Option<usize> {
    pools.iter().position(|p| p.matcher.matches(client))
}

/// The connect attribute clients name their program by: PyMySQL's `program_name=` argument,
/// libmysqlclient's `MYSQL_OPT_CONNECT_ATTR_ADD`, Connector/J's
/// `connectionAttributes=program_name:...`.
pub const APP_ATTRIBUTE: &str = "program_name";

/// What the exporter's own connections call themselves: they are in no pool and no app,
/// whichever exporter or `check` run opened them.
pub const EXPORTER_PROGRAM_NAME: &str = "mysql_pool_exporter";

/// What the queries must read for these pools: the connect attributes they match on, and
/// `program_name`, by which sessions outside every pool are grouped into apps.
pub fn plan(pools: &[PoolConfig]) -> Plan {
    let mut attributes: Vec<String> = pools
        .iter()
        .flat_map(|p| p.matcher.attribute_names())
        .map(String::from)
        .chain([APP_ATTRIBUTE.to_string()])
        .collect();
    attributes.sort();
    attributes.dedup();
    Plan {
        attributes,
        per_process: !pools.is_empty(),
        intervals: Vec::new(),
        thread_ids: false,
    }
}

/// The pool of one session as the server lists it (its host still carries the port).
pub fn session_pool(pools: &[PoolConfig], s: &SessionRow) -> Option<usize> {
    pool_of(
        pools,
        &Client {
            user: &s.user,
            host: strip_port(&s.host),
            db: s.db.as_deref(),
            attributes: &s.attributes,
        },
    )
}

fn group_client(g: &ThreadGroup) -> Client<'_> {
    Client {
        user: &g.user,
        host: &g.host,
        db: g.db.as_deref(),
        attributes: &g.attributes,
    }
}

/// Per-pool session statistics from the scrape's folded groups, the configured pools first;
/// server threads and the exporter's own sessions belong to no pool. `attributes` says
/// whether the server fills the connect attributes some pools may match on. With
/// `max_apps` > 0 the sessions outside every pool follow as discovered apps (see
/// [`app_name`]), the `max_apps` with most sessions by name and the rest as `other`.
pub fn pool_stats(
    pools: &[PoolConfig],
    groups: &[ThreadGroup],
    attributes: &ConnectAttributes,
    max_apps: usize,
) -> Vec<PoolStats> {
    let mut out = empty_stats(pools, attributes);
    let mut unpooled: Vec<(String, &ThreadGroup)> = Vec::new();
    for g in groups {
        if classify(&g.user, &g.command, &g.state, g.trx_state.as_deref()).is_none()
            || is_exporter(&g.attributes)
        {
            continue;
        }
        match pool_of(pools, &group_client(g)) {
            Some(i) => out[i].sessions.add(g),
            None if max_apps > 0 => unpooled.push((app_name(&g.user, &g.host, &g.attributes), g)),
            None => {}
        }
    }
    out.extend(discovered_apps(pools, unpooled, max_apps));
    out
}

/// The name of an app outside every pool: the `program_name` its sessions send, else
/// `user@host` (what the server shows of a client that names itself nothing).
pub fn app_name(user: &str, host: &str, attributes: &[(String, String)]) -> String {
    attributes
        .iter()
        .find(|(k, v)| k == APP_ATTRIBUTE && !v.is_empty())
        .map_or_else(|| format!("{user}@{host}"), |(_, v)| v.clone())
}

fn is_exporter(attributes: &[(String, String)]) -> bool {
    attributes
        .iter()
        .any(|(k, v)| k == APP_ATTRIBUTE && v == EXPORTER_PROGRAM_NAME)
}

/// What a discovered app is called when a configured pool already has its name.
const UNMATCHED: &str = "unmatched:";

/// The apps of the sessions no pool matched, most sessions first, at most `max_apps` by name
/// and the rest together as `other` (label values stay bounded).
fn discovered_apps(
    pools: &[PoolConfig],
    unpooled: Vec<(String, &ThreadGroup)>,
    max_apps: usize,
) -> Vec<PoolStats> {
    let mut open: BTreeMap<&str, u64> = BTreeMap::new();
    for (name, g) in &unpooled {
        *open.entry(name.as_str()).or_default() += g.count;
    }
    let mut ranked: Vec<(&str, u64)> = open.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let named: Vec<&str> = ranked.iter().take(max_apps).map(|(n, _)| *n).collect();
    let mut apps: BTreeMap<String, SessionStats> = BTreeMap::new();
    for (name, g) in &unpooled {
        let key = if named.contains(&name.as_str()) {
            if pools.iter().any(|p| p.name == *name) {
                format!("{UNMATCHED}{name}")
            } else {
                name.clone()
            }
        } else {
            "other".to_string()
        };
        apps.entry(key).or_default().add(g);
    }
    let mut out: Vec<PoolStats> = apps
        .into_iter()
        .map(|(name, sessions)| PoolStats {
            name,
            capacity: 0,
            process_capacity: 0,
            idle_sessions: IdleSessions::Parked,
            sessions,
            unknown: None,
            discovered: true,
        })
        .collect();
    out.sort_by(|a, b| b.open().cmp(&a.open()).then(a.name.cmp(&b.name)));
    out
}

/// The pools' numbers of a scrape's snapshot, from its folded session list (`None` when it
/// was not read this time), with up to `max_apps` discovered apps.
pub fn snapshot_pool_stats(
    pools: &[PoolConfig],
    snap: &Snapshot,
    max_apps: usize,
) -> Option<Vec<PoolStats>> {
    let groups = snap.threads.ok()?;
    Some(pool_stats(
        pools,
        groups,
        &snap.connect_attributes(),
        max_apps,
    ))
}

/// The apps outside every pool, from the detailed session list (the status page).
pub fn session_apps(
    pools: &[PoolConfig],
    sessions: &[SessionRow],
    attributes: &ConnectAttributes,
    max_apps: usize,
) -> Vec<PoolStats> {
    let groups: Vec<ThreadGroup> = sessions.iter().map(session_group).collect();
    let mut all = pool_stats(pools, &groups, attributes, max_apps);
    all.retain(|p| p.discovered);
    all
}

/// One session as a group of one, its host without the port.
fn session_group(s: &SessionRow) -> ThreadGroup {
    let mut one = ThreadGroup::uniform(
        &s.user,
        strip_port(&s.host),
        s.db.as_deref(),
        &s.command,
        &s.state,
        s.trx_state.as_deref().zip(s.trx_age.or(Some(0))),
        1,
        s.time,
    );
    one.attributes.clone_from(&s.attributes);
    one
}

/// The same from the detailed session list (`check`, the status page): counted from the
/// rows the verdict names its culprits from, with the same membership as [`session_pool`].
pub fn session_pool_stats(
    pools: &[PoolConfig],
    sessions: &[SessionRow],
    attributes: &ConnectAttributes,
) -> Vec<PoolStats> {
    let mut out = empty_stats(pools, attributes);
    for s in sessions {
        if is_exporter(&s.attributes) {
            continue;
        }
        let Some(i) = session_pool(pools, s) else {
            continue;
        };
        out[i].sessions.add(&session_group(s));
    }
    out
}

/// Each pool with no session counted yet; those matching by connect attributes the server
/// does not fill are marked unknown.
fn empty_stats(pools: &[PoolConfig], attributes: &ConnectAttributes) -> Vec<PoolStats> {
    pools
        .iter()
        .map(|p| PoolStats {
            name: p.name.clone(),
            capacity: p.capacity(),
            process_capacity: p.process_capacity(),
            idle_sessions: p.idle_sessions,
            sessions: SessionStats::default(),
            unknown: match attributes {
                ConnectAttributes::Unavailable(why) if p.matcher.uses_attributes() => Some(
                    format!("it matches by connect attributes, which cannot be read: {why}"),
                ),
                _ => None,
            },
            discovered: false,
        })
        .collect()
}

/// What the pools may open together: the sum of their capacities.
pub fn declared_capacity(pools: &[PoolConfig]) -> u64 {
    pools.iter().map(PoolConfig::capacity).sum()
}

/// Sum of the pools' capacity over `max_connections`: above 1 the apps may together open
/// more connections than the server accepts.
pub fn overcommit_ratio(pools: &[PoolConfig], max_connections: f64) -> Option<f64> {
    (max_connections > 0.0 && !pools.is_empty())
        .then(|| declared_capacity(pools) as f64 / max_connections)
}

/// The per-user connection limit that applies to a pool's user (its `match.user` must be
/// an exact name): the account's own `MAX_USER_CONNECTIONS` (the smallest, if the user has
/// several host entries), else the global `max_user_connections`; `None` when unlimited.
pub fn user_limit(
    pool: &PoolConfig,
    accounts: Option<&[(String, String, u64)]>,
    global: Option<f64>,
) -> Option<(String, u64)> {
    let user = pool.matcher.exact_user()?;
    let own = accounts
        .into_iter()
        .flatten()
        .filter(|(u, _, limit)| u == user && *limit > 0)
        .map(|(_, _, limit)| *limit)
        .min();
    let global = global.filter(|g| *g >= 1.0).map(|g| g as u64);
    Some((user.to_string(), own.or(global)?))
}

/// The sessions `user` has now, whatever pool or host they come from (what the server
/// counts against `MAX_USER_CONNECTIONS`), from the detailed session list.
pub fn user_sessions(sessions: &[SessionRow], user: &str) -> u64 {
    sessions.iter().filter(|s| s.user == user).count() as u64
}

/// Per pool, the open sessions of its fullest client process (host + `_pid`), from
/// `performance_schema.session_connect_attrs`. `None` for a pool with no attributed session.
pub fn fullest_process(pools: &[PoolConfig], rows: &[ClientProcessGroup]) -> Vec<Option<u64>> {
    per_process_max(pools, rows, |_, r| r.count)
}

/// Per pool, the held sessions of its fullest client process: its open sessions less those
/// parked in its pool (held as [`PoolStats::held`] counts them). One process at its own
/// `size + max_overflow` held is a process whose requests wait, whatever the pool as a whole.
pub fn fullest_process_held(pools: &[PoolConfig], rows: &[ClientProcessGroup]) -> Vec<Option<u64>> {
    per_process_max(pools, rows, |p, r| match p.idle_sessions {
        IdleSessions::Parked => r.count - r.parked.min(r.count),
        IdleSessions::CheckedOut => r.count,
    })
}

fn per_process_max(
    pools: &[PoolConfig],
    rows: &[ClientProcessGroup],
    measure: impl Fn(&PoolConfig, &ClientProcessGroup) -> u64,
) -> Vec<Option<u64>> {
    let mut per_pool: Vec<BTreeMap<(&str, &str), u64>> = vec![BTreeMap::new(); pools.len()];
    for r in rows {
        let Some(pid) = r.pid.as_deref() else {
            continue;
        };
        let client = Client {
            user: &r.user,
            host: &r.host,
            db: r.db.as_deref(),
            attributes: &r.attributes,
        };
        if let Some(i) = pool_of(pools, &client) {
            *per_pool[i].entry((r.host.as_str(), pid)).or_default() += measure(&pools[i], r);
        }
    }
    per_pool
        .into_iter()
        .map(|m| m.into_values().max())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::SessionState;
    use crate::config::{MatchSpec, Matcher};

    fn pool(
        name: &str,
        user: Option<&str>,
        host: Option<&str>,
        db: Option<&str>,
        size: u32,
        overflow: u32,
        procs: u32,
    ) -> PoolConfig {
        PoolConfig {
            name: name.into(),
            matcher: Matcher::compile(&MatchSpec {
                user: user.map(Into::into),
                client_host: host.map(Into::into),
                db: db.map(Into::into),
                ..MatchSpec::default()
            })
            .unwrap(),
            size,
            max_overflow: overflow,
            processes: procs,
            target: None,
            idle_sessions: Default::default(),
        }
    }

    #[test]
    fn the_incidents_pool_is_exhausted_by_45_leaked_sessions() {
        let pools = [pool(
            "kefu-flask",
            Some("kefu"),
            Some("10.0.0.0/8"),
            Some("kefu"),
            15,
            30,
            1,
        )];
        let groups = [
            ThreadGroup::uniform(
                "kefu",
                "10.0.0.7",
                Some("kefu"),
                "Sleep",
                "",
                Some(("RUNNING", 600)),
                45,
                590,
            ),
            // Same user from another network, and a server thread: not the pool's.
            ThreadGroup::uniform("kefu", "192.168.0.9", Some("kefu"), "Sleep", "", None, 3, 1),
            ThreadGroup::uniform("system user", "", None, "Slave_SQL", "", None, 1, 1),
        ];
        let s = &pool_stats(&pools, &groups, &ConnectAttributes::Available, 0)[0];
        assert_eq!(s.capacity, 45);
        assert_eq!(s.utilization(), 1.0);
        assert_eq!(s.sessions.count(SessionState::IdleInTransaction), 45);
        assert_eq!(
            s.sessions.histogram(SessionState::IdleInTransaction).max,
            600
        );
    }

    /// Issue 10's fourth shape: a pool of 20 once full, now 14 busy with short queries and 6
    /// parked in the pool. Held is 14 (70 %), open 20: healthy. An autocommit app that keeps
    /// idle connections checked out says so, and then they hold slots.
    #[test]
    fn parked_connections_are_open_but_not_held() {
        let mut p = pool("web", Some("kefu"), None, None, 20, 0, 1);
        let groups = [
            ThreadGroup::uniform("kefu", "h", None, "Query", "Sending data", None, 14, 0),
            ThreadGroup::uniform("kefu", "h", None, "Sleep", "", None, 6, 40),
        ];
        let s = &pool_stats(
            std::slice::from_ref(&p),
            &groups,
            &ConnectAttributes::Available,
            0,
        )[0];
        assert_eq!((s.held(), s.open(), s.capacity), (14, 20, 20));
        assert_eq!((s.utilization(), s.open_ratio()), (0.7, 1.0));
        p.idle_sessions = IdleSessions::CheckedOut;
        let s = &pool_stats(&[p], &groups, &ConnectAttributes::Available, 0)[0];
        assert_eq!((s.held(), s.utilization()), (20, 1.0));
    }

    #[test]
    fn first_matching_pool_wins_and_the_rest_is_nobodys() {
        let pools = [
            pool("web", Some("kefu"), None, Some("kefu"), 5, 5, 2),
            pool("jobs", Some("kefu*"), None, None, 2, 0, 1),
        ];
        let groups = [
            ThreadGroup::uniform("kefu", "h", Some("kefu"), "Query", "", None, 4, 1),
            ThreadGroup::uniform("kefu", "h", Some("stats"), "Sleep", "", None, 1, 1),
            ThreadGroup::uniform("kefu_cron", "h", None, "Sleep", "", None, 1, 1),
            ThreadGroup::uniform("root", "localhost", None, "Sleep", "", None, 1, 1),
        ];
        let s = pool_stats(&pools, &groups, &ConnectAttributes::Available, 0);
        assert_eq!((s[0].sessions.total(), s[0].capacity), (4, 20));
        assert_eq!((s[1].sessions.total(), s[1].capacity), (2, 2));
        assert_eq!(s[0].utilization(), 0.2);
        // The `jobs` sessions are idle, parked: open, not held.
        assert_eq!((s[1].held(), s[1].open_ratio()), (0, 1.0));
        assert_eq!(overcommit_ratio(&pools, 11.0), Some(2.0));
        assert_eq!(overcommit_ratio(&pools, 0.0), None);
    }

    #[test]
    fn the_user_limit_is_the_accounts_own_else_the_global_one() {
        let exact = pool("web", Some("kefu"), None, None, 15, 30, 1);
        let glob = pool("jobs", Some("kefu*"), None, None, 2, 0, 1);
        let accounts = vec![
            ("kefu".to_string(), "10.%".to_string(), 40),
            ("kefu".to_string(), "%".to_string(), 60),
            ("other".to_string(), "%".to_string(), 5),
        ];
        assert_eq!(
            user_limit(&exact, Some(&accounts), Some(100.0)),
            Some(("kefu".into(), 40))
        );
        assert_eq!(
            user_limit(&exact, None, Some(100.0)),
            Some(("kefu".into(), 100))
        );
        assert_eq!(user_limit(&exact, Some(&[]), Some(0.0)), None);
        assert_eq!(user_limit(&glob, Some(&accounts), Some(100.0)), None);
        let mut sessions: Vec<SessionRow> = (1..=5)
            .map(|i| SessionRow::recorded(i, "Sleep", 1, None))
            .collect();
        sessions.push(SessionRow {
            user: "root".into(),
            ..SessionRow::recorded(6, "Query", 1, None)
        });
        assert_eq!(user_sessions(&sessions, "kefu"), 5);
    }

    #[test]
    fn the_fullest_process_is_found_per_host_and_pid() {
        let pools = [pool("web", Some("kefu"), None, None, 15, 30, 4)];
        let row = |host: &str, pid: Option<&str>, count, parked| ClientProcessGroup {
            user: "kefu".into(),
            host: host.into(),
            db: None,
            pid: pid.map(Into::into),
            attributes: Vec::new(),
            count,
            parked,
        };
        let rows = [
            row("10.0.0.1", Some("100"), 45, 40),
            row("10.0.0.2", Some("100"), 3, 0),
            row("10.0.0.1", Some("101"), 10, 0),
            row("10.0.0.1", None, 99, 0),
        ];
        assert_eq!(fullest_process(&pools, &rows), vec![Some(45)]);
        assert_eq!(fullest_process(&pools, &[]), vec![None]);
        // Held: the process with 45 open has 40 parked in its pool; the one with 10 open
        // holds all 10.
        assert_eq!(fullest_process_held(&pools, &rows), vec![Some(10)]);
        let mut checked_out = pools.clone();
        checked_out[0].idle_sessions = IdleSessions::CheckedOut;
        assert_eq!(fullest_process_held(&checked_out, &rows), vec![Some(45)]);
    }
}
