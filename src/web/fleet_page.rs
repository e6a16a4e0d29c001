//! `/` for a fleet: with more targets than [`DETAILED_TARGETS`], one row per target, worst
//! first, a page of [`ROWS_PER_PAGE`] at a time, each linking to its full status
//! (`/?target=NAME`). Built from what the exporter already has (each target's last
//! collection and the sampler's window): loading it queries no server, however many
//! targets there are. Pure, for the tests.

use std::time::Duration;

use maud::{html, Markup};

use super::status_page::{document, status_class};
use crate::analysis::peaks::Peaks;
use crate::analysis::verdict::Status;
use crate::config::Thresholds;

/// Up to this many targets, `/` shows each in full (each read anew, at most every 10 s).
pub const DETAILED_TARGETS: usize = 8;

/// Rows of the fleet table per page.
pub const ROWS_PER_PAGE: usize = 50;

/// What the exporter knows of one target without asking its server.
#[derive(Clone, Debug, Default)]
pub struct Glance {
    pub name: String,
    /// `None`: not collected since the exporter started.
    pub up: Option<bool>,
    /// Why it was down at its last collection.
    pub down_reason: Option<String>,
    /// How long ago its last collection was.
    pub age: Option<Duration>,
    /// Threads_connected and max_connections at its last collection.
    pub connections: Option<(u64, u64)>,
    /// Each declared pool: name, held sessions, capacity.
    pub pools: Vec<(String, u64, u64)>,
    /// The sampler's window, when it samples.
    pub peaks: Option<Peaks>,
}

/// How a target stands at a glance, and the one reason that decided it.
pub fn judge(g: &Glance, t: &Thresholds) -> (Status, String) {
    match g.up {
        None => return (Status::Unknown, "not collected yet".into()),
        Some(false) => {
            let why = g.down_reason.as_deref().unwrap_or("no answer");
            return (Status::Critical, format!("MySQL is not answering: {why}"));
        }
        Some(true) => {}
    }
    let mut worst = (Status::Ok, String::new());
    let mut consider = |status: Status, why: String| {
        if status > worst.0 {
            worst = (status, why);
        }
    };
    if let Some((used, max)) = g.connections.filter(|(_, max)| *max > 0) {
        let ratio = used as f64 / max as f64;
        consider(
            Status::of_ratio(ratio, t.connections),
            format!("{used}/{max} connections"),
        );
    }
    for (name, held, capacity) in g.pools.iter().filter(|p| p.2 > 0) {
        let ratio = *held as f64 / *capacity as f64;
        consider(
            Status::of_ratio(ratio, t.pool_utilization),
            format!("pool {name}: {held}/{capacity} held"),
        );
    }
    for p in g.peaks.iter().flat_map(|p| &p.pools) {
        if let Some(spell) = p.full.filter(|s| !s.ongoing) {
            let ago = g
                .peaks
                .as_ref()
                .and_then(|w| w.at.duration_since(spell.last_at).ok())
                .unwrap_or_default();
            consider(
                Status::Warning,
                format!(
                    "pool {}: full between scrapes, {}s ago",
                    p.name,
                    ago.as_secs()
                ),
            );
        }
    }
    worst
}

/// A fleet page's number: 1-based, and the pages there are.
pub fn pages(targets: usize) -> usize {
    targets.div_ceil(ROWS_PER_PAGE).max(1)
}

