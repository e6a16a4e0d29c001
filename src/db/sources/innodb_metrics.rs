//! InnoDB's counters that matter to leaks: the history list length grows while an old
//! transaction blocks purge.

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use crate::snapshot::{Flavor, InnodbMetric};

/// (NAME, SUBSYSTEM, TYPE, COMMENT, COUNT) of `INNODB_METRICS`.
type InnodbMetricRow = (String, String, String, Option<String>, Option<i64>);

fn innodb_metrics_sql(flavor: Option<Flavor>) -> String {
    // Which counters are on: MySQL's column is STATUS ('enabled'), MariaDB's ENABLED.
    let enabled = match flavor {
        Some(Flavor::MySql) => "STATUS = 'enabled'",
        _ => "ENABLED = 1",
    };
    format!(
        "SELECT NAME, SUBSYSTEM, TYPE, COMMENT, COUNT \
         FROM information_schema.INNODB_METRICS \
         WHERE {enabled} AND NAME IN ('trx_rseg_history_len')"
    )
}

pub(super) async fn read(
    conn: &mut Conn,
    flavor: Option<Flavor>,
) -> Result<Vec<InnodbMetric>, mysql_async::Error> {
    let rows: Vec<InnodbMetricRow> = conn.query(innodb_metrics_sql(flavor)).await?;
    Ok(rows
        .into_iter()
        .map(|(name, subsystem, kind, comment, count)| InnodbMetric {
            name,
            subsystem,
            kind,
            comment: comment.unwrap_or_default(),
            value: count.unwrap_or(0) as f64,
        })
        .collect())
}
