//! Lock chains of every kind on a real server, with real clients, as `check`, `/metrics`
//! and the bundled alert in a real Prometheus see them:
//! - a schema change (ALTER TABLE) queued behind an idle transaction, with a SQLAlchemy
//!   QueuePool's requests queued behind the ALTER until the pool times out; once on the
//!   server's defaults and once on its other path (MariaDB: the metadata_lock_info plugin,
//!   exact; MySQL: the MDL instrument off, inferred);
//! - FLUSH TABLES WITH READ LOCK behind a long write, with writers queued behind it;
//! - a user lock (GET_LOCK) held by an idle session, with others waiting.
//!
//! (The row-lock chain is in tests/diagnosis.rs.) Each asserts the first line's cause, the
//! root and queue-head ids against the ids the server gave the clients, that no waiter is
//! blamed, the sessions' states in `/metrics`, and the alert.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{
    check, eventually, ids, run_cli, App, AppProcess, AppState, Exporter, Prometheus, Server,
    EXPORTER_PASSWORD,
};

/// One pool of user kefu: 5 + 10, SQLAlchemy's numbers in the tests below.
fn config(db: &Server) -> String {
    format!(
        "targets:\n  - name: primary\n    dsn: mysql://exporter@127.0.0.1:{}\n    password_file: {{password_file}}\n    tls: {{ mode: disabled }}\n\
         pools:\n  - name: kefu-flask\n    match: {{ user: kefu }}\n    size: 5\n    max_overflow: 10\n",
        db.port
    )
}

/// Waits until `n` sessions show `state` in the processlist.
fn wait_for_state(db: &Server, state: &str, n: usize) {
    eventually(
        Duration::from_secs(30),
        &format!("{n} sessions in `{state}`"),
        || {
            let got: usize = db
                .sql(&format!(
                    "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE STATE = '{state}'"
                ))
                .trim()
                .parse()
                .unwrap_or(0);
            (got >= n).then_some(())
        },
    );
}

/// What a chain must look like everywhere it is shown.
struct Expected<'a> {
    /// The `lock` label value and JSON `lock`.
    lock: &'a str,
    object: Option<&'a str>,
    root: u64,
    root_user: &'a str,
    head: Option<u64>,
    /// Every session stuck behind the root (the head included).
    waiters: BTreeSet<u64>,
    inferred: bool,
    /// How the first line of `check` starts (after `MYSQL POOL <STATUS> - kefu-flask: `).
    first_line: String,
    exit_code: i32,
}

/// `check` (text and JSON), `/metrics` and the bundled alert, against `want`.
fn assert_chain(cfg: &str, want: &Expected) {
    let (code, v, first) = check(cfg);
    assert_eq!(code, want.exit_code, "{first}\n{v:#}");
    let status = ["OK", "WARNING", "CRITICAL"][want.exit_code as usize];
    let prefix = format!("MYSQL POOL {status} - kefu-flask: {}", want.first_line);
    assert!(first.starts_with(&prefix), "{first}\nwanted: {prefix}");
    assert_eq!(
        first.contains("probably"),
        want.inferred,
        "inferred edges say so: {first}"
    );
    let t = &v["targets"][0];
    let f = &t["findings"][0];
    assert_eq!(f["cause"], "lock_chain", "{f:#}");
    let chain = &f["chain"];
    assert_eq!(chain["lock"], want.lock, "{chain}");
    assert_eq!(chain["object"].as_str(), want.object, "{chain}");
    assert_eq!(chain["root_id"], want.root, "{chain}");
    assert_eq!(chain["queue_head_id"].as_u64(), want.head, "{chain}");
    assert_eq!(chain["waiters"], want.waiters.len(), "{chain}");
    assert_eq!(chain["inferred"], want.inferred, "{chain}");
    // The root is the one culprit; no waiter (the head neither) is blamed anywhere.
    assert_eq!(ids(&f["culprits"]), BTreeSet::from([want.root]));
    for finding in t["findings"].as_array().unwrap() {
        assert!(
            ids(&finding["culprits"]).is_disjoint(&want.waiters),
            "a waiter blamed: {finding:#}"
        );
    }

    let exporter = Exporter::start(cfg, &[]);
    let s = exporter.scrape();
    let waiting: f64 = [
        "row",
        "metadata",
        "global_read",
        "backup",
        "flush",
        "table",
        "user",
    ]
    .iter()
    .filter_map(|k| common::om::get(&s, "mysql_lock_waiting_sessions", &[("lock", k)]))
    .sum();
    assert_eq!(
        waiting as usize,
        want.waiters.len(),
        "every waiter counted once"
    );
    assert_eq!(
        common::om::get(
            &s,
            "mysql_lock_root_blocker_waiters",
            &[
                ("mysql_user", want.root_user),
                ("client_host", "127.0.0.1"),
                ("lock", want.lock)
            ]
        ),
        Some(want.waiters.len() as f64)
    );
    assert_eq!(
        common::om::get(
            &s,
            "mysql_pool_sessions",
            &[("pool", "kefu-flask"), ("state", "active")]
        ),
        Some(0.0),
        "a waiter is lock_wait, never active"
    );
    let prom = Prometheus::with_bundled_rules(exporter.port);
    let alert = eventually(Duration::from_secs(45), "MySQLLockWaitChain", || {
        prom.active_alerts()
            .into_iter()
            .find(|(name, _, labels)| name == "MySQLLockWaitChain" && labels["lock"] == want.lock)
    });
    assert_eq!(alert.2["mysql_user"], want.root_user, "{:?}", alert);
}

