use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

fn parse_ok(text: &str) -> Config {
    parse(text, Path::new("."), &no_env).unwrap_or_else(|e| panic!("{e}"))
}

fn parse_err(text: &str) -> String {
    parse(text, Path::new("."), &no_env)
        .unwrap_err()
        .to_string()
}

#[test]
fn the_design_example_parses() {
    let c = parse_ok(
        r#"
targets:
  - name: primary
    dsn: mysql://exporter@127.0.0.1:3306
    tls: { mode: preferred }
pools:
  - name: kefu-flask
    match: { user: kefu, client_host: 10.0.0.0/8, db: kefu }
    size: 15
    max_overflow: 30
    processes: 4
thresholds:
  idle_in_transaction: 30s
  long_query: 10s
limits:
  max_label_values: 50
"#,
    );
    assert_eq!(c.targets[0].dsn.port, 3306);
    assert_eq!(c.targets[0].tls.mode, TlsMode::Preferred);
    assert_eq!(c.pools[0].capacity(), 180);
    assert_eq!(c.thresholds.idle_in_transaction, Duration::from_secs(30));
    assert_eq!(c.limits.max_label_values, 50);
}

#[test]
fn defaults_fill_what_is_left_out() {
    let c = parse_ok("targets: [{name: a, dsn: 'mysql://u@h'}]\n");
    assert_eq!(c.thresholds.long_query, Duration::from_secs(60));
    assert_eq!(c.limits.max_label_values, 50);
    assert_eq!(c.targets[0].connect_timeout, Duration::from_secs(5));
    assert!(c.pools.is_empty());
}

