//! Never part of the outage: a full server, a restart, a hung server, a crowd of scrapes,
//! hostile HTTP clients, SIGTERM, missing privileges, secrets. All against real servers.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{eventually, http_get, om, Exporter, Server, APP_PASSWORD, EXPORTER_PASSWORD};

fn config_for(db_port: u16, extra: &str) -> String {
    format!(
        "targets:\n  - name: primary\n    dsn: mysql://exporter@127.0.0.1:{db_port}\n    password_file: {{password_file}}\n    tls: {{ mode: disabled }}\n{extra}"
    )
}

fn up(e: &Exporter) -> f64 {
    om::get(&e.scrape(), "mysql_up", &[]).expect("mysql_up")
}

fn scrape_with_timeout(e: &Exporter, secs: &str) -> (Duration, common::Response) {
    let started = Instant::now();
    let r = http_get(
        e.port,
        "/metrics",
        &[("X-Prometheus-Scrape-Timeout-Seconds", secs)],
    );
    (started.elapsed(), r)
}

fn status_var(db: &Server, name: &str) -> u64 {
    // SHOW, not information_schema.GLOBAL_STATUS: MySQL moved that to performance_schema.
    let row = db.sql(&format!("SHOW GLOBAL STATUS LIKE '{name}'"));
    row.split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("status {name}: {row:?}"))
}

fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Fills `db` with application sessions until it refuses one: the sessions, and the error.
fn fill(db: &Server) -> (Vec<std::process::Child>, String) {
    let mut held = Vec::new();
    let refused = loop {
        let child = db
            .tcp_client("kefu", APP_PASSWORD)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        held.push(child);
        std::thread::sleep(Duration::from_millis(150));
        let last = held.last_mut().unwrap();
        if let Some(status) = last.try_wait().unwrap() {
            let mut err = String::new();
            last.stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            assert!(!status.success());
            break err;
        }
        assert!(held.len() < 40, "the server never refused a connection");
    };
    assert!(
        refused.contains("1040") || refused.contains("Too many connections"),
        "{refused}"
    );
    (held, refused)
}

