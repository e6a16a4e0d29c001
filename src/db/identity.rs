//! Which run of which server a connection reaches ([`ServerIdentity`]): read on every
//! connect, so what was cached per session id is dropped when another server (or the same
//! one restarted) answers, and before every `KILL`, so `kill-idle` never acts on a list
//! read from another server run.

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use crate::snapshot::{Flavor, ServerIdentity};

/// Reads the identity of the server run behind `conn`, and its `Uptime` in seconds: two
/// short statements that need no privilege (`Uptime` from `SHOW GLOBAL STATUS`, which both
/// servers answer whether performance_schema is on or not), and the server's process id
/// from performance_schema where it is on and readable.
pub async fn read(
    conn: &mut Conn,
    flavor: Flavor,
) -> Result<(ServerIdentity, i64), mysql_async::Error> {
    let sql = match flavor {
        Flavor::MySql => {
            "SELECT @@server_id, @@server_uuid, @@hostname, @@datadir, UNIX_TIMESTAMP()"
        }
        // MariaDB has no server_uuid (its GTIDs name the server_id).
        Flavor::MariaDb => "SELECT @@server_id, NULL, @@hostname, @@datadir, UNIX_TIMESTAMP()",
    };
    type Row = (u64, Option<String>, String, String, i64);
    let (server_id, server_uuid, hostname, datadir, now): Row =
        conn.query_first(sql).await?.unwrap_or_default();
    let pid = match conn.query_first::<Option<u64>, _>(MAIN_THREAD_SQL).await {
        Ok(pid) => pid.flatten(),
        // Off, or not granted: the other parts have to do.
        Err(mysql_async::Error::Server(_)) => None,
        Err(e) => return Err(e),
    };
    let uptime: Option<(String, String)> =
        conn.query_first("SHOW GLOBAL STATUS LIKE 'Uptime'").await?;
    let uptime: i64 = uptime.and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let identity = ServerIdentity {
        server_id,
        server_uuid,
        hostname,
        datadir,
        pid,
        started_at: now - uptime,
    };
    Ok((identity, uptime))
}

/// The server process's main thread: its OS thread id is the process id.
const MAIN_THREAD_SQL: &str =
    "SELECT THREAD_OS_ID FROM performance_schema.threads WHERE NAME = 'thread/sql/main'";

/// The server's uptime as we expect it (`Uptime` at connect plus the time since, by our
/// monotonic clock): a status read that disagrees by more than this means another server
/// run answers on the same connection (something between us and the server switched it),
/// or the server's clock stepped. Either way what was cached per session id is dropped.
pub const UPTIME_SLACK_SECS: i64 = 5;

/// Where the uptime at connect was `at_connect` and `elapsed` seconds passed since, whether
/// `uptime_now` belongs to another run.
pub fn another_run(at_connect: i64, elapsed: f64, uptime_now: i64) -> bool {
    let expected = at_connect as f64 + elapsed;
    (uptime_now as f64 - expected).abs() > UPTIME_SLACK_SECS as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_uptime_that_does_not_follow_our_clock_is_another_run() {
        // Read again 100 s later: 100 s more, give or take the whole-second rounding.
        assert!(!another_run(3600, 100.4, 3700));
        assert!(!another_run(3600, 100.9, 3701));
        // Restarted behind a proxy that kept our connection: uptime counts from 0 again.
        assert!(another_run(3600, 100.0, 12));
        // Failed over to a server that has run longer.
        assert!(another_run(3600, 100.0, 86_400));
    }
}
