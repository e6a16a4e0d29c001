//! `/`: a small server-rendered status page (no JavaScript, no external assets), from a
//! snapshot read at most every 10 s however often it is loaded (`Exporter::page_snapshot`).
//! maud escapes every value it interpolates, so text from the server or the config cannot
//! inject markup.

use std::time::{Duration, Instant};

use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::Exporter;
use crate::analysis::pools::{pool_stats, PoolStats};
use crate::analysis::report::view;
use crate::analysis::{connection_ratio, SessionState};
use crate::config::{PoolConfig, Thresholds};
use crate::snapshot::Snapshot;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:0.5em 0 1.5em}\
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}\
th{background:#f3f3f3}.bar{width:220px;height:14px;background:#e8e8e8;display:inline-block;vertical-align:middle}\
.fill{height:14px}.ok{background:#3a3}.warn{background:#e90}.crit{background:#d22}\
tr.crit td{background:#fde8e8}tr.warn td{background:#fff4df}.muted{color:#777}code{font-size:90%}";

/// One target as the page shows it.
pub struct PageTarget<'a> {
    pub name: &'a str,
    /// The DSN, password redacted.
    pub dsn: String,
    pub pools: &'a [PoolConfig],
    pub snapshot: &'a Snapshot,
}

pub async fn render(exporter: &Exporter) -> String {
    let mut snaps = Vec::with_capacity(exporter.targets.len());
    for state in &exporter.targets {
        let snap = exporter
            .page_snapshot(state, Instant::now() + Duration::from_secs(5))
            .await;
        snaps.push((state, snap));
    }
    let targets: Vec<PageTarget> = snaps
        .iter()
        .map(|(state, snap)| PageTarget {
            name: state.db.name(),
            dsn: state.db.config.dsn.to_string(),
            pools: &state.pools,
            snapshot: snap,
        })
        .collect();
    page(&targets, &exporter.config.thresholds).into_string()
}

/// The whole page; pure, for the tests.
pub fn page(targets: &[PageTarget], t: &Thresholds) -> Markup {
    html! {
        (DOCTYPE)
        html {
            head {
                meta charset="utf-8";
                title { "mysql_pool_exporter" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { "mysql_pool_exporter" }
                p {
                    a href="/metrics" { "Metrics" } " · "
                    a href="/-/healthy" { "Health" } " · "
                    a href="/-/ready" { "Readiness" }
                }
                @for target in targets { (one_target(target, t)) }
                p.muted { "Reload the page to refresh." }
            }
        }
    }
}

fn one_target(target: &PageTarget, t: &Thresholds) -> Markup {
    let snap = target.snapshot;
    html! {
        h2 { "Target " a href={ "/probe?target=" (target.name) } { (target.name) } }
        @match (&snap.server, &snap.down_reason) {
            (Some(info), _) => {
                p.muted { (target.dsn) " · " (info.version) }
                (connections(snap, t))
                (pools(target.pools, snap, t))
                (leaked(snap, t))
            }
            (None, why) => {
                p.muted { (target.dsn) }
                p.crit #down { "MySQL is not answering: " (why.as_deref().unwrap_or("unknown")) }
            }
        }
    }
}

fn class(ratio: f64, warn: f64, crit: f64) -> &'static str {
    if ratio >= crit {
        "crit"
    } else if ratio >= warn {
        "warn"
    } else {
        "ok"
    }
}

fn bar(ratio: f64, class: &str) -> Markup {
    let width = format!("display:block;width:{:.0}%", ratio.clamp(0.0, 1.0) * 100.0);
    html! { span.bar { span class={ "fill " (class) } style=(width) {} } }
}

fn connections(snap: &Snapshot, t: &Thresholds) -> Markup {
    let Some((used, max, r)) = connection_ratio(snap) else {
        return html! {};
    };
    html! {
        p #connections {
            "Connections " (bar(r, class(r, t.connections_warning, t.connections_critical)))
            " " (used) "/" (max) " max_connections (" (format!("{:.0}", r * 100.0)) "%)"
        }
    }
}

fn pools(pools: &[PoolConfig], snap: &Snapshot, t: &Thresholds) -> Markup {
    let Some(groups) = snap.threads.ok() else {
        return html! {};
    };
    if pools.is_empty() {
        return html! {
            p.muted { "No pools are configured (see " code { "pools:" } " in the config)." }
        };
    }
    let stats = pool_stats(pools, groups, &snap.connect_attributes());
    html! {
        table #pools {
            tr {
                th { "pool" } th { "utilization" } th { "sessions / capacity" }
                th { "active" } th { "lock_wait" } th { "idle" } th { "idle_in_transaction" }
                th { "oldest idle transaction" }
            }
            @for p in &stats { (pool_row(p, t)) }
        }
    }
}

