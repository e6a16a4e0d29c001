//! Metric families, gathered first and written last: prometheus-client's `Collector::encode`
//! is synchronous (all queries are done before this runs), and gathering lets the families
//! of several targets be merged, so that each family appears once (OpenMetrics requires it).

use std::fmt;

use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

use crate::analysis::AgeHistogram;
use crate::snapshot::AGE_BUCKETS;

pub type Labels = Vec<(&'static str, String)>;

/// One metric family and its samples.
#[derive(Clone, Debug)]
pub struct Family {
    pub name: String,
    pub help: String,
    pub ty: MetricType,
    pub samples: Vec<(Labels, f64)>,
}

/// Gathers the families of one scrape of one target.
#[derive(Debug, Default)]
pub struct Families {
    families: Vec<Family>,
}

impl Families {
    pub fn new() -> Self {
        Families::default()
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
        if !samples.is_empty() {
            self.families.push(Family {
                name: name.to_string(),
                help: help.to_string(),
                ty,
                samples: samples.to_vec(),
            });
        }
        Ok(())
    }

    pub fn into_families(self) -> Vec<Family> {
        self.families
    }
}

/// Merges several targets' families: one family per name (in order of first appearance),
/// each sample labelled `target="NAME"`.
pub fn merge_targets(per_target: Vec<(String, Vec<Family>)>) -> Vec<Family> {
    let mut out: Vec<Family> = Vec::new();
    for (target, families) in per_target {
        for mut f in families {
            for (labels, _) in &mut f.samples {
                labels.insert(0, ("target", target.clone()));
            }
            match out.iter_mut().find(|o| o.name == f.name) {
                Some(o) => o.samples.append(&mut f.samples),
                None => out.push(f),
            }
        }
    }
    out
}

/// Writes families onto one scrape's encoder.
pub fn write(enc: &mut DescriptorEncoder<'_>, families: &[Family]) -> fmt::Result {
    for f in families {
        let mut metric = enc.encode_descriptor(&f.name, &f.help, None, f.ty)?;
        for (labels, value) in &f.samples {
            if labels.is_empty() {
                write_value(&mut metric, f.ty, *value)?;
            } else {
                let mut m = metric.encode_family(labels)?;
                write_value(&mut m, f.ty, *value)?;
            }
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_targets_keeps_one_family_per_name() {
        let mut a = Families::new();
        a.gauge("mysql_up", "up", &[(Vec::new(), 1.0)]).unwrap();
        a.gauge("only_a", "a", &[(vec![("x", "1".into())], 2.0)])
            .unwrap();
        let mut b = Families::new();
        b.gauge("mysql_up", "up", &[(Vec::new(), 0.0)]).unwrap();
        let merged = merge_targets(vec![
            ("a".into(), a.into_families()),
            ("b".into(), b.into_families()),
        ]);
        assert_eq!(merged.len(), 2);
        assert_eq!(
            merged[0].samples,
            vec![
                (vec![("target", "a".to_string())], 1.0),
                (vec![("target", "b".to_string())], 0.0)
            ]
        );
        assert_eq!(
            merged[1].samples[0].0,
            vec![("target", "a".to_string()), ("x", "1".to_string())]
        );
    }
}
