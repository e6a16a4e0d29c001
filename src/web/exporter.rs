//! The serving exporter's runtime: its targets, which sources a scrape reads, one in-flight
//! collection per target shared by concurrent scrapes, readiness, problems logged once, and
//! the status page's snapshot cache.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::{BoxFuture, FutureExt, Shared};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::fleet_page::Glance;
use super::history::PoolHistory;
use super::status_page::PageTarget;
use crate::analysis::peaks::{Peaks, Sample, SamplerStatus, Window, SAMPLE_SOURCES};
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
    fn new(snapshot: Snapshot, pools: &[PoolConfig], max_apps: usize) -> Self {
        let stats = snapshot_pool_stats(pools, &snapshot, max_apps).map(Into::into);
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
    /// The last collection, for the fleet page (which asks no server).
    last: Mutex<Option<Arc<Collected>>>,
    /// Collections since start (`mysql_exporter_scrapes_total`).
    collections: AtomicU64,
    /// The kind of the last logged problem per source: a lasting problem is logged once,
    /// not on every scrape, however its words vary. (The connection's own problems are
    /// logged where it is kept: `db`.)
    logged: Mutex<HashMap<Option<Source>, (OutcomeKind, ReasonKind)>>,
    /// The status page's snapshot (with every session, for the verdict), refreshed at most
    /// every [`PAGE_MAX_AGE`] however many people reload the page.
    page: tokio::sync::Mutex<Option<Arc<Snapshot>>>,
    /// Each pool's held and open sessions over the last hour, from the samples.
    pub history: Mutex<PoolHistory>,
    /// The samples of the last window (the sampler's and the scrapes'), when sampling.
    window: Mutex<Window>,
    sampler: Mutex<SamplerStatus>,
    /// The server run the window's samples came from ([`crate::snapshot::ServerInfo::run`]).
    run: Mutex<Option<u64>>,
}

/// `--sampler.interval` and `--sampler.window`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SamplerSettings {
    pub interval: Duration,
    pub window: Duration,
}

impl SamplerSettings {
    /// The settings for `targets` targets sampled at most `max_per_second` times a second
    /// in all (`--sampler.max-rate`): a fleet's targets each sample less often (a thousand
    /// at 100 a second: every 10 s), so the exporter's CPU does not grow with the fleet
    /// past that; the window stays at least two intervals long.
    pub fn for_fleet(self, targets: usize, max_per_second: f64) -> SamplerSettings {
        let spread = Duration::from_secs_f64(targets as f64 / max_per_second);
        let interval = self.interval.max(spread);
        SamplerSettings {
            interval,
            window: self.window.max(interval * 2),
        }
    }
}

/// A sample that takes more than this share of its interval makes the sampler back off:
/// the sampler must cost the server little enough to stay on by default.
pub const SAMPLER_MAX_SHARE: f64 = 0.1;

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
    /// `None`: `--no-collect.sampler`.
    sampler: Option<SamplerSettings>,
    scrape_duration: Histogram,
    ready: Arc<AtomicBool>,
    /// When each target first connects after the start ([`connect_schedule`]), by index.
    first_connects: Vec<Duration>,
    /// How long the last answer of every target took to build, encode and compress, in
    /// µs: the next one stops collecting that much earlier ([`Exporter::encode_reserve`]).
    encode_took_us: AtomicU64,
}

