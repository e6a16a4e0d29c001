//! Every session in detail, for `check`, `kill-idle` and the status page (never metrics: it
//! grows with the sessions), and one session re-read right before `kill-idle` acts on it.

use std::collections::HashMap;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};

use super::attributes::{attribute_columns, attribute_joins, joined_attributes};
use crate::db::decode::{number, text};
use crate::snapshot::{Capabilities, Plan, ProcesslistTable, ServerInfo, SessionRow};

/// Every session in detail, its thread id (`NULL` unless `thread_ids`) and attributes
/// last; callers may append `AND ...` conditions.
///
/// `thread_ids` joins performance_schema.threads, which only `kill-idle` needs: the other
/// readers run every scrape, and the join would cost the server on each.
pub fn sessions_sql(table: ProcesslistTable, attrs: &[String], thread_ids: bool) -> String {
    let extra: String = attribute_columns(attrs)
        .iter()
        .map(|c| format!(", {c}"))
        .collect();
    let (thread, thread_join) = if thread_ids {
        (
            "th.THREAD_ID",
            " LEFT JOIN performance_schema.threads th ON th.PROCESSLIST_ID = p.ID",
        )
    } else {
        ("NULL", "")
    };
    format!(
        "SELECT p.ID, COALESCE(p.USER, ''), COALESCE(p.HOST, ''), p.DB, \
         COALESCE(p.COMMAND, ''), GREATEST(COALESCE(p.TIME, 0), 0), COALESCE(p.STATE, ''), LEFT(p.INFO, 300), \
         t.trx_state, GREATEST(TIMESTAMPDIFF(SECOND, t.trx_started, NOW()), 0), \
         DATE_FORMAT(t.trx_started, '%Y-%m-%d %H:%i:%s'), COALESCE(t.trx_rows_locked, 0), {thread}{extra} \
         FROM {} p \
         LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID{thread_join}{} \
         WHERE p.ID <> CONNECTION_ID()",
        table.sql_name(),
        attribute_joins(attrs, "p.ID")
    )
}

const LAST_STATEMENT_SQL: &str = "SELECT t.PROCESSLIST_ID, LEFT(e.SQL_TEXT, 300) \
     FROM performance_schema.events_statements_current e \
     JOIN performance_schema.threads t ON t.THREAD_ID = e.THREAD_ID \
     WHERE t.PROCESSLIST_ID IS NOT NULL";

pub(super) async fn read(
    conn: &mut Conn,
    caps: &Capabilities,
    plan: &Plan,
) -> Result<Vec<SessionRow>, mysql_async::Error> {
    read_where(conn, caps, plan, "", true).await
}

/// The same, of the sessions `condition` (`AND ...` on `p`, the processlist, and `t`,
/// INNODB_TRX) keeps.
/// `last_statements`: whether sleeping sessions get their last statement (one more query
/// over every thread).
pub(super) async fn read_where(
    conn: &mut Conn,
    caps: &Capabilities,
    plan: &Plan,
    condition: &str,
    last_statements: bool,
) -> Result<Vec<SessionRow>, mysql_async::Error> {
    let attrs = joined_attributes(caps, plan);
    let sql = format!(
        "{}{condition}",
        sessions_sql(caps.processlist, attrs, thread_ids(caps, plan))
    );
    let rows: Vec<Row> = conn.query(sql).await?;
    let mut sessions: Vec<SessionRow> = rows
        .into_iter()
        .map(|r| session_row(r.unwrap(), attrs))
        .collect();
    if last_statements {
        add_last_statements(conn, &mut sessions).await;
    }
    Ok(sessions)
}

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
    let last: HashMap<u64, String> = last
        .into_iter()
        .filter_map(|(id, sql)| Some((id, String::from_utf8_lossy(&sql?).into_owned())))
        .collect();
    for s in sessions.iter_mut().filter(|s| s.info.is_none()) {
        s.info = last.get(&s.id).cloned();
    }
}

/// Whether the session list can carry thread ids: asked for, and performance_schema on and
/// readable (MariaDB's is off by default: its sessions are then told apart without).
fn thread_ids(caps: &Capabilities, plan: &Plan) -> bool {
    plan.thread_ids && caps.threads
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
        sessions_sql(
            server.capabilities.processlist,
            attrs,
            thread_ids(&server.capabilities, plan)
        )
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

/// One row of [`sessions_sql`], in its column order.
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
    let thread_id = number(next()).ok();
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
        thread_id,
        attributes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_detail_query_joins_only_the_plans_attributes() {
        let attrs = ["program_name".to_string(), "_pid".to_string()];
        let sessions = sessions_sql(ProcesslistTable::PerformanceSchema, &attrs[..1], false);
        assert!(sessions.contains(", a0.ATTR_VALUE FROM performance_schema.processlist p"));
        assert!(sessions.contains(
            "LEFT JOIN performance_schema.session_connect_attrs a0 ON a0.PROCESSLIST_ID = p.ID AND a0.ATTR_NAME = 'program_name'"
        ));
        assert!(!sessions.contains("'_pid'"), "{sessions}");
    }
}
