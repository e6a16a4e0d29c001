//! Which sessions `kill-idle` may kill: the most safety-critical rules of the project, pure
//! and table-tested. `db::Database::kill_session` only acts on what these rules allow, after
//! re-reading the row ([`Criteria::recheck`]).
//!
//! Never: the exporter's own connection, server threads (replication, event scheduler,
//! daemons), sessions outside the named pool, sessions that are busy or waiting (so never
//! the statement at the head of a lock queue: an ALTER behind an idle transaction), sessions
//! younger than the limit, or a session that is not the one listed ([`changed`]).
//!
//! A connection id alone does not name a session for long: ids are never reused while a
//! server runs (short of a 32-bit wrap-around), but a restarted server, or another one after
//! a failover behind the same address, counts from 1 again. So the re-check compares every
//! part of a session's identity, and `db::Database::kill_session` refuses to act on any
//! other server run than the one the list came from.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use super::pools::session_pool;
use super::sessions::{classify, SessionState};
use crate::config::PoolConfig;
use crate::snapshot::SessionRow;

/// What makes a session a victim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Criteria {
    pub pool: String,
    /// Sessions idle inside a transaction older than this.
    pub idle_in_transaction_older_than: Option<Duration>,
    /// Also sessions idle without a transaction for longer than this.
    pub idle_older_than: Option<Duration>,
    /// Also idle sessions at the root of a lock chain whose waiters have waited longer
    /// than this, however young their own transaction (or with none: a user or backup
    /// lock held by an idle session).
    pub root_blockers: Option<Duration>,
}

/// A session at the root of a lock chain: how many wait behind it and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blocks {
    pub waiters: usize,
    pub longest_wait: u64,
}

/// Why a session may be killed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Grounds {
    IdleInTransaction {
        age: u64,
        limit: u64,
    },
    Idle {
        age: u64,
        limit: u64,
    },
    /// Idle at the root of a lock chain.
    RootBlocker {
        waiters: usize,
        wait: u64,
        limit: u64,
    },
}

impl fmt::Display for Grounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Grounds::IdleInTransaction { age, limit } => {
                write!(f, "idle in transaction for {age}s (> {limit}s)")
            }
            Grounds::Idle { age, limit } => write!(f, "idle for {age}s (> {limit}s)"),
            Grounds::RootBlocker {
                waiters,
                wait,
                limit,
            } => write!(
                f,
                "idle at the root of a lock chain: {waiters} session(s) wait behind it, for {wait}s (> {limit}s)"
            ),
        }
    }
}

/// Why a session may not be killed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    OwnConnection,
    /// Replication, the event scheduler, InnoDB's background threads.
    ServerThread,
    /// It belongs to another pool (`Some`) or to none.
    OtherPool(Option<String>),
    /// Not in a state the criteria name (it is working, or idle without `--idle-older-than`).
    State(SessionState),
    TooYoung {
        state: SessionState,
        age: u64,
        limit: u64,
    },
    /// The row re-read by id is not the session that was listed.
    NotTheSame(Changed),
}

/// What tells the session re-read by id from the one listed: any difference means the id
/// now names another session (or the listed one's transaction ended).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Changed {
    User {
        was: String,
        now: String,
    },
    /// `HOST` with the client's port: unique per TCP connection while it lives.
    Host {
        was: String,
        now: String,
    },
    /// performance_schema's `THREAD_ID`, never shared by two sessions of one server run.
    Thread {
        was: u64,
        now: Option<u64>,
    },
    /// The transaction's start: another transaction, or none any more.
    Transaction {
        was: Option<String>,
        now: Option<String>,
    },
}

/// How `now`, re-read by id right before `KILL`, differs from the session `listed`, in the
/// parts a later session with the same id cannot share: user, client host and port,
/// thread id, transaction start.
pub fn changed(listed: &SessionRow, now: &SessionRow) -> Option<Changed> {
    if now.user != listed.user {
        return Some(Changed::User {
            was: listed.user.clone(),
            now: now.user.clone(),
        });
    }
    if now.host != listed.host {
        return Some(Changed::Host {
            was: listed.host.clone(),
            now: now.host.clone(),
        });
    }
    if let Some(was) = listed.thread_id {
        if now.thread_id != Some(was) {
            return Some(Changed::Thread {
                was,
                now: now.thread_id,
            });
        }
    }
    if now.trx_started != listed.trx_started {
        return Some(Changed::Transaction {
            was: listed.trx_started.clone(),
            now: now.trx_started.clone(),
        });
    }
    None
}

