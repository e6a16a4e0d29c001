//! The accounts with a `MAX_USER_CONNECTIONS` of their own, to compare each pool with its
//! account's limit rather than only the global one.

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

const ACCOUNT_LIMITS_SQL: &str = "SELECT User, Host, max_user_connections FROM mysql.user \
     WHERE max_user_connections > 0";

/// (user, host pattern, limit).
pub(super) async fn read(
    conn: &mut Conn,
) -> Result<Vec<(String, String, u64)>, mysql_async::Error> {
    conn.query(ACCOUNT_LIMITS_SQL).await
}
