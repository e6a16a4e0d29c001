//! The verdict in the four shapes of a pool incident, with real application processes on a
//! real server, `check` as Nagios runs it, and the bundled rules in a real Prometheus:
//! - a leak (SQLAlchemy's QueuePool emptied by sessions never returned);
//! - a row-lock chain (one idle transaction holds a row, 20 sessions queue for it; the other
//!   kinds of lock are in tests/locks.rs);
//! - capacity (pools declared to 80 connections, max_connections 60, honest load);
//! - healthy and busy (14 of 20 busy with short queries, 6 parked in the pool), and the same
//!   sessions judged as an autocommit app's that keeps idle connections checked out.
//!
//! Each asserts the exit code, the cause, the culprits (against the ids the server gave the
//! application's own connections), that waiters are never named as blockers, and which
//! alerts become active.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{check, eventually, ids, App, AppProcess, AppState, Exporter, Prometheus, Server};

fn config(db: &Server, pools: &str, thresholds: &str) -> String {
    format!(
        "targets:\n  - name: primary\n    dsn: mysql://exporter@127.0.0.1:{}\n    password_file: {{password_file}}\n    tls: {{ mode: disabled }}\npools:\n{pools}{thresholds}",
        db.port
    )
}

/// The names of the alerts pending or firing, once the rules saw a few scrapes.
fn active_alerts(prom: &Prometheus) -> BTreeSet<String> {
    prom.active_alerts()
        .into_iter()
        .map(|(name, _, _)| name)
        .collect()
}

fn kefu_count(db: &Server, filter: &str) -> usize {
    db.sql(&format!(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST p \
         LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID \
         WHERE p.USER = 'kefu' AND {filter}"
    ))
    .trim()
    .parse()
    .unwrap()
}

#[test]
fn a_leak_names_the_pool_and_the_leaked_sessions() {
    let db = Server::start(&[]);
    // SQLAlchemy's QueuePool of 5 + 10: every connection read a row and was never returned,
    // and the next request meets "QueuePool limit of size 5 overflow 10 reached".
    let app = App {
        pool: Some((5, 10)),
        exhaust: true,
        ..App::new("sqlalchemy", "kefu-flask", 15, AppState::InTransaction)
    }
    .start(&db);
    assert!(
        app.pool_error
            .contains("QueuePool limit of size 5 overflow 10 reached"),
        "{}",
        app.pool_error
    );
    let cfg = config(
        &db,
        "  - name: kefu-flask\n    match: { user: kefu, db: kefu }\n    size: 5\n    max_overflow: 10\n",
        "thresholds:\n  idle_in_transaction: 1s\n",
    );
    std::thread::sleep(Duration::from_millis(2100));
    let (code, v, first) = check(&cfg);
    assert_eq!(code, 2, "{v}");
    assert!(
        first.starts_with(
            "MYSQL POOL CRITICAL - kefu-flask: leak, 15 sessions idle in transaction (oldest "
        ),
        "{first}"
    );
    assert!(first.contains("15/15 held; look at "), "{first}");
    let f = &v["targets"][0]["findings"][0];
    assert_eq!(
        (f["cause"].as_str(), f["pool"].as_str()),
        (Some("leak"), Some("kefu-flask"))
    );
    let culprits = ids(&f["culprits"]);
    let leaked: BTreeSet<u64> = app.ids.iter().copied().collect();
    assert_eq!(culprits.len(), 5);
    assert!(
        culprits.is_subset(&leaked),
        "{culprits:?} not in {leaked:?}"
    );
    assert_eq!(f["more_ids"].as_array().unwrap().len(), 10);

    // The bundled rules: the leak alert and the exhaustion alert become active, once the
    // leaked transactions are older than the rules' 30 s.
    let exporter = Exporter::start(&cfg, &[]);
    let prom = Prometheus::with_bundled_rules(exporter.port);
    let alerts = eventually(Duration::from_secs(60), "the leak alerts", || {
        let a = active_alerts(&prom);
        (a.contains("MySQLIdleInTransaction") && a.contains("MySQLPoolExhausted")).then_some(a)
    });
    assert!(!alerts.contains("MySQLLockWaitChain"), "{alerts:?}");

    // The status page leads with the same verdict, and charts the pool from the exporter's
    // own collections (Prometheus scraped it every second for half a minute by now).
    let shot = common::output_dir().join(format!("status-page-leak-chart-{}.png", db.name()));
    let dom = common::chromium(&format!("http://127.0.0.1:{}/", exporter.port), &shot);
    let verdict = first.split(" (oldest").next().unwrap();
    assert!(
        dom.contains(&format!("<p id=\"verdict\" class=\"crit\">{verdict}")),
        "{verdict}\n{dom}"
    );
    let row = &dom[dom
        .find("data-pool=\"kefu-flask\"")
        .expect("the pool's row")..];
    assert!(row.contains("<svg class=\"chart\""), "{row}");
    assert!(
        row.contains("<title>last hour: held 15, open 15 of 15</title>"),
        "{row}"
    );
    eprintln!("status page screenshot: {}", shot.display());
    drop(app);
}