fn pool_row(p: &PoolStats, t: &Thresholds) -> Markup {
    if let Some(why) = &p.unknown {
        return html! {
            tr data-pool=(p.name) { td { (p.name) } td.muted colspan="7" { "unknown: " (why) } }
        };
    }
    let u = p.utilization();
    let c = class(u, t.pool_utilization_warning, t.pool_utilization_critical);
    let count = |s| p.sessions.count(s);
    html! {
        tr class=(c) data-pool=(p.name) {
            td { (p.name) }
            td { (bar(u, c)) " " (format!("{:.0}", u * 100.0)) "%" }
            td { (p.sessions.total()) "/" (p.capacity) }
            td { (count(SessionState::Active)) }
            td { (count(SessionState::LockWait)) }
            td { (count(SessionState::Idle)) }
            td { (count(SessionState::IdleInTransaction)) }
            td { (p.sessions.histogram(SessionState::IdleInTransaction).max) "s" }
        }
    }
}

/// The oldest idle-in-transaction sessions; those past `thresholds.idle_in_transaction`
/// (the same limit `check` and the alert use) are marked as leaks.
fn leaked(snap: &Snapshot, t: &Thresholds) -> Markup {
    let Some(rows) = snap.oldest_idle_transactions.ok() else {
        return html! {};
    };
    let limit = t.idle_in_transaction.as_secs();
    if rows.is_empty() {
        return html! { p #leaks { "No session is idle in a transaction." } };
    }
    html! {
        h3 { "Oldest idle-in-transaction sessions (leaks: open longer than " (limit) "s)" }
        table #leaks {
            tr {
                th { "id" } th { "user@host" } th { "db" } th { "transaction age" } th { "since" }
                th { "rows locked" } th { "last statement" }
            }
            @for v in rows.iter().filter_map(view) {
                tr class=(if v.age_seconds > limit { "crit" } else { "ok" }) {
                    td { (v.id) }
                    td { (v.user) "@" (v.host) }
                    td { (v.db.as_deref().unwrap_or("-")) }
                    td { (v.age_seconds) "s" }
                    td { (v.trx_started.as_deref().unwrap_or("")) }
                    td { (v.trx_rows_locked) }
                    td { code { (v.last_query.as_deref().unwrap_or("")) } }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{Flavor, Outcome, ServerInfo, SessionRow};

    #[test]
    fn text_from_the_server_is_escaped() {
        let mut snap = Snapshot::up(ServerInfo::recorded(Flavor::MariaDb, "10.11<b>", 1));
        snap.oldest_idle_transactions = Outcome::Ok(vec![SessionRow {
            id: 7,
            user: "<script>alert(1)</script>".into(),
            host: "10.0.0.1:5".into(),
            command: "Sleep".into(),
            trx_state: Some("RUNNING".into()),
            trx_age: Some(400),
            info: Some("SELECT '\"&'".into()),
            ..SessionRow::default()
        }]);
        let targets = [PageTarget {
            name: "a&b",
            dsn: "mysql://u@h:3306".into(),
            pools: &[],
            snapshot: &snap,
        }];
        let html = page(&targets, &Thresholds::default()).into_string();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;@10.0.0.1"));
        assert!(html.contains("10.11&lt;b&gt;"));
        assert!(html.contains("SELECT '&quot;&amp;'"), "{html}");
        assert!(html.contains("href=\"/probe?target=a&amp;b\""), "{html}");
        // 400 s is past the default 30 s: marked as a leak.
        assert!(html.contains("<tr class=\"crit\"><td>7</td>"), "{html}");
    }

    #[test]
    fn bars_and_classes_follow_the_thresholds() {
        assert_eq!(class(1.0, 0.8, 1.0), "crit");
        assert_eq!(class(0.85, 0.8, 1.0), "warn");
        assert_eq!(class(0.2, 0.8, 1.0), "ok");
        assert!(bar(1.7, "crit").into_string().contains("width:100%"));
    }
}
