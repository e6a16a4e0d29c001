//! Who waits for whom: one wait-for graph per snapshot, for every kind of lock. Nodes are
//! sessions; an edge says "this session waits for that one", with the lock's kind and
//! object, and whether it was read from a lock table (exact) or inferred from processlist
//! states (probable).
//!
//! Sources, each used when the server offers it: InnoDB's row-lock waits; the metadata
//! locks of `performance_schema.metadata_locks` (waiters included: exact) or of MariaDB's
//! `METADATA_LOCK_INFO` plugin (granted locks only: waiters from the processlist); and,
//! where neither is readable, the processlist states and statement texts alone
//! ([`infer`]). The roots of the graph ([`chains`]) are what the verdict and the metrics
//! name: a session others wait for and that waits for nothing.

mod chains;
mod infer;
mod mdl;
pub mod statement;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::snapshot::{LockWait, MetadataLocks, SessionRow, Snapshot};

pub use chains::{chains, Chain};

/// What kind of lock a session waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LockKind {
    /// An InnoDB row lock.
    Row,
    /// A metadata lock on a table, schema or routine (DDL and the queries queued behind it).
    Metadata,
    /// The global read lock or commit lock (`FLUSH TABLES WITH READ LOCK`).
    GlobalRead,
    /// A backup lock (MariaDB's `BACKUP STAGE` and FTWRL, MySQL's `LOCK INSTANCE FOR BACKUP`).
    Backup,
    /// A table flush: the session waits until every statement using the table ends.
    Flush,
    /// A table-level lock of an engine without row locks (MyISAM).
    Table,
    /// A user lock (`GET_LOCK`).
    User,
}

impl LockKind {
    pub const ALL: [LockKind; 7] = [
        LockKind::Row,
        LockKind::Metadata,
        LockKind::GlobalRead,
        LockKind::Backup,
        LockKind::Flush,
        LockKind::Table,
        LockKind::User,
    ];

    /// The `lock` label value.
    pub fn label(self) -> &'static str {
        match self {
            LockKind::Row => "row",
            LockKind::Metadata => "metadata",
            LockKind::GlobalRead => "global_read",
            LockKind::Backup => "backup",
            LockKind::Flush => "flush",
            LockKind::Table => "table",
            LockKind::User => "user",
        }
    }

    /// As a verdict says it: `metadata lock`, `global read lock`, …
    pub fn describe(self) -> &'static str {
        match self {
            LockKind::Row => "row lock",
            LockKind::Metadata => "metadata lock",
            LockKind::GlobalRead => "global read lock",
            LockKind::Backup => "backup lock",
            LockKind::Flush => "table flush",
            LockKind::Table => "table lock",
            LockKind::User => "user lock",
        }
    }
}

/// The lock a processlist `STATE` says a session waits for (row-lock waits show in
/// `INNODB_TRX.trx_state` instead). The names are the servers' own (`sql/mdl.cc` and
/// friends): `Waiting for table metadata lock`, `… global read lock`, `… backup lock`,
/// `… commit lock`, `User lock`, `Waiting for table flush`, and any other
/// `Waiting for … lock` of either server.
pub fn wait_kind(state: &str) -> Option<LockKind> {
    let s = state.trim();
    if s.eq_ignore_ascii_case("User lock") || s.starts_with("Waiting for user lock") {
        return Some(LockKind::User);
    }
    if s == "Waiting for table flush" || s == "Waiting for tables" {
        return Some(LockKind::Flush);
    }
    let rest = s.strip_prefix("Waiting for ")?;
    if !rest.ends_with("lock") {
        return None;
    }
    Some(match rest {
        "global read lock" | "commit lock" => LockKind::GlobalRead,
        "backup lock" => LockKind::Backup,
        "table level lock" => LockKind::Table,
        _ => LockKind::Metadata,
    })
}

/// One "waits for" of the graph.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WaitEdge {
    pub waiter: u64,
    pub holder: u64,
    pub kind: LockKind,
    /// `schema.table`, the user lock's name, …; `None` when unknown (global locks).
    pub object: Option<String>,
    /// How long the waiter has waited.
    pub wait_seconds: u64,
    /// Read from processlist states, not a lock table: shown as "probably".
    pub inferred: bool,
}

/// The graph of one snapshot.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WaitGraph {
    pub edges: Vec<WaitEdge>,
    /// Every session that waits for a lock, and for which kind, whether or not the graph
    /// knows whom for.
    pub waiting: BTreeMap<u64, LockKind>,
    /// Waiters whose holder no source shows: (kind, object, ids).
    pub unexplained: Vec<(LockKind, Option<String>, Vec<u64>)>,
    /// Whether metadata locks were read from a table (else inferred from states).
    pub metadata_exact: bool,
}

impl WaitGraph {
    /// Sessions waiting, per kind.
    pub fn waiting_by_kind(&self) -> BTreeMap<LockKind, u64> {
        let mut out = BTreeMap::new();
        for kind in self.waiting.values() {
            *out.entry(*kind).or_default() += 1;
        }
        out
    }

    fn has_edge_from(&self, id: u64) -> bool {
        self.edges.iter().any(|e| e.waiter == id)
    }
}

