//! Label cardinality caps: at most N values of a label get their own series; the rest are
//! folded into `other`, so a server with 10 000 client hosts cannot blow up Prometheus.

use std::collections::BTreeMap;

pub const OTHER: &str = "other";

/// How the folded-away values combine into `other`.
#[derive(Clone, Copy, Debug)]
pub enum Fold {
    Sum,
    Max,
}

/// Keeps the `limit` largest entries (ties broken by name, so output is stable), folds the
/// rest into one `other` entry. The result is sorted by name, `other` last. A real value
/// named `other` (a user can be called that) is folded too, so `other` is never written twice.
pub fn cap(mut values: BTreeMap<String, f64>, limit: usize, fold: Fold) -> Vec<(String, f64)> {
    let real_other = values.remove(OTHER);
    if values.len() <= limit && real_other.is_none() {
        return values.into_iter().collect();
    }
    let mut ranked: Vec<(String, f64)> = values.into_iter().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let rest = ranked.split_off(limit.min(ranked.len()));
    let folded = rest
        .iter()
        .map(|(_, v)| *v)
        .chain(real_other)
        .fold(0.0, |acc, v| match fold {
            Fold::Sum => acc + v,
            Fold::Max => acc.max(v),
        });
    ranked.sort_by(|a, b| a.0.cmp(&b.0));
    ranked.push((OTHER.to_string(), folded));
    ranked
}

/// The set of keys that keep their own label value, ranked by `weight`; never `other`.
pub fn keep_set(
    weights: &BTreeMap<String, f64>,
    limit: usize,
) -> std::collections::BTreeSet<String> {
    // A real value named `other` joins the folded ones, so `other` is never written twice.
    let mut ranked: Vec<(&String, &f64)> = weights
        .iter()
        .filter(|(k, _)| k.as_str() != OTHER)
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(a.1).then_with(|| a.0.cmp(b.0)));
    ranked
        .into_iter()
        .take(limit)
        .map(|(k, _)| k.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(items: &[(&str, f64)]) -> BTreeMap<String, f64> {
        items.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn under_the_limit_nothing_is_folded() {
        let got = cap(map(&[("b", 1.0), ("a", 2.0)]), 2, Fold::Sum);
        assert_eq!(got, vec![("a".into(), 2.0), ("b".into(), 1.0)]);
    }

    #[test]
    fn over_the_limit_the_smallest_are_summed_into_other() {
        let got = cap(
            map(&[("a", 5.0), ("b", 1.0), ("c", 3.0), ("d", 1.0)]),
            2,
            Fold::Sum,
        );
        assert_eq!(
            got,
            vec![("a".into(), 5.0), ("c".into(), 3.0), ("other".into(), 2.0)]
        );
    }

    #[test]
    fn maxima_fold_as_a_max() {
        let got = cap(map(&[("a", 50.0), ("b", 10.0), ("c", 30.0)]), 1, Fold::Max);
        assert_eq!(got, vec![("a".into(), 50.0), ("other".into(), 30.0)]);
    }

    #[test]
    fn a_real_value_named_other_is_folded_not_duplicated() {
        let got = cap(map(&[("other", 9.0), ("a", 1.0)]), 50, Fold::Sum);
        assert_eq!(got, vec![("a".into(), 1.0), ("other".into(), 9.0)]);
        let got = cap(map(&[("other", 9.0), ("a", 1.0), ("b", 2.0)]), 1, Fold::Max);
        assert_eq!(got, vec![("b".into(), 2.0), ("other".into(), 9.0)]);
        assert!(!keep_set(&map(&[("other", 9.0)]), 5).contains("other"));
    }

    #[test]
    fn ties_are_broken_by_name_so_output_is_stable() {
        let weights = map(&[("z", 1.0), ("a", 1.0), ("m", 1.0)]);
        assert_eq!(
            keep_set(&weights, 2).into_iter().collect::<Vec<_>>(),
            vec!["a", "m"]
        );
    }
}
