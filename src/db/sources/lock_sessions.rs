//! The detailed sessions a wait-for graph needs, read by scrapes only when the session list
//! shows a lock wait (`check` reads every session anyway): for row locks the waiters and
//! whoever may hold one (an open transaction, a running statement); for any other lock every
//! session, since an idle one may hold a user or backup lock. Sleeping sessions carry their
//! last statement, which can name the lock they took.

use mysql_async::Conn;

use super::sessions;
use crate::analysis::waits::wait_kind;
use crate::snapshot::{Capabilities, Plan, SessionRow, Snapshot};

/// Whether any session of this snapshot's session list waits for a lock; `non_row`: for a
/// lock other than an InnoDB row lock (what the metadata-lock tables can explain).
pub fn someone_waits(snap: &Snapshot, non_row: bool) -> bool {
    let row =
        |trx: Option<&str>| !non_row && trx.is_some_and(|t| t.eq_ignore_ascii_case("LOCK WAIT"));
    let waits = |command: &str, state: &str| {
        !command.eq_ignore_ascii_case("Sleep") && wait_kind(state).is_some()
    };
    if let Some(rows) = snap.sessions.ok() {
        return rows
            .iter()
            .any(|s| waits(&s.command, &s.state) || row(s.trx_state.as_deref()));
    }
    snap.threads.ok().is_some_and(|groups| {
        groups
            .iter()
            .any(|g| waits(&g.command, &g.state) || row(g.trx_state.as_deref()))
    })
}

/// The condition that keeps, of the detailed session list, what a graph of row-lock waits
/// needs: the waiters and whoever may hold a row lock (an open transaction, a running
/// statement).
const LOCK_SESSIONS_WHERE: &str = " AND (p.COMMAND <> 'Sleep' \
     OR t.trx_mysql_thread_id IS NOT NULL)";

/// The sessions this snapshot's graph needs (the caller has seen that someone waits).
pub(super) async fn read(
    conn: &mut Conn,
    snap: &Snapshot,
    caps: &Capabilities,
    plan: &Plan,
) -> Result<Vec<SessionRow>, mysql_async::Error> {
    let only = if someone_waits(snap, true) {
        ""
    } else {
        LOCK_SESSIONS_WHERE
    };
    sessions::read_where(conn, caps, plan, only).await
}
