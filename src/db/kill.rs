//! `KILL CONNECTION`, the one statement that changes anything, behind two re-reads: the
//! server run (the list must come from the one that answers now) and the victim's row (it
//! must be the session listed and still qualify). Which sessions may be killed is decided in
//! `analysis::kill` (pure, table-tested).
//!
//! A kill run never reconnects: the connection that read the list is the only one it acts
//! on. If that connection is gone, or another server run answers, the run stops.
//!
//! What is left is the moment between the re-read and `KILL` (one round trip on the same
//! connection, well under a millisecond on a LAN): a session that commits in it is killed
//! after committing (its work is kept; the application sees a dropped connection, as with
//! any kill), and a session that disconnects in it leaves its id unused (the server does not
//! reuse ids while it runs), so `KILL` answers "no such thread".

use std::fmt;
use std::time::Instant;

use mysql_async::prelude::Queryable;
use tokio::time::timeout_at;

use super::{describe, identity, sources, Database};
use crate::snapshot::{ServerIdentity, ServerInfo, SessionRow};

/// What became of one kill attempt; `R` is why the re-check spared the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KillOutcome<R> {
    Killed,
    /// The session ended before it could be killed.
    Gone,
    /// The re-read row is not the session listed, or no longer qualifies.
    Spared(R),
    /// The server refused this one session: the session may still be there; the next
    /// candidates are tried.
    Failed(String),
    /// Nothing more may be done on this target: the kill run stops.
    Halt(Halt),
}

/// Why a kill run stops before its list is done: each one means the list can no longer be
/// trusted, or acting on it is impossible. Run `kill-idle` again: it lists afresh.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Halt {
    /// The connection that read the list broke (server restart, network, a KILL of ours).
    ConnectionLost(String),
    /// The connection is not the one that read the list (a reconnect happened).
    Reconnected { listed_on: u64, now_on: u64 },
    /// Another server run answers than the one the list came from.
    ServerChanged {
        was: ServerIdentity,
        now: ServerIdentity,
    },
    /// No answer before `--timeout`: the connection is abandoned mid-statement.
    NoAnswer(String),
    /// The account may not kill other users' sessions: every next attempt would fail alike.
    NotAllowed(String),
}

impl fmt::Display for Halt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Halt::ConnectionLost(why) => write!(
                f,
                "the connection that read the list was lost ({why}); nothing more is killed \
                 without a new list"
            ),
            Halt::Reconnected { listed_on, now_on } => write!(
                f,
                "the list was read on connection {listed_on} and this is connection {now_on}; \
                 nothing is killed on a list from another connection"
            ),
            Halt::ServerChanged { was, now } => write!(
                f,
                "another server run answers now ({now}) than the one the list came from \
                 ({was}): a restart or failover; its session ids mean other sessions"
            ),
            Halt::NoAnswer(what) => write!(
                f,
                "no answer from the server before --timeout ({what}); the connection is \
                 abandoned"
            ),
            Halt::NotAllowed(why) => f.write_str(why),
        }
    }
}

impl Database {
    /// Kills session `listed` of the list read on `listed_on` (the snapshot's
    /// [`ServerInfo`]) with `KILL CONNECTION`, if the server run is still the same, the row
    /// re-read by id is still that session and `recheck` still lets it be killed. Never
    /// reconnects; never the exporter's own connection.
    pub async fn kill_session<R>(
        &self,
        listed_on: &ServerInfo,
        listed: &SessionRow,
        deadline: Instant,
        recheck: impl Fn(&SessionRow) -> Result<(), R>,
    ) -> KillOutcome<R> {
        let id = listed.id;
        let mut state = self.state.lock().await;
        let Some((mut conn, server)) = state.conn.take() else {
            let why = state
                .last_error
                .as_ref()
                .map_or("closed".to_string(), |r| r.text.clone());
            return KillOutcome::Halt(Halt::ConnectionLost(why));
        };
        if server.connection_id != listed_on.connection_id {
            let halt = Halt::Reconnected {
                listed_on: listed_on.connection_id,
                now_on: server.connection_id,
            };
            state.conn = Some((conn, server));
            return KillOutcome::Halt(halt);
        }
        let attempt = async {
            if id == server.connection_id {
                return KillOutcome::Failed(
                    "refusing to kill the exporter's own connection".into(),
                );
            }
            // Same connection, so the same server, unless something between us and it (a
            // proxy) switched backends: asked again before every kill, two short statements.
            match identity::read(&mut conn, server.flavor).await {
                Ok((now, _)) if now.same_run(&listed_on.identity) => {}
                Ok((now, _)) => {
                    return KillOutcome::Halt(Halt::ServerChanged {
                        was: listed_on.identity.clone(),
                        now,
                    })
                }
                Err(e) => return lost_or_failed(e, "re-reading the server's identity"),
            }
            let row = match sources::fetch_session(&mut conn, &server, &self.plan, id).await {
                Ok(Some(row)) => row,
                Ok(None) => return KillOutcome::Gone,
                Err(e) => return lost_or_failed(e, &format!("re-reading session {id}")),
            };
            if let Err(why) = recheck(&row) {
                return KillOutcome::Spared(why);
            }
            match conn.query_drop(format!("KILL CONNECTION {id}")).await {
                Ok(()) => KillOutcome::Killed,
                // It ended between the re-read and the kill (ER_NO_SUCH_THREAD).
                Err(mysql_async::Error::Server(e)) if e.code == 1094 => KillOutcome::Gone,
                // ER_KILL_DENIED_ERROR: no CONNECTION ADMIN / SUPER.
                Err(e) if matches!(&e, mysql_async::Error::Server(s) if s.code == 1095) => {
                    KillOutcome::Halt(Halt::NotAllowed(format!(
                        "KILL CONNECTION {id} failed: {}",
                        describe(&e)
                    )))
                }
                Err(e) => lost_or_failed(e, &format!("KILL CONNECTION {id}")),
            }
        };
        match timeout_at(deadline.into(), attempt).await {
            Ok(KillOutcome::Halt(Halt::ConnectionLost(why))) => {
                tokio::spawn(async move { drop(conn) });
                KillOutcome::Halt(Halt::ConnectionLost(why))
            }
            Ok(outcome) => {
                state.conn = Some((conn, server));
                outcome
            }
            // Abandoned mid-query: the connection is not reused.
            Err(_) => KillOutcome::Halt(Halt::NoAnswer(format!("session {id}"))),
        }
    }
}

/// A server error concerns this one statement; anything else broke the connection.
fn lost_or_failed<R>(e: mysql_async::Error, what: &str) -> KillOutcome<R> {
    match e {
        mysql_async::Error::Server(_) => {
            KillOutcome::Failed(format!("{what} failed: {}", describe(&e)))
        }
        e => KillOutcome::Halt(Halt::ConnectionLost(format!("{what}: {}", describe(&e)))),
    }
}
