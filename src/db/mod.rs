//! All I/O with the database server: the connection, flavour and table detection, TLS, the
//! queries that fill a [`Snapshot`], and `KILL`. Nothing else in the crate talks to MySQL.
//!
//! One monitored server is one [`Database`]: ONE persistent connection, reconnected with
//! backoff. mysqld_exporter opens a connection per scrape and so reports `mysql_up 0`
//! exactly when the server is full. Here the connection is opened once and kept; a scrape
//! only opens a new one after the old one broke, and not more often than the backoff allows.

mod capabilities;
mod decode;
mod flavor;
mod identity;
mod kill;
mod sources;
mod tls;

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, SslOpts};
use tokio::sync::Mutex;
use tokio::time::timeout_at;

pub use capabilities::detect_capabilities;
pub use flavor::{detect as detect_flavor, session_setup};
pub use kill::{Halt, KillOutcome};
pub use sources::{
    attributes_sql, fetch, session_list_sql, sessions_sql, Handover, SessionCache, SourceError,
    TRANSACTIONS_SQL,
};

use crate::analysis::pools::{APP_ATTRIBUTE, EXPORTER_PROGRAM_NAME};
use crate::config::{TargetConfig, TlsMode};
use crate::snapshot::{
    ConnectAttributes, Plan, Problem, Reason, ReasonKind, ServerIdentity, ServerInfo, Snapshot,
    Source,
};

/// Whether a read may reuse the kept results of the sources read less often than every
/// scrape (`--collect.X.interval`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reuse {
    ByInterval,
    Never,
}

/// Who asks for a connection when there is none, which decides whether the reconnect
/// backoff may make it wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Caller {
    /// A scrape, the status page, `check`, `kill-idle`: someone waits for the answer. It
    /// waits out the backoff when that ends well within its deadline, and otherwise tries at
    /// once: a server that is back is reported back by the first scrape that reaches it.
    Waiting,
    /// The sampler: nobody waits, so it keeps to the backoff. While the server is down this
    /// bounds the connects to one per backoff plus one per scrape (the state's lock keeps
    /// one attempt in flight per target).
    Background,
}

const BACKOFF_MIN: Duration = Duration::from_millis(250);
/// The longest pause between the background's attempts while a server is down.
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// One monitored server (a `targets[]` entry of the config) and its one connection.
pub struct Database {
    pub config: TargetConfig,
    /// What the queries read beyond their fixed columns (the pools' connect attributes).
    plan: Plan,
    state: Mutex<ConnState>,
}

#[derive(Default)]
struct ConnState {
    conn: Option<(Conn, ServerInfo)>,
    /// The server run the caches below were filled from: they are dropped when another run
    /// answers (a restarted server counts session ids from 1 again; after a failover they
    /// are another server's), and kept over a reconnect to the same run.
    cached_for: Option<ServerIdentity>,
    /// Connect attributes already read, per session id.
    sessions: SessionCache,
    /// The last results of the sources read less often than every scrape, and when each
    /// was read.
    kept: Option<Box<Snapshot>>,
    kept_at: std::collections::BTreeMap<Source, Instant>,
    /// The server's `Uptime` when the connection was made, and when: each status read is
    /// checked against it ([`identity::another_run`]).
    uptime_at_connect: Option<(i64, Instant)>,
    /// The highest connection id of ours in the run the caches are for.
    highest_own_id: u64,
    /// How many server runs answered before the current one ([`ServerInfo::run`]).
    runs: u64,
    failures: u32,
    retry_at: Option<Instant>,
    last_error: Option<Reason>,
    /// Since when the target has had no connection (lost, or never made): the downtime the
    /// "reconnected" line reports.
    down_since: Option<Instant>,
    /// The kind of the last connection problem logged: a server that stays down is said
    /// once, not on every attempt.
    logged: Option<ReasonKind>,
}

