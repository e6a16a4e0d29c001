//! Writing metric families onto prometheus-client's encoder, whose `Collector::encode` is
//! synchronous: all queries are done before this runs, and it only formats.

use std::fmt;

use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

use crate::analysis::AgeHistogram;
use crate::snapshot::AGE_BUCKETS;

pub type Labels = Vec<(&'static str, String)>;

/// Emits families on one scrape's encoder.
pub struct Families<'a, 'b> {
    enc: &'a mut DescriptorEncoder<'b>,
}

impl<'a, 'b> Families<'a, 'b> {
    pub fn new(enc: &'a mut DescriptorEncoder<'b>) -> Self {
        Families { enc }
    }

    pub fn gauge(&mut self, name: &str, help: &str, samples: &[(Labels, f64)]) -> fmt::Result {
        self.family(name, help, MetricType::Gauge, samples)
    }

    /// mysqld_exporter's "untyped" (OpenMetrics `unknown`), kept where it uses it so that
    /// recording rules keyed on the type behave the same.
    pub fn untyped(&mut self, name: &str, help: &str, samples: &[(Labels, f64)]) -> fmt::Result {
        self.family(name, help, MetricType::Unknown, samples)
    }

    /// A counter; `name` is without `_total`, which the encoder appends.
    pub fn counter(&mut self, name: &str, help: &str, samples: &[(Labels, f64)]) -> fmt::Result {
        self.family(name, help, MetricType::Counter, samples)
    }

    /// A histogram of the *current* sessions, written as three gauge families
    /// (`_bucket{le}`, `_count`, `_sum`): it is a snapshot, so it must never look like a
    /// counter histogram to `rate()`; `histogram_quantile()` works on the buckets as they are.
    pub fn snapshot_histogram(
        &mut self,
        name: &str,
        help: &str,
        series: &[(Labels, &AgeHistogram)],
    ) -> fmt::Result {
        let mut buckets = Vec::with_capacity(series.len() * (AGE_BUCKETS.len() + 1));
        for (labels, h) in series {
            for (bound, n) in AGE_BUCKETS.iter().zip(h.le) {
                buckets.push((with(labels, "le", bound.to_string()), n as f64));
            }
            buckets.push((with(labels, "le", "+Inf".into()), h.count as f64));
        }
        self.gauge(&format!("{name}_bucket"), help, &buckets)?;
        let counts: Vec<_> = series
            .iter()
            .map(|(l, h)| (l.clone(), h.count as f64))
            .collect();
        self.gauge(
            &format!("{name}_count"),
            &format!("{help} (number of sessions)"),
            &counts,
        )?;
        let sums: Vec<_> = series
            .iter()
            .map(|(l, h)| (l.clone(), h.sum as f64))
            .collect();
        self.gauge(
            &format!("{name}_sum"),
            &format!("{help} (sum of ages)"),
            &sums,
        )
    }

    fn family(
        &mut self,
        name: &str,
        help: &str,
        ty: MetricType,
        samples: &[(Labels, f64)],
    ) -> fmt::Result {
        // An empty family says nothing to Prometheus, and some parsers trip over one.
        if samples.is_empty() {
            return Ok(());
        }
        let mut metric = self.enc.encode_descriptor(name, help, None, ty)?;
        for (labels, value) in samples {
            if labels.is_empty() {
                write_value(&mut metric, ty, *value)?;
            } else {
                let mut m = metric.encode_family(labels)?;
                write_value(&mut m, ty, *value)?;
            }
        }
        Ok(())
    }
}

fn write_value(
    m: &mut prometheus_client::encoding::MetricEncoder<'_>,
    ty: MetricType,
    v: f64,
) -> fmt::Result {
    match ty {
        MetricType::Counter => m.encode_counter::<NoLabelSet, f64, f64>(&v, None),
        _ => m.encode_gauge(&v),
    }
}

fn with(labels: &Labels, key: &'static str, value: String) -> Labels {
    let mut l = labels.clone();
    l.push((key, value));
    l
}
