//! Per-client-process accounting and pools matched by connect attribute, with real
//! application processes (PyMySQL, and SQLAlchemy's QueuePool over PyMySQL) on both servers;
//! and where the session list comes from (performance_schema.processlist on MySQL).

mod common;

use std::time::Duration;

use common::{eventually, om, run_cli, AppProcess, AppState, Exporter, Server, EXPORTER_PASSWORD};

/// Two apps that share the MySQL user `kefu`, told apart only by `program_name`.
fn config(db: &Server, tls: &str) -> String {
    format!(
        "targets:
  - name: primary
    dsn: mysql://exporter@127.0.0.1:{}
    password_file: {{password_file}}
{tls}pools:
  - name: kefu-flask
    match: {{ attributes: {{ program_name: kefu-flask }} }}
    size: 10
    processes: 2
  - name: kefu-worker
    match: {{ user: kefu, attributes: {{ program_name: kefu-worker }} }}
    size: 10
thresholds:
  idle_in_transaction: 1s
",
        db.port
    )
}

fn kefu_sessions(db: &Server) -> usize {
    db.sql("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = 'kefu'")
        .lines()
        .count()
}

/// Two PyMySQL processes of one app (7 and 4 sessions) and a SQLAlchemy worker (5 sessions
/// left idle in a transaction), all user `kefu` from 127.0.0.1: counted per process and per
/// app exactly, with the exporter's default TLS mode (MySQL offers TLS, MariaDB here not).
#[test]
fn per_process_counts_and_attribute_pools_with_real_clients() {
    let db = Server::start(&[]);
    let web1 = AppProcess::start(&db, "pymysql", "kefu-flask", 7, AppState::Idle);
    let web2 = AppProcess::start(&db, "pymysql", "kefu-flask", 4, AppState::Idle);
    let worker = AppProcess::start(&db, "sqlalchemy", "kefu-worker", 5, AppState::InTransaction);
    assert_ne!(web1.pid, web2.pid);
    eventually(Duration::from_secs(20), "16 kefu sessions", || {
        (kefu_sessions(&db) == 16).then_some(())
    });
    std::thread::sleep(Duration::from_millis(2100)); // past the 1 s idle_in_transaction

    let exporter = Exporter::start(&config(&db, ""), &[]);
    let s = exporter.scrape();
    let pool = |name: &str, pool: &str, extra: &[(&str, &str)]| {
        let mut labels = vec![("pool", pool)];
        labels.extend_from_slice(extra);
        om::get(&s, name, &labels)
            .unwrap_or_else(|| panic!("{name}{labels:?} missing; log:\n{}", exporter.log()))
    };
    assert_eq!(
        pool("mysql_pool_sessions", "kefu-flask", &[("state", "idle")]),
        11.0
    );
    assert_eq!(
        pool(
            "mysql_pool_sessions",
            "kefu-flask",
            &[("state", "idle_in_transaction")]
        ),
        0.0
    );
    assert_eq!(pool("mysql_pool_capacity", "kefu-flask", &[]), 20.0);
    assert_eq!(
        pool("mysql_pool_process_sessions_max", "kefu-flask", &[]),
        7.0
    );
    // Idle, parked in their processes' pools: open, but none held.
    assert_eq!(
        pool("mysql_pool_process_held_sessions_max", "kefu-flask", &[]),
        0.0
    );
    assert_eq!(
        pool(
            "mysql_pool_sessions",
            "kefu-worker",
            &[("state", "idle_in_transaction")]
        ),
        5.0
    );
    assert_eq!(
        pool("mysql_pool_sessions", "kefu-worker", &[("state", "idle")]),
        0.0
    );
    assert_eq!(
        pool("mysql_pool_process_sessions_max", "kefu-worker", &[]),
        5.0
    );
    assert_eq!(
        pool("mysql_pool_process_held_sessions_max", "kefu-worker", &[]),
        5.0
    );
    let log = exporter.log();
    assert!(!log.contains("source=client_processes"), "{log}");

    // check and kill-idle see the same pools through the session list.
    let (code, json, err) = run_cli(
        &["check", "--format", "json"],
        &config(&db, ""),
        EXPORTER_PASSWORD,
    );
    assert_eq!(code, 1, "{json}{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let pools = &v["targets"][0]["pools"];
    assert_eq!(pools[0]["pool"], "kefu-flask");
    assert_eq!(pools[0]["open"], 11);
    assert_eq!(pools[0]["held"], 0, "idle sessions are parked in the pool");
    assert_eq!(v["targets"][0]["findings"][0]["cause"], "leak");
    assert_eq!(v["targets"][0]["findings"][0]["pool"], "kefu-worker");
    assert_eq!(pools[1]["by_state"]["idle_in_transaction"], 5);
    let worker_ids: Vec<String> = db
        .sql(
            "SELECT p.ID FROM information_schema.PROCESSLIST p \
             JOIN performance_schema.session_connect_attrs a ON a.PROCESSLIST_ID = p.ID \
             WHERE a.ATTR_NAME = 'program_name' AND a.ATTR_VALUE = 'kefu-worker' ORDER BY p.ID",
        )
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(worker_ids.len(), 5);
    let (code, out, err) = run_cli(
        &[
            "kill-idle",
            "--pool",
            "kefu-worker",
            "--idle-in-transaction-older-than",
            "1s",
        ],
        &config(&db, ""),
        EXPORTER_PASSWORD,
    );
    assert_eq!(code, 0, "{out}{err}");
    let listed: Vec<&str> = out
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("would kill session "))
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    let mut listed: Vec<String> = listed.into_iter().map(String::from).collect();
    listed.sort_by_key(|id| id.parse::<u64>().unwrap());
    assert_eq!(listed, worker_ids, "{out}");
    drop((web1, web2, worker));
}

