//! One source of truth for thresholds: `mixin/thresholds.json`. The alerts read it through
//! the mixin's `_config` (exported after overrides by mixin/thresholds.jsonnet), the
//! exporter's defaults are built from it (build.rs), and every config the repository ships
//! either leaves thresholds unset or says the same.

use std::path::Path;
use std::process::Command;

use mysql_pool_exporter::config::{self, Thresholds};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `mixin/thresholds.json` itself.
fn the_file() -> serde_json::Value {
    let text = std::fs::read_to_string(root().join("mixin/thresholds.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// What the alerts use: the mixin's `_config`, rendered by jsonnet.
fn the_alerts() -> serde_json::Value {
    let out = Command::new("jsonnet")
        .arg("-J")
        .arg(root().join("mixin"))
        .arg(root().join("mixin/thresholds.jsonnet"))
        .output()
        .expect("run jsonnet (Debian package `jsonnet`; scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every threshold of `t` by the file's key.
fn as_keys(t: &Thresholds) -> Vec<(&'static str, f64)> {
    vec![
        (
            "idle_in_transaction_seconds",
            t.idle_in_transaction.as_secs_f64(),
        ),
        ("long_query_seconds", t.long_query.as_secs_f64()),
        ("lock_wait_seconds", t.lock_wait.as_secs_f64()),
        ("pool_utilization_warning", t.pool_utilization.warning),
        ("pool_utilization_critical", t.pool_utilization.critical),
        ("connections_warning", t.connections.warning),
        ("connections_critical", t.connections.critical),
        ("user_connections_warning", t.user_connections.warning),
        ("user_connections_critical", t.user_connections.critical),
        ("connection_churn_warning", t.connection_churn.warning),
        ("connection_churn_critical", t.connection_churn.critical),
    ]
}

fn assert_agree(t: &Thresholds, with: &serde_json::Value, what: &str) {
    for (key, mine) in as_keys(t) {
        let Some(theirs) = with.get(key).and_then(serde_json::Value::as_f64) else {
            continue; // the alerts do not use every key (user_connections_critical)
        };
        assert!(
            (mine - theirs).abs() < 1e-9,
            "{what}: {key} is {mine}, mixin/thresholds.json says {theirs}"
        );
    }
}

#[test]
fn the_defaults_are_the_files() {
    let file = the_file();
    let keys: Vec<&str> = as_keys(&Thresholds::default())
        .iter()
        .map(|(k, _)| *k)
        .collect();
    let in_file: Vec<&str> = file
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(
        sorted, in_file,
        "every key of the file is a threshold of check"
    );
    assert_agree(&Thresholds::default(), &file, "the defaults");
}

#[test]
fn the_alerts_use_the_file() {
    let alerts = the_alerts();
    assert_agree(&Thresholds::default(), &alerts, "the mixin's _config");
    // Every key of the file but the critical levels only `check` judges (the alerts warn
    // at one level for these).
    let check_only = ["user_connections_critical", "connection_churn_critical"];
    let file = the_file();
    let mut want: Vec<&str> = file
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .filter(|k| !check_only.contains(k))
        .collect();
    want.sort();
    let mut got: Vec<&str> = alerts
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    got.sort();
    assert_eq!(
        got, want,
        "thresholds.jsonnet exports every key the alerts use"
    );
}

/// The configs the repository ships: each either leaves `thresholds:` out or agrees.
#[test]
fn every_shipped_config_says_the_same() {
    let configs = [
        "examples/config.yml",
        "deploy/exporter.yml",
        "deploy/kubernetes/central/exporter-config.yaml",
        "deploy/kubernetes/sidecar/exporter-config.yaml",
    ];
    for path in configs {
        let text = std::fs::read_to_string(root().join(path)).unwrap();
        // The Kubernetes ConfigMaps carry the config as a block under `config.yml: |`.
        let text = match text.split_once("config.yml: |\n") {
            Some((_, block)) => block
                .lines()
                .take_while(|l| l.starts_with("    ") || l.is_empty())
                .map(|l| l.strip_prefix("    ").unwrap_or(l))
                .collect::<Vec<_>>()
                .join("\n"),
            None => text,
        };
        // Password files exist only where the config is deployed.
        let text: String = text
            .lines()
            .map(|l| match l.split_once("password_file:") {
                Some((indent, _)) => format!("{indent}password_file: /dev/null\n"),
                None => format!("{l}\n"),
            })
            .collect();
        let c = config::parse(&text, Path::new("."), &|_| None)
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_agree(&c.thresholds, &the_file(), path);
    }
}
