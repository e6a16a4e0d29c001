//! The SQL of each source and the decoding of its rows into the snapshot's row types.

use std::borrow::Cow;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};

use super::lock_tables;
use crate::snapshot::{
    Capabilities, ClientProcessGroup, ConnectAttributes, Flavor, InnodbMetric, LockWait,
    MetadataLockTable, Outcome, Plan, ProcesslistTable, ServerInfo, SessionBrief, SessionFold,
    SessionRow, Snapshot, Source, ThreadGroup,
};

/// A query error, sorted by what the scrape should do about it.
#[derive(Debug)]
pub enum SourceError {
    /// The server lacks the table or the exporter lacks the privilege: skip, say it once.
    Unavailable(String),
    /// Anything else: this scrape's data of the source is lost; the connection may be broken.
    Failed(mysql_async::Error),
}

/// Server error codes that mean "this source does not exist for us", not "broken".
const UNAVAILABLE_CODES: [u16; 5] = [
    1044, // ER_DBACCESS_DENIED_ERROR
    1142, // ER_TABLEACCESS_DENIED_ERROR
    1227, // ER_SPECIFIC_ACCESS_DENIED_ERROR (e.g. PROCESS for INNODB_TRX)
    1109, // ER_UNKNOWN_TABLE
    1146, // ER_NO_SUCH_TABLE
];

/// Reads, once per connection, where the session list and the connect attributes can be
/// read from: by what the server has and the exporter's account may see, not by version.
pub async fn detect_capabilities(conn: &mut Conn) -> Result<Capabilities, mysql_async::Error> {
    // INNODB_TRX needs PROCESS on both servers. (MySQL runs the session queries without it
    // and answers with the account's own sessions only: that must not pass for data.)
    let sees_all_sessions = match conn
        .query_drop("SELECT COUNT(*) FROM information_schema.INNODB_TRX")
        .await
    {
        Ok(()) => true,
        Err(mysql_async::Error::Server(e)) if UNAVAILABLE_CODES.contains(&e.code) => false,
        Err(e) => return Err(e),
    };
    // A server built without performance_schema has neither variable: that reads as off.
    let vars: Option<(Option<i64>, Option<i64>)> = match conn
        .query_first("SELECT @@performance_schema, @@performance_schema_session_connect_attrs_size")
        .await
    {
        Ok(v) => v,
        Err(mysql_async::Error::Server(e)) if e.code == 1193 => None,
        Err(e) => return Err(e),
    };
    let (on, attrs_size) = vars.map_or((false, 0), |(on, size)| {
        (on.unwrap_or(0) != 0, size.unwrap_or(0))
    });
    // information_schema lists only the tables the account has a privilege on.
    let visible: Vec<String> = conn
        .query(
            "SELECT LOWER(TABLE_NAME) FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = 'performance_schema' \
             AND TABLE_NAME IN ('processlist', 'session_connect_attrs')",
        )
        .await?;
    let has = |t: &str| visible.iter().any(|v| v == t);
    let processlist = if on && has("processlist") {
        ProcesslistTable::PerformanceSchema
    } else {
        ProcesslistTable::InformationSchema
    };
    const WHAT: &str = "so sessions cannot be counted per client process \
        (mysql_pool_process_sessions_max) and pools matched by connect attributes stay empty";
    let attributes = if !on {
        ConnectAttributes::Unavailable(format!(
            "performance_schema is off on this server, {WHAT}; start the server with \
             --performance-schema=ON (MariaDB's default is OFF; MySQL's is ON)"
        ))
    } else if attrs_size == 0 {
        ConnectAttributes::Unavailable(format!(
            "performance_schema_session_connect_attrs_size is 0 on this server, {WHAT}; \
             start the server with --performance-schema-session-connect-attrs-size=-1"
        ))
    } else if !has("session_connect_attrs") {
        ConnectAttributes::Unavailable(format!(
            "the exporter's account cannot read performance_schema.session_connect_attrs, \
             {WHAT}; GRANT SELECT ON performance_schema.* TO the exporter's account"
        ))
    } else {
        ConnectAttributes::Available
    };
    let metadata_locks = super::lock_tables::detect(conn, on).await?;
    Ok(Capabilities {
        processlist,
        connect_attributes: attributes,
        sees_all_sessions,
        metadata_locks,
    })
}

