//! The verdict: what `check` prints and the status page leads with. The judgement is one
//! pure function, [`judge::target_report`], from a snapshot with session detail to findings,
//! each naming one cause, the pool, and whom to look at; the renderers (Nagios text and
//! performance data in [`nagios`], JSON by serde in `cli::check`, HTML in `web::status_page`)
//! only format those findings, so every output says the same.
//!
//! Causes, as the incidents of this project come: a **leak** (sessions idle in a
//! transaction: checked out and forgotten), a **lock chain** (sessions waiting behind a root
//! blocker), **slow queries** (statements running past `long_query`), **capacity** (the
//! declared pools add up past `max_connections`, the server or a user near its limit), or
//! plain **load** (the pool is held by working sessions). A pool's utilisation counts only
//! the sessions that hold a slot of the application's pool (`PoolStats::held`): a connection
//! parked in SQLAlchemy's QueuePool is open but free.

mod between;
mod chains;
mod facts;
mod judge;
pub mod nagios;
#[cfg(test)]
mod tests;

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::Serialize;

use super::host::strip_port;
use super::pools::app_name;
use super::sessions::{classify, SessionState};
use super::waits::{Chain, LockKind};
use crate::config::Levels;
use crate::snapshot::{SessionRow, Source};

pub use judge::target_report;

/// What the verdict reads: every session in detail (`check`, and the status page at most
/// every few seconds; scrapes never pay for it). The pools' numbers are counted from the
/// same session list the culprits are named from, so the two always agree.
pub const REPORT_SOURCES: [Source; 6] = [
    Source::GlobalStatus,
    Source::GlobalVariables,
    Source::Sessions,
    Source::LockWaits,
    Source::MetadataLocks,
    Source::AccountLimits,
];

/// How bad: the Nagios plugin states, with their exit codes as discriminants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Ok = 0,
    Warning = 1,
    Critical = 2,
    Unknown = 3,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warning => "WARNING",
            Status::Critical => "CRITICAL",
            Status::Unknown => "UNKNOWN",
        }
    }

    /// The Nagios exit code.
    pub fn exit_code(self) -> u8 {
        self as u8
    }

    /// How a ratio stands against its levels: the one place a ratio becomes a status.
    pub fn of_ratio(ratio: f64, levels: Levels) -> Status {
        if ratio >= levels.critical {
            Status::Critical
        } else if ratio >= levels.warning {
            Status::Warning
        } else {
            Status::Ok
        }
    }

    /// How bad, for ordering: UNKNOWN (nothing could be judged) ranks below a real CRITICAL
    /// or WARNING, above OK — unlike the exit codes, where UNKNOWN is 3.
    fn rank(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Unknown => 1,
            Status::Warning => 2,
            Status::Critical => 3,
        }
    }
}

/// Ordered by how bad ([`Status::rank`]), so `max()` is the worst.
impl Ord for Status {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank().cmp(&other.rank())
    }
}

impl PartialOrd for Status {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Why a pool or the server is in trouble. The order is the tie-break between findings of
/// equal status: the more specific cause first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// Sessions waiting for a lock (of any kind) behind a root blocker: first, because the
    /// waiters are victims and the root is the one session to look at.
    LockChain,
    /// Sessions idle inside a transaction past `idle_in_transaction`.
    Leak,
    /// Statements running past `long_query`.
    SlowQueries,
    /// An account that opens connections faster than `connection_churn`: it connects per
    /// request instead of keeping a pool.
    Churn,
    /// Declared pools past `max_connections`, the server or a user near its limit, logins
    /// refused.
    Capacity,
    /// The pool is held by working sessions: more work than connections.
    Load,
    /// The pool reached its capacity between the scrapes and is below it now.
    Burst,
    /// The server or the pool cannot be read.
    Unknown,
}

impl Cause {
    pub fn label(self) -> &'static str {
        match self {
            Cause::Leak => "leak",
            Cause::LockChain => "lock chain",
            Cause::SlowQueries => "slow queries",
            Cause::Churn => "connection churn",
            Cause::Capacity => "capacity",
            Cause::Load => "load",
            Cause::Burst => "full between scrapes",
            Cause::Unknown => "unknown",
        }
    }
}

/// How many sessions a finding or a pool lists.
pub const WORST_SESSIONS: usize = 5;

/// One thing `check` found: how bad, why, where, and whom to look at.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    pub status: Status,
    pub cause: Cause,
    /// The pool it is about; `None`: the server as a whole.
    pub pool: Option<String>,
    /// What and how much, e.g. `45 sessions idle in transaction (oldest 96s), 45/45 held`.
    pub summary: String,
    /// The sessions to look at, worst first (at most [`WORST_SESSIONS`]); for a lock chain,
    /// the root blockers.
    pub culprits: Vec<Culprit>,
    /// Further culprits' ids beyond those listed (for waiters whose holder is unknown: the
    /// waiters).
    pub more_ids: Vec<u64>,
    /// For a lock chain: the lock, the root, the queue's head and how many wait.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain: Option<ChainReport>,
}

