//! Metadata locks: where this server lists them (found once per connection), and the query
//! of each table into one row shape. Read only when the session list shows a session
//! waiting for a lock other than a row lock, so a server where nobody waits pays nothing.

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use crate::snapshot::{MetadataLock, MetadataLockTable, MetadataLocks};

/// Where this server lists metadata locks: performance_schema when its MDL instrument is on
/// (MySQL's default), else MariaDB's `metadata_lock_info` plugin when installed.
pub async fn detect(
    conn: &mut Conn,
    performance_schema: bool,
) -> Result<MetadataLockTable, mysql_async::Error> {
    const WHAT: &str = "so who holds a metadata, global read, backup or user lock is \
        inferred from the processlist (\"probably\")";
    // information_schema lists only the tables the account may read.
    let visible: Vec<String> = conn
        .query(
            "SELECT LOWER(TABLE_NAME) FROM information_schema.TABLES \
             WHERE (TABLE_SCHEMA = 'performance_schema' AND TABLE_NAME = 'metadata_locks') \
             OR (TABLE_SCHEMA = 'information_schema' AND TABLE_NAME = 'METADATA_LOCK_INFO')",
        )
        .await?;
    let p_s_table = performance_schema && visible.iter().any(|t| t == "metadata_locks");
    let plugin = visible.iter().any(|t| t == "metadata_lock_info");
    let instrument_on = if p_s_table {
        let on: Option<String> = conn
            .query_first(
                "SELECT ENABLED FROM performance_schema.setup_instruments \
                 WHERE NAME = 'wait/lock/metadata/sql/mdl'",
            )
            .await?;
        on.is_some_and(|v| v.eq_ignore_ascii_case("YES"))
    } else {
        false
    };
    Ok(if instrument_on {
        MetadataLockTable::PerformanceSchema
    } else if plugin {
        MetadataLockTable::Plugin
    } else if p_s_table {
        MetadataLockTable::Unavailable(format!(
            "performance_schema's metadata-lock instrument is off, {WHAT}; turn it on with \
             UPDATE performance_schema.setup_instruments SET ENABLED = 'YES' WHERE NAME = \
             'wait/lock/metadata/sql/mdl' (or start the server with \
             --performance-schema-instrument='wait/lock/metadata/sql/mdl=ON'), or on MariaDB \
             INSTALL SONAME 'metadata_lock_info'"
        ))
    } else if performance_schema {
        MetadataLockTable::Unavailable(format!(
            "the exporter's account cannot read performance_schema.metadata_locks, {WHAT}; \
             GRANT SELECT ON performance_schema.* TO the exporter's account"
        ))
    } else {
        MetadataLockTable::Unavailable(format!(
            "performance_schema is off and the metadata_lock_info plugin is not installed, \
             {WHAT}; on MariaDB INSTALL SONAME 'metadata_lock_info' (holders only, no \
             restart), or start the server with --performance-schema=ON \
             --performance-schema-instrument='wait/lock/metadata/sql/mdl=ON'"
        ))
    })
}

/// The granted and pending metadata locks on the objects someone waits for: a pending
/// request can only wait for locks on its own object. Driven by the few pending rows, in
/// this order (STRAIGHT_JOIN): joining every thread with its locks instead cost MySQL 9.7
/// 15 ms at 4 000 sessions (bench/locks.sh).
const PERFORMANCE_SCHEMA_SQL: &str = "SELECT STRAIGHT_JOIN t.PROCESSLIST_ID, m.OBJECT_TYPE, \
     m.OBJECT_SCHEMA, m.OBJECT_NAME, m.LOCK_TYPE, m.LOCK_STATUS \
     FROM (SELECT DISTINCT OBJECT_TYPE, OBJECT_SCHEMA, OBJECT_NAME \
           FROM performance_schema.metadata_locks WHERE LOCK_STATUS = 'PENDING') w \
     JOIN performance_schema.metadata_locks m ON m.OBJECT_TYPE = w.OBJECT_TYPE \
          AND m.OBJECT_SCHEMA <=> w.OBJECT_SCHEMA AND m.OBJECT_NAME <=> w.OBJECT_NAME \
     JOIN performance_schema.threads t ON t.THREAD_ID = m.OWNER_THREAD_ID \
     WHERE t.PROCESSLIST_ID IS NOT NULL AND t.PROCESSLIST_ID <> CONNECTION_ID() \
     AND m.LOCK_STATUS IN ('GRANTED', 'PENDING')";

