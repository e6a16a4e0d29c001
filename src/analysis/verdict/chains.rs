//! Lock chains as findings: each chain of the wait-for graph that holds up a pool or has
//! waited past `lock_wait`, said as the on-call needs it (the lock, the object, the statement
//! at the head of the queue, the root), and the waiters whose holder nobody can see.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use super::facts::{held, plural, Facts};
use super::{Cause, ChainReport, Finding, Status};
use crate::analysis::sessions::SessionState;
use crate::analysis::waits::{statement, Chain, LockKind};
use crate::config::Thresholds;
use crate::snapshot::Snapshot;

/// `session 10 (app@10.0.0.7, idle in transaction 31s)`.
fn who(facts: &Facts, id: u64) -> String {
    match facts.view_of(id) {
        Some(v) => {
            let doing = match v.state {
                SessionState::IdleInTransaction => "idle in transaction",
                SessionState::Idle => "idle",
                SessionState::Active => "running",
                SessionState::LockWait => "waiting",
            };
            format!(
                "session {id} ({}@{}, {doing} {}s)",
                v.user, v.host, v.age_seconds
            )
        }
        None => format!("session {id}"),
    }
}

/// `metadata lock on appdb.t, 14 sessions wait behind ALTER TABLE (session 11,
/// migrate@10.0.0.5, waiting 29s), which waits for session 10 (app@10.0.0.7, idle in
/// transaction 31s)`; "probably" where an edge is inferred, and how many other sessions may
/// be the root as well.
fn chain_summary(facts: &Facts, c: &Chain) -> String {
    let what = match &c.object {
        Some(o) => format!("{} on {o}", c.kind.describe()),
        None => c.kind.describe().to_string(),
    };
    let probably = if c.inferred { "probably " } else { "" };
    let root = who(facts, c.root);
    let mut out = match c.head {
        Some(h) => {
            let n = c.waiters.len().saturating_sub(1);
            let verb = facts
                .sessions
                .iter()
                .find(|s| s.id == h)
                .and_then(|s| s.info.as_deref())
                .map_or_else(|| "a statement".to_string(), statement::verb);
            let head = facts.view_of(h);
            format!(
                "{what}, {n} session{} wait{} behind {verb} (session {h}{}, waiting {}s), which {probably}waits for {root}",
                plural(n),
                if n == 1 { "s" } else { "" },
                head.map(|v| format!(", {}@{}", v.user, v.host)).unwrap_or_default(),
                head.map_or(0, |v| v.age_seconds),
            )
        }
        None => {
            let n = c.waiters.len();
            format!(
                "{what}, {n} session{} {probably}wait{} for {root}",
                plural(n),
                if n == 1 { "s" } else { "" }
            )
        }
    };
    // Inferred roots of the same queue: every open transaction may hold the lock.
    let alike = facts
        .chains
        .iter()
        .filter(|o| o.root != c.root && o.inferred && o.waiters == c.waiters)
        .count();
    if c.inferred && alike > 0 {
        let _ = write!(
            out,
            " or one of {alike} other open transaction{}",
            plural(alike)
        );
    }
    out
}

/// The pool most of a chain's waiters belong to, and how many of them.
fn chain_pool(facts: &Facts, c: &Chain) -> Option<(usize, usize)> {
    let mut count: BTreeMap<usize, usize> = BTreeMap::new();
    for id in &c.waiters {
        if let Some(p) = facts.pool_of(*id) {
            *count.entry(p).or_default() += 1;
        }
    }
    count.into_iter().max_by_key(|(p, n)| (*n, Reverse(*p)))
}

/// One finding per lock chain that matters: its waiters fill their pool, or have waited past
/// `lock_wait`. A chain is a finding of its own, full pool or not, and ranks by the
/// sessions stuck behind it. Returns the sessions named (root and waiters: never culprits
/// of another finding) and the pools whose state a chain explains.
pub(super) fn chain_findings(
    facts: &Facts,
    t: &Thresholds,
    out: &mut Vec<Finding>,
) -> (Vec<u64>, Vec<usize>) {
    let mut judged = Vec::new();
    let mut explained = Vec::new();
    let mut shown: Vec<&BTreeSet<u64>> = Vec::new();
    for c in &facts.chains {
        // Several inferred roots of one queue: one finding, the oldest first.
        if shown.contains(&&c.waiters) {
            continue;
        }
        let pool = chain_pool(facts, c);
        let pool_status = pool.map_or(Status::Ok, |(i, _)| {
            Status::of_ratio(facts.stats[i].utilization(), t.pool_utilization)
        });
        let status = if pool_status != Status::Ok {
            pool_status
        } else if c.longest_wait >= t.lock_wait.as_secs() {
            Status::Warning
        } else {
            continue;
        };
        shown.push(&c.waiters);
        let pool_name = pool.map(|(i, _)| facts.pools[i].name.as_str());
        let mut summary = chain_summary(facts, c);
        if let Some((i, _)) = pool {
            let _ = write!(summary, ", {}", held(&facts.stats[i]));
            if pool_status != Status::Ok {
                explained.push(i);
            }
        }
        let mut f = Finding::plain(status, Cause::LockChain, pool_name, summary);
        f.culprits = facts
            .root_culprits
            .iter()
            .filter(|r| r.session.id == c.root)
            .cloned()
            .collect();
        f.chain = Some(ChainReport::of(c));
        judged.push(c.root);
        judged.extend(c.waiters.iter().copied());
        out.push(f);
    }
    (judged, explained)
}

/// Waiters whose holder no source shows: counted, never guessed at.
pub(super) fn unexplained_findings(
    snap: &Snapshot,
    facts: &Facts,
    t: &Thresholds,
    judged: &mut Vec<u64>,
    out: &mut Vec<Finding>,
) {
    for (kind, object, ids) in &facts.graph.unexplained {
        let longest = ids
            .iter()
            .filter_map(|id| facts.view_of(*id))
            .map(|v| v.age_seconds)
            .max()
            .unwrap_or(0);
        if longest < t.lock_wait.as_secs() {
            continue;
        }
        let what = match object {
            Some(o) => format!("{} on {o}", kind.describe()),
            None => kind.describe().to_string(),
        };
        let how = snap
            .metadata_locks
            .reason()
            .map(|r| format!("; {r}"))
            .unwrap_or_else(|| hint(*kind).to_string());
        let n = ids.len();
        let summary = format!(
            "{what}, {n} session{} wait{} (longest {longest}s) for a holder no lock table shows{how}",
            plural(n),
            if n == 1 { "s" } else { "" }
        );
        let mut f = Finding::plain(Status::Warning, Cause::LockChain, None, summary);
        f.more_ids = ids.clone();
        judged.extend(ids.iter().copied());
        out.push(f);
    }
}

/// What shows the holder of a lock of this kind when nothing did.
fn hint(kind: LockKind) -> &'static str {
    match kind {
        LockKind::User | LockKind::Backup | LockKind::GlobalRead => {
            "; its holder may be idle: on MariaDB INSTALL SONAME 'metadata_lock_info' to see it"
        }
        _ => "",
    }
}
