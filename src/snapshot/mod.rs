//! The raw rows of one scrape, as the server gave them: plain data, no I/O.
//!
//! A [`Snapshot`] is what `db` fills and everything after it reads (analysis, collectors,
//! `check`): pure, and testable on recorded rows without a database. Each [`Source`] is one
//! query; a collector reads one or more sources, and a source read by two collectors is
//! queried once.

mod civil;
mod locks;
mod rows;

use std::time::{Duration, SystemTime};

pub use locks::{MetadataLock, MetadataLocks};
pub use rows::{
    parse_status_value, strip_port, AccountConnections, ClientProcessGroup, InnodbMetric, LockWait,
    SessionRow, ThreadGroup, AGE_BUCKETS,
};

/// Declares the sources in one table: each row gives the [`Source`] variant, its name (in
/// logs), the [`Snapshot`] field that holds its rows and their type, whether it reads the
/// session list (which needs `PROCESS`), and what turning it on takes when the server or the
/// account lacks it. Adding a source is a row here, its reader in `db::sources` (the compiler
/// asks for it) and the collector that reads it.
macro_rules! sources {
    ($(
        $(#[doc = $doc:literal])*
        $variant:ident, $name:literal, $field:ident: $rows:ty,
        reads_sessions: $sessions:literal, needs: $needs:literal;
    )*) => {
        /// One query against the server.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Source {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl Source {
            /// Every source, in query order.
            pub const ALL: &'static [Source] = &[$(Source::$variant),*];

            /// The name in logs (`source=...`).
            pub fn name(self) -> &'static str {
                match self { $(Source::$variant => $name,)* }
            }

            /// Whether it reads the session list (which needs PROCESS to show other
            /// accounts' sessions).
            pub fn reads_sessions(self) -> bool {
                match self { $(Source::$variant => $sessions,)* }
            }

            /// What a skipped source costs and how to turn it on: said once, in the log.
            pub fn needs(self) -> &'static str {
                match self { $(Source::$variant => $needs,)* }
            }
        }

        /// The raw data of one scrape of one target.
        #[derive(Clone, Debug)]
        pub struct Snapshot {
            pub taken_at: SystemTime,
            /// `Some` when the connection answered this scrape; `None` is `mysql_up 0`.
            pub server: Option<ServerInfo>,
            /// Why the server is not up, for the log and the status page.
            pub down_reason: Option<Reason>,
            $( $(#[doc = $doc])* pub $field: Outcome<$rows>, )*
            /// Time spent on each source's query.
            pub durations: Vec<(Source, Duration)>,
        }

        impl Snapshot {
            /// A snapshot of a server that could not be reached.
            pub fn down(reason: Reason) -> Self {
                Snapshot {
                    taken_at: SystemTime::now(),
                    server: None,
                    down_reason: Some(reason),
                    $( $field: Outcome::NotRequested, )*
                    durations: Vec::new(),
                }
            }

            /// What became of a source this scrape.
            pub fn outcome_kind(&self, source: Source) -> OutcomeKind {
                match source { $(Source::$variant => self.$field.kind(),)* }
            }

            /// The failure or skip reason of a source.
            pub fn outcome_reason(&self, source: Source) -> Option<&Reason> {
                match source { $(Source::$variant => self.$field.problem(),)* }
            }

            /// Records that a source failed or was skipped this scrape.
            pub fn set_problem(&mut self, source: Source, problem: Problem) {
                match source { $(Source::$variant => self.$field = problem.into(),)* }
            }

            /// Takes a source's result from another snapshot (one read less often than
            /// every scrape: see [`Plan::intervals`]).
            pub fn copy_source(&mut self, from: &Snapshot, source: Source) {
                match source { $(Source::$variant => self.$field = from.$field.clone(),)* }
            }
        }
    };
}

