//! `SHOW GLOBAL STATUS` and `SHOW GLOBAL VARIABLES`: the same shape, name and value, read
//! raw; which values are metrics is decided after the scrape (`snapshot::parse_status_value`).

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use crate::db::decode::lossy;
use crate::snapshot::SAMPLED_STATUS;

pub(super) const GLOBAL_STATUS: &str = "SHOW GLOBAL STATUS";
pub(super) const GLOBAL_VARIABLES: &str = "SHOW GLOBAL VARIABLES";

/// The sampler's few counters: the server filters them, so a sample does not carry the
/// few hundred other variables.
pub(super) fn counters_sql() -> String {
    let names: Vec<String> = SAMPLED_STATUS.iter().map(|n| format!("'{n}'")).collect();
    format!(
        "SHOW GLOBAL STATUS WHERE Variable_name IN ({})",
        names.join(", ")
    )
}

/// (name, value) rows of `sql`; a NULL value (some variables have none) reads as empty.
pub(super) async fn read(
    conn: &mut Conn,
    sql: &str,
) -> Result<Vec<(String, String)>, mysql_async::Error> {
    let rows: Vec<(String, Option<Vec<u8>>)> = conn.query(sql).await?;
    Ok(rows.into_iter().map(|(k, v)| (k, lossy(v))).collect())
}
