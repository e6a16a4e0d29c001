//! Test helper: reads an exposition with a real OpenMetrics parser (the `openmetrics-parser`
//! crate) into `name{label="value",...}` → value, labels sorted. Shared by unit and
//! integration tests (`tests/common` includes this file by path).

use std::collections::BTreeMap;

use openmetrics_parser::{MetricNumber, OpenMetricsValue};

pub type Samples = BTreeMap<String, f64>;

/// Parses OpenMetrics text; panics with the parser's message if it is not valid.
pub fn parse(text: &str) -> Samples {
    let exposition = openmetrics_parser::openmetrics::parse_openmetrics(text)
        .unwrap_or_else(|e| panic!("not valid OpenMetrics: {e:?}\n{text}"));
    let mut out = Samples::new();
    for family in exposition.families.values() {
        let names = family.get_label_names().to_vec();
        for sample in family.iter_samples() {
            let set = sample.get_labelset().expect("labelset");
            let mut labels: Vec<(String, String)> = names
                .iter()
                .filter_map(|n| set.get_label_value(n).map(|v| (n.clone(), v.to_string())))
                .collect();
            labels.sort();
            let name = &family.family_name;
            match &sample.value {
                OpenMetricsValue::Gauge(n) | OpenMetricsValue::Unknown(n) => {
                    out.insert(key(name, &labels), num(n));
                }
                OpenMetricsValue::Counter(c) => {
                    out.insert(key(&format!("{name}_total"), &labels), num(&c.value));
                }
                OpenMetricsValue::Histogram(h) => {
                    let count = h.count.map(|c| c as f64).unwrap_or(f64::NAN);
                    out.insert(key(&format!("{name}_count"), &labels), count);
                    let sum = h.sum.as_ref().map(num).unwrap_or(f64::NAN);
                    out.insert(key(&format!("{name}_sum"), &labels), sum);
                    for b in &h.buckets {
                        let mut l = labels.clone();
                        let le = if b.upper_bound.is_infinite() {
                            "+Inf".to_string()
                        } else {
                            b.upper_bound.to_string()
                        };
                        l.push(("le".into(), le));
                        l.sort();
                        out.insert(key(&format!("{name}_bucket"), &l), num(&b.count));
                    }
                }
                other => panic!("unexpected sample type in {name}: {other:?}"),
            }
        }
    }
    out
}

fn num(n: &MetricNumber) -> f64 {
    n.as_f64()
}

/// The key of a sample: `name{a="1",b="2"}` with labels sorted, or `name` alone.
pub fn key(name: &str, labels: &[(String, String)]) -> String {
    if labels.is_empty() {
        return name.to_string();
    }
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{name}{{{}}}", inner.join(","))
}

/// `get(&samples, "mysql_sessions", &[("mysql_user", "kefu"), ("state", "idle")])`
pub fn get(samples: &Samples, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut l: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    l.sort();
    samples.get(&key(name, &l)).copied()
}
