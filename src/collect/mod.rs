//! Collectors, one per file, with one interface (as in node_exporter/mysqld_exporter): a
//! collector names the sources it reads and turns a snapshot into metric families. It never
//! queries itself, so every collector is testable on recorded rows. Its output type,
//! [`Families`], and the encoding of a whole scrape ([`ScrapeView`]) live here too.

mod accounts;
mod families;
mod global_status;
mod global_variables;
mod innodb_metrics;
mod locks;
#[cfg(test)]
pub mod om;
mod pools;
mod processlist;
mod sampler;
mod scrape;
mod sessions;

use std::fmt;
use std::time::Duration;

pub use families::{merge_targets, write as write_families, Families, Family, Labels};
pub use scrape::{ScrapeView, TargetView};

use crate::analysis::peaks::{Peaks, SamplerStatus};
use crate::analysis::pools::PoolStats;
use crate::config::{Limits, PoolConfig};
use crate::snapshot::{Snapshot, Source};

/// The content type prometheus-client's text encoder produces.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What a collector may need besides the snapshot.
#[derive(Clone, Copy, Debug)]
pub struct EncodeContext<'a> {
    pub limits: Limits,
    /// The pools that live on this target.
    pub pools: &'a [PoolConfig],
    /// Their numbers in this snapshot, computed once per collection and shared with the
    /// status page's history; `None` when the session list was not read.
    pub pool_stats: Option<&'a [PoolStats]>,
    /// What the sampler's window shows (`None`: the sampler is off).
    pub peaks: Option<&'a Peaks>,
    pub sampler: Option<&'a SamplerStatus>,
}

pub trait Collector: Send + Sync + fmt::Debug {
    /// The name in `--collect.<name>` and in `mysql_exporter_collector_success{collector}`.
    fn name(&self) -> &'static str;
    /// One line for `--help`.
    fn help(&self) -> &'static str;
    fn enabled_by_default(&self) -> bool {
        true
    }
    /// The sources this collector reads; it is encoded only when all of them succeeded.
    fn sources(&self) -> &'static [Source];
    /// Sources read when available; their failure leaves out only what depends on them.
    fn optional_sources(&self) -> &'static [Source] {
        &[]
    }
    /// Writes this collector's families. Pure: snapshot in, text out.
    fn encode(&self, snap: &Snapshot, ctx: &EncodeContext, out: &mut Families) -> fmt::Result;
}

/// How often each source is read, given the enabled collectors and their
/// `--collect.<name>.interval`: a source follows the collectors that require it (the most
/// eager of them); collectors that only read it when available (`optional_sources`) take
/// what is there. Never below the source's own [`Source::min_interval`].
pub fn source_intervals(
    collectors: &[Box<dyn Collector>],
    interval_of: impl Fn(&dyn Collector) -> Duration,
) -> Vec<(Source, Duration)> {
    let mut by_source: std::collections::BTreeMap<Source, Duration> = Default::default();
    for c in collectors {
        let interval = interval_of(c.as_ref());
        for &s in c.sources() {
            let e = by_source.entry(s).or_insert(interval);
            *e = (*e).min(interval);
        }
    }
    Source::ALL
        .iter()
        .map(|&s| {
            let set = by_source.get(&s).copied().unwrap_or_default();
            (s, set.max(s.min_interval()))
        })
        .filter(|(_, d)| !d.is_zero())
        .collect()
}

/// Every collector this exporter has, in output order.
pub fn all() -> Vec<Box<dyn Collector>> {
    vec![
        Box::new(global_status::GlobalStatus),
        Box::new(global_variables::GlobalVariables),
        Box::new(processlist::Processlist),
        Box::new(sessions::Sessions),
        Box::new(pools::Pools),
        Box::new(sampler::Sampler),
        Box::new(accounts::Accounts),
        Box::new(locks::Locks),
        Box::new(innodb_metrics::InnodbMetrics),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_follows_the_collectors_that_require_it() {
        let all = all();
        let secs = |n| Duration::from_secs(n);
        let set = |name: &'static str, d: Duration| {
            move |c: &dyn Collector| if c.name() == name { d } else { Duration::ZERO }
        };
        // Pools read the variables when available: they do not hold them to every scrape.
        let got = source_intervals(&all, set("global_variables", secs(300)));
        assert_eq!(
            got,
            [
                (Source::GlobalVariables, secs(300)),
                (Source::AccountLimits, secs(60))
            ]
        );
        // The session list is required by three collectors: the most eager one wins.
        let got = source_intervals(&all, set("sessions", secs(30)));
        assert_eq!(got, [(Source::AccountLimits, secs(60))]);
        // Never more often than a source's own minimum.
        let got = source_intervals(&all, |_| secs(10));
        assert!(got.contains(&(Source::AccountLimits, secs(60))), "{got:?}");
        assert!(got.contains(&(Source::Threads, secs(10))), "{got:?}");
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Encodes one collector on a recorded snapshot, for the collectors' unit tests.
    use super::*;
    use crate::analysis::pools::snapshot_pool_stats;
    use crate::config::Limits;
    use crate::snapshot::{Flavor, ServerInfo};
    use prometheus_client::registry::Registry;

    /// A snapshot of an up MariaDB with no rows yet.
    pub fn recorded() -> Snapshot {
        Snapshot::up(ServerInfo::recorded(
            Flavor::MariaDb,
            "10.11.6-MariaDB-0+deb12u1",
            1,
        ))
    }

    #[derive(Debug)]
    struct One {
        collector: &'static dyn Collector,
        snap: Snapshot,
        limit: usize,
        pools: Vec<PoolConfig>,
        peaks: Option<Peaks>,
        sampler: Option<SamplerStatus>,
    }

    impl prometheus_client::collector::Collector for One {
        fn encode(&self, mut enc: prometheus_client::encoding::DescriptorEncoder) -> fmt::Result {
            let stats = snapshot_pool_stats(&self.pools, &self.snap, self.limit);
            let ctx = EncodeContext {
                limits: Limits {
                    max_label_values: self.limit,
                    ..Limits::default()
                },
                pools: &self.pools,
                pool_stats: stats.as_deref(),
                peaks: self.peaks.as_ref(),
                sampler: self.sampler.as_ref(),
            };
            let mut out = Families::new();
            self.collector.encode(&self.snap, &ctx, &mut out)?;
            write_families(&mut enc, &out.into_families())
        }
    }

    pub fn encode_with(c: &'static dyn Collector, snap: &Snapshot, limit: usize) -> String {
        encode_full(c, snap, limit, &[])
    }

    pub fn encode_full(
        c: &'static dyn Collector,
        snap: &Snapshot,
        limit: usize,
        pools: &[PoolConfig],
    ) -> String {
        render(One {
            collector: c,
            snap: snap.clone(),
            limit,
            pools: pools.to_vec(),
            peaks: None,
            sampler: None,
        })
    }

    /// With what the sampler's window shows.
    pub fn encode_view(
        c: &'static dyn Collector,
        snap: &Snapshot,
        peaks: Option<&Peaks>,
        sampler: Option<&SamplerStatus>,
    ) -> String {
        render(One {
            collector: c,
            snap: snap.clone(),
            limit: 50,
            pools: Vec::new(),
            peaks: peaks.cloned(),
            sampler: sampler.cloned(),
        })
    }

    fn render(one: One) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(one));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        out
    }

    pub fn encode(c: &'static dyn Collector, snap: &Snapshot) -> String {
        encode_with(c, snap, 50)
    }
}
