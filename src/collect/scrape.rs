//! One scrape: which sources to read, a deadline, one in-flight collection per target
//! shared by concurrent scrapes, and the per-scrape view that prometheus-client encodes.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::future::{BoxFuture, FutureExt, Shared};
use prometheus_client::collector::Collector as PromCollector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::{Collector, EncodeContext};
use crate::config::{Config, PoolConfig};
use crate::expose::{merge_targets, write_families, Families, Family};
use crate::snapshot::{OutcomeKind, Snapshot, Source};
use crate::target::Target;

/// Buckets of the scrape-latency histogram (seconds).
const SCRAPE_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

type InFlight = Shared<BoxFuture<'static, Arc<Snapshot>>>;

/// A target with its in-flight collection and what was already said in the log.
pub struct TargetState {
    pub target: Arc<Target>,
    inflight: Mutex<Option<InFlight>>,
    /// The last logged problem per source (and `None` key for the connection), so a
    /// lasting problem is logged once, not on every scrape.
    logged: Mutex<HashMap<Option<Source>, String>>,
    /// The status page's snapshot (with the oldest leaked sessions), refreshed at most every
    /// [`PAGE_MAX_AGE`] however many people reload the page.
    page: tokio::sync::Mutex<Option<Arc<Snapshot>>>,
}

/// What the status page shows: connections, pools, and the oldest leaked sessions.
pub const PAGE_SOURCES: [Source; 4] = [
    Source::GlobalStatus,
    Source::GlobalVariables,
    Source::Threads,
    Source::OldestIdleTransactions,
];
pub const PAGE_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(10);

/// Everything `serve` needs: targets, enabled collectors, the scrape histogram.
pub struct Exporter {
    pub config: Arc<Config>,
    pub targets: Vec<Arc<TargetState>>,
    collectors: Arc<Vec<Box<dyn Collector>>>,
    sources: Vec<Source>,
    scrape_duration: Histogram,
    ready: Arc<AtomicBool>,
}

impl Exporter {
    pub fn new(config: Config, collectors: Vec<Box<dyn Collector>>) -> Self {
        // Per-process counting (another pass over the processlist) and account limits
        // matter only with pools.
        let pool_only = [Source::ClientProcesses, Source::AccountLimits];
        let sources: BTreeSet<Source> = collectors
            .iter()
            .flat_map(|c| c.sources().iter().chain(c.optional_sources()).copied())
            .filter(|s| !pool_only.contains(s) || !config.pools.is_empty())
            .collect();
        let targets = config
            .targets
            .iter()
            .map(|t| {
                let plan = crate::analysis::pools::plan(&config.pools_for(&t.name));
                Arc::new(TargetState {
                    target: Arc::new(Target::new(t.clone(), plan)),
                    inflight: Mutex::new(None),
                    logged: Mutex::new(HashMap::new()),
                    page: tokio::sync::Mutex::new(None),
                })
            })
            .collect();
        Exporter {
            config: Arc::new(config),
            targets,
            collectors: Arc::new(collectors),
            sources: sources.into_iter().collect(),
            scrape_duration: Histogram::new(SCRAPE_BUCKETS),
            ready: Arc::new(AtomicBool::new(false)),
        }
    }

    /// True once any target has answered: `/-/ready`.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    pub fn target(&self, name: &str) -> Option<&Arc<TargetState>> {
        self.targets.iter().find(|t| t.target.name() == name)
    }

    /// Collects from one target before `deadline`. Scrapes that arrive while a collection
    /// is running wait for it and share its result instead of querying again.
    pub async fn collect(&self, state: &Arc<TargetState>, deadline: Instant) -> Arc<Snapshot> {
        let shared = {
            let mut slot = state.inflight.lock().unwrap_or_else(|p| p.into_inner());
            match slot.as_ref() {
                Some(f) => f.clone(),
                None => {
                    let f = self.start(state, deadline);
                    *slot = Some(f.clone());
                    f
                }
            }
        };
        match tokio::time::timeout_at(deadline.into(), shared).await {
            Ok(snap) => snap,
            Err(_) => Arc::new(Snapshot::down(
                "the collection started by another scrape did not finish before this scrape's deadline",
            )),
        }
    }

    /// Spawns the collection so a client that hangs up does not cancel it half-way.
    fn start(&self, state: &Arc<TargetState>, deadline: Instant) -> InFlight {
        let state = Arc::clone(state);
        let sources = self.sources.clone();
        let histogram = self.scrape_duration.clone();
        let ready = Arc::clone(&self.ready);
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let snap = Arc::new(state.target.snapshot(&sources, deadline).await);
            histogram.observe(started.elapsed().as_secs_f64());
            if snap.server.is_some() {
                ready.store(true, Ordering::Relaxed);
            }
            state.log_problems(&snap);
            *state.inflight.lock().unwrap_or_else(|p| p.into_inner()) = None;
            snap
        });
        async move {
            task.await.unwrap_or_else(|e| {
                Arc::new(Snapshot::down(format!(
                    "internal error in the collection task: {e}"
                )))
            })
        }
        .boxed()
        .shared()
    }

    /// The per-scrape registry: the exporter's own histogram plus the snapshots' families.
    /// With several targets each series carries `target="NAME"`, each family once.
    pub fn registry(
        &self,
        snaps: Vec<(Arc<TargetState>, Arc<Snapshot>)>,
        label_targets: bool,
    ) -> Registry {
        let mut registry = Registry::default();
        registry.register(
            "mysql_exporter_scrape_duration_seconds",
            "Time to collect from MySQL, per scrape, since the exporter started",
            self.scrape_duration.clone(),
        );
        let views = snaps
            .into_iter()
            .map(|(state, snap)| {
                let name = state.target.name().to_string();
                let view = ScrapeView {
                    snapshot: snap,
                    collectors: Arc::clone(&self.collectors),
                    config: Arc::clone(&self.config),
                    pools: self.pools_for(&name),
                };
                (name, view)
            })
            .collect();
        registry.register_collector(Box::new(ScrapeViews {
            views,
            label_targets,
        }));
        registry
    }

    pub fn pools_for(&self, target: &str) -> Vec<PoolConfig> {
        self.config.pools_for(target)
    }

    /// The status page's snapshot: reused while younger than [`PAGE_MAX_AGE`], else read
    /// once (on the target's one connection) while other page loads wait for it. Scrapes do
    /// not pay for the page's session list.
    pub async fn page_snapshot(
        &self,
        state: &Arc<TargetState>,
        deadline: Instant,
    ) -> Arc<Snapshot> {
        let mut page = state.page.lock().await;
        if let Some(s) = page.as_ref() {
            if s.taken_at.elapsed().is_ok_and(|age| age <= PAGE_MAX_AGE) {
                return Arc::clone(s);
            }
        }
        let snap = Arc::new(state.target.snapshot(&PAGE_SOURCES, deadline).await);
        *page = Some(Arc::clone(&snap));
        snap
    }
}

