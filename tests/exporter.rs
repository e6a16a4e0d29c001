//! The exporter against a real MariaDB, through its real HTTP endpoint, parsed with a real
//! OpenMetrics parser; and a real Prometheus scraping it.

mod common;

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{eventually, om, server, target_config, Exporter, Server, APP_PASSWORD};

/// A real client session: the `mariadb` command-line client over TCP, fed statements on
/// stdin and kept open (so a transaction it starts stays open) until dropped.
struct Session {
    child: Child,
}

impl Session {
    fn open(db: &Server, user: &str, host: &str, sql: &str) -> Session {
        let mut child = Command::new("mariadb")
            .args(["--no-defaults", "--protocol=TCP", "-N", "-B", "-h", host])
            .arg(format!("-P{}", db.port))
            .arg(format!("-u{user}"))
            .env("MYSQL_PWD", APP_PASSWORD)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mariadb client");
        let stdin = child.stdin.as_mut().unwrap();
        writeln!(stdin, "{sql}").unwrap();
        stdin.flush().unwrap();
        Session { child }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Root's view of the processlist, to wait until the sessions are where we put them.
fn count(db: &Server, filter: &str) -> u64 {
    db.sql(&format!(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST p \
         LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID WHERE {filter}"
    ))
    .trim()
    .parse()
    .unwrap()
}

fn get(s: &om::Samples, name: &str, labels: &[(&str, &str)]) -> f64 {
    om::get(s, name, labels).unwrap_or_else(|| {
        let near: Vec<&String> = s.keys().filter(|k| k.starts_with(name)).collect();
        panic!("no sample {name}{labels:?}; have: {near:#?}")
    })
}

/// Every session state the exporter distinguishes, opened for real, counted exactly.
#[test]
fn real_sessions_are_counted_exactly() {
    // A server of its own: exact counts must not see the other tests' exporters.
    let db = &Server::start(&[]);
    let ipv6 = std::net::TcpStream::connect(("::1", db.port)).is_ok();
    eprintln!("server reachable over ::1: {ipv6}");
    let mut sessions = Vec::new();
    // 3 idle `report` sessions from 127.0.0.1 (+1 from ::1 when the server listens there).
    for _ in 0..3 {
        sessions.push(Session::open(db, "report", "127.0.0.1", "SELECT 1;"));
    }
    if ipv6 {
        sessions.push(Session::open(db, "report", "::1", "SELECT 1;"));
    }
    // 2 `kefu` sessions running a statement.
    for _ in 0..2 {
        sessions.push(Session::open(db, "kefu", "127.0.0.1", "SELECT SLEEP(300);"));
    }
    // 3 `kefu` sessions idle in an InnoDB transaction (a read opens one on MariaDB)...
    for id in 2..5 {
        sessions.push(Session::open(
            db,
            "kefu",
            "127.0.0.1",
            &format!("START TRANSACTION; SELECT name FROM kefu.visitors WHERE id = {id};"),
        ));
    }
    // ...and a 4th that holds a row lock, which a 5th waits for.
    sessions.push(Session::open(
        db,
        "kefu",
        "127.0.0.1",
        "START TRANSACTION; UPDATE kefu.visitors SET name = 'held' WHERE id = 1;",
    ));
    eventually(Duration::from_secs(20), "the locking transaction", || {
        (count(db, "p.USER = 'kefu' AND t.trx_rows_locked > 0") == 1).then_some(())
    });
    sessions.push(Session::open(
        db,
        "kefu",
        "127.0.0.1",
        "SET SESSION innodb_lock_wait_timeout = 300; UPDATE kefu.visitors SET name = 'blocked' WHERE id = 1;",
    ));
    let idle_report = if ipv6 { 4 } else { 3 };
    eventually(
        Duration::from_secs(20),
        "all test sessions in place",
        || {
            let ready = count(db, "p.USER = 'report' AND p.COMMAND = 'Sleep'") == idle_report
                && count(db, "p.USER = 'kefu' AND p.STATE = 'User sleep'") == 2
                && count(
                    db,
                    "p.USER = 'kefu' AND p.COMMAND = 'Sleep' AND t.trx_id IS NOT NULL",
                ) == 4
                && count(db, "p.USER = 'kefu' AND t.trx_state = 'LOCK WAIT'") == 1;
            ready.then_some(())
        },
    );
    std::thread::sleep(Duration::from_millis(1100)); // let every age pass 1 s

    let exporter = Exporter::start(&target_config(db), &[]);
    let s = exporter.scrape();
    let sessions_of = |user: &str, state: &str| {
        get(
            &s,
            "mysql_sessions",
            &[("mysql_user", user), ("state", state)],
        )
    };
    assert_eq!(get(&s, "mysql_up", &[]), 1.0);
    assert_eq!(sessions_of("report", "idle"), idle_report as f64);
    assert_eq!(sessions_of("report", "idle_in_transaction"), 0.0);
    assert_eq!(sessions_of("kefu", "active"), 2.0);
    assert_eq!(sessions_of("kefu", "idle_in_transaction"), 4.0);
    assert_eq!(sessions_of("kefu", "lock_wait"), 1.0);
    assert_eq!(sessions_of("kefu", "idle"), 0.0);
    // The exporter's own session is not counted anywhere.
    assert_eq!(
        om::get(
            &s,
            "mysql_sessions",
            &[("mysql_user", "exporter"), ("state", "active")]
        ),
        None
    );
    assert_eq!(
        om::get(
            &s,
            "mysql_info_schema_processlist_processes_by_user",
            &[("mysql_user", "exporter")]
        ),
        None
    );

    // Ages: every idle-in-transaction session is older than 1 s and younger than 30 s.
    let bucket = |state: &str, le: &str| {
        get(
            &s,
            "mysql_session_age_seconds_bucket",
            &[("state", state), ("le", le)],
        )
    };
    assert_eq!(
        get(
            &s,
            "mysql_session_age_seconds_count",
            &[("state", "idle_in_transaction")]
        ),
        4.0
    );
    assert_eq!(bucket("idle_in_transaction", "+Inf"), 4.0);
    assert_eq!(bucket("idle_in_transaction", "30"), 4.0);
    assert_eq!(bucket("active", "+Inf"), 2.0);
    assert_eq!(bucket("lock_wait", "+Inf"), 1.0);
    let oldest = get(
        &s,
        "mysql_oldest_transaction_seconds",
        &[("mysql_user", "kefu")],
    );
    assert!(
        (1.0..60.0).contains(&oldest),
        "oldest kefu transaction {oldest}"
    );
    assert!(
        get(
            &s,
            "mysql_session_age_seconds_sum",
            &[("state", "idle_in_transaction")]
        ) >= 4.0
    );

    // mysqld_exporter-compatible families, hosts without ports.
    assert_eq!(
        get(
            &s,
            "mysql_info_schema_processlist_processes_by_user",
            &[("mysql_user", "kefu")]
        ),
        7.0
    );
    assert_eq!(
        get(
            &s,
            "mysql_info_schema_processlist_processes_by_host",
            &[("client_host", "127.0.0.1")]
        ),
        (7 + 3) as f64
    );
    if ipv6 {
        assert_eq!(
            get(
                &s,
                "mysql_info_schema_processlist_processes_by_host",
                &[("client_host", "::1")]
            ),
            1.0
        );
    }
    assert_eq!(
        get(
            &s,
            "mysql_info_schema_processlist_threads",
            &[("command", "query"), ("state", "user_sleep")]
        ),
        2.0
    );
    assert_eq!(
        get(&s, "mysql_global_variables_max_connections", &[]),
        300.0
    );
    // Our sessions plus the exporter's own connection.
    assert_eq!(
        get(&s, "mysql_global_status_threads_connected", &[]),
        (idle_report + 7 + 1) as f64
    );
    let version = s
        .keys()
        .find(|k| k.starts_with("mysql_version_info{"))
        .expect("mysql_version_info");
    let server_version = db.sql("SELECT VERSION()");
    assert!(
        version.contains(&format!("version=\"{}\"", server_version.trim())),
        "{version}"
    );
    for c in [
        "global_status",
        "global_variables",
        "processlist",
        "sessions",
    ] {
        assert_eq!(
            get(&s, "mysql_exporter_collector_success", &[("collector", c)]),
            1.0,
            "{c}"
        );
    }
    // One collection at start-up (for readiness), possibly shared with this scrape.
    let collections = get(&s, "mysql_exporter_scrape_duration_seconds_count", &[]);
    assert!((1.0..=2.0).contains(&collections), "{collections}");

    // One persistent connection: a second scrape reuses the exporter's one session (the
    // server's Connections counter is not used: MySQL's moves with root's own queries).
    let exporter_sessions =
        || db.sql("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = 'exporter'");
    let before = exporter_sessions();
    assert_eq!(before.lines().count(), 1, "{before}");
    let s2 = exporter.scrape();
    assert_eq!(exporter_sessions(), before);
    assert_eq!(
        get(&s2, "mysql_exporter_scrape_duration_seconds_count", &[]),
        collections + 1.0
    );
    drop(sessions);
}

/// The real check of the exposition: a real Prometheus scrapes it without error.
#[test]
fn a_real_prometheus_scrapes_the_exporter_cleanly() {
    let db = server();
    let exporter = Exporter::start(&target_config(db), &[]);
    let prometheus = common::Prometheus::start(&format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: mysql\n    static_configs:\n      - targets: ['127.0.0.1:{}']\n",
        exporter.port
    ));
    let target = eventually(Duration::from_secs(30), "a successful scrape", || {
        let v = prometheus.api("/api/v1/targets");
        let t = v["data"]["activeTargets"][0].clone();
        (t["health"] == "up").then_some(t)
    });
    assert_eq!(target["lastError"], "", "{target}");
    assert_eq!(target["labels"]["job"], "mysql");
    let up = eventually(Duration::from_secs(10), "mysql_up in Prometheus", || {
        let r = prometheus.query("mysql_up");
        (!r.is_empty()).then_some(r)
    });
    assert_eq!(up[0]["value"][1], "1", "{up:?}");
    // The snapshot histogram is usable as Prometheus users expect.
    let q = prometheus.query(
        r#"histogram_quantile(0.5, sum by (le) (mysql_session_age_seconds_bucket{state="idle"}))"#,
    );
    assert_eq!(q.len(), 1, "{q:?}");
    // Prometheus read our counters as counters (the _total suffix survives).
    let c = prometheus.query("mysql_global_status_connection_errors_total");
    assert!(c.len() >= 4, "{c:?}");
    // Prometheus sent its timeout and the scrape answered within it.
    let d = prometheus.query("scrape_duration_seconds{job=\"mysql\"}");
    let secs: f64 = d[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!(secs < 1.0, "scrape took {secs}s");
    // Which build runs there, as Go exporters' `_build_info`: the commit checked out here.
    let b = prometheus.query("mysql_pool_exporter_build_info");
    assert_eq!(b.len(), 1, "{b:?}");
    let labels = &b[0]["metric"];
    assert_eq!(labels["revision"], common::git_head(), "{labels}");
    assert_eq!(labels["version"], env!("CARGO_PKG_VERSION"), "{labels}");
    assert!(
        labels["rustc_version"]
            .as_str()
            .is_some_and(|v| v.split('.').count() == 3),
        "{labels}"
    );
}

/// A server that is not there: `mysql_up 0`, every collector failed, no stale series, a
/// clear log line, not ready.
#[test]
fn a_down_server_reports_mysql_up_0_and_says_why() {
    let port = common::free_port();
    let exporter = Exporter::start(
        &format!("targets:\n  - name: gone\n    dsn: mysql://exporter@127.0.0.1:{port}\n    password_file: {{password_file}}\n"),
        &[],
    );
    let s = exporter.scrape();
    assert_eq!(get(&s, "mysql_up", &[]), 0.0);
    for c in [
        "global_status",
        "global_variables",
        "processlist",
        "sessions",
    ] {
        assert_eq!(
            get(&s, "mysql_exporter_collector_success", &[("collector", c)]),
            0.0,
            "{c}"
        );
    }
    assert!(
        !s.keys()
            .any(|k| k.starts_with("mysql_sessions") || k.starts_with("mysql_global_")),
        "{s:#?}"
    );
    assert_eq!(exporter.get("/-/ready").status, 503);
    assert_eq!(exporter.get("/-/healthy").status, 200);
    let log = eventually(Duration::from_secs(5), "the log line", || {
        let l = exporter.log();
        l.contains("cannot connect").then_some(l)
    });
    assert!(
        log.contains(&format!(
            "cannot connect to mysql://exporter@127.0.0.1:{port}"
        )),
        "{log}"
    );
    assert!(log.contains("Connection refused"), "{log}");
    assert!(!log.contains(common::EXPORTER_PASSWORD), "{log}");
}

/// HTTP mistakes get 4xx with a message, not 5xx.
#[test]
fn bad_http_requests_are_client_errors() {
    let db = server();
    let exporter = Exporter::start(&target_config(db), &[]);
    let r = exporter.get("/probe");
    assert_eq!(
        (r.status, r.body.as_str()),
        (
            400,
            "missing target: use /probe?target=NAME with a target name from the config\n"
        )
    );
    let r = exporter.get("/probe?target=nope");
    assert_eq!(
        (r.status, r.body.as_str()),
        (400, "unknown target `nope`; configured targets: primary\n")
    );
    let r = exporter.get("/nothing");
    assert_eq!(r.status, 404);
    assert!(r.body.contains("try /metrics"), "{}", r.body);
    let r = exporter.get("/probe?target=primary");
    assert_eq!(r.status, 200);
    assert_eq!(om::get(&om::parse(&r.body), "mysql_up", &[]), Some(1.0));
    assert_eq!(exporter.get("/-/ready").status, 200);
    let page = exporter.get("/");
    let version = db.sql("SELECT VERSION()");
    assert!(
        page.body.contains("primary") && page.body.contains(version.trim()),
        "{}",
        page.body
    );
}

/// `--no-collect.X` turns a collector off: no series, no success metric.
#[test]
fn collectors_can_be_turned_off() {
    let db = server();
    let exporter = Exporter::start(
        &target_config(db),
        &["--no-collect.global_status", "--no-collect.processlist"],
    );
    let s = exporter.scrape();
    assert!(!s.keys().any(|k| k.starts_with("mysql_global_status_")));
    assert!(!s
        .keys()
        .any(|k| k.starts_with("mysql_info_schema_processlist")));
    assert_eq!(
        om::get(
            &s,
            "mysql_exporter_collector_success",
            &[("collector", "global_status")]
        ),
        None
    );
    assert_eq!(
        get(
            &s,
            "mysql_exporter_collector_success",
            &[("collector", "sessions")]
        ),
        1.0
    );
}

/// The exporter connects at start-up: ready without waiting for a scrape.
#[test]
fn ready_after_the_first_connection_without_a_scrape() {
    let db = server();
    let exporter = Exporter::start(&target_config(db), &[]);
    eventually(Duration::from_secs(10), "/-/ready", || {
        (exporter.get("/-/ready").status == 200).then_some(())
    });
    assert!(
        exporter.log().contains("connected to MySQL"),
        "{}",
        exporter.log()
    );
}

/// An exporter started before its server keeps trying by itself: behind a Kubernetes
/// Service a pod that is not ready gets no scrapes, so readiness may not wait for one.
#[test]
fn ready_once_a_server_that_was_down_at_start_comes_up() {
    let mut db = Server::start(&[]);
    db.stop();
    let exporter = Exporter::start(&target_config(&db), &[]);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(exporter.get("/-/ready").status, 503);
    db.restart();
    eventually(Duration::from_secs(30), "/-/ready without a scrape", || {
        (exporter.get("/-/ready").status == 200).then_some(())
    });
}

/// `--collect.X.interval`: the collector's queries run at most that often and its last
/// result is served in between; without it every scrape reads the server.
#[test]
fn a_collector_interval_reuses_the_last_result() {
    let db = server();
    let cached = Exporter::start(
        &target_config(db),
        &["--collect.global_variables.interval=1h"],
    );
    let fresh = Exporter::start(&target_config(db), &[]);
    let var = "mysql_global_variables_innodb_max_dirty_pages_pct";
    let before = get(&cached.scrape(), var, &[]);
    assert_eq!(get(&fresh.scrape(), var, &[]), before);
    let changed = if before == 77.0 { 78 } else { 77 };
    db.sql(&format!(
        "SET GLOBAL innodb_max_dirty_pages_pct = {changed}"
    ));
    let (c, f) = (cached.scrape(), fresh.scrape());
    db.sql(&format!("SET GLOBAL innodb_max_dirty_pages_pct = {before}"));
    assert_eq!(get(&f, var, &[]), changed as f64, "read every scrape");
    assert_eq!(get(&c, var, &[]), before, "reused within the interval");
    assert_eq!(
        get(
            &c,
            "mysql_exporter_collector_success",
            &[("collector", "global_variables")]
        ),
        1.0
    );
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_mysql_pool_exporter"))
        .args(["--collect.global_variables.interval=soon", "--help"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        !bad.status.success() && err.contains("--collect.global_variables.interval"),
        "{err}"
    );
}

/// GET with raw bytes back (a gzip body is not text): status line and headers, body.
fn get_raw(port: u16, path: &str, headers: &[(&str, &str)]) -> (String, Vec<u8>) {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for (k, v) in headers {
        req += &format!("{k}: {v}\r\n");
    }
    s.write_all(format!("{req}\r\n").as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    (
        String::from_utf8_lossy(&raw[..split]).to_lowercase(),
        raw[split + 4..].to_vec(),
    )
}

/// The flags every exporter-toolkit exporter takes: repeated `--web.listen-address`,
/// `--web.telemetry-path`, and gzip when the scraper asks for it.
#[test]
fn exporter_toolkit_flags_and_gzip() {
    let db = server();
    let second = common::free_port();
    let exporter = Exporter::start(
        &target_config(db),
        &[
            &format!("--web.listen-address=127.0.0.1:{second}"),
            "--web.telemetry-path=/stats",
        ],
    );
    for port in [exporter.port, second] {
        let r = common::http_get(port, "/stats", &[]);
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(om::get(&om::parse(&r.body), "mysql_up", &[]), Some(1.0));
        let moved = common::http_get(port, "/metrics", &[]);
        assert_eq!(moved.status, 404);
        assert!(moved.body.contains("try /stats"), "{}", moved.body);
    }
    assert!(exporter.get("/").body.contains("href=\"/stats\""));

    // gzip only when asked for; the same exposition either way.
    let (head, plain) = get_raw(exporter.port, "/stats", &[]);
    assert!(!head.contains("content-encoding"), "{head}");
    assert!(head.contains("vary: accept-encoding"), "{head}");
    let (head, zipped) = get_raw(exporter.port, "/stats", &[("Accept-Encoding", "gzip")]);
    assert!(head.contains("content-encoding: gzip"), "{head}");
    assert!(
        zipped.len() * 4 < plain.len(),
        "{} vs {}",
        zipped.len(),
        plain.len()
    );
    let mut unzipped = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(&zipped[..]),
        &mut unzipped,
    )
    .unwrap();
    let samples = om::parse(&unzipped);
    assert_eq!(om::get(&samples, "mysql_up", &[]), Some(1.0));
    assert!(unzipped.ends_with("# EOF\n"));
    let (head, _) = get_raw(exporter.port, "/stats", &[("Accept-Encoding", "gzip;q=0")]);
    assert!(!head.contains("content-encoding"), "{head}");

    // A telemetry path that would hide a fixed page is refused at start-up.
    let out = Command::new(env!("CARGO_BIN_EXE_mysql_pool_exporter"))
        .args([
            "--mysql.dsn=mysql://x@127.0.0.1:1",
            "--web.telemetry-path=/-/ready",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--web.telemetry-path `/-/ready`"), "{err}");
}

/// `--web.systemd-socket`: the exporter serves on the socket it is handed (fd 3, with
/// LISTEN_PID and LISTEN_FDS as systemd sets them), and without one it says what to do.
#[test]
fn systemd_socket_activation() {
    let db = server();
    let dir = common::scratch("systemd-socket");
    let pw = dir.join("password");
    std::fs::write(&pw, format!("{}\n", common::EXPORTER_PASSWORD)).unwrap();
    let cfg = dir.join("config.yml");
    std::fs::write(
        &cfg,
        target_config(db).replace("{password_file}", &pw.display().to_string()),
    )
    .unwrap();
    let port = common::free_port();
    // Python binds the socket, puts it on fd 3 and execs the exporter in the same process,
    // as systemd does.
    let activate = r#"
import os, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.environ["LISTEN_PID"] = str(os.getpid())
os.environ["LISTEN_FDS"] = "1"
os.execv(sys.argv[2], sys.argv[2:])
"#;
    let mut child = Command::new("python3")
        .args(["-c", activate, &port.to_string()])
        .arg(env!("CARGO_BIN_EXE_mysql_pool_exporter"))
        .arg(format!("--config.file={}", cfg.display()))
        .arg("--web.systemd-socket")
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(dir.join("log")).unwrap()))
        .spawn()
        .unwrap();
    let up = eventually(Duration::from_secs(20), "the activated exporter", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        let r = common::http_get(port, "/metrics", &[]);
        (r.status == 200).then(|| om::get(&om::parse(&r.body), "mysql_up", &[]))
    });
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(up, Some(1.0));
    let log = std::fs::read_to_string(dir.join("log")).unwrap();
    assert!(log.contains(&format!("127.0.0.1:{port}")), "{log}");

    // Not started by systemd: a clear refusal, not a silent default port.
    let out = Command::new(env!("CARGO_BIN_EXE_mysql_pool_exporter"))
        .arg(format!("--config.file={}", cfg.display()))
        .arg("--web.systemd-socket")
        .env_remove("LISTEN_PID")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("systemd passed no sockets") && err.contains(".socket unit"),
        "{err}"
    );
}
