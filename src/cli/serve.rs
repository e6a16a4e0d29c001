//! The exporter's main job: serve metrics until SIGTERM/SIGINT.

use std::sync::Arc;
use std::time::Duration;

use super::GlobalArgs;
use crate::collect::Collector;
use crate::config::Config;
use crate::snapshot::Source;
use crate::web::{self, Exporter, SamplerSettings, WebConfig};

/// Serves until SIGTERM/SIGINT; an error is what kept it from starting or serving.
pub fn run(
    global: &GlobalArgs,
    config: Config,
    collectors: Vec<Box<dyn Collector>>,
    intervals: Vec<(Source, Duration)>,
    runtime: &tokio::runtime::Runtime,
) -> Result<(), String> {
    let web_config = match &global.web_config_file {
        Some(file) => web::config::load(file).map_err(|e| e.to_string())?,
        None => WebConfig::none(),
    };
    let routes = web::Routes::new(&global.telemetry_path)?;
    runtime.block_on(async move {
        let listeners = if global.systemd_socket {
            web::systemd_sockets()?
        } else {
            web::bind_all(&global.listen_address)
                .await
                .map_err(|e| with_socket_hint(e, passed_sockets()))?
        };
        let addresses: Vec<String> = listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .map(|a| a.to_string())
            .collect();
        let names: Vec<&str> = collectors.iter().map(|c| c.name()).collect();
        tracing::info!(
            address = %addresses.join(","),
            telemetry_path = %routes.telemetry_path,
            targets = config.targets.len(),
            pools = config.pools.len(),
            collectors = %names.join(","),
            web = %web_config.summary(),
            sockets = if global.systemd_socket { "from systemd" } else { "bound" },
            "listening"
        );
        let asked = SamplerSettings {
            interval: global.sampler_interval,
            window: global.sampler_window.max(global.sampler_interval * 2),
        };
        let sampler = asked.for_fleet(config.targets.len(), global.sampler_max_rate);
        if sampler.interval > asked.interval {
            tracing::info!(
                targets = config.targets.len(),
                every_s = sampler.interval.as_secs_f64(),
                window_s = sampler.window.as_secs_f64(),
                "sampling each target every {:.1}s, not every {}s: --sampler.max-rate {} samples a second over all targets; a burst shorter than that may be missed between scrapes",
                sampler.interval.as_secs_f64(),
                asked.interval.as_secs_f64(),
                global.sampler_max_rate
            );
        }
        let exporter = Arc::new(Exporter::new(config, collectors, intervals, sampler));
        // Connect now, not at the first scrape: /-/ready turns true as soon as a target
        // answers, and a wrong DSN or password is in the log at start-up.
        exporter.connect_all();
        exporter.start_samplers();
        let result = web::serve(
            listeners,
            Arc::clone(&exporter),
            Arc::new(web_config),
            routes,
            shutdown_signal(),
        )
        .await;
        exporter.disconnect_all().await;
        match result {
            Ok(()) => {
                tracing::info!("shut down");
                Ok(())
            }
            Err(e) => Err(format!("the HTTP server failed: {e}")),
        }
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    tracing::info!("shutdown signal received");
}

/// Whether systemd handed this process sockets (a .socket unit started it).
fn passed_sockets() -> bool {
    std::env::var("LISTEN_PID").is_ok_and(|pid| pid == std::process::id().to_string())
}

/// A bind that failed while systemd holds the port for us (the packaged unit without
/// --web.systemd-socket) says how to take the socket instead.
fn with_socket_hint(e: String, passed: bool) -> String {
    if passed {
        format!(
            "{e}; systemd passed this process its sockets (a .socket unit holds the port): \
             add --web.systemd-socket instead of --web.listen-address"
        )
    } else {
        e
    }
}
