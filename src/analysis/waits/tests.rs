//! The graph on recorded shapes: the five the servers showed here, and some they did not.

use super::*;
use crate::snapshot::MetadataLock;

/// A session: id, command, seconds, state, statement, transaction (state, age).
fn s(
    id: u64,
    command: &str,
    time: u64,
    state: &str,
    info: Option<&str>,
    trx: Option<(&str, u64)>,
) -> SessionRow {
    SessionRow {
        id,
        user: if id == 11 {
            "migrate".into()
        } else {
            "app".into()
        },
        host: format!("10.0.0.{id}:4000"),
        db: Some("appdb".into()),
        command: command.into(),
        time,
        state: state.into(),
        info: info.map(String::from),
        trx_state: trx.map(|(t, _)| t.into()),
        trx_age: trx.map(|(_, a)| a),
        ..SessionRow::default()
    }
}

fn mdl(
    session: u64,
    object_type: &str,
    schema: Option<&str>,
    name: Option<&str>,
    lock: &str,
    granted: bool,
) -> MetadataLock {
    MetadataLock {
        session,
        object_type: object_type.into(),
        schema: schema.map(String::from),
        name: name.map(String::from),
        lock_type: lock.into(),
        granted,
    }
}

/// Session 10 read `t` in a transaction and went idle; 11 runs ALTER TABLE t; 12..=25 queue.
fn alter_shape() -> Vec<SessionRow> {
    let mut v = vec![
        s(10, "Sleep", 31, "", None, Some(("RUNNING", 31))),
        s(
            11,
            "Query",
            29,
            "Waiting for table metadata lock",
            Some("ALTER TABLE t ADD COLUMN w INT"),
            None,
        ),
        // Someone else with an open transaction, younger, on another table.
        s(30, "Sleep", 2, "", None, Some(("RUNNING", 5))),
        s(31, "Sleep", 100, "", None, None),
    ];
    for id in 12..=25 {
        let sql = if id % 2 == 0 {
            "SELECT * FROM t WHERE id = 1"
        } else {
            "UPDATE t SET v = 3"
        };
        v.push(s(
            id,
            "Query",
            28 - (id - 12),
            "Waiting for table metadata lock",
            Some(sql),
            None,
        ));
    }
    v
}

fn the_chain(g: &WaitGraph) -> Chain {
    let all = chains(g);
    assert!(!all.is_empty(), "{g:#?}");
    all[0].clone()
}

#[test]
fn alter_behind_an_idle_transaction_exact() {
    // What MySQL's performance_schema.metadata_locks showed for this shape.
    let mut rows = vec![
        mdl(10, "TABLE", Some("appdb"), Some("t"), "SHARED_READ", true),
        mdl(11, "GLOBAL", None, None, "INTENTION_EXCLUSIVE", true),
        mdl(
            11,
            "SCHEMA",
            Some("appdb"),
            None,
            "INTENTION_EXCLUSIVE",
            true,
        ),
        mdl(
            11,
            "TABLE",
            Some("appdb"),
            Some("t"),
            "SHARED_UPGRADABLE",
            true,
        ),
        mdl(11, "TABLE", Some("appdb"), Some("t"), "EXCLUSIVE", false),
        mdl(30, "TABLE", Some("appdb"), Some("u"), "SHARED_READ", true),
    ];
    for id in 12..=25 {
        let lock = if id % 2 == 0 {
            "SHARED_READ"
        } else {
            "SHARED_WRITE"
        };
        rows.push(mdl(id, "TABLE", Some("appdb"), Some("t"), lock, false));
    }
    let m = MetadataLocks {
        rows,
        lists_waiters: true,
    };
    let g = build(&alter_shape(), &[], Some(&m));
    let c = the_chain(&g);
    assert_eq!((c.root, c.head, c.kind), (10, Some(11), LockKind::Metadata));
    assert_eq!(c.object.as_deref(), Some("appdb.t"));
    assert_eq!(c.waiters, (11..=25).collect());
    assert!(!c.inferred);
    assert_eq!(chains(&g).len(), 1, "30 holds a lock nobody waits for");
    assert_eq!(g.waiting_by_kind()[&LockKind::Metadata], 15);
}