/// The connect attributes a query joins: the plan's, when the server fills them.
fn joined_attributes<'a>(caps: &Capabilities, plan: &'a Plan) -> &'a [String] {
    match caps.connect_attributes {
        ConnectAttributes::Available => &plan.attributes,
        ConnectAttributes::Unavailable(_) => &[],
    }
}

/// Runs one source's query and stores its rows in the snapshot.
pub async fn fetch(
    conn: &mut Conn,
    source: Source,
    snap: &mut Snapshot,
    plan: &Plan,
    cache: &mut SessionCache,
) -> Result<(), SourceError> {
    let caps = snap
        .server
        .as_ref()
        .map(|s| s.capabilities.clone())
        .unwrap_or_default();
    let table = caps.processlist;
    let attrs = joined_attributes(&caps, plan);
    if !caps.sees_all_sessions && source.reads_sessions() {
        return Err(SourceError::Unavailable(format!(
            "the exporter's account lacks the PROCESS privilege, so the server shows it only \
             its own sessions; {}",
            source.needs()
        )));
    }
    match source {
        Source::GlobalStatus => {
            snap.global_status =
                Outcome::Ok(name_value_rows(conn, "SHOW GLOBAL STATUS", source).await?)
        }
        Source::GlobalVariables => {
            snap.global_variables =
                Outcome::Ok(name_value_rows(conn, "SHOW GLOBAL VARIABLES", source).await?)
        }
        Source::Threads => {
            read_session_list(conn, snap, &caps, plan, cache)
                .await
                .map_err(|e| classify(e, source))?;
            snap.threads = Outcome::Ok(std::mem::take(&mut cache.groups));
        }
        Source::Sessions => {
            let rows: Vec<Row> = conn
                .query(sessions_sql(table, attrs))
                .await
                .map_err(|e| classify(e, source))?;
            let mut sessions: Vec<SessionRow> = rows
                .into_iter()
                .map(|r| session_row(r.unwrap(), attrs))
                .collect();
            add_last_statements(conn, &mut sessions).await;
            snap.sessions = Outcome::Ok(sessions);
        }
        Source::LockWaits => {
            let sql = match snap.server.as_ref().map(|s| s.flavor) {
                Some(Flavor::MySql) => LOCK_WAITS_MYSQL_SQL,
                _ => LOCK_WAITS_MARIADB_SQL,
            };
            let rows: Vec<(u64, u64, u64)> =
                conn.query(sql).await.map_err(|e| classify(e, source))?;
            // One edge per pair of sessions (a pair can share several locks), longest wait.
            let mut edges: std::collections::BTreeMap<(u64, u64), u64> = Default::default();
            for (waiting, blocking, secs) in rows {
                let e = edges.entry((waiting, blocking)).or_default();
                *e = (*e).max(secs);
            }
            // Who the blockers are: asked only when something waits, so a server without
            // lock waits pays for one small query.
            let mut who: std::collections::HashMap<u64, (String, String)> = Default::default();
            if !edges.is_empty() {
                let ids: std::collections::BTreeSet<u64> = edges.keys().map(|(_, b)| *b).collect();
                let list: Vec<String> = ids.iter().map(u64::to_string).collect();
                let rows: Vec<(u64, String, String)> = conn
                    .query(format!(
                        "SELECT ID, COALESCE(USER, ''), COALESCE(HOST, '') FROM {} WHERE ID IN ({})",
                        table.sql_name(),
                        list.join(", ")
                    ))
                    .await
                    .map_err(|e| classify(e, source))?;
                who = rows.into_iter().map(|(id, u, h)| (id, (u, h))).collect();
            }
            snap.lock_waits = Outcome::Ok(
                edges
                    .into_iter()
                    .map(|((waiting, blocking), wait_seconds)| {
                        let (blocking_user, blocking_host) =
                            who.get(&blocking).cloned().unwrap_or_default();
                        LockWait {
                            waiting,
                            blocking,
                            wait_seconds,
                            blocking_user,
                            blocking_host,
                        }
                    })
                    .collect(),
            );
        }
        Source::MetadataLocks => {
            // Read only when someone waits for a lock the tables can explain.
            if !lock_tables::someone_waits(snap, true) {
                snap.metadata_locks = Outcome::Ok(Default::default());
                return Ok(());
            }
            if let MetadataLockTable::Unavailable(why) = &caps.metadata_locks {
                return Err(SourceError::Unavailable(why.clone()));
            }
            let rows = lock_tables::read(conn, &caps.metadata_locks)
                .await
                .map_err(|e| classify(e, source))?;
            snap.metadata_locks = Outcome::Ok(rows);
        }
        Source::LockSessions => {
            if snap.sessions.ok().is_some() || !lock_tables::someone_waits(snap, false) {
                snap.lock_sessions = Outcome::Ok(Vec::new());
                return Ok(());
            }
            // A row-lock holder has an open transaction; a user, backup or global-lock
            // holder may be any idle session: then every session is read.
            let only = if lock_tables::someone_waits(snap, true) {
                ""
            } else {
                lock_tables::LOCK_SESSIONS_WHERE
            };
            let sql = format!("{}{only}", sessions_sql(table, attrs));
            let rows: Vec<Row> = conn.query(sql).await.map_err(|e| classify(e, source))?;
            let mut sessions: Vec<SessionRow> = rows
                .into_iter()
                .map(|r| session_row(r.unwrap(), attrs))
                .collect();
            // An idle holder's last statement can name its lock (FTWRL, GET_LOCK).
            add_last_statements(conn, &mut sessions).await;
            snap.lock_sessions = Outcome::Ok(sessions);
        }
        Source::AccountLimits => {
            let rows: Vec<(String, String, u64)> = conn
                .query(
                    "SELECT User, Host, max_user_connections FROM mysql.user \
                     WHERE max_user_connections > 0",
                )
                .await
                .map_err(|e| classify(e, source))?;
            snap.account_limits = Outcome::Ok(rows);
        }
        Source::ClientProcesses => {
            if let ConnectAttributes::Unavailable(why) = &caps.connect_attributes {
                return Err(SourceError::Unavailable(why.clone()));
            }
            // Folded in the same pass as this scrape's Threads source, or read now.
            if cache.read_at != Some(snap.taken_at) || !plan.per_process {
                let plan = Plan {
                    per_process: true,
                    ..plan.clone()
                };
                read_session_list(conn, snap, &caps, &plan, cache)
                    .await
                    .map_err(|e| classify(e, source))?;
            }
            snap.client_processes = Outcome::Ok(std::mem::take(&mut cache.client_processes));
        }
        Source::InnodbMetrics => {
            // Which counters are on: MySQL's column is STATUS ('enabled'), MariaDB's ENABLED.
            let enabled = match snap.server.as_ref().map(|s| s.flavor) {
                Some(Flavor::MySql) => "STATUS = 'enabled'",
                _ => "ENABLED = 1",
            };
            let rows: Vec<InnodbMetricRow> = conn
                .query(format!(
                    "SELECT NAME, SUBSYSTEM, TYPE, COMMENT, COUNT \
                     FROM information_schema.INNODB_METRICS \
                     WHERE {enabled} AND NAME IN ('trx_rseg_history_len')"
                ))
                .await
                .map_err(|e| classify(e, source))?;
            snap.innodb_metrics = Outcome::Ok(
                rows.into_iter()
                    .map(|(name, subsystem, kind, comment, count)| InnodbMetric {
                        name,
                        subsystem,
                        kind,
                        comment: comment.unwrap_or_default(),
                        value: count.unwrap_or(0) as f64,
                    })
                    .collect(),
            );
        }
    }
    Ok(())
}

