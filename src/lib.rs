//! mysql_pool_exporter: sees MySQL/MariaDB connection-pool exhaustion coming and says why.
//!
//! Data flows one way (DESIGN.md): [`target`] (one persistent connection per server) →
//! [`snapshot`] (raw rows of one scrape) → [`analysis`] (pure functions) → [`expose`]
//! (OpenMetrics, HTTP). [`collect`] holds the collectors that tie a query to its metrics.

pub mod analysis;
pub mod cli;
pub mod collect;
pub mod config;
pub mod expose;
pub mod logging;
pub mod snapshot;
pub mod target;
