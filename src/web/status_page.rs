//! `/`: a small server-rendered status page (no JavaScript, no external assets). It leads
//! with the verdict `check` would print, then each target's findings, its pools with an
//! inline SVG chart of their held and open sessions over the last hour (kept from the
//! exporter's own collections), and the oldest idle-in-transaction sessions. The snapshot is
//! read at most every 10 s however often the page is loaded (`Exporter::page_snapshot`).
//! A fleet (more than a few targets) gets `fleet_page` instead, and this page per target.
//! maud escapes every value it interpolates, so text from the server or the config cannot
//! inject markup.

use std::collections::VecDeque;
use std::fmt::Write;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::history::{PoolPoint, HISTORY_SPAN};
use crate::analysis::peaks::Peaks;
use crate::analysis::pools::session_apps;
use crate::analysis::verdict::nagios::headline;
use crate::analysis::verdict::{
    overall, target_report, view, Finding, PoolReport, Status, TargetReport,
};
use crate::analysis::SessionState;
use crate::config::{PoolConfig, Thresholds};
use crate::snapshot::Snapshot;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:0.5em 0 1.5em}\
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}\
th{background:#f3f3f3}.bar{width:220px;height:14px;background:#e8e8e8;display:inline-block;vertical-align:middle}\
.fill{height:14px}.ok{background:#3a3}.warn{background:#e90}.crit{background:#d22}.unknown{background:#888}\
tr.row-crit td{background:#fde8e8}tr.row-warn td{background:#fff4df}tr.row-unknown td{background:#eee}\
.muted{color:#777}code{font-size:90%}\
#verdict{font-size:1.15em;font-weight:600;padding:0.6em 0.8em;border-radius:4px;color:#fff}\
li.finding{margin:0.3em 0}.chart{display:block}";

/// How many idle-in-transaction sessions the page lists.
const LEAKS_LISTED: usize = 20;

/// How many discovered apps the page lists (the rest as `other`).
const APPS_LISTED: usize = 20;

/// One target as the page shows it: owned, gathered by the exporter
/// (`Exporter::page_targets`), so this module renders and never reaches into the runtime.
pub struct PageTarget {
    pub name: String,
    /// The DSN, password redacted.
    pub dsn: String,
    pub pools: Vec<PoolConfig>,
    pub snapshot: Arc<Snapshot>,
    /// Each pool's recent past, oldest first.
    pub history: Vec<(String, VecDeque<PoolPoint>)>,
    /// What the sampler's window shows (`None`: sampler off).
    pub peaks: Option<Peaks>,
}

/// The whole page; pure, for the tests.
pub fn page(
    targets: &[PageTarget],
    t: &Thresholds,
    telemetry_path: &str,
    now: SystemTime,
) -> Markup {
    let reports: Vec<TargetReport> = targets
        .iter()
        .map(|x| target_report(&x.name, &x.snapshot, &x.pools, t, x.peaks.as_ref()))
        .collect();
    let verdict = headline(&reports);
    let status = overall(&reports);
    document(
        status,
        &verdict,
        html! {
            p {
                a href=(telemetry_path) { "Metrics" } " · "
                a href="/-/healthy" { "Health" } " · "
                a href="/-/ready" { "Readiness" }
            }
            @for (target, report) in targets.iter().zip(&reports) {
                (one_target(target, report, t, now))
            }
            p.muted { "Reload the page to refresh." }
        },
    )
}

/// A page of the exporter: the verdict `headline` in the colour of `status`, then `body`.
pub(super) fn document(status: Status, headline: &str, body: Markup) -> Markup {
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
                p #verdict class=(status_class(status)) { (headline) }
                (body)
            }
        }
    }
}

/// A status as a colour: the verdict banner, the bars' fill, the findings' labels.
pub(super) fn status_class(s: Status) -> &'static str {
    match s {
        Status::Ok => "ok",
        Status::Warning => "warn",
        Status::Critical => "crit",
        Status::Unknown => "unknown",
    }
}

/// A status as a table row's light background (never the bars' colour: a green bar on a
/// green row would not show).
fn row_class(s: Status) -> &'static str {
    match s {
        Status::Ok => "row-ok",
        Status::Warning => "row-warn",
        Status::Critical => "row-crit",
        Status::Unknown => "row-unknown",
    }
}