fn release(held: Vec<std::process::Child>) {
    for mut c in held {
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// A full server: the persistent connection keeps reporting; a fresh connection (check, a
/// new exporter) gets error 1040 and says so.
#[test]
fn a_full_server_is_still_seen() {
    let db = Server::start(&["--max-connections=12"]);
    let exporter = Exporter::start(&config_for(db.port, ""), &[]);
    assert_eq!(up(&exporter), 1.0);
    let (held, _) = fill(&db);

    let s = exporter.scrape();
    assert_eq!(om::get(&s, "mysql_up", &[]), Some(1.0));
    assert_eq!(
        om::get(&s, "mysql_global_variables_max_connections", &[]),
        Some(12.0)
    );
    let connected = om::get(&s, "mysql_global_status_threads_connected", &[]).unwrap();
    assert!((12.0..=13.0).contains(&connected), "{connected}");
    if db.is_mysql() {
        // MySQL counts the refusal; MariaDB refuses after authentication and does not, so
        // there the saturation ratio is the signal.
        let refused = om::get(
            &s,
            "mysql_global_status_connection_errors_total",
            &[("error", "max_connections")],
        )
        .unwrap();
        assert!(refused >= 1.0, "{refused}");
    }

    // A new connection is refused, and the error says what it means.
    let fresh = Exporter::start(&config_for(db.port, ""), &[]);
    assert_eq!(up(&fresh), 0.0);
    let log = fresh.log();
    assert!(
        log.contains("server error 1040") && log.contains("the server is full (max_connections)"),
        "{log}"
    );
    release(held);
}

/// MariaDB's extra_port and MySQL's admin_port have connection slots of their own:
/// configured as `extra_port`, it lets a fresh connection into a full server.
#[test]
fn extra_port_gets_into_a_full_server() {
    let extra_port = common::free_port();
    let db = if common::flavor() == common::Flavor::MariaDb {
        Server::start(&[
            "--max-connections=12",
            &format!("--extra-port={extra_port}"),
            "--extra-max-connections=2",
        ])
    } else {
        let db = Server::start(&[
            "--max-connections=12",
            "--admin-address=127.0.0.1",
            &format!("--admin-port={extra_port}"),
        ]);
        // MySQL's administrative interface is for accounts with this privilege only.
        db.sql("GRANT SERVICE_CONNECTION_ADMIN ON *.* TO 'exporter'@'%'");
        db
    };
    let (mut held, _) = fill(&db);
    if db.is_mysql() {
        // MySQL lets SERVICE_CONNECTION_ADMIN use the one connection it keeps past
        // max_connections on the main port too: root takes it (the refused application
        // session may still be counted for a moment, so try until it sticks), and then only
        // the admin port is left.
        let sleeper = eventually(
            Duration::from_secs(10),
            "root to hold the reserved connection",
            || {
                let mut sleeper = Command::new("mariadb")
                    .args(["--no-defaults", "-uroot"])
                    .arg(format!("--socket={}", db.socket.display()))
                    .args(["-e", "SELECT SLEEP(120)"])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .unwrap();
                std::thread::sleep(Duration::from_millis(500));
                if sleeper.try_wait().unwrap().is_none() && db.try_sql("SELECT 1").is_err() {
                    return Some(sleeper);
                }
                let _ = sleeper.kill();
                let _ = sleeper.wait();
                None
            },
        );
        held.push(sleeper);
    }
    let via_extra = Exporter::start(
        &config_for(db.port, "").replace(
            "    tls:",
            &format!("    extra_port: {extra_port}\n    tls:"),
        ),
        &[],
    );
    assert_eq!(up(&via_extra), 1.0, "{}", via_extra.log());
    assert!(
        via_extra.log().contains("trying extra_port"),
        "{}",
        via_extra.log()
    );
    release(held);
}

/// `check` and `kill-idle` get into a full server through the connection it keeps for
/// CONNECTION ADMIN, one run after the other: ten rounds of filling the server, `check`,
/// a dry run and, a second later, `--execute`. The slot is free again only a moment after
/// the previous run left it: a refused connect is retried briefly.
#[test]
fn check_and_kill_idle_get_into_a_full_server_every_time() {
    let db = Server::start(&["--max-connections=6"]);
    let admin = if db.is_mysql() {
        "CONNECTION_ADMIN"
    } else {
        "CONNECTION ADMIN"
    };
    db.sql(&format!(
        "CREATE USER 'fixer'@'127.0.0.1' IDENTIFIED BY '{EXPORTER_PASSWORD}';
         GRANT PROCESS, {admin} ON *.* TO 'fixer'@'127.0.0.1';
         GRANT SELECT ON performance_schema.* TO 'fixer'@'127.0.0.1';"
    ));
    // The default TLS mode (preferred): one TCP connection a connect.
    let config = format!(
        "targets:\n  - name: primary\n    dsn: mysql://fixer@127.0.0.1:{}\n    password_file: {{password_file}}\n\
         pools:\n  - name: kefu\n    match: {{ user: kefu }}\n    size: 3\n    max_overflow: 2\n",
        db.port
    );
    let kill = |execute: bool| {
        let mut args = vec![
            "kill-idle",
            "--pool=kefu",
            "--idle-in-transaction-older-than=1h",
            "--idle-older-than=0s",
        ];
        if execute {
            args.push("--execute");
        }
        common::run_cli(&args, &config, EXPORTER_PASSWORD)
    };
    for round in 1..=10 {
        let (held, _) = fill(&db);
        // Another admin holds the reserved connection for a moment when check starts.
        let mut other_admin = db
            .tcp_client("fixer", EXPORTER_PASSWORD)
            .args(["-e", "SELECT SLEEP(0.8)"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let (code, out, err) = common::run_cli(&["check"], &config, EXPORTER_PASSWORD);
        assert!(
            code < 3 && out.starts_with("MYSQL POOL "),
            "round {round}: check did not get in ({code}):\n{out}{err}"
        );
        // It had the slot first, so check got in by asking again once it was free.
        assert!(other_admin.wait().unwrap().success(), "round {round}");
        let (code, out, err) = kill(false);
        assert!(
            code == 0 && out.contains("would kill"),
            "round {round}: dry run ({code}):\n{out}{err}"
        );
        std::thread::sleep(Duration::from_secs(1));
        let (code, out, err) = kill(true);
        assert!(
            code == 0 && out.contains("  killed "),
            "round {round}: --execute ({code}):\n{out}{err}"
        );
        release(held);
        eventually(Duration::from_secs(10), "the killed sessions gone", || {
            (status_var(&db, "Threads_connected") <= 2).then_some(())
        });
    }
}

/// Stop and start the server: mysql_up 0 while it is down, back within one scrape after the
/// backoff, no leaked sockets.
#[test]
fn a_server_restart_is_survived() {
    let mut db = Server::start(&[]);
    let exporter = Exporter::start(&config_for(db.port, ""), &[]);
    assert_eq!(up(&exporter), 1.0);
    let fds_before = open_files(exporter.child.id());
    db.stop();
    for _ in 0..3 {
        let s = exporter.scrape();
        assert_eq!(om::get(&s, "mysql_up", &[]), Some(0.0));
        assert_eq!(
            om::get(
                &s,
                "mysql_exporter_collector_success",
                &[("collector", "sessions")]
            ),
            Some(0.0)
        );
        assert!(
            !s.keys().any(|k| k.starts_with("mysql_sessions")),
            "stale series while down"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    db.restart();
    // The longest backoff is 5 s: the first scrape after it sees the server again.
    std::thread::sleep(Duration::from_millis(5200));
    assert_eq!(up(&exporter), 1.0, "{}", exporter.log());
    let log = exporter.log();
    assert!(
        log.contains("reconnected to MySQL") || log.contains("connected to MySQL"),
        "{log}"
    );
    let fds_after = eventually(Duration::from_secs(5), "file descriptors to settle", || {
        let n = open_files(exporter.child.id());
        (n <= fds_before).then_some(n)
    });
    assert_eq!(fds_after, fds_before);
    assert!(!log.contains("panicked"), "{log}");
}

/// A server that accepts TCP and never answers, and one that freezes mid-connection: every
/// scrape answers within Prometheus' timeout, with mysql_up 0 and the reason in the log.
#[test]
fn a_hung_server_cannot_hold_a_scrape() {
    // The black hole: accepts, never speaks.
    let hole = TcpListener::bind("127.0.0.1:0").unwrap();
    let hole_port = hole.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in hole.incoming().flatten() {
            held.push(s);
        }
    });
    let silent = Exporter::start(&config_for(hole_port, ""), &[]);
    let (took, r) = scrape_with_timeout(&silent, "2");
    assert!(took < Duration::from_millis(2300), "took {took:?}");
    let s = om::parse(&r.body);
    assert_eq!(om::get(&s, "mysql_up", &[]), Some(0.0));
    // The start-up connection attempt may still be the one in flight: its connect timeout
    // (5 s) ends it and says why in the log.
    eventually(
        Duration::from_secs(8),
        "the connect timeout in the log",
        || silent.log().contains("no answer within").then_some(()),
    );

    // A real server that stops answering while the exporter is connected. The general log
    // shows the statements the exporter's session ran.
    let db = Server::start(&["--general-log=ON", "--log-output=TABLE"]);
    let exporter = Exporter::start(&config_for(db.port, ""), &[]);
    assert_eq!(up(&exporter), 1.0);
    db.freeze(true);
    let (took, r) = scrape_with_timeout(&exporter, "2");
    db.freeze(false);
    assert!(took < Duration::from_millis(2300), "took {took:?}");
    let s = om::parse(&r.body);
    assert_eq!(om::get(&s, "mysql_up", &[]), Some(0.0));
    assert_eq!(
        om::get(
            &s,
            "mysql_exporter_collector_success",
            &[("collector", "global_status")]
        ),
        Some(0.0)
    );
    let log = exporter.log();
    assert!(
        log.contains("no answer to the global_status query before the scrape deadline"),
        "{log}"
    );
    // Back after the backoff, on a new connection.
    std::thread::sleep(Duration::from_millis(5200));
    assert_eq!(up(&exporter), 1.0);
    // Every exporter session bounds its statements on the server side, so a query the
    // exporter abandoned does not run on.
    let limit = if db.is_mysql() {
        "SET SESSION max_execution_time = 5000"
    } else {
        "SET SESSION max_statement_time = 5.000"
    };
    let set = db.sql(&format!(
        "SELECT COUNT(*) FROM mysql.general_log WHERE user_host LIKE 'exporter%' \
         AND CONVERT(argument USING utf8mb4) = '{limit}'"
    ));
    assert_eq!(set.trim(), "2", "one `{limit}` per connection");
}

/// Ten scrapes at once cause one set of queries on the server. (The sampler, which reads
/// a few status counters every second, is off: it would be counted too.)
#[test]
fn concurrent_scrapes_share_one_collection() {
    let db = Server::start(&[]);
    let exporter = Exporter::start(&config_for(db.port, ""), &["--no-collect.sampler"]);
    assert_eq!(up(&exporter), 1.0);
    let before = status_var(&db, "COM_SHOW_STATUS");
    let port = exporter.port;
    // Freeze the server so the first collection is still running when the rest arrive.
    db.freeze(true);
    let scrapers: Vec<_> = (0..10)
        .map(|_| {
            std::thread::spawn(move || {
                http_get(
                    port,
                    "/metrics",
                    &[("X-Prometheus-Scrape-Timeout-Seconds", "10")],
                )
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    db.freeze(false);
    for s in scrapers {
        let r = s.join().unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(om::get(&om::parse(&r.body), "mysql_up", &[]), Some(1.0));
    }
    let after = status_var(&db, "COM_SHOW_STATUS");
    // One of the two is this test's own SHOW GLOBAL STATUS that read `after`.
    assert_eq!(
        after - before - 1,
        1,
        "SHOW GLOBAL STATUS ran {} times for 10 scrapes",
        after - before - 1
    );
}

/// Oversized headers get 431; a client that never finishes its headers is cut off after
/// the header-read timeout while others are served.
#[test]
fn hostile_http_clients_are_cut_off() {
    let exporter = Exporter::start(
        "targets:\n  - name: t\n    dsn: mysql://u@127.0.0.1:1\n",
        &[],
    );
    let big = "x".repeat(100 * 1024);
    let r = http_get(exporter.port, "/-/healthy", &[("X-Big", &big)]);
    assert_eq!(r.status, 431, "{}", r.body);

    let mut slow = TcpStream::connect(("127.0.0.1", exporter.port)).unwrap();
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let started = Instant::now();
    assert_eq!(
        exporter.get("/-/healthy").status,
        200,
        "others are served meanwhile"
    );
    let mut buf = [0u8; 512];
    let n = slow.read(&mut buf).unwrap_or(0);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(9) && took < Duration::from_secs(14),
        "cut after {took:?}"
    );
    let reply = String::from_utf8_lossy(&buf[..n]);
    assert!(n == 0 || reply.starts_with("HTTP/1.1 408"), "{reply}");
}

/// SIGTERM: the exporter closes its MySQL session and exits 0.
#[test]
fn sigterm_shuts_down_cleanly() {
    let db = Server::start(&[]);
    let mut exporter = Exporter::start(&config_for(db.port, ""), &[]);
    assert_eq!(up(&exporter), 1.0);
    let sessions = || {
        db.sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'exporter'")
            .trim()
            .to_string()
    };
    assert_eq!(sessions(), "1");
    assert!(Command::new("kill")
        .arg("-TERM")
        .arg(exporter.child.id().to_string())
        .status()
        .unwrap()
        .success());
    let status = eventually(Duration::from_secs(10), "the exporter to exit", || {
        exporter.child.try_wait().unwrap()
    });
    assert_eq!(status.code(), Some(0));
    assert!(exporter.log().contains("shut down"), "{}", exporter.log());
    eventually(Duration::from_secs(5), "its MySQL session to close", || {
        (sessions() == "0").then_some(())
    });
}

/// Without PROCESS the session data cannot be read: those collectors are skipped, said
/// once in the log, and the others keep working.
#[test]
fn a_missing_privilege_skips_collectors_once() {
    let db = Server::start(&[]);
    db.sql(&format!("CREATE USER 'weak'@'%' IDENTIFIED BY '{EXPORTER_PASSWORD}'; GRANT SELECT ON performance_schema.* TO 'weak'@'%';"));
    let exporter = Exporter::start(&config_for(db.port, "").replace("exporter@", "weak@"), &[]);
    let mut s = exporter.scrape();
    for _ in 0..2 {
        s = exporter.scrape();
    }
    assert_eq!(om::get(&s, "mysql_up", &[]), Some(1.0));
    assert_eq!(
        om::get(
            &s,
            "mysql_exporter_collector_success",
            &[("collector", "global_status")]
        ),
        Some(1.0)
    );
    for c in ["sessions", "processlist", "pools", "locks"] {
        assert_eq!(
            om::get(&s, "mysql_exporter_collector_skipped", &[("collector", c)]),
            Some(1.0),
            "{c}"
        );
        assert_eq!(
            om::get(&s, "mysql_exporter_collector_success", &[("collector", c)]),
            None,
            "{c}"
        );
    }
    // Three scrapes, one line per skipped source, each once: the session list, the lock
    // waits and INNODB_METRICS. Each names the grant.
    let log = exporter.log();
    let mut sources: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("source skipped"))
        .map(|l| {
            assert!(l.contains("GRANT PROCESS"), "{l}");
            l.split("source=")
                .nth(1)
                .unwrap_or("")
                .split_whitespace()
                .next()
                .unwrap_or("")
        })
        .collect();
    sources.sort();
    assert_eq!(
        sources,
        ["innodb_metrics", "lock_waits", "threads"],
        "{log}"
    );
}

/// A distinctive password goes through every path that could print it: it never does.
#[test]
fn the_password_never_appears_in_any_output() {
    let db = Server::start(&[]);
    let secret = "Zq9-unique-S3cr3t-pw";
    db.sql(&format!(
        "CREATE USER 'secretive'@'%' IDENTIFIED BY '{secret}'; GRANT PROCESS, REPLICATION CLIENT ON *.* TO 'secretive'@'%';"
    ));
    let mut everything = String::new();
    let dir = common::scratch("secrets");
    let with_dsn_pw = format!("targets:\n  - name: primary\n    dsn: mysql://secretive:{secret}@127.0.0.1:{}\n    tls: {{ mode: disabled }}\npools:\n  - name: p\n    match: {{ user: kefu }}\n    size: 1\n", db.port);
    let wrong_pw = with_dsn_pw.replace(secret, &format!("{secret}-wrong"));
    for (name, cfg) in [("right.yml", &with_dsn_pw), ("wrong.yml", &wrong_pw)] {
        let path = dir.join(name);
        std::fs::write(&path, cfg).unwrap();
        let p = path.to_str().unwrap();
        for args in [
            vec!["config", "check", p],
            vec!["check", "--config.file", p],
            vec!["check", "--format", "json", "--config.file", p],
            vec![
                "kill-idle",
                "--config.file",
                p,
                "--pool",
                "p",
                "--idle-in-transaction-older-than",
                "1s",
            ],
            vec![
                "--log.level",
                "debug",
                "--config.file",
                p,
                "--web.listen-address",
                "bad",
            ],
        ] {
            let out = Command::new(env!("CARGO_BIN_EXE_mysql_pool_exporter"))
                .args(&args)
                .output()
                .unwrap();
            everything += &String::from_utf8_lossy(&out.stdout);
            everything += &String::from_utf8_lossy(&out.stderr);
        }
        // Serving, with debug logs, a scrape, the status page and a probe.
        let e = Exporter::start(
            &format!("{cfg}\n"),
            &["--log.level", "debug", "--log.format", "json"],
        );
        everything += &e.get("/metrics").body;
        everything += &e.get("/").body;
        everything += &e.get("/probe?target=primary").body;
        std::thread::sleep(Duration::from_millis(200));
        everything += &e.log();
    }
    // And the same through MYSQL_PASSWORD / MYSQL_DSN.
    let out = Command::new(env!("CARGO_BIN_EXE_mysql_pool_exporter"))
        .args(["check"])
        .env(
            "MYSQL_DSN",
            format!("mysql://secretive@127.0.0.1:{}", db.port),
        )
        .env("MYSQL_PASSWORD", format!("{secret}-wrong"))
        .output()
        .unwrap();
    everything += &String::from_utf8_lossy(&out.stdout);
    everything += &String::from_utf8_lossy(&out.stderr);
    assert!(
        everything.contains("Access denied for user 'secretive'"),
        "the wrong password was tried: {everything}"
    );
    assert!(everything.contains("mysql_up 1"), "the right one worked");
    assert!(
        !everything.contains(secret),
        "the password leaked somewhere in:\n{everything}"
    );
}

/// A struggling server's slow query log is the first thing its DBA reads: the exporter's
/// own statements (scrapes, the status page, `check`, a `kill-idle` dry run) never land in
/// it, even with `long_query_time = 0` and `log_queries_not_using_indexes`, while the
/// application's do.
#[test]
fn the_exporters_statements_stay_out_of_the_slow_log() {
    let db = Server::start(&[
        "--slow-query-log=ON",
        "--long-query-time=0",
        "--log-queries-not-using-indexes=ON",
        "--log-output=FILE",
        "--slow-query-log-file=slow.log",
    ]);
    let config = config_for(
        db.port,
        "pools:\n  - name: kefu\n    match: { user: kefu }\n    size: 5\n    max_overflow: 0\n",
    );
    let slow_log = db.dir.join("data/slow.log");
    if db.is_mysql() {
        // MySQL wants SESSION_VARIABLES_ADMIN for min_examined_row_limit; without it the
        // exporter says so (and its statements that use no index are logged).
        let without = Exporter::start(&config, &[]);
        assert_eq!(up(&without), 1.0);
        assert!(
            without
                .log()
                .contains("SESSION_VARIABLES_ADMIN (MySQL) to keep them out"),
            "{}",
            without.log()
        );
        drop(without);
        db.sql("GRANT SESSION_VARIABLES_ADMIN ON *.* TO 'exporter'@'%'");
        std::fs::write(&slow_log, "").unwrap();
    }
    let exporter = Exporter::start(&config, &[]);
    let mut app = db
        .tcp_client("kefu", APP_PASSWORD)
        .args(["-e", "SELECT COUNT(*) FROM kefu.visitors WHERE name <> 'x'"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(app.wait().unwrap().success());
    for _ in 0..3 {
        assert_eq!(up(&exporter), 1.0, "{}", exporter.log());
    }
    assert_eq!(exporter.get("/").status, 200);
    let (code, out, err) = common::run_cli(&["check"], &config, EXPORTER_PASSWORD);
    assert!(code < 3, "{out}{err}");
    let (code, out, err) = common::run_cli(
        &[
            "kill-idle",
            "--pool=kefu",
            "--idle-in-transaction-older-than=1s",
        ],
        &config,
        EXPORTER_PASSWORD,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(!exporter.log().contains("SESSION_VARIABLES_ADMIN"));
    drop(exporter);

    let log = eventually(
        Duration::from_secs(10),
        "the application in the slow log",
        || {
            let log = std::fs::read_to_string(&slow_log).ok()?;
            log.contains("kefu[kefu]").then_some(log)
        },
    );
    assert!(
        !log.contains("exporter[exporter]"),
        "the exporter's statements are in the slow log:\n{}",
        log.lines()
            .skip_while(|l| !l.contains("exporter[exporter]"))
            .take(12)
            .collect::<Vec<_>>()
            .join("\n")
    );
}
