//! Who waits for whose row lock. MariaDB keeps the waits in `INNODB_LOCK_WAITS`; MySQL 8+
//! in `performance_schema.data_lock_waits`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use crate::snapshot::{Flavor, LockWait, ProcesslistTable};

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

/// (user, host) of the blocking sessions `ids`.
fn blockers_sql(table: ProcesslistTable, ids: &BTreeSet<u64>) -> String {
    let list: Vec<String> = ids.iter().map(u64::to_string).collect();
    format!(
        "SELECT ID, COALESCE(USER, ''), COALESCE(HOST, '') FROM {} WHERE ID IN ({})",
        table.sql_name(),
        list.join(", ")
    )
}

pub(super) async fn read(
    conn: &mut Conn,
    flavor: Option<Flavor>,
    table: ProcesslistTable,
) -> Result<Vec<LockWait>, mysql_async::Error> {
    let sql = match flavor {
        Some(Flavor::MySql) => LOCK_WAITS_MYSQL_SQL,
        _ => LOCK_WAITS_MARIADB_SQL,
    };
    let rows: Vec<(u64, u64, u64)> = conn.query(sql).await?;
    // One edge per pair of sessions (a pair can share several locks), longest wait.
    let mut edges: BTreeMap<(u64, u64), u64> = Default::default();
    for (waiting, blocking, secs) in rows {
        let e = edges.entry((waiting, blocking)).or_default();
        *e = (*e).max(secs);
    }
    // Who the blockers are: asked only when something waits, so a server without
    // lock waits pays for one small query.
    let mut who: HashMap<u64, (String, String)> = Default::default();
    if !edges.is_empty() {
        let ids: BTreeSet<u64> = edges.keys().map(|(_, b)| *b).collect();
        let rows: Vec<(u64, String, String)> = conn.query(blockers_sql(table, &ids)).await?;
        who = rows.into_iter().map(|(id, u, h)| (id, (u, h))).collect();
    }
    Ok(edges
        .into_iter()
        .map(|((waiting, blocking), wait_seconds)| {
            let (blocking_user, blocking_host) = who.get(&blocking).cloned().unwrap_or_default();
            LockWait {
                waiting,
                blocking,
                wait_seconds,
                blocking_user,
                blocking_host,
            }
        })
        .collect())
}
