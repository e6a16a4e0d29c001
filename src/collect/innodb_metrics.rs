//! `information_schema.INNODB_METRICS` as mysqld_exporter's `info_schema.innodb_metrics`
//! names it, for the counters that matter to leaks: the history list length grows while an
//! old transaction (a leaked, idle-in-transaction session) keeps purge from running.

use std::fmt;

use super::{Collector, EncodeContext, Families};
use crate::snapshot::{Snapshot, Source};

#[derive(Debug)]
pub struct InnodbMetrics;

impl Collector for InnodbMetrics {
    fn name(&self) -> &'static str {
        "innodb_metrics"
    }
    fn help(&self) -> &'static str {
        "InnoDB history list length (information_schema.INNODB_METRICS trx_rseg_history_len)"
    }
    fn sources(&self) -> &'static [Source] {
        &[Source::InnodbMetrics]
    }

    fn encode(&self, snap: &Snapshot, _: &EncodeContext, out: &mut Families) -> fmt::Result {
        let Some(rows) = snap.innodb_metrics.ok() else {
            return Ok(());
        };
        for m in rows {
            let name = format!(
                "mysql_info_schema_innodb_metrics_{}_{}",
                m.subsystem, m.name
            );
            let sample = [(Vec::new(), m.value)];
            // As mysqld_exporter: counters when InnoDB says so (and not negative), else gauges.
            if (m.kind == "counter" || m.kind == "status_counter") && m.value >= 0.0 {
                out.counter(&name, &m.comment, &sample)?;
            } else {
                out.gauge(&name, &m.comment, &sample)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::om;
    use crate::collect::testing::{encode, recorded};
    use crate::snapshot::{InnodbMetric, Outcome};

    #[test]
    fn the_history_list_length_has_mysqld_exporters_name_and_type() {
        let mut snap = recorded();
        snap.innodb_metrics = Outcome::Ok(vec![InnodbMetric {
            name: "trx_rseg_history_len".into(),
            subsystem: "transaction".into(),
            kind: "value".into(),
            comment: "Length of the TRX_RSEG_HISTORY list".into(),
            value: 1234.0,
        }]);
        let text = encode(&InnodbMetrics, &snap);
        assert!(text.contains(
            "# TYPE mysql_info_schema_innodb_metrics_transaction_trx_rseg_history_len gauge"
        ));
        let s = om::parse(&text);
        assert_eq!(
            om::get(
                &s,
                "mysql_info_schema_innodb_metrics_transaction_trx_rseg_history_len",
                &[]
            ),
            Some(1234.0)
        );
    }
}
