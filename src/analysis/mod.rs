//! Pure functions from snapshot rows to the numbers the metrics and reports show.

pub mod cap;
pub mod host;
pub mod pools;
pub mod processlist;
pub mod report;
pub mod sessions;

pub use sessions::{classify, AgeHistogram, SessionState, SessionStats};
