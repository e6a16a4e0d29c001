//! The SQL of each source and the decoding of its rows into the snapshot's row types.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};

use crate::snapshot::{
    Capabilities, ClientProcessGroup, ConnectAttributes, Flavor, InnodbMetric, LockWait, Outcome,
    Plan, ProcesslistTable, ServerInfo, SessionRow, Snapshot, Source, ThreadGroup, AGE_BUCKETS,
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
    Ok(Capabilities {
        processlist,
        connect_attributes: attributes,
        sees_all_sessions,
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
            let rows: Vec<Row> = conn
                .query(threads_sql(table, attrs))
                .await
                .map_err(|e| classify(e, source))?;
            let groups = thread_groups(rows.into_iter().map(Row::unwrap), attrs).map_err(|e| {
                SourceError::Failed(mysql_async::Error::Other(
                    format!("unexpected processlist row: {e}").into(),
                ))
            })?;
            snap.threads = Outcome::Ok(groups);
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
            let rows: Vec<Row> = conn
                .query(client_processes_sql(attrs))
                .await
                .map_err(|e| classify(e, source))?;
            let groups = rows
                .into_iter()
                .map(|r| client_process_row(r.unwrap(), attrs))
                .collect::<Result<_, _>>()
                .map_err(|e| {
                    SourceError::Failed(mysql_async::Error::Other(
                        format!("unexpected session_connect_attrs row: {e}").into(),
                    ))
                })?;
            snap.client_processes = Outcome::Ok(groups);
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

/// `HOST` without the client port. TCP clients always show `host:port` (IPv6 unbracketed,
/// `::1:40512`); sockets show `localhost`. So: cut the last `:` segment when it is all digits.
/// `analysis::host::strip_port` is the same rule in Rust, and a test checks they agree.
const HOST_EXPR: &str = "IF(p.HOST REGEXP ':[0-9]+$', \
     LEFT(p.HOST, CHAR_LENGTH(p.HOST) - CHAR_LENGTH(SUBSTRING_INDEX(p.HOST, ':', -1)) - 1), \
     COALESCE(p.HOST, ''))";

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

/// Grouped so the result grows with the variety of (user, host, db, command, state, the
/// plan's attributes), not with the number of sessions; the ages come bucketed (see
/// [`ThreadGroup`]).
pub fn threads_sql(table: ProcesslistTable, attrs: &[String]) -> String {
    let time = "GREATEST(COALESCE(p.TIME, 0), 0)";
    let age = "GREATEST(TIMESTAMPDIFF(SECOND, t.trx_started, NOW()), 0)";
    // The index of the age's bucket (AGE_BUCKETS.len() for +Inf): one small key to group
    // by, cheaper on the server than a SUM(age <= b) column per bucket.
    let bucket = |x: &str| {
        let arms: Vec<String> = AGE_BUCKETS
            .iter()
            .enumerate()
            .map(|(i, b)| format!("WHEN {x} <= {b} THEN {i}"))
            .collect();
        format!("CASE {} ELSE {} END", arms.join(" "), AGE_BUCKETS.len())
    };
    let mut cols: Vec<String> = vec![
        "COALESCE(p.USER, '')".into(),
        HOST_EXPR.into(),
        "p.DB".into(),
        "COALESCE(p.COMMAND, '')".into(),
        "COALESCE(p.STATE, '')".into(),
        "t.trx_state".into(),
    ];
    cols.extend(attribute_columns(attrs));
    cols.extend([
        bucket(time),
        format!("IF(t.trx_started IS NULL, NULL, {})", bucket(age)),
        "COUNT(*)".into(),
        format!("SUM({time})"),
        format!("MAX({time})"),
        format!("COALESCE(SUM({age}), 0)"),
        format!("COALESCE(MAX({age}), 0)"),
    ]);
    let group_by: Vec<String> = (1..=8 + attrs.len()).map(|i| i.to_string()).collect();
    format!(
        "SELECT {} FROM {} p \
         LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID{} \
         WHERE p.ID <> CONNECTION_ID() GROUP BY {}",
        cols.join(", "),
        table.sql_name(),
        attribute_joins(attrs, "p.ID"),
        group_by.join(", ")
    )
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

const LOCK_WAITS_MYSQL_SQL: &str = "SELECT r.trx_mysql_thread_id, b.trx_mysql_thread_id, \
     GREATEST(COALESCE(TIMESTAMPDIFF(SECOND, r.trx_wait_started, NOW()), 0), 0) \
     FROM performance_schema.data_lock_waits w \
     JOIN information_schema.INNODB_TRX r ON r.trx_id = w.REQUESTING_ENGINE_TRANSACTION_ID \
     JOIN information_schema.INNODB_TRX b ON b.trx_id = w.BLOCKING_ENGINE_TRANSACTION_ID";

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

/// Sessions per (user, host, db, `_pid`, the plan's attributes), from performance_schema
/// alone: joining information_schema.PROCESSLIST (no index) to the attributes cost
/// sessions × attributes (docs/benchmarks.md); `threads` carries user, host (without port)
/// and db itself.
pub fn client_processes_sql(attrs: &[String]) -> String {
    let extra: String = attribute_columns(attrs)
        .iter()
        .map(|c| format!(", {c}"))
        .collect();
    let group_by: Vec<String> = (1..=4 + attrs.len()).map(|i| i.to_string()).collect();
    format!(
        "SELECT COALESCE(t.PROCESSLIST_USER, ''), COALESCE(t.PROCESSLIST_HOST, ''), \
         t.PROCESSLIST_DB, pid.ATTR_VALUE{extra}, COUNT(*) \
         FROM performance_schema.session_connect_attrs pid \
         JOIN performance_schema.threads t ON t.PROCESSLIST_ID = pid.PROCESSLIST_ID{} \
         WHERE pid.ATTR_NAME = '_pid' AND pid.PROCESSLIST_ID <> CONNECTION_ID() \
         GROUP BY {}",
        attribute_joins(attrs, "pid.PROCESSLIST_ID"),
        group_by.join(", ")
    )
}

fn client_process_row(values: Vec<Value>, attrs: &[String]) -> Result<ClientProcessGroup, String> {
    if values.len() != 5 + attrs.len() {
        return Err(format!(
            "{} columns, expected {}",
            values.len(),
            5 + attrs.len()
        ));
    }
    let mut it = values.into_iter();
    let mut next = || it.next().unwrap_or(Value::NULL);
    let user = text(next()).unwrap_or_default();
    let host = text(next()).unwrap_or_default();
    let db = text(next());
    let pid = text(next());
    let attributes = attributes_of(attrs, (0..attrs.len()).map(|_| next()));
    let count = number(next())?;
    Ok(ClientProcessGroup {
        user,
        host,
        db,
        pid,
        attributes,
        count,
    })
}

/// (NAME, SUBSYSTEM, TYPE, COMMENT, COUNT) of `INNODB_METRICS`.
type InnodbMetricRow = (String, String, String, Option<String>, Option<i64>);

/// (user, host, db, command, state, trx_state, attributes): what a [`ThreadGroup`] is a
/// group of.
type GroupKey = (
    String,
    String,
    Option<String>,
    String,
    String,
    Option<String>,
    Vec<(String, String)>,
);

/// Folds the rows of [`threads_sql`] (one per group and pair of age buckets) into one
/// [`ThreadGroup`] per (user, host, db, command, state, trx_state, attributes), with
/// cumulative buckets.
fn thread_groups(
    rows: impl IntoIterator<Item = Vec<Value>>,
    attrs: &[String],
) -> Result<Vec<ThreadGroup>, String> {
    let n = AGE_BUCKETS.len();
    let columns = 13 + attrs.len();
    let mut groups: Vec<ThreadGroup> = Vec::new();
    let mut index: std::collections::HashMap<GroupKey, usize> = std::collections::HashMap::new();
    for values in rows {
        if values.len() != columns {
            return Err(format!("{} columns, expected {columns}", values.len()));
        }
        let mut it = values.into_iter();
        let mut next = || it.next().unwrap_or(Value::NULL);
        let key = (
            text(next()).unwrap_or_default(),
            text(next()).unwrap_or_default(),
            text(next()),
            text(next()).unwrap_or_default(),
            text(next()).unwrap_or_default(),
            text(next()),
            attributes_of(attrs, (0..attrs.len()).map(|_| next())),
        );
        let time_bucket = number(next())? as usize;
        let age_bucket = match next() {
            Value::NULL => None,
            v => Some(number(v)? as usize),
        };
        let (count, time_sum, time_max) = (number(next())?, number(next())?, number(next())?);
        let (age_sum, age_max) = (number(next())?, number(next())?);
        if time_bucket > n || age_bucket.is_some_and(|b| b > n) {
            return Err(format!(
                "age bucket {time_bucket}/{age_bucket:?} out of 0..={n}"
            ));
        }
        let i = *index.entry(key.clone()).or_insert_with(|| {
            let (user, host, db, command, state, trx_state, attributes) = key;
            groups.push(ThreadGroup {
                user,
                host,
                db,
                command,
                state,
                trx_state,
                attributes,
                ..ThreadGroup::default()
            });
            groups.len() - 1
        });
        let g = &mut groups[i];
        g.count += count;
        g.time_sum += time_sum;
        g.time_max = g.time_max.max(time_max);
        for le in &mut g.time_le[time_bucket.min(n)..] {
            *le += count;
        }
        if let Some(b) = age_bucket {
            g.trx_age_sum += age_sum;
            g.trx_age_max = g.trx_age_max.max(age_max);
            for le in &mut g.trx_age_le[b.min(n)..] {
                *le += count;
            }
        }
    }
    Ok(groups)
}

/// Text columns; bytes that are not UTF-8 (a user name in latin1) are replaced, not fatal.
fn text(v: Value) -> Option<String> {
    match v {
        Value::NULL => None,
        Value::Bytes(b) => Some(String::from_utf8_lossy(&b).into_owned()),
        other => Some(other.as_sql(true).trim_matches('\'').to_string()),
    }
}

/// Counts and sums: integers or DECIMAL text; NULL is 0; negatives clamp to 0.
fn number(v: Value) -> Result<u64, String> {
    match v {
        Value::NULL => Ok(0),
        Value::Int(i) => Ok(i.max(0) as u64),
        Value::UInt(u) => Ok(u),
        Value::Bytes(b) => {
            let s = String::from_utf8_lossy(&b);
            let f: f64 = s
                .trim()
                .parse()
                .map_err(|_| format!("`{s}` is not a number"))?;
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

    /// Rows as MariaDB sends them (text protocol: everything is bytes; NULLs).
    fn row(
        user: &str,
        db: Option<&str>,
        command: &str,
        trx: Option<&str>,
        buckets: (u64, Option<u64>),
        n: [u64; 5],
    ) -> Vec<Value> {
        let b = |s: &str| Value::Bytes(s.as_bytes().to_vec());
        let num = |v: u64| Value::Bytes(v.to_string().into_bytes());
        vec![
            b(user),
            b("10.0.0.7"),
            db.map_or(Value::NULL, b),
            b(command),
            b(""),
            trx.map_or(Value::NULL, b),
            num(buckets.0),
            buckets.1.map_or(Value::NULL, num),
            num(n[0]),
            num(n[1]),
            num(n[2]),
            num(n[3]),
            num(n[4]),
        ]
    }

    #[test]
    fn recorded_rows_fold_into_groups_with_cumulative_buckets() {
        let rows = vec![
            // 2 kefu sessions idle 3 s in a transaction 40 s old, 1 idle 7 s in one 400 s old.
            row(
                "kefu",
                Some("kefu"),
                "Sleep",
                Some("RUNNING"),
                (1, Some(4)),
                [2, 6, 3, 80, 40],
            ),
            row(
                "kefu",
                Some("kefu"),
                "Sleep",
                Some("RUNNING"),
                (2, Some(7)),
                [1, 7, 7, 400, 400],
            ),
            // A MySQL 8 daemon: NULL db and no transaction, and a session past every bucket.
            row(
                "event_scheduler",
                None,
                "Daemon",
                None,
                (10, None),
                [1, 9000, 9000, 0, 0],
            ),
        ];
        let g = thread_groups(rows, &[]).unwrap();
        assert_eq!(g.len(), 2);
        assert_eq!((g[0].count, g[0].time_sum, g[0].time_max), (3, 13, 7));
        assert_eq!(g[0].time_le, [0, 2, 3, 3, 3, 3, 3, 3, 3, 3]);
        assert_eq!(g[0].trx_age_le, [0, 0, 0, 0, 2, 2, 2, 3, 3, 3]);
        assert_eq!((g[0].trx_age_sum, g[0].trx_age_max), (480, 400));
        assert_eq!(
            (g[1].db.as_deref(), g[1].trx_state.as_deref()),
            (None, None)
        );
        assert_eq!(g[1].time_le, [0; 10]);
        assert!(thread_groups(vec![vec![Value::NULL; 12]], &[]).is_err());
        let mut bad = row("a", None, "Sleep", None, (99, None), [1, 1, 1, 0, 0]);
        assert!(thread_groups(vec![bad.clone()], &[]).is_err());
        bad[6] = Value::Bytes(b"x".to_vec());
        assert!(thread_groups(vec![bad], &[]).is_err());
    }

    #[test]
    fn queries_read_the_detected_table_and_join_only_the_plans_attributes() {
        let plain = threads_sql(ProcesslistTable::InformationSchema, &[]);
        assert!(
            plain.contains("FROM information_schema.PROCESSLIST p "),
            "{plain}"
        );
        assert!(!plain.contains("session_connect_attrs"), "{plain}");
        assert!(
            plain.ends_with("GROUP BY 1, 2, 3, 4, 5, 6, 7, 8"),
            "{plain}"
        );
        let attrs = vec!["program_name".to_string(), "_client_name".to_string()];
        let sql = threads_sql(ProcesslistTable::PerformanceSchema, &attrs);
        assert!(
            sql.contains("FROM performance_schema.processlist p "),
            "{sql}"
        );
        assert!(
            sql.contains(
                "LEFT JOIN performance_schema.session_connect_attrs a1 \
                 ON a1.PROCESSLIST_ID = p.ID AND a1.ATTR_NAME = '_client_name'"
            ),
            "{sql}"
        );
        assert!(
            sql.ends_with("GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10"),
            "{sql}"
        );
        let sessions = sessions_sql(ProcesslistTable::PerformanceSchema, &attrs[..1]);
        assert!(sessions.contains(", a0.ATTR_VALUE FROM performance_schema.processlist p"));
        let procs = client_processes_sql(&attrs[..1]);
        assert!(
            procs.contains("ON a0.PROCESSLIST_ID = pid.PROCESSLIST_ID"),
            "{procs}"
        );
        assert!(procs.ends_with("GROUP BY 1, 2, 3, 4, 5"), "{procs}");
        // Names are validated at load; quoting still holds if one ever got through.
        assert_eq!(literal(r"a'b\c"), r"'a''b\\c'");
    }

    /// A MySQL 8.4 / 9.7 performance_schema.processlist shape (recorded): the background
    /// `system user` thread and the event scheduler, two apps under one user told apart by
    /// `program_name`, and a session that sent no attribute at all (NULL).
    #[test]
    fn recorded_mysql_rows_with_attributes_group_per_attribute_value() {
        let b = |s: &str| Value::Bytes(s.as_bytes().to_vec());
        let row = |user: &str, cmd: &str, state: &str, program: Option<&str>, n: u64| {
            vec![
                b(user),
                b("10.0.0.7"),
                b("kefu"),
                b(cmd),
                b(state),
                Value::NULL,
                program.map_or(Value::NULL, b),
                b("0"),
                Value::NULL,
                b(&n.to_string()),
                b("0"),
                b("0"),
                b("0"),
                b("0"),
            ]
        };
        let attrs = vec!["program_name".to_string()];
        let g = thread_groups(
            vec![
                row("system user", "Daemon", "Suspending", None, 1),
                row(
                    "event_scheduler",
                    "Daemon",
                    "Waiting on empty queue",
                    None,
                    1,
                ),
                row("kefu", "Sleep", "", Some("kefu-flask"), 7),
                row("kefu", "Sleep", "", Some("kefu-worker"), 5),
                row("kefu", "Sleep", "", None, 2),
            ],
            &attrs,
        )
        .unwrap();
        assert_eq!(g.len(), 5);
        assert_eq!(
            g[2].attributes,
            vec![("program_name".to_string(), "kefu-flask".to_string())]
        );
        assert_eq!(g[2].count, 7);
        assert!(g[4].attributes.is_empty());
        assert!(thread_groups(vec![row("u", "Sleep", "", None, 1)], &[]).is_err());
    }
}