async fn name_value_rows(
    conn: &mut Conn,
    sql: &str,
    source: Source,
) -> Result<Vec<(String, String)>, SourceError> {
    let rows: Vec<(String, Option<Vec<u8>>)> =
        conn.query(sql).await.map_err(|e| classify(e, source))?;
    Ok(rows
        .into_iter()
        .map(|(k, v)| {
            (
                k,
                String::from_utf8_lossy(&v.unwrap_or_default()).into_owned(),
            )
        })
        .collect())
}

fn classify(e: mysql_async::Error, source: Source) -> SourceError {
    match &e {
        mysql_async::Error::Server(s) if UNAVAILABLE_CODES.contains(&s.code) => {
            SourceError::Unavailable(format!(
                "{} (error {}); {}",
                s.message,
                s.code,
                source.needs()
            ))
        }
        _ => SourceError::Failed(e),
    }
}

/// A connect-attribute name as an SQL string literal. Names are validated at config load
/// (`config::valid_attribute_name`); quoting is the second line of defence.
fn literal(name: &str) -> String {
    format!("'{}'", name.replace('\\', "\\\\").replace('\'', "''"))
}

/// `LEFT JOIN`s of the attributes, aliased `a0`, `a1`, ...; `id` is the session id column.
fn attribute_joins(attrs: &[String], id: &str) -> String {
    attrs
        .iter()
        .enumerate()
        .map(|(i, name)| {
            format!(
                " LEFT JOIN performance_schema.session_connect_attrs a{i} \
                 ON a{i}.PROCESSLIST_ID = {id} AND a{i}.ATTR_NAME = {}",
                literal(name)
            )
        })
        .collect()
}