#[test]
fn alter_behind_an_idle_transaction_inferred() {
    // MariaDB's defaults: no metadata-lock table at all. Every open transaction may hold
    // it; the oldest ranks first and every edge says "probably".
    let g = build(&alter_shape(), &[], None);
    let all = chains(&g);
    assert_eq!(
        all.len(),
        2,
        "both open transactions are candidates: {all:#?}"
    );
    let c = &all[0];
    assert_eq!((c.root, c.head, c.kind), (10, Some(11), LockKind::Metadata));
    assert_eq!(c.waiters.len(), 15);
    assert!(c.inferred);
    assert_eq!(all[1].root, 30);
    assert!(
        !all.iter().any(|c| c.root == 31),
        "no transaction, no metadata lock held"
    );
}

#[test]
fn alter_behind_an_idle_transaction_with_the_plugin() {
    // MariaDB's METADATA_LOCK_INFO: granted locks only, as it showed them.
    let rows = vec![
        mdl(11, "BACKUP LOCK", None, None, "BACKUP_ALTER_COPY", true),
        mdl(10, "TABLE", Some("appdb"), Some("t"), "SHARED_READ", true),
        mdl(
            11,
            "TABLE",
            Some("appdb"),
            Some("t"),
            "SHARED_UPGRADABLE",
            true,
        ),
        mdl(
            11,
            "SCHEMA",
            Some("appdb"),
            None,
            "INTENTION_EXCLUSIVE",
            true,
        ),
    ];
    let m = MetadataLocks {
        rows,
        lists_waiters: false,
    };
    let g = build(&alter_shape(), &[], Some(&m));
    let all = chains(&g);
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!((all[0].root, all[0].head), (10, Some(11)));
    assert!(!all[0].inferred, "the plugin names the holder");
}

#[test]
fn ftwrl_behind_a_long_query_on_mysql() {
    let sessions = vec![
        s(
            17,
            "Query",
            5,
            "User sleep",
            Some("SELECT COUNT(*), SLEEP(30) FROM appdb.t"),
            None,
        ),
        s(
            18,
            "Query",
            4,
            "Waiting for table flush",
            Some("FLUSH TABLES WITH READ LOCK"),
            None,
        ),
        s(
            19,
            "Query",
            3,
            "Waiting for global read lock",
            Some("INSERT INTO appdb.t VALUES (10, 10)"),
            None,
        ),
        s(
            20,
            "Query",
            3,
            "Waiting for table flush",
            Some("SELECT * FROM appdb.t"),
            None,
        ),
        s(21, "Query", 3, "User sleep", Some("SELECT SLEEP(30)"), None),
    ];
    let m = MetadataLocks {
        rows: vec![
            mdl(17, "TABLE", Some("appdb"), Some("t"), "SHARED_READ", true),
            mdl(18, "GLOBAL", None, None, "SHARED", true),
            mdl(19, "GLOBAL", None, None, "INTENTION_EXCLUSIVE", false),
            mdl(20, "TABLE", Some("appdb"), Some("t"), "SHARED_READ", true),
        ],
        lists_waiters: true,
    };
    let g = build(&sessions, &[], Some(&m));
    let c = the_chain(&g);
    assert_eq!(
        (c.root, c.head, c.kind),
        (17, Some(18), LockKind::GlobalRead)
    );
    assert_eq!(c.waiters, [18, 19, 20].into());
    assert!(c.inferred, "a table flush is never in a lock table");
    assert!(g.unexplained.is_empty(), "{:?}", g.unexplained);
}

