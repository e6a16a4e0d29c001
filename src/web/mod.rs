//! The exporter's HTTP side: the server and its routes (`/metrics`, `/probe`, `/-/healthy`,
//! `/-/ready`, `/`), the runtime that collects from the targets for them (one in-flight
//! collection per target, readiness, problems logged once), the status page, and
//! `--web.config.file`.

mod client;
pub mod config;
mod exporter;
mod fleet_page;
mod history;
mod http;
mod listen;
mod memory;
mod status_page;

pub use client::fetch_window;
pub use config::WebConfig;
pub use exporter::{
    Exporter, SamplerSettings, TargetState, DEFAULT_SCRAPE_TIMEOUT, PAGE_MAX_AGE, PAGE_SOURCES,
};
pub use http::{probe_target, scrape_deadline, serve, Routes, SAMPLES_PATH, TIMEOUT_OFFSET};
pub use listen::{bind, bind_all, systemd_sockets};