impl ConnState {
    /// Keeps this scrape's result of `source` for the scrapes of its interval.
    fn keep(&mut self, snap: &Snapshot, source: Source) {
        self.kept
            .get_or_insert_with(|| Box::new(Snapshot::down(Reason::new(ReasonKind::Local, ""))))
            .copy_source(snap, source);
        self.kept_at.insert(source, Instant::now());
    }

    /// Gives up a connection that broke mid-scrape (said once in the log); the next
    /// background connect waits for the backoff.
    fn broke(&mut self, target: &str, conn: Conn, why: &Reason) {
        tracing::warn!(target_name = %target, "connection to MySQL lost: {why}");
        self.logged = Some(why.kind);
        self.down_since = Some(Instant::now());
        self.failures += 1;
        self.retry_at = Some(Instant::now() + backoff(self.failures));
        self.last_error = Some(why.clone());
        self.uptime_at_connect = None;
        // Dropping a connection mid-query may block on I/O: not on this task.
        tokio::spawn(async move { drop(conn) });
    }

    /// Drops what was cached per session id and per interval, unless it came from `run`,
    /// now answering on our connection `connection_id`.
    ///
    /// One run is known by its identity and by its ids, which it gives out in increasing
    /// order: a connection of ours with an id no higher than one the run already gave out
    /// is of another run, however close the two start times (a server that crashed a second
    /// after it started). Wrapping 32-bit ids look alike, and cost a cache refresh.
    fn keep_caches_for(&mut self, target: &str, run: &ServerIdentity, connection_id: u64) {
        let seen = self
            .sessions
            .highest_id()
            .unwrap_or(0)
            .max(self.highest_own_id);
        let same = connection_id > seen;
        self.highest_own_id = self.highest_own_id.max(connection_id);
        match &self.cached_for {
            Some(was) if same && was.same_run(run) => {}
            Some(_) => self.another_run(target, run, connection_id),
            None => {
                self.cached_for = Some(run.clone());
                self.highest_own_id = connection_id;
            }
        }
    }

    /// Another server run answers: what was cached of the last one is dropped, and the run
    /// counter moves on (the exporter's window follows it).
    fn another_run(&mut self, target: &str, run: &ServerIdentity, connection_id: u64) {
        if let Some(was) = &self.cached_for {
            tracing::warn!(
                target_name = %target,
                "another server run answers than the one the cached session attributes and \
                 collector results came from (was {was}; now {run}): a restart or failover; \
                 they are dropped and read again"
            );
        }
        self.sessions = SessionCache::default();
        self.kept = None;
        self.kept_at.clear();
        self.cached_for = Some(run.clone());
        self.highest_own_id = connection_id;
        self.runs += 1;
    }
}