const PLUGIN_SQL: &str = "SELECT THREAD_ID, LOCK_TYPE, TABLE_SCHEMA, TABLE_NAME, LOCK_MODE \
     FROM information_schema.METADATA_LOCK_INFO WHERE THREAD_ID <> CONNECTION_ID()";

type Row5 = (u64, String, Option<String>, Option<String>, String);
type Row6 = (u64, String, Option<String>, Option<String>, String, String);

/// The metadata locks from the detected table.
pub async fn read(
    conn: &mut Conn,
    table: &MetadataLockTable,
) -> Result<MetadataLocks, mysql_async::Error> {
    match table {
        MetadataLockTable::PerformanceSchema => {
            let rows: Vec<Row6> = conn.query(PERFORMANCE_SCHEMA_SQL).await?;
            Ok(MetadataLocks {
                rows: rows
                    .into_iter()
                    .map(
                        |(session, object_type, schema, name, lock_type, status)| MetadataLock {
                            session,
                            object_type,
                            schema: schema.filter(|s| !s.is_empty()),
                            name: name.filter(|s| !s.is_empty()),
                            lock_type,
                            granted: status == "GRANTED",
                        },
                    )
                    .collect(),
                lists_waiters: true,
            })
        }
        MetadataLockTable::Plugin => {
            let rows: Vec<Row5> = conn.query(PLUGIN_SQL).await?;
            Ok(MetadataLocks {
                rows: rows.into_iter().map(plugin_row).collect(),
                lists_waiters: false,
            })
        }
        MetadataLockTable::Unavailable(_) => Ok(MetadataLocks::default()),
    }
}

/// A `METADATA_LOCK_INFO` row in performance_schema's words: its lock types are phrases
/// (`Table metadata lock`), its modes carry `MDL_`, and a user lock's name is in
/// `TABLE_SCHEMA`.
fn plugin_row((session, kind, schema, name, mode): Row5) -> MetadataLock {
    let non_empty = |s: Option<String>| s.filter(|s| !s.is_empty());
    let object_type = match kind.as_str() {
        "Table metadata lock" => "TABLE",
        "Schema metadata lock" => "SCHEMA",
        "Global read lock" => "GLOBAL",
        "Commit lock" => "COMMIT",
        "Backup lock" => "BACKUP LOCK",
        "User lock" => "USER LEVEL LOCK",
        "Stored function metadata lock" => "FUNCTION",
        "Stored procedure metadata lock" => "PROCEDURE",
        "Trigger metadata lock" => "TRIGGER",
        "Event metadata lock" => "EVENT",
        other => other,
    }
    .to_string();
    let (schema, name) = if object_type == "USER LEVEL LOCK" {
        (None, non_empty(schema))
    } else {
        (non_empty(schema), non_empty(name))
    };
    MetadataLock {
        session,
        object_type,
        schema,
        name,
        lock_type: mode.trim_start_matches("MDL_").to_string(),
        granted: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows as MariaDB 10.11's plugin showed them for FTWRL, a read, a write and GET_LOCK.
    #[test]
    fn plugin_rows_read_like_performance_schema() {
        let s = |v: &str| Some(v.to_string());
        let rows = [
            (
                18,
                "Backup lock".to_string(),
                s(""),
                s(""),
                "MDL_BACKUP_FTWRL2".to_string(),
            ),
            (
                17,
                "Table metadata lock".into(),
                s("appdb"),
                s("t"),
                "MDL_SHARED_READ".into(),
            ),
            (
                21,
                "User lock".into(),
                s("gl"),
                s(""),
                "MDL_SHARED_NO_WRITE".into(),
            ),
        ]
        .map(plugin_row);
        assert_eq!(
            (
                rows[0].object_type.as_str(),
                rows[0].lock_type.as_str(),
                &rows[0].schema
            ),
            ("BACKUP LOCK", "BACKUP_FTWRL2", &None)
        );
        assert_eq!(
            (rows[1].schema.as_deref(), rows[1].name.as_deref()),
            (Some("appdb"), Some("t"))
        );
        assert_eq!(
            (rows[2].object_type.as_str(), rows[2].name.as_deref()),
            ("USER LEVEL LOCK", Some("gl"))
        );
        assert!(rows.iter().all(|r| r.granted));
    }
}