#[test]
fn a_backup_lock_without_a_lock_table_is_unexplained_not_guessed() {
    // MariaDB: FTWRL done, its session idle; the writer waits for the backup lock.
    let sessions = vec![
        s(18, "Sleep", 7, "", None, None),
        s(
            19,
            "Query",
            6,
            "Waiting for backup lock",
            Some("INSERT INTO appdb.t VALUES (10, 10)"),
            None,
        ),
    ];
    let g = build(&sessions, &[], None);
    assert!(chains(&g).is_empty());
    assert_eq!(g.unexplained, [(LockKind::Backup, None, vec![19])]);
    assert_eq!(g.waiting[&19], LockKind::Backup);
    let m = MetadataLocks {
        rows: vec![
            mdl(18, "BACKUP LOCK", None, None, "BACKUP_FTWRL2", true),
            mdl(19, "TABLE", Some("appdb"), Some("t"), "SHARED_WRITE", true),
        ],
        lists_waiters: false,
    };
    let c = the_chain(&build(&sessions, &[], Some(&m)));
    assert_eq!((c.root, c.kind, c.inferred), (18, LockKind::Backup, false));
}

#[test]
fn user_locks() {
    let sessions = vec![
        s(21, "Sleep", 6, "", None, None),
        s(
            22,
            "Query",
            5,
            "User lock",
            Some("SELECT GET_LOCK('gl', 40)"),
            None,
        ),
        s(
            23,
            "Query",
            4,
            "User lock",
            Some("SELECT GET_LOCK('gl', 40)"),
            None,
        ),
    ];
    // MySQL lists user locks in metadata_locks, waiters included.
    let exact = MetadataLocks {
        rows: vec![
            mdl(21, "USER LEVEL LOCK", None, Some("gl"), "EXCLUSIVE", true),
            mdl(22, "USER LEVEL LOCK", None, Some("gl"), "EXCLUSIVE", false),
            mdl(23, "USER LEVEL LOCK", None, Some("gl"), "EXCLUSIVE", false),
        ],
        lists_waiters: true,
    };
    let c = the_chain(&build(&sessions, &[], Some(&exact)));
    assert_eq!((c.root, c.kind, c.head), (21, LockKind::User, None));
    assert_eq!(c.object.as_deref(), Some("gl"));
    assert_eq!(c.waiters, [22, 23].into());
    // MariaDB's plugin: the holder only.
    let plugin = MetadataLocks {
        rows: vec![mdl(
            21,
            "USER LEVEL LOCK",
            None,
            Some("gl"),
            "SHARED_NO_WRITE",
            true,
        )],
        lists_waiters: false,
    };
    let c = the_chain(&build(&sessions, &[], Some(&plugin)));
    assert_eq!((c.root, c.waiters.len(), c.inferred), (21, 2, false));
    // Nothing to read: the waiters are known, the holder is not.
    let g = build(&sessions, &[], None);
    assert!(chains(&g).is_empty());
    assert_eq!(
        g.unexplained,
        [(LockKind::User, Some("gl".into()), vec![22, 23])]
    );
}

#[test]
fn row_locks_and_deadlocks() {
    let w = |waiting, blocking, secs| LockWait {
        waiting,
        blocking,
        wait_seconds: secs,
        ..LockWait::default()
    };
    let mut sessions = vec![s(1, "Sleep", 30, "", None, Some(("RUNNING", 35)))];
    let mut waits = Vec::new();
    for i in 2..=21u64 {
        sessions.push(s(
            i,
            "Query",
            25,
            "updating",
            Some("UPDATE t SET v = 1"),
            Some(("LOCK WAIT", 25)),
        ));
        waits.push(w(i, 1, 25));
        waits.extend((2..i).map(|ahead| w(i, ahead, 25)));
    }
    waits.push(w(40, 41, 3));
    waits.push(w(41, 40, 3));
    let g = build(&sessions, &waits, None);
    let all = chains(&g);
    assert_eq!(all.len(), 1, "a deadlock has no root: {all:#?}");
    assert_eq!(
        (all[0].root, all[0].head, all[0].kind),
        (1, None, LockKind::Row)
    );
    assert_eq!(all[0].waiters.len(), 20);
    assert_eq!(g.waiting_by_kind()[&LockKind::Row], 22);
}