impl Database {
    pub fn new(config: TargetConfig, plan: Plan) -> Self {
        Database {
            config,
            plan,
            state: Mutex::new(ConnState::default()),
        }
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Reads `sources` before `deadline`. Never fails: what could not be read is recorded in
    /// the snapshot (server down, source failed or skipped).
    pub async fn snapshot(&self, sources: &[Source], deadline: Instant) -> Snapshot {
        self.read_retrying(sources, deadline, Reuse::ByInterval, Caller::Waiting)
            .await
    }

    /// The same, every source read now whatever its interval, and no connect before the
    /// backoff allows: the sampler's read.
    pub async fn sample(&self, sources: &[Source], deadline: Instant) -> Snapshot {
        self.read_retrying(sources, deadline, Reuse::Never, Caller::Background)
            .await
    }

    async fn read_retrying(
        &self,
        sources: &[Source],
        deadline: Instant,
        reuse: Reuse,
        caller: Caller,
    ) -> Snapshot {
        let mut state = self.state.lock().await;
        let reused = state.conn.is_some();
        let snap = self
            .read(&mut state, sources, deadline, reuse, caller)
            .await;
        if reused && snap.server.is_none() && Instant::now() < deadline {
            // The kept connection died (server restart, network, wait_timeout): one fresh
            // connection now, so a server that is back is reported back in this scrape.
            state.retry_at = None;
            return self
                .read(&mut state, sources, deadline, reuse, caller)
                .await;
        }
        snap
    }

    async fn read(
        &self,
        state: &mut ConnState,
        sources: &[Source],
        deadline: Instant,
        reuse: Reuse,
        caller: Caller,
    ) -> Snapshot {
        let (mut conn, mut server) = match state.conn.take() {
            Some(c) => c,
            None => match self.connect_with_backoff(state, deadline, caller).await {
                Ok(c) => c,
                Err(reason) => return Snapshot::down(reason),
            },
        };
        let mut snap = Snapshot::up(server.clone());
        let mut broken: Option<Reason> = None;
        let mut answered = false;
        // In `read_order`, where a source comes after the one whose pass it reuses; what one
        // leaves for the other goes through `handover`, made anew each scrape.
        let mut handover = Handover::default();
        for source in sources::read_order(sources) {
            let interval = match reuse {
                Reuse::ByInterval => self.plan.interval(source),
                Reuse::Never => Duration::ZERO,
            };
            if let (Some(kept), Some(at)) = (&state.kept, state.kept_at.get(&source)) {
                if !interval.is_zero() && at.elapsed() < interval {
                    snap.copy_source(kept, source);
                    continue;
                }
            }
            let started = Instant::now();
            let result = timeout_at(
                deadline.into(),
                sources::fetch(
                    &mut conn,
                    source,
                    &mut snap,
                    &self.plan,
                    &mut state.sessions,
                    &mut handover,
                ),
            )
            .await;
            snap.durations.push((source, started.elapsed()));
            let error = match result {
                Ok(Ok(())) => {
                    answered = true;
                    if matches!(source, Source::GlobalStatus | Source::StatusCounters) {
                        self.check_run(state, &mut conn, &mut server, &mut snap)
                            .await;
                    }
                    if !interval.is_zero() {
                        state.keep(&snap, source);
                    }
                    continue;
                }
                Ok(Err(e)) => Some(e),
                Err(_) => None,
            };
            let (problem, usable) = self.problem(source, error);
            answered |= usable;
            if let (false, Problem::Failed(why)) = (usable, &problem) {
                broken = Some(why.clone());
            }
            let skipped = matches!(problem, Problem::Skipped(_));
            snap.set_problem(source, problem);
            if skipped && !interval.is_zero() {
                // What the server lacks it lacks for a while: asked again next interval.
                state.keep(&snap, source);
            }
            if broken.is_some() {
                break;
            }
        }
        let Some(why) = broken else {
            state.conn = Some((conn, server));
            return snap;
        };
        state.broke(self.name(), conn, &why);
        if answered {
            snap
        } else {
            // Nothing came back: for Prometheus that is a down server, not empty data.
            let mut down = Snapshot::down(why);
            down.durations = snap.durations;
            down
        }
    }

    /// What a source that did not deliver means for the scrape (`error`: `None` when the
    /// scrape deadline passed first): its problem, and whether the connection is still
    /// usable, which also says the server answered.
    fn problem(&self, source: Source, error: Option<SourceError>) -> (Problem, bool) {
        match error {
            Some(SourceError::Unavailable(why)) => (
                Problem::Skipped(Reason::new(ReasonKind::Unavailable, why)),
                true,
            ),
            // A server error leaves the connection usable; anything else may not.
            Some(SourceError::Failed(e)) => (
                Problem::Failed(Reason::new(kind_of(&e), describe(&e))),
                matches!(e, mysql_async::Error::Server(_)),
            ),
            // Abandoned mid-protocol, the connection cannot be reused; the server stops the
            // query itself (max_statement_time / max_execution_time).
            None => (
                Problem::Failed(Reason::new(
                    ReasonKind::Timeout,
                    format!(
                        "{}: no answer to the {} query before the scrape deadline; the server is hung or overloaded",
                        self.config.dsn,
                        source.name()
                    ),
                )),
                false,
            ),
        }
    }

    /// The status read just now (`Uptime` in it) against the uptime at connect: when
    /// another server run answers on the same connection, the identity is read again and
    /// the caches of the old run are dropped.
    async fn check_run(
        &self,
        state: &mut ConnState,
        conn: &mut Conn,
        server: &mut ServerInfo,
        snap: &mut Snapshot,
    ) {
        let (Some(uptime), Some((at_connect, since))) = (
            snap.status("Uptime").and_then(|v| v.parse::<i64>().ok()),
            state.uptime_at_connect,
        ) else {
            return;
        };
        if !identity::another_run(at_connect, since.elapsed().as_secs_f64(), uptime) {
            return;
        }
        let Ok((run, uptime)) = identity::read(conn, server.flavor).await else {
            return;
        };
        state.uptime_at_connect = Some((uptime, Instant::now()));
        state.another_run(self.name(), &run, server.connection_id);
        server.identity = run;
        server.run = state.runs;
        if let Some(s) = snap.server.as_mut() {
            s.identity = server.identity.clone();
            s.run = state.runs;
        }
    }

    async fn connect_with_backoff(
        &self,
        state: &mut ConnState,
        deadline: Instant,
        caller: Caller,
    ) -> Result<(Conn, ServerInfo), Reason> {
        if let Some(at) = state.retry_at {
            let now = Instant::now();
            let wait = at.saturating_duration_since(now);
            match caller {
                _ if wait.is_zero() => {}
                // While backing off, the last error stands.
                Caller::Background => {
                    return Err(state
                        .last_error
                        .clone()
                        .unwrap_or_else(|| Reason::new(ReasonKind::Network, "connection lost")))
                }
                // A short wait leaves time to connect; a long one would outlast the caller.
                Caller::Waiting if now + wait * 2 <= deadline => {
                    tokio::time::sleep_until(at.into()).await
                }
                Caller::Waiting => {}
            }
        }
        let limit = deadline.min(Instant::now() + self.config.connect_timeout);
        let result = match timeout_at(limit.into(), self.connect()).await {
            Ok(r) => r,
            Err(_) => Err(Reason::new(
                ReasonKind::Timeout,
                format!(
                    "cannot connect to {}: no answer within the target's connect_timeout ({}s) \
                     or the scrape deadline; is the server hung or a firewall dropping packets?",
                    self.config.dsn,
                    self.config.connect_timeout.as_secs_f64()
                ),
            )),
        };
        match result {
            Ok((conn, mut server, uptime)) => {
                match state.down_since.take() {
                    Some(since) if state.failures > 0 || state.logged.is_some() => {
                        tracing::info!(
                            target_name = %self.name(),
                            down_s = format!("{:.1}", since.elapsed().as_secs_f64()),
                            "reconnected to MySQL after {:.1}s without a connection",
                            since.elapsed().as_secs_f64()
                        )
                    }
                    _ => {}
                }
                state.failures = 0;
                state.retry_at = None;
                state.last_error = None;
                state.logged = None;
                state.uptime_at_connect = Some((uptime, Instant::now()));
                state.keep_caches_for(self.name(), &server.identity, server.connection_id);
                server.run = state.runs;
                Ok((conn, server))
            }
            Err(e) => {
                if state.logged != Some(e.kind) {
                    tracing::error!(target_name = %self.name(), "{e}");
                    state.logged = Some(e.kind);
                }
                state.down_since.get_or_insert_with(Instant::now);
                state.failures += 1;
                state.retry_at = Some(Instant::now() + backoff(state.failures));
                state.last_error = Some(e.clone());
                Err(e)
            }
        }
    }

    /// Opens and prepares a connection: TCP (never a silent switch to the Unix socket),
    /// flavour detection, server-side statement limit.
    /// The TCP connection and login: on the DSN's port, asked again briefly when the server
    /// is full, then on `extra_port` if the target has one.
    async fn login(&self) -> Result<Conn, Reason> {
        let c = &self.config;
        let where_ = format!("{}", c.dsn);
        let ssl = tls::ssl_opts(&self.config.tls).map_err(|e| {
            Reason::new(
                ReasonKind::Local,
                format!("cannot connect to {where_}: {e}"),
            )
        })?;
        let mut conn = self.open(ssl.as_ref(), c.dsn.port).await;
        // Full (error 1040) and no extra_port: the connection the server keeps for
        // CONNECTION ADMIN is free again only a moment after its last holder left (e.g. the
        // previous kill-idle run): ask again briefly, within the caller's deadline.
        let mut pause = FULL_RETRY_FIRST;
        let give_up = Instant::now() + FULL_RETRY_FOR;
        while c.extra_port.is_none() && is_full(&conn) && Instant::now() + pause < give_up {
            tokio::time::sleep(pause).await;
            pause *= 2;
            conn = self.open(ssl.as_ref(), c.dsn.port).await;
        }
        let refused = |e: &mysql_async::Error, port: u16, what: &str| {
            let why = tls::describe_connect(&self.config, e, port);
            Reason::new(
                kind_of(e),
                format!("cannot connect to {where_}: {what}{why}"),
            )
        };
        match (conn, c.extra_port) {
            // Full (error 1040): MariaDB's extra_port has connection slots of its own.
            (Err(mysql_async::Error::Server(e)), Some(port)) if e.code == 1040 => {
                tracing::warn!(target_name = %self.name(), extra_port = port, "server full (max_connections); trying extra_port");
                let full = format!(
                    "the server is full (max_connections) and extra_port {port} failed too: "
                );
                self.open(ssl.as_ref(), port)
                    .await
                    .map_err(|e2| refused(&e2, port, &full))
            }
            (r, _) => r.map_err(|e| refused(&e, c.dsn.port, "")),
        }
    }

    async fn connect(&self) -> Result<(Conn, ServerInfo, i64), Reason> {
        let c = &self.config;
        let where_ = format!("{}", c.dsn);
        let mut conn = self.login().await?;
        let (version, comment, id, no_index_logged): (String, String, u64, Option<i64>) = conn
            .query_first(
                "SELECT @@version, @@version_comment, CONNECTION_ID(), \
                 @@GLOBAL.log_queries_not_using_indexes",
            )
            .await
            .map_err(|e| Reason::new(kind_of(&e), format!("{where_}: {}", describe(&e))))?
            .ok_or_else(|| {
                let why = format!("{where_}: SELECT @@version returned no row");
                Reason::new(ReasonKind::Unsupported, why)
            })?;
        let flavor = detect_flavor(&version, &comment)
            .map_err(|e| Reason::new(ReasonKind::Unsupported, format!("{where_}: {e}")))?;
        for sql in session_setup(flavor, c.statement_timeout.as_secs_f64()) {
            conn.query_drop(&sql).await.map_err(|e| {
                Reason::new(
                    kind_of(&e),
                    format!("{where_}: `{sql}` failed: {}", describe(&e)),
                )
            })?;
        }
        if no_index_logged == Some(1) {
            self.quiet_no_index_log(&mut conn).await;
        }
        let (identity, uptime) = identity::read(&mut conn, flavor).await.map_err(|e| {
            let why = format!(
                "{where_}: reading the server's identity failed: {}",
                describe(&e)
            );
            Reason::new(kind_of(&e), why)
        })?;
        let caps = detect_capabilities(&mut conn).await.map_err(|e| {
            let why = format!(
                "{where_}: reading what the server offers failed: {}",
                describe(&e)
            );
            Reason::new(kind_of(&e), why)
        })?;
        tracing::info!(
            target_name = %self.name(),
            version = %version,
            flavor = ?flavor,
            sessions_from = caps.processlist.session_list_name(),
            connect_attributes = matches!(caps.connect_attributes, ConnectAttributes::Available),
            process_privilege = caps.sees_all_sessions,
            server = %identity,
            "connected to MySQL"
        );
        Ok((
            conn,
            ServerInfo {
                flavor,
                version,
                version_comment: comment,
                connection_id: id,
                capabilities: caps,
                identity,
                run: 0,
            },
            uptime,
        ))
    }

    /// With `log_queries_not_using_indexes` on, the exporter's information_schema reads
    /// would land in the slow query log; when the account may not keep them out, say how.
    async fn quiet_no_index_log(&self, conn: &mut Conn) {
        if let Err(e) = conn.query_drop(flavor::QUIET_NO_INDEX).await {
            tracing::warn!(
                target_name = %self.name(),
                "log_queries_not_using_indexes is on and the exporter may not raise its \
                 session's min_examined_row_limit ({}), so its information_schema reads \
                 will be in the slow query log; grant the exporter's user \
                 SESSION_VARIABLES_ADMIN (MySQL) to keep them out",
                e
            );
        }
    }

    fn opts(&self, ssl: Option<SslOpts>) -> OptsBuilder {
        let c = &self.config;
        let mut b = OptsBuilder::default()
            .ip_or_hostname(c.dsn.host.clone())
            .tcp_port(c.dsn.port)
            .user(Some(c.dsn.user.clone()))
            .db_name(c.dsn.database.clone())
            .prefer_socket(false)
            .stmt_cache_size(0)
            // The first statement of the session keeps every statement of the exporter out
            // of the slow query log, itself included (the server decides after running it).
            // Giving these two here spares mysql_async's `SELECT @@max_allowed_packet,
            // @@wait_timeout`, which would run before it and could be logged.
            .init(vec![flavor::QUIET_SESSION.to_string()])
            .max_allowed_packet(Some(MAX_ALLOWED_PACKET))
            .wait_timeout(Some(flavor::WAIT_TIMEOUT_SECS))
            .ssl_opts(ssl)
            .connect_attributes(std::collections::HashMap::from([(
                APP_ATTRIBUTE.to_string(),
                EXPORTER_PROGRAM_NAME.to_string(),
            )]));
        if let Some(p) = &c.password {
            b = b.pass(Some(p.expose().to_string()));
        }
        b
    }

    /// One connection attempt on `port` in the target's TLS mode (`ssl` from `tls_opts`).
    ///
    /// `preferred` goes on in plain text on the same TCP connection when the server does not
    /// offer TLS (our patch of mysql_async: vendor/mysql_async/VENDORED.md). `verify_ca`
    /// works around mysql_async 0.37.1, whose "skip domain validation" misses rustls 0.23's
    /// name-mismatch error (mysql_async issue #404): when the chain verified but the name did
    /// not, it connects again verifying the certificate (chain and signature, in full) against
    /// a name the certificate itself carries, so only the host name check is left out.
    async fn open(&self, ssl: Option<&SslOpts>, port: u16) -> Result<Conn, mysql_async::Error> {
        let first = Conn::new(self.opts(ssl.cloned()).tcp_port(port)).await;
        match (self.config.tls.mode, first) {
            (TlsMode::VerifyCa, Err(e)) => {
                let Some(name) = tls::cert_names(&e)
                    .and_then(|names| names.first().map(|n| tls::connectable(n)))
                else {
                    return Err(e);
                };
                let ssl = ssl
                    .cloned()
                    .map(|s| s.with_danger_tls_hostname_override(Some(name)));
                Conn::new(self.opts(ssl).tcp_port(port)).await
            }
            // MariaDB answers a plain connection that must be TLS (require_secure_transport,
            // an account with REQUIRE SSL) with "access denied", as for a wrong password. To
            // tell which, try once over TLS; the monitoring connection itself stays plain.
            (TlsMode::Disabled, Err(mysql_async::Error::Server(e))) if e.code == 1045 => {
                match Conn::new(self.opts(Some(tls::lenient_tls())).tcp_port(port)).await {
                    Ok(probe) => {
                        let _ = probe.disconnect().await;
                        Err(mysql_async::Error::Other(Box::new(tls::TlsOnly(e))))
                    }
                    Err(_) => Err(mysql_async::Error::Server(e)),
                }
            }
            (_, r) => r,
        }
    }

    /// Drops the connection, so the next scrape reconnects (tests and shutdown).
    pub async fn disconnect(&self) {
        if let Some((conn, _)) = self.state.lock().await.conn.take() {
            let _ = conn.disconnect().await;
        }
    }
}

/// What mysql_async may receive in one packet: the servers' own default ceiling; our rows
/// are far smaller.
const MAX_ALLOWED_PACKET: usize = 64 * 1024 * 1024;

/// How long a connect refused because the server is full is retried, and the first pause.
const FULL_RETRY_FOR: Duration = Duration::from_secs(2);
const FULL_RETRY_FIRST: Duration = Duration::from_millis(100);

fn is_full(r: &Result<Conn, mysql_async::Error>) -> bool {
    matches!(r, Err(mysql_async::Error::Server(e)) if e.code == 1040)
}

fn backoff(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(8);
    (BACKOFF_MIN * 2u32.pow(exp)).min(BACKOFF_MAX)
}

/// An error for people: the server's message and code, never the password.
/// The kind of a driver error, for telling a lasting problem from a new one.
pub fn kind_of(e: &mysql_async::Error) -> ReasonKind {
    match e {
        mysql_async::Error::Server(s) => ReasonKind::Server(s.code),
        mysql_async::Error::Io(mysql_async::IoError::Tls(_)) => ReasonKind::Tls,
        mysql_async::Error::Io(mysql_async::IoError::Io(io))
            if io
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some()) =>
        {
            ReasonKind::Tls
        }
        mysql_async::Error::Driver(mysql_async::DriverError::NoClientSslFlagFromServer) => {
            ReasonKind::Tls
        }
        _ => ReasonKind::Network,
    }
}

