//! The exporter's main job: serve metrics until SIGTERM/SIGINT.

use std::process::ExitCode;
use std::sync::Arc;

use super::{load_config, GlobalArgs};
use crate::collect::{Collector, Exporter};
use crate::expose::http;
use crate::expose::web_config::{self, WebConfig};

pub fn run(global: &GlobalArgs, collectors: Vec<Box<dyn Collector>>) -> ExitCode {
    let config = match load_config(global) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let web = match &global.web_config_file {
        Some(file) => match web_config::load(file) {
            Ok(w) => w,
            Err(e) => {
                tracing::error!("{e}");
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => WebConfig::none(),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let listener = match http::bind(&global.listen_address).await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("{e}");
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        let names: Vec<&str> = collectors.iter().map(|c| c.name()).collect();
        tracing::info!(
            address = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            targets = config.targets.len(),
            pools = config.pools.len(),
            collectors = %names.join(","),
            web = %web.summary(),
            "listening"
        );
        let exporter = Arc::new(Exporter::new(config, collectors));
        // Connect now, not at the first scrape: /-/ready turns true as soon as a target
        // answers, and a wrong DSN or password is in the log at start-up.
        for state in exporter.targets.clone() {
            let exporter = Arc::clone(&exporter);
            tokio::spawn(async move {
                let deadline = std::time::Instant::now() + http::DEFAULT_SCRAPE_TIMEOUT;
                exporter.collect(&state, deadline).await;
            });
        }
        let result = http::serve_with(
            listener,
            Arc::clone(&exporter),
            Arc::new(web),
            shutdown_signal(),
        )
        .await;
        for t in &exporter.targets {
            t.target.disconnect().await;
        }
        match result {
            Ok(()) => {
                tracing::info!("shut down");
                ExitCode::SUCCESS
            }
            Err(e) => {
                tracing::error!(error = %e, "server failed");
                ExitCode::FAILURE
            }
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
