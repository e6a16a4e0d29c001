//! What the server offers this connection, read once per connection: where the session
//! list and the connect attributes can be read from, and whether the exporter's account sees
//! every session. Decided by what the server has and the account may read, never by version
//! strings (MariaDB and MySQL forks number their versions differently).

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use super::sources::UNAVAILABLE_CODES;
use crate::snapshot::{AccountTable, Capabilities, ConnectAttributes, ProcesslistTable};

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
             AND TABLE_NAME IN ('processlist', 'session_connect_attrs', 'accounts', 'threads')",
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
    let metadata_locks = super::sources::detect_metadata_locks(conn, on).await?;
    let accounts = if on && has("accounts") {
        AccountTable::PerformanceSchema
    } else {
        account_statistics(conn, on).await?
    };
    Ok(Capabilities {
        processlist,
        connect_attributes: attributes,
        sees_all_sessions,
        metadata_locks,
        accounts,
        threads: on && has("threads"),
    })
}

/// Without `performance_schema.accounts`: MariaDB's USER_STATISTICS when `userstat` is on
/// (MySQL has neither the variable nor the table), else why not and how to turn one on.
async fn account_statistics(
    conn: &mut Conn,
    ps_on: bool,
) -> Result<AccountTable, mysql_async::Error> {
    let userstat: Option<Option<i64>> = match conn.query_first("SELECT @@GLOBAL.userstat").await {
        Ok(v) => v,
        Err(mysql_async::Error::Server(e)) if e.code == 1193 => None,
        Err(e) => return Err(e),
    };
    Ok(match userstat {
        Some(Some(1)) => AccountTable::UserStatistics,
        Some(_) => AccountTable::Unavailable(
            "performance_schema is off and userstat is 0 on this server; SET GLOBAL userstat=1 \
             (or start MariaDB with --performance-schema=ON) to count connections per account"
                .into(),
        ),
        None if ps_on => AccountTable::Unavailable(
            "the exporter's account cannot read performance_schema.accounts; GRANT SELECT ON \
             performance_schema.* TO the exporter's account"
                .into(),
        ),
        None => AccountTable::Unavailable(
            "performance_schema is off on this server; start it with --performance-schema=ON \
             to count connections per account"
                .into(),
        ),
    })
}