fn one_target(target: &PageTarget, r: &TargetReport, t: &Thresholds, now: SystemTime) -> Markup {
    let snap: &Snapshot = &target.snapshot;
    html! {
        h2 { "Target " a href={ "/probe?target=" (target.name) } { (target.name) } }
        @match (&snap.server, &snap.down_reason) {
            (Some(info), _) => {
                p.muted { (target.dsn) " · " (info.version) }
                (findings(&r.findings))
                (connections(r, t))
                (pools(target, r, t, now))
                (apps(target, t))
                (leaked(snap, t))
            }
            (None, why) => {
                p.muted { (target.dsn) }
                p.crit #down { "MySQL is not answering: " (why.as_ref().map_or("unknown", |r| r.text.as_str())) }
            }
        }
    }
}

fn findings(list: &[Finding]) -> Markup {
    html! {
        @if !list.is_empty() {
            ul #findings {
                @for f in list {
                    li.finding data-cause=(f.cause.label()) {
                        span class=(status_class(f.status)) style="color:#fff;padding:0 4px" {
                            (f.status.label())
                        }
                        " "
                        @if let Some(p) = &f.pool { "pool " b { (p) } ": " }
                        (f.cause.label()) ", " (f.summary)
                        @if !f.culprits.is_empty() {
                            " — look at "
                            @for (i, c) in f.culprits.iter().enumerate() {
                                @if i > 0 { ", " }
                                b { (c.session.id) } " (" (c.session.user) "@" (c.session.host)
                                @if let Some(n) = c.blocks { ", blocks " (n) }
                                ")"
                            }
                            @if !f.more_ids.is_empty() { " and " (f.more_ids.len()) " more" }
                        }
                    }
                }
            }
        }
    }
}

fn bar(ratio: f64, class: &str) -> Markup {
    let width = format!("display:block;width:{:.0}%", ratio.clamp(0.0, 1.0) * 100.0);
    html! { span.bar { span class={ "fill " (class) } style=(width) {} } }
}

fn connections(r: &TargetReport, t: &Thresholds) -> Markup {
    let (Some(used), Some(max), Some(ratio)) =
        (r.connections, r.max_connections, r.connection_ratio)
    else {
        return html! {};
    };
    html! {
        p #connections {
            "Connections " (bar(ratio, status_class(Status::of_ratio(ratio, t.connections))))
            " " (used) "/" (max) " max_connections (" (format!("{:.0}", ratio * 100.0)) "%)"
        }
    }
}

fn pools(target: &PageTarget, r: &TargetReport, t: &Thresholds, now: SystemTime) -> Markup {
    if target.pools.is_empty() {
        return html! {
            p.muted { "No pools are configured (see " code { "pools:" } " in the config)." }
        };
    }
    html! {
        table #pools {
            tr {
                th { "pool" } th { "held / capacity" } th { "most held, last " (window(target)) }
                th { "open" } th { "active" } th { "lock_wait" } th { "idle" } th { "idle_in_transaction" }
                th { "oldest idle transaction" } th { "held and open, last hour" }
            }
            @for p in &r.pools {
                (pool_row(p, target, t, now))
            }
        }
    }
}

/// The sampler's window as people say it ("60s"), or that there is none.
fn window(target: &PageTarget) -> String {
    target
        .peaks
        .as_ref()
        .map_or("(sampler off)".into(), |p| format!("{}s", p.span.as_secs()))
}