pub fn describe(e: &mysql_async::Error) -> String {
    match e {
        mysql_async::Error::Server(s) => {
            let hint = match s.code {
                1040 => "; the server is full (max_connections). To get in anyway, grant the \
                         exporter's user CONNECTION ADMIN (MariaDB; CONNECTION_ADMIN on MySQL) for the \
                         one connection the server keeps past the limit, or set the target's extra_port \
                         (MariaDB's extra_port; MySQL's admin_port with SERVICE_CONNECTION_ADMIN)",
                1045 => "; check the user and the password (password_file or MYSQL_PASSWORD)",
                1203 => "; the exporter's user hit max_user_connections",
                1227 | 1142 => "; grant PROCESS, REPLICATION CLIENT and SELECT ON performance_schema.* to the exporter's user",
                1095 => "; killing other users' sessions needs CONNECTION ADMIN (MariaDB 10.5+, MySQL 8) or SUPER: \
                         run kill-idle with a config whose target uses such an account",
                1969 | 3024 => "; the query hit the exporter's statement_timeout",
                _ => "",
            };
            format!("server error {} ({}): {}{hint}", s.code, s.state, s.message)
        }
        mysql_async::Error::Io(io) => format!("network error: {io}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        assert_eq!(backoff(1), Duration::from_millis(250));
        assert_eq!(backoff(2), Duration::from_millis(500));
        assert_eq!(backoff(4), Duration::from_secs(2));
        assert_eq!(backoff(50), BACKOFF_MAX);
    }
}
