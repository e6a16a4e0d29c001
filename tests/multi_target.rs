//! Several targets: `/probe?target=NAME` with mysqld_exporter's relabeling recipe, each
//! target on its own connection; `/metrics` labels each target's series.

mod common;

use std::time::Duration;

use common::{eventually, om, server, Exporter, Server};

fn two_targets(db: &Server) -> (Exporter, u16) {
    let closed = common::free_port();
    let cfg = format!(
        "targets:\n  - name: main\n    dsn: mysql://exporter@127.0.0.1:{}\n    password_file: {{password_file}}\n    tls: {{ mode: disabled }}\n  - name: gone\n    dsn: mysql://exporter@127.0.0.1:{closed}\n    password_file: {{password_file}}\n",
        db.port
    );
    (Exporter::start(&cfg, &[]), closed)
}

#[test]
fn probe_reads_one_target_and_metrics_labels_them_all() {
    // A server of its own, so the count of exporter sessions below is this exporter's.
    let db = Server::start(&[]);
    let (exporter, _) = two_targets(&db);
    let main = om::parse(&exporter.get("/probe?target=main").body);
    assert_eq!(om::get(&main, "mysql_up", &[]), Some(1.0));
    assert!(
        main.keys().all(|k| !k.contains("target=")),
        "a probe has no target label"
    );
    let gone = om::parse(&exporter.get("/probe?target=gone").body);
    assert_eq!(om::get(&gone, "mysql_up", &[]), Some(0.0));
    let all = exporter.scrape();
    assert_eq!(om::get(&all, "mysql_up", &[("target", "main")]), Some(1.0));
    assert_eq!(om::get(&all, "mysql_up", &[("target", "gone")]), Some(0.0));
    assert!(om::get(
        &all,
        "mysql_sessions",
        &[
            ("mysql_user", "root"),
            ("state", "active"),
            ("target", "main")
        ]
    )
    .is_none());
    // One connection per target: the server sees exactly one exporter session.
    let n = db.sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'exporter'");
    assert_eq!(n.trim(), "1", "{}", exporter.log());
}

/// mysqld_exporter's documented multi-target relabeling works unchanged.
#[test]
fn prometheus_probes_each_target_with_the_mysqld_exporter_recipe() {
    let (exporter, _) = two_targets(server());
    let prometheus = common::Prometheus::start(&format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:
  - job_name: mysql
    metrics_path: /probe
    static_configs:
      - targets: [main, gone]
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - target_label: __address__
        replacement: 127.0.0.1:{}
",
        exporter.port
    ));
    let ups = eventually(Duration::from_secs(30), "both targets scraped", || {
        let r = prometheus.query("mysql_up");
        (r.len() == 2).then_some(r)
    });
    let value = |instance: &str| {
        ups.iter()
            .find(|s| s["metric"]["instance"] == instance)
            .map(|s| s["value"][1].as_str().unwrap().to_string())
    };
    assert_eq!(value("main").as_deref(), Some("1"), "{ups:?}");
    assert_eq!(value("gone").as_deref(), Some("0"), "{ups:?}");
    let targets = prometheus.api("/api/v1/targets");
    for t in targets["data"]["activeTargets"].as_array().unwrap() {
        assert_eq!(t["health"], "up", "{t}");
        assert_eq!(t["lastError"], "", "{t}");
    }
}

/// Seconds of the day of a logfmt line's `ts=2026-12-04T18:52:49.837933564Z`.
fn log_seconds(line: &str) -> Option<f64> {
    let ts = line.split_whitespace().next()?.strip_prefix("ts=")?;
    let time = ts.split('T').nth(1)?.trim_end_matches('Z');
    let mut parts = time.split(':');
    let h: f64 = parts.next()?.parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + s)
}