fn pool_row(p: &PoolReport, target: &PageTarget, t: &Thresholds, now: SystemTime) -> Markup {
    if let Some(why) = &p.unknown {
        return html! {
            tr data-pool=(p.pool) { td { (p.pool) } td.muted colspan="9" { "unknown: " (why) } }
        };
    }
    let history = target
        .history
        .iter()
        .find(|(n, _)| *n == p.pool)
        .map(|(_, h)| h);
    let peak = target.peaks.as_ref().and_then(|w| w.pool(&p.pool));
    // The row takes the pool's own verdict (a leak makes it orange below its limit); the
    // bar, how full it is.
    let fill = status_class(Status::of_ratio(p.utilization, t.pool_utilization));
    let count = |s| p.by_state.get(&s).copied().unwrap_or(0);
    html! {
        tr class=(row_class(p.status)) data-pool=(p.pool) {
            td { (p.pool) }
            td { (bar(p.utilization, fill)) " " (p.held) "/" (p.capacity) " (" (format!("{:.0}", p.utilization * 100.0)) "%)" }
            td.peak {
                @match peak {
                    Some(w) => {
                        (w.held_max) "/" (p.capacity)
                        @if let Some(spell) = w.full {
                            " · full " (now.duration_since(spell.last_at).unwrap_or_default().as_secs()) "s ago for "
                            (spell.lasted.as_secs().max(1)) "s"
                        }
                    }
                    None => span.muted { "-" },
                }
            }
            td { (p.open) }
            td { (count(SessionState::Active)) }
            td { (count(SessionState::LockWait)) }
            td { (count(SessionState::Idle)) }
            td { (count(SessionState::IdleInTransaction)) }
            td { (p.oldest_idle_transaction_seconds) "s" }
            td { (chart(history.map(|h| h.iter().copied().collect()).unwrap_or_default(), p.capacity, now)) }
        }
    }
}

const CHART_W: f64 = 300.0;
const CHART_H: f64 = 60.0;

/// Held (red) and open (grey) sessions over the last hour against the capacity line: an
/// inline SVG, so the page needs no script and no request beyond itself.
pub fn chart(points: Vec<PoolPoint>, capacity: u64, now: SystemTime) -> Markup {
    if points.len() < 2 {
        return html! {
            span.muted { "the chart fills from the sampler and the scrapes (a point every 10 s)" }
        };
    }
    // Headroom above the highest of capacity and the lines, so a pool at capacity shows.
    let top = points
        .iter()
        .map(|p| p.open.max(p.held))
        .max()
        .unwrap_or(0)
        .max(capacity)
        .max(1) as f64
        * 1.15;
    // The kept history, at most an hour, at least a minute: a leak that began ten minutes
    // ago takes the chart's width, not a sliver of an hour.
    let kept = now
        .duration_since(points[0].at)
        .unwrap_or_default()
        .clamp(Duration::from_secs(60), HISTORY_SPAN);
    let span = kept.as_secs_f64();
    let x = |at: SystemTime| {
        let ago = now.duration_since(at).unwrap_or_default().as_secs_f64();
        ((span - ago.min(span)) / span * CHART_W).max(0.0)
    };
    let y = |v: u64| CHART_H - (v as f64 / top) * CHART_H;
    let line = |f: &dyn Fn(&PoolPoint) -> u64| {
        let mut d = String::new();
        for (i, p) in points.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.1},{:.1}",
                if i == 0 { "M" } else { " L" },
                x(p.at),
                y(f(p))
            );
        }
        d
    };
    let cap_y = format!("{:.1}", y(capacity));
    let last = points[points.len() - 1];
    html! {
        svg.chart xmlns="http://www.w3.org/2000/svg" width=(CHART_W) height=(CHART_H)
            viewBox={ "0 0 " (CHART_W) " " (CHART_H) } role="img" {
            title { "last hour: held " (last.held) ", open " (last.open) " of " (capacity) }
            rect x="0" y="0" width=(CHART_W) height=(CHART_H) fill="#fafafa" stroke="#ddd" {}
            line x1="0" x2=(CHART_W) y1=(cap_y) y2=(cap_y) stroke="#d22" stroke-dasharray="4 3" {}
            path.open d=(line(&|p| p.open)) fill="none" stroke="#999" stroke-width="1.5" {}
            path.held d=(line(&|p| p.held)) fill="none" stroke="#d22" stroke-width="2" {}
            text x="4" y=(CHART_H - 4.0) font-size="10" fill="#555" {
                "since " (minutes_ago(kept)) " ago · held " (last.held) " · open " (last.open) " · capacity " (capacity)
            }
        }
    }
}

fn minutes_ago(d: Duration) -> String {
    match d.as_secs() {
        s if s < 120 => format!("{s}s"),
        s => format!("{}m", s / 60),
    }
}