sources! {
    /// `SHOW GLOBAL STATUS`
    GlobalStatus, "global_status", global_status: Vec<(String, String)>,
        reads_sessions: false, needs: "it needs no privilege: check the server's own log";
    /// The few status counters the sampler reads every second ([`SAMPLED_STATUS`]; on
    /// MariaDB without `Threads_running`, which would walk every session); a scrape has them
    /// in `GlobalStatus`.
    StatusCounters, "status_counters", status_counters: Vec<(String, String)>,
        reads_sessions: false, needs: "it needs no privilege: check the server's own log";
    /// `SHOW GLOBAL VARIABLES`
    GlobalVariables, "global_variables", global_variables: Vec<(String, String)>,
        reads_sessions: false, needs: "it needs no privilege: check the server's own log";
    /// The session list (one row a session, nothing computed by the server) joined with
    /// `INNODB_TRX` and folded into groups in one pass by the exporter (`db::sources::threads`).
    Threads, "threads", threads: Vec<ThreadGroup>,
        reads_sessions: true,
        needs: "session states need the PROCESS privilege: GRANT PROCESS ON *.* TO the exporter's account";
    /// Sessions per client process from `performance_schema.session_connect_attrs`.
    ClientProcesses, "client_processes", client_processes: Vec<ClientProcessGroup>,
        reads_sessions: true,
        needs: "per-process pool counts need GRANT SELECT ON performance_schema.* TO the exporter's account";
    /// Every session in detail (for `check`, `kill-idle`, the status page; not metrics).
    Sessions, "sessions", sessions: Vec<SessionRow>,
        reads_sessions: true,
        needs: "session states need the PROCESS privilege: GRANT PROCESS ON *.* TO the exporter's account";
    /// Who waits for whose row lock (`INNODB_LOCK_WAITS` / `data_lock_waits`).
    LockWaits, "lock_waits", lock_waits: Vec<LockWait>,
        reads_sessions: true,
        needs: "lock waits need GRANT PROCESS ON *.* TO the exporter's account, and on MySQL GRANT SELECT ON performance_schema.* too";
    /// Metadata locks, granted and pending: `performance_schema.metadata_locks` (waiters
    /// listed) or MariaDB's `METADATA_LOCK_INFO` plugin (holders only). Read only when the
    /// session list shows a session waiting for a lock that is not a row lock.
    MetadataLocks, "metadata_locks", metadata_locks: MetadataLocks,
        reads_sessions: true,
        needs: "who holds a metadata, global read, backup or user lock is then inferred from the processlist (shown as \"probably\"); to see it exactly: on MySQL GRANT SELECT ON performance_schema.* TO the exporter's account (the MDL instrument is on by default); on MariaDB INSTALL SONAME 'metadata_lock_info', or start it with --performance-schema=ON --performance-schema-instrument='wait/lock/metadata/sql/mdl=ON'";
    /// The sessions a wait-for graph needs, in detail: those waiting for a lock and those
    /// that may hold one (open transactions, running statements). Read by scrapes only when
    /// the session list shows a lock wait; `check` has every session anyway.
    LockSessions, "lock_sessions", lock_sessions: Vec<SessionRow>,
        reads_sessions: true,
        needs: "session states need the PROCESS privilege: GRANT PROCESS ON *.* TO the exporter's account";
    /// Accounts with a `MAX_USER_CONNECTIONS` of their own (`mysql.user`): (user, host
    /// pattern, limit).
    AccountLimits, "account_limits", account_limits: Vec<(String, String, u64)>,
        reads_sessions: false,
        needs: "optional: with GRANT SELECT ON mysql.user TO the exporter's account, pools are compared with their account's own MAX_USER_CONNECTIONS (the global max_user_connections is used meanwhile)";
    /// Connections opened per account since the server started: `performance_schema.accounts`
    /// (per user and host) or MariaDB's `information_schema.USER_STATISTICS` (per user, with
    /// `userstat=1`). An app that connects per request shows here, never in a session count.
    AccountConnections, "account_connections", account_connections: Vec<AccountConnections>,
        reads_sessions: false,
        needs: "connections per account need performance_schema (MySQL's default; on MariaDB start the server with --performance-schema=ON) or, on MariaDB, SET GLOBAL userstat=1; until then churn is seen only in the global Connections counter";
    /// InnoDB's counters that matter to leaks (`information_schema.INNODB_METRICS`):
    /// the history list length grows while an old transaction blocks purge.
    InnodbMetrics, "innodb_metrics", innodb_metrics: Vec<InnodbMetric>,
        reads_sessions: false,
        needs: "INNODB_METRICS needs the PROCESS privilege: GRANT PROCESS ON *.* TO the exporter's account";
}

/// What became of one source this scrape.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Outcome<T> {
    /// Nobody asked for it.
    #[default]
    NotRequested,
    Ok(T),
    /// The query failed (or ran out of time) this scrape; its metrics are left out.
    Failed(Reason),
    /// The server lacks it (missing table or privilege): not an error, said once in the log.
    Skipped(Reason),
}

/// A source that did not deliver: failed this scrape, or skipped because the server or the
/// account lacks it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    Failed(Reason),
    Skipped(Reason),
}

/// Why the connection or a source did not deliver: the words for people and, typed, the
/// kind of problem, by which a lasting problem is recognised (the log says it once) however
/// its words vary from one scrape to the next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reason {
    pub kind: ReasonKind,
    pub text: String,
}

