//! The waits no lock table explains, inferred from what the processlist shows: each waiter's
//! state (what kind of lock), its statement (which object), and the other sessions' open
//! transactions and running statements (who may hold it). Every edge made here is marked
//! inferred unless a lock table names the holder (MariaDB's plugin lists holders, not
//! waiters).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use super::{mdl, object_name, statement, LockKind, WaitEdge, WaitGraph};
use crate::snapshot::{MetadataLock, MetadataLocks, SessionRow};

/// Adds edges for every waiting session that has none yet.
pub fn rest(g: &mut WaitGraph, sessions: &[SessionRow], metadata: Option<&MetadataLocks>) {
    let open: Vec<&SessionRow> = sessions
        .iter()
        .filter(|s| !g.waiting.contains_key(&s.id))
        .collect();
    // The waiters left, grouped by (kind, object): one queue each.
    let mut queues: BTreeMap<(LockKind, Option<String>), Vec<&SessionRow>> = BTreeMap::new();
    for s in sessions {
        let Some(&kind) = g.waiting.get(&s.id) else {
            continue;
        };
        if kind == LockKind::Row || g.has_edge_from(s.id) {
            continue;
        }
        let info = s.info.as_deref().unwrap_or("");
        let object = match kind {
            LockKind::User => statement::user_lock_of(info),
            LockKind::GlobalRead | LockKind::Backup => None,
            _ => statement::table_of(info, s.db.as_deref()),
        };
        queues.entry((kind, object)).or_default().push(s);
    }
    for ((kind, object), waiters) in queues {
        let head = head_of(kind, &waiters);
        let found = holders(kind, object.as_deref(), &waiters, sessions, &open, metadata);
        let edge = |waiter: &SessionRow, holder: u64, inferred: bool| WaitEdge {
            waiter: waiter.id,
            holder,
            kind,
            object: object.clone(),
            wait_seconds: waiter.time,
            inferred,
        };
        let global = matches!(kind, LockKind::GlobalRead | LockKind::Backup);
        let mut unexplained = Vec::new();
        match (head, found) {
            // FTWRL (or a backup stage) waiting itself: the others queue behind it, and it
            // waits for the statements that ran before it (what it waits to see finish).
            (Some(h), _) if global => {
                // Exact when a lock table shows the head holding the global lock.
                let exact = metadata.is_some_and(|m| {
                    m.rows.iter().any(|r| {
                        r.granted
                            && r.session == h.id
                            && mdl::holds_global(&r.object_type, &r.lock_type)
                    })
                });
                for w in waiters.iter().filter(|w| w.id != h.id) {
                    g.edges.push(edge(w, h.id, !exact));
                }
                let before = running_before(h, &open);
                if before.is_empty() {
                    unexplained.push(h.id);
                }
                g.edges
                    .extend(before.into_iter().map(|id| edge(h, id, true)));
            }
            (_, Some((holders, exact))) if !holders.is_empty() => {
                for w in &waiters {
                    match head {
                        // A metadata-lock queue: the rest wait behind the DDL, which asked
                        // for the exclusive lock first.
                        Some(h) if h.id != w.id => g.edges.push(edge(w, h.id, !exact)),
                        _ => g
                            .edges
                            .extend(holders.iter().map(|&id| edge(w, id, !exact))),
                    }
                }
            }
            _ => unexplained.extend(waiters.iter().map(|s| s.id)),
        }
        if !unexplained.is_empty() {
            g.unexplained.push((kind, object, unexplained));
        }
    }
}

/// The waiter the others queue behind: for a metadata or table lock the DDL (it asked for
/// the exclusive lock), for a global read or backup lock the FTWRL or backup stage that is
/// waiting itself; the longest waiting of them.
fn head_of<'s>(kind: LockKind, waiters: &[&'s SessionRow]) -> Option<&'s SessionRow> {
    let heads = |s: &&SessionRow| {
        let info = s.info.as_deref().unwrap_or("");
        match kind {
            LockKind::Metadata | LockKind::Table => statement::is_ddl(info),
            LockKind::GlobalRead | LockKind::Backup => statement::takes_global_lock(info),
            _ => false,
        }
    };
    waiters
        .iter()
        .copied()
        .filter(heads)
        .max_by_key(|s| (s.time, Reverse(s.id)))
}

/// The statements running since before `waiter` began to wait (not waiting themselves):
/// what a flush or FTWRL waits to see finish. Oldest first.
fn running_before(waiter: &SessionRow, open: &[&SessionRow]) -> Vec<u64> {
    let mut running: Vec<&&SessionRow> = open
        .iter()
        .filter(|s| s.id != waiter.id && !s.command.eq_ignore_ascii_case("Sleep"))
        .filter(|s| s.time >= waiter.time && s.info.as_deref().is_some_and(|i| !i.is_empty()))
        .collect();
    running.sort_by_key(|s| (Reverse(s.time), s.id));
    running.iter().map(|s| s.id).collect()
}

