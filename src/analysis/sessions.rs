//! What each client session is doing, and for how long: the signal mysqld_exporter lacks.

use std::collections::BTreeMap;

use super::waits::waiting_for;
use crate::snapshot::{ThreadGroup, AGE_BUCKETS};

/// The four states a client session can be in (docs/design.md). `IdleInTransaction` is the leak signature: a connection
/// checked out of an application pool, its transaction never committed nor rolled back.
/// Serialized (check's JSON) as the `state` label value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    Active,
    LockWait,
    Idle,
    IdleInTransaction,
}

impl SessionState {
    pub const ALL: [SessionState; 4] = [
        SessionState::Active,
        SessionState::LockWait,
        SessionState::Idle,
        SessionState::IdleInTransaction,
    ];

    pub fn label(self) -> &'static str {
        match self {
            SessionState::Active => "active",
            SessionState::LockWait => "lock_wait",
            SessionState::Idle => "idle",
            SessionState::IdleInTransaction => "idle_in_transaction",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Server threads that are not client sessions: they hold no pool connection.
const SYSTEM_COMMANDS: [&str; 8] = [
    "Daemon",
    "Binlog Dump",
    "Binlog Dump GTID",
    "Slave_IO",
    "Slave_SQL",
    "Slave_worker",
    "Register Slave",
    "Table Dump",
];
const SYSTEM_USERS: [&str; 2] = ["system user", "event_scheduler"];

/// The state of a session, or `None` for server threads (replication, event scheduler,
/// daemons), which are not client sessions. A session waiting for any lock — a row lock
/// (its InnoDB transaction says `LOCK WAIT`) or a metadata, global read, backup, flush or
/// user lock (its processlist `state` says so) — is `LockWait`: it holds its connection and
/// does no work, which is what tells a lock from a slow query.
pub fn classify(
    user: &str,
    command: &str,
    state: &str,
    trx_state: Option<&str>,
) -> Option<SessionState> {
    if SYSTEM_USERS.contains(&user)
        || SYSTEM_COMMANDS
            .iter()
            .any(|c| c.eq_ignore_ascii_case(command))
    {
        return None;
    }
    let sleeping = command.eq_ignore_ascii_case("Sleep");
    Some(if waiting_for(command, state, trx_state).is_some() {
        SessionState::LockWait
    } else if sleeping && trx_state.is_some() {
        SessionState::IdleInTransaction
    } else if sleeping {
        SessionState::Idle
    } else {
        SessionState::Active
    })
}

/// The distribution of the current sessions' time in their state. A snapshot, not a
/// counter: `count` is how many sessions there are now, not how many ever were.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AgeHistogram {
    /// `le[i]`: sessions at most `AGE_BUCKETS[i]` seconds in the state.
    pub le: [u64; AGE_BUCKETS.len()],
    pub count: u64,
    pub sum: u64,
    pub max: u64,
}

impl AgeHistogram {
    fn add(&mut self, le: &[u64; AGE_BUCKETS.len()], count: u64, sum: u64, max: u64) {
        // Saturating: a server can report absurd TIME values (clock jumps), and a sum that
        // wraps would be worse than one that sticks at the maximum.
        for (a, b) in self.le.iter_mut().zip(le) {
            *a = a.saturating_add(*b);
        }
        self.count = self.count.saturating_add(count);
        self.sum = self.sum.saturating_add(sum);
        self.max = self.max.max(max);
    }

    /// Sessions older than `secs` (which must be one of [`AGE_BUCKETS`] to be exact; else
    /// the next smaller bucket is used, which over-counts rather than misses).
    pub fn older_than(&self, secs: u64) -> u64 {
        let idx = AGE_BUCKETS.iter().rposition(|b| *b <= secs);
        match idx {
            Some(i) => self.count - self.le[i],
            None => self.count,
        }
    }
}

/// Session counts and ages, for the whole server or for one pool.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SessionStats {
    /// Sessions per user and state (indexed like [`SessionState::ALL`]).
    pub by_user: BTreeMap<String, [u64; 4]>,
    /// Age distribution per state (indexed like [`SessionState::ALL`]).
    pub age: [AgeHistogram; 4],
    /// Age of each user's oldest open InnoDB transaction, whatever the session's state.
    pub oldest_trx_by_user: BTreeMap<String, u64>,
}