/// The apps found outside every configured pool by their sessions' `program_name` (or
/// `user@host`): their sessions, no capacity.
fn apps(target: &PageTarget, t: &Thresholds) -> Markup {
    let Some(sessions) = target.snapshot.sessions.ok() else {
        return html! {};
    };
    let apps = session_apps(
        &target.pools,
        sessions,
        &target.snapshot.connect_attributes(),
        APPS_LISTED,
    );
    if apps.is_empty() {
        return html! {};
    }
    let limit = t.idle_in_transaction.as_secs();
    html! {
        h3 { "Apps outside the configured pools (by program_name, else user@host; capacity unknown until a pool declares it)" }
        table #apps {
            tr {
                th { "app" } th { "held" } th { "open" } th { "active" } th { "lock_wait" } th { "idle" }
                th { "idle_in_transaction" } th { "oldest idle transaction" }
            }
            @for a in &apps {
                @let oldest = a.sessions.histogram(SessionState::IdleInTransaction).max;
                tr class=(row_class(if oldest > limit { Status::Warning } else { Status::Ok })) data-app=(a.name) {
                    td { (a.name) }
                    td { (a.held()) }
                    td { (a.open()) }
                    @for s in [SessionState::Active, SessionState::LockWait, SessionState::Idle, SessionState::IdleInTransaction] {
                        td { (a.sessions.count(s)) }
                    }
                    td { (oldest) "s" }
                }
            }
        }
    }
}

