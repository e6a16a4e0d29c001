//! One scrape's families, from the targets' snapshots: `mysql_up`, each enabled collector's
//! families when its sources delivered, and the collectors' success and duration. Pure;
//! prometheus-client calls [`ScrapeView::encode`] synchronously, after all queries ran.

use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector as PromCollector;
use prometheus_client::encoding::DescriptorEncoder;

use super::families::{merge_targets, write, Families, Family};
use super::{Collector, EncodeContext};
use crate::analysis::peaks::{Peaks, SamplerStatus};
use crate::analysis::pools::{snapshot_pool_stats, PoolStats};
use crate::config::{Limits, PoolConfig};
use crate::snapshot::{OutcomeKind, Snapshot};

/// One target's snapshot and what encoding it needs.
pub struct TargetView {
    pub name: String,
    pub snapshot: Arc<Snapshot>,
    /// The pools' numbers of this snapshot, computed once per collection (`None`: the
    /// session list was not read).
    pub pool_stats: Option<Arc<[PoolStats]>>,
    /// The pools that live on this target.
    pub pools: Vec<PoolConfig>,
    /// Collections of this target since the exporter started (`mysql_exporter_scrapes_total`).
    pub collections: u64,
    /// What the sampler's window shows, and how the sampler does (`None`: it is off).
    pub peaks: Option<Arc<Peaks>>,
    pub sampler: Option<SamplerStatus>,
}

impl TargetView {
    /// A target's view with its pools' numbers computed here (and up to `max_apps`
    /// discovered apps), for callers that have no collection to share them with (tests, the
    /// fuzz targets); no sampler.
    pub fn of(
        name: &str,
        snapshot: Arc<Snapshot>,
        pools: Vec<PoolConfig>,
        collections: u64,
        max_apps: usize,
    ) -> Self {
        let pool_stats = snapshot_pool_stats(&pools, &snapshot, max_apps).map(Into::into);
        TargetView {
            name: name.to_string(),
            snapshot,
            pool_stats,
            pools,
            collections,
            peaks: None,
            sampler: None,
        }
    }
}

/// Every target of one scrape, encoded together so that each family appears once (with
/// several targets, each series carries `target="NAME"`).
pub struct ScrapeView {
    pub targets: Vec<TargetView>,
    pub collectors: Arc<Vec<Box<dyn Collector>>>,
    pub limits: Limits,
    pub label_targets: bool,
}

impl fmt::Debug for ScrapeView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScrapeView")
            .field("targets", &self.targets.len())
            .finish_non_exhaustive()
    }
}

impl PromCollector for ScrapeView {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let mut per_target = Vec::with_capacity(self.targets.len());
        for t in &self.targets {
            per_target.push((t.name.clone(), self.families(t)?));
        }
        let families = if self.label_targets {
            merge_targets(per_target)
        } else {
            per_target.into_iter().flat_map(|(_, f)| f).collect()
        };
        write(&mut enc, &families)
    }
}

impl ScrapeView {
    /// Every family of one target's scrape: mysql_up, the collectors', their success.
    pub fn families(&self, t: &TargetView) -> Result<Vec<Family>, fmt::Error> {
        let snap = &*t.snapshot;
        let ctx = EncodeContext {
            limits: self.limits,
            pools: &t.pools,
            pool_stats: t.pool_stats.as_deref(),
            peaks: t.peaks.as_deref(),
            sampler: t.sampler.as_ref(),
        };
        let mut out = Families::new();
        let up = if snap.server.is_some() { 1.0 } else { 0.0 };
        out.gauge(
            "mysql_up",
            "Whether the MySQL server answered this scrape.",
            &[(Vec::new(), up)],
        )?;
        let mut success = Vec::new();
        let mut skipped = Vec::new();
        let mut durations = Vec::new();
        let mut any_failed = snap.server.is_none();
        for c in self.collectors.iter() {
            let kinds: Vec<OutcomeKind> =
                c.sources().iter().map(|s| snap.outcome_kind(*s)).collect();
            let label = vec![("collector", c.name().to_string())];
            if kinds.contains(&OutcomeKind::Skipped) && !kinds.contains(&OutcomeKind::Failed) {
                skipped.push((label, 1.0));
                continue;
            }
            let ok = snap.server.is_some() && kinds.iter().all(|k| *k == OutcomeKind::Ok);
            any_failed |= !ok;
            success.push((label.clone(), if ok { 1.0 } else { 0.0 }));
            // Summed from 0.0: std's float sum of nothing is -0.0, which would print as such.
            let secs: f64 = c
                .sources()
                .iter()
                .fold(0.0, |acc, s| acc + snap.duration(*s).as_secs_f64());
            durations.push((label, secs));
            if ok {
                c.encode(snap, &ctx, &mut out)?;
            }
        }
        out.gauge(
            "mysql_exporter_collector_success",
            "Whether the collector's queries succeeded this scrape (its series are absent when 0).",
            &success,
        )?;
        out.gauge(
            "mysql_exporter_collector_duration_seconds",
            "Time the collector's queries took this scrape.",
            &durations,
        )?;
        out.gauge(
            "mysql_exporter_collector_skipped",
            "1 when the collector is off because the server or the exporter's privileges lack its source (see the log).",
            &skipped,
        )?;
        // mysqld_exporter 0.14's scrape bookkeeping, for the dashboards and alerts built on it.
        out.counter(
            "mysql_exporter_scrapes",
            "Total number of times MySQL was scraped for metrics.",
            &[(Vec::new(), t.collections as f64)],
        )?;
        out.gauge(
            "mysql_exporter_last_scrape_error",
            "Whether the last scrape of metrics from MySQL resulted in an error (1 for error, 0 for success).",
            &[(Vec::new(), if any_failed { 1.0 } else { 0.0 })],
        )?;
        Ok(out.into_families())
    }
}
