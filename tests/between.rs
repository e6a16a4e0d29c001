//! Between the scrapes, on a real server (MPE_TEST_SERVER=mariadb|mysql): a pool full for
//! about 4 s between two Prometheus scrapes 15 s apart is seen in the sampler's max series,
//! in `check --exporter`, on the status page and in a real Prometheus alert, while every
//! scrape saw the pool nearly empty; an account that connects per request is named; apps with
//! no pool configured show by their program_name.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{
    eventually, om, run_cli, server, target_config, AppProcess, AppState, Exporter, Prometheus,
    APP_PASSWORD, EXPORTER_PASSWORD,
};

/// Five connections, all in the burst app's pool.
fn burst_config(db: &common::Server) -> String {
    format!(
        "{}pools:\n  - name: burst-app\n    match: {{ user: kefu, attributes: {{ program_name: burst-app }} }}\n    size: 5\n    max_overflow: 0\n",
        target_config(db)
    )
}

fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn a_burst_between_two_scrapes_is_seen_in_metrics_check_the_page_and_an_alert() {
    let db = server();
    let cfg = burst_config(db);
    let exporter = Exporter::start(&cfg, &["--sampler.interval=1s", "--sampler.window=60s"]);
    let prom = Prometheus::start(&format!(
        "global:\n  scrape_interval: 15s\n  scrape_timeout: 5s\n  evaluation_interval: 1s\n\
         rule_files:\n  - {}\n\
         scrape_configs:\n  - job_name: mysql\n    static_configs:\n      - targets: ['127.0.0.1:{}']\n",
        common::repo()
            .join("alerting-rules/mysql_pool_exporter.rules.yml")
            .display(),
        exporter.port
    ));
    // The time of Prometheus' last scrape; the burst starts 3 s after one and is over 7 s
    // before the next.
    let last_scrape = || -> Option<f64> {
        let r = prom.query("timestamp(mysql_up)");
        r.first()?["value"][1].as_str()?.parse().ok()
    };
    let scraped = eventually(
        Duration::from_secs(40),
        "Prometheus' first scrape",
        last_scrape,
    );
    let mut start_at = scraped + 3.0;
    while start_at < now_unix() {
        start_at += 15.0;
    }
    std::thread::sleep(Duration::from_secs_f64(start_at - now_unix()));
    let began = Instant::now();
    {
        let _burst = AppProcess::start(db, "pymysql", "burst-app", 5, AppState::InTransaction);
        std::thread::sleep(Duration::from_secs(4));
    }
    let lasted = began.elapsed();
    assert!(
        lasted < Duration::from_secs(9),
        "the burst must end well before the next scrape; it took {lasted:?}"
    );

    // Metrics: the pool is empty now, its max within the window is its capacity.
    let s = exporter.scrape();
    let pool = [("pool", "burst-app")];
    assert_eq!(om::get(&s, "mysql_pool_held_sessions", &pool), Some(0.0));
    assert_eq!(
        om::get(&s, "mysql_pool_held_sessions_max", &pool),
        Some(5.0)
    );
    let full_for = om::get(&s, "mysql_pool_full_seconds", &pool).expect("a spell at capacity");
    assert!((3.0..=7.0).contains(&full_for), "full for {full_for}s");

    // check, judging the exporter's window beside the server's state now.
    let url = format!("http://127.0.0.1:{}", exporter.port);
    let (code, out, err) = run_cli(&["check", "--exporter", &url], &cfg, EXPORTER_PASSWORD);
    let first = out.lines().next().unwrap_or("");
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        first.contains("burst-app: full between scrapes, hit 5/5 held"),
        "{first}"
    );
    // Without the window the same server is fine: the burst is only in the window.
    let (code, out, _) = run_cli(&["check"], &cfg, EXPORTER_PASSWORD);
    assert_eq!(code, 0, "{out}");
    // An exporter that is not there: UNKNOWN, and says why, without the server's verdict lost.
    let gone = format!("http://127.0.0.1:{}", common::free_port());
    let (code, out, _) = run_cli(&["check", "--exporter", &gone], &cfg, EXPORTER_PASSWORD);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("cannot reach the exporter at"), "{out}");

    // The status page: the pool's row takes the finding's colour and says when it was full.
    let shot = common::output_dir().join(format!("status-page-burst-{}.png", db.name()));
    let dom = common::chromium(&format!("{url}/"), &shot);
    assert!(dom.contains("<p id=\"verdict\" class=\"warn\">"), "{dom}");
    let row = &dom[dom
        .find("<tr class=\"row-warn\" data-pool=\"burst-app\">")
        .unwrap_or_else(|| panic!("the pool's row is a warning:\n{dom}"))..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(row.contains("5/5 · full "), "{row}");
    assert!(
        row.contains("<svg class=\"chart\"") || row.contains("fills from"),
        "{row}"
    );
    eprintln!("status page screenshot: {}", shot.display());

    // Prometheus: no scrape saw the pool full, the alert fires from the max.
    let alert = eventually(
        Duration::from_secs(40),
        "MySQLPoolFullBetweenScrapes",
        || {
            prom.active_alerts()
                .into_iter()
                .find(|(name, state, _)| name == "MySQLPoolFullBetweenScrapes" && state == "firing")
        },
    );
    assert_eq!(alert.2["pool"], "burst-app");
    let seen = prom.query("max_over_time(mysql_pool_held_sessions{pool=\"burst-app\"}[5m])");
    let seen: f64 = seen[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!(
        seen < 5.0,
        "a scrape saw the burst ({seen}): the test did not test"
    );
    let exhausted = prom
        .active_alerts()
        .into_iter()
        .any(|(name, _, _)| name == "MySQLPoolExhausted");
    assert!(!exhausted, "a burst is not an exhausted pool");
}

/// The config of `db` with a churn threshold any loaded test machine's client passes: the
/// tests are about naming the account, not about the default level (20/s).
fn churn_config(db: &common::Server) -> String {
    format!(
        "{}thresholds:\n  connection_churn_warning: 5\n  connection_churn_critical: 1000\n",
        target_config(db)
    )
}

/// A client of a new account `churner` that connects, runs one query and disconnects, as fast
/// as it can (50 to 150 logins a second here), for `seconds`.
fn churn(db: &common::Server, seconds: u32) -> std::process::Child {
    db.sql(&format!(
        "CREATE USER IF NOT EXISTS 'churner'@'%' IDENTIFIED BY '{APP_PASSWORD}';
         GRANT SELECT ON kefu.* TO 'churner'@'%';"
    ));
    let script = format!(
        "import pymysql, time\n\
         end = time.time() + {seconds}\n\
         while time.time() < end:\n\
         \x20   c = pymysql.connect(host='127.0.0.1', port={}, user='churner', password='{APP_PASSWORD}', database='kefu', program_name='churner')\n\
         \x20   c.cursor().execute('SELECT 1')\n\
         \x20   c.close()\n\
         \x20   time.sleep(0.005)\n",
        db.port
    );
    Command::new(common::python())
        .args(["-c", &script])
        .stdin(Stdio::null())
        .spawn()
        .expect("start the churning client")
}

/// An account that connects, queries and disconnects in a loop is named by `check`, from
/// the exporter's window and from its own samples, and counted per account in the metrics.
#[test]
fn an_account_that_connects_per_request_is_named() {
    let db = server();
    let cfg = churn_config(db);
    let exporter = Exporter::start(&cfg, &[]);
    let mut churner = churn(db, 20);
    std::thread::sleep(Duration::from_secs(8));
    let url = format!("http://127.0.0.1:{}", exporter.port);
    let (code, out, err) = run_cli(
        &["check", "--format", "json", "--exporter", &url],
        &cfg,
        EXPORTER_PASSWORD,
    );
    let v: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    let churn: Vec<&serde_json::Value> = v["targets"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["cause"] == "churn")
        .collect();
    assert!(code >= 1, "{out}");
    assert_eq!(churn.len(), 1, "one churning account: {out}");
    let summary = churn[0]["summary"].as_str().unwrap();
    eprintln!("churn: {summary}");
    assert!(
        summary.starts_with("account churner@127.0.0.1 opened "),
        "{summary}"
    );
    // check samples by itself, without an exporter.
    let (_, out, _) = run_cli(&["check", "--sample-for", "6s"], &cfg, EXPORTER_PASSWORD);
    eprintln!("check --sample-for 6s: {out}");
    assert!(
        out.contains("connection churn, account churner@127.0.0.1 opened"),
        "{out}"
    );
    let s = exporter.scrape();
    let opened = om::get(
        &s,
        "mysql_account_connections_total",
        &[("mysql_user", "churner"), ("client_host", "127.0.0.1")],
    )
    .expect("churner's counter");
    assert!(opened >= 100.0, "{opened}");
    let _ = churner.kill();
    let _ = churner.wait();
    // The exporter's own connection (program_name mysql_pool_exporter) is in no app and
    // no pool.
    assert!(
        !s.keys().any(|k| k.contains("pool=\"mysql_pool_exporter\"")),
        "{s:?}"
    );
}

/// No pool configured: two real PyMySQL apps show by their program_name, with their
/// sessions by state; the leak of one is its own.
#[test]
fn apps_show_by_program_name_without_any_pool() {
    let db = server();
    let exporter = Exporter::start(&target_config(db), &[]);
    let _one = AppProcess::start(db, "pymysql", "app-one", 3, AppState::InTransaction);
    let _two = AppProcess::start(db, "pymysql", "app-two", 2, AppState::Idle);
    let s = eventually(Duration::from_secs(10), "both apps in the metrics", || {
        let s = exporter.scrape();
        om::get(&s, "mysql_pool_held_sessions", &[("pool", "app-two")])
            .is_some()
            .then_some(s)
    });
    let state = |pool: &str, state: &str| {
        om::get(
            &s,
            "mysql_pool_sessions",
            &[("pool", pool), ("state", state)],
        )
    };
    assert_eq!(state("app-one", "idle_in_transaction"), Some(3.0));
    assert_eq!(state("app-two", "idle"), Some(2.0));
    assert_eq!(
        om::get(&s, "mysql_pool_held_sessions", &[("pool", "app-one")]),
        Some(3.0)
    );
    assert_eq!(
        om::get(&s, "mysql_pool_held_sessions", &[("pool", "app-two")]),
        Some(0.0)
    );
    assert_eq!(
        om::get(&s, "mysql_pool_discovered", &[("pool", "app-one")]),
        Some(1.0)
    );
    assert_eq!(
        om::get(&s, "mysql_pool_capacity", &[("pool", "app-one")]),
        None
    );
    assert_eq!(
        om::get(&s, "mysql_pool_held_sessions_max", &[("pool", "app-one")]),
        Some(3.0)
    );
}

/// Without performance_schema: on MariaDB with `userstat=1` the connections are counted per
/// user from USER_STATISTICS; on MySQL (no such table) the source is skipped with one log
/// line saying how to enable it, and the global counter still tells `check` the server takes
/// logins too fast.
#[test]
fn without_performance_schema_churn_is_read_from_what_the_server_has() {
    let mysql = common::flavor() == common::Flavor::MySql;
    let extra: &[&str] = if mysql {
        &["--performance-schema=OFF"]
    } else {
        &["--performance-schema=OFF", "--userstat=1"]
    };
    let db = common::Server::start(extra);
    let cfg = churn_config(&db);
    let exporter = Exporter::start(&cfg, &[]);
    let mut churner = churn(&db, 12);
    std::thread::sleep(Duration::from_secs(8));
    let url = format!("http://127.0.0.1:{}", exporter.port);
    let (code, out, err) = run_cli(&["check", "--exporter", &url], &cfg, EXPORTER_PASSWORD);
    let s = exporter.scrape();
    let _ = churner.kill();
    let _ = churner.wait();
    assert!(code >= 1, "{out}{err}");
    if mysql {
        assert!(
            out.contains("connection churn, the server took "),
            "the global counter speaks: {out}"
        );
        let log = exporter.log();
        let skipped: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("source=account_connections"))
            .collect();
        assert_eq!(skipped.len(), 1, "said once: {log}");
        assert!(
            skipped[0].contains("--performance-schema=ON"),
            "{}",
            skipped[0]
        );
    } else {
        assert!(
            out.contains("connection churn, account churner opened "),
            "per user: {out}"
        );
        let opened = om::get(
            &s,
            "mysql_account_connections_total",
            &[("mysql_user", "churner"), ("client_host", "")],
        );
        assert!(opened.is_some_and(|n| n >= 100.0), "{opened:?}");
    }
    db.stop();
}

