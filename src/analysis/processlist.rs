//! The processlist aggregates of mysqld_exporter's `info_schema.processlist` collector,
//! computed the same way so its dashboards keep working.

use std::collections::BTreeMap;

use super::host::client_host_label;
use crate::snapshot::ThreadGroup;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProcesslistStats {
    /// (command, state) → (threads, seconds), both sanitized like mysqld_exporter.
    pub threads: BTreeMap<(String, String), (u64, u64)>,
    pub by_user: BTreeMap<String, u64>,
    pub by_host: BTreeMap<String, u64>,
}

pub fn processlist_stats(groups: &[ThreadGroup]) -> ProcesslistStats {
    let mut s = ProcesslistStats::default();
    for g in groups {
        let e = s
            .threads
            .entry((sanitize(&g.command), sanitize(&g.state)))
            .or_default();
        e.0 += g.count;
        e.1 += g.time_sum;
        *s.by_user.entry(g.user.clone()).or_default() += g.count;
        *s.by_host
            .entry(client_host_label(&g.host).to_string())
            .or_default() += g.count;
    }
    s
}

/// mysqld_exporter's `sanitizeState`: lower case, spaces and dashes to `_`, punctuation
/// dropped, empty as `unknown`.
pub fn sanitize(state: &str) -> String {
    let clean: String = state
        .to_lowercase()
        .chars()
        .filter(|c| !matches!(c, ';' | ',' | ':' | '.' | '(' | ')'))
        .map(|c| if c == ' ' || c == '-' { '_' } else { c })
        .collect();
    // Also for a state of punctuation only, where mysqld_exporter would write "".
    if clean.is_empty() {
        "unknown".into()
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizes_like_mysqld_exporter() {
        assert_eq!(sanitize("Sending data"), "sending_data");
        assert_eq!(
            sanitize("Waiting for table metadata lock"),
            "waiting_for_table_metadata_lock"
        );
        assert_eq!(sanitize("User sleep"), "user_sleep");
        assert_eq!(sanitize("Binlog Dump GTID"), "binlog_dump_gtid");
        assert_eq!(
            sanitize("Master has sent all binlog to slave; waiting for more updates"),
            "master_has_sent_all_binlog_to_slave_waiting_for_more_updates"
        );
        assert_eq!(sanitize(""), "unknown");
        assert_eq!(sanitize(".,"), "unknown");
        assert_eq!(
            sanitize("copy to tmp table (2.5%)"),
            "copy_to_tmp_table_25%"
        );
    }

    #[test]
    fn aggregates_threads_users_and_hosts() {
        let groups = [
            ThreadGroup::uniform("kefu", "10.0.0.1", None, "Sleep", "", None, 3, 10),
            ThreadGroup::uniform("kefu", "10.0.0.2", None, "Query", "User sleep", None, 2, 4),
            ThreadGroup::uniform("root", "localhost", None, "Sleep", "", None, 1, 7),
            ThreadGroup::uniform(
                "event_scheduler",
                "",
                None,
                "Daemon",
                "Waiting on empty queue",
                None,
                1,
                50,
            ),
        ];
        let s = processlist_stats(&groups);
        assert_eq!(s.threads[&("sleep".into(), "unknown".into())], (4, 37));
        assert_eq!(s.threads[&("query".into(), "user_sleep".into())], (2, 8));
        assert_eq!(s.by_user["kefu"], 5);
        assert_eq!(s.by_host["unknown"], 1);
        assert_eq!(s.by_host["localhost"], 1);
    }
}
