//! `kill-idle` can never end the wrong session, on a real server: what changes between the
//! list and the kill is spared, a restart between them stops the run with no kill, the
//! exporter's own and non-pool sessions are never touched, `--max-kills` counts sessions
//! ended, and the dry run's JSON lists exactly what `--execute` then ends.
//!
//! `--execute --confirm` lists, then waits for an answer on stdin: the tests change the
//! server in that pause, as a slow operator (or bad luck) would.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{eventually, om, target_config, Exporter, Server};
use mysql_async::prelude::Queryable;

const DBA_PASSWORD: &str = "dba-pw";

const POOL: &str = "pools:
  - name: kefu-flask
    match: { user: kefu, db: kefu }
    size: 15
    max_overflow: 30
";

/// kill-idle's own account: it may kill, and read performance_schema (thread ids).
fn admin_config(db: &Server) -> String {
    db.sql(&format!(
        "CREATE USER IF NOT EXISTS 'dba'@'%' IDENTIFIED BY '{DBA_PASSWORD}';
         GRANT PROCESS, {} ON *.* TO 'dba'@'%';
         GRANT SELECT ON performance_schema.* TO 'dba'@'%';",
        db.connection_admin()
    ));
    format!(
        "targets:\n  - name: primary\n    dsn: mysql://dba@127.0.0.1:{}\n    password_file: {{password_file}}\n    tls: {{ mode: disabled }}\n{POOL}",
        db.port
    )
}

/// A session of `user` on `database` idle in a transaction that read a row, as a leaked
/// pool connection is.
async fn leaked(db: &Server, user: &str, database: Option<&str>) -> mysql_async::Conn {
    let mut c = session(db, user, database).await;
    c.query_drop("START TRANSACTION").await.unwrap();
    c.query_drop("SELECT name FROM kefu.visitors WHERE id = 2")
        .await
        .unwrap();
    c
}

async fn session(db: &Server, user: &str, database: Option<&str>) -> mysql_async::Conn {
    db.session(user, database, &[]).await
}

fn id(c: &mysql_async::Conn) -> u64 {
    u64::from(c.id())
}

/// The ids among `ids` that the server still lists.
fn alive(db: &Server, ids: &BTreeSet<u64>) -> BTreeSet<u64> {
    db.sql("SELECT ID FROM information_schema.PROCESSLIST")
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .filter(|i| ids.contains(i))
        .collect()
}

fn user_sessions(db: &Server, user: &str) -> BTreeSet<u64> {
    db.sql(&format!(
        "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = '{user}'"
    ))
    .lines()
    .filter_map(|l| l.trim().parse().ok())
    .collect()
}

/// `kill-idle ARGS --format json`: (exit code, the report, stderr).
fn kill_idle(cfg: &str, args: &[&str]) -> (i32, serde_json::Value, String) {
    let mut all = vec!["kill-idle", "--pool", "kefu-flask", "--format", "json"];
    all.extend_from_slice(args);
    let (code, out, err) = common::run_cli(&all, cfg, DBA_PASSWORD);
    let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    (code, v, err)
}

/// The ids of the report's candidates whose outcome is `outcome`, in the report's order.
fn with_outcome(report: &serde_json::Value, outcome: &str) -> Vec<u64> {
    report["targets"][0]["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["outcome"] == outcome)
        .map(|s| s["id"].as_u64().unwrap())
        .collect()
}

fn entry(report: &serde_json::Value, id: u64) -> serde_json::Value {
    report["targets"][0]["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("session {id} not in {report:#}"))
}

/// `kill-idle --execute --confirm` waiting at its question.
struct Asking {
    child: Child,
    stderr: Arc<Mutex<String>>,
    _dir: std::path::PathBuf,
}

impl Asking {
    fn start(cfg: &str, args: &[&str]) -> Asking {
        let dir = common::scratch("kill-idle");
        let pw = dir.join("pw");
        std::fs::write(&pw, DBA_PASSWORD).unwrap();
        let file = dir.join("config.yml");
        std::fs::write(
            &file,
            cfg.replace("{password_file}", &pw.display().to_string()),
        )
        .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_mysql_pool_exporter"))
            .args([
                "kill-idle",
                "--pool",
                "kefu-flask",
                "--format",
                "json",
                "--execute",
                "--confirm",
            ])
            .args(args)
            .arg(format!("--config.file={}", file.display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        let mut pipe = BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            // The question ends without a newline: read up to its last byte.
            while let Ok(n) = pipe.read_until(b' ', &mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf));
                buf.clear();
            }
        });
        let a = Asking {
            child,
            stderr,
            _dir: dir,
        };
        eventually(Duration::from_secs(30), "kill-idle's question", || {
            a.stderr.lock().unwrap().contains("[y/N]").then_some(())
        });
        a
    }

    /// Answers, and returns (exit code, the report, stderr).
    fn answer(mut self, answer: &str) -> (i32, serde_json::Value, String) {
        let mut stdin = self.child.stdin.take().unwrap();
        writeln!(stdin, "{answer}").unwrap();
        drop(stdin);
        let out = self.child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        std::thread::sleep(Duration::from_millis(100));
        let err = self.stderr.lock().unwrap().clone();
        let v = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}\n{err}"));
        (out.status.code().unwrap_or(-1), v, err)
    }
}