impl SessionStats {
    pub fn from_groups<'a>(groups: impl IntoIterator<Item = &'a ThreadGroup>) -> Self {
        let mut s = SessionStats::default();
        for g in groups {
            s.add(g);
        }
        s
    }

    /// Adds one group; server threads are ignored.
    pub fn add(&mut self, g: &ThreadGroup) {
        let Some(state) = classify(&g.user, &g.command, &g.state, g.trx_state.as_deref()) else {
            return;
        };
        self.by_user.entry(g.user.clone()).or_default()[state.index()] += g.count;
        // Idle in transaction: what matters is how long the transaction has been open
        // (the locks and undo it pins), not how long since the last statement.
        let hist = &mut self.age[state.index()];
        if state == SessionState::IdleInTransaction {
            hist.add(&g.trx_age_le, g.count, g.trx_age_sum, g.trx_age_max);
        } else {
            hist.add(&g.time_le, g.count, g.time_sum, g.time_max);
        }
        if g.trx_state.is_some() {
            let oldest = self.oldest_trx_by_user.entry(g.user.clone()).or_default();
            *oldest = (*oldest).max(g.trx_age_max);
        }
    }

    pub fn count(&self, state: SessionState) -> u64 {
        self.age[state.index()].count
    }

    pub fn total(&self) -> u64 {
        self.age.iter().map(|h| h.count).sum()
    }

    pub fn histogram(&self, state: SessionState) -> &AgeHistogram {
        &self.age[state.index()]
    }

    pub fn oldest_trx(&self) -> u64 {
        self.oldest_trx_by_user.values().copied().max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(
        user: &str,
        command: &str,
        trx: Option<(&str, u64)>,
        count: u64,
        time: u64,
    ) -> ThreadGroup {
        ThreadGroup::uniform(
            user,
            "10.0.0.1",
            Some("kefu"),
            command,
            "",
            trx,
            count,
            time,
        )
    }

    #[test]
    fn classifies_the_four_states_and_skips_server_threads() {
        use SessionState::*;
        assert_eq!(classify("kefu", "Query", "", None), Some(Active));
        assert_eq!(classify("kefu", "Query", "", Some("RUNNING")), Some(Active));
        assert_eq!(
            classify("kefu", "Query", "", Some("LOCK WAIT")),
            Some(LockWait)
        );
        assert_eq!(classify("kefu", "Sleep", "", None), Some(Idle));
        // Every lock wait is lock_wait, whatever the lock: not active, not slow.
        for state in [
            "Waiting for table metadata lock",
            "Waiting for global read lock",
            "Waiting for backup lock",
            "User lock",
            "Waiting for table flush",
        ] {
            assert_eq!(
                classify("kefu", "Query", state, None),
                Some(LockWait),
                "{state}"
            );
        }
        assert_eq!(classify("kefu", "Query", "User sleep", None), Some(Active));
        assert_eq!(
            classify("kefu", "Sleep", "", Some("RUNNING")),
            Some(IdleInTransaction)
        );
        assert_eq!(classify("kefu", "Killed", "", None), Some(Active));
        assert_eq!(
            classify("unauthenticated user", "Connect", "", None),
            Some(Active)
        );
        assert_eq!(classify("system user", "Slave_SQL", "", None), None);
        assert_eq!(classify("event_scheduler", "Daemon", "", None), None);
        assert_eq!(classify("repl", "Binlog Dump GTID", "", None), None);
        assert_eq!(classify("", "Daemon", "", None), None);
    }

    #[test]
    fn idle_in_transaction_ages_by_the_transaction_not_the_idle_time() {
        // Idle 5 s since the last statement, but the transaction is 400 s old: a leak.
        let s = SessionStats::from_groups(&[g("kefu", "Sleep", Some(("RUNNING", 400)), 45, 5)]);
        let h = s.histogram(SessionState::IdleInTransaction);
        assert_eq!((h.count, h.sum, h.max), (45, 18_000, 400));
        assert_eq!(h.older_than(30), 45);
        assert_eq!(h.older_than(600), 0);
        assert_eq!(s.oldest_trx_by_user["kefu"], 400);
    }

    #[test]
    fn counts_per_user_and_state_add_up() {
        let s = SessionStats::from_groups(&[
            g("kefu", "Sleep", None, 10, 3),
            g("kefu", "Query", None, 2, 12),
            g("kefu", "Query", Some(("LOCK WAIT", 8)), 1, 8),
            g("report", "Sleep", Some(("RUNNING", 50)), 3, 40),
            g("system user", "Slave_SQL", None, 1, 999),
        ]);
        assert_eq!(s.by_user["kefu"], [2, 1, 10, 0]);
        assert_eq!(s.by_user["report"], [0, 0, 0, 3]);
        assert!(!s.by_user.contains_key("system user"));
        assert_eq!(s.total(), 16);
        assert_eq!(s.histogram(SessionState::Active).older_than(10), 2);
        // The lock waiter's transaction counts towards the user's oldest transaction.
        assert_eq!(s.oldest_trx_by_user["kefu"], 8);
        assert_eq!(s.oldest_trx(), 50);
    }

    #[test]
    fn older_than_between_buckets_over_counts() {
        let s = SessionStats::from_groups(&[g("a", "Query", None, 1, 20)]);
        // 20 s is in (10, 30]; asking for > 15 s uses the 10 s bucket: counted.
        assert_eq!(s.histogram(SessionState::Active).older_than(15), 1);
        assert_eq!(s.histogram(SessionState::Active).older_than(0), 1);
    }
}
