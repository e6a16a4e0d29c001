//! mysqld_exporter's `info_schema.processlist` families, from the shared Threads source.

use std::collections::BTreeMap;
use std::fmt;

use super::{Collector, EncodeContext};
use super::{Families, Labels};
use crate::analysis::cap::{cap, Fold};
use crate::analysis::processlist::processlist_stats;
use crate::snapshot::{Snapshot, Source};

#[derive(Debug)]
pub struct Processlist;

impl Collector for Processlist {
    fn name(&self) -> &'static str {
        "processlist"
    }
    fn help(&self) -> &'static str {
        "threads by command and state, by user and by client host (information_schema.processlist)"
    }
    fn sources(&self) -> &'static [Source] {
        &[Source::Threads]
    }

    fn encode(&self, snap: &Snapshot, ctx: &EncodeContext, out: &mut Families) -> fmt::Result {
        let Some(groups) = snap.threads.ok() else {
            return Ok(());
        };
        let stats = processlist_stats(groups);
        let mut threads = Vec::new();
        let mut seconds = Vec::new();
        for ((command, state), (n, secs)) in &stats.threads {
            let labels: Labels = vec![("command", command.clone()), ("state", state.clone())];
            threads.push((labels.clone(), *n as f64));
            seconds.push((labels, *secs as f64));
        }
        out.gauge(
            "mysql_info_schema_processlist_threads",
            "The number of threads split by current state.",
            &threads,
        )?;
        out.gauge(
            "mysql_info_schema_processlist_seconds",
            "The number of seconds threads have used split by current state.",
            &seconds,
        )?;
        let capped = |m: &BTreeMap<String, u64>, label: &'static str| -> Vec<(Labels, f64)> {
            let values = m.iter().map(|(k, v)| (k.clone(), *v as f64)).collect();
            cap(values, ctx.limits.max_label_values, Fold::Sum)
                .into_iter()
                .map(|(k, v)| (vec![(label, k)], v))
                .collect()
        };
        out.gauge(
            "mysql_info_schema_processlist_processes_by_user",
            "The number of processes by user.",
            &capped(&stats.by_user, "mysql_user"),
        )?;
        out.gauge(
            "mysql_info_schema_processlist_processes_by_host",
            "The number of processes by host.",
            &capped(&stats.by_host, "client_host"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::om;
    use crate::collect::testing::{encode_with, recorded};
    use crate::snapshot::{Outcome, ThreadGroup};

    #[test]
    fn compat_families_with_capped_hosts() {
        let mut snap = recorded();
        let mut groups = vec![ThreadGroup::uniform(
            "kefu", "::1", None, "Sleep", "", None, 4, 9,
        )];
        for i in 0..5 {
            groups.push(ThreadGroup::uniform(
                "web",
                &format!("10.0.0.{i}"),
                None,
                "Query",
                "Sending data",
                None,
                1,
                2,
            ));
        }
        snap.threads = Outcome::Ok(groups);
        let s = om::parse(&encode_with(&Processlist, &snap, 3));
        assert_eq!(
            om::get(
                &s,
                "mysql_info_schema_processlist_threads",
                &[("command", "sleep"), ("state", "unknown")]
            ),
            Some(4.0)
        );
        assert_eq!(
            om::get(
                &s,
                "mysql_info_schema_processlist_seconds",
                &[("command", "sleep"), ("state", "unknown")]
            ),
            Some(36.0)
        );
        assert_eq!(
            om::get(
                &s,
                "mysql_info_schema_processlist_threads",
                &[("command", "query"), ("state", "sending_data")]
            ),
            Some(5.0)
        );
        assert_eq!(
            om::get(
                &s,
                "mysql_info_schema_processlist_processes_by_user",
                &[("mysql_user", "web")]
            ),
            Some(5.0)
        );
        // 6 hosts, cap 3: ::1 (4) and the two first 10.0.0.x by name stay; 3 fold into other.
        assert_eq!(
            om::get(
                &s,
                "mysql_info_schema_processlist_processes_by_host",
                &[("client_host", "::1")]
            ),
            Some(4.0)
        );
        assert_eq!(
            om::get(
                &s,
                "mysql_info_schema_processlist_processes_by_host",
                &[("client_host", "10.0.0.0")]
            ),
            Some(1.0)
        );
        assert_eq!(
            om::get(
                &s,
                "mysql_info_schema_processlist_processes_by_host",
                &[("client_host", "other")]
            ),
            Some(3.0)
        );
        let hosts = s
            .keys()
            .filter(|k| k.starts_with("mysql_info_schema_processlist_processes_by_host"))
            .count();
        assert_eq!(hosts, 4);
    }
}
