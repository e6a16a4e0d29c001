//! We promise mysqld_exporter's exact names, types and labels for the facts both exporters
//! report. This scrapes our exporter on a real server and compares every family whose name
//! mysqld_exporter 0.14 also uses (recorded on the same server kind, in
//! tests/fixtures/mysqld_exporter/) for its type and its label names.

mod common;

use std::collections::BTreeMap;

use openmetrics_parser::OpenMetricsType;

use common::{target_config, Exporter, Server};

/// family name as Prometheus sees it (counters with `_total`) → (type, label names).
type Families = BTreeMap<String, (String, Vec<String>)>;

fn sorted(names: &[String]) -> Vec<String> {
    let mut names = names.to_vec();
    names.sort();
    names
}

/// mysqld_exporter's recording, in the Prometheus text format.
fn theirs(text: &str) -> Families {
    let exposition = openmetrics_parser::prometheus::parse_prometheus(text).unwrap();
    exposition
        .families
        .into_values()
        .map(|f| {
            let labels = sorted(f.get_label_names());
            (f.family_name, (f.family_type.to_string(), labels))
        })
        .collect()
}

/// Ours, in OpenMetrics: a counter family `x` is keyed `x_total` and `unknown` is `untyped`,
/// as the Prometheus text format (and Prometheus itself) name them.
fn ours(text: &str) -> Families {
    let exposition = openmetrics_parser::openmetrics::parse_openmetrics(text).unwrap();
    exposition
        .families
        .into_values()
        .map(|f| {
            let labels = sorted(f.get_label_names());
            let (name, ty) = match f.family_type {
                OpenMetricsType::Counter => (format!("{}_total", f.family_name), "counter".into()),
                OpenMetricsType::Unknown => (f.family_name, "untyped".into()),
                ty => (f.family_name, ty.to_string()),
            };
            (name, (ty, labels))
        })
        .collect()
}

#[test]
fn shared_families_have_mysqld_exporters_types_and_labels() {
    let db = Server::start(&[]);
    let fixture = if db.is_mysql() {
        "0.14-mysql-9.7.txt"
    } else {
        "0.14-mariadb-10.11.txt"
    };
    let theirs = theirs(
        &std::fs::read_to_string(
            common::repo()
                .join("tests/fixtures/mysqld_exporter")
                .join(fixture),
        )
        .unwrap(),
    );
    let exporter = Exporter::start(&target_config(&db), &[]);
    let body = exporter.get("/metrics").body;
    let ours = ours(&body);
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
        if labels != their_labels {
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