impl Exporter {
    /// `intervals`: the sources read less often than every scrape (`--collect.X.interval`);
    /// `sampler`: how to sample between scrapes, used when the `sampler` collector is on.
    pub fn new(
        config: Config,
        collectors: Vec<Box<dyn Collector>>,
        intervals: Vec<(Source, Duration)>,
        sampler: SamplerSettings,
    ) -> Self {
        let sampler = collectors
            .iter()
            .any(|c| c.name() == "sampler")
            .then_some(sampler);
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
                    last: Mutex::new(None),
                    collections: AtomicU64::new(0),
                    logged: Mutex::new(HashMap::new()),
                    page: tokio::sync::Mutex::new(None),
                    history: Mutex::new(PoolHistory::default()),
                    window: Mutex::new(Window::new(sampler.map_or(Duration::ZERO, |s| s.window))),
                    sampler: Mutex::new(SamplerStatus {
                        window: sampler.map_or(Duration::ZERO, |s| s.window),
                        interval: sampler.map_or(Duration::ZERO, |s| s.interval),
                        last_duration: Duration::ZERO,
                        samples_total: 0,
                    }),
                    run: Mutex::new(None),
                })
            })
            .collect();
        let first_connects = connect_schedule(
            &config.targets,
            config.limits.connects_per_server_per_second,
        );
        Exporter {
            config: Arc::new(config),
            targets,
            collectors: Arc::new(collectors),
            sources: sources.into_iter().collect(),
            sampler,
            scrape_duration: Histogram::new(SCRAPE_BUCKETS),
            ready: Arc::new(AtomicBool::new(false)),
            encode_took_us: AtomicU64::new(0),
            first_connects,
        }
    }

    /// True once any target has answered: `/-/ready`.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    pub fn target(&self, name: &str) -> Option<&Arc<TargetState>> {
        self.targets.iter().find(|t| t.db.name() == name)
    }

    /// Starts one collection per target, so readiness and a wrong DSN or password are known
    /// at start-up, not at the first scrape; and, until some target has answered, again
    /// every [`READY_RETRY`]. Behind a Kubernetes Service a pod that is not ready gets no
    /// scrapes, so an exporter that started before its servers would otherwise never become
    /// ready. The connects to one server are spread ([`connect_schedule`]); the exporter is
    /// ready as soon as any target answers. (Each target's reconnect backoff still applies.)
    pub fn connect_all(self: &Arc<Self>) {
        let exporter = Arc::clone(self);
        let offsets = self.first_connects.clone();
        tokio::spawn(async move {
            loop {
                let started = Instant::now();
                let round = exporter
                    .targets
                    .iter()
                    .zip(&offsets)
                    .map(|(state, &offset)| {
                        let exporter = Arc::clone(&exporter);
                        async move {
                            tokio::time::sleep_until((started + offset).into()).await;
                            if state.answered() {
                                // A scrape got there first.
                                return;
                            }
                            let deadline = Instant::now() + DEFAULT_SCRAPE_TIMEOUT;
                            exporter.collect(state, deadline).await;
                        }
                    });
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
                0,
            )),
        }
    }

    /// Spawns the collection so a client that hangs up does not cancel it half-way.
    fn start(&self, state: &Arc<TargetState>, deadline: Instant) -> InFlight {
        let state = Arc::clone(state);
        let sources = self.sources.clone();
        let histogram = self.scrape_duration.clone();
        let ready = Arc::clone(&self.ready);
        let max_apps = self.config.limits.max_label_values;
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let snap = state.db.snapshot(&sources, deadline).await;
            let collected = Arc::new(Collected::new(snap, &state.pools, max_apps));
            let snap = &collected.snapshot;
            state.collections.fetch_add(1, Ordering::Relaxed);
            state.follow_run(snap);
            // A scrape is a sample too: the window and the chart miss nothing the scrape saw.
            if let Some(sample) = collected.pools.as_deref().and_then(|p| Sample::of(snap, p)) {
                state.record(sample);
            }
            histogram.observe(started.elapsed().as_secs_f64());
            if snap.server.is_some() {
                ready.store(true, Ordering::Relaxed);
            }
            state.log_problems(snap);
            *state.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::clone(&collected));
            *state.inflight.lock().unwrap_or_else(|p| p.into_inner()) = None;
            collected
        });
        async move {
            task.await.unwrap_or_else(|e| {
                let why = format!("internal error in the collection task: {e}");
                let why = Reason::new(ReasonKind::Local, why);
                Arc::new(Collected::new(Snapshot::down(why), &[], 0))
            })
        }
        .boxed()
        .shared()
    }

    /// What an answer of every target needs after its collection: the last one's encoding
    /// time and half as much again. With 1 000 targets that answer is about 55 MB of text,
    /// and Prometheus' timeout covers the whole answer, not just the collection.
    pub fn encode_reserve(&self) -> Duration {
        Duration::from_micros(self.encode_took_us.load(Ordering::Relaxed)).mul_f64(1.5)
    }

    /// Records how long an answer of every target took after its collection.
    pub fn encoded_in(&self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.encode_took_us.store(us, Ordering::Relaxed);
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
        // Go exporters' `<name>_build_info`: which build runs where, for dashboards and
        // incident notes (`--version` prints the same facts).
        let build = Family::<Vec<(String, String)>, Gauge>::default();
        build.get_or_create(&crate::build_info::labels()).set(1);
        registry.register(
            "mysql_pool_exporter_build_info",
            "A metric with a constant '1' value labeled by version, revision, branch, and \
             rustc_version from which mysql_pool_exporter was built",
            build,
        );
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let tasks = prometheus_client::metrics::gauge::Gauge::<i64>::default();
            tasks.set(i64::try_from(runtime.metrics().num_alive_tasks()).unwrap_or(i64::MAX));
            registry.register(
                "mysql_exporter_runtime_tasks",
                "Tasks alive in the exporter's async runtime (Go exporters' go_goroutines): \
                 steady with a fixed number of targets and scrapers; growth is a leak",
                tasks,
            );
        }
        let now = std::time::SystemTime::now();
        let targets = snaps
            .into_iter()
            .map(|(state, collected)| TargetView {
                name: state.db.name().to_string(),
                snapshot: Arc::clone(&collected.snapshot),
                pool_stats: collected.pools.clone(),
                pools: state.pools.clone(),
                collections: state.collections.load(Ordering::Relaxed),
                peaks: self.sampler.map(|_| Arc::new(state.peaks(now))),
                sampler: self.sampler.map(|_| state.sampler_status()),
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

    /// What the status page shows of each of `targets` in full: its page snapshot (read
    /// from all of them at once, each on its own connection), its pools and their last
    /// hour.
    pub async fn page_targets(
        &self,
        targets: &[Arc<TargetState>],
        deadline: Instant,
    ) -> Vec<PageTarget> {
        let reads = targets.iter().map(|state| async move {
            let snapshot = self.page_snapshot(state, deadline).await;
            let history = state
                .history
                .lock()
                .map(|h| h.pools.clone().into_iter().collect())
                .unwrap_or_default();
            PageTarget {
                name: state.db.name().to_string(),
                dsn: state.db.config.dsn.to_string(),
                pools: state.pools.clone(),
                snapshot,
                history,
                peaks: self
                    .sampler
                    .map(|_| state.peaks(std::time::SystemTime::now())),
            }
        });
        futures::future::join_all(reads).await
    }

    /// What the fleet page shows of every target: what the exporter already has, no query.
    pub fn glances(&self) -> Vec<Glance> {
        let now = std::time::SystemTime::now();
        self.targets
            .iter()
            .map(|state| {
                let last = state.last.lock().unwrap_or_else(|p| p.into_inner()).clone();
                let mut g = Glance {
                    name: state.db.name().to_string(),
                    peaks: self.sampler.map(|_| state.peaks(now)),
                    ..Glance::default()
                };
                if let Some(c) = last {
                    let snap = &c.snapshot;
                    g.up = Some(snap.server.is_some());
                    g.down_reason = snap.down_reason.as_ref().map(|r| r.text.clone());
                    g.age = now.duration_since(snap.taken_at).ok();
                    let number = |v: Option<&str>| v.and_then(|v| v.parse::<u64>().ok());
                    g.connections = number(snap.status("Threads_connected"))
                        .zip(number(snap.variable("max_connections")));
                    g.pools = c
                        .pools
                        .iter()
                        .flat_map(|p| p.iter())
                        .filter(|p| !p.discovered)
                        .map(|p| (p.name.clone(), p.held(), p.capacity))
                        .collect();
                }
                g
            })
            .collect()
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

impl Exporter {
    /// Starts one sampler per target, unless `--no-collect.sampler`.
    pub fn start_samplers(self: &Arc<Self>) {
        let Some(settings) = self.sampler else {
            return;
        };
        // Connections per account only when that collector is on (its source is then
        // among the scrape's).
        let sources: Vec<Source> = SAMPLE_SOURCES
            .into_iter()
            .filter(|s| *s != Source::AccountConnections || self.sources.contains(s))
            .collect();
        let started = Instant::now();
        for (state, &offset) in self.targets.iter().zip(&self.first_connects) {
            let state = Arc::clone(state);
            let sources = sources.clone();
            let max_apps = self.config.limits.max_label_values;
            tokio::spawn(async move {
                // Not before the target's first connect: it is spread with the others'.
                tokio::time::sleep_until((started + offset).into()).await;
                state.sample_loop(settings, sources, max_apps).await
            });
        }
    }

    /// The samples of one target's window, for `check --exporter` (`None`: no such target,
    /// or the sampler is off).
    pub fn samples(&self, target: &str) -> Option<(SamplerSettings, Vec<Sample>)> {
        let settings = self.sampler?;
        let state = self.target(target)?;
        let window = state.window.lock().unwrap_or_else(|p| p.into_inner());
        Some((settings, window.samples().cloned().collect()))
    }
}

/// When each target's first connect starts, after the exporter's start: to each server
/// (host and port) at most `per_second` connects a second, each at a point of its slot of
/// `1 / per_second` that its name decides, so that exporters restarted together do not log
/// in at the same instants either. Targets on other servers do not wait for each other.
pub fn connect_schedule(targets: &[crate::config::TargetConfig], per_second: f64) -> Vec<Duration> {
    use std::hash::{Hash, Hasher};
    let slot = Duration::from_secs_f64(1.0 / per_second);
    let mut seen: HashMap<(&str, u16), u32> = HashMap::new();
    targets
        .iter()
        .map(|t| {
            let n = seen.entry((t.dsn.host.as_str(), t.dsn.port)).or_insert(0);
            let index = *n;
            *n += 1;
            // DefaultHasher::new() has fixed keys: the same name, the same point.
            let mut h = std::collections::hash_map::DefaultHasher::new();
            t.name.hash(&mut h);
            let jitter = (h.finish() % 1000) as f64 / 1000.0;
            slot.mul_f64(f64::from(index) + jitter)
        })
        .collect()
}

/// The time to the next sample after one that took `took` (`slow_before`: the sample before
/// it was slow too): twice as long while samples take more than [`SAMPLER_MAX_SHARE`] of the
/// configured interval, two in a row (the first read after connecting fetches every
/// session's connect attributes once and is slow by itself), down to four samples a window
/// however slow the server; the configured interval again once they take less than half
/// that. A server that did not answer changes nothing (its reconnects have their own
/// backoff).
fn next_interval(
    settings: SamplerSettings,
    now: Duration,
    took: Duration,
    slow_before: bool,
    answered: bool,
) -> Duration {
    let limit = settings.interval.mul_f64(SAMPLER_MAX_SHARE);
    let slowest = settings.interval.max(settings.window / 4);
    if !answered {
        now
    } else if took > limit {
        if slow_before {
            (now * 2).min(slowest)
        } else {
            now
        }
    } else if took < limit / 2 {
        settings.interval
    } else {
        now
    }
}

impl TargetState {
    /// Samples until the exporter stops: every `interval`, or less often while a sample
    /// takes more than [`SAMPLER_MAX_SHARE`] of it (said once in the log, and when it is
    /// quick again).
    async fn sample_loop(&self, settings: SamplerSettings, sources: Vec<Source>, max_apps: usize) {
        let name = self.db.name().to_string();
        let mut interval = settings.interval;
        let mut slow_before = false;
        loop {
            let started = Instant::now();
            let snap = self
                .db
                .sample(&sources, started + DEFAULT_SCRAPE_TIMEOUT)
                .await;
            let took = started.elapsed();
            self.follow_run(&snap);
            if let Some(sample) = Sample::read(&snap, &self.pools, max_apps) {
                self.record(sample);
            }
            let answered = snap.server.is_some();
            let next = next_interval(settings, interval, took, slow_before, answered);
            if answered {
                slow_before = took > settings.interval.mul_f64(SAMPLER_MAX_SHARE);
            }
            if next > interval && interval == settings.interval {
                tracing::warn!(
                    target_name = %name,
                    took_ms = took.as_millis() as u64,
                    every_s = next.as_secs_f64(),
                    "sampler backing off: a sample took more than {:.0}% of --sampler.interval ({}s), so it samples less often until samples are quick again; a burst shorter than the new interval may be missed (--no-collect.sampler turns it off)",
                    SAMPLER_MAX_SHARE * 100.0,
                    settings.interval.as_secs_f64(),
                );
            } else if next == settings.interval && interval > settings.interval {
                tracing::info!(target_name = %name, every_s = next.as_secs_f64(), "sampler back to its interval");
            }
            interval = next;
            {
                let mut status = self.sampler.lock().unwrap_or_else(|p| p.into_inner());
                status.interval = interval;
                status.last_duration = took;
                if snap.server.is_some() {
                    status.samples_total += 1;
                }
            }
            tokio::time::sleep_until((started + interval).into()).await;
        }
    }

    /// Whether the last collection reached the server.
    fn answered(&self) -> bool {
        self.last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(|c| c.snapshot.server.is_some())
    }

    /// Empties the window when another server run answers than the one its samples came
    /// from (a restart, a failover behind the address): peaks and rates are of one run. The
    /// chart keeps its points: the drop at a restart is part of what it should show.
    fn follow_run(&self, snap: &Snapshot) {
        let Some(server) = &snap.server else {
            return;
        };
        let mut run = self.run.lock().unwrap_or_else(|p| p.into_inner());
        if run.is_some_and(|r| r != server.run) {
            self.window
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clear();
        }
        *run = Some(server.run);
    }

    /// Keeps a sample: in the window, and in each pool's point of the status page's chart.
    fn record(&self, sample: Sample) {
        self.history
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(&sample);
        let mut window = self.window.lock().unwrap_or_else(|p| p.into_inner());
        if !window.span().is_zero() {
            window.push(sample);
        }
    }

    fn peaks(&self, now: std::time::SystemTime) -> Peaks {
        let window = self.window.lock().unwrap_or_else(|p| p.into_inner());
        window.peaks(now)
    }

    fn sampler_status(&self) -> SamplerStatus {
        self.sampler
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

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
        for &source in Source::ALL {
            let kind = snap.outcome_kind(source);
            let problem = snap.outcome_reason(source).map(|r| (kind, r));
            if kind != OutcomeKind::NotRequested || snap.server.is_some() {
                note(Some(source), problem);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Up to 100 targets at 100 a second keep the 1 s interval; a thousand sample every
    /// 10 s, and ten thousand every 100 s with a window of two intervals.
    #[test]
    fn a_fleet_shares_the_samplers_rate() {
        let s = SamplerSettings {
            interval: Duration::from_secs(1),
            window: Duration::from_secs(60),
        };
        let secs = |t: usize| {
            let f = s.for_fleet(t, 100.0);
            (f.interval.as_secs_f64(), f.window.as_secs_f64())
        };
        assert_eq!(secs(1), (1.0, 60.0));
        assert_eq!(secs(100), (1.0, 60.0));
        assert_eq!(secs(1000), (10.0, 60.0));
        assert_eq!(secs(10_000), (100.0, 200.0));
    }

    /// 45 targets on one server and 5 on another at 10 a second: the first server's take
    /// 4.5 s, one per 100 ms slot, never two in one slot; the other's are not held back.
    #[test]
    fn first_connects_are_spread_per_server() {
        let target = |name: &str, port: u16| {
            let dsn = format!("mysql://exporter@db1:{port}");
            let mut t = crate::config::from_dsn(&dsn, &|_| None)
                .unwrap()
                .targets
                .remove(0);
            t.name = name.into();
            t
        };
        let targets: Vec<_> = (0..45)
            .map(|i| target(&format!("big-{i}"), 3306))
            .chain((0..5).map(|i| target(&format!("small-{i}"), 3307)))
            .collect();
        let at = connect_schedule(&targets, 10.0);
        let slots = |range: std::ops::Range<usize>| -> Vec<u128> {
            at[range].iter().map(|d| d.as_millis() / 100).collect()
        };
        assert_eq!(slots(0..45), (0..45).collect::<Vec<u128>>());
        assert_eq!(slots(45..50), (0..5).collect::<Vec<u128>>());
        assert!(at[..45].iter().all(|d| *d < Duration::from_millis(4500)));
        // Jittered within the slot, and the same again for the same names.
        assert!(at.iter().any(|d| d.as_millis() % 100 != 0));
        assert_eq!(connect_schedule(&targets, 10.0), at);
    }

    /// 1 s interval, 60 s window: a slow server doubles the pause up to 15 s (four samples a
    /// window); once samples are quick again it is back to 1 s; a sample between the two
    /// limits keeps what is.
    #[test]
    fn the_sampler_backs_off_while_samples_are_slow_and_comes_back() {
        let s = SamplerSettings {
            interval: Duration::from_secs(1),
            window: Duration::from_secs(60),
        };
        let ms = Duration::from_millis;
        let mut every = s.interval;
        let mut seen = Vec::new();
        for i in 0..7 {
            every = next_interval(s, every, ms(300), i > 0, true);
            seen.push(every.as_secs());
        }
        // The first slow sample alone (the attributes read after connecting) changes nothing.
        assert_eq!(seen, [1, 2, 4, 8, 15, 15, 15]);
        assert_eq!(next_interval(s, every, ms(70), true, true), every);
        assert_eq!(next_interval(s, every, ms(2), true, false), every);
        assert_eq!(next_interval(s, every, ms(20), true, true), s.interval);
        assert_eq!(next_interval(s, s.interval, ms(101), true, true), ms(2000));
        assert_eq!(
            next_interval(s, s.interval, ms(101), false, true),
            s.interval
        );
        assert_eq!(next_interval(s, s.interval, ms(99), true, true), s.interval);
    }
}