fn attribute_columns(attrs: &[String]) -> Vec<String> {
    (0..attrs.len())
        .map(|i| format!("a{i}.ATTR_VALUE"))
        .collect()
}

/// The session list, one row a session and nothing computed per row, columns in
/// `SHOW PROCESSLIST`'s order (Id, User, Host, db, Command, Time, State). MySQL's
/// `performance_schema.processlist` walks the threads without the global mutex; elsewhere
/// `SHOW PROCESSLIST` reads the same thread list as `information_schema.PROCESSLIST`
/// without filling a temporary table: at 4 000 sessions on MariaDB 10.11 it costs the
/// server 3.3 ms against 10.7 ms (docs/benchmarks.md). The exporter's own session is
/// skipped by the reader, not by a WHERE the server would evaluate per row.
pub fn session_list_sql(table: ProcesslistTable) -> &'static str {
    match table {
        ProcesslistTable::InformationSchema => "SHOW PROCESSLIST",
        ProcesslistTable::PerformanceSchema => {
            "SELECT ID, USER, HOST, DB, COMMAND, TIME, STATE FROM performance_schema.processlist"
        }
    }
}

/// The open InnoDB transactions (a few rows: only sessions inside one), joined to the
/// session list by id in the exporter.
pub const TRANSACTIONS_SQL: &str = "SELECT trx_mysql_thread_id, trx_state, \
     GREATEST(COALESCE(TIMESTAMPDIFF(SECOND, trx_started, NOW()), 0), 0) \
     FROM information_schema.INNODB_TRX";

/// The named connect attributes of the sessions `ids`.
pub fn attributes_sql(ids: &[u64], names: &[String]) -> String {
    let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
    let names: Vec<String> = names.iter().map(|n| literal(n)).collect();
    format!(
        "SELECT PROCESSLIST_ID, ATTR_NAME, ATTR_VALUE FROM performance_schema.session_connect_attrs \
         WHERE PROCESSLIST_ID IN ({}) AND ATTR_NAME IN ({})",
        ids.join(", "),
        names.join(", ")
    )
}

/// The connect attributes read for one session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionAttributes {
    /// The plan's attributes (what pools match on), part of a group's key.
    pub grouped: Vec<(String, String)>,
    /// The same and `_pid`, for counting per client process.
    pub all: Vec<(String, String)>,
}

impl SessionAttributes {
    fn pid(&self) -> Option<&str> {
        self.all
            .iter()
            .find(|(k, _)| k == "_pid")
            .map(|(_, v)| v.as_str())
    }
}

