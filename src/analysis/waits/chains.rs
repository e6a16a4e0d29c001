//! The roots of the wait-for graph: a session others wait for, directly or through others,
//! that waits for nothing itself. A chain is a root with everyone behind it; its queue head
//! is the waiter the others queue behind (the ALTER behind an idle transaction).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{LockKind, WaitGraph};

/// One root and everything stuck behind it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Chain {
    pub root: u64,
    /// What the waiters wait for: the lock the queue behind the head waits on, else the one
    /// the root's direct waiters wait on.
    pub kind: LockKind,
    pub object: Option<String>,
    /// The waiter the others queue behind (it waits for the root itself); `None` when the
    /// waiters wait for the root directly (row locks, user locks).
    pub head: Option<u64>,
    /// Every session waiting for the root, directly or through others.
    pub waiters: BTreeSet<u64>,
    pub longest_wait: u64,
    /// Some edge of the chain is inferred (the root is then "probably" the root).
    pub inferred: bool,
}

/// The chains of the graph, most waiters first. A cycle (a deadlock the server has not
/// broken yet) has no root and no chain; its sessions still count as waiting.
pub fn chains(g: &WaitGraph) -> Vec<Chain> {
    let mut waiters_of: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (i, e) in g.edges.iter().enumerate() {
        waiters_of.entry(e.holder).or_default().push(i);
    }
    let waits: BTreeSet<u64> = g.edges.iter().map(|e| e.waiter).collect();
    // Ties (inferred candidates of one queue) keep the order their edges were made in:
    // the oldest open transaction first.
    let mut out: Vec<(usize, Chain)> = waiters_of
        .iter()
        .filter(|(h, _)| !waits.contains(h))
        .filter_map(|(&root, edges)| Some((edges[0], chain(g, &waiters_of, root)?)))
        .collect();
    out.sort_by_key(|(first, c)| {
        (
            Reverse(c.waiters.len()),
            Reverse(c.longest_wait),
            c.inferred,
            *first,
        )
    });
    out.into_iter().map(|(_, c)| c).collect()
}

fn chain(g: &WaitGraph, waiters_of: &BTreeMap<u64, Vec<usize>>, root: u64) -> Option<Chain> {
    let behind = |id: u64| -> BTreeSet<u64> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![id];
        while let Some(x) = stack.pop() {
            for &i in waiters_of.get(&x).into_iter().flatten() {
                let w = g.edges[i].waiter;
                if w != id && seen.insert(w) {
                    stack.push(w);
                }
            }
        }
        seen
    };
    let waiters = behind(root);
    let edges: Vec<usize> = waiters_of
        .iter()
        .filter(|(h, _)| **h == root || waiters.contains(h))
        .flat_map(|(_, e)| e.iter().copied())
        .collect();
    let direct: Vec<usize> = waiters_of.get(&root)?.clone();
    // The head: the direct waiter with the most sessions behind it, unless the lock is one
    // that everybody waits for directly (row locks list every queued request anyway).
    let head = direct
        .iter()
        .map(|&i| &g.edges[i])
        .filter(|e| e.kind != LockKind::Row)
        .map(|e| (behind(e.waiter).len(), e.waiter))
        .filter(|(n, _)| *n > 0)
        .max_by_key(|(n, id)| (*n, Reverse(*id)))
        .map(|(_, id)| id);
    let queue = match head {
        Some(h) => waiters_of.get(&h).cloned().unwrap_or_default(),
        None => direct.clone(),
    };
    let kind_edge = &g.edges[*queue.first().or(direct.first())?];
    Some(Chain {
        root,
        kind: kind_edge.kind,
        object: kind_edge.object.clone(),
        head,
        longest_wait: edges
            .iter()
            .map(|&i| g.edges[i].wait_seconds)
            .max()
            .unwrap_or(0),
        inferred: edges.iter().any(|&i| g.edges[i].inferred),
        waiters,
    })
}
