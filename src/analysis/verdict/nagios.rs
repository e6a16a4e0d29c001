//! The verdict as a Nagios plugin prints it: the first line (status, the worst finding, the
//! sessions to look at), performance data after `|`, then the details. Formats findings;
//! judges nothing.

use std::fmt::Write;

use super::{overall, Cause, Culprit, Finding, Status, TargetReport};
use crate::analysis::sessions::SessionState;
use crate::config::Thresholds;

/// The first line of `check` (and the status page's heading), as the Nagios plugin
/// guidelines want it: `MYSQL POOL CRITICAL - kefu-flask: leak, 45 sessions idle in
/// transaction (oldest 96s), 45/45 held; look at 12, 13, 14, 15, 16 and 40 more`.
pub fn headline(reports: &[TargetReport]) -> String {
    let status = overall(reports);
    let worst = reports
        .iter()
        .filter(|r| r.status == status)
        .find_map(|r| r.findings.first().map(|f| (r, f)));
    let text = match worst {
        Some((r, f)) if f.status != Status::Ok => finding_text(r, f, reports.len() > 1),
        _ => all_well(reports),
    };
    // One line, and `|` starts the performance data: neither may come from a message.
    let text: String = text
        .chars()
        .map(|c| match c {
            '|' => '/',
            '\n' | '\r' => ' ',
            c => c,
        })
        .collect();
    format!("MYSQL POOL {} - {}", status.label(), text)
}

/// `kefu-flask: leak, …; look at 5, 6 and 3 more` (the target's name first when several).
fn finding_text(r: &TargetReport, f: &Finding, several: bool) -> String {
    let subject = match (&f.pool, several) {
        (Some(p), true) => format!("{}/{p}", r.target),
        (Some(p), false) => p.clone(),
        (None, _) => r.target.clone(),
    };
    // A chain's summary starts with its lock ("metadata lock on appdb.t, …"): that is its
    // cause, said more precisely than "lock chain".
    let mut line = match f.cause {
        Cause::Unknown | Cause::LockChain => format!("{subject}: {}", f.summary),
        c => format!("{subject}: {}, {}", c.label(), f.summary),
    };
    let ids: Vec<String> = f
        .culprits
        .iter()
        .map(|c| c.session.id.to_string())
        .collect();
    if !ids.is_empty() && f.cause != Cause::LockChain {
        let _ = write!(line, "; look at {}", ids.join(", "));
        if !f.more_ids.is_empty() {
            let _ = write!(line, " and {} more", f.more_ids.len());
        }
    }
    line
}

/// Nothing wrong: each pool's and server's numbers.
fn all_well(reports: &[TargetReport]) -> String {
    let mut parts: Vec<String> = reports
        .iter()
        .flat_map(|r| r.pools.iter())
        .map(|p| format!("{} {}/{} held", p.pool, p.held, p.capacity))
        .collect();
    parts.extend(reports.iter().filter_map(|r| {
        Some(format!(
            "{} {}/{} connections",
            r.target, r.connections?, r.max_connections?
        ))
    }));
    if parts.is_empty() {
        "nothing to report".into()
    } else {
        parts.join(", ")
    }
}

/// Nagios performance data: per pool `held`, `open`, `capacity`, `idle_in_transaction` and
/// the oldest idle transaction; per server `connections` and `max_connections`. Warning and
/// critical levels where thresholds apply.
pub fn perfdata(reports: &[TargetReport], t: &Thresholds) -> String {
    let several = reports.len() > 1;
    let mut out = Vec::new();
    let num = |v: f64| {
        if v.fract() == 0.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.2}")
        }
    };
    for r in reports {
        let prefix = if several {
            format!("{}.", r.target)
        } else {
            String::new()
        };
        for p in r.pools.iter().filter(|p| p.unknown.is_none()) {
            let cap = p.capacity as f64;
            let name = format!("{prefix}{}", p.pool);
            let levels = t.pool_utilization;
            out.push(format!(
                "'{name}_held'={};{};{};0;{}",
                p.held,
                num(cap * levels.warning),
                num(cap * levels.critical),
                p.capacity
            ));
            out.push(format!("'{name}_open'={};;;0;{}", p.open, p.capacity));
            out.push(format!("'{name}_capacity'={}", p.capacity));
            let idle_trx = p.by_state.get(&SessionState::IdleInTransaction);
            out.push(format!(
                "'{name}_idle_in_transaction'={};;;0;{}",
                idle_trx.copied().unwrap_or(0),
                p.capacity
            ));
            out.push(format!(
                "'{name}_oldest_idle_transaction'={}s;{};;0",
                p.oldest_idle_transaction_seconds,
                t.idle_in_transaction.as_secs()
            ));
        }
        if let (Some(c), Some(m)) = (r.connections, r.max_connections) {
            let max = m as f64;
            out.push(format!(
                "'{prefix}connections'={c};{};{};0;{m}",
                num(max * t.connections.warning),
                num(max * t.connections.critical)
            ));
            out.push(format!("'{prefix}max_connections'={m}"));
        }
    }
    out.join(" ")
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
    let pool = f
        .pool
        .as_deref()
        .map(|p| format!("pool {p}: "))
        .unwrap_or_default();
    let cause = match f.cause {
        Cause::Unknown => String::new(),
        c => format!("{}: ", c.label()),
    };
    let _ = writeln!(o, "  {}: {pool}{cause}{}", f.status.label(), f.summary);
    for c in &f.culprits {
        let _ = writeln!(o, "    {}", culprit_line(c));
    }
    if !f.more_ids.is_empty() {
        let shown: Vec<String> = f.more_ids.iter().take(20).map(u64::to_string).collect();
        let more = if f.more_ids.len() > 20 { ",…" } else { "" };
        let _ = writeln!(o, "    and ids {}{more}", shown.join(","));
    }
}

/// The whole text: the verdict line with performance data, then per target the server,
/// the pools and every finding with its culprits.
pub fn render(reports: &[TargetReport], t: &Thresholds) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{} | {}", headline(reports), perfdata(reports, t));
    for r in reports {
        let version = r.version.as_deref().unwrap_or("not reachable");
        let _ = writeln!(o, "target {} ({version})", r.target);
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
            let states: Vec<String> = p
                .by_state
                .iter()
                .map(|(k, v)| format!("{}={v}", k.label()))
                .collect();
            let _ = writeln!(
                o,
                "  pool {:<20} {} {}/{} held ({:.0}%), {} open  {}",
                p.pool,
                bar(p.utilization, 30),
                p.held,
                p.capacity,
                p.utilization * 100.0,
                p.open,
                states.join(" ")
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
