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
