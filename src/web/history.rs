//! The recent past of each target's pools, for the status page's chart: kept from the
//! sampler's samples (and the scrapes'), one point per [`HISTORY_STEP`] holding the most the
//! step saw, so a burst of a few seconds stays on the chart; none older than [`HISTORY_SPAN`]
//! (360 points a pool).

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, SystemTime};

use crate::analysis::peaks::Sample;

/// How far back the status page's charts go, and how often they keep a point.
pub const HISTORY_SPAN: Duration = Duration::from_secs(3600);
pub const HISTORY_STEP: Duration = Duration::from_secs(10);

/// One step of a pool, for the status page's chart: the most held and open in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolPoint {
    pub at: SystemTime,
    pub held: u64,
    pub open: u64,
}

#[derive(Debug, Default)]
pub struct PoolHistory {
    pub pools: BTreeMap<String, VecDeque<PoolPoint>>,
}

impl PoolHistory {
    /// Adds a sample's pools: to the last point while it is younger than a step (keeping
    /// the most held and open), else as a new point.
    pub fn record(&mut self, sample: &Sample) {
        let at = sample.at;
        for p in &sample.pools {
            let points = self.pools.entry(p.name.clone()).or_default();
            match points.back_mut() {
                Some(last) if at.duration_since(last.at).is_ok_and(|d| d < HISTORY_STEP) => {
                    last.held = last.held.max(p.held);
                    last.open = last.open.max(p.open);
                }
                _ => points.push_back(PoolPoint {
                    at,
                    held: p.held,
                    open: p.open,
                }),
            }
            while points
                .front()
                .is_some_and(|f| at.duration_since(f.at).is_ok_and(|d| d > HISTORY_SPAN))
            {
                points.pop_front();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at: SystemTime, held: u64) -> Sample {
        Sample::recorded(at, "web", held, held + 3, 10)
    }

    #[test]
    fn history_keeps_the_most_of_each_step_for_an_hour() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut h = PoolHistory::default();
        // A sample a second for 2 hours; 10 held during one second of each minute.
        for i in 0..7200u64 {
            let held = if i % 60 == 33 { 10 } else { i % 7 };
            h.record(&sample(start + Duration::from_secs(i), held));
        }
        let points = &h.pools["web"];
        assert_eq!(points.len(), 360);
        // Every step keeps its most: the burst second is in the point of its step.
        let burst = points
            .iter()
            .find(|p| p.at.duration_since(start).unwrap().as_secs() % 60 == 30)
            .unwrap();
        assert_eq!((burst.held, burst.open), (10, 13));
        let kept = points
            .back()
            .unwrap()
            .at
            .duration_since(points.front().unwrap().at)
            .unwrap();
        assert!(
            kept <= HISTORY_SPAN && kept >= HISTORY_SPAN - HISTORY_STEP,
            "{kept:?}"
        );
    }
}