/// What one connection keeps about the server's sessions between scrapes: the connect
/// attributes read for each session id (a connection's attributes never change, and the
/// server never reuses an id while it runs), so each session's are read once; and the
/// per-process counts folded in the same pass as the groups, for the ClientProcesses source.
#[derive(Debug, Default)]
pub struct SessionCache {
    /// Session id -> (the pass that last saw it, its attributes).
    attributes: rustc_hash::FxHashMap<u64, (u64, std::sync::Arc<SessionAttributes>)>,
    /// Which pass this is: entries not seen in the latest pass are dropped.
    pass: u64,
    /// The last pass's folds and the snapshot they were read for.
    groups: Vec<ThreadGroup>,
    client_processes: Vec<ClientProcessGroup>,
    read_at: Option<std::time::SystemTime>,
}

/// How many session ids one attribute query asks for.
const ATTRIBUTE_BATCH: usize = 500;

/// Reads the open transactions, then streams the session list, folding each session with
/// its connect attributes as it comes; sessions not seen before wait until their attributes
/// are read (in batches, once per session), then fold too.
async fn read_session_list(
    conn: &mut Conn,
    snap: &Snapshot,
    caps: &Capabilities,
    plan: &Plan,
    cache: &mut SessionCache,
) -> Result<(), mysql_async::Error> {
    let trx: Vec<(u64, Option<Vec<u8>>, Option<u64>)> = conn.query(TRANSACTIONS_SQL).await?;
    let trx: rustc_hash::FxHashMap<u64, (String, u64)> = trx
        .into_iter()
        .map(|(id, state, age)| {
            let state = String::from_utf8_lossy(&state.unwrap_or_default()).into_owned();
            (id, (state, age.unwrap_or(0)))
        })
        .collect();
    let mut names = joined_attributes(caps, plan).to_vec();
    let per_process =
        plan.per_process && matches!(caps.connect_attributes, ConnectAttributes::Available);
    if per_process {
        names.push("_pid".to_string());
    }
    cache.pass += 1;
    let pass = cache.pass;
    let none = SessionAttributes::default();
    let mut folds = SessionFold::new(per_process);
    let mut pending: Vec<SessionBrief<'static>> = Vec::new();
    let own_id = u64::from(conn.id());
    let mut result = conn.query_iter(session_list_sql(caps.processlist)).await?;
    result
        .for_each(|row| {
            let mut s = session_brief(|i| row.as_ref(i));
            if s.id == own_id {
                return;
            }
            s.trx = trx
                .get(&s.id)
                .map(|(state, age)| (state.as_str().into(), *age));
            if names.is_empty() {
                folds.add(&s, &[], None);
                return;
            }
            match cache.attributes.get_mut(&s.id) {
                Some((seen, attrs)) => {
                    *seen = pass;
                    folds.add(&s, &attrs.grouped, attrs.pid());
                }
                None => pending.push(s.into_owned()),
            }
        })
        .await?;
    drop(result);
    // Sessions not seen before: their attributes, read once. A session still logging in
    // may show its attributes late: only settled sessions are remembered without any.
    for batch in pending.chunks(ATTRIBUTE_BATCH) {
        let ids: Vec<u64> = batch.iter().map(|s| s.id).collect();
        let rows: Vec<(u64, Vec<u8>, Option<Vec<u8>>)> =
            conn.query(attributes_sql(&ids, &names)).await?;
        let mut found: std::collections::HashMap<u64, SessionAttributes> = Default::default();
        for (id, name, value) in rows {
            let name = String::from_utf8_lossy(&name).into_owned();
            let value = String::from_utf8_lossy(&value.unwrap_or_default()).into_owned();
            let a = found.entry(id).or_default();
            if plan.attributes.contains(&name) {
                a.grouped.push((name.clone(), value.clone()));
            }
            a.all.push((name, value));
        }
        for s in batch {
            let settled = !s.user.is_empty() && !s.command.eq_ignore_ascii_case("Connect");
            match found.remove(&s.id) {
                Some(mut a) => {
                    a.grouped.sort();
                    a.all.sort();
                    folds.add(s, &a.grouped, a.pid());
                    cache
                        .attributes
                        .insert(s.id, (pass, std::sync::Arc::new(a)));
                }
                None => {
                    folds.add(s, &[], None);
                    if settled {
                        cache
                            .attributes
                            .insert(s.id, (pass, std::sync::Arc::new(none.clone())));
                    }
                }
            }
        }
    }
    cache.attributes.retain(|_, (seen, _)| *seen == pass);
    (cache.groups, cache.client_processes) = folds.finish();
    cache.read_at = Some(snap.taken_at);
    Ok(())
}