/// Past `--idle-in-transaction-older-than 1s` (whole seconds on the server's clock).
fn age_past_one_second() {
    std::thread::sleep(Duration::from_millis(2500));
}

#[test]
fn the_dry_runs_json_lists_exactly_what_execute_ends() {
    let db = Server::start(&[]);
    let cfg = admin_config(&db);
    // A serving exporter: its session must survive the run.
    let exporter = Exporter::start(&format!("{}{POOL}", target_config(&db)), &[]);
    eventually(Duration::from_secs(20), "the exporter up", || {
        (om::get(&exporter.scrape(), "mysql_up", &[]) == Some(1.0)).then_some(())
    });
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (leaks, outsiders) = rt.block_on(async {
        let mut leaks = Vec::new();
        for _ in 0..6 {
            leaks.push(leaked(&db, "kefu", Some("kefu")).await);
        }
        // Never the pool's: another user, the same user on no database, and a pool
        // session parked idle without a transaction.
        let outsiders = vec![
            leaked(&db, "report", Some("kefu")).await,
            leaked(&db, "kefu", None).await,
            session(&db, "kefu", Some("kefu")).await,
        ];
        (leaks, outsiders)
    });
    let leak_ids: BTreeSet<u64> = leaks.iter().map(id).collect();
    let outsider_ids: BTreeSet<u64> = outsiders.iter().map(id).collect();
    age_past_one_second();
    let exporters = user_sessions(&db, "exporter");
    assert!(!exporters.is_empty());

    let criteria = ["--idle-in-transaction-older-than", "1s"];
    let (code, dry, err) = kill_idle(&cfg, &criteria);
    assert_eq!(code, 0, "{dry:#}{err}");
    let would = with_outcome(&dry, "would_kill");
    assert_eq!(
        would.iter().copied().collect::<BTreeSet<_>>(),
        leak_ids,
        "{dry:#}"
    );
    // What a session is recognised by, and the server run the list is from.
    let target = &dry["targets"][0];
    assert!(target["server"]["started_at"].as_i64().unwrap() > 1_600_000_000);
    assert!(target["connection_id"].as_u64().is_some());
    for s in target["sessions"].as_array().unwrap() {
        assert!(s["host"].as_str().unwrap().starts_with("127.0.0.1:"), "{s}");
        assert!(s["thread_id"].as_u64().is_some(), "{s}");
        assert!(s["trx_started"].as_str().is_some(), "{s}");
    }
    assert_eq!(alive(&db, &leak_ids), leak_ids, "a dry run kills nothing");

    let mut args = criteria.to_vec();
    args.push("--execute");
    let (code, done, err) = kill_idle(&cfg, &args);
    assert_eq!(code, 0, "{done:#}{err}");
    assert_eq!(with_outcome(&done, "killed"), would, "{done:#}");
    assert_eq!(done["summary"]["killed"], 6);
    eventually(Duration::from_secs(10), "the leaks gone", || {
        alive(&db, &leak_ids).is_empty().then_some(())
    });
    assert_eq!(alive(&db, &outsider_ids), outsider_ids);
    assert_eq!(user_sessions(&db, "exporter"), exporters);
    assert_eq!(om::get(&exporter.scrape(), "mysql_up", &[]), Some(1.0));
    rt.block_on(async move { drop((leaks, outsiders)) });
}