/// The sessions idle in a transaction past `thresholds.idle_in_transaction` (the same limit
/// `check` and the alert use: leaks), oldest first; younger ones are only counted.
fn leaked(snap: &Snapshot, t: &Thresholds) -> Markup {
    let Some(rows) = snap.sessions.ok() else {
        return html! {};
    };
    let limit = t.idle_in_transaction.as_secs();
    let (mut idle, young): (Vec<_>, Vec<_>) = rows
        .iter()
        .filter_map(view)
        .filter(|v| v.state == SessionState::IdleInTransaction)
        .partition(|v| v.age_seconds > limit);
    idle.sort_by_key(|v| (std::cmp::Reverse(v.age_seconds), v.id));
    let more = idle.len().saturating_sub(LEAKS_LISTED);
    idle.truncate(LEAKS_LISTED);
    let younger = html! {
        @if !young.is_empty() {
            p.muted #young { (young.len()) " more idle in a transaction for " (limit) "s or less (not leaks yet)." }
        }
    };
    if idle.is_empty() {
        return html! {
            p #leaks { "No session has been idle in a transaction for more than " (limit) "s." }
            (younger)
        };
    }
    html! {
        h3 { "Leaks: sessions idle in a transaction for more than " (limit) "s, oldest first" }
        table #leaks {
            tr {
                th { "id" } th { "user@host" } th { "db" } th { "transaction age" } th { "since" }
                th { "rows locked" } th { "last statement" }
            }
            @for v in &idle {
                tr class="row-crit" {
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
        @if more > 0 { p.muted { "and " (more) " more." } }
        (younger)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::peaks::{Sample, Window};
    use crate::snapshot::{Flavor, Outcome, ServerInfo, SessionRow};

    #[test]
    fn text_from_the_server_is_escaped_and_the_verdict_leads() {
        let mut snap = Snapshot::up(ServerInfo::recorded(Flavor::MariaDb, "10.11<b>", 1));
        snap.sessions = Outcome::Ok(vec![SessionRow {
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
            name: "a&b".into(),
            dsn: "mysql://u@h:3306".into(),
            pools: Vec::new(),
            snapshot: Arc::new(snap),
            history: Vec::new(),
            peaks: None,
        }];
        let html = page(
            &targets,
            &Thresholds::default(),
            "/metrics",
            SystemTime::now(),
        )
        .into_string();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;@10.0.0.1"));
        assert!(html.contains("10.11&lt;b&gt;"));
        assert!(html.contains("SELECT '&quot;&amp;'"), "{html}");
        assert!(html.contains("href=\"/probe?target=a&amp;b\""), "{html}");
        // 400 s is past the default 30 s: a leak, in the verdict and in the table.
        assert!(
            html.contains("<p id=\"verdict\" class=\"warn\">MYSQL POOL WARNING - a&amp;b: leak"),
            "{html}"
        );
        assert!(html.contains("<tr class=\"row-crit\"><td>7</td>"), "{html}");
    }

    #[test]
    fn the_chart_draws_held_open_and_capacity() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(10_000);
        let points = vec![
            PoolPoint {
                at: now - Duration::from_secs(3600),
                held: 0,
                open: 10,
            },
            PoolPoint {
                at: now,
                held: 45,
                open: 45,
            },
        ];
        let svg = chart(points, 45, now).into_string();
        assert!(svg.starts_with("<svg class=\"chart\""), "{svg}");
        // An hour kept: the whole width; 45 of a 45 * 1.15 scale.
        assert!(svg.contains("d=\"M0.0,60.0 L300.0,7.8\""), "held: {svg}");
        assert!(svg.contains("since 60m ago · held 45"), "{svg}");
        assert!(svg.contains("<title>last hour: held 45, open 45 of 45</title>"));
        assert!(chart(Vec::new(), 45, now)
            .into_string()
            .contains("fills from"));
    }

    #[test]
    fn bars_are_capped_at_full() {
        assert!(bar(1.7, "crit").into_string().contains("width:100%"));
    }

    /// A pool at 3 of 10 with a leak is drawn in its own verdict's colour (a warning), not
    /// green by its utilisation; its bar, which shows how full it is, stays green.
    #[test]
    fn a_pool_row_takes_its_own_verdicts_colour() {
        use crate::config::{IdleSessions, MatchSpec, Matcher};
        let pool = PoolConfig {
            name: "web".into(),
            matcher: Matcher::compile(&MatchSpec {
                user: Some("kefu".into()),
                ..MatchSpec::default()
            })
            .unwrap(),
            size: 10,
            max_overflow: 0,
            processes: 1,
            target: None,
            idle_sessions: IdleSessions::Parked,
        };
        let mut snap = Snapshot::up(ServerInfo::recorded(Flavor::MariaDb, "10.11", 1));
        // Three leaked (400 s), one idle in a transaction for 15 s: not a leak yet.
        let mut sessions: Vec<SessionRow> = (1..=3)
            .map(|i| SessionRow::recorded(i, "Sleep", 5, Some(("RUNNING", 400))))
            .collect();
        sessions.push(SessionRow::recorded(9, "Sleep", 15, Some(("RUNNING", 15))));
        snap.sessions = Outcome::Ok(sessions);
        // The sampler saw the pool full (10/10) for 4 s, 23 s ago.
        let now = SystemTime::now();
        let mut window = Window::new(Duration::from_secs(60));
        for ago in (0..40u64).rev() {
            let held = if (23..27).contains(&ago) { 10 } else { 4 };
            let at = now - Duration::from_secs(ago);
            window.push(Sample::recorded(at, "web", held, held, 10));
        }
        let targets = [PageTarget {
            name: "primary".into(),
            dsn: "mysql://u@h:3306".into(),
            pools: vec![pool],
            snapshot: Arc::new(snap),
            history: Vec::new(),
            peaks: Some(window.peaks(now)),
        }];
        let html = page(&targets, &Thresholds::default(), "/metrics", now).into_string();
        let at = html.find("<tr class=\"row-warn\" data-pool=\"web\">");
        let row = &html[at.unwrap_or_else(|| panic!("the row is a warning: {html}"))..];
        let row = &row[..row.find("</tr>").unwrap()];
        assert!(row.contains("<span class=\"fill ok\""), "{row}");
        assert!(row.contains("10/10 · full 23s ago for 4s"), "{row}");
        assert!(
            html.contains("full between scrapes, hit 10/10 held 23s ago for 4s"),
            "{html}"
        );
        let leaks = &html[html.find("id=\"leaks\"").unwrap()..];
        assert!(
            html.contains("Leaks: sessions idle in a transaction for more than 30s"),
            "the leak table says what it lists"
        );
        assert!(
            leaks.contains("<td>3</td>") && !leaks.contains("<td>9</td>"),
            "{leaks}"
        );
        assert!(
            html.contains("1 more idle in a transaction for 30s or less"),
            "{html}"
        );
    }
}
