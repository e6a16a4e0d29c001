//! What happened between the scrapes, from the sampler's window ([`Peaks`]): a pool that
//! reached its capacity and is below it now, an account that connects per request, logins
//! the server refused. A one-shot snapshot cannot see any of these; without a window these
//! findings are simply not made (never guessed).

use super::facts::{plural, Facts};
use super::{Cause, Finding, Status};
use crate::analysis::peaks::Peaks;
use crate::config::Thresholds;

/// A churn rate is judged over at least this much of the window (seconds): two samples a
/// second apart say little.
const CHURN_MIN_SPAN: f64 = 3.0;

pub(super) fn findings(facts: &Facts, peaks: &Peaks, t: &Thresholds, out: &mut Vec<Finding>) {
    full_between_scrapes(facts, peaks, t, out);
    churn(peaks, t, out);
    refused(peaks, out);
}

/// A declared pool that reached its capacity within the window and is not at it now (when
/// it still is, the pool's own finding says so).
fn full_between_scrapes(facts: &Facts, peaks: &Peaks, t: &Thresholds, out: &mut Vec<Finding>) {
    for stats in facts.stats.iter().filter(|s| s.unknown.is_none()) {
        let Some(spell) = peaks.pool(&stats.name).and_then(|p| p.full) else {
            continue;
        };
        if Status::of_ratio(stats.utilization(), t.pool_utilization) == Status::Critical {
            continue;
        }
        let ago = peaks
            .at
            .duration_since(spell.last_at)
            .unwrap_or_default()
            .as_secs();
        let summary = format!(
            "hit {cap}/{cap} held {ago}s ago for {lasted}s (now {held}/{cap}; sampled every {step}s over the last {span}s): requests waited for a connection, and those that waited past the app's pool_timeout failed with \"QueuePool limit ... reached\"",
            cap = stats.capacity,
            lasted = spell.lasted.as_secs().max(1),
            held = stats.held(),
            step = secs(peaks.step.as_secs_f64()),
            span = peaks.span.as_secs(),
        );
        out.push(Finding::plain(
            Status::Warning,
            Cause::Burst,
            Some(&stats.name),
            summary,
        ));
    }
}

fn churn(peaks: &Peaks, t: &Thresholds, out: &mut Vec<Finding>) {
    if peaks.churn.is_empty() {
        // No per-account counts on this server: the global counter still says how fast
        // the server takes logins, though not whose.
        if let Some(rate) = peaks
            .connections_per_second
            .filter(|_| peaks.covered.as_secs_f64() >= CHURN_MIN_SPAN)
        {
            let status = Status::of_ratio(rate, t.connection_churn);
            if status != Status::Ok {
                let summary = format!(
                    "the server took {}/s logins over the last {}s (Connections), so some client connects per request; which one needs per-account counts: performance_schema on, or on MariaDB SET GLOBAL userstat=1",
                    secs(rate),
                    peaks.covered.as_secs(),
                );
                out.push(Finding::plain(status, Cause::Churn, None, summary));
            }
        }
        return;
    }
    for a in &peaks.churn {
        if a.over.as_secs_f64() < CHURN_MIN_SPAN {
            continue;
        }
        let status = Status::of_ratio(a.per_second, t.connection_churn);
        if status == Status::Ok {
            continue;
        }
        let summary = format!(
            "account {} opened {} connection{} in the last {}s ({}/s) and had at most {} open at once: it connects per request instead of keeping a pool (or recycles its pool too fast); every login costs the server a thread and an authentication",
            a.account(),
            a.opened,
            plural(a.opened as usize),
            a.over.as_secs(),
            secs(a.per_second),
            a.open_max,
        );
        out.push(Finding::plain(status, Cause::Churn, None, summary));
    }
}

/// Logins refused because the server was full, or (MariaDB's per-user statistics) refused
/// to one account.
fn refused(peaks: &Peaks, out: &mut Vec<Finding>) {
    if let Some(n) = peaks.refused.filter(|n| *n > 0) {
        let summary = format!(
            "the server refused {n} login{} in the last {}s because it was full (Connection_errors_max_connections): apps got \"Too many connections\"",
            plural(n as usize),
            peaks.covered.as_secs(),
        );
        out.push(Finding::plain(
            Status::Critical,
            Cause::Capacity,
            None,
            summary,
        ));
    }
    for a in &peaks.churn {
        if let Some(n) = a.denied.filter(|n| *n > 0) {
            let summary = format!(
                "account {} was refused {n} login{} in the last {}s (its max_user_connections, the server's max_connections, or a wrong password)",
                a.account(),
                plural(n as usize),
                a.over.as_secs(),
            );
            out.push(Finding::plain(
                Status::Warning,
                Cause::Capacity,
                None,
                summary,
            ));
        }
    }
}

/// A number of seconds or a rate as people write it: `1`, `2.5`.
fn secs(v: f64) -> String {
    if (v - v.round()).abs() < 0.05 {
        format!("{:.0}", v)
    } else {
        format!("{v:.1}")
    }
}