impl fmt::Display for Changed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Changed::User { was, now } => {
                write!(f, "the id now belongs to user {now}, not {was}")
            }
            Changed::Host { was, now } => {
                write!(f, "the id now belongs to a client at {now}, not {was}")
            }
            Changed::Thread {
                was,
                now: Some(now),
            } => {
                write!(f, "the id now belongs to thread {now}, not {was}")
            }
            Changed::Thread { was, now: None } => {
                write!(f, "thread {was} of the list can no longer be confirmed")
            }
            Changed::Transaction {
                was: Some(was),
                now: None,
            } => write!(
                f,
                "its transaction of {was} ended (committed or rolled back)"
            ),
            Changed::Transaction {
                was,
                now: Some(now),
            } => write!(
                f,
                "it is in another transaction now (started {now}; listed: {})",
                was.as_deref().unwrap_or("none")
            ),
            Changed::Transaction {
                was: None,
                now: None,
            } => f.write_str("its transaction changed"),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::OwnConnection => f.write_str("it is the exporter's own connection"),
            Refusal::ServerThread => f.write_str("it is a server thread"),
            Refusal::OtherPool(Some(p)) => write!(f, "it belongs to pool {p}"),
            Refusal::OtherPool(None) => f.write_str("it belongs to no pool"),
            Refusal::State(s) => write!(f, "it is {} now", s.label()),
            Refusal::TooYoung { state, age, limit } => {
                write!(
                    f,
                    "it is {} for only {age}s (limit {limit}s)",
                    state.label()
                )
            }
            Refusal::NotTheSame(changed) => write!(f, "not the session listed: {changed}"),
        }
    }
}

impl Criteria {
    /// Whether session `s` may be killed; `own` is the connection id of the session doing
    /// the killing.
    pub fn judge(
        &self,
        pools: &[PoolConfig],
        own: u64,
        s: &SessionRow,
    ) -> Result<Grounds, Refusal> {
        self.judge_blocking(pools, own, s, None)
    }

    /// The same, for a session that `blocks` others (the root of a lock chain).
    pub fn judge_blocking(
        &self,
        pools: &[PoolConfig],
        own: u64,
        s: &SessionRow,
        blocks: Option<Blocks>,
    ) -> Result<Grounds, Refusal> {
        if s.id == own {
            return Err(Refusal::OwnConnection);
        }
        let state = classify(&s.user, &s.command, &s.state, s.trx_state.as_deref())
            .ok_or(Refusal::ServerThread)?;
        let owner = session_pool(pools, s).map(|i| pools[i].name.clone());
        if owner.as_deref() != Some(self.pool.as_str()) {
            return Err(Refusal::OtherPool(owner));
        }
        let older = |age: u64, limit: Duration| {
            let limit = limit.as_secs();
            if age > limit {
                Ok((age, limit))
            } else {
                Err(Refusal::TooYoung { state, age, limit })
            }
        };
        let idle = matches!(state, SessionState::Idle | SessionState::IdleInTransaction);
        if let (Some(limit), Some(b), true) = (self.root_blockers, blocks, idle) {
            let limit = limit.as_secs();
            if b.longest_wait > limit {
                return Ok(Grounds::RootBlocker {
                    waiters: b.waiters,
                    wait: b.longest_wait,
                    limit,
                });
            }
        }
        match (
            state,
            self.idle_in_transaction_older_than,
            self.idle_older_than,
        ) {
            (SessionState::IdleInTransaction, Some(limit), _) => {
                // The transaction's age, not the idle time: that is what holds locks and undo.
                let (age, limit) = older(s.trx_age.unwrap_or(0), limit)?;
                Ok(Grounds::IdleInTransaction { age, limit })
            }
            (SessionState::Idle, _, Some(limit)) => {
                let (age, limit) = older(s.time, limit)?;
                Ok(Grounds::Idle { age, limit })
            }
            _ => Err(Refusal::State(state)),
        }
    }

