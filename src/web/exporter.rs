//! The serving exporter's runtime: its targets, which sources a scrape reads, one in-flight
//! collection per target shared by concurrent scrapes, readiness, problems logged once, and
//! the status page's snapshot cache.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::{BoxFuture, FutureExt, Shared};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::history::PoolHistory;
use super::status_page::PageTarget;
use crate::analysis::pools::{plan, snapshot_pool_stats, PoolStats};
use crate::analysis::verdict::REPORT_SOURCES;
use crate::collect::{Collector, ScrapeView, TargetView};
use crate::config::{Config, PoolConfig};
use crate::db::Database;
use crate::snapshot::{OutcomeKind, Plan, Reason, ReasonKind, Snapshot, Source};

/// Buckets of the scrape-latency histogram (seconds).
const SCRAPE_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// How long a scrape may take when Prometheus does not say (it always does), and what the
/// exporter's own start-up collections get.
pub const DEFAULT_SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);

/// One collection from a target: the snapshot and its pools' numbers, computed once here
/// and shared by the metrics, the status page's history and every scrape that waited for it.
#[derive(Debug)]
pub struct Collected {
    pub snapshot: Arc<Snapshot>,
    /// `None` when the session list was not read this time.
    pub pools: Option<Arc<[PoolStats]>>,
}

impl Collected {
    fn new(snapshot: Snapshot, pools: &[PoolConfig]) -> Self {
        let stats = snapshot_pool_stats(pools, &snapshot).map(Into::into);
        Collected {
            snapshot: Arc::new(snapshot),
            pools: stats,
        }
    }
}

type InFlight = Shared<BoxFuture<'static, Arc<Collected>>>;

/// A target with its in-flight collection and what was already said in the log.
pub struct TargetState {
    pub db: Arc<Database>,
    /// The pools that live on it.
    pub pools: Vec<PoolConfig>,
    inflight: Mutex<Option<InFlight>>,
    /// Collections since start (`mysql_exporter_scrapes_total`).
    collections: AtomicU64,
    /// The kind of the last logged problem per source (and `None` key for the connection):
    /// a lasting problem is logged once, not on every scrape, however its words vary.
    logged: Mutex<HashMap<Option<Source>, (OutcomeKind, ReasonKind)>>,
    /// The status page's snapshot (with every session, for the verdict), refreshed at most
    /// every [`PAGE_MAX_AGE`] however many people reload the page.
    page: tokio::sync::Mutex<Option<Arc<Snapshot>>>,
    /// Each pool's held and open sessions over the last hour, from the collections.
    pub history: Mutex<PoolHistory>,
}

/// How often the exporter tries its targets by itself until one has answered.
pub const READY_RETRY: Duration = Duration::from_secs(5);

