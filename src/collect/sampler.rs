//! Between the scrapes: the maxima of the last window, sampled every second by the
//! exporter's sampler (`--sampler.interval`, `--sampler.window`), so a pool full for a few
//! seconds between two scrapes shows. A max over a trailing window, never reset by a scrape:
//! two Prometheus servers scraping the same exporter read the same value.

use std::fmt;
use std::time::UNIX_EPOCH;

use super::{Collector, EncodeContext, Families, Labels};
use crate::snapshot::{Snapshot, Source};

#[derive(Debug)]
pub struct Sampler;

impl Collector for Sampler {
    fn name(&self) -> &'static str {
        "sampler"
    }
    fn help(&self) -> &'static str {
        "pools and server sessions sampled every second: maxima over a trailing window (off: no sampling between scrapes)"
    }
    /// Its numbers come from the sampler's window, not from the scrape's queries.
    fn sources(&self) -> &'static [Source] {
        &[]
    }

    fn encode(&self, _snap: &Snapshot, ctx: &EncodeContext, out: &mut Families) -> fmt::Result {
        let Some(sampler) = ctx.sampler else {
            return Ok(());
        };
        let one = |v: f64| [(Labels::new(), v)];
        out.gauge(
            "mysql_exporter_sampler_window_seconds",
            "The trailing window the _max series are taken over.",
            &one(sampler.window.as_secs_f64()),
        )?;
        out.gauge(
            "mysql_exporter_sampler_interval_seconds",
            "Time between two samples now: the configured interval, longer while the sampler backs off.",
            &one(sampler.interval.as_secs_f64()),
        )?;
        out.gauge(
            "mysql_exporter_sampler_duration_seconds",
            "How long the last sample took.",
            &one(sampler.last_duration.as_secs_f64()),
        )?;
        out.counter(
            "mysql_exporter_sampler_samples",
            "Samples taken since the exporter started.",
            &one(sampler.samples_total as f64),
        )?;
        let Some(peaks) = ctx.peaks.filter(|p| p.samples > 0) else {
            return Ok(());
        };
        out.gauge(
            "mysql_exporter_sampler_window_samples",
            "Samples in the window now: the sampler's and the scrapes'.",
            &one(peaks.samples as f64),
        )?;
        let per_pool = |f: &dyn Fn(&crate::analysis::peaks::PoolPeak) -> Option<f64>| {
            peaks
                .pools
                .iter()
                .filter_map(|p| Some((vec![("pool", p.name.clone())], f(p)?)))
                .collect::<Vec<_>>()
        };
        out.gauge(
            "mysql_pool_held_sessions_max",
            "Most sessions holding a slot of the app's pool in any sample of the window (see mysql_pool_held_sessions).",
            &per_pool(&|p| Some(p.held_max as f64)),
        )?;
        out.gauge(
            "mysql_pool_open_sessions_max",
            "Most open sessions of the pool in any sample of the window.",
            &per_pool(&|p| Some(p.open_max as f64)),
        )?;
        out.gauge(
            "mysql_pool_last_full_timestamp_seconds",
            "When a sample last found the pool at its capacity, within the window (absent: not full in the window).",
            &per_pool(&|p| {
                let at = p.full?.last_at.duration_since(UNIX_EPOCH).ok()?;
                Some(at.as_secs_f64())
            }),
        )?;
        out.gauge(
            "mysql_pool_full_seconds",
            "How long the pool's last spell at capacity within the window lasted, as the samples saw it.",
            &per_pool(&|p| Some(p.full?.lasted.as_secs_f64())),
        )?;
        let max = |v: Option<u64>| v.map(|v| [(Labels::new(), v as f64)]);
        if let Some(s) = max(peaks.threads_connected_max) {
            out.gauge(
                "mysql_threads_connected_max",
                "Most client connections (Threads_connected) in any sample of the window.",
                &s,
            )?;
        }
        if let Some(s) = max(peaks.threads_running_max) {
            out.gauge(
                "mysql_threads_running_max",
                "Most running threads (Threads_running) in any sample of the window.",
                &s,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::analysis::peaks::{Sample, SamplerStatus, Window};
    use crate::collect::om;
    use crate::collect::testing::{encode_view, recorded};

    #[test]
    fn the_maxima_of_the_window_are_exported_and_a_burst_survives_it() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut w = Window::new(Duration::from_secs(60));
        for t in 0..30 {
            let held = if (10..13).contains(&t) { 45 } else { 9 };
            let at = start + Duration::from_secs(t);
            w.push(Sample {
                threads_connected: Some(held + 3),
                threads_running: Some(1),
                ..Sample::recorded(at, "kefu-flask", held, held + 1, 45)
            });
        }
        let peaks = w.peaks(start + Duration::from_secs(29));
        let status = SamplerStatus {
            window: Duration::from_secs(60),
            interval: Duration::from_secs(1),
            last_duration: Duration::from_millis(3),
            samples_total: 30,
        };
        let text = encode_view(&Sampler, &recorded(), Some(&peaks), Some(&status));
        let s = om::parse(&text);
        let pool = [("pool", "kefu-flask")];
        assert_eq!(
            om::get(&s, "mysql_pool_held_sessions_max", &pool),
            Some(45.0)
        );
        assert_eq!(
            om::get(&s, "mysql_pool_open_sessions_max", &pool),
            Some(46.0)
        );
        assert_eq!(om::get(&s, "mysql_pool_full_seconds", &pool), Some(3.0));
        assert_eq!(
            om::get(&s, "mysql_pool_last_full_timestamp_seconds", &pool),
            Some(1_700_000_012.0)
        );
        assert_eq!(om::get(&s, "mysql_threads_connected_max", &[]), Some(48.0));
        assert_eq!(
            om::get(&s, "mysql_exporter_sampler_samples_total", &[]),
            Some(30.0)
        );
        // Off (no sampler): nothing at all.
        let off = encode_view(&Sampler, &recorded(), None, None);
        assert!(!off.contains("_max"), "{off}");
    }
}
