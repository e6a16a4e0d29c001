//! Between the scrapes: what the pools and the server held in the last minute, sampled every
//! second, so a pool that was full for 5 s between two scrapes 15 s apart is not read as half
//! empty. A [`Sample`] is what one cheap read of the session list and a few status counters
//! leaves; a [`Window`] keeps the samples of a trailing span (never reset by a scrape, so two
//! Prometheus servers scraping the same exporter see the same maxima); [`Window::peaks`]
//! reads the window: each pool's maxima and its last spell at capacity, the server's maxima,
//! and the connections each account opened (churn). Pure: the sampler and the scrapes feed
//! it, the metrics, `check` and the status page read it.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::pools::{snapshot_pool_stats, PoolStats};
use crate::config::PoolConfig;
use crate::snapshot::{parse_status_value, AccountConnections, Snapshot, Source};

/// One pool (or discovered app) at one moment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolSample {
    pub name: String,
    /// Sessions holding a slot of the app's pool ([`PoolStats::held`]).
    pub held: u64,
    pub open: u64,
    /// 0: not declared (a discovered app).
    pub capacity: u64,
}

/// What one read of the server leaves: the pools, the server's sessions, the counters
/// churn shows in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    #[serde(with = "unix_seconds")]
    pub at: SystemTime,
    pub pools: Vec<PoolSample>,
    pub threads_connected: Option<u64>,
    pub threads_running: Option<u64>,
    /// `Connections`: logins attempted since start, successful or not.
    pub connections: Option<u64>,
    /// `Connection_errors_max_connections`: logins refused because the server was full.
    pub refused: Option<u64>,
    /// Connections opened per account (empty where the server cannot say).
    pub accounts: Vec<AccountConnections>,
}

/// What a sample reads: the session list (the pools' numbers), the few status counters, and
/// the connections per account (left out by the exporter when its `accounts` collector is
/// off). The exporter's sampler and `check --sample-for` read the same.
pub const SAMPLE_SOURCES: [Source; 3] = [
    Source::Threads,
    Source::StatusCounters,
    Source::AccountConnections,
];

impl Sample {
    /// The sample of a snapshot that read the session list: its pools (configured, and up to
    /// `max_apps` discovered apps) and counters; `None` when the server did not answer or the
    /// session list was not read.
    pub fn read(snap: &Snapshot, pools: &[PoolConfig], max_apps: usize) -> Option<Sample> {
        Sample::of(snap, &snapshot_pool_stats(pools, snap, max_apps)?)
    }

    /// The same from the pools' numbers already computed from the snapshot (`stats`);
    /// `None` for a server that did not answer.
    pub fn of(snap: &Snapshot, stats: &[PoolStats]) -> Option<Sample> {
        snap.server.as_ref()?;
        let counter = |name| {
            snap.status(name)
                .and_then(parse_status_value)
                .map(|v| v as u64)
        };
        Some(Sample {
            at: snap.taken_at,
            pools: stats
                .iter()
                .filter(|p| p.unknown.is_none())
                .map(|p| PoolSample {
                    name: p.name.clone(),
                    held: p.held(),
                    open: p.open(),
                    capacity: p.capacity,
                })
                .collect(),
            threads_connected: counter("Threads_connected"),
            // MariaDB's sampler does not ask for it (it walks every session): counted in
            // the session list the sample read.
            threads_running: counter("Threads_running").or_else(|| snap.running_sessions()),
            connections: counter("Connections"),
            refused: counter("Connection_errors_max_connections"),
            accounts: snap.account_connections.ok().cloned().unwrap_or_default(),
        })
    }
}

#[cfg(test)]
impl Sample {
    /// One pool `name` at `at` (held, open, capacity), no server counters: the recorded
    /// sample the tests start from.
    pub fn recorded(at: SystemTime, name: &str, held: u64, open: u64, capacity: u64) -> Sample {
        Sample {
            at,
            pools: vec![PoolSample {
                name: name.into(),
                held,
                open,
                capacity,
            }],
            threads_connected: None,
            threads_running: None,
            connections: None,
            refused: None,
            accounts: Vec::new(),
        }
    }
}

