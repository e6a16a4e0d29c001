//! mysql_pool_exporter: sees MySQL/MariaDB connection-pool exhaustion coming and says why.
//!
//! Data flows one way (ARCHITECTURE.md): [`db`] (one persistent connection per server, the
//! queries) fills a [`snapshot`] (plain rows) → [`analysis`] (pure functions) → [`collect`]
//! (metric families) → [`web`] (HTTP). [`cli`] ties them into commands.
//!
//! Modules depend only on modules before them in this list, and a test
//! (`tests/layers.rs`) keeps it so: `build_info`, `config`, `snapshot`, `analysis`, `collect`, `db`,
//! `web`, `cli`.

pub mod analysis;
pub mod build_info;
pub mod cli;
pub mod collect;
pub mod config;
pub mod db;
pub mod snapshot;
pub mod web;