/// The kinds of problem, as the log tells a new problem from a lasting one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReasonKind {
    /// The server answered with this error code.
    Server(u16),
    /// The network: refused, reset, unreachable, closed.
    Network,
    /// The TLS handshake or the server's certificate.
    Tls,
    /// No answer before a deadline.
    Timeout,
    /// The server or the account lacks what is asked for (a table, a privilege).
    Unavailable,
    /// The server is not one the exporter can read (unknown flavour, an answer it cannot
    /// decode).
    Unsupported,
    /// The exporter's own side: its config, its runtime.
    Local,
}

impl Reason {
    pub fn new(kind: ReasonKind, text: impl Into<String>) -> Self {
        Reason {
            kind,
            text: text.into(),
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl<T> From<Problem> for Outcome<T> {
    fn from(p: Problem) -> Self {
        match p {
            Problem::Failed(r) => Outcome::Failed(r),
            Problem::Skipped(r) => Outcome::Skipped(r),
        }
    }
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

    /// The failure or skip reason's words, if any.
    pub fn reason(&self) -> Option<&str> {
        self.problem().map(|r| r.text.as_str())
    }

    /// The failure or skip reason, if any.
    pub fn problem(&self) -> Option<&Reason> {
        match self {
            Outcome::Failed(r) | Outcome::Skipped(r) => Some(r),
            _ => None,
        }
    }
}

/// The outcome of a source without its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutcomeKind {
    NotRequested,
    Ok,
    Failed,
    Skipped,
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
    /// The server's thread list: `SHOW PROCESSLIST` for the session list of every scrape,
    /// `information_schema.PROCESSLIST` where a statement joins it. Everywhere; on MySQL it
    /// is deprecated and walks the thread list under a global mutex.
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

    /// What the session list of every scrape reads: what the log names at connect.
    pub fn session_list_name(self) -> &'static str {
        match self {
            ProcesslistTable::InformationSchema => "SHOW PROCESSLIST",
            ProcesslistTable::PerformanceSchema => "performance_schema.processlist",
        }
    }
}

/// Whether `performance_schema.session_connect_attrs` is being filled: per-process counts
/// and pools matched by connect attribute need it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ConnectAttributes {
    #[default]
    Available,
    /// Why not, and how to turn it on.
    Unavailable(String),
}

/// What the server has and the exporter's account may read, detected once per connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capabilities {
    pub processlist: ProcesslistTable,
    pub connect_attributes: ConnectAttributes,
    /// Whether the account holds PROCESS: without it both session tables list only its own
    /// sessions, which MySQL returns without an error (an empty list is not "no sessions").
    pub sees_all_sessions: bool,
    /// Where metadata locks can be read from.
    pub metadata_locks: MetadataLockTable,
    /// Where connections per account can be read from.
    pub accounts: AccountTable,
    /// Whether performance_schema is on and its `threads` table readable: each session's
    /// `THREAD_ID`, which `kill-idle` compares before it acts.
    pub threads: bool,
}

/// Where the connections opened per account are counted, detected per connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccountTable {
    /// `performance_schema.accounts`: per user and client host.
    PerformanceSchema,
    /// MariaDB's `information_schema.USER_STATISTICS` (`userstat=1`): per user, with the
    /// logins it refused.
    UserStatistics,
    /// Neither: why, and how to turn one on.
    Unavailable(String),
}

/// Where the metadata locks are listed, detected per connection by what the server has on:
/// never by version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetadataLockTable {
    /// `performance_schema.metadata_locks` with the MDL instrument on: holders and waiters.
    PerformanceSchema,
    /// MariaDB's `information_schema.METADATA_LOCK_INFO` (plugin `metadata_lock_info`):
    /// holders only.
    Plugin,
    /// Neither: why, and how to turn one on.
    Unavailable(String),
}

impl Default for Capabilities {
    /// What recorded rows describe: information_schema, attributes available, PROCESS.
    fn default() -> Self {
        Capabilities {
            processlist: ProcesslistTable::InformationSchema,
            connect_attributes: ConnectAttributes::Available,
            sees_all_sessions: true,
            metadata_locks: MetadataLockTable::PerformanceSchema,
            accounts: AccountTable::PerformanceSchema,
            threads: true,
        }
    }
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
    pub capabilities: Capabilities,
    /// Which server process answered: what the per-server caches and `kill-idle`'s
    /// session ids are only valid for.
    pub identity: ServerIdentity,
    /// Which of the server runs seen at this target's address this is, counted from 0 by
    /// the exporter: it moves on when another run answers (a restart, a failover), also
    /// where the identities alone could not tell (a run that lasted a second).
    pub run: u64,
}

