//! Which server this is, read once per connection from `@@version`/`@@version_comment`.

use crate::snapshot::Flavor;

/// Decides the flavour, or says why the server is not one we know how to read.
pub fn detect(version: &str, version_comment: &str) -> Result<Flavor, String> {
    if version.contains("MariaDB") || version_comment.contains("MariaDB") {
        return Ok(Flavor::MariaDb);
    }
    let major: Option<u32> = version
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|m| m.parse().ok());
    match major {
        Some(5..=9) => Ok(Flavor::MySql),
        _ => Err(format!(
            "unknown server flavour: version `{version}` ({version_comment}); \
             mysql_pool_exporter reads MySQL 5.7/8.x and MariaDB 10.6+ — point the DSN at \
             one of those (not at a proxy's admin port)"
        )),
    }
}

/// Run first on every connection (both servers): the exporter's statements never reach the
/// slow query log by their duration, even with `long_query_time = 0`. A plain session
/// variable: no privilege needed.
pub const QUIET_SESSION: &str = "SET SESSION long_query_time = 31536000";

/// With `log_queries_not_using_indexes` on, statements that use no index are logged whatever
/// their duration (ours read information_schema tables), unless they examined fewer rows
/// than `min_examined_row_limit`. MariaDB lets any session raise it; MySQL 8+ wants
/// SESSION_VARIABLES_ADMIN, so it is sent only when that logging is on, and may fail.
pub const QUIET_NO_INDEX: &str = "SET SESSION min_examined_row_limit = 4294967295";

/// The session's `wait_timeout`: a persistent connection must survive a short server
/// `wait_timeout` between scrapes.
pub const WAIT_TIMEOUT_SECS: usize = 28800;

/// The statements that bound every query of the exporter on the server side, so a query
/// abandoned by a client-side timeout does not keep running (docs/design.md).
pub fn session_setup(flavor: Flavor, statement_timeout_secs: f64) -> Vec<String> {
    let lock_wait = statement_timeout_secs.ceil().max(1.0) as u64;
    let mut sql = vec![
        // Metadata-lock waits (e.g. behind FLUSH TABLES WITH READ LOCK) give up too.
        format!("SET SESSION lock_wait_timeout = {lock_wait}"),
        format!("SET SESSION wait_timeout = {WAIT_TIMEOUT_SECS}"),
    ];
    if flavor == Flavor::MariaDb {
        // The processlist ⋈ INNODB_TRX join has no index: MariaDB's default block nested
        // loop costs sessions × transactions; a hash join cut it 5x at 4 000 sessions.
        sql.push("SET SESSION join_cache_level = 4".to_string());
    }
    sql.push(match flavor {
        Flavor::MariaDb => format!("SET SESSION max_statement_time = {statement_timeout_secs:.3}"),
        Flavor::MySql => format!(
            "SET SESSION max_execution_time = {}",
            (statement_timeout_secs * 1000.0).round() as u64
        ),
    });
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_real_version_strings() {
        assert_eq!(
            detect("10.11.6-MariaDB-0+deb12u1", "Debian 12"),
            Ok(Flavor::MariaDb)
        );
        assert_eq!(detect("5.5.5-10.6.16-MariaDB", ""), Ok(Flavor::MariaDb));
        assert_eq!(
            detect("8.4.3", "MySQL Community Server - GPL"),
            Ok(Flavor::MySql)
        );
        assert_eq!(
            detect("8.0.36-28", "Percona Server (GPL), Release 28"),
            Ok(Flavor::MySql)
        );
        assert_eq!(
            detect("11.4.2-MariaDB", "mariadb.org binary distribution"),
            Ok(Flavor::MariaDb)
        );
    }

    #[test]
    fn an_unknown_flavour_is_named() {
        let err = detect("2.5.5-ProxySQL", "").unwrap_err();
        assert!(
            err.contains("`2.5.5-ProxySQL`") && err.contains("proxy"),
            "{err}"
        );
    }

    #[test]
    fn statement_limits_use_each_flavours_variable() {
        assert!(session_setup(Flavor::MariaDb, 2.5)
            .contains(&"SET SESSION max_statement_time = 2.500".to_string()));
        assert!(session_setup(Flavor::MySql, 2.5)
            .contains(&"SET SESSION max_execution_time = 2500".to_string()));
    }
}
