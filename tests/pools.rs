//! The founding incident (docs/incident.md) on a real server: a pool of size 15 + overflow 30 whose 45
//! connections leak with open transactions. The exporter must say which pool, why and who;
//! `check` must exit 2 naming them; `kill-idle` must free exactly those sessions.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{eventually, om, server, Exporter, Server};
use mysql_async::prelude::Queryable;

const POOL_CONFIG: &str = "pools:
  - name: kefu-flask
    match: { user: kefu, client_host: 127.0.0.0/8, db: kefu }
    size: 15
    max_overflow: 30
    processes: 1
thresholds:
  idle_in_transaction: 1s
";

fn config(db: &Server, user: &str) -> String {
    format!(
        "targets:\n  - name: primary\n    dsn: mysql://{user}@127.0.0.1:{}\n    password_file: {{password_file}}\n    tls: {{ mode: disabled }}\n{POOL_CONFIG}",
        db.port
    )
}

/// A session opened with mysql_async, as an app's pool would (connect attributes included).
async fn app_session(
    db: &Server,
    user: &str,
    database: Option<&str>,
    pid: &str,
) -> mysql_async::Conn {
    let attributes = [("_pid", pid), ("program_name", "kefu-flask")];
    db.session(user, database, &attributes).await
}

fn run_cli(args: &[&str], config: &str) -> (i32, String, String) {
    let dir = common::scratch("pools-cli");
    let pw = dir.join("pw");
    let is_dba = config.contains("mysql://dba@");
    std::fs::write(
        &pw,
        if is_dba {
            "dba-pw"
        } else {
            common::EXPORTER_PASSWORD
        },
    )
    .unwrap();
    let cfg = dir.join("config.yml");
    std::fs::write(
        &cfg,
        config.replace("{password_file}", &pw.display().to_string()),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mysql_pool_exporter"))
        .args(args)
        .arg(format!("--config.file={}", cfg.display()))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn sessions_in(db: &Server, filter: &str) -> Vec<u64> {
    db.sql(&format!(
        "SELECT p.ID FROM information_schema.PROCESSLIST p \
         LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID WHERE {filter} ORDER BY p.ID"
    ))
    .lines()
    .map(|l| l.trim().parse().unwrap())
    .collect()
}

#[test]
fn the_incidents_leak_is_seen_reported_and_ended() {
    let db = server();
    db.sql(&format!(
        "CREATE USER IF NOT EXISTS 'dba'@'%' IDENTIFIED BY 'dba-pw'; GRANT PROCESS, {} ON *.* TO 'dba'@'%';",
        db.connection_admin()
    ));
    // kefu's account has a connection limit of its own, which the exporter may read.
    db.sql("ALTER USER 'kefu'@'%' WITH MAX_USER_CONNECTIONS 50; GRANT SELECT ON mysql.user TO 'exporter'@'%';");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (leaked, outsiders) = rt.block_on(async {
        // 45 leaked pool sessions from two app processes (30 + 15): each read a row in a
        // transaction and was never returned; the first also holds a row lock.
        let mut leaked = Vec::new();
        for i in 0..45 {
            let mut c = app_session(
                db,
                "kefu",
                Some("kefu"),
                if i < 30 { "1001" } else { "1002" },
            )
            .await;
            c.query_drop("START TRANSACTION").await.unwrap();
            if i == 0 {
                c.query_drop("UPDATE visitors SET name = 'leaked' WHERE id = 1")
                    .await
                    .unwrap();
            } else {
                c.query_drop("SELECT name FROM visitors WHERE id = 2")
                    .await
                    .unwrap();
            }
            leaked.push(c);
        }
        // Outside the pool, and so never to be killed: another user idle in a transaction,
        // and kefu without the pool's db, blocked on the leaked row lock.
        let mut report = app_session(db, "report", None, "2001").await;
        report.query_drop("START TRANSACTION").await.unwrap();
        report
            .query_drop("SELECT name FROM kefu.visitors WHERE id = 3")
            .await
            .unwrap();
        let mut blocked = app_session(db, "kefu", None, "2002").await;
        blocked
            .query_drop("SET SESSION innodb_lock_wait_timeout = 120")
            .await
            .unwrap();
        let waiter = tokio::spawn(async move {
            let r = blocked
                .query_drop("UPDATE kefu.visitors SET name = 'waited' WHERE id = 1")
                .await;
            (blocked, r)
        });
        (leaked, (report, waiter))
    });
    eventually(
        Duration::from_secs(20),
        "the leak and the lock wait",
        || {
            let iit = sessions_in(db, "p.USER = 'kefu' AND p.DB = 'kefu' AND p.COMMAND = 'Sleep' AND t.trx_id IS NOT NULL");
            let waiting = sessions_in(db, "t.trx_state = 'LOCK WAIT'");
            (iit.len() == 45 && waiting.len() == 1).then_some(())
        },
    );
    std::thread::sleep(Duration::from_millis(2100)); // past the 1 s idle_in_transaction threshold

    // The exporter: which pool, how full, why.
    let exporter = Exporter::start(&config(db, "exporter"), &[]);
    let s = exporter.scrape();
    let pool = |name: &str, extra: &[(&str, &str)]| {
        let mut labels = vec![("pool", "kefu-flask")];
        labels.extend_from_slice(extra);
        om::get(&s, name, &labels).unwrap_or_else(|| panic!("{name}{labels:?} missing"))
    };
    assert_eq!(pool("mysql_pool_utilization_ratio", &[]), 1.0);
    assert_eq!(pool("mysql_pool_capacity", &[]), 45.0);
    assert_eq!(
        pool("mysql_pool_sessions", &[("state", "idle_in_transaction")]),
        45.0
    );
    assert_eq!(pool("mysql_pool_sessions", &[("state", "active")]), 0.0);
    assert_eq!(pool("mysql_pool_sessions", &[("state", "lock_wait")]), 0.0);
    let oldest = pool("mysql_pool_oldest_idle_transaction_seconds", &[]);
    assert!((2.0..60.0).contains(&oldest), "{oldest}");
    assert_eq!(
        pool(
            "mysql_pool_session_age_seconds_count",
            &[("state", "idle_in_transaction")]
        ),
        45.0
    );
    assert_eq!(pool("mysql_pool_process_sessions_max", &[]), 30.0);
    assert_eq!(
        om::get(&s, "mysql_pool_overcommit_ratio", &[]),
        Some(45.0 / 300.0)
    );
    assert_eq!(
        om::get(
            &s,
            "mysql_pool_user_connection_limit",
            &[("pool", "kefu-flask"), ("mysql_user", "kefu")]
        ),
        Some(50.0),
        "{}",
        exporter.log()
    );
    // The whole server also sees the waiter and the other user's open transaction.
    assert_eq!(
        om::get(
            &s,
            "mysql_sessions",
            &[("mysql_user", "kefu"), ("state", "lock_wait")]
        ),
        Some(1.0)
    );
    assert_eq!(
        om::get(
            &s,
            "mysql_sessions",
            &[("mysql_user", "report"), ("state", "idle_in_transaction")]
        ),
        Some(1.0)
    );

    // The status page, in a real browser: the verdict leads, the pool's row shows the
    // exhaustion.
    let shot = common::output_dir().join(format!("status-page-leak-{}.png", db.name()));
    let dom = common::chromium(&format!("http://127.0.0.1:{}/", exporter.port), &shot);
    assert!(
        dom.contains("<p id=\"verdict\" class=\"crit\">MYSQL POOL CRITICAL - kefu-flask: leak, 45 sessions idle in transaction"),
        "{dom}"
    );
    let row_start = dom
        .find("<tr class=\"row-crit\" data-pool=\"kefu-flask\">")
        .unwrap_or_else(|| panic!("no critical kefu-flask row:\n{dom}"));
    let row = &dom[row_start..row_start + dom[row_start..].find("</tr>").unwrap()];
    assert!(
        row.contains("45/45 (100%)") && row.contains("<td>45</td>"),
        "{row}"
    );
    let leaks = &dom[dom.find("id=\"leaks\"").expect("the leaked sessions table")..];
    assert!(
        leaks.contains("kefu@127.0.0.1") && leaks.contains("SELECT name FROM visitors"),
        "{leaks}"
    );
    eprintln!("status page screenshot: {}", shot.display());

    // check: CRITICAL, naming the cause, the pool and the sessions.
    let leaked_ids = sessions_in(db, "p.USER = 'kefu' AND p.DB = 'kefu'");
    assert_eq!(leaked_ids.len(), 45);
    let (code, out, err) = run_cli(&["check"], &config(db, "exporter"));
    assert_eq!(code, 2, "{out}{err}");
    let first = out.lines().next().unwrap();
    let look_at: Vec<String> = leaked_ids[..5].iter().map(u64::to_string).collect();
    assert!(
        first.starts_with(
            "MYSQL POOL CRITICAL - kefu-flask: leak, 45 sessions idle in transaction (oldest "
        ),
        "{out}"
    );
    assert!(
        first.contains(&format!(
            "45/45 held; look at {} and 40 more | ",
            look_at.join(", ")
        )),
        "{out}"
    );
    assert!(first.contains("'kefu-flask_held'=45;36;45;0;45"), "{first}");
    assert!(
        first.contains("'kefu-flask_idle_in_transaction'=45;;;0;45"),
        "{first}"
    );
    assert!(out.contains("45/45 held (100%), 45 open"), "{out}");
    assert!(out.contains("idle_in_transaction=45"), "{out}");
    assert!(
        out.contains(&format!(
            "id {:<8} kefu@127.0.0.1 db=kefu idle_in_transaction",
            leaked_ids[0]
        )),
        "{out}"
    );
    // The leaked session with the row lock blocks the waiter (a waiter is never a blocker).
    assert!(
        out.contains(&format!(
            "root blocker: id {:<8} kefu@127.0.0.1",
            leaked_ids[0]
        )) && out.contains("blocks 1 session(s)"),
        "{out}"
    );
    // 45 leaked + the blocked one: 46 of the account's 50 (92 %, above the 80 % warning).
    assert!(out.contains("WARNING: pool kefu-flask: capacity: user kefu has 46 of its 50 connections (MAX_USER_CONNECTIONS, 92%)"), "{out}");
    // The last statement of an idle session, from performance_schema.
    assert!(
        out.contains("last: SELECT name FROM visitors WHERE id = 2"),
        "{out}"
    );
    let (code, json, _) = run_cli(&["check", "--format", "json"], &config(db, "exporter"));
    assert_eq!(code, 2);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["status"], "CRITICAL");
    // The same verdict (a second later, the oldest age may have moved on).
    let before_age = |line: &str| line.split(" (oldest").next().unwrap().to_string();
    assert_eq!(
        before_age(v["headline"].as_str().unwrap()),
        before_age(first)
    );
    let t = &v["targets"][0];
    assert_eq!(t["pools"][0]["held"], 45);
    assert_eq!(t["pools"][0]["by_state"]["idle_in_transaction"], 45);
    assert_eq!(t["findings"][0]["cause"], "leak");
    assert_eq!(t["findings"][0]["culprits"][0]["id"], leaked_ids[0]);
    assert_eq!(t["root_blockers"][0]["id"], leaked_ids[0]);
    assert_eq!(t["root_blockers"][0]["blocks"], 1);

    // kill-idle without the privilege: clear error, non-zero exit, nothing killed.
    let (code, out, err) = run_cli(
        &[
            "kill-idle",
            "--pool",
            "kefu-flask",
            "--idle-in-transaction-older-than",
            "1s",
            "--execute",
            "--max-kills",
            "1",
        ],
        &config(db, "exporter"),
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("CONNECTION ADMIN"), "{err}");
    assert_eq!(
        sessions_in(db, "p.USER = 'kefu' AND p.DB = 'kefu'").len(),
        45
    );

    // kill-idle dry run: lists exactly the 45, kills nothing.
    let dba = config(db, "dba");
    let (code, out, err) = run_cli(
        &[
            "kill-idle",
            "--pool",
            "kefu-flask",
            "--idle-in-transaction-older-than",
            "1s",
        ],
        &dba,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out.lines()
            .filter(|l| l.trim_start().starts_with("would kill session"))
            .count(),
        45,
        "{out}"
    );
    for id in &leaked_ids {
        assert!(
            out.contains(&format!("would kill session {id} kefu@127.0.0.1 db=kefu")),
            "{id}: {out}"
        );
    }
    assert!(
        out.contains("summary: 45 would be killed (dry run), 0 failed"),
        "{out}"
    );
    assert_eq!(
        sessions_in(db, "p.USER = 'kefu' AND p.DB = 'kefu'").len(),
        45
    );

    // Unknown pool: named, with the pools that exist.
    let (code, _, err) = run_cli(
        &[
            "kill-idle",
            "--pool",
            "nope",
            "--idle-in-transaction-older-than",
            "1s",
        ],
        &dba,
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("no pool is named `nope`; pools in the config: kefu-flask"),
        "{err}"
    );

    // --execute: exactly the leaked ones die; the outsiders live.
    let outside_before = sessions_in(
        db,
        "NOT (p.USER = 'kefu' AND COALESCE(p.DB, '') = 'kefu') AND p.USER IN ('kefu', 'report')",
    );
    assert_eq!(outside_before.len(), 2);
    let (code, out, err) = run_cli(
        &[
            "kill-idle",
            "--pool",
            "kefu-flask",
            "--idle-in-transaction-older-than",
            "1s",
            "--execute",
        ],
        &dba,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("summary: 45 killed, 0 failed"), "{out}");
    eventually(
        Duration::from_secs(10),
        "the leaked sessions to be gone",
        || {
            sessions_in(db, "p.USER = 'kefu' AND p.DB = 'kefu'")
                .is_empty()
                .then_some(())
        },
    );
    assert_eq!(sessions_in(db, "NOT (p.USER = 'kefu' AND COALESCE(p.DB, '') = 'kefu') AND p.USER IN ('kefu', 'report')"), outside_before);

    // The blocked session got its lock once the leak was killed.
    let (report, waiter) = outsiders;
    let (blocked, result) = rt.block_on(waiter).unwrap();
    result.expect("the waiter's UPDATE succeeds after the leak is killed");

    // The pool's metrics recover.
    let s = exporter.scrape();
    assert_eq!(
        om::get(
            &s,
            "mysql_pool_utilization_ratio",
            &[("pool", "kefu-flask")]
        ),
        Some(0.0)
    );
    assert_eq!(
        om::get(
            &s,
            "mysql_pool_sessions",
            &[("pool", "kefu-flask"), ("state", "idle_in_transaction")]
        ),
        Some(0.0)
    );
    assert_eq!(
        om::get(
            &s,
            "mysql_pool_oldest_idle_transaction_seconds",
            &[("pool", "kefu-flask")]
        ),
        Some(0.0)
    );
    let (code, out, _) = run_cli(&["check"], &config(db, "exporter"));
    assert!(code < 2, "{out}");
    rt.block_on(async move {
        drop(leaked);
        drop(report);
        drop(blocked);
    });
}
