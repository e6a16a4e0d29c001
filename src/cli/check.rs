//! `mysql_pool_exporter check`: a one-shot verdict as a Nagios plugin gives it. The first
//! line is the verdict with performance data after `|`; the details follow; the exit code is
//! 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. `--format json` carries the same findings.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::analysis::pools::plan;
use crate::analysis::verdict::nagios::{headline, perfdata, render};
use crate::analysis::verdict::{overall, target_report, TargetReport, REPORT_SOURCES};
use crate::config::Config;
use crate::db::Database;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

pub fn run(
    config: Config,
    format: Format,
    timeout: Duration,
    runtime: &tokio::runtime::Runtime,
) -> ExitCode {
    let reports = runtime.block_on(collect(&config, timeout));
    let status = overall(&reports);
    match format {
        Format::Json => {
            let doc = serde_json::json!({
                "status": status,
                "exit_code": status.exit_code(),
                "headline": headline(&reports),
                "perfdata": perfdata(&reports, &config.thresholds),
                "targets": reports,
            });
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        Format::Text => print!("{}", render(&reports, &config.thresholds)),
    }
    ExitCode::from(status.exit_code())
}

/// Reads every target concurrently, each with its own connection and deadline.
pub async fn collect(config: &Config, timeout: Duration) -> Vec<TargetReport> {
    let deadline = Instant::now() + timeout;
    let futures = config.targets.iter().map(|t| async move {
        let pools = config.pools_for(&t.name);
        let db = Database::new(t.clone(), plan(&pools));
        let snap = db.snapshot(&REPORT_SOURCES, deadline).await;
        db.disconnect().await;
        target_report(&t.name, &snap, &pools, &config.thresholds)
    });
    futures::future::join_all(futures).await
}