/// Twenty targets on one server, `limits.connects_per_server_per_second: 5`: the exporter's
/// first connects (start-up collections and samplers) come one per 200 ms slot, not twenty
/// at once; it is ready after the first.
#[test]
fn a_fleets_first_connects_to_one_server_are_spread() {
    let db = Server::start(&[]);
    let mut cfg = String::from("targets:\n");
    for i in 0..20 {
        cfg += &format!(
            "  - name: t{i}\n    dsn: mysql://exporter@127.0.0.1:{}\n    password_file: {{password_file}}\n    tls: {{ mode: disabled }}\n",
            db.port
        );
    }
    cfg += "limits:\n  connects_per_server_per_second: 5\n";
    let exporter = Exporter::start(&cfg, &[]);
    let started = std::time::Instant::now();
    eventually(Duration::from_secs(10), "/-/ready", || {
        (exporter.get("/-/ready").status == 200).then_some(())
    });
    let ready_after = started.elapsed();
    let connects = eventually(Duration::from_secs(20), "20 connects", || {
        let at: Vec<f64> = exporter
            .log()
            .lines()
            .filter(|l| l.contains("message=\"connected to MySQL\""))
            .filter_map(log_seconds)
            .collect();
        (at.len() >= 20).then_some(at)
    });
    assert_eq!(connects.len(), 20, "one connection per target");
    let first = connects.iter().cloned().fold(f64::MAX, f64::min);
    let last = connects.iter().cloned().fold(f64::MIN, f64::max);
    // 19 slots of 200 ms after the first, each jittered within its slot.
    assert!(last - first >= 3.0, "spread over {:.2}s only", last - first);
    let busiest = connects
        .iter()
        .map(|&t| connects.iter().filter(|&&u| u >= t && u < t + 1.0).count())
        .max()
        .unwrap();
    assert!(
        busiest <= 6,
        "{busiest} connects within one second: {connects:?}"
    );
    assert!(
        ready_after < Duration::from_secs(3),
        "ready only after {ready_after:?}"
    );
    let sessions =
        db.sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'exporter'");
    assert_eq!(
        sessions.trim(),
        "20",
        "one server-side connection per target"
    );
}

/// Twelve targets (ten on a live server, two on closed ports): `/` is the fleet table, the
/// two down targets first, built without a query to any server; each name opens that
/// target's full status; a page or target that does not exist is refused with why.
#[test]
fn a_fleets_status_page_lists_the_worst_first() {
    let db = Server::start(&[]);
    let mut cfg = String::from("targets:\n");
    let dead = [common::free_port(), common::free_port()];
    for i in 0..12 {
        let port = if i < 10 { db.port } else { dead[i - 10] };
        cfg += &format!(
            "  - name: t{i:02}\n    dsn: mysql://exporter@127.0.0.1:{port}\n    password_file: {{password_file}}\n    tls: {{ mode: disabled }}\n",
        );
    }
    let exporter = Exporter::start(&cfg, &[]);
    let page = eventually(Duration::from_secs(20), "every target collected", || {
        let r = exporter.get("/");
        (r.status == 200 && !r.body.contains("not collected yet")).then_some(r.body)
    });
    assert!(
        page.contains("CRITICAL: 12 targets, 2 critical, 0 warning, 0 unknown, 10 ok"),
        "{page}"
    );
    let order: Vec<&str> = page
        .split("href=\"/?target=")
        .skip(1)
        .map(|s| s.split('"').next().unwrap())
        .collect();
    assert_eq!(
        order,
        ["t10", "t11", "t00", "t01", "t02", "t03", "t04", "t05", "t06", "t07", "t08", "t09"]
    );
    assert!(page.contains("MySQL is not answering"), "{page}");
    assert!(page.contains("Page 1 of 1"));
    // Loading the fleet page asks no server: the exporter's statements do not move.
    let statements = || {
        db.sql("SELECT SUM(COUNT_STAR) FROM performance_schema.events_statements_summary_by_user_by_event_name WHERE USER = 'exporter'")
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    let exporter_off = Exporter::start(&cfg, &["--no-collect.sampler"]);
    eventually(
        Duration::from_secs(20),
        "the second exporter's start-up collections",
        || {
            let r = exporter_off.get("/");
            (!r.body.contains("not collected yet")).then_some(())
        },
    );
    drop(exporter);
    std::thread::sleep(Duration::from_millis(500));
    let before = statements();
    for _ in 0..5 {
        assert_eq!(exporter_off.get("/").status, 200);
    }
    assert_eq!(statements(), before, "the fleet page queried a server");
    // The count does move when the exporter asks: a scrape does.
    exporter_off.scrape();
    assert!(
        statements() > before,
        "the statement count did not move on a scrape"
    );
    let one = exporter_off.get("/?target=t03");
    assert_eq!(one.status, 200);
    assert!(
        one.body.contains("Target ") && one.body.contains("t03"),
        "{}",
        one.body
    );
    assert!(!one.body.contains("t04"), "one target only");
    let missing = exporter_off.get("/?page=2");
    assert_eq!(missing.status, 404);
    assert!(
        missing.body.contains("there are 1 page(s) of targets"),
        "{}",
        missing.body
    );
    let unknown = exporter_off.get("/?target=nope");
    assert_eq!(unknown.status, 404);
    assert!(
        unknown.body.contains("unknown target `nope`"),
        "{}",
        unknown.body
    );
    assert_eq!(exporter_off.get("/?page=x").status, 400);
}