/// One run of one server: connection ids and everything read per session id are only
/// meaningful within it. A restarted server (same address, same `server_id`, same datadir)
/// counts ids from 1 again; a failover behind the same address is another server.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ServerIdentity {
    /// `@@server_id`: set by the operator, often left at 1, so never enough alone.
    pub server_id: u64,
    /// `@@server_uuid` (MySQL; kept in the datadir's `auto.cnf`). MariaDB has none.
    pub server_uuid: Option<String>,
    /// `@@hostname` and `@@datadir`: another machine, or another datadir, after a failover.
    pub hostname: String,
    pub datadir: String,
    /// The server's process id (performance_schema's `THREAD_OS_ID` of its main thread),
    /// where performance_schema is on and readable: another process is another run.
    pub pid: Option<u64>,
    /// When the server process started, Unix seconds: `UNIX_TIMESTAMP() - Uptime`. Both
    /// are whole seconds read a moment apart, so two reads of one run may differ by one.
    pub started_at: i64,
}

impl ServerIdentity {
    /// Whether `self` and `other` are the same run of the same server.
    pub fn same_run(&self, other: &ServerIdentity) -> bool {
        self.server_id == other.server_id
            && self.server_uuid == other.server_uuid
            && self.hostname == other.hostname
            && self.datadir == other.datadir
            && self.pid == other.pid
            && (self.started_at - other.started_at).abs() <= STARTED_AT_SLACK
    }
}

/// How far apart two reads of one run's start time may be (see
/// [`ServerIdentity::started_at`]). A restart hides in it only if the old run lasted less
/// than this, on the same host and datadir, without performance_schema to tell the
/// processes apart; the exporter's run counter also watches the session ids
/// ([`ServerInfo::run`]).
pub const STARTED_AT_SLACK: i64 = 2;

impl std::fmt::Display for ServerIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "server_id {}", self.server_id)?;
        if let Some(u) = &self.server_uuid {
            write!(f, ", server_uuid {u}")?;
        }
        write!(f, " on {}:{}", self.hostname, self.datadir)?;
        if let Some(pid) = self.pid {
            write!(f, ", pid {pid}")?;
        }
        write!(f, ", started {}", utc(self.started_at))
    }
}

/// `2026-12-04 18:36:39 UTC` from Unix seconds, for messages.
pub fn utc(unix: i64) -> String {
    let (year, month, day, h, m, sec) = civil::civil(unix);
    format!("{year:04}-{month:02}-{day:02} {h:02}:{m:02}:{sec:02} UTC")
}

#[cfg(test)]
impl ServerInfo {
    /// A server as recorded rows describe it (see [`Capabilities::default`]).
    pub fn recorded(flavor: Flavor, version: &str, connection_id: u64) -> Self {
        ServerInfo {
            flavor,
            version: version.to_string(),
            version_comment: String::new(),
            connection_id,
            capabilities: Capabilities::default(),
            identity: ServerIdentity::default(),
            run: 0,
        }
    }
}

/// The status counters the sampler reads ([`Source::StatusCounters`]): the server's
/// sessions now, and the counters connection churn and refusals show in.
pub const SAMPLED_STATUS: [&str; 8] = [
    "Threads_connected",
    "Threads_running",
    "Connections",
    "Threads_created",
    "Aborted_connects",
    "Connection_errors_max_connections",
    "Max_used_connections",
    // Not for the sample: tells that another server run answers on the same connection.
    "Uptime",
];

/// What the queries must read beyond the fixed columns: the connect attributes the pools
/// match on (none, and no join, when no pool names one).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub attributes: Vec<String>,
    /// Whether sessions are counted per client process (the `_pid` attribute): when pools
    /// are configured.
    pub per_process: bool,
    /// Sources read at most this often (their last result is reused in between); the
    /// others every scrape. From `--collect.<name>.interval` and [`Source::min_interval`].
    pub intervals: Vec<(Source, Duration)>,
    /// Whether the session list carries each session's performance_schema `THREAD_ID`:
    /// for `kill-idle`, which must tell a session from a later one with its id.
    pub thread_ids: bool,
}

impl Plan {
    /// How long a result of `source` may be reused; zero: read it every scrape.
    pub fn interval(&self, source: Source) -> Duration {
        self.intervals
            .iter()
            .find(|(s, _)| *s == source)
            .map_or(Duration::ZERO, |(_, d)| *d)
    }
}

