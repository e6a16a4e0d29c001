//! Exposition: metric families onto the OpenMetrics encoder, and the HTTP server.

mod families;
pub mod http;
#[cfg(test)]
pub mod om;
mod status_page;
pub mod web_config;

pub use families::{merge_targets, write as write_families, Families, Family, Labels};

/// The content type prometheus-client's text encoder produces.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
