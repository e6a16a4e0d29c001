//! `SHOW GLOBAL STATUS` and `SHOW GLOBAL VARIABLES`: the same shape, name and value, read
//! raw; which values are metrics is decided after the scrape (`snapshot::parse_status_value`).

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use crate::db::decode::lossy;
use crate::snapshot::{Flavor, SAMPLED_STATUS};

pub(super) const GLOBAL_STATUS: &str = "SHOW GLOBAL STATUS";
pub(super) const GLOBAL_VARIABLES: &str = "SHOW GLOBAL VARIABLES";

/// The statements of the sampler's few counters, every second.
///
/// MariaDB sums every session's own counters before it applies a `WHERE`, so
/// `SHOW GLOBAL STATUS WHERE Variable_name IN (...)` walks all sessions whatever it asks for
/// (14 ms of server CPU at 10 000 sessions); a `LIKE` pattern is matched before any value is
/// computed (0.2 ms) unless a variable it matches is itself a per-session sum. Of the sampled
/// ones only `Threads_running` is (it walks the sessions too): MariaDB gets a few `LIKE`s
/// ([`MARIADB_PATTERNS`]) and no `Threads_running`, which the sample counts in the session
/// list it reads anyway. MySQL builds all of `performance_schema.global_status` for any read
/// (about 2.7 ms at 10 000 sessions, with or without a filter): one statement is cheapest.
pub(super) fn counters_statements(flavor: Option<Flavor>) -> Vec<String> {
    match flavor {
        Some(Flavor::MariaDb) => MARIADB_PATTERNS
            .iter()
            .map(|p| format!("SHOW GLOBAL STATUS LIKE '{p}'"))
            .collect(),
        _ => {
            let names: Vec<String> = SAMPLED_STATUS.iter().map(|n| format!("'{n}'")).collect();
            vec![format!(
                "SHOW GLOBAL STATUS WHERE Variable_name IN ({})",
                names.join(", ")
            )]
        }
    }
}

/// The sampled counters as MariaDB reads them cheaply: each matched by one pattern, and none
/// matching a variable MariaDB sums over the sessions (`Threads_running`; `Threads_%` would).
/// Fewer statements than names: each costs a round trip and 0.2 ms of the server's CPU.
const MARIADB_PATTERNS: [&str; 5] = [
    "Threads_c%",
    "Connection%",
    "Aborted_connects",
    "Max_used_connections",
    "Uptime",
];

/// (name, value) rows of `sql`; a NULL value (some variables have none) reads as empty.
pub(super) async fn read(
    conn: &mut Conn,
    sql: &str,
) -> Result<Vec<(String, String)>, mysql_async::Error> {
    let rows: Vec<(String, Option<Vec<u8>>)> = conn.query(sql).await?;
    Ok(rows.into_iter().map(|(k, v)| (k, lossy(v))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sampled counters MariaDB computes by walking every session (measured at 10 000
    /// sessions: 14.5 ms each, against 0.2 ms for the others).
    const SUMMED_OVER_SESSIONS_ON_MARIADB: [&str; 1] = ["Threads_running"];

    /// SQL `LIKE` without escapes: `%` any run of characters, `_` any one.
    fn like(pattern: &str, name: &str) -> bool {
        fn go(p: &[u8], n: &[u8]) -> bool {
            match p.split_first() {
                None => n.is_empty(),
                Some((b'%', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
                Some((&c, rest)) => n.split_first().is_some_and(|(&d, tail)| {
                    (c == b'_' || c.eq_ignore_ascii_case(&d)) && go(rest, tail)
                }),
            }
        }
        go(pattern.as_bytes(), name.as_bytes())
    }

    #[test]
    fn mariadb_patterns_cover_each_counter_once_and_never_a_sum_over_sessions() {
        for name in SAMPLED_STATUS {
            let hits = MARIADB_PATTERNS.iter().filter(|p| like(p, name)).count();
            let want = usize::from(!SUMMED_OVER_SESSIONS_ON_MARIADB.contains(&name));
            assert_eq!(hits, want, "{name}");
        }
        for p in MARIADB_PATTERNS {
            assert!(!like(p, "Threads_running"), "{p}");
        }
        let sql = counters_statements(Some(Flavor::MariaDb));
        assert!(sql
            .iter()
            .all(|q| q.starts_with("SHOW GLOBAL STATUS LIKE '")));
    }

    #[test]
    fn mysql_reads_all_counters_in_one_statement() {
        let sql = counters_statements(Some(Flavor::MySql));
        assert_eq!(sql.len(), 1);
        assert!(SAMPLED_STATUS
            .iter()
            .all(|n| sql[0].contains(&format!("'{n}'"))));
    }
}