/// How the sampler of one target is doing, for its own metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SamplerStatus {
    pub window: Duration,
    /// Between two samples now: the configured interval, longer while it backs off.
    pub interval: Duration,
    pub last_duration: Duration,
    pub samples_total: u64,
}

/// The samples of a trailing span, oldest first.
#[derive(Clone, Debug)]
pub struct Window {
    span: Duration,
    samples: VecDeque<Sample>,
}

impl Window {
    pub fn new(span: Duration) -> Self {
        Window {
            span,
            samples: VecDeque::new(),
        }
    }

    pub fn span(&self) -> Duration {
        self.span
    }

    pub fn samples(&self) -> impl Iterator<Item = &Sample> {
        self.samples.iter()
    }

    /// Forgets every sample: another server run answers, whose counters start again and
    /// whose sessions are others.
    pub fn clear(&mut self) {
        self.samples.clear();
    }

    /// Adds a sample in time order (a scrape's may land between two of the sampler's) and
    /// forgets those older than the span before the newest.
    pub fn push(&mut self, sample: Sample) {
        let at = self.samples.partition_point(|s| s.at <= sample.at);
        self.samples.insert(at, sample);
        if let Some(newest) = self.samples.back().map(|s| s.at) {
            while self
                .samples
                .front()
                .is_some_and(|s| newest.duration_since(s.at).is_ok_and(|d| d > self.span))
            {
                self.samples.pop_front();
            }
        }
    }

    /// What the samples of the span before `now` show.
    pub fn peaks(&self, now: SystemTime) -> Peaks {
        let recent: Vec<&Sample> = self
            .samples
            .iter()
            .filter(|s| now.duration_since(s.at).map_or(true, |d| d <= self.span))
            .collect();
        Peaks::of(&recent, self.span, now)
    }
}

/// What a window of samples shows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Peaks {
    /// When it was read: the window is the span before this.
    #[serde(with = "unix_seconds")]
    pub at: SystemTime,
    /// The window's span, and how much of it the samples cover (less just after start).
    #[serde(with = "seconds")]
    pub span: Duration,
    #[serde(with = "seconds")]
    pub covered: Duration,
    pub samples: usize,
    /// The usual time between two samples (the median), by which a spell's length is read.
    #[serde(with = "seconds")]
    pub step: Duration,
    pub pools: Vec<PoolPeak>,
    pub threads_connected_max: Option<u64>,
    pub threads_running_max: Option<u64>,
    /// Logins per second over the window (`Connections`).
    pub connections_per_second: Option<f64>,
    /// Logins refused because the server was full, within the window.
    pub refused: Option<u64>,
    /// Accounts by connections opened per second, most first.
    pub churn: Vec<AccountChurn>,
}

/// One pool over the window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PoolPeak {
    pub name: String,
    pub capacity: u64,
    pub held_max: u64,
    pub open_max: u64,
    /// Held in the newest sample.
    pub held_now: u64,
    /// The last spell at capacity within the window (declared pools only).
    pub full: Option<Spell>,
}

/// Consecutive samples of a pool at its capacity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Spell {
    /// The last sample at capacity.
    #[serde(with = "unix_seconds")]
    pub last_at: SystemTime,
    /// From its first to its last sample, plus one step: how long it was seen full.
    #[serde(with = "seconds")]
    pub lasted: Duration,
    /// Still full in the newest sample.
    pub ongoing: bool,
}