    /// The check right before `KILL`: the row re-read by id must be the session listed
    /// ([`changed`]), and must still qualify.
    pub fn recheck(
        &self,
        pools: &[PoolConfig],
        own: u64,
        listed: &SessionRow,
        now: &SessionRow,
    ) -> Result<Grounds, Refusal> {
        self.recheck_blocking(pools, own, listed, now, None)
    }

    /// The same for a root blocker as listed (whom it blocked then: the chain is not
    /// re-read, its root must still be idle).
    pub fn recheck_blocking(
        &self,
        pools: &[PoolConfig],
        own: u64,
        listed: &SessionRow,
        now: &SessionRow,
        blocks: Option<Blocks>,
    ) -> Result<Grounds, Refusal> {
        if let Some(changed) = changed(listed, now) {
            return Err(Refusal::NotTheSame(changed));
        }
        self.judge_blocking(pools, own, now, blocks)
    }

    /// The victims among `sessions`, oldest first.
    pub fn victims<'a>(
        &self,
        pools: &[PoolConfig],
        own: u64,
        sessions: &'a [SessionRow],
    ) -> Vec<(&'a SessionRow, Grounds)> {
        self.victims_blocking(pools, own, sessions, &BTreeMap::new())
    }

    /// The same, knowing the roots of the snapshot's lock chains.
    pub fn victims_blocking<'a>(
        &self,
        pools: &[PoolConfig],
        own: u64,
        sessions: &'a [SessionRow],
        roots: &BTreeMap<u64, Blocks>,
    ) -> Vec<(&'a SessionRow, Grounds)> {
        let mut out: Vec<(&SessionRow, Grounds)> = sessions
            .iter()
            .filter_map(|s| {
                let blocks = roots.get(&s.id).copied();
                Some((s, self.judge_blocking(pools, own, s, blocks).ok()?))
            })
            .collect();
        out.sort_by_key(|(s, _)| (std::cmp::Reverse(s.trx_age.unwrap_or(s.time)), s.id));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{MatchSpec, Matcher};

    fn pool(name: &str, user: &str, db: Option<&str>) -> PoolConfig {
        PoolConfig {
            name: name.into(),
            matcher: Matcher::compile(&MatchSpec {
                user: Some(user.into()),
                db: db.map(Into::into),
                ..MatchSpec::default()
            })
            .unwrap(),
            size: 15,
            max_overflow: 30,
            processes: 1,
            target: None,
            idle_sessions: Default::default(),
        }
    }

    fn pools() -> Vec<PoolConfig> {
        vec![
            pool("kefu-flask", "kefu", Some("kefu")),
            pool("reports", "report", None),
        ]
    }

    /// A session of kefu@10.0.0.7:4000 on db kefu.
    fn session(id: u64, command: &str, time: u64, trx: Option<(&str, u64)>) -> SessionRow {
        SessionRow::recorded(id, command, time, trx)
    }

    fn criteria(idle: Option<u64>) -> Criteria {
        Criteria {
            pool: "kefu-flask".into(),
            idle_in_transaction_older_than: Some(Duration::from_secs(300)),
            idle_older_than: idle.map(Duration::from_secs),
            root_blockers: None,
        }
    }

    #[test]
    fn only_the_named_pools_old_idle_transactions_are_victims() {
        use SessionState::*;
        let own = 99;
        let leak = session(1, "Sleep", 2, Some(("RUNNING", 400)));
        /// (what, the session, --idle-older-than, the verdict)
        type Case = (
            &'static str,
            SessionRow,
            Option<u64>,
            Result<Grounds, Refusal>,
        );
        let cases: Vec<Case> = vec![
            (
                "leaked transaction past the limit",
                leak.clone(),
                None,
                Ok(Grounds::IdleInTransaction {
                    age: 400,
                    limit: 300,
                }),
            ),
            (
                // Idle only 2 s, but the transaction is what counts.
                "young transaction",
                session(2, "Sleep", 900, Some(("RUNNING", 300))),
                None,
                Err(Refusal::TooYoung {
                    state: IdleInTransaction,
                    age: 300,
                    limit: 300,
                }),
            ),
            (
                "the exporter's own connection",
                SessionRow {
                    id: own,
                    ..leak.clone()
                },
                None,
                Err(Refusal::OwnConnection),
            ),
            (
                "replication SQL thread",
                SessionRow {
                    user: "system user".into(),
                    command: "Slave_SQL".into(),
                    ..leak.clone()
                },
                None,
                Err(Refusal::ServerThread),
            ),
            (
                "event scheduler",
                SessionRow {
                    user: "event_scheduler".into(),
                    command: "Daemon".into(),
                    ..leak.clone()
                },
                None,
                Err(Refusal::ServerThread),
            ),
            (
                "binlog dump to a replica",
                SessionRow {
                    user: "repl".into(),
                    command: "Binlog Dump GTID".into(),
                    ..leak.clone()
                },
                None,
                Err(Refusal::ServerThread),
            ),
            (
                "another pool's leak",
                SessionRow {
                    user: "report".into(),
                    ..leak.clone()
                },
                None,
                Err(Refusal::OtherPool(Some("reports".into()))),
            ),
            (
                "same user, no pool (other db)",
                SessionRow {
                    db: Some("stats".into()),
                    ..leak.clone()
                },
                None,
                Err(Refusal::OtherPool(None)),
            ),
            (
                "running a statement",
                session(3, "Query", 500, Some(("RUNNING", 500))),
                None,
                Err(Refusal::State(Active)),
            ),
            (
                "waiting for a lock",
                session(4, "Query", 500, Some(("LOCK WAIT", 500))),
                None,
                Err(Refusal::State(LockWait)),
            ),
            (
                "idle, parked in the pool",
                session(5, "Sleep", 5000, None),
                None,
                Err(Refusal::State(Idle)),
            ),
            (
                "idle past --idle-older-than",
                session(5, "Sleep", 5000, None),
                Some(3600),
                Ok(Grounds::Idle {
                    age: 5000,
                    limit: 3600,
                }),
            ),
            (
                "idle below --idle-older-than",
                session(5, "Sleep", 60, None),
                Some(3600),
                Err(Refusal::TooYoung {
                    state: Idle,
                    age: 60,
                    limit: 3600,
                }),
            ),
        ];
        for (what, s, idle, expected) in cases {
            assert_eq!(criteria(idle).judge(&pools(), own, &s), expected, "{what}");
        }
    }

    /// Every way the row re-read right before `KILL` can differ from the one listed: only
    /// the unchanged session, still past its limit, may be killed.
    #[test]
    fn the_recheck_spares_what_changed_since_the_list() {
        let c = criteria(None);
        let listed = SessionRow {
            thread_id: Some(4711),
            trx_started: Some("2026-12-04 18:00:00".into()),
            ..session(7, "Sleep", 2, Some(("RUNNING", 400)))
        };
        let later = |f: fn(&mut SessionRow)| {
            let mut now = SessionRow {
                trx_age: Some(403),
                time: 5,
                ..listed.clone()
            };
            f(&mut now);
            now
        };
        let not_the_same = |c: Changed| Err(Refusal::NotTheSame(c));
        let cases: Vec<(&str, SessionRow, Result<Grounds, Refusal>)> = vec![
            (
                "unchanged, a little older",
                later(|_| {}),
                Ok(Grounds::IdleInTransaction {
                    age: 403,
                    limit: 300,
                }),
            ),
            (
                "committed: idle, parked in the pool",
                later(|n| {
                    n.trx_state = None;
                    n.trx_age = None;
                    n.trx_started = None;
                }),
                not_the_same(Changed::Transaction {
                    was: Some("2026-12-04 18:00:00".into()),
                    now: None,
                }),
            ),
            (
                "committed and began another transaction, idle in it",
                later(|n| {
                    n.trx_age = Some(1);
                    n.trx_started = Some("2026-12-04 18:06:42".into());
                }),
                not_the_same(Changed::Transaction {
                    was: Some("2026-12-04 18:00:00".into()),
                    now: Some("2026-12-04 18:06:42".into()),
                }),
            ),
            (
                "woke up and runs a statement",
                later(|n| {
                    n.command = "Query".into();
                    n.time = 0;
                }),
                Err(Refusal::State(SessionState::Active)),
            ),
            (
                "now waits for a lock",
                later(|n| {
                    n.command = "Query".into();
                    n.trx_state = Some("LOCK WAIT".into());
                }),
                Err(Refusal::State(SessionState::LockWait)),
            ),
            (
                "the id is another user's session (restarted server)",
                later(|n| n.user = "report".into()),
                not_the_same(Changed::User {
                    was: "kefu".into(),
                    now: "report".into(),
                }),
            ),
            (
                "the same user from another connection (disconnected and replaced)",
                later(|n| n.host = "10.0.0.7:4117".into()),
                not_the_same(Changed::Host {
                    was: "10.0.0.7:4000".into(),
                    now: "10.0.0.7:4117".into(),
                }),
            ),
            (
                "same user, host and port, another thread",
                later(|n| n.thread_id = Some(9000)),
                not_the_same(Changed::Thread {
                    was: 4711,
                    now: Some(9000),
                }),
            ),
            (
                "the thread can no longer be read",
                later(|n| n.thread_id = None),
                not_the_same(Changed::Thread {
                    was: 4711,
                    now: None,
                }),
            ),
            (
                "moved to another pool's database",
                later(|n| n.db = Some("stats".into())),
                Err(Refusal::OtherPool(None)),
            ),
            (
                "now the exporter's own connection",
                later(|n| n.id = 99),
                Err(Refusal::OwnConnection),
            ),
        ];
        for (what, now, expected) in cases {
            assert_eq!(c.recheck(&pools(), 99, &listed, &now), expected, "{what}");
        }
        // A list read without thread ids (MariaDB without performance_schema) compares the
        // rest.
        let no_thread = SessionRow {
            thread_id: None,
            ..listed.clone()
        };
        let now = SessionRow {
            thread_id: Some(1),
            ..listed.clone()
        };
        assert!(c.recheck(&pools(), 99, &no_thread, &now).is_ok());
        assert_eq!(
            Refusal::NotTheSame(Changed::Transaction {
                was: Some("2026-12-04 18:00:00".into()),
                now: None
            })
            .to_string(),
            "not the session listed: its transaction of 2026-12-04 18:00:00 ended (committed or rolled back)"
        );
    }

    #[test]
    fn victims_come_oldest_first() {
        let sessions = vec![
            session(1, "Sleep", 1, Some(("RUNNING", 400))),
            session(2, "Sleep", 1, Some(("RUNNING", 900))),
            session(3, "Query", 1, Some(("RUNNING", 900))),
            session(4, "Sleep", 1, Some(("RUNNING", 301))),
        ];
        let ids: Vec<u64> = criteria(None)
            .victims(&pools(), 99, &sessions)
            .iter()
            .map(|(s, _)| s.id)
            .collect();
        assert_eq!(ids, [2, 1, 4]);
        assert_eq!(
            Refusal::TooYoung {
                state: SessionState::IdleInTransaction,
                age: 3,
                limit: 300
            }
            .to_string(),
            "it is idle_in_transaction for only 3s (limit 300s)"
        );
    }

    /// With --root-blockers: an idle root of a chain qualifies however young its
    /// transaction; a waiting session (the ALTER at the head of the queue) or a running
    /// root never does, nor a chain that has not waited past the limit.
    #[test]
    fn root_blockers_idle_ones_only() {
        let c = Criteria {
            root_blockers: Some(Duration::from_secs(10)),
            ..criteria(None)
        };
        let blocks = |wait| {
            Some(Blocks {
                waiters: 14,
                longest_wait: wait,
            })
        };
        let young_trx = session(1, "Sleep", 5, Some(("RUNNING", 31)));
        let cases = [
            (
                "idle in a young transaction, waited long",
                young_trx.clone(),
                blocks(29),
                true,
            ),
            (
                "the same, waited briefly",
                young_trx.clone(),
                blocks(5),
                false,
            ),
            (
                "idle without a transaction (a user lock)",
                session(2, "Sleep", 40, None),
                blocks(29),
                true,
            ),
            (
                "running a statement",
                session(3, "Query", 40, None),
                blocks(29),
                false,
            ),
            (
                "the head of the queue: waiting itself",
                SessionRow {
                    state: "Waiting for table metadata lock".into(),
                    ..session(4, "Query", 29, None)
                },
                blocks(29),
                false,
            ),
            ("not a root", young_trx.clone(), None, false),
        ];
        for (what, s, b, ok) in cases {
            assert_eq!(c.judge_blocking(&pools(), 99, &s, b).is_ok(), ok, "{what}");
        }
        // Without --root-blockers the young transaction is spared.
        assert!(criteria(None)
            .judge_blocking(&pools(), 99, &young_trx, blocks(29))
            .is_err());
    }
}
