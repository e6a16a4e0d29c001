//! `mysql_pool_exporter check`: a one-shot verdict as a Nagios plugin gives it. The first
//! line is the verdict with performance data after `|`; the details follow; the exit code is
//! 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. `--format json` carries the same findings.

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use crate::analysis::peaks::{Sample, Window, SAMPLE_SOURCES};
use crate::analysis::pools::plan;
use crate::analysis::verdict::nagios::{headline, perfdata, render};
use crate::analysis::verdict::{
    overall, target_report, Cause, Finding, Status, TargetReport, REPORT_SOURCES,
};
use crate::config::Config;
use crate::db::Database;

/// Where `check` learns what happened between the scrapes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recent {
    /// Nowhere: one snapshot.
    None,
    /// A running exporter's window (`--exporter URL`).
    Exporter(String),
    /// Its own samples, one a second for this long (`--sample-for`).
    SampleFor(Duration),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

pub fn run(
    config: Config,
    format: Format,
    timeout: Duration,
    recent: Recent,
    runtime: &tokio::runtime::Runtime,
) -> ExitCode {
    let reports = runtime.block_on(collect(&config, timeout, &recent));
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

/// Reads every target concurrently, each with its own connection and deadline (which
/// `--sample-for` extends by its own length).
pub async fn collect(config: &Config, timeout: Duration, recent: &Recent) -> Vec<TargetReport> {
    let sampling = match recent {
        Recent::SampleFor(d) => *d,
        _ => Duration::ZERO,
    };
    let deadline = Instant::now() + timeout + sampling;
    let futures = config.targets.iter().map(|t| async move {
        let pools = config.pools_for(&t.name);
        let db = Database::new(t.clone(), plan(&pools));
        let window = match recent {
            Recent::None => Ok(None),
            Recent::Exporter(url) => crate::web::fetch_window(url, &t.name, deadline)
                .await
                .map(Some),
            Recent::SampleFor(d) => Ok(Some(
                sample_for(&db, &pools, *d, deadline, config.limits.max_label_values).await,
            )),
        };
        let snap = db.snapshot(&REPORT_SOURCES, deadline).await;
        db.disconnect().await;
        let peaks = match &window {
            Ok(Some(w)) => Some(w.peaks(SystemTime::now())),
            _ => None,
        };
        let mut report = target_report(&t.name, &snap, &pools, &config.thresholds, peaks.as_ref());
        if let Err(why) = window {
            // The server's state now is still judged; only the window is missing.
            report.findings.push(Finding::plain(
                Status::Unknown,
                Cause::Unknown,
                None,
                format!("what happened between the scrapes is unknown: {why}"),
            ));
            report.status = report.status.max(Status::Unknown);
        }
        report
    });
    futures::future::join_all(futures).await
}

/// Samples one target every second for `length`, as the exporter's sampler does.
async fn sample_for(
    db: &Database,
    pools: &[crate::config::PoolConfig],
    length: Duration,
    deadline: Instant,
    max_apps: usize,
) -> Window {
    let mut window = Window::new(length.max(Duration::from_secs(1)));
    let end = Instant::now() + length;
    loop {
        let started = Instant::now();
        let snap = db.sample(&SAMPLE_SOURCES, deadline).await;
        if let Some(s) = Sample::read(&snap, pools, max_apps) {
            window.push(s);
        }
        // The last sample falls at `end`: a window of `length`, not a second short.
        let next = started + Duration::from_secs(1);
        if next > end + Duration::from_millis(500) || next > deadline {
            return window;
        }
        tokio::time::sleep_until(next.into()).await;
    }
}