/// One row of the session list, read in place: `cell(i)` is the row's i-th value.
fn session_brief<'r>(cell: impl Fn(usize) -> Option<&'r Value>) -> SessionBrief<'r> {
    let at = |i| cell(i).unwrap_or(&Value::NULL);
    SessionBrief {
        id: number_ref(at(0)).unwrap_or(0),
        user: text_ref(at(1)).unwrap_or_default(),
        host: text_ref(at(2)).unwrap_or_default(),
        db: text_ref(at(3)),
        command: text_ref(at(4)).unwrap_or_default(),
        time: number_ref(at(5)).unwrap_or(0),
        state: text_ref(at(6)).unwrap_or_default(),
        trx: None,
    }
}

/// Every session in detail, attributes last; callers may append `AND ...` conditions.
pub fn sessions_sql(table: ProcesslistTable, attrs: &[String]) -> String {
    let extra: String = attribute_columns(attrs)
        .iter()
        .map(|c| format!(", {c}"))
        .collect();
    format!(
        "SELECT p.ID, COALESCE(p.USER, ''), COALESCE(p.HOST, ''), p.DB, \
         COALESCE(p.COMMAND, ''), GREATEST(COALESCE(p.TIME, 0), 0), COALESCE(p.STATE, ''), LEFT(p.INFO, 300), \
         t.trx_state, GREATEST(TIMESTAMPDIFF(SECOND, t.trx_started, NOW()), 0), \
         DATE_FORMAT(t.trx_started, '%Y-%m-%d %H:%i:%s'), COALESCE(t.trx_rows_locked, 0){extra} \
         FROM {} p \
         LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID{} \
         WHERE p.ID <> CONNECTION_ID()",
        table.sql_name(),
        attribute_joins(attrs, "p.ID")
    )
}

const LAST_STATEMENT_SQL: &str = "SELECT t.PROCESSLIST_ID, LEFT(e.SQL_TEXT, 300) \
     FROM performance_schema.events_statements_current e \
     JOIN performance_schema.threads t ON t.THREAD_ID = e.THREAD_ID \
     WHERE t.PROCESSLIST_ID IS NOT NULL";

const LOCK_WAITS_MARIADB_SQL: &str = "SELECT r.trx_mysql_thread_id, b.trx_mysql_thread_id, \
     GREATEST(COALESCE(TIMESTAMPDIFF(SECOND, r.trx_wait_started, NOW()), 0), 0) \
     FROM information_schema.INNODB_LOCK_WAITS w \
     JOIN information_schema.INNODB_TRX r ON r.trx_id = w.requesting_trx_id \
     JOIN information_schema.INNODB_TRX b ON b.trx_id = w.blocking_trx_id";

/// Driven by the waiting transactions, in this order (STRAIGHT_JOIN): MySQL 9.7's optimizer
/// otherwise crosses INNODB_TRX with itself and probes `data_lock_waits` once per pair,
/// each probe a walk of the lock system — 25 s with 400 open transactions and not one wait
/// (bench/compare.sh --server mysql). This way nobody waiting costs no probe at all.
const LOCK_WAITS_MYSQL_SQL: &str =
    "SELECT STRAIGHT_JOIN r.trx_mysql_thread_id, b.trx_mysql_thread_id, \
     GREATEST(COALESCE(TIMESTAMPDIFF(SECOND, r.trx_wait_started, NOW()), 0), 0) \
     FROM information_schema.INNODB_TRX r \
     JOIN performance_schema.data_lock_waits w ON w.REQUESTING_ENGINE_TRANSACTION_ID = r.trx_id \
     JOIN information_schema.INNODB_TRX b ON b.trx_id = w.BLOCKING_ENGINE_TRANSACTION_ID \
     WHERE r.trx_state = 'LOCK WAIT'";

