//! The waits no lock table explains, inferred from what the processlist shows: each waiter's
//! state (what kind of lock), its statement (which object), and the other sessions' open
//! transactions and running statements (who may hold it). Every edge made here is marked
//! inferred unless a lock table names the holder (MariaDB's plugin lists holders, not
//! waiters).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use super::{mdl, object_name, statement, LockKind, WaitEdge, WaitGraph};
use crate::snapshot::{MetadataLocks, SessionRow};

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
            (Some(h), found) if global => {
                let exact = found
                    .as_ref()
                    .is_some_and(|(ids, exact)| *exact && ids.contains(&h.id));
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
    let waiting: BTreeSet<u64> = waiters.iter().map(|s| s.id).collect();
    let granted = |keep: &dyn Fn(&crate::snapshot::MetadataLock) -> bool| -> Vec<u64> {
        let mut ids: Vec<u64> = metadata
            .into_iter()
            .flat_map(|m| &m.rows)
            .filter(|r| r.granted && !waiting.contains(&r.session) && keep(r))
            .map(|r| r.session)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    match kind {
        LockKind::Metadata | LockKind::Table => {
            let on = |r: &crate::snapshot::MetadataLock| {
                object.is_some_and(|o| {
                    object_name(r.schema.as_deref(), r.name.as_deref()).as_deref() == Some(o)
                })
            };
            let exact = granted(&on);
            if !exact.is_empty() {
                return Some((exact, true));
            }
            // Who touched the object cannot be known: every open transaction, oldest first.
            let mut trx: Vec<&&SessionRow> =
                open.iter().filter(|s| s.trx_state.is_some()).collect();
            trx.sort_by_key(|s| (Reverse(s.trx_age.unwrap_or(0)), s.id));
            Some((trx.iter().map(|s| s.id).collect(), false))
        }
        LockKind::GlobalRead | LockKind::Backup => {
            let exact = granted(&|r| mdl::holds_global(&r.object_type, &r.lock_type));
            if !exact.is_empty() {
                return Some((exact, true));
            }
            // The session that ran FTWRL or a backup stage, even while it waits itself (FTWRL
            // holds the global read lock while it waits for a table flush).
            let ids = all
                .iter()
                .filter(|s| !waiting.contains(&s.id))
                .filter(|s| statement::takes_global_lock(s.info.as_deref().unwrap_or("")))
                .map(|s| s.id)
                .collect();
            Some((ids, false))
        }
        LockKind::User => {
            let name = object?;
            let exact =
                granted(&|r| r.object_type == "USER LEVEL LOCK" && r.name.as_deref() == Some(name));
            if !exact.is_empty() {
                return Some((exact, true));
            }
            // An idle holder's last statement (performance_schema keeps it) may show it.
            let ids = open
                .iter()
                .filter(|s| {
                    s.info
                        .as_deref()
                        .and_then(statement::user_lock_of)
                        .is_some_and(|n| n == name)
                })
                .map(|s| s.id)
                .collect();
            Some((ids, false))
        }
        LockKind::Flush => {
            // A flush waits until every statement that has the table open ends: those
            // running since before the flush began (on that table, when it is known).
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
            Some((running.iter().map(|s| s.id).collect(), false))
        }
        LockKind::Row => None,
    }
}