#[test]
fn states_name_their_lock() {
    assert_eq!(
        wait_kind("Waiting for table metadata lock"),
        Some(LockKind::Metadata)
    );
    assert_eq!(
        wait_kind("Waiting for stored function metadata lock"),
        Some(LockKind::Metadata)
    );
    assert_eq!(
        wait_kind("Waiting for global read lock"),
        Some(LockKind::GlobalRead)
    );
    assert_eq!(
        wait_kind("Waiting for commit lock"),
        Some(LockKind::GlobalRead)
    );
    assert_eq!(wait_kind("Waiting for backup lock"), Some(LockKind::Backup));
    assert_eq!(
        wait_kind("Waiting for table level lock"),
        Some(LockKind::Table)
    );
    assert_eq!(wait_kind("User lock"), Some(LockKind::User));
    assert_eq!(wait_kind("Waiting for table flush"), Some(LockKind::Flush));
    assert_eq!(wait_kind("User sleep"), None);
    assert_eq!(wait_kind("Waiting on empty queue"), None);
    assert_eq!(wait_kind("Waiting for next activation"), None);
    assert_eq!(wait_kind(""), None);
}

/// MariaDB: FTWRL waits for a long write (its backup lock must wait for running DML), and
/// the writers queue behind FTWRL — all three in "Waiting for backup lock".
#[test]
fn ftwrl_behind_a_long_write_on_mariadb() {
    let sessions = vec![
        s(
            17,
            "Query",
            40,
            "Updating",
            Some("UPDATE visitors SET name = SLEEP(60) WHERE id = 3"),
            Some(("RUNNING", 40)),
        ),
        s(
            18,
            "Query",
            30,
            "Waiting for backup lock",
            Some("FLUSH TABLES WITH READ LOCK"),
            None,
        ),
        s(
            19,
            "Query",
            20,
            "Waiting for backup lock",
            Some("INSERT INTO visitors VALUES (10, 'x')"),
            None,
        ),
        s(
            20,
            "Query",
            19,
            "Waiting for backup lock",
            Some("INSERT INTO visitors VALUES (11, 'y')"),
            None,
        ),
        s(21, "Query", 2, "User sleep", Some("SELECT SLEEP(1)"), None),
    ];
    let g = build(&sessions, &[], None);
    let c = the_chain(&g);
    assert_eq!((c.root, c.head, c.kind), (17, Some(18), LockKind::Backup));
    assert_eq!(c.waiters, [18, 19, 20].into());
    assert!(c.inferred);
    assert!(g.unexplained.is_empty(), "{:?}", g.unexplained);
}

/// An idle session holds a user lock: its last statement (performance_schema keeps it)
/// names the lock, so it is probably the holder.
#[test]
fn an_idle_user_lock_holder_is_found_by_its_last_statement() {
    let sessions = vec![
        s(21, "Sleep", 6, "", Some("SELECT GET_LOCK('gl', 0)"), None),
        s(
            24,
            "Sleep",
            9,
            "",
            Some("SELECT GET_LOCK('other', 0)"),
            None,
        ),
        s(
            22,
            "Query",
            5,
            "User lock",
            Some("SELECT GET_LOCK('gl', 40)"),
            None,
        ),
    ];
    let c = the_chain(&build(&sessions, &[], None));
    assert_eq!((c.root, c.kind, c.inferred), (21, LockKind::User, true));
    assert_eq!(chains(&build(&sessions, &[], None)).len(), 1);
}

/// Several open transactions may hold the metadata lock: the oldest ranks first, whatever
/// its id.
#[test]
fn inferred_candidates_rank_oldest_transaction_first() {
    let mut sessions = alter_shape();
    sessions.push(s(40, "Sleep", 1, "", None, Some(("RUNNING", 500))));
    let all = chains(&build(&sessions, &[], None));
    let roots: Vec<u64> = all.iter().map(|c| c.root).collect();
    assert_eq!(roots, [40, 10, 30]);
}