#[test]
fn a_lock_chain_names_the_root_blocker_never_a_waiter() {
    let db = Server::start(&[]);
    let holder = AppProcess::start(&db, "pymysql", "kefu-flask", 1, AppState::LockHolder);
    let waiters = AppProcess::start(&db, "pymysql", "kefu-flask", 20, AppState::LockWaiter);
    eventually(Duration::from_secs(20), "20 waiters", || {
        (kefu_count(&db, "t.trx_state = 'LOCK WAIT'") == 20).then_some(())
    });
    // Waits of InnoDB's default 50 s are cut at 300 s here; the chain is judged after 11 s,
    // past the default lock_wait of 10 s (check and the alert alike).
    std::thread::sleep(Duration::from_secs(11));
    let cfg = config(
        &db,
        "  - name: kefu-flask\n    match: { user: kefu }\n    size: 20\n",
        "",
    );
    let (code, v, first) = check(&cfg);
    assert_eq!(code, 2, "{v}");
    let holder_id = holder.ids[0];
    assert!(
        first.starts_with(&format!(
            "MYSQL POOL CRITICAL - kefu-flask: row lock, 20 sessions wait for session {holder_id} (kefu@127.0.0.1, idle in transaction "
        )),
        "{first}"
    );
    let t = &v["targets"][0];
    let f = &t["findings"][0];
    assert_eq!(f["cause"], "lock_chain");
    assert_eq!(f["chain"]["lock"], "row");
    assert_eq!(f["chain"]["root_id"], holder_id);
    assert_eq!(f["chain"]["inferred"], false);
    assert_eq!(f["culprits"][0]["id"], holder_id);
    assert_eq!(f["culprits"][0]["blocks"], 20);
    // InnoDB lists queued requests as blocking each other: none of them is a blocker here.
    let blockers = ids(&t["root_blockers"]);
    assert_eq!(blockers, BTreeSet::from([holder_id]));
    let waiting: BTreeSet<u64> = waiters.ids.iter().copied().collect();
    for finding in t["findings"].as_array().unwrap() {
        assert!(ids(&finding["culprits"]).is_disjoint(&waiting), "{finding}");
    }

    let exporter = Exporter::start(&cfg, &[]);
    let s = exporter.scrape();
    assert_eq!(
        common::om::get(
            &s,
            "mysql_lock_root_blocker_waiters",
            &[
                ("mysql_user", "kefu"),
                ("client_host", "127.0.0.1"),
                ("lock", "row")
            ]
        ),
        Some(20.0)
    );
    assert_eq!(
        common::om::get(&s, "mysql_lock_waiting_sessions", &[("lock", "row")]),
        Some(20.0)
    );
    assert_eq!(
        common::om::get(
            &s,
            "mysql_pool_sessions",
            &[("pool", "kefu-flask"), ("state", "lock_wait")]
        ),
        Some(20.0)
    );
    let prom = Prometheus::with_bundled_rules(exporter.port);
    let alert = eventually(Duration::from_secs(30), "MySQLLockWaitChain", || {
        prom.active_alerts()
            .into_iter()
            .find(|(name, _, _)| name == "MySQLLockWaitChain")
    });
    assert_eq!(alert.2["mysql_user"], "kefu");
    assert_eq!(alert.2["client_host"], "127.0.0.1");
    assert_eq!(alert.2["lock"], "row");
    drop((holder, waiters));
}