/// What the inference looks at: the queue's waiters, every session, and the lock table
/// when there is one.
struct Seen<'a> {
    waiting: BTreeSet<u64>,
    all: &'a [SessionRow],
    metadata: Option<&'a MetadataLocks>,
}

impl Seen<'_> {
    /// The sessions a lock table lists as holding a granted lock that `keep` accepts.
    fn granted(&self, keep: &dyn Fn(&MetadataLock) -> bool) -> Vec<u64> {
        let mut ids: Vec<u64> = self
            .metadata
            .into_iter()
            .flat_map(|m| &m.rows)
            .filter(|r| r.granted && !self.waiting.contains(&r.session) && keep(r))
            .map(|r| r.session)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// Who holds what `waiters` wait for, and whether a lock table says so (exact): `None` when
/// nothing can tell.
fn holders(
    kind: LockKind,
    object: Option<&str>,
    waiters: &[&SessionRow],
    all: &[SessionRow],
    open: &[&SessionRow],
    metadata: Option<&MetadataLocks>,
) -> Option<(Vec<u64>, bool)> {
    let seen = Seen {
        waiting: waiters.iter().map(|s| s.id).collect(),
        all,
        metadata,
    };
    let exact = |ids: Vec<u64>| (!ids.is_empty()).then_some((ids, true));
    match kind {
        LockKind::Metadata | LockKind::Table => {
            let on = |r: &MetadataLock| {
                object.is_some_and(|o| {
                    object_name(r.schema.as_deref(), r.name.as_deref()).as_deref() == Some(o)
                })
            };
            exact(seen.granted(&on)).or_else(|| Some((open_transactions(open), false)))
        }
        LockKind::GlobalRead | LockKind::Backup => {
            let global = |r: &MetadataLock| mdl::holds_global(&r.object_type, &r.lock_type);
            exact(seen.granted(&global)).or_else(|| Some((global_lockers(&seen), false)))
        }
        LockKind::User => {
            let name = object?;
            let held = |r: &MetadataLock| {
                r.object_type == "USER LEVEL LOCK" && r.name.as_deref() == Some(name)
            };
            exact(seen.granted(&held)).or_else(|| Some((user_lockers(open, name), false)))
        }
        LockKind::Flush => Some((flush_holders(waiters, open, object), false)),
        LockKind::Row => None,
    }
}

/// Who touched an object cannot be known without a lock table: every open transaction,
/// oldest first.
fn open_transactions(open: &[&SessionRow]) -> Vec<u64> {
    let mut trx: Vec<&&SessionRow> = open.iter().filter(|s| s.trx_state.is_some()).collect();
    trx.sort_by_key(|s| (Reverse(s.trx_age.unwrap_or(0)), s.id));
    trx.iter().map(|s| s.id).collect()
}

/// The sessions that ran FTWRL or a backup stage, even while they wait themselves (FTWRL
/// holds the global read lock while it waits for a table flush).
fn global_lockers(seen: &Seen) -> Vec<u64> {
    seen.all
        .iter()
        .filter(|s| !seen.waiting.contains(&s.id))
        .filter(|s| statement::takes_global_lock(s.info.as_deref().unwrap_or("")))
        .map(|s| s.id)
        .collect()
}

/// An idle holder's last statement (performance_schema keeps it) may name the user lock.
fn user_lockers(open: &[&SessionRow], name: &str) -> Vec<u64> {
    open.iter()
        .filter(|s| {
            s.info
                .as_deref()
                .and_then(statement::user_lock_of)
                .is_some_and(|n| n == name)
        })
        .map(|s| s.id)
        .collect()
}

/// A flush waits until every statement that has the table open ends: those running since
/// before the flush began (on that table, when it is known), oldest first.
fn flush_holders(waiters: &[&SessionRow], open: &[&SessionRow], object: Option<&str>) -> Vec<u64> {
    let since = waiters.iter().map(|s| s.time).max().unwrap_or(0);
    let mut running: Vec<&&SessionRow> = open
        .iter()
        .filter(|s| !s.command.eq_ignore_ascii_case("Sleep") && s.time >= since)
        .filter(|s| {
            let info = s.info.as_deref().unwrap_or("");
            !info.is_empty() && object.is_none_or(|o| statement::mentions(info, o))
        })
        .collect();
    running.sort_by_key(|s| (Reverse(s.time), s.id));
    running.iter().map(|s| s.id).collect()
}