/// The connections one account opened within the window.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AccountChurn {
    pub user: String,
    pub host: Option<String>,
    pub opened: u64,
    #[serde(with = "seconds")]
    pub over: Duration,
    pub per_second: f64,
    /// The most it had open at once in a sample: a handful against hundreds opened is a
    /// client that connects per request.
    pub open_max: u64,
    /// Logins refused to it within the window, where the server counts them.
    pub denied: Option<u64>,
}

impl AccountChurn {
    /// `user@host`, or the user alone where the server counts per user.
    pub fn account(&self) -> String {
        match &self.host {
            Some(h) => format!("{}@{}", self.user, h),
            None => self.user.clone(),
        }
    }
}

impl Peaks {
    fn of(samples: &[&Sample], span: Duration, now: SystemTime) -> Peaks {
        let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
            return Peaks {
                at: now,
                span,
                covered: Duration::ZERO,
                samples: 0,
                step: Duration::ZERO,
                pools: Vec::new(),
                threads_connected_max: None,
                threads_running_max: None,
                connections_per_second: None,
                refused: None,
                churn: Vec::new(),
            };
        };
        let between = |a: SystemTime, b: SystemTime| b.duration_since(a).unwrap_or_default();
        let mut gaps: Vec<Duration> = samples
            .windows(2)
            .map(|w| between(w[0].at, w[1].at))
            .collect();
        gaps.sort();
        let step = gaps.get(gaps.len() / 2).copied().unwrap_or_default();
        let max_of = |f: &dyn Fn(&Sample) -> Option<u64>| samples.iter().filter_map(|s| f(s)).max();
        let counted = |f: &dyn Fn(&Sample) -> Option<u64>| {
            increase(samples.iter().filter_map(|s| Some((s.at, f(s)?))))
        };
        let elapsed = between(first.at, last.at);
        Peaks {
            at: now,
            span,
            covered: between(first.at, now).min(span),
            samples: samples.len(),
            step,
            pools: pool_peaks(samples, step),
            threads_connected_max: max_of(&|s| s.threads_connected),
            threads_running_max: max_of(&|s| s.threads_running),
            connections_per_second: counted(&|s| s.connections)
                .filter(|_| !elapsed.is_zero())
                .map(|(n, over)| n as f64 / over.as_secs_f64().max(f64::MIN_POSITIVE)),
            refused: counted(&|s| s.refused).map(|(n, _)| n),
            churn: churn(samples),
        }
    }

    pub fn pool(&self, name: &str) -> Option<&PoolPeak> {
        self.pools.iter().find(|p| p.name == name)
    }
}

/// A counter's increase between its first and last reading (and over how long); a counter
/// that went down was reset (FLUSH, a restart): counted from the reset.
fn increase(points: impl Iterator<Item = (SystemTime, u64)>) -> Option<(u64, Duration)> {
    let mut first: Option<SystemTime> = None;
    let mut prev: Option<(SystemTime, u64)> = None;
    let mut total = 0u64;
    for (at, v) in points {
        first.get_or_insert(at);
        if let Some((_, p)) = prev {
            total += if v >= p { v - p } else { v };
        }
        prev = Some((at, v));
    }
    let (last, _) = prev?;
    Some((total, last.duration_since(first?).unwrap_or_default()))
}

fn pool_peaks(samples: &[&Sample], step: Duration) -> Vec<PoolPeak> {
    let mut by_pool: BTreeMap<&str, Vec<(SystemTime, &PoolSample)>> = BTreeMap::new();
    for s in samples {
        for p in &s.pools {
            by_pool.entry(p.name.as_str()).or_default().push((s.at, p));
        }
    }
    let newest = samples.last().map(|s| s.at);
    let mut out: Vec<PoolPeak> = by_pool
        .into_iter()
        .map(|(name, points)| {
            let (last_at, last) = points[points.len() - 1];
            PoolPeak {
                name: name.to_string(),
                capacity: last.capacity,
                held_max: points.iter().map(|(_, p)| p.held).max().unwrap_or(0),
                open_max: points.iter().map(|(_, p)| p.open).max().unwrap_or(0),
                held_now: if Some(last_at) == newest {
                    last.held
                } else {
                    0
                },
                full: last_spell(&points, step, newest),
            }
        })
        .collect();
    // The samples' order of pools: configured first, as the collections list them.
    let order: Vec<&str> = samples
        .iter()
        .rev()
        .flat_map(|s| s.pools.iter().map(|p| p.name.as_str()))
        .collect();
    out.sort_by_key(|p| order.iter().position(|n| *n == p.name));
    out
}

