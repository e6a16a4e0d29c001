//! The command line: `--version`, `config check`, and errors that name the thing and the
//! fix.

mod common;

use std::process::Command;

fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mysql_pool_exporter"));
    cmd.args(args)
        .env_remove("MYSQL_DSN")
        .env_remove("MYSQL_PASSWORD");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write(name: &str, text: &str) -> std::path::PathBuf {
    let dir = common::scratch("cli");
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn config_check_prints_the_effective_config_without_secrets() {
    let f = write("ok.yml", "targets:\n  - name: db1\n    dsn: mysql://exporter:hunter2@10.1.2.3:3307/app\npools:\n  - name: kefu-flask\n    match: {user: kefu}\n    size: 15\n    max_overflow: 30\n    processes: 4\n");
    let (code, out, err) = run(&["config", "check", f.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("dsn: mysql://exporter@10.1.2.3:3307/app"),
        "{out}"
    );
    assert!(out.contains("password: <redacted>"), "{out}");
    assert!(out.contains("password_source: dsn"), "{out}");
    assert!(out.contains("capacity: 180"), "{out}");
    assert!(!out.contains("hunter2") && !err.contains("hunter2"));
}

#[test]
fn config_check_names_the_field_and_line_of_an_error() {
    let f = write("bad.yml", "targets:\n  - name: db1\n    dsn: mysql://exporter@h\nthresholds:\n  idle_in_transaction: 30\n");
    let (code, out, err) = run(&["config", "check", f.to_str().unwrap()], &[]);
    assert_eq!(code, 1);
    assert_eq!(out, "");
    assert_eq!(
        err.trim_end(),
        format!(
            "error: {}:5: thresholds.idle_in_transaction: `30` has no unit; write e.g. `30s` (units: ms, s, m, h, d)",
            f.display()
        )
    );
}

/// `--version` as the exporter toolkit prints it, naming the commit checked out here.
#[test]
fn version_names_the_commit_and_build() {
    let (code, out, err) = run(&["--version"], &[]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<_> = out.lines().collect();
    let branch = std::process::Command::new("git")
        .args(["rev-parse", "--abbrev-ref", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let branch = String::from_utf8(branch.stdout).unwrap();
    assert_eq!(
        lines[0],
        format!(
            "mysql_pool_exporter, version {} (branch: {}, revision: {})",
            env!("CARGO_PKG_VERSION"),
            branch.trim(),
            common::git_head()
        )
    );
    for (i, key) in ["build date:", "rustc version:", "platform:"]
        .iter()
        .enumerate()
    {
        assert!(lines[i + 1].trim_start().starts_with(key), "{out}");
    }
    assert!(
        lines[3].ends_with("linux/x86_64") || !cfg!(target_arch = "x86_64"),
        "{out}"
    );
}

#[test]
fn the_shipped_example_config_is_valid() {
    let dir = common::scratch("cli-example");
    // The example's password_file points at /run/secrets; check it with that made local.
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/config.yml"))
        .unwrap()
        .replace("/run/secrets/mysql_exporter", "pw");
    std::fs::write(dir.join("pw"), "x\n").unwrap();
    std::fs::write(dir.join("config.yml"), text).unwrap();
    let (code, out, err) = run(
        &["config", "check", dir.join("config.yml").to_str().unwrap()],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("name: kefu-flask") && out.contains("capacity: 180"),
        "{out}"
    );
}

#[test]
fn serving_without_a_target_says_how_to_give_one() {
    let (code, _, err) = run(&["--web.listen-address=127.0.0.1:0"], &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("nothing to monitor: pass --config.file FILE, or --mysql.dsn / MYSQL_DSN"),
        "{err}"
    );
}

#[test]
fn a_bad_dsn_is_named_and_its_password_never_printed() {
    let (code, _, err) = run(
        &["--web.listen-address=127.0.0.1:0"],
        &[("MYSQL_DSN", "root:hunter2@tcp(db:3306)/")],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("--mysql.dsn: this looks like a Go (mysqld_exporter) DSN"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn a_bad_listen_address_is_named() {
    let (code, _, err) = run(
        &[
            "--mysql.dsn=mysql://u@127.0.0.1:1",
            "--web.listen-address=nowhere",
        ],
        &[],
    );
    assert_eq!(code, 1);
    assert!(err.contains("--web.listen-address `nowhere` is not HOST:PORT; write e.g. `:9207`, `127.0.0.1:9207` or `[::1]:9207`"), "{err}");
}

#[test]
fn unknown_collector_flags_are_rejected_by_clap() {
    let (code, _, err) = run(&["--collect.nonsense"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("--collect.nonsense"), "{err}");
}
