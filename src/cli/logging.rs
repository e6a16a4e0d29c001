//! Logging with tracing: logfmt (the Prometheus exporters' default) or JSON.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Logfmt,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    fn filter(self) -> LevelFilter {
        match self {
            LogLevel::Debug => LevelFilter::DEBUG,
            LogLevel::Info => LevelFilter::INFO,
            LogLevel::Warn => LevelFilter::WARN,
            LogLevel::Error => LevelFilter::ERROR,
        }
    }
}

/// Installs the global subscriber; logs go to stderr. Our crate logs at `level`, the
/// libraries below us only from `warn` up (mysql_async is chatty at info).
pub fn init(level: LogLevel, format: LogFormat) {
    // A fixed filter, not EnvFilter: the flag is the interface, and EnvFilter's directive
    // parser only added weight to every exporter's memory.
    let filter = Targets::new()
        .with_default(LevelFilter::WARN)
        .with_target("mysql_pool_exporter", level.filter());
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let registry = tracing_subscriber::registry();
    let result = match format {
        LogFormat::Json => registry
            .with(layer.json().flatten_event(true).with_filter(filter))
            .try_init(),
        LogFormat::Logfmt => registry
            .with(
                layer
                    .event_format(tracing_logfmt::EventsFormatter::default())
                    .with_filter(filter),
            )
            .try_init(),
    };
    // A second init (tests) keeps the first subscriber; nothing to report.
    let _ = result;
}