impl Source {
    /// What changes so rarely that reading it every scrape is waste: the accounts' own
    /// connection limits change with `ALTER USER`, a few times a year.
    pub fn min_interval(self) -> Duration {
        match self {
            Source::AccountLimits => Duration::from_secs(60),
            _ => Duration::ZERO,
        }
    }
}

impl Snapshot {
    /// An empty snapshot of a reachable server, to be filled source by source.
    pub fn up(server: ServerInfo) -> Self {
        Snapshot {
            server: Some(server),
            down_reason: None,
            ..Snapshot::down(Reason::new(ReasonKind::Local, ""))
        }
    }

    /// Whether the server fills the connect attributes (an unreachable one: unknown, so no).
    pub fn connect_attributes(&self) -> ConnectAttributes {
        match &self.server {
            Some(s) => s.capabilities.connect_attributes.clone(),
            None => ConnectAttributes::Unavailable("the server is not reachable".into()),
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

    /// A global status variable's raw value: from `SHOW GLOBAL STATUS` (a scrape) or the
    /// sampler's few counters.
    pub fn status(&self, name: &str) -> Option<&str> {
        [&self.global_status, &self.status_counters]
            .into_iter()
            .find_map(|rows| lookup(rows.ok()?, name))
    }

    /// Sessions doing something (any `COMMAND` but `Sleep`) in the session list, ours
    /// included: what `Threads_running` counts. The sampler on MariaDB counts it here
    /// instead of asking the server, which would walk every session for it.
    pub fn running_sessions(&self) -> Option<u64> {
        let groups = self.threads.ok()?;
        Some(
            groups
                .iter()
                .filter(|g| g.command != "Sleep")
                .map(|g| g.count)
                .sum(),
        )
    }
}

fn lookup<'a>(rows: &'a [(String, String)], name: &str) -> Option<&'a str> {
    rows.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_run_is_told_by_id_uuid_and_start() {
        let run = ServerIdentity {
            server_id: 1,
            server_uuid: Some("3c1c…".into()),
            hostname: "db1".into(),
            datadir: "/var/lib/mysql/".into(),
            pid: Some(4242),
            started_at: 1_796_409_399,
        };
        assert_eq!(utc(run.started_at), "2026-12-04 18:36:39 UTC");
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        let moved = |f: fn(&mut ServerIdentity)| {
            let mut other = run.clone();
            f(&mut other);
            run.same_run(&other)
        };
        // Read again a moment later: the two whole-second counters may be one apart.
        assert!(moved(|o| o.started_at += 1));
        assert!(moved(|o| o.started_at -= 2));
        // Restarted (same id and uuid, same datadir), failed over, another server.
        assert!(!moved(|o| o.started_at += 30));
        assert!(!moved(|o| o.server_id = 2));
        assert!(!moved(|o| o.server_uuid = Some("9f00…".into())));
        assert!(!moved(|o| o.server_uuid = None));
        assert!(!moved(|o| o.hostname = "db2".into()));
        assert!(!moved(|o| o.datadir = "/srv/mysql/".into()));
        // Restarted within a second: only the process tells.
        assert!(!moved(|o| o.pid = Some(4343)));
        assert!(!moved(|o| o.pid = None));
        assert_eq!(
            run.to_string(),
            "server_id 1, server_uuid 3c1c… on db1:/var/lib/mysql/, pid 4242, started 2026-12-04 18:36:39 UTC"
        );
    }

    #[test]
    fn every_source_has_a_distinct_name_and_a_way_to_turn_it_on() {
        let mut names: Vec<&str> = Source::ALL.iter().map(|s| s.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Source::ALL.len());
        assert!(Source::ALL.iter().all(|s| !s.needs().is_empty()));
    }

    #[test]
    fn a_problem_lands_in_the_sources_own_field_and_nowhere_else() {
        for &source in Source::ALL {
            let mut snap = Snapshot::up(ServerInfo::recorded(Flavor::MySql, "9.7.4", 1));
            let why = Reason::new(ReasonKind::Unavailable, "no table");
            snap.set_problem(source, Problem::Skipped(why));
            for &other in Source::ALL {
                let expected = if other == source {
                    OutcomeKind::Skipped
                } else {
                    OutcomeKind::NotRequested
                };
                assert_eq!(snap.outcome_kind(other), expected, "{source:?} / {other:?}");
            }
            let why = snap.outcome_reason(source).map(|r| r.text.as_str());
            assert_eq!(why, Some("no table"));
        }
    }
}
