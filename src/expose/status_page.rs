//! `/`: a small server-rendered status page. It reuses the last snapshot, never queries.

use std::fmt::Write;

use crate::collect::Exporter;

pub fn render(exporter: &Exporter) -> String {
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>mysql_pool_exporter</title>\
         <style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}\
         td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}</style></head><body>\
         <h1>mysql_pool_exporter</h1><p><a href=\"/metrics\">Metrics</a> · \
         <a href=\"/-/healthy\">Health</a> · <a href=\"/-/ready\">Readiness</a></p>\
         <h2>Targets</h2><table><tr><th>target</th><th>address</th><th>state</th></tr>",
    );
    for state in &exporter.targets {
        let t = &state.target.config;
        let status = match exporter.last(state) {
            None => "not scraped yet".to_string(),
            Some(s) => match (&s.server, &s.down_reason) {
                (Some(info), _) => format!("up: {} ({:?})", info.version, info.flavor),
                (None, Some(why)) => format!("down: {why}"),
                (None, None) => "down".to_string(),
            },
        };
        let _ = write!(
            html,
            "<tr><td><a href=\"/probe?target={0}\">{0}</a></td><td>{1}</td><td>{2}</td></tr>",
            escape(&t.name),
            escape(&t.dsn.to_string()),
            escape(&status)
        );
    }
    html.push_str("</table></body></html>\n");
    html
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
}