/// A lock chain as `check --format json` gives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    pub lock: LockKind,
    pub object: Option<String>,
    /// The session at the root: it waits for nothing and the others wait for it.
    pub root_id: u64,
    /// The waiter the others queue behind (a DDL behind an idle transaction), if any.
    pub queue_head_id: Option<u64>,
    pub waiters: usize,
    pub longest_wait_seconds: u64,
    /// Some edge was inferred from processlist states, not read from a lock table.
    pub inferred: bool,
}

impl ChainReport {
    fn of(c: &Chain) -> Self {
        ChainReport {
            lock: c.kind,
            object: c.object.clone(),
            root_id: c.root,
            queue_head_id: c.head,
            waiters: c.waiters.len(),
            longest_wait_seconds: c.longest_wait,
            inferred: c.inferred,
        }
    }
}

impl Finding {
    /// How many sessions the finding is about: a chain's waiters and root, the sessions
    /// named otherwise. Ranks findings of equal status.
    fn weight(&self) -> usize {
        match &self.chain {
            Some(c) => c.waiters + 1,
            None => self.culprits.len() + self.more_ids.len(),
        }
    }

    /// A finding that names no session (capacity, unknown).
    pub fn plain(status: Status, cause: Cause, pool: Option<&str>, summary: String) -> Self {
        Finding {
            status,
            cause,
            pool: pool.map(String::from),
            summary,
            culprits: Vec::new(),
            more_ids: Vec::new(),
            chain: None,
        }
    }

    /// A finding about `sessions` (already sorted worst first): the first few as culprits,
    /// the ids of the rest.
    fn about(
        status: Status,
        cause: Cause,
        pool: Option<&str>,
        summary: String,
        sessions: &[&SessionView],
    ) -> Self {
        Finding {
            culprits: sessions
                .iter()
                .take(WORST_SESSIONS)
                .map(|s| Culprit {
                    session: (*s).clone(),
                    blocks: None,
                })
                .collect(),
            more_ids: sessions.iter().skip(WORST_SESSIONS).map(|s| s.id).collect(),
            ..Finding::plain(status, cause, pool, summary)
        }
    }
}

/// A session to look at.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Culprit {
    #[serde(flatten)]
    pub session: SessionView,
    /// For a root blocker: the sessions waiting for it, directly or through others.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocks: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SessionView {
    pub id: u64,
    pub user: String,
    pub host: String,
    /// The app it comes from: its `program_name` connect attribute, else `user@host`.
    pub app: String,
    pub db: Option<String>,
    pub state: SessionState,
    /// Seconds in that state (transaction age for idle_in_transaction).
    pub age_seconds: u64,
    pub trx_started: Option<String>,
    pub trx_rows_locked: u64,
    pub last_query: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PoolReport {
    pub pool: String,
    pub capacity: u64,
    /// Sessions holding a slot of the app's pool.
    pub held: u64,
    /// Every open session of the pool, parked ones included.
    pub open: u64,
    /// held / capacity.
    pub utilization: f64,
    /// open / capacity.
    pub open_ratio: f64,
    pub by_state: BTreeMap<SessionState, u64>,
    pub oldest_idle_transaction_seconds: u64,
    /// How the pool stands on its own (its utilisation, and a leak in it): what the status
    /// page colours its row by.
    pub status: Status,
    /// Why it cannot be judged (it matches by connect attributes the server does not fill).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct TargetReport {
    pub target: String,
    pub version: Option<String>,
    pub error: Option<String>,
    pub connections: Option<u64>,
    pub max_connections: Option<u64>,
    /// connections / max_connections.
    pub connection_ratio: Option<f64>,
    pub pools: Vec<PoolReport>,
    /// Sessions that hold a lock others wait for and wait for none themselves.
    pub root_blockers: Vec<Culprit>,
    pub status: Status,
    /// Worst first; the first is the headline.
    pub findings: Vec<Finding>,
}

/// The state and age of one session, or `None` for server threads.
pub fn view(s: &SessionRow) -> Option<SessionView> {
    let state = classify(&s.user, &s.command, &s.state, s.trx_state.as_deref())?;
    let age = match state {
        SessionState::IdleInTransaction => s.trx_age.unwrap_or(s.time),
        _ => s.time,
    };
    let host = strip_port(&s.host);
    Some(SessionView {
        id: s.id,
        user: s.user.clone(),
        host: host.to_string(),
        app: app_name(&s.user, host, &s.attributes),
        db: s.db.clone(),
        state,
        age_seconds: age,
        trx_started: s.trx_started.clone(),
        trx_rows_locked: s.trx_rows_locked,
        last_query: s.info.as_ref().map(|q| truncate(q, 120)),
    })
}

fn truncate(q: &str, max: usize) -> String {
    let flat: String = q.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        format!("{}…", flat.chars().take(max).collect::<String>())
    }
}

/// The status of several targets' reports: the worst.
pub fn overall(reports: &[TargetReport]) -> Status {
    reports
        .iter()
        .map(|r| r.status)
        .max()
        .unwrap_or(Status::Unknown)
}