#[test]
fn capacity_names_the_overcommit_and_the_full_server() {
    let db = Server::start(&["--max-connections=60"]);
    let web = AppProcess::start(&db, "pymysql", "kefu-flask", 27, AppState::Busy);
    let jobs = App {
        user: "report",
        ..App::new("pymysql", "kefu-jobs", 27, AppState::Busy)
    }
    .start(&db);
    let cfg = config(
        &db,
        "  - name: kefu-flask\n    match: { user: kefu }\n    size: 40\n  - name: reports\n    match: { user: report }\n    size: 40\n",
        "",
    );
    let (code, v, first) = check(&cfg);
    assert_eq!(code, 1, "{v}");
    assert!(
        first.starts_with("MYSQL POOL WARNING - primary: capacity, server at 5"),
        "{first}"
    );
    assert!(
        first.contains("the pools are declared to 80 connections, 133% of max_connections"),
        "{first}"
    );
    assert!(first.contains("(kefu 27, report 27"), "{first}");
    let f = &v["targets"][0]["findings"][0];
    assert_eq!(
        (f["cause"].as_str(), f["pool"].is_null()),
        (Some("capacity"), true)
    );

    let exporter = Exporter::start(&cfg, &[]);
    let prom = Prometheus::with_bundled_rules(exporter.port);
    let alerts = eventually(Duration::from_secs(30), "the capacity alerts", || {
        let a = active_alerts(&prom);
        (a.contains("MySQLPoolOvercommitted") && a.contains("MySQLConnectionsNearLimit"))
            .then_some(a)
    });
    assert!(!alerts.contains("MySQLPoolExhausted"), "{alerts:?}");
    drop((web, jobs));
}

#[test]
fn a_healthy_busy_pool_raises_nothing_critical() {
    let db = Server::start(&[]);
    // A pool of 20 that was full: 14 connections serve short requests, 6 are back in the
    // pool (rolled back, idle, still open). Open 20 of 20, held 14.
    let app = App {
        checkin: 6,
        ..App::new("sqlalchemy", "kefu-flask", 20, AppState::Busy)
    }
    .start(&db);
    assert_eq!(app.ids.len(), 14);
    eventually(Duration::from_secs(20), "20 kefu sessions", || {
        (kefu_count(&db, "1 = 1") == 20).then_some(())
    });
    let pool = "  - name: kefu-flask\n    match: { user: kefu }\n    size: 20\n";
    let cfg = config(&db, pool, "");
    let (code, v, first) = check(&cfg);
    assert_eq!(code, 0, "{v}");
    assert!(first.starts_with("MYSQL POOL OK - kefu-flask "), "{first}");
    let p = &v["targets"][0]["pools"][0];
    assert_eq!(p["open"], 20);
    let held = p["held"].as_u64().unwrap();
    assert!(
        (8..=14).contains(&held),
        "14 busy, a few between queries: {held}"
    );

    let exporter = Exporter::start(&cfg, &[]);
    let s = exporter.scrape();
    assert_eq!(
        common::om::get(&s, "mysql_pool_open_ratio", &[("pool", "kefu-flask")]),
        Some(1.0)
    );
    let util = common::om::get(
        &s,
        "mysql_pool_utilization_ratio",
        &[("pool", "kefu-flask")],
    )
    .unwrap();
    assert!(util <= 0.7, "{util}");
    let prom = Prometheus::with_bundled_rules(exporter.port);
    prom.wait_for_evaluations(5);
    let critical: Vec<_> = prom
        .active_alerts()
        .into_iter()
        .filter(|(_, _, labels)| labels["severity"] == "critical")
        .collect();
    assert!(critical.is_empty(), "{critical:?}");
    let alerts = active_alerts(&prom);
    assert!(!alerts.contains("MySQLPoolNearExhaustion"), "{alerts:?}");

    // The same sessions, as an autocommit app's that keeps idle connections checked out: its
    // idle connections hold slots, 20 of 20, and the rule for such a pool says exhausted.
    let autocommit = config(&db, &format!("{pool}    idle_sessions: checked_out\n"), "");
    let (code, v, first) = check(&autocommit);
    assert_eq!(code, 2, "{v}");
    assert!(
        first.starts_with(
            "MYSQL POOL CRITICAL - kefu-flask: load, 20/20 held (100%) by working sessions"
        ),
        "{first}"
    );
    drop(app);
}