/// Without performance_schema nothing can be counted per process and pools matched by
/// attribute cannot be judged: one log line says why and how to turn it on; the pools
/// matched by user keep working, and the attribute pool shows no (false) zeros.
#[test]
fn without_performance_schema_per_process_counts_are_skipped_once() {
    let db = Server::start(&["--performance-schema=OFF"]);
    let cfg = config(&db, "    tls: { mode: disabled }\n").replace(
        "  - name: kefu-worker\n    match: { user: kefu, attributes: { program_name: kefu-worker } }",
        "  - name: kefu-worker\n    match: { user: kefu }",
    );
    let _app = AppProcess::start(&db, "pymysql", "kefu-flask", 3, AppState::Idle);
    let exporter = Exporter::start(&cfg, &[]);
    let mut s = exporter.scrape();
    for _ in 0..2 {
        s = exporter.scrape();
    }
    assert_eq!(
        om::get(
            &s,
            "mysql_pool_sessions",
            &[("pool", "kefu-worker"), ("state", "idle")]
        ),
        Some(3.0)
    );
    assert_eq!(
        om::get(&s, "mysql_pool_capacity", &[("pool", "kefu-flask")]),
        None
    );
    assert_eq!(
        om::get(
            &s,
            "mysql_pool_process_sessions_max",
            &[("pool", "kefu-worker")]
        ),
        None
    );
    assert_eq!(
        om::get(
            &s,
            "mysql_exporter_collector_success",
            &[("collector", "pools")]
        ),
        Some(1.0)
    );
    let log = exporter.log();
    let skipped: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("source skipped") && l.contains("source=client_processes"))
        .collect();
    assert_eq!(skipped.len(), 1, "{log}");
    assert!(
        skipped[0].contains("source=client_processes")
            && skipped[0].contains("performance_schema is off")
            && skipped[0].contains("--performance-schema=ON"),
        "{}",
        skipped[0]
    );
    let (code, out, _) = run_cli(&["check"], &cfg, EXPORTER_PASSWORD);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.starts_with(
            "MYSQL POOL UNKNOWN - kefu-flask: it matches by connect attributes, which cannot be read: performance_schema is off"
        ),
        "{out}"
    );
}

