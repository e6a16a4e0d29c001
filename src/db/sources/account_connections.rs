//! Connections opened per account since the server started: where an app that connects per
//! request shows, since it never holds many sessions at once.

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use crate::snapshot::{AccountConnections, AccountTable};

/// Rows of background threads have no user.
const PERFORMANCE_SCHEMA_SQL: &str = "SELECT USER, HOST, TOTAL_CONNECTIONS, CURRENT_CONNECTIONS \
     FROM performance_schema.accounts WHERE USER IS NOT NULL";

/// MariaDB's per-user statistics (`userstat=1`): counted per user, with refused logins.
const USER_STATISTICS_SQL: &str =
    "SELECT USER, TOTAL_CONNECTIONS, CONCURRENT_CONNECTIONS, DENIED_CONNECTIONS \
     FROM information_schema.USER_STATISTICS";

pub(super) async fn read(
    conn: &mut Conn,
    table: &AccountTable,
) -> Result<Vec<AccountConnections>, mysql_async::Error> {
    Ok(match table {
        AccountTable::PerformanceSchema => {
            let rows: Vec<(String, Option<String>, u64, u64)> =
                conn.query(PERFORMANCE_SCHEMA_SQL).await?;
            rows.into_iter()
                .map(|(user, host, total, current)| AccountConnections {
                    user,
                    host,
                    total,
                    current,
                    denied: None,
                })
                .collect()
        }
        AccountTable::UserStatistics => {
            let rows: Vec<(String, u64, u64, u64)> = conn.query(USER_STATISTICS_SQL).await?;
            rows.into_iter()
                .map(|(user, total, current, denied)| AccountConnections {
                    user,
                    host: None,
                    total,
                    current,
                    denied: Some(denied),
                })
                .collect()
        }
        AccountTable::Unavailable(_) => Vec::new(),
    })
}
