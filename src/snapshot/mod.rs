//! The raw rows of one scrape, as the server gave them.
//!
//! A [`Snapshot`] is plain data: everything after it (analysis, encoding, `check`) is pure
//! and can be tested on recorded rows without a database. Each [`Source`] is one query; a
//! collector reads one or more sources, and a source read by two collectors is queried once.

mod queries;
mod rows;

use std::time::{Duration, SystemTime};

pub use queries::{detect_capabilities, fetch, fetch_session, Capabilities, SourceError};
pub use rows::{
    parse_status_value, ClientProcessGroup, LockWait, SessionRow, ThreadGroup, AGE_BUCKETS,
};

/// One query against the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// `SHOW GLOBAL STATUS`
    GlobalStatus,
    /// `SHOW GLOBAL VARIABLES`
    GlobalVariables,
    /// `information_schema.PROCESSLIST` joined with `INNODB_TRX`, grouped in SQL so that the
    /// result does not grow with the number of sessions.
    Threads,
    /// Sessions per client process from `performance_schema.session_connect_attrs`.
    ClientProcesses,
    /// Every session in detail (for `check`, `kill-idle`, the status page; not metrics).
    Sessions,
    /// Who waits for whose row lock (`INNODB_LOCK_WAITS` / `data_lock_waits`).
    LockWaits,
    /// The few oldest idle-in-transaction sessions in detail (bounded: for the status page).
    OldestIdleTransactions,
    /// Accounts with a `MAX_USER_CONNECTIONS` of their own (`mysql.user`; needs SELECT on it).
    AccountLimits,
}

impl Source {
    /// Every source: each is logged once when it is skipped or fails.
    pub const ALL: [Source; 8] = [
        Source::GlobalStatus,
        Source::GlobalVariables,
        Source::Threads,
        Source::ClientProcesses,
        Source::Sessions,
        Source::LockWaits,
        Source::OldestIdleTransactions,
        Source::AccountLimits,
    ];

    /// Whether it reads the session list (which needs PROCESS to show other accounts').
    pub fn reads_sessions(self) -> bool {
        matches!(
            self,
            Source::Threads
                | Source::Sessions
                | Source::OldestIdleTransactions
                | Source::LockWaits
                | Source::ClientProcesses
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            Source::GlobalStatus => "global_status",
            Source::GlobalVariables => "global_variables",
            Source::Threads => "threads",
            Source::ClientProcesses => "client_processes",
            Source::Sessions => "sessions",
            Source::LockWaits => "lock_waits",
            Source::OldestIdleTransactions => "oldest_idle_transactions",
            Source::AccountLimits => "account_limits",
        }
    }
}

/// What became of one source this scrape.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome<T> {
    /// Nobody asked for it.
    NotRequested,
    Ok(T),
    /// The query failed (or ran out of time) this scrape; its metrics are left out.
    Failed(String),
    /// The server lacks it (missing table or privilege): not an error, said once in the log.
    Skipped(String),
}

impl<T> Outcome<T> {
    pub fn ok(&self) -> Option<&T> {
        match self {
            Outcome::Ok(v) => Some(v),
            _ => None,
        }
    }

    pub fn kind(&self) -> OutcomeKind {
        match self {
            Outcome::NotRequested => OutcomeKind::NotRequested,
            Outcome::Ok(_) => OutcomeKind::Ok,
            Outcome::Failed(_) => OutcomeKind::Failed,
            Outcome::Skipped(_) => OutcomeKind::Skipped,
        }
    }

    /// The failure or skip reason, if any.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Outcome::Failed(r) | Outcome::Skipped(r) => Some(r),
            _ => None,
        }
    }
}

/// MariaDB or MySQL: they differ in statement-timeout variables and some tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    MariaDb,
    MySql,
}

/// Where the session list is read from, decided per connection by what the server has and
/// what the exporter's account may read, never by version strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcesslistTable {
    /// `information_schema.PROCESSLIST`: everywhere; on MySQL it is deprecated and walks
    /// the thread list under a global mutex.
    InformationSchema,
    /// `performance_schema.processlist` (MySQL 8.0.22+, performance_schema on): no mutex.
    PerformanceSchema,
}

impl ProcesslistTable {
    pub fn sql_name(self) -> &'static str {
        match self {
            ProcesslistTable::InformationSchema => "information_schema.PROCESSLIST",
            ProcesslistTable::PerformanceSchema => "performance_schema.processlist",
        }
    }
}

/// Whether `performance_schema.session_connect_attrs` is being filled: per-process counts
/// and pools matched by connect attribute need it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectAttributes {
    Available,
    /// Why not, and how to turn it on.
    Unavailable(String),
}