/// MySQL: sessions come from performance_schema.processlist (no global mutex) where the
/// server fills it, else from information_schema.PROCESSLIST; both give the same groups.
/// MariaDB has only the latter, and detection picks it. (performance_schema.processlist is
/// readable by every MySQL account, so the table is chosen by the server, not the grants.)
#[test]
fn both_session_tables_give_the_same_counts() {
    use mysql_pool_exporter::db;
    use mysql_pool_exporter::snapshot::{
        self, Flavor, Outcome, Plan, ProcesslistTable, ServerInfo, Snapshot, Source,
    };
    let db = Server::start(&[]);
    let _idle = AppProcess::start(&db, "pymysql", "kefu-flask", 3, AppState::Idle);
    let _leak = AppProcess::start(&db, "sqlalchemy", "kefu-worker", 4, AppState::InTransaction);
    let mut busy = Vec::new();
    for _ in 0..2 {
        busy.push(
            db.tcp_client("report", common::APP_PASSWORD)
                .args(["-e", "SELECT SLEEP(120)"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        );
    }
    eventually(Duration::from_secs(20), "the sessions in place", || {
        let n = db.sql(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER IN ('kefu', 'report')",
        );
        (n.trim() == "9").then_some(())
    });
    let expected = if db.is_mysql() {
        ProcesslistTable::PerformanceSchema
    } else {
        ProcesslistTable::InformationSchema
    };
    let plan = Plan {
        attributes: vec!["program_name".into()],
        per_process: true,
        intervals: Vec::new(),
        thread_ids: false,
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let read = |table: ProcesslistTable| {
        rt.block_on(async {
            let mut conn = db.connect("exporter").await;
            let caps = db::detect_capabilities(&mut conn).await.unwrap();
            assert_eq!(caps.processlist, expected);
            let flavor = if db.is_mysql() {
                Flavor::MySql
            } else {
                Flavor::MariaDb
            };
            let id: u64 =
                mysql_async::prelude::Queryable::query_first(&mut conn, "SELECT CONNECTION_ID()")
                    .await
                    .unwrap()
                    .unwrap();
            let mut info = ServerInfo {
                flavor,
                version: "test".into(),
                version_comment: String::new(),
                connection_id: id,
                capabilities: Default::default(),
                identity: Default::default(),
                run: 0,
            };
            info.capabilities.processlist = table;
            let mut snap = Snapshot::up(info);
            let mut cache = db::SessionCache::default();
            let r = db::fetch(
                &mut conn,
                Source::Threads,
                &mut snap,
                &plan,
                &mut cache,
                &mut db::Handover::default(),
            )
            .await;
            let _ = conn.disconnect().await;
            r.map(|()| snap.threads)
        })
    };
    let from_is = match read(ProcesslistTable::InformationSchema) {
        Ok(Outcome::Ok(mut groups)) => {
            groups.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
            groups
        }
        other => panic!("information_schema: {other:?}"),
    };
    let kefu_trx: u64 = from_is
        .iter()
        .filter(|g| g.user == "kefu" && g.command == "Sleep" && g.trx_state.is_some())
        .map(|g| g.count)
        .sum();
    assert_eq!(kefu_trx, 4, "{from_is:#?}");
    assert!(from_is.iter().any(|g| g
        .attributes
        .contains(&("program_name".to_string(), "kefu-worker".to_string()))));
    match read(ProcesslistTable::PerformanceSchema) {
        Ok(Outcome::Ok(mut groups)) => {
            assert!(db.is_mysql());
            groups.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
            // Ages may tick between the two reads: compare what does not move. Client
            // sessions only: performance_schema also lists MySQL's background `system user`
            // thread, which information_schema hides from accounts without SYSTEM_USER.
            let shape = |g: &[snapshot::ThreadGroup]| -> Vec<String> {
                g.iter()
                    .filter(|g| {
                        mysql_pool_exporter::analysis::classify(&g.user, &g.command, &g.state, None)
                            .is_some()
                    })
                    .map(|g| {
                        format!(
                            "{} {} {:?} {} {} {:?} {:?} {}",
                            g.user,
                            g.host,
                            g.db,
                            g.command,
                            g.state,
                            g.trx_state,
                            g.attributes,
                            g.count
                        )
                    })
                    .collect()
            };
            assert_eq!(shape(&groups), shape(&from_is));
        }
        // MariaDB has no performance_schema.processlist: that is why the table is detected.
        Err(e) => assert!(!db.is_mysql(), "{e:?}"),
        other => panic!("performance_schema: {other:?}"),
    }
    // The exporter itself says which table it reads.
    let exporter = Exporter::start(&common::target_config(&db), &[]);
    exporter.scrape();
    let log = exporter.log();
    let name = expected.session_list_name();
    assert!(
        log.contains(&format!("sessions_from={name}"))
            || log.contains(&format!("sessions_from=\"{name}\"")),
        "{log}"
    );
    for mut c in busy {
        let _ = c.kill();
        let _ = c.wait();
    }
}
