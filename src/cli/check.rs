//! `mysql_pool_exporter check`: a one-shot report with Nagios exit codes.

use std::fmt::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::analysis::pools::plan;
use crate::analysis::report::{target_report, Status, TargetReport};
use crate::config::Config;
use crate::db::Database;
use crate::snapshot::Source;

/// What `check` reads: everything the report needs, session detail included.
pub const CHECK_SOURCES: [Source; 6] = [
    Source::GlobalStatus,
    Source::GlobalVariables,
    Source::Threads,
    Source::Sessions,
    Source::LockWaits,
    Source::AccountLimits,
];

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
    let status = reports
        .iter()
        .map(|r| r.status)
        .max()
        .unwrap_or(Status::Unknown);
    match format {
        Format::Json => {
            let doc = serde_json::json!({ "status": status, "exit_code": status as u8, "targets": reports });
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        Format::Text => print!("{}", render(&reports, status)),
    }
    ExitCode::from(status as u8)
}

/// Reads every target concurrently, each with its own connection and deadline.
pub async fn collect(config: &Config, timeout: Duration) -> Vec<TargetReport> {
    let deadline = Instant::now() + timeout;
    let futures = config.targets.iter().map(|t| async move {
        let pools = config.pools_for(&t.name);
        let db = Database::new(t.clone(), plan(&pools));
        let snap = db.snapshot(&CHECK_SOURCES, deadline).await;
        db.disconnect().await;
        target_report(&t.name, &snap, &pools, &config.thresholds)
    });
    futures::future::join_all(futures).await
}

fn bar(ratio: f64, width: usize) -> String {
    let filled = ((ratio.clamp(0.0, 1.0)) * width as f64).round() as usize;
    format!("[{}{}]", "#".repeat(filled), ".".repeat(width - filled))
}

pub fn render(reports: &[TargetReport], status: Status) -> String {
    let mut o = String::new();
    for r in reports {
        let _ = writeln!(
            o,
            "target {} ({})",
            r.target,
            r.version.as_deref().unwrap_or("not reachable")
        );
        if let Some(e) = &r.error {
            let _ = writeln!(o, "  error: {e}");
        }
        if let (Some(c), Some(m), Some(ratio)) =
            (r.connections, r.max_connections, r.connection_ratio)
        {
            let _ = writeln!(
                o,
                "  server connections {} {c}/{m} max_connections ({:.0}%)",
                bar(ratio, 30),
                ratio * 100.0
            );
        }
        for p in &r.pools {
            let _ = writeln!(
                o,
                "  pool {:<20} {} {}/{} ({:.0}%)  {}",
                p.pool,
                bar(p.utilization, 30),
                p.sessions,
                p.capacity,
                p.utilization * 100.0,
                p.by_state
                    .iter()
                    .map(|(k, v)| format!("{}={v}", k.label()))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            if p.oldest_idle_transaction_seconds > 0 {
                let _ = writeln!(
                    o,
                    "    oldest idle transaction: {}s",
                    p.oldest_idle_transaction_seconds
                );
            }
            for s in &p.worst {
                let _ = writeln!(
                    o,
                    "    id {:<8} {}@{} db={} {} {}s{}{}",
                    s.id,
                    s.user,
                    s.host,
                    s.db.as_deref().unwrap_or("-"),
                    s.state.label(),
                    s.age_seconds,
                    s.trx_started
                        .as_deref()
                        .map(|t| format!(" trx since {t}"))
                        .unwrap_or_default(),
                    s.last_query
                        .as_deref()
                        .map(|q| format!(" last: {q}"))
                        .unwrap_or_default()
                );
            }
        }
        for b in &r.blockers {
            let s = &b.session;
            let _ = writeln!(
                o,
                "  lock wait: session {} ({}@{}, {} {}s, {} rows locked) blocks {} session(s)",
                s.id,
                s.user,
                s.host,
                s.state.label(),
                s.age_seconds,
                s.trx_rows_locked,
                b.blocks
            );
        }
        for f in &r.findings {
            let _ = writeln!(o, "  {}: {}", f.status.label(), f.message);
        }
    }
    let worst = reports
        .iter()
        .flat_map(|r| r.findings.iter())
        .find(|f| f.status == status);
    let _ = match (status, worst) {
        (Status::Ok, _) => writeln!(
            o,
            "OK: every pool and the server are below their thresholds"
        ),
        (_, Some(f)) => writeln!(o, "{}: {}", f.status.label(), f.message),
        (_, None) => writeln!(o, "{}", status.label()),
    };
    o
}