/// Builds the graph: row-lock waits as InnoDB lists them, metadata-lock waits from the
/// metadata-lock rows where they list waiters, and the rest inferred from `sessions`.
pub fn build(
    sessions: &[SessionRow],
    row_waits: &[LockWait],
    metadata: Option<&MetadataLocks>,
) -> WaitGraph {
    let mut g = WaitGraph {
        metadata_exact: metadata.is_some(),
        ..WaitGraph::default()
    };
    let by_id: BTreeMap<u64, &SessionRow> = sessions.iter().map(|s| (s.id, s)).collect();
    for s in sessions {
        if let Some(kind) = session_wait(s) {
            g.waiting.insert(s.id, kind);
        }
    }
    let mut seen = BTreeSet::new();
    for w in row_waits {
        g.waiting.entry(w.waiting).or_insert(LockKind::Row);
        if seen.insert((w.waiting, w.blocking)) {
            g.edges.push(WaitEdge {
                waiter: w.waiting,
                holder: w.blocking,
                kind: LockKind::Row,
                object: None,
                wait_seconds: w.wait_seconds,
                inferred: false,
            });
        }
    }
    if let Some(m) = metadata.filter(|m| m.lists_waiters) {
        exact_metadata(&mut g, m, &by_id);
    }
    infer::rest(&mut g, sessions, metadata);
    g
}

/// The graph of a snapshot: its detailed session list (`check`, the status page) or, in a
/// scrape, the sessions read because something waited; its row-lock waits and metadata
/// locks where they were read.
pub fn of_snapshot(snap: &Snapshot) -> WaitGraph {
    let sessions = snap
        .sessions
        .ok()
        .or(snap.lock_sessions.ok())
        .map_or(&[][..], Vec::as_slice);
    let row_waits = snap.lock_waits.ok().map_or(&[][..], Vec::as_slice);
    build(sessions, row_waits, snap.metadata_locks.ok())
}

/// What a session waits for, from its transaction (row lock) or its processlist state.
pub fn session_wait(s: &SessionRow) -> Option<LockKind> {
    waiting_for(&s.command, &s.state, s.trx_state.as_deref())
}

/// What a session (or a group of alike sessions) waits for: a row lock when its InnoDB
/// transaction says `LOCK WAIT`, else, unless it sleeps, what its processlist state names.
/// The one rule behind `lock_wait` in every metric, the graph's waiters, and when the lock
/// sources are read.
pub fn waiting_for(command: &str, state: &str, trx_state: Option<&str>) -> Option<LockKind> {
    if trx_state.is_some_and(|t| t.eq_ignore_ascii_case("LOCK WAIT")) {
        return Some(LockKind::Row);
    }
    if command.eq_ignore_ascii_case("Sleep") {
        return None;
    }
    wait_kind(state)
}

/// `schema.name` of a metadata lock's object, as the inference names objects.
fn object_name(schema: Option<&str>, name: Option<&str>) -> Option<String> {
    match (schema, name) {
        (Some(s), Some(n)) => Some(format!(
            "{}.{}",
            s.to_ascii_lowercase(),
            n.to_ascii_lowercase()
        )),
        (None, Some(n)) => Some(n.to_string()),
        (Some(s), None) => Some(s.to_ascii_lowercase()),
        (None, None) => None,
    }
}

/// Edges from the pending rows of a table that lists waiters: each pending request waits for
/// the granted locks it conflicts with, or, when none conflicts, for the pending requests
/// it queues behind.
fn exact_metadata(g: &mut WaitGraph, m: &MetadataLocks, by_id: &BTreeMap<u64, &SessionRow>) {
    let known = |id: u64| by_id.contains_key(&id);
    let same = |a: &crate::snapshot::MetadataLock, b: &crate::snapshot::MetadataLock| {
        a.object_type == b.object_type && a.schema == b.schema && a.name == b.name
    };
    for want in m.rows.iter().filter(|r| !r.granted && known(r.session)) {
        let kind = mdl::kind_of(&want.object_type);
        let mut holders: Vec<u64> = m
            .rows
            .iter()
            .filter(|h| h.granted && h.session != want.session && same(h, want))
            .filter(|h| mdl::conflicts(&want.object_type, &want.lock_type, &h.lock_type))
            .map(|h| h.session)
            .collect();
        if holders.is_empty() {
            holders = m
                .rows
                .iter()
                .filter(|h| !h.granted && h.session != want.session && same(h, want))
                .filter(|h| mdl::queues_others(&h.object_type, &h.lock_type))
                .map(|h| h.session)
                .collect();
        }
        let wait_seconds = by_id.get(&want.session).map_or(0, |s| s.time);
        let object = object_name(want.schema.as_deref(), want.name.as_deref());
        holders.sort_unstable();
        holders.dedup();
        for holder in holders.into_iter().filter(|h| known(*h)) {
            g.edges.push(WaitEdge {
                waiter: want.session,
                holder,
                kind,
                object: object.clone(),
                wait_seconds,
                inferred: false,
            });
        }
        // The processlist may not have caught up with the lock table: the table says so.
        g.waiting.entry(want.session).or_insert(kind);
    }
}

#[cfg(test)]
mod tests;