/// Between the list and the answer: one session commits, one commits and begins another
/// transaction (same id, same client, old enough again), one disconnects and a new session
/// of the same user takes its place. Only the untouched one is killed; with `--max-kills 1`
/// the next one is left for another run, because spared sessions do not count.
#[test]
fn what_changes_between_the_list_and_the_kill_is_spared() {
    let db = Server::start(&[]);
    let cfg = admin_config(&db);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut s = rt.block_on(async {
        let mut s = Vec::new();
        for _ in 0..5 {
            s.push(leaked(&db, "kefu", Some("kefu")).await);
            // Distinct transaction ages: the list's order is oldest first.
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
        s
    });
    let ids: Vec<u64> = s.iter().map(id).collect();
    age_past_one_second();
    let asking = Asking::start(
        &cfg,
        &["--idle-in-transaction-older-than", "1s", "--max-kills", "1"],
    );
    let replacement = rt.block_on(async {
        s[0].query_drop("COMMIT").await.unwrap();
        s[1].query_drop("COMMIT").await.unwrap();
        s[1].query_drop("START TRANSACTION").await.unwrap();
        s[1].query_drop("SELECT name FROM visitors WHERE id = 3")
            .await
            .unwrap();
        let gone = s.remove(2);
        gone.disconnect().await.unwrap();
        leaked(&db, "kefu", Some("kefu")).await
    });
    let replacement_id = id(&replacement);
    // The new transactions are past the limit too: only their identity spares them.
    age_past_one_second();
    let (code, report, err) = asking.answer("y");
    assert_eq!(code, 0, "{report:#}{err}");
    assert!(err.contains("to kill session"), "{err}");
    let outcome = |i: u64| entry(&report, i)["outcome"].as_str().unwrap().to_string();
    let why = |i: u64| entry(&report, i)["why"].as_str().unwrap_or("").to_string();
    assert_eq!(outcome(ids[0]), "spared");
    assert!(
        why(ids[0]).contains("ended (committed or rolled back)"),
        "{report:#}"
    );
    assert_eq!(outcome(ids[1]), "spared");
    assert!(why(ids[1]).contains("another transaction"), "{report:#}");
    assert_eq!(outcome(ids[2]), "gone");
    assert_eq!(outcome(ids[3]), "killed");
    assert_eq!(outcome(ids[4]), "skipped");
    assert!(why(ids[4]).contains("--max-kills 1"), "{report:#}");
    assert!(
        !report["targets"][0]["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["id"] == replacement_id),
        "the replacement was not listed: {report:#}"
    );
    let survivors: BTreeSet<u64> = [ids[0], ids[1], ids[4], replacement_id].into();
    assert_eq!(alive(&db, &survivors), survivors);
    eventually(Duration::from_secs(10), "the killed session gone", || {
        alive(&db, &[ids[3]].into()).is_empty().then_some(())
    });
    rt.block_on(async move { drop((s, replacement)) });
}

/// Listed, then the server restarts (same port, same datadir) and new sessions of the same
/// user, on the same database, idle in transactions past the limit, take the listed ids.
/// The run stops and kills nothing.
#[test]
fn a_restart_between_the_list_and_the_kill_kills_nothing() {
    let mut db = Server::start(&[]);
    let cfg = admin_config(&db);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let before = rt.block_on(async {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(leaked(&db, "kefu", Some("kefu")).await);
        }
        v
    });
    let listed: BTreeSet<u64> = before.iter().map(id).collect();
    age_past_one_second();
    let asking = Asking::start(&cfg, &["--idle-in-transaction-older-than", "1s"]);
    db.stop();
    rt.block_on(async move { drop(before) });
    db.restart();
    // Sessions until the listed ids are taken again (a restarted server counts from 1);
    // only those are kept.
    let after = rt.block_on(async {
        let mut kept = Vec::new();
        let top = *listed.iter().max().unwrap();
        for _ in 0..(top + 20) {
            let c = leaked(&db, "kefu", Some("kefu")).await;
            let i = id(&c);
            if listed.contains(&i) {
                kept.push(c);
            } else {
                c.disconnect().await.unwrap();
            }
            if kept.len() == listed.len() || i >= top {
                break;
            }
        }
        kept
    });
    let reused: BTreeSet<u64> = after.iter().map(id).collect();
    eprintln!("listed {listed:?}, taken again after the restart: {reused:?}");
    assert!(!reused.is_empty(), "no listed id was given out again");
    age_past_one_second();
    let (code, report, err) = asking.answer("y");
    assert_eq!(code, 1, "{report:#}{err}");
    assert_eq!(report["summary"]["killed"], 0, "{report:#}");
    assert_eq!(report["summary"]["stopped"], 1, "{report:#}");
    let stopped = report["targets"][0]["stopped"].as_str().unwrap();
    assert!(
        stopped.contains("connection that read the list was lost"),
        "{stopped}"
    );
    assert!(err.contains("stopped on target primary"), "{err}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        alive(&db, &reused),
        reused,
        "a session of the new run was killed"
    );
    rt.block_on(async move { drop(after) });
}