/// The newest run of samples at capacity (a pool with no declared capacity never has one).
fn last_spell(
    points: &[(SystemTime, &PoolSample)],
    step: Duration,
    newest: Option<SystemTime>,
) -> Option<Spell> {
    let full = |p: &PoolSample| p.capacity > 0 && p.held >= p.capacity;
    let end = points.iter().rposition(|(_, p)| full(p))?;
    let start = points[..end]
        .iter()
        .rposition(|(_, p)| !full(p))
        .map_or(0, |i| i + 1);
    let (first_at, last_at) = (points[start].0, points[end].0);
    Some(Spell {
        last_at,
        lasted: last_at.duration_since(first_at).unwrap_or_default() + step,
        ongoing: end == points.len() - 1 && Some(last_at) == newest,
    })
}

/// Per account, the connections opened within the window, most per second first.
fn churn(samples: &[&Sample]) -> Vec<AccountChurn> {
    type Key<'a> = (&'a str, Option<&'a str>);
    let mut by_account: BTreeMap<Key, Vec<(SystemTime, &AccountConnections)>> = BTreeMap::new();
    for s in samples {
        for a in &s.accounts {
            by_account
                .entry((a.user.as_str(), a.host.as_deref()))
                .or_default()
                .push((s.at, a));
        }
    }
    let mut out: Vec<AccountChurn> = by_account
        .into_iter()
        .filter_map(|((user, host), points)| {
            let (opened, over) = increase(points.iter().map(|(at, a)| (*at, a.total)))?;
            if over.is_zero() {
                return None;
            }
            let denied = increase(points.iter().filter_map(|(at, a)| Some((*at, a.denied?))))
                .map(|(n, _)| n);
            Some(AccountChurn {
                user: user.to_string(),
                host: host.map(String::from),
                opened,
                over,
                per_second: opened as f64 / over.as_secs_f64(),
                open_max: points.iter().map(|(_, a)| a.current).max().unwrap_or(0),
                denied,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.per_second
            .total_cmp(&a.per_second)
            .then_with(|| a.account().cmp(&b.account()))
    });
    out
}

/// Times as Unix seconds (fractions kept), as every Prometheus-side tool writes them.
mod unix_seconds {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        let secs = t
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        s.serialize_f64(secs)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs)
            .map(|d| UNIX_EPOCH + d)
            .map_err(serde::de::Error::custom)
    }
}

/// Durations as seconds.
mod seconds {
    use std::time::Duration;

    use serde::Serializer;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    fn sample(secs: u64, held: u64, capacity: u64) -> Sample {
        Sample {
            threads_connected: Some(held + 5),
            threads_running: Some(2),
            connections: Some(1000 + secs),
            refused: Some(0),
            ..Sample::recorded(at(secs), "kefu-flask", held, held + 2, capacity)
        }
    }