/// Fills in the last statement of sleeping sessions where performance_schema keeps it
/// (`events_statements_current`); without it the statement stays unknown, not an error.
async fn add_last_statements(conn: &mut Conn, sessions: &mut [SessionRow]) {
    if sessions.iter().all(|s| s.info.is_some()) {
        return;
    }
    let Ok(last) = conn
        .query::<(u64, Option<Vec<u8>>), _>(LAST_STATEMENT_SQL)
        .await
    else {
        return;
    };
    let last: std::collections::HashMap<u64, String> = last
        .into_iter()
        .filter_map(|(id, sql)| Some((id, String::from_utf8_lossy(&sql?).into_owned())))
        .collect();
    for s in sessions.iter_mut().filter(|s| s.info.is_none()) {
        s.info = last.get(&s.id).cloned();
    }
}

/// One session re-read by id, right before `kill-idle` acts on it.
pub async fn fetch_session(
    conn: &mut Conn,
    server: &ServerInfo,
    plan: &Plan,
    id: u64,
) -> Result<Option<SessionRow>, mysql_async::Error> {
    let attrs = joined_attributes(&server.capabilities, plan);
    let sql = format!(
        "{} AND p.ID = {id}",
        sessions_sql(server.capabilities.processlist, attrs)
    );
    let row: Option<Row> = conn.query_first(sql).await?;
    Ok(row.map(|r| session_row(r.unwrap(), attrs)))
}

/// (name, value) of the attributes the session sent, from the query's attribute columns.
fn attributes_of(names: &[String], values: impl Iterator<Item = Value>) -> Vec<(String, String)> {
    names
        .iter()
        .zip(values)
        .filter_map(|(n, v)| Some((n.clone(), text(v)?)))
        .collect()
}

fn session_row(values: Vec<Value>, attrs: &[String]) -> SessionRow {
    let mut it = values.into_iter();
    let mut next = || it.next().unwrap_or(Value::NULL);
    let id = number(next()).unwrap_or(0);
    let user = text(next()).unwrap_or_default();
    let host = text(next()).unwrap_or_default();
    let db = text(next());
    let command = text(next()).unwrap_or_default();
    let time = number(next()).unwrap_or(0);
    let state = text(next()).unwrap_or_default();
    let info = text(next());
    let trx_state = text(next());
    let trx_age_raw = next();
    let trx_age = (trx_state.is_some()).then(|| number(trx_age_raw).unwrap_or(0));
    let trx_started = text(next());
    let trx_rows_locked = number(next()).unwrap_or(0);
    let attributes = attributes_of(attrs, std::iter::from_fn(|| Some(next())));
    SessionRow {
        id,
        user,
        host,
        db,
        command,
        time,
        state,
        info,
        trx_state,
        trx_age,
        trx_started,
        trx_rows_locked,
        attributes,
    }
}

/// (NAME, SUBSYSTEM, TYPE, COMMENT, COUNT) of `INNODB_METRICS`.
type InnodbMetricRow = (String, String, String, Option<String>, Option<i64>);

/// Text columns; bytes that are not UTF-8 (a user name in latin1) are replaced, not fatal.
fn text(v: Value) -> Option<String> {
    text_ref(&v).map(Cow::into_owned)
}

/// Text borrowed from the row where it is valid UTF-8 (nearly always).
fn text_ref(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::NULL => None,
        Value::Bytes(b) => Some(String::from_utf8_lossy(b)),
        other => Some(Cow::Owned(
            other.as_sql(true).trim_matches('\'').to_string(),
        )),
    }
}

/// Counts and sums: integers or DECIMAL text; NULL is 0; negatives clamp to 0.
fn number(v: Value) -> Result<u64, String> {
    number_ref(&v)
}

