//! Pure functions from snapshot rows to the numbers the metrics and reports show.

pub mod cap;
pub mod host;
pub mod kill;
pub mod peaks;
pub mod pools;
pub mod processlist;
pub mod sessions;
pub mod verdict;
pub mod waits;

pub use sessions::{classify, AgeHistogram, SessionState, SessionStats};

use crate::snapshot::{parse_status_value, Snapshot};

/// `Threads_connected`, `max_connections` and their ratio: how full the server is. `None`
/// when either is unknown or `max_connections` is 0.
pub fn connection_ratio(snap: &Snapshot) -> Option<(u64, u64, f64)> {
    let used = snap
        .status("Threads_connected")
        .and_then(parse_status_value)?;
    let max = snap
        .variable("max_connections")
        .and_then(parse_status_value)
        .filter(|m| *m > 0.0)?;
    Some((used as u64, max as u64, used / max))
}
