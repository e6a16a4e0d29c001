//! `/`: a small server-rendered status page (no JavaScript, no external assets), from a
//! snapshot read at most every 10 s however often it is loaded (`Exporter::page_snapshot`).

use std::fmt::Write;
use std::time::{Duration, Instant};

use crate::analysis::pools::pool_stats;
use crate::analysis::report::view;
use crate::analysis::SessionState;
use crate::collect::Exporter;
use crate::snapshot::{parse_status_value, ConnectAttributes, Snapshot};

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:0.5em 0 1.5em}\
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}\
th{background:#f3f3f3}.bar{width:220px;height:14px;background:#e8e8e8;display:inline-block;vertical-align:middle}\
.fill{height:14px}.ok{background:#3a3}.warn{background:#e90}.crit{background:#d22}\
tr.crit td{background:#fde8e8}tr.warn td{background:#fff4df}.muted{color:#777}code{font-size:90%}";

pub async fn render(exporter: &Exporter) -> String {
    let mut html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>mysql_pool_exporter</title>\
         <style>{STYLE}</style></head><body><h1>mysql_pool_exporter</h1>\
         <p><a href=\"/metrics\">Metrics</a> · <a href=\"/-/healthy\">Health</a> · \
         <a href=\"/-/ready\">Readiness</a></p>"
    );
    let t = exporter.config.thresholds;
    for state in &exporter.targets {
        let snap = exporter
            .page_snapshot(state, Instant::now() + Duration::from_secs(5))
            .await;
        let cfg = &state.target.config;
        let _ = write!(
            html,
            "<h2>Target <a href=\"/probe?target={0}\">{0}</a></h2><p class=\"muted\">{1}",
            escape(&cfg.name),
            escape(&cfg.dsn.to_string())
        );
        match (&snap.server, &snap.down_reason) {
            (Some(info), _) => {
                let _ = write!(html, " · {}</p>", escape(&info.version));
            }
            (None, why) => {
                let _ = write!(
                    html,
                    "</p><p class=\"crit\" id=\"down\">MySQL is not answering: {}</p>",
                    escape(why.as_deref().unwrap_or("unknown"))
                );
                continue;
            }
        }
        connections(
            &mut html,
            &snap,
            t.connections_warning,
            t.connections_critical,
        );
        pools(
            &mut html,
            exporter,
            state.target.name(),
            &snap,
            t.pool_utilization_warning,
            t.pool_utilization_critical,
        );
        leaked(&mut html, &snap);
    }
    html.push_str("<p class=\"muted\">Reload the page to refresh.</p></body></html>\n");
    html
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

fn bar(ratio: f64, class: &str) -> String {
    format!(
        "<span class=\"bar\"><span class=\"fill {class}\" style=\"display:block;width:{:.0}%\"></span></span>",
        ratio.clamp(0.0, 1.0) * 100.0
    )
}

fn connections(html: &mut String, snap: &Snapshot, warn: f64, crit: f64) {
    let used = snap
        .status("Threads_connected")
        .and_then(parse_status_value);
    let max = snap
        .variable("max_connections")
        .and_then(parse_status_value);
    if let (Some(used), Some(max)) = (used, max.filter(|m| *m > 0.0)) {
        let r = used / max;
        let _ = write!(
            html,
            "<p id=\"connections\">Connections {} {used}/{max} max_connections ({:.0}%)</p>",
            bar(r, class(r, warn, crit)),
            r * 100.0
        );
    }
}

fn pools(
    html: &mut String,
    exporter: &Exporter,
    target: &str,
    snap: &Snapshot,
    warn: f64,
    crit: f64,
) {
    let pools = exporter.pools_for(target);
    let Some(groups) = snap.threads.ok() else {
        return;
    };
    if pools.is_empty() {
        html.push_str("<p class=\"muted\">No pools are configured (see <code>pools:</code> in the config).</p>");
        return;
    }
    html.push_str(
        "<table id=\"pools\"><tr><th>pool</th><th>utilization</th><th>sessions / capacity</th>\
         <th>active</th><th>lock_wait</th><th>idle</th><th>idle_in_transaction</th>\
         <th>oldest idle transaction</th></tr>",
    );
    let attributes = snap
        .server
        .as_ref()
        .map_or(ConnectAttributes::Available, |s| {
            s.connect_attributes.clone()
        });
    for p in pool_stats(&pools, groups, &attributes) {
        if let Some(why) = &p.unknown {
            let _ = write!(
                html,
                "<tr data-pool=\"{name}\"><td>{name}</td><td colspan=\"7\" class=\"muted\">unknown: {}</td></tr>",
                escape(why),
                name = escape(&p.name),
            );
            continue;
        }
        let u = p.utilization();
        let c = class(u, warn, crit);
        let count = |s| p.sessions.count(s);
        let _ = write!(
            html,
            "<tr class=\"{c}\" data-pool=\"{name}\"><td>{name}</td><td>{} {:.0}%</td><td>{}/{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}s</td></tr>",
            bar(u, c),
            u * 100.0,
            p.sessions.total(),
            p.capacity,
            count(SessionState::Active),
            count(SessionState::LockWait),
            count(SessionState::Idle),
            count(SessionState::IdleInTransaction),
            p.sessions.histogram(SessionState::IdleInTransaction).max,
            name = escape(&p.name),
        );
    }
    html.push_str("</table>");
}

fn leaked(html: &mut String, snap: &Snapshot) {
    let Some(rows) = snap.oldest_idle_transactions.ok() else {
        return;
    };
    if rows.is_empty() {
        html.push_str("<p id=\"leaks\">No session is idle in a transaction.</p>");
        return;
    }
    html.push_str(
        "<h3>Oldest idle-in-transaction sessions</h3><table id=\"leaks\"><tr><th>id</th><th>user@host</th>\
         <th>db</th><th>transaction age</th><th>since</th><th>rows locked</th><th>last statement</th></tr>",
    );
    for v in rows.iter().filter_map(view) {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}@{}</td><td>{}</td><td>{}s</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            v.id,
            escape(&v.user),
            escape(&v.host),
            escape(v.db.as_deref().unwrap_or("-")),
            v.age_seconds,
            escape(v.trx_started.as_deref().unwrap_or("")),
            v.trx_rows_locked,
            escape(v.last_query.as_deref().unwrap_or(""))
        );
    }
    html.push_str("</table>");
}

/// HTML-escapes text from the server or the config.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup() {
        assert_eq!(
            super::escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }

    #[test]
    fn bars_and_classes_follow_the_thresholds() {
        assert_eq!(super::class(1.0, 0.8, 1.0), "crit");
        assert_eq!(super::class(0.85, 0.8, 1.0), "warn");
        assert_eq!(super::class(0.2, 0.8, 1.0), "ok");
        assert!(super::bar(1.7, "crit").contains("width:100%"));
    }
}
