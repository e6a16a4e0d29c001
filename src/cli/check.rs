//! `mysql_pool_exporter check`: a one-shot verdict as a Nagios plugin gives it. The first
//! line is the verdict with performance data after `|`; the details follow; the exit code is
//! 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. `--format json` carries the same findings.

use std::fmt::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::analysis::pools::plan;
use crate::analysis::report::{
    headline, overall, perfdata, target_report, Cause, Culprit, Finding, TargetReport,
    REPORT_SOURCES,
};
use crate::config::{Config, Thresholds};
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
                "exit_code": status as u8,
                "headline": headline(&reports),
                "perfdata": perfdata(&reports, &config.thresholds),
                "targets": reports,
            });
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        Format::Text => print!("{}", render(&reports, &config.thresholds)),
    }
    ExitCode::from(status as u8)
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

fn bar(ratio: f64, width: usize) -> String {
    let filled = ((ratio.clamp(0.0, 1.0)) * width as f64).round() as usize;
    format!("[{}{}]", "#".repeat(filled), ".".repeat(width - filled))
}

fn culprit_line(c: &Culprit) -> String {
    let s = &c.session;
    let mut line = format!(
        "id {:<8} {}@{} db={} {} {}s",
        s.id,
        s.user,
        s.host,
        s.db.as_deref().unwrap_or("-"),
        s.state.label(),
        s.age_seconds
    );
    if let Some(n) = c.blocks {
        let _ = write!(
            line,
            ", blocks {n} session(s), {} rows locked",
            s.trx_rows_locked
        );
    }
    if let Some(t) = &s.trx_started {
        let _ = write!(line, " trx since {t}");
    }
    if let Some(q) = &s.last_query {
        let _ = write!(line, " last: {q}");
    }
    line
}

fn finding_lines(o: &mut String, f: &Finding) {
    let _ = writeln!(
        o,
        "  {}: {}{}{}",
        f.status.label(),
        f.pool
            .as_deref()
            .map(|p| format!("pool {p}: "))
            .unwrap_or_default(),
        if f.cause == Cause::Unknown {
            String::new()
        } else {
            format!("{}: ", f.cause.label())
        },
        f.summary
    );
    for c in &f.culprits {
        let _ = writeln!(o, "    {}", culprit_line(c));
    }
    if !f.more_ids.is_empty() {
        let shown: Vec<String> = f.more_ids.iter().take(20).map(u64::to_string).collect();
        let _ = writeln!(
            o,
            "    and ids {}{}",
            shown.join(","),
            if f.more_ids.len() > 20 { ",…" } else { "" }
        );
    }
}

/// The whole text: the verdict line with performance data, then per target the server,
/// the pools and every finding with its culprits.
pub fn render(reports: &[TargetReport], t: &Thresholds) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{} | {}", headline(reports), perfdata(reports, t));
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
            if let Some(why) = &p.unknown {
                let _ = writeln!(o, "  pool {:<20} unknown: {why}", p.pool);
                continue;
            }
            let _ = writeln!(
                o,
                "  pool {:<20} {} {}/{} held ({:.0}%), {} open  {}",
                p.pool,
                bar(p.utilization, 30),
                p.held,
                p.capacity,
                p.utilization * 100.0,
                p.open,
                p.by_state
                    .iter()
                    .map(|(k, v)| format!("{}={v}", k.label()))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
        for f in &r.findings {
            finding_lines(&mut o, f);
        }
        for b in &r.root_blockers {
            let _ = writeln!(o, "  root blocker: {}", culprit_line(b));
        }
    }
    o
}
