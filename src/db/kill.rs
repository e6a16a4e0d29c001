//! `KILL CONNECTION`, the one statement that changes anything, behind a re-read of the
//! victim. Which sessions may be killed is decided in `analysis::kill` (pure, unit-tested);
//! this only re-reads the row right before acting, so a session that committed or changed
//! hands meanwhile is spared.

use std::time::Instant;

use mysql_async::prelude::Queryable;
use tokio::time::timeout_at;

use super::{describe, sources, Database};
use crate::snapshot::SessionRow;

/// What became of one kill attempt; `R` is why the re-check spared the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KillOutcome<R> {
    Killed,
    /// The session ended before it could be killed.
    Gone,
    /// The re-read row no longer qualifies.
    Spared(R),
    /// The server refused or did not answer: the session may still be there.
    Failed(String),
}

impl Database {
    /// Re-reads session `id`, asks `recheck` whether it still qualifies, and only then kills
    /// it with `KILL CONNECTION`. Never the exporter's own connection.
    pub async fn kill_session<R>(
        &self,
        id: u64,
        deadline: Instant,
        recheck: impl Fn(&SessionRow) -> Result<(), R>,
    ) -> KillOutcome<R> {
        let mut state = self.state.lock().await;
        let (mut conn, server) = match state.conn.take() {
            Some(c) => c,
            None => match self.connect_with_backoff(&mut state, deadline).await {
                Ok(c) => c,
                Err(e) => return KillOutcome::Failed(e.text),
            },
        };
        let attempt = async {
            if id == server.connection_id {
                return KillOutcome::Failed(
                    "refusing to kill the exporter's own connection".into(),
                );
            }
            let row = match sources::fetch_session(&mut conn, &server, &self.plan, id).await {
                Ok(Some(row)) => row,
                Ok(None) => return KillOutcome::Gone,
                Err(e) => {
                    return KillOutcome::Failed(format!(
                        "re-reading session {id} failed: {}",
                        describe(&e)
                    ))
                }
            };
            if let Err(why) = recheck(&row) {
                return KillOutcome::Spared(why);
            }
            match conn.query_drop(format!("KILL CONNECTION {id}")).await {
                Ok(()) => KillOutcome::Killed,
                // It ended between the re-read and the kill (ER_NO_SUCH_THREAD).
                Err(mysql_async::Error::Server(e)) if e.code == 1094 => KillOutcome::Gone,
                Err(e) => {
                    KillOutcome::Failed(format!("KILL CONNECTION {id} failed: {}", describe(&e)))
                }
            }
        };
        match timeout_at(deadline.into(), attempt).await {
            Ok(outcome) => {
                state.conn = Some((conn, server));
                outcome
            }
            // Abandoned mid-query: the connection is not reused.
            Err(_) => KillOutcome::Failed(format!(
                "no answer from the server before the deadline (session {id})"
            )),
        }
    }
}