/// An ALTER TABLE queued behind a request that read the table and left its transaction
/// open; the app's next requests queue behind the ALTER until its QueuePool gives up.
fn schema_change_behind_an_idle_transaction(db: &Server, inferred: bool) {
    let holder = AppProcess::start(db, "pymysql", "kefu-flask", 1, AppState::InTransaction);
    let migration = App {
        user: "migrate",
        ..App::new(
            "pymysql",
            "migrate",
            1,
            AppState::Wait("ALTER TABLE visitors ADD COLUMN note VARCHAR(8)"),
        )
    }
    .start(db);
    wait_for_state(db, "Waiting for table metadata lock", 1);
    let app = App {
        pool: Some((5, 9)),
        exhaust: true,
        ..App::new(
            "sqlalchemy",
            "kefu-flask",
            14,
            AppState::Wait("SELECT name FROM visitors WHERE id = 1"),
        )
    }
    .start(db);
    assert!(
        app.pool_error
            .contains("QueuePool limit of size 5 overflow 9 reached"),
        "{}",
        app.pool_error
    );
    wait_for_state(db, "Waiting for table metadata lock", 15);
    let (root, head) = (holder.ids[0], migration.ids[0]);
    let probably = if inferred { "probably " } else { "" };
    let mut waiters: BTreeSet<u64> = app.ids.iter().copied().collect();
    waiters.insert(head);
    assert_chain(
        &config(db),
        &Expected {
            lock: "metadata",
            object: Some("kefu.visitors"),
            root,
            root_user: "kefu",
            head: Some(head),
            waiters,
            inferred,
            first_line: format!(
                "metadata lock on kefu.visitors, 14 sessions wait behind ALTER TABLE (session \
                 {head}, migrate@127.0.0.1, waiting "
            ),
            exit_code: 2,
        },
    );
    let (_, _, first) = check(&config(db));
    assert!(
        first.contains(&format!(
            "which {probably}waits for session {root} (kefu@127.0.0.1, idle in transaction "
        )),
        "{first}"
    );
    assert!(first.contains(", 15/15 held"), "{first}");

    // kill-idle --root-blockers: the dry run names the root alone (never the ALTER at the
    // head of the queue, never a waiter); --execute ends it, and the queue drains.
    db.sql(&format!(
        "GRANT {} ON *.* TO 'exporter'@'%'",
        db.connection_admin()
    ));
    let args = ["kill-idle", "--pool", "kefu-flask", "--root-blockers"];
    let (code, out, err) = run_cli(&args, &config(db), EXPORTER_PASSWORD);
    assert_eq!(code, 0, "{out}{err}");
    let named: Vec<&str> = out
        .lines()
        .filter(|l| l.trim_start().starts_with("would kill session"))
        .collect();
    assert_eq!(named.len(), 1, "{out}");
    assert!(
        named[0].contains(&format!("would kill session {root} kefu@"))
            && named[0].contains("idle at the root of a lock chain: 15 session(s) wait behind it"),
        "{out}"
    );
    let (code, out, err) = run_cli(
        &[&args[..], &["--execute"]].concat(),
        &config(db),
        EXPORTER_PASSWORD,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("killed session {root} ")), "{out}");
    eventually(Duration::from_secs(30), "the queue to drain", || {
        let left: usize = db
            .sql(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
                 WHERE STATE = 'Waiting for table metadata lock'",
            )
            .trim()
            .parse()
            .unwrap_or(99);
        (left == 0).then_some(())
    });
    drop((app, migration, holder));
}