fn number_ref(v: &Value) -> Result<u64, String> {
    match v {
        Value::NULL => Ok(0),
        Value::Int(i) => Ok((*i).max(0) as u64),
        Value::UInt(u) => Ok(*u),
        Value::Bytes(b) => {
            let s = String::from_utf8_lossy(b);
            let s = s.trim();
            // Integers (nearly every value) without the float parser.
            if let Ok(n) = s.parse::<u64>() {
                return Ok(n);
            }
            let f: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
            Ok(if f.is_finite() && f > 0.0 {
                f as u64
            } else {
                0
            })
        }
        other => Err(format!("{other:?} is not a number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_from_every_shape_the_protocol_gives() {
        assert_eq!(number(Value::NULL), Ok(0));
        assert_eq!(number(Value::Int(-3)), Ok(0));
        assert_eq!(number(Value::UInt(7)), Ok(7));
        assert_eq!(number(Value::Bytes(b"42".to_vec())), Ok(42));
        assert_eq!(number(Value::Bytes(b"42.0000".to_vec())), Ok(42));
        assert!(number(Value::Bytes(b"x".to_vec())).is_err());
    }

    #[test]
    fn text_survives_bytes_that_are_not_utf8() {
        assert_eq!(
            text(Value::Bytes(vec![b'a', 0xff, b'b'])).unwrap(),
            "a\u{fffd}b"
        );
        assert_eq!(text(Value::NULL), None);
    }

    /// Session-list rows as the servers send them (text protocol: bytes; NULLs): a MariaDB
    /// client, a MySQL 8.4 / 9.7 background thread without user, host or db, and a value
    /// that is not UTF-8.
    #[test]
    fn recorded_session_rows_decode() {
        let b = |s: &str| Value::Bytes(s.as_bytes().to_vec());
        // As MariaDB 10.11's SHOW PROCESSLIST sends them (Info and Progress trail).
        let row = [
            b("42"),
            b("kefu"),
            b("10.0.0.7:51514"),
            b("kefu"),
            b("Sleep"),
            b("12"),
            b(""),
            Value::NULL,
            b("0.000"),
        ];
        let s = session_brief(|i| row.get(i));
        assert_eq!(
            (s.id, &*s.user, &*s.host, s.db.as_deref(), s.time),
            (42, "kefu", "10.0.0.7:51514", Some("kefu"), 12)
        );
        assert_eq!((&*s.command, &*s.state), ("Sleep", ""));
        assert!(
            matches!(s.user, Cow::Borrowed(_)),
            "read in place, not copied"
        );
        // As MySQL 9.7's performance_schema.processlist sends them.
        let row = [
            Value::UInt(6),
            b("system user"),
            Value::NULL,
            Value::NULL,
            b("Daemon"),
            Value::Int(8),
            b("Suspending"),
        ];
        let daemon = session_brief(|i| row.get(i));
        assert_eq!((&*daemon.host, daemon.db.as_deref()), ("", None));
        assert_eq!((daemon.time, &*daemon.state), (8, "Suspending"));
        let row = [b("7"), Value::Bytes(vec![b'a', 0xff]), b("h:1")];
        let odd = session_brief(|i| row.get(i));
        assert_eq!((&*odd.user, &*odd.command, odd.time), ("a\u{fffd}", "", 0));
    }

    #[test]
    fn queries_read_the_detected_table_and_join_only_the_plans_attributes() {
        let list = session_list_sql(ProcesslistTable::PerformanceSchema);
        assert!(
            list.ends_with("FROM performance_schema.processlist"),
            "{list}"
        );
        assert!(
            list.starts_with("SELECT ID, USER, HOST, DB, COMMAND, TIME, STATE "),
            "{list}"
        );
        assert_eq!(
            session_list_sql(ProcesslistTable::InformationSchema),
            "SHOW PROCESSLIST"
        );
        let attrs = vec!["program_name".to_string(), "_pid".to_string()];
        let sql = attributes_sql(&[3, 4], &attrs);
        assert!(
            sql.ends_with(
                "WHERE PROCESSLIST_ID IN (3, 4) AND ATTR_NAME IN ('program_name', '_pid')"
            ),
            "{sql}"
        );
        let sessions = sessions_sql(ProcesslistTable::PerformanceSchema, &attrs[..1]);
        assert!(sessions.contains(", a0.ATTR_VALUE FROM performance_schema.processlist p"));
        assert!(sessions.contains(
            "LEFT JOIN performance_schema.session_connect_attrs a0 ON a0.PROCESSLIST_ID = p.ID AND a0.ATTR_NAME = 'program_name'"
        ));
        // Names are validated at load; quoting still holds if one ever got through.
        assert_eq!(literal(r"a'b\c"), r"'a''b\\c'");
    }
}
