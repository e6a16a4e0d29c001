//! `SHOW GLOBAL STATUS`, named and grouped exactly as mysqld_exporter's `global_status`.

use std::collections::BTreeMap;
use std::fmt;

use super::{Collector, EncodeContext};
use super::{Families, Labels};
use crate::snapshot::{parse_status_value, Snapshot, Source};

#[derive(Debug)]
pub struct GlobalStatus;

/// Status variables mysqld_exporter groups into one family with a label.
/// (prefix, family name without `_total`, label, is a counter)
const GROUPS: [(&str, &str, &str, bool); 6] = [
    ("com_", "commands", "command", true),
    ("handler_", "handlers", "handler", true),
    ("connection_errors_", "connection_errors", "error", true),
    ("innodb_rows_", "innodb_row_ops", "operation", true),
    (
        "performance_schema_",
        "performance_schema_lost",
        "instrumentation",
        true,
    ),
    // innodb_buffer_pool_pages_* is split below: states are gauges, the rest counters.
    ("innodb_buffer_pool_pages_", "", "", false),
];

/// `Innodb_buffer_pool_pages_<state>` that mysqld_exporter reports as gauges by state;
/// `dirty` is a family of its own, `total` is left out, the rest are page-change counters.
const BUFFER_POOL_STATES: [&str; 4] = ["data", "free", "misc", "old"];

/// Where one status variable goes.
enum Place {
    /// Into a family with a label (family name without `_total`, label, value, counter?).
    Group(String, &'static str, String, bool),
    /// A gauge family of its own, named otherwise than the variable.
    Gauge(&'static str, &'static str),
    /// Not exported (mysqld_exporter leaves it out too).
    Nowhere,
}

impl Collector for GlobalStatus {
    fn name(&self) -> &'static str {
        "global_status"
    }
    fn help(&self) -> &'static str {
        "SHOW GLOBAL STATUS (threads_connected, connection_errors_total, ...)"
    }
    fn sources(&self) -> &'static [Source] {
        &[Source::GlobalStatus]
    }

    fn encode(&self, snap: &Snapshot, _: &EncodeContext, out: &mut Families) -> fmt::Result {
        let Some(rows) = snap.global_status.ok() else {
            return Ok(());
        };
        // family → (help, counter?, samples); BTreeMap keeps output stable.
        let mut grouped: BTreeMap<String, (bool, Vec<(Labels, f64)>)> = BTreeMap::new();
        let mut plain: Vec<(String, f64)> = Vec::new();
        let mut own: Vec<(&str, &str, f64)> = Vec::new();
        for (key, value) in numeric_rows(rows) {
            match place_of(&key) {
                Some(Place::Group(family, label, label_value, counter)) => grouped
                    .entry(family)
                    .or_insert_with(|| (counter, Vec::new()))
                    .1
                    .push((vec![(label, label_value)], value)),
                Some(Place::Gauge(name, help)) => own.push((name, help, value)),
                Some(Place::Nowhere) => {}
                None => plain.push((key, value)),
            }
        }
        for (name, help, value) in own {
            out.gauge(name, help, &[(Vec::new(), value)])?;
        }
        for (key, value) in plain {
            out.untyped(
                &format!("mysql_global_status_{key}"),
                "Generic metric from SHOW GLOBAL STATUS.",
                &[(Vec::new(), value)],
            )?;
        }
        for (family, (counter, samples)) in grouped {
            let name = format!("mysql_global_status_{family}");
            let help = group_help(&family);
            if counter {
                out.counter(&name, help, &samples)?;
            } else {
                out.gauge(&name, help, &samples)?;
            }
        }
        Ok(())
    }
}

/// Where a status variable goes; `None`: a plain `mysql_global_status_<name>`.
fn place_of(key: &str) -> Option<Place> {
    for (prefix, family, label, counter) in GROUPS {
        let Some(rest) = key.strip_prefix(prefix) else {
            continue;
        };
        if prefix == "innodb_buffer_pool_pages_" {
            return Some(match rest {
                "dirty" => Place::Gauge(
                    "mysql_global_status_buffer_pool_dirty_pages",
                    "Innodb buffer pool dirty pages.",
                ),
                "total" => Place::Nowhere,
                state if BUFFER_POOL_STATES.contains(&state) => {
                    Place::Group("buffer_pool_pages".into(), "state", rest.into(), false)
                }
                _ => Place::Group(
                    "buffer_pool_page_changes".into(),
                    "operation",
                    rest.into(),
                    true,
                ),
            });
        }
        return Some(Place::Group(family.into(), label, rest.into(), counter));
    }
    None
}