/// The fleet page `page` (1-based, within [`pages`]).
pub fn page(glances: &[Glance], t: &Thresholds, page: usize) -> Markup {
    let mut rows: Vec<(&Glance, Status, String)> = glances
        .iter()
        .map(|g| {
            let (status, why) = judge(g, t);
            (g, status, why)
        })
        .collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.name.cmp(&b.0.name)));
    let count = |s: Status| rows.iter().filter(|r| r.1 == s).count();
    let worst = rows.first().map_or(Status::Unknown, |r| r.1);
    let headline = format!(
        "{}: {} targets, {} critical, {} warning, {} unknown, {} ok",
        worst.label(),
        rows.len(),
        count(Status::Critical),
        count(Status::Warning),
        count(Status::Unknown),
        count(Status::Ok)
    );
    let last = pages(rows.len());
    let shown = rows
        .iter()
        .skip((page - 1) * ROWS_PER_PAGE)
        .take(ROWS_PER_PAGE);
    document(
        worst,
        &headline,
        html! {
            p.muted {
                "Worst first, from each target's last collection and the sampler's window \
                 (loading this page asks no server). A target's name opens its full status."
            }
            table #fleet {
                tr { th { "status" } th { "target" } th { "why" } th { "connections" } th { "last collected" } }
                @for (g, status, why) in shown {
                    tr class=(format!("row-{}", status_class(*status))) {
                        td { (status.label()) }
                        td { a href={ "/?target=" (g.name) } { (g.name) } }
                        td { (why) }
                        td { @if let Some((used, max)) = g.connections { (used) "/" (max) } }
                        td { @if let Some(age) = g.age { (age.as_secs()) "s ago" } @else { "never" } }
                    }
                }
            }
            p #pages {
                "Page " (page) " of " (last)
                @if page > 1 { " · " a href={ "/?page=" (page - 1) } { "previous" } }
                @if page < last { " · " a href={ "/?page=" (page + 1) } { "next" } }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glance(name: &str, up: Option<bool>, used: u64, held: u64) -> Glance {
        Glance {
            name: name.into(),
            up,
            down_reason: (up == Some(false)).then(|| "connection refused".into()),
            age: Some(Duration::from_secs(3)),
            connections: Some((used, 100)),
            pools: vec![("app".into(), held, 45)],
            peaks: None,
        }
    }

    #[test]
    fn each_target_is_judged_by_its_worst_number() {
        let t = Thresholds::default();
        let cases = [
            (glance("a", Some(true), 10, 5), Status::Ok, ""),
            (
                glance("b", Some(true), 10, 45),
                Status::Critical,
                "pool app: 45/45 held",
            ),
            (
                glance("c", Some(true), 99, 5),
                Status::Critical,
                "99/100 connections",
            ),
            (
                glance("d", Some(false), 0, 0),
                Status::Critical,
                "MySQL is not answering: connection refused",
            ),
            (
                glance("e", None, 0, 0),
                Status::Unknown,
                "not collected yet",
            ),
        ];
        for (g, status, why) in cases {
            assert_eq!(judge(&g, &t), (status, why.to_string()), "{}", g.name);
        }
    }

    /// 120 targets: the 7 critical and 3 unknown lead page 1 (critical first), the healthy
    /// follow by name; page 3 holds the last 20; the headline counts all.
    #[test]
    fn worst_first_fifty_a_page() {
        let t = Thresholds::default();
        let mut all: Vec<Glance> = (0..110)
            .map(|i| glance(&format!("ok-{i:03}"), Some(true), 1, 1))
            .collect();
        all.extend((0..7).map(|i| glance(&format!("z-down-{i}"), Some(false), 0, 0)));
        all.extend((0..3).map(|i| glance(&format!("new-{i}"), None, 0, 0)));
        let html = page(&all, &t, 1).into_string();
        assert!(html.contains("CRITICAL: 120 targets, 7 critical, 0 warning, 3 unknown, 110 ok"));
        let order: Vec<&str> = html
            .split("href=\"/?target=")
            .skip(1)
            .map(|s| s.split('"').next().unwrap())
            .collect();
        assert_eq!(order.len(), ROWS_PER_PAGE);
        assert!(
            order[..7].iter().all(|n| n.starts_with("z-down-")),
            "{order:?}"
        );
        assert!(
            order[7..10].iter().all(|n| n.starts_with("new-")),
            "{order:?}"
        );
        assert_eq!(order[10], "ok-000");
        assert!(html.contains("Page 1 of 3"));
        let third = page(&all, &t, 3).into_string();
        assert_eq!(third.matches("href=\"/?target=").count(), 20);
        assert!(third.contains("ok-109"));
        assert_eq!(pages(0), 1);
        assert_eq!(pages(100), 2);
    }
}