/// The server's defaults: MySQL lists metadata locks with their waiters (exact); MariaDB
/// lists none (its MDL instrument is off), so the holder is inferred.
#[test]
fn a_schema_change_behind_an_idle_transaction() {
    let db = &Server::start(&[]);
    schema_change_behind_an_idle_transaction(db, !db.is_mysql());
}

/// The other path of each server: MariaDB with the metadata_lock_info plugin (holders
/// listed: exact); MySQL with the MDL instrument turned off (inferred).
#[test]
fn a_schema_change_behind_an_idle_transaction_on_the_other_path() {
    let db = &Server::start(&[]);
    if db.is_mysql() {
        db.sql(
            "UPDATE performance_schema.setup_instruments SET ENABLED = 'NO' \
             WHERE NAME = 'wait/lock/metadata/sql/mdl'",
        );
    } else {
        db.sql("INSTALL SONAME 'metadata_lock_info'");
    }
    schema_change_behind_an_idle_transaction(db, db.is_mysql());
}

/// A backup's FLUSH TABLES WITH READ LOCK waits for a long write; the app's writes queue
/// behind it. MySQL shows the global read lock in performance_schema (exact); MariaDB
/// shows FTWRL and the writers in "Waiting for backup lock" (inferred).
#[test]
fn ftwrl_behind_a_long_write_with_writers_queued() {
    let db = &Server::start(&[]);
    let long = App {
        user: "report",
        ..App::new(
            "pymysql",
            "kefu-reports",
            1,
            AppState::Wait("UPDATE visitors SET name = SLEEP(120) WHERE id = 3"),
        )
    }
    .start(db);
    std::thread::sleep(Duration::from_millis(500));
    let backup = App {
        user: "backup",
        ..App::new(
            "pymysql",
            "backup",
            1,
            AppState::Wait("FLUSH TABLES WITH READ LOCK"),
        )
    }
    .start(db);
    let (lock, state) = if db.is_mysql() {
        ("global_read", "Waiting for global read lock")
    } else {
        ("backup", "Waiting for backup lock")
    };
    wait_for_state(db, state, 1);
    let writers = AppProcess::start(
        db,
        "pymysql",
        "kefu-flask",
        5,
        AppState::Wait("INSERT INTO visitors VALUES (100, 'new')"),
    );
    wait_for_state(db, state, 6);
    // Below the pool's limit: the chain is judged once its waiters waited past lock_wait.
    std::thread::sleep(Duration::from_secs(11));
    let (root, head) = (long.ids[0], backup.ids[0]);
    let mut waiters: BTreeSet<u64> = writers.ids.iter().copied().collect();
    waiters.insert(head);
    let kind = if db.is_mysql() {
        "global read lock"
    } else {
        "backup lock"
    };
    assert_chain(
        &config(db),
        &Expected {
            lock,
            object: None,
            root,
            root_user: "report",
            head: Some(head),
            waiters,
            inferred: !db.is_mysql(),
            first_line: format!(
                "{kind}, 5 sessions wait behind FLUSH TABLES WITH READ LOCK (session {head}, \
                 backup@127.0.0.1, waiting "
            ),
            exit_code: 1,
        },
    );
    drop((writers, backup, long));
}

/// An idle session took a user lock and kept it; four requests wait for it. MySQL lists
/// user locks in performance_schema (exact); MariaDB's holder is found by its last
/// statement (inferred).
#[test]
fn a_user_lock_held_by_an_idle_session() {
    let db = &Server::start(&[]);
    let holder = AppProcess::start(
        db,
        "pymysql",
        "kefu-cron",
        1,
        AppState::Do("SELECT GET_LOCK('kefu_jobs', 0)"),
    );
    let waiting = AppProcess::start(
        db,
        "pymysql",
        "kefu-flask",
        4,
        AppState::Wait("SELECT GET_LOCK('kefu_jobs', 300)"),
    );
    wait_for_state(db, "User lock", 4);
    std::thread::sleep(Duration::from_secs(11));
    let root = holder.ids[0];
    let probably = if db.is_mysql() { "" } else { "probably " };
    assert_chain(
        &config(db),
        &Expected {
            lock: "user",
            object: Some("kefu_jobs"),
            root,
            root_user: "kefu",
            head: None,
            waiters: waiting.ids.iter().copied().collect(),
            inferred: !db.is_mysql(),
            first_line: format!(
                "user lock on kefu_jobs, 4 sessions {probably}wait for session {root} \
                 (kefu@127.0.0.1, idle "
            ),
            exit_code: 1,
        },
    );
    drop((waiting, holder));
}
