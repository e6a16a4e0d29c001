//! The detailed sessions a wait-for graph needs, read by scrapes only when the session list
//! shows a lock wait (`check` reads every session anyway): the waiters and whoever may hold
//! a lock — an open transaction, a running statement, a holder a lock table names. Only
//! when a user, backup or global lock is waited for and no lock table names its holder is
//! every session read, with the last statements of the sleeping ones (an idle session that
//! took the lock is known by nothing else): at 4 000 sessions that costs the server
//! several times a normal scrape (docs/benchmarks.md), so it is the exception.

use mysql_async::Conn;

use super::sessions;
use std::fmt::Write;

use crate::analysis::waits::{waiting_for, LockKind};
use crate::snapshot::{Capabilities, Plan, SessionRow, Snapshot};

/// Whether any session of this snapshot's session list waits for a lock; `non_row`: for a
/// lock other than an InnoDB row lock (what the metadata-lock tables can explain).
pub fn someone_waits(snap: &Snapshot, non_row: bool) -> bool {
    any_waits_for(snap, |kind| !non_row || kind != LockKind::Row)
}

/// Whether some session of the detailed list, else of the folded groups, waits for a lock
/// of a kind `keep` accepts.
fn any_waits_for(snap: &Snapshot, keep: impl Fn(LockKind) -> bool) -> bool {
    let waits = |command: &str, state: &str, trx: Option<&str>| {
        waiting_for(command, state, trx).is_some_and(&keep)
    };
    if let Some(rows) = snap.sessions.ok() {
        return rows
            .iter()
            .any(|s| waits(&s.command, &s.state, s.trx_state.as_deref()));
    }
    snap.threads.ok().is_some_and(|groups| {
        groups
            .iter()
            .any(|g| waits(&g.command, &g.state, g.trx_state.as_deref()))
    })
}

/// The condition that keeps, of the detailed session list, whoever may hold a lock: a
/// running statement or an open transaction.
const LOCK_SESSIONS_WHERE: &str = " AND (p.COMMAND <> 'Sleep' \
     OR t.trx_mysql_thread_id IS NOT NULL";

/// The sessions this snapshot's graph needs (the caller has seen that someone waits).
pub(super) async fn read(
    conn: &mut Conn,
    snap: &Snapshot,
    caps: &Capabilities,
    plan: &Plan,
) -> Result<Vec<SessionRow>, mysql_async::Error> {
    let holders: Vec<u64> = snap
        .metadata_locks
        .ok()
        .map(|m| {
            m.rows
                .iter()
                .filter(|r| r.granted)
                .map(|r| r.session)
                .collect()
        })
        .unwrap_or_default();
    if holders.is_empty() && idle_holder_possible(snap) {
        return sessions::read_where(conn, caps, plan, "", true).await;
    }
    let mut only = LOCK_SESSIONS_WHERE.to_string();
    if !holders.is_empty() {
        let ids: Vec<String> = holders.iter().map(u64::to_string).collect();
        let _ = write!(only, " OR p.ID IN ({})", ids.join(", "));
    }
    only.push(')');
    sessions::read_where(conn, caps, plan, &only, false).await
}

/// Whether someone waits for a lock an idle session without a transaction may hold (a user
/// lock, FTWRL, a backup stage): only its last statement can then show who.
fn idle_holder_possible(snap: &Snapshot) -> bool {
    any_waits_for(snap, |kind| {
        matches!(
            kind,
            LockKind::User | LockKind::Backup | LockKind::GlobalRead
        )
    })
}
