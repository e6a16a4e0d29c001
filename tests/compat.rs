//! We promise mysqld_exporter's exact names, types and labels for the facts both exporters
//! report. This scrapes our exporter on a real server and compares every family whose name
//! mysqld_exporter 0.14 also uses (recorded on the same server kind, in
//! tests/fixtures/mysqld_exporter/) for its type and its label names.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{target_config, Exporter, Server};

/// family name as Prometheus sees it (counters with `_total`) → (type, label-name sets).
type Families = BTreeMap<String, (String, BTreeSet<Vec<String>>)>;

fn label_names(sample: &str) -> Vec<String> {
    let Some(open) = sample.find('{') else {
        return Vec::new();
    };
    let close = sample.rfind('}').unwrap();
    let mut names: Vec<String> = sample[open + 1..close]
        .split("\",")
        .filter_map(|kv| kv.split_once('=').map(|(k, _)| k.trim().to_string()))
        .filter(|k| !k.is_empty())
        .collect();
    names.sort();
    names
}

/// Reads `# TYPE` lines and samples of the Prometheus text or the OpenMetrics format. An
/// OpenMetrics counter family `x` has samples `x_total`; it is keyed as `x_total`, as the
/// Prometheus text format (and Prometheus itself) names it.
fn families(text: &str, openmetrics: bool) -> Families {
    let mut out = Families::new();
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, ty) = rest.split_once(' ').unwrap();
            let (name, ty) = match (openmetrics, ty) {
                (true, "counter") => (format!("{name}_total"), "counter"),
                (true, "unknown") => (name.to_string(), "untyped"),
                (_, ty) => (name.to_string(), ty),
            };
            types.insert(name, ty.to_string());
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let name = line.split(['{', ' ']).next().unwrap();
        if let Some(ty) = types.get(name) {
            out.entry(name.to_string())
                .or_insert_with(|| (ty.clone(), BTreeSet::new()))
                .1
                .insert(label_names(line));
        }
    }
    out
}

#[test]
fn shared_families_have_mysqld_exporters_types_and_labels() {
    let db = Server::start(&[]);
    let fixture = if db.is_mysql() {
        "0.14-mysql-9.7.txt"
    } else {
        "0.14-mariadb-10.11.txt"
    };
    let theirs = families(
        &std::fs::read_to_string(
            common::repo()
                .join("tests/fixtures/mysqld_exporter")
                .join(fixture),
        )
        .unwrap(),
        false,
    );
    let exporter = Exporter::start(&target_config(&db), &[]);
    let body = exporter.get("/metrics").body;
    let ours = families(&body, true);
    let mut shared = 0;
    let mut wrong = Vec::new();
    for (name, (ty, labels)) in &ours {
        let Some((their_ty, their_labels)) = theirs.get(name) else {
            continue;
        };
        shared += 1;
        if ty != their_ty {
            wrong.push(format!(
                "{name}: ours is {ty}, mysqld_exporter's {their_ty}"
            ));
        }
        if labels.iter().any(|l| !their_labels.contains(l)) {
            wrong.push(format!(
                "{name}: our labels {labels:?}, mysqld_exporter's {their_labels:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(shared > 100, "only {shared} families in common");
    // The ones this project once got wrong or lacked (issue 9), by name and type.
    for (name, ty) in [
        ("mysql_global_status_buffer_pool_dirty_pages", "gauge"),
        ("mysql_global_status_buffer_pool_pages", "gauge"),
        (
            "mysql_global_status_buffer_pool_page_changes_total",
            "counter",
        ),
        ("mysql_exporter_scrapes_total", "counter"),
        ("mysql_exporter_last_scrape_error", "gauge"),
        ("mysql_transaction_isolation", "gauge"),
        (
            "mysql_info_schema_innodb_metrics_transaction_trx_rseg_history_len",
            "gauge",
        ),
    ] {
        assert_eq!(
            ours.get(name).map(|(t, _)| t.as_str()),
            Some(ty),
            "{name} in:\n{body}"
        );
        assert_eq!(
            theirs.get(name).map(|(t, _)| t.as_str()),
            Some(ty),
            "{name}"
        );
    }
    assert!(
        !body.contains("state=\"dirty\"") && !body.contains("operation=\"total\""),
        "buffer pool pages: dirty has its own family and total is not exported"
    );
}