#[test]
fn password_precedence_is_file_then_dsn_then_env() {
    let dir = std::env::temp_dir().join(format!("mpe-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("pw"), "from-file\n").unwrap();
    let env = |k: &str| (k == "MYSQL_PASSWORD").then(|| "from-env".to_string());
    let text = "targets:\n  - {name: a, dsn: 'mysql://u:from-dsn@h', password_file: pw}\n";
    let c = parse(text, &dir, &env).unwrap();
    assert_eq!(
        c.targets[0].password.as_ref().unwrap().expose(),
        "from-file"
    );
    let c = parse(
        "targets: [{name: a, dsn: 'mysql://u:from-dsn@h'}]",
        &dir,
        &env,
    )
    .unwrap();
    assert_eq!(c.targets[0].password.as_ref().unwrap().expose(), "from-dsn");
    let c = parse("targets: [{name: a, dsn: 'mysql://u@h'}]", &dir, &env).unwrap();
    assert_eq!(c.targets[0].password.as_ref().unwrap().expose(), "from-env");
    assert_eq!(c.targets[0].password_source, PasswordSource::Env);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn render_redacts_secrets() {
    let c = parse_ok("targets: [{name: a, dsn: 'mysql://u:hunter2@h:3307/db'}]");
    let out = c.render();
    assert!(!out.contains("hunter2"), "{out}");
    assert!(out.contains("dsn: mysql://u@h:3307/db"), "{out}");
    assert!(out.contains("password: <redacted>"), "{out}");
    assert!(out.contains("password_source: dsn"), "{out}");
    assert!(!format!("{c:?}").contains("hunter2"));
}

/// What needs quoting in YAML is quoted: the printed config reads back with the same
/// values (a glob `*_worker` unquoted would be an alias, `on` a boolean).
#[test]
fn render_reads_back_as_the_same_values() {
    let c = parse_ok(
        "targets: [{name: a, dsn: 'mysql://u@h'}]
pools:
  - name: workers
    match: { user: '*_worker', db: 'on', client_host: '10.0.0.0/8', attributes: { program_name: '&x' } }
    size: 2
",
    );
    let out = c.render();
    let back: serde_json::Value =
        serde_saphyr::from_str(&out).unwrap_or_else(|e| panic!("{e}\n{out}"));
    let m = &back["pools"][0]["match"];
    assert_eq!(m["user"], "*_worker", "{out}");
    assert_eq!(m["db"], "on", "{out}");
    assert_eq!(m["client_host"], "10.0.0.0/8", "{out}");
    assert_eq!(m["attributes"]["program_name"], "&x", "{out}");
    assert_eq!(back["pools"][0]["capacity"], 2, "{out}");
    assert_eq!(back["thresholds"]["idle_in_transaction"], "30s", "{out}");
}

/// Each bad config gives one exact message: where (line, field path) and what to do.
#[test]
fn bad_configs_get_exact_helpful_errors() {
    let cases: &[(&str, &str)] = &[
        (
            "targets:\n  - name: a\n    dsn: mysql://u@h\n    passwrd_file: x\n",
            "line 4: targets[0].passwrd_file: unknown field `passwrd_file`, expected one of name, dsn, password_file, tls, connect_timeout, statement_timeout, extra_port",
        ),
        (
            "targets:\n  - name: a\n    dsn: mysql://u@h\nthresholds:\n  idle_in_transaction: 30\n",
            "line 5: thresholds.idle_in_transaction: `30` has no unit; write e.g. `30s` (units: ms, s, m, h, d)",
        ),
        (
            "targets:\n  - name: a\n    dsn: mysql://u@h\n    tls: { mode: on }\n",
            "line 4: targets[0].tls.mode: unknown variant `on`, expected one of disabled, preferred, required, verify_ca, verify_identity",
        ),
        (
            "targets:\n  - name: a\n",
            "line 2: targets[0]: missing field `dsn`",
        ),
        (
            "targets: []\n",
            "targets: no target is configured; add one, e.g. `targets: [{name: primary, dsn: \"mysql://exporter@127.0.0.1:3306\"}]`",
        ),
        (
            "targets:\n  - name: a\n    dsn: mysql://u@h\n  - name: a\n    dsn: mysql://u@h2\n",
            "line 4: targets[1].name: target name `a` is used twice; names must be unique",
        ),
        (
            "targets:\n  - name: a\n    dsn: 'u:pw@tcp(h:3306)/'\n",
            "line 2: targets[0].dsn: this looks like a Go (mysqld_exporter) DSN `user:pass@tcp(host:port)/`; write it as `mysql://user@host:port` and put the password in `password_file` or MYSQL_PASSWORD",
        ),
        (
            "targets:\n  - name: a\n    dsn: mysql://u@h\n    password_file: /nonexistent/pw\n",
            "line 2: targets[0].password_file: cannot read `/nonexistent/pw`: No such file or directory (os error 2); the file must hold the MySQL password",
        ),
        (
            "targets: [{name: a, dsn: 'mysql://u@h'}]\npools:\n  - name: p\n    match: {}\n    size: 15\n",
            "line 3: pools[0].match: an empty match would take every session; name at least one of `user`, `client_host`, `db`",
        ),
        (
            "targets: [{name: a, dsn: 'mysql://u@h'}]\npools:\n  - name: p\n    match: {user: kefu}\n    size: 0\n",
            "line 3: pools[0].size: size must be at least 1 (SQLAlchemy's pool_size)",
        ),
        (
            "targets: [{name: a, dsn: 'mysql://u@h'}]\npools:\n  - name: p\n    match: {user: kefu}\n    size: 15\n    target: b\n",
            "line 3: pools[0].target: no target is named `b`; known targets: a",
        ),
        (
            "targets: [{name: a, dsn: 'mysql://u@h'}]\npools:\n  - name: p\n    match: {user: kefu}\n    size: -1\n",
            "line 5: pools[0].size: must be a whole number from 0 to 4294967295",
        ),
        (
            "targets: [{name: a, dsn: 'mysql://u@h'}]\npools:\n  - name: p\n    match: {client_host: 10.0.0.0/33}\n    size: 1\n",
            "line 3: pools[0].match.client_host: `10.0.0.0/33` is not a valid CIDR; write e.g. `10.0.0.0/8` or `fd00::/8`",
        ),
        (
            "targets: [{name: a, dsn: 'mysql://u@h'}]\npools:\n  - name: all-kefu\n    match: {user: kefu}\n    size: 1\n  - name: kefu-web\n    match: {user: kefu, db: web}\n    size: 1\n",
            "line 6: pools[1].match: pool `kefu-web` can never see a session: every session it matches belongs to pool `all-kefu` (pools[0]), which comes first; a session belongs to the first pool that matches, so put the more specific pool first",
        ),
        (
            "targets: [{name: 'a b', dsn: 'mysql://u@h'}]\n",
            "line 1: targets[0].name: `a b` is not a valid name; use letters, digits, `-`, `_` and `.`",
        ),
        (
            "targets: [{name: a, dsn: 'mysql://u@h'}]\nlimits: {max_label_values: 0}\n",
            "limits.max_label_values: must be at least 1; it caps how many users/hosts get their own label value",
        ),
        (
            "targets: [{name: a, dsn: 'mysql://u@h'}]\nlimits: {connects_per_server_per_second: 0}\n",
            "limits.connects_per_server_per_second: must be a number above 0 (got 0); it spreads the exporter's first connects to one server, e.g. 10",
        ),
        (
            "targets: [{name: a, dsn: 'mysql://u@h'}\n",
            "line 1: targets: unclosed bracket '['",
        ),
    ];
    let mut wrong = Vec::new();
    for (text, expected) in cases {
        let got = parse_err(text);
        if &got != expected {
            wrong.push(format!("for {text:?}\n  want: {expected}\n   got: {got}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn load_names_the_file() {
    let err = load(Path::new("/nonexistent/config.yml"), &no_env).unwrap_err();
    assert_eq!(
        err.to_string(),
        "/nonexistent/config.yml: cannot read the config file: No such file or directory (os error 2); pass it with --config.file"
    );
}