/// What the exporter learnt about the server when it connected.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerInfo {
    pub flavor: Flavor,
    /// `@@version`, e.g. `10.11.6-MariaDB-0+deb12u1` or `8.4.3`.
    pub version: String,
    pub version_comment: String,
    /// The exporter's own connection id (excluded from every session count).
    pub connection_id: u64,
    pub processlist: ProcesslistTable,
    pub connect_attributes: ConnectAttributes,
    /// Whether the account holds PROCESS: without it both session tables list only its own
    /// sessions, which MySQL returns without an error (an empty list is not "no sessions").
    pub sees_all_sessions: bool,
}

impl ServerInfo {
    /// A server as recorded rows describe it: information_schema, attributes available.
    pub fn recorded(flavor: Flavor, version: &str, connection_id: u64) -> Self {
        ServerInfo {
            flavor,
            version: version.to_string(),
            version_comment: String::new(),
            connection_id,
            processlist: ProcesslistTable::InformationSchema,
            connect_attributes: ConnectAttributes::Available,
            sees_all_sessions: true,
        }
    }
}

/// What the queries must read beyond the fixed columns: the connect attributes the pools
/// match on (none, and no join, when no pool names one).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub attributes: Vec<String>,
}

/// The raw data of one scrape of one target.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub taken_at: SystemTime,
    /// `Some` when the connection answered this scrape; `None` is `mysql_up 0`.
    pub server: Option<ServerInfo>,
    /// Why the server is not up, for the log and the status page.
    pub down_reason: Option<String>,
    pub global_status: Outcome<Vec<(String, String)>>,
    pub global_variables: Outcome<Vec<(String, String)>>,
    pub threads: Outcome<Vec<ThreadGroup>>,
    pub client_processes: Outcome<Vec<ClientProcessGroup>>,
    pub sessions: Outcome<Vec<SessionRow>>,
    pub lock_waits: Outcome<Vec<LockWait>>,
    pub oldest_idle_transactions: Outcome<Vec<SessionRow>>,
    /// (user, host pattern, max_user_connections) of accounts with a limit of their own.
    pub account_limits: Outcome<Vec<(String, String, u64)>>,
    /// Time spent on each source's query.
    pub durations: Vec<(Source, Duration)>,
}

impl Snapshot {
    /// A snapshot of a server that could not be reached.
    pub fn down(reason: impl Into<String>) -> Self {
        let reason = reason.into();
        Snapshot {
            taken_at: SystemTime::now(),
            server: None,
            down_reason: Some(reason),
            global_status: Outcome::NotRequested,
            global_variables: Outcome::NotRequested,
            threads: Outcome::NotRequested,
            client_processes: Outcome::NotRequested,
            sessions: Outcome::NotRequested,
            lock_waits: Outcome::NotRequested,
            oldest_idle_transactions: Outcome::NotRequested,
            account_limits: Outcome::NotRequested,
            durations: Vec::new(),
        }
    }

    /// An empty snapshot of a reachable server, to be filled source by source.
    pub fn up(server: ServerInfo) -> Self {
        Snapshot {
            server: Some(server),
            down_reason: None,
            ..Snapshot::down("")
        }
    }

    /// The failure or skip reason of a source.
    pub fn outcome_reason(&self, source: Source) -> Option<&str> {
        match source {
            Source::GlobalStatus => self.global_status.reason(),
            Source::GlobalVariables => self.global_variables.reason(),
            Source::Threads => self.threads.reason(),
            Source::ClientProcesses => self.client_processes.reason(),
            Source::Sessions => self.sessions.reason(),
            Source::LockWaits => self.lock_waits.reason(),
            Source::OldestIdleTransactions => self.oldest_idle_transactions.reason(),
            Source::AccountLimits => self.account_limits.reason(),
        }
    }

    pub fn outcome_kind(&self, source: Source) -> OutcomeKind {
        match source {
            Source::GlobalStatus => self.global_status.kind(),
            Source::GlobalVariables => self.global_variables.kind(),
            Source::Threads => self.threads.kind(),
            Source::ClientProcesses => self.client_processes.kind(),
            Source::Sessions => self.sessions.kind(),
            Source::LockWaits => self.lock_waits.kind(),
            Source::OldestIdleTransactions => self.oldest_idle_transactions.kind(),
            Source::AccountLimits => self.account_limits.kind(),
        }
    }

    pub fn duration(&self, source: Source) -> Duration {
        self.durations
            .iter()
            .filter(|(s, _)| *s == source)
            .map(|(_, d)| *d)
            .sum()
    }

    /// A global variable's raw value.
    pub fn variable(&self, name: &str) -> Option<&str> {
        lookup(self.global_variables.ok()?, name)
    }

    /// A global status variable's raw value.
    pub fn status(&self, name: &str) -> Option<&str> {
        lookup(self.global_status.ok()?, name)
    }
}

fn lookup<'a>(rows: &'a [(String, String)], name: &str) -> Option<&'a str> {
    rows.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The outcome of a source without its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutcomeKind {
    NotRequested,
    Ok,
    Failed,
    Skipped,
}
