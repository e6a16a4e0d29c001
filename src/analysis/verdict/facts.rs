//! What one snapshot's sessions are, read once for every finding: the sessions with their
//! pools, the wait-for graph and its chains, the pools' numbers; and the few words every
//! finding is written with.

use super::{view, Culprit, SessionView};
use crate::analysis::pools::{session_pool, session_pool_stats, PoolStats};
use crate::analysis::waits::{self, Chain, WaitGraph};
use crate::config::PoolConfig;
use crate::snapshot::{SessionRow, Snapshot};

/// What one snapshot's sessions are, read once for every finding.
pub(super) struct Facts<'a> {
    /// Every client session with the index of its pool.
    pub(super) views: Vec<(Option<usize>, SessionView)>,
    /// Who waits for whom, for every kind of lock.
    pub(super) graph: WaitGraph,
    /// Its roots, most waiters first.
    pub(super) chains: Vec<Chain>,
    /// The roots as culprits (those the session list lacks, ended meanwhile, are left out).
    pub(super) root_culprits: Vec<Culprit>,
    pub(super) pools: &'a [PoolConfig],
    pub(super) stats: Vec<PoolStats>,
    pub(super) sessions: &'a [SessionRow],
}

impl<'a> Facts<'a> {
    pub(super) fn of(snap: &Snapshot, sessions: &'a [SessionRow], pools: &'a [PoolConfig]) -> Self {
        let views: Vec<(Option<usize>, SessionView)> = sessions
            .iter()
            .filter_map(|s| Some((session_pool(pools, s), view(s)?)))
            .collect();
        let graph = waits::of_snapshot(snap);
        let chains = waits::chains(&graph);
        let mut facts = Facts {
            stats: session_pool_stats(pools, sessions, &snap.connect_attributes()),
            views,
            graph,
            chains,
            root_culprits: Vec::new(),
            pools,
            sessions,
        };
        // One root per queue: several inferred candidates of one queue (every open
        // transaction may hold the metadata lock) are one blocker to look at, the oldest.
        let mut queues = Vec::new();
        facts.root_culprits = facts
            .chains
            .iter()
            .filter(|c| {
                let new = !queues.contains(&&c.waiters);
                queues.push(&c.waiters);
                new
            })
            .filter_map(|c| {
                Some(Culprit {
                    session: facts.view_of(c.root)?.clone(),
                    blocks: Some(c.waiters.len()),
                })
            })
            .collect();
        facts
    }

    pub(super) fn view_of(&self, id: u64) -> Option<&SessionView> {
        self.views.iter().map(|(_, v)| v).find(|v| v.id == id)
    }

    pub(super) fn pool_of(&self, id: u64) -> Option<usize> {
        self.views
            .iter()
            .find(|(_, v)| v.id == id)
            .and_then(|(p, _)| *p)
    }

    /// The sessions of pool `i` (`None`: outside every pool).
    pub(super) fn sessions_of(&self, i: Option<usize>) -> impl Iterator<Item = &SessionView> {
        self.views
            .iter()
            .filter(move |(pool, _)| *pool == i)
            .map(|(_, v)| v)
    }
}

pub(super) fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

pub(super) fn pct(r: f64) -> String {
    format!("{:.0}%", r * 100.0)
}

pub(super) fn held(stats: &PoolStats) -> String {
    format!("{}/{} held", stats.held(), stats.capacity)
}
