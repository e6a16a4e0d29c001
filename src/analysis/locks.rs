//! Lock chains: who waits for whom, and who is at the root. InnoDB lists queued lock
//! requests as blocking each other, so with 20 sessions queued behind one idle transaction
//! almost every waiter "blocks" another; the one to look at is the root: a blocker that is
//! not itself waiting. Its waiters are every session that waits for it directly or through
//! others.

use std::collections::{BTreeMap, BTreeSet};

use super::host::strip_port;
use crate::snapshot::LockWait;

/// A session that holds what others wait for and waits for nothing itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootBlocker {
    pub id: u64,
    pub user: String,
    /// Without the port.
    pub host: String,
    /// Sessions waiting for it, directly or transitively.
    pub waiters: usize,
    /// Their ids.
    pub waiting_ids: BTreeSet<u64>,
    /// The longest wait among them, seconds.
    pub longest_wait: u64,
}

/// The root blockers, most waiters first. A cycle without a root (a deadlock InnoDB has
/// not broken yet) has no root and is not listed; its sessions still count as waiting.
pub fn root_blockers(waits: &[LockWait]) -> Vec<RootBlocker> {
    let waiting: BTreeSet<u64> = waits.iter().map(|w| w.waiting).collect();
    let mut waiters_of: BTreeMap<u64, Vec<&LockWait>> = BTreeMap::new();
    for w in waits {
        waiters_of.entry(w.blocking).or_default().push(w);
    }
    let mut roots: Vec<RootBlocker> = waiters_of
        .keys()
        .filter(|b| !waiting.contains(b))
        .map(|&root| {
            let mut seen = BTreeSet::new();
            let mut longest = 0;
            let mut stack = vec![root];
            while let Some(x) = stack.pop() {
                for w in waiters_of.get(&x).into_iter().flatten() {
                    longest = longest.max(w.wait_seconds);
                    if w.waiting != root && seen.insert(w.waiting) {
                        stack.push(w.waiting);
                    }
                }
            }
            let edge = waiters_of[&root][0];
            RootBlocker {
                id: root,
                user: edge.blocking_user.clone(),
                host: strip_port(&edge.blocking_host).to_string(),
                waiters: seen.len(),
                waiting_ids: seen,
                longest_wait: longest,
            }
        })
        .collect();
    roots.sort_by(|a, b| b.waiters.cmp(&a.waiters).then(a.id.cmp(&b.id)));
    roots
}

/// Sessions waiting for a row lock now.
pub fn waiting_sessions(waits: &[LockWait]) -> usize {
    waits
        .iter()
        .map(|w| w.waiting)
        .collect::<BTreeSet<_>>()
        .len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(waiting: u64, blocking: u64, secs: u64) -> LockWait {
        LockWait {
            waiting,
            blocking,
            wait_seconds: secs,
            blocking_user: format!("u{blocking}"),
            blocking_host: "10.0.0.9:4242".into(),
        }
    }

    /// One idle transaction (1) holds the row; 20 sessions queue for it. InnoDB reports each
    /// queued request as blocked by the holder and by the requests ahead of it.
    #[test]
    fn a_queue_behind_one_holder_has_one_root() {
        let mut waits = Vec::new();
        for i in 2..=21u64 {
            waits.push(w(i, 1, 40 - i));
            for ahead in 2..i {
                waits.push(w(i, ahead, 40 - i));
            }
        }
        let roots = root_blockers(&waits);
        assert_eq!(roots.len(), 1, "{roots:?}");
        assert_eq!(
            roots[0],
            RootBlocker {
                id: 1,
                user: "u1".into(),
                host: "10.0.0.9".into(),
                waiters: 20,
                waiting_ids: (2..=21).collect(),
                longest_wait: 38,
            }
        );
        assert_eq!(waiting_sessions(&waits), 20);
    }

    #[test]
    fn chains_count_transitive_waiters_and_cycles_have_no_root() {
        // 3 waits for 2, which waits for 1; 5 waits for 4; 7 and 8 deadlocked.
        let waits = [w(2, 1, 9), w(3, 2, 4), w(5, 4, 1), w(7, 8, 2), w(8, 7, 2)];
        let roots = root_blockers(&waits);
        let summary: Vec<(u64, usize, u64)> = roots
            .iter()
            .map(|r| (r.id, r.waiters, r.longest_wait))
            .collect();
        assert_eq!(summary, [(1, 2, 9), (4, 1, 1)]);
        assert_eq!(waiting_sessions(&waits), 5);
        assert!(root_blockers(&[]).is_empty());
    }
}