    /// The burst of the issue: 45/45 held for 4 samples between two scrapes 15 s apart,
    /// 12 held before and after: the maxima and the spell say it, the newest sample does not.
    #[test]
    fn a_burst_between_two_scrapes_is_kept_for_the_window() {
        let mut w = Window::new(Duration::from_secs(60));
        for t in 0..40 {
            let held = if (10..14).contains(&t) { 45 } else { 12 };
            w.push(sample(t, held, 45));
        }
        let p = w.peaks(at(39));
        let pool = p.pool("kefu-flask").unwrap();
        assert_eq!((pool.held_max, pool.open_max, pool.held_now), (45, 47, 12));
        let spell = pool.full.unwrap();
        assert_eq!(spell.last_at, at(13));
        assert_eq!(spell.lasted, Duration::from_secs(4));
        assert!(!spell.ongoing);
        assert_eq!(p.threads_connected_max, Some(50));
        assert_eq!(p.step, Duration::from_secs(1));
        assert_eq!(p.connections_per_second, Some(1.0));
        // A minute later the burst has left the window.
        let later = w.peaks(at(39 + 61));
        assert_eq!(later.samples, 0);
        assert!(later.pools.is_empty());
    }

    #[test]
    fn a_pool_below_capacity_or_undeclared_has_no_spell() {
        let mut w = Window::new(Duration::from_secs(60));
        for t in 0..10 {
            w.push(sample(t, 44, 45));
        }
        assert_eq!(w.peaks(at(9)).pools[0].full, None);
        let mut w = Window::new(Duration::from_secs(60));
        for t in 0..10 {
            w.push(sample(t, 44, 0));
        }
        assert_eq!(w.peaks(at(9)).pools[0].full, None);
    }

    #[test]
    fn a_spell_still_on_is_ongoing_and_old_samples_leave_the_window() {
        let mut w = Window::new(Duration::from_secs(10));
        for t in 0..30 {
            w.push(sample(t, if t >= 25 { 45 } else { 3 }, 45));
        }
        assert_eq!(w.samples().count(), 11);
        let spell = w.peaks(at(29)).pools[0].full.unwrap();
        assert!(spell.ongoing);
        assert_eq!(spell.lasted, Duration::from_secs(5));
    }

    #[test]
    fn a_late_sample_lands_in_time_order() {
        let mut w = Window::new(Duration::from_secs(60));
        w.push(sample(0, 1, 45));
        w.push(sample(2, 1, 45));
        w.push(sample(1, 45, 45));
        let times: Vec<SystemTime> = w.samples().map(|s| s.at).collect();
        assert_eq!(times, [at(0), at(1), at(2)]);
        assert_eq!(w.peaks(at(2)).pools[0].full.unwrap().last_at, at(1));
    }

    /// An account that connects per request: hundreds opened, never more than 2 at once; a
    /// pooled app opened none. A counter reset counts from the reset.
    #[test]
    fn churn_names_the_account_that_connects_per_request() {
        let mut w = Window::new(Duration::from_secs(60));
        for t in 0..=20u64 {
            let mut s = sample(t, 10, 45);
            s.accounts = vec![
                AccountConnections {
                    user: "report".into(),
                    host: Some("10.0.0.9".into()),
                    total: if t < 10 { 500 + 25 * t } else { 25 * (t - 10) },
                    current: t % 3,
                    denied: None,
                },
                AccountConnections {
                    user: "kefu".into(),
                    host: Some("10.0.0.7".into()),
                    total: 45,
                    current: 45,
                    denied: None,
                },
            ];
            w.push(s);
        }
        let churn = w.peaks(at(20)).churn;
        assert_eq!(churn[0].account(), "report@10.0.0.9");
        // 9 steps of 25, the reset step (0 after 725: counted from 0), 10 steps of 25.
        assert_eq!(churn[0].opened, 475);
        assert_eq!(churn[0].per_second, 475.0 / 20.0);
        assert_eq!(churn[0].open_max, 2);
        assert_eq!((churn[1].user.as_str(), churn[1].opened), ("kefu", 0));
    }

    #[test]
    fn samples_travel_as_json_with_unix_times() {
        let s = sample(5, 45, 45);
        let text = serde_json::to_string(&s).unwrap();
        assert!(text.contains("\"at\":1700000005.0"), "{text}");
        let back: Sample = serde_json::from_str(&text).unwrap();
        assert_eq!(back, s);
    }
}
