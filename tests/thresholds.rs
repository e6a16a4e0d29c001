//! One source of truth for thresholds: the bundled alerts' `_config` (mixin/, exported as
//! mixin/thresholds.jsonnet) and the defaults of `check` (and of examples/config.yml) agree.

use std::process::Command;

use mysql_pool_exporter::config::{self, Thresholds};

fn mixin_thresholds() -> serde_json::Value {
    let out = Command::new("jsonnet")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/mixin/thresholds.jsonnet"
        ))
        .output()
        .expect("run jsonnet (Debian package `jsonnet`; scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn assert_agree(t: &Thresholds, what: &str) {
    let m = mixin_thresholds();
    let num = |k: &str| m[k].as_f64().unwrap_or_else(|| panic!("{k} missing: {m}"));
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
    assert_eq!(
        t.idle_in_transaction.as_secs() as f64,
        num("idle_in_transaction_seconds"),
        "{what}: idle_in_transaction"
    );
    assert_eq!(
        t.long_query.as_secs() as f64,
        num("long_query_seconds"),
        "{what}: long_query"
    );
    assert_eq!(
        t.lock_wait.as_secs() as f64,
        num("lock_wait_seconds"),
        "{what}: lock_wait"
    );
    for (mine, key) in [
        (t.pool_utilization_warning, "pool_utilization_warning"),
        (t.pool_utilization_critical, "pool_utilization_critical"),
        (t.connections_warning, "connections_warning"),
        (t.connections_critical, "connections_critical"),
    ] {
        assert!(
            close(mine, num(key)),
            "{what}: {key} {mine} vs {}",
            num(key)
        );
    }
}

#[test]
fn checks_defaults_are_the_alerts_thresholds() {
    assert_agree(&Thresholds::default(), "the defaults");
}

#[test]
fn the_example_config_says_the_same() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/config.yml"))
        .unwrap()
        .replace("/run/secrets/mysql_exporter", "/dev/null");
    let c = config::parse(&text, std::path::Path::new("."), &|_| None).unwrap();
    assert_agree(&c.thresholds, "examples/config.yml");
}