fn group_help(family: &str) -> &'static str {
    match family {
        "commands" => "Total number of executed MySQL commands.",
        "handlers" => "Total number of executed MySQL handlers.",
        "connection_errors" => "Total number of MySQL connection errors.",
        "innodb_row_ops" => "Total number of MySQL InnoDB row operations.",
        "performance_schema_lost" => "Total number of MySQL instrumentations that could not be loaded or created due to memory constraints.",
        "buffer_pool_pages" => "Innodb buffer pool pages by state.",
        _ => "Innodb buffer pool page state changes.",
    }
}

/// The numeric rows of `SHOW GLOBAL STATUS`/`VARIABLES`, named as metric suffixes: lower
/// case, valid metric names only, sorted, each name once.
pub(super) fn numeric_rows(rows: &[(String, String)]) -> Vec<(String, f64)> {
    let mut vars: Vec<(String, f64)> = rows
        .iter()
        .filter_map(|(k, v)| Some((k.to_ascii_lowercase(), parse_status_value(v)?)))
        .filter(|(k, _)| is_metric_name(k))
        .collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars.dedup_by(|a, b| a.0 == b.0);
    vars
}

/// Status names are `[a-z0-9_]` on every server we know; anything else is not a metric name.
fn is_metric_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::om;
    use crate::collect::testing::{encode, recorded};
    use crate::snapshot::Outcome;

    #[test]
    fn names_types_and_groups_match_mysqld_exporter() {
        let mut snap = recorded();
        snap.global_status = Outcome::Ok(
            [
                ("Threads_connected", "48"),
                ("Max_used_connections", "151"),
                ("Aborted_connects", "7"),
                ("Connection_errors_max_connections", "12"),
                ("Connection_errors_internal", "0"),
                ("Com_select", "1000"),
                ("Innodb_buffer_pool_pages_dirty", "3"),
                ("Innodb_buffer_pool_pages_old", "40"),
                ("Innodb_buffer_pool_pages_data", "100"),
                ("Innodb_buffer_pool_pages_total", "2048"),
                ("Innodb_buffer_pool_pages_flushed", "30"),
                ("Rpl_status", "AUTH_MASTER"),
                ("Ssl_cipher", ""),
                ("Wsrep_ready", "ON"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .to_vec(),
        );
        let text = encode(&GlobalStatus, &snap);
        assert!(
            text.contains("# TYPE mysql_global_status_threads_connected unknown"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE mysql_global_status_connection_errors counter"),
            "{text}"
        );
        let s = om::parse(&text);
        assert_eq!(
            om::get(&s, "mysql_global_status_threads_connected", &[]),
            Some(48.0)
        );
        assert_eq!(
            om::get(&s, "mysql_global_status_max_used_connections", &[]),
            Some(151.0)
        );
        assert_eq!(
            om::get(
                &s,
                "mysql_global_status_connection_errors_total",
                &[("error", "max_connections")]
            ),
            Some(12.0)
        );
        assert_eq!(
            om::get(
                &s,
                "mysql_global_status_commands_total",
                &[("command", "select")]
            ),
            Some(1000.0)
        );
        // As mysqld_exporter: dirty pages are a gauge of their own, old pages a state,
        // the total is not exported.
        assert_eq!(
            om::get(&s, "mysql_global_status_buffer_pool_dirty_pages", &[]),
            Some(3.0)
        );
        assert!(text.contains("# TYPE mysql_global_status_buffer_pool_dirty_pages gauge"));
        for (state, n) in [("old", 40.0), ("data", 100.0)] {
            assert_eq!(
                om::get(
                    &s,
                    "mysql_global_status_buffer_pool_pages",
                    &[("state", state)]
                ),
                Some(n)
            );
        }
        assert!(!text.contains("dirty\""), "{text}");
        assert!(!text.contains("2048"), "{text}");
        assert_eq!(
            om::get(
                &s,
                "mysql_global_status_buffer_pool_page_changes_total",
                &[("operation", "flushed")]
            ),
            Some(30.0)
        );
        assert_eq!(
            om::get(&s, "mysql_global_status_wsrep_ready", &[]),
            Some(1.0)
        );
        assert!(!text.contains("rpl_status") && !text.contains("ssl_cipher"));
    }
}