/// `Threads_running` as the server counts it now (the reading session included).
fn threads_running(db: &common::Server) -> u64 {
    let out = db.sql("SHOW GLOBAL STATUS LIKE 'Threads_running'");
    out.trim()
        .rsplit('\t')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("Threads_running: {out:?}"))
}

/// The sampler's running threads between two scrapes agree with the server's own count. On
/// MariaDB the sampler counts them in the session list (asking the server would make it walk
/// every session each second); on MySQL it reads `Threads_running`.
#[test]
fn running_threads_between_scrapes_agree_with_the_server() {
    let db = server();
    let exporter = Exporter::start(
        &target_config(db),
        &["--sampler.interval=1s", "--sampler.window=60s"],
    );
    let s = exporter.scrape();
    let before = om::get(&s, "mysql_threads_running_max", &[]).expect("a running max");

    let waiting = 6;
    let running_now;
    {
        let _holder = AppProcess::start(db, "pymysql", "lock-app", 1, AppState::LockHolder);
        let _waiters = AppProcess::start(db, "pymysql", "lock-app", waiting, AppState::LockWaiter);
        running_now = eventually(
            Duration::from_secs(20),
            "the waiters running (Threads_running)",
            || {
                let n = threads_running(db);
                (n > waiting as u64).then_some(n)
            },
        );
        // Three samples or more with the waiters in place, and no scrape.
        std::thread::sleep(Duration::from_secs(4));
    }
    eventually(Duration::from_secs(20), "the waiters gone", || {
        (threads_running(db) <= before as u64 + 1).then_some(())
    });
    let s = exporter.scrape();
    let max = om::get(&s, "mysql_threads_running_max", &[]).expect("a running max");
    // The server counted the waiters and the session that asked; the sampler counts the
    // waiters and its own session: the same, give or take the other one's reading.
    let want = running_now as f64;
    assert!(
        (want - 1.0..=want + 1.0).contains(&max),
        "{}: the sampler's running max is {max}; the server said {running_now} with {waiting} waiting (before: {before})",
        db.name()
    );
}