/// What the status page reads: what `check`'s verdict needs.
pub const PAGE_SOURCES: [Source; 6] = REPORT_SOURCES;
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
    /// `intervals`: the sources read less often than every scrape (`--collect.X.interval`).
    pub fn new(
        config: Config,
        collectors: Vec<Box<dyn Collector>>,
        intervals: Vec<(Source, Duration)>,
    ) -> Self {
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
                let pools = config.pools_for(&t.name);
                Arc::new(TargetState {
                    db: Arc::new(Database::new(
                        t.clone(),
                        Plan {
                            intervals: intervals.clone(),
                            ..plan(&pools)
                        },
                    )),
                    pools,
                    inflight: Mutex::new(None),
                    collections: AtomicU64::new(0),
                    logged: Mutex::new(HashMap::new()),
                    page: tokio::sync::Mutex::new(None),
                    history: Mutex::new(PoolHistory::default()),
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
        self.targets.iter().find(|t| t.db.name() == name)
    }

    /// Starts one collection per target now, so readiness and a wrong DSN or password are
    /// known at start-up, not at the first scrape; and, until some target has answered,
    /// again every [`READY_RETRY`]. Behind a Kubernetes Service a pod that is not ready gets
    /// no scrapes, so an exporter that started before its servers would otherwise never
    /// become ready. (Each target's reconnect backoff still applies.)
    pub fn connect_all(self: &Arc<Self>) {
        let exporter = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                let deadline = Instant::now() + DEFAULT_SCRAPE_TIMEOUT;
                let round = exporter
                    .targets
                    .iter()
                    .map(|state| exporter.collect(state, deadline));
                futures::future::join_all(round).await;
                if exporter.is_ready() {
                    return;
                }
                tokio::time::sleep(READY_RETRY).await;
                if exporter.is_ready() {
                    return;
                }
            }
        });
    }

    /// Closes every target's connection (shutdown).
    pub async fn disconnect_all(&self) {
        for t in &self.targets {
            t.db.disconnect().await;
        }
    }

    /// Collects from one target before `deadline`. Scrapes that arrive while a collection
    /// is running wait for it and share its result instead of querying again.
    pub async fn collect(&self, state: &Arc<TargetState>, deadline: Instant) -> Arc<Collected> {
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
            Err(_) => Arc::new(Collected::new(
                Snapshot::down(Reason::new(
                    ReasonKind::Timeout,
                    "the collection started by another scrape did not finish before this scrape's deadline",
                )),
                &[],
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
            let snap = state.db.snapshot(&sources, deadline).await;
            let collected = Arc::new(Collected::new(snap, &state.pools));
            let snap = &collected.snapshot;
            state.collections.fetch_add(1, Ordering::Relaxed);
            if let Some(stats) = &collected.pools {
                state
                    .history
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .record(snap.taken_at, stats);
            }
            histogram.observe(started.elapsed().as_secs_f64());
            if snap.server.is_some() {
                ready.store(true, Ordering::Relaxed);
            }
            state.log_problems(snap);
            *state.inflight.lock().unwrap_or_else(|p| p.into_inner()) = None;
            collected
        });
        async move {
            task.await.unwrap_or_else(|e| {
                let why = format!("internal error in the collection task: {e}");
                let why = Reason::new(ReasonKind::Local, why);
                Arc::new(Collected::new(Snapshot::down(why), &[]))
            })
        }
        .boxed()
        .shared()
    }

    /// The per-scrape registry: the exporter's own histogram plus the snapshots' families.
    /// With several targets each series carries `target="NAME"`, each family once.
    pub fn registry(
        &self,
        snaps: Vec<(Arc<TargetState>, Arc<Collected>)>,
        label_targets: bool,
    ) -> Registry {
        let mut registry = Registry::default();
        registry.register(
            "mysql_exporter_scrape_duration_seconds",
            "Time to collect from MySQL, per scrape, since the exporter started",
            self.scrape_duration.clone(),
        );
        let targets = snaps
            .into_iter()
            .map(|(state, collected)| TargetView {
                name: state.db.name().to_string(),
                snapshot: Arc::clone(&collected.snapshot),
                pool_stats: collected.pools.clone(),
                pools: state.pools.clone(),
                collections: state.collections.load(Ordering::Relaxed),
            })
            .collect();
        registry.register_collector(Box::new(ScrapeView {
            targets,
            collectors: Arc::clone(&self.collectors),
            limits: self.config.limits,
            label_targets,
        }));
        registry
    }

    /// What the status page shows of each target: its page snapshot, its pools and their
    /// last hour.
    pub async fn page_targets(&self, deadline: Instant) -> Vec<PageTarget> {
        let mut out = Vec::with_capacity(self.targets.len());
        for state in &self.targets {
            let snapshot = self.page_snapshot(state, deadline).await;
            let history = state
                .history
                .lock()
                .map(|h| h.pools.clone().into_iter().collect())
                .unwrap_or_default();
            out.push(PageTarget {
                name: state.db.name().to_string(),
                dsn: state.db.config.dsn.to_string(),
                pools: state.pools.clone(),
                snapshot,
                history,
            });
        }
        out
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
        let snap = Arc::new(state.db.snapshot(&PAGE_SOURCES, deadline).await);
        *page = Some(Arc::clone(&snap));
        snap
    }
}

impl TargetState {
    /// Logs what went wrong, once per distinct problem, and recoveries.
    fn log_problems(&self, snap: &Snapshot) {
        let name = self.db.name();
        let mut logged = self.logged.lock().unwrap_or_else(|p| p.into_inner());
        let mut note = |key: Option<Source>, problem: Option<(OutcomeKind, &Reason)>| match problem
        {
            Some((kind, why)) => {
                let seen = (kind, why.kind);
                if logged.get(&key) != Some(&seen) {
                    let what = key.map_or("connection", |s| s.name());
                    match kind {
                        OutcomeKind::Skipped => tracing::warn!(
                            target_name = %name, source = what,
                            "source skipped: the server or the exporter's privileges lack it, and what depends on it stays off until this changes: {why}"
                        ),
                        _ => tracing::error!(target_name = %name, source = what, "{why}"),
                    }
                    logged.insert(key, seen);
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
            snap.down_reason.as_ref().map(|r| (OutcomeKind::Failed, r)),
        );
        for &source in Source::ALL {
            let kind = snap.outcome_kind(source);
            let problem = snap.outcome_reason(source).map(|r| (kind, r));
            if kind != OutcomeKind::NotRequested || snap.server.is_some() {
                note(Some(source), problem);
            }
        }
    }
}
