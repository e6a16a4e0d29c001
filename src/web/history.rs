//! The recent past of each target's pools, for the status page's chart: kept from the
//! exporter's own collections, at most one point per [`HISTORY_STEP`], none older than
//! [`HISTORY_SPAN`] (240 points a pool).

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, SystemTime};

use crate::analysis::pools::PoolStats;

/// How far back the status page's charts go, and how often they keep a point.
pub const HISTORY_SPAN: Duration = Duration::from_secs(3600);
pub const HISTORY_STEP: Duration = Duration::from_secs(15);

/// One moment of a pool, for the status page's chart.
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
    /// Adds the pools' numbers of a collection taken `at`, unless the last point is younger
    /// than a step. Pools that could not be judged add nothing.
    pub fn record(&mut self, at: SystemTime, stats: &[PoolStats]) {
        for p in stats.iter().filter(|p| p.unknown.is_none()) {
            let points = self.pools.entry(p.name.clone()).or_default();
            let due = points
                .back()
                .is_none_or(|last| at.duration_since(last.at).is_ok_and(|d| d >= HISTORY_STEP));
            if due {
                points.push_back(PoolPoint {
                    at,
                    held: p.held(),
                    open: p.open(),
                });
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
    use crate::analysis::SessionStats;
    use crate::config::IdleSessions;
    use crate::snapshot::ThreadGroup;

    #[test]
    fn history_keeps_one_point_a_step_for_an_hour() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut h = PoolHistory::default();
        for i in 0..2000u64 {
            let groups = [
                ThreadGroup::uniform(
                    "kefu",
                    "h",
                    None,
                    "Sleep",
                    "",
                    Some(("RUNNING", 9)),
                    i % 7,
                    1,
                ),
                ThreadGroup::uniform("kefu", "h", None, "Sleep", "", None, 3, 1),
            ];
            let stats = PoolStats {
                name: "web".into(),
                capacity: 10,
                process_capacity: 10,
                idle_sessions: IdleSessions::Parked,
                sessions: SessionStats::from_groups(&groups),
                unknown: None,
            };
            h.record(start + Duration::from_secs(i * 5), &[stats]);
        }
        // Collections every 5 s, a point every 15 s (every third), the last hour only.
        let points = &h.pools["web"];
        assert_eq!(points.len(), 240);
        let last = points.back().unwrap();
        assert_eq!(last.at, start + Duration::from_secs(1998 * 5));
        assert_eq!((last.held, last.open), (1998 % 7, 1998 % 7 + 3));
        let kept = last.at.duration_since(points.front().unwrap().at).unwrap();
        assert!(
            kept < HISTORY_SPAN && kept >= HISTORY_SPAN - HISTORY_STEP,
            "{kept:?}"
        );
    }
}