impl TargetState {
    /// Logs what went wrong, once per distinct problem, and recoveries.
    fn log_problems(&self, snap: &Snapshot) {
        let name = self.target.name();
        let mut logged = self.logged.lock().unwrap_or_else(|p| p.into_inner());
        let mut note = |key: Option<Source>, problem: Option<(OutcomeKind, &str)>| match problem {
            Some((kind, why)) => {
                if logged.get(&key).map(String::as_str) != Some(why) {
                    let what = key.map_or("connection", |s| s.name());
                    match kind {
                        OutcomeKind::Skipped => tracing::warn!(
                            target_name = %name, source = what,
                            "source skipped: the server or the exporter's privileges lack it, and what depends on it stays off until this changes: {why}"
                        ),
                        _ => tracing::error!(target_name = %name, source = what, "{why}"),
                    }
                    logged.insert(key, why.to_string());
                }
            }
            None => {
                if logged.remove(&key).is_some() {
                    tracing::info!(target_name = %name, source = key.map_or("connection", |s| s.name()), "recovered");
                }
            }
        };
        note(
            None,
            snap.down_reason
                .as_deref()
                .map(|r| (OutcomeKind::Failed, r)),
        );
        for source in Source::ALL {
            let kind = snap.outcome_kind(source);
            let problem = snap.outcome_reason(source).map(|r| (kind, r));
            if kind != OutcomeKind::NotRequested || snap.server.is_some() {
                note(Some(source), problem);
            }
        }
    }
}

/// One target's snapshot, encoded on demand by prometheus-client.
pub struct ScrapeView {
    pub snapshot: Arc<Snapshot>,
    pub collectors: Arc<Vec<Box<dyn Collector>>>,
    pub config: Arc<Config>,
    pub pools: Vec<PoolConfig>,
}

impl fmt::Debug for ScrapeView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScrapeView").finish_non_exhaustive()
    }
}

/// Several targets' views, encoded together so each family appears once.
#[derive(Debug)]
pub struct ScrapeViews {
    pub views: Vec<(String, ScrapeView)>,
    pub label_targets: bool,
}

impl PromCollector for ScrapeViews {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let mut per_target = Vec::with_capacity(self.views.len());
        for (name, view) in &self.views {
            per_target.push((name.clone(), view.families()?));
        }
        let families = if self.label_targets {
            merge_targets(per_target)
        } else {
            per_target.into_iter().flat_map(|(_, f)| f).collect()
        };
        write_families(&mut enc, &families)
    }
}

impl PromCollector for ScrapeView {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        write_families(&mut enc, &self.families()?)
    }
}

impl ScrapeView {
    /// Every family of this target's scrape: mysql_up, the collectors', their success.
    pub fn families(&self) -> Result<Vec<Family>, fmt::Error> {
        let snap = &*self.snapshot;
        let ctx = EncodeContext {
            limits: self.config.limits,
            thresholds: self.config.thresholds,
            pools: &self.pools,
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
        for c in self.collectors.iter() {
            let kinds: Vec<OutcomeKind> =
                c.sources().iter().map(|s| snap.outcome_kind(*s)).collect();
            let label = vec![("collector", c.name().to_string())];
            if kinds.contains(&OutcomeKind::Skipped) && !kinds.contains(&OutcomeKind::Failed) {
                skipped.push((label, 1.0));
                continue;
            }
            let ok = snap.server.is_some() && kinds.iter().all(|k| *k == OutcomeKind::Ok);
            success.push((label.clone(), if ok { 1.0 } else { 0.0 }));
            let secs: f64 = c
                .sources()
                .iter()
                .map(|s| snap.duration(*s).as_secs_f64())
                .sum();
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
        Ok(out.into_families())
    }
}
