//! The judgement on recorded session lists, and its Nagios rendering.

use super::nagios::{headline, perfdata};
use super::*;
use crate::analysis::SessionState;
use crate::config::{IdleSessions, MatchSpec, Matcher, PoolConfig, Thresholds};
use crate::snapshot::{Flavor, LockWait, Outcome, ServerInfo, Snapshot};

fn pool(name: &str, size: u32, overflow: u32) -> PoolConfig {
    PoolConfig {
        name: name.into(),
        matcher: Matcher::compile(&MatchSpec {
            user: Some("kefu".into()),
            ..MatchSpec::default()
        })
        .unwrap(),
        size,
        max_overflow: overflow,
        processes: 1,
        target: None,
        idle_sessions: IdleSessions::Parked,
    }
}

/// A session of kefu: (command, time, transaction (state, age)).
fn s(id: u64, command: &str, time: u64, trx: Option<(&str, u64)>) -> SessionRow {
    SessionRow::recorded(id, command, time, trx)
}

/// A snapshot of these sessions, as `check` reads it.
fn snapshot(sessions: Vec<SessionRow>, max_connections: u64, waits: Vec<LockWait>) -> Snapshot {
    let mut snap = Snapshot::up(ServerInfo::recorded(Flavor::MySql, "9.7.4", 1));
    snap.global_status = Outcome::Ok(vec![(
        "Threads_connected".into(),
        (sessions.len() + 1).to_string(),
    )]);
    snap.global_variables = Outcome::Ok(vec![(
        "max_connections".into(),
        max_connections.to_string(),
    )]);
    snap.sessions = Outcome::Ok(sessions);
    snap.lock_waits = Outcome::Ok(waits);
    snap
}

fn report(snap: &Snapshot, pools: &[PoolConfig]) -> TargetReport {
    target_report("primary", snap, pools, &Thresholds::default(), None)
}

#[test]
fn a_leak_is_named_with_its_sessions() {
    let sessions: Vec<SessionRow> = (1..=45)
        .map(|i| s(i, "Sleep", 2, Some(("RUNNING", 50 + i))))
        .collect();
    let r = report(
        &snapshot(sessions, 300, vec![]),
        &[pool("kefu-flask", 15, 30)],
    );
    let f = &r.findings[0];
    assert_eq!((r.status, f.cause), (Status::Critical, Cause::Leak));
    assert_eq!(f.culprits[0].session.id, 45, "oldest first");
    assert_eq!(f.more_ids.len(), 40);
    assert_eq!(
        headline(&[r]),
        "MYSQL POOL CRITICAL - kefu-flask: leak, 45 sessions idle in transaction \
         (oldest 95s), 45/45 held; look at 45, 44, 43, 42, 41 and 40 more"
    );
}

#[test]
fn a_lock_chain_names_the_root_not_the_queue() {
    // Session 1 idle in a transaction holds the row; 2..=21 queue behind it.
    let mut sessions = vec![s(1, "Sleep", 30, Some(("RUNNING", 35)))];
    let mut waits = Vec::new();
    for i in 2..=21u64 {
        sessions.push(s(i, "Query", 25, Some(("LOCK WAIT", 25))));
        waits.push(LockWait {
            waiting: i,
            blocking: 1,
            wait_seconds: 25,
            blocking_user: "kefu".into(),
            blocking_host: "10.0.0.7:4000".into(),
        });
        for ahead in 2..i {
            waits.push(LockWait {
                waiting: i,
                blocking: ahead,
                wait_seconds: 25,
                blocking_user: "kefu".into(),
                blocking_host: "10.0.0.7:4001".into(),
            });
        }
    }
    let r = report(
        &snapshot(sessions, 300, waits),
        &[pool("kefu-flask", 20, 0)],
    );
    let f = &r.findings[0];
    assert_eq!(
        (r.status, f.cause),
        (Status::Critical, Cause::LockChain),
        "{r:#?}"
    );
    assert_eq!(r.root_blockers.len(), 1, "waiters are never blockers");
    assert_eq!(f.culprits.len(), 1);
    assert_eq!(
        (f.culprits[0].session.id, f.culprits[0].blocks),
        (1, Some(20))
    );
    assert!(headline(&[r]).starts_with(
        "MYSQL POOL CRITICAL - kefu-flask: row lock, 20 sessions wait for session 1 \
         (kefu@10.0.0.7, idle in transaction 35s), 21/20 held"
    ));
}

#[test]
fn capacity_names_the_overcommit_and_the_server() {
    let sessions: Vec<SessionRow> = (1..=56).map(|i| s(i, "Sleep", 1, None)).collect();
    let pools = [pool("kefu-flask", 40, 0), pool("kefu-jobs", 40, 0)];
    let r = report(&snapshot(sessions, 60, vec![]), &pools);
    let f = &r.findings[0];
    assert_eq!(
        (r.status, f.cause, f.pool.as_deref()),
        (Status::Warning, Cause::Capacity, None)
    );
    assert_eq!(
        f.summary,
        "server at 57/60 max_connections (95%) (kefu 56); the pools are declared to 80 \
         connections, 133% of max_connections"
    );
}

#[test]
fn a_healthy_busy_pool_is_ok_and_autocommit_pools_count_idle_as_held() {
    let mut sessions: Vec<SessionRow> = (1..=14)
        .map(|i| s(i, "Query", 0, Some(("RUNNING", 0))))
        .collect();
    sessions.extend((15..=20).map(|i| s(i, "Sleep", 40, None)));
    let snap = snapshot(sessions, 300, vec![]);
    let r = report(&snap, &[pool("kefu-flask", 20, 0)]);
    assert_eq!(r.status, Status::Ok, "{:?}", r.findings);
    assert_eq!((r.pools[0].held, r.pools[0].open), (14, 20));
    assert_eq!(
        headline(std::slice::from_ref(&r)),
        "MYSQL POOL OK - kefu-flask 14/20 held, primary 21/300 connections"
    );
    let mut autocommit = pool("kefu-flask", 20, 0);
    autocommit.idle_sessions = IdleSessions::CheckedOut;
    let r = report(&snap, &[autocommit]);
    assert_eq!(
        (r.status, r.findings[0].cause),
        (Status::Critical, Cause::Load)
    );
}

#[test]
fn perfdata_follows_the_plugin_guidelines() {
    let sessions: Vec<SessionRow> = (1..=3)
        .map(|i| s(i, "Sleep", 2, Some(("RUNNING", 40))))
        .collect();
    let r = report(&snapshot(sessions, 100, vec![]), &[pool("web", 15, 30)]);
    assert_eq!(
        perfdata(&[r], &Thresholds::default()),
        "'web_held'=3;36;45;0;45 'web_open'=3;;;0;45 'web_capacity'=45 \
         'web_idle_in_transaction'=3;;;0;45 'web_oldest_idle_transaction'=40s;30;;0 \
         'connections'=4;80;98;0;100 'max_connections'=100"
    );
}

#[test]
fn views_age_idle_transactions_by_the_transaction() {
    let row = SessionRow {
        info: Some("SELECT   *\n FROM visitors".into()),
        ..s(7, "Sleep", 3, Some(("RUNNING", 400)))
    };
    let v = view(&row).unwrap();
    assert_eq!(
        (v.state, v.age_seconds, v.host.as_str()),
        (SessionState::IdleInTransaction, 400, "10.0.0.7")
    );
    assert_eq!(v.last_query.as_deref(), Some("SELECT * FROM visitors"));
    assert!(view(&SessionRow {
        user: "system user".into(),
        ..row
    })
    .is_none());
}

#[test]
fn status_orders_by_how_bad_not_by_exit_code() {
    let mut all = [
        Status::Critical,
        Status::Unknown,
        Status::Ok,
        Status::Warning,
    ];
    all.sort();
    assert_eq!(
        all,
        [
            Status::Ok,
            Status::Unknown,
            Status::Warning,
            Status::Critical
        ]
    );
    assert_eq!(Status::Unknown.exit_code(), 3);
    let levels = crate::config::Levels {
        warning: 0.8,
        critical: 1.0,
    };
    assert_eq!(Status::of_ratio(0.79, levels), Status::Ok);
    assert_eq!(Status::of_ratio(0.8, levels), Status::Warning);
    assert_eq!(Status::of_ratio(1.0, levels), Status::Critical);
}

/// The pool's numbers and its culprits come from the same rows: a Threads result from
/// another moment (here: claiming nothing) cannot make "15/15 held" disagree with the list.
#[test]
fn pool_numbers_and_culprits_come_from_the_same_session_list() {
    let sessions: Vec<SessionRow> = (1..=15)
        .map(|i| s(i, "Sleep", 2, Some(("RUNNING", 40 + i))))
        .collect();
    let mut snap = snapshot(sessions, 300, vec![]);
    snap.threads = Outcome::Ok(Vec::new());
    let r = report(&snap, &[pool("kefu-flask", 5, 10)]);
    let f = &r.findings[0];
    assert_eq!((r.pools[0].held, r.pools[0].capacity), (15, 15));
    assert_eq!(f.culprits.len() + f.more_ids.len(), 15);
    assert_eq!(r.pools[0].status, Status::Critical, "the row's own verdict");
}

/// A user near its own connection limit is judged by the user-connection levels, not the
/// pool's: 9 of 10 is a warning, 10 of 10 critical (the next login is refused).
#[test]
fn the_user_limit_has_its_own_levels() {
    let judge = |n: u64, t: &Thresholds| {
        let sessions: Vec<SessionRow> = (1..=n).map(|i| s(i, "Sleep", 1, None)).collect();
        let mut snap = snapshot(sessions, 1000, vec![]);
        snap.account_limits = Outcome::Ok(vec![("kefu".into(), "%".into(), 10)]);
        let r = target_report("primary", &snap, &[pool("kefu-flask", 40, 0)], t, None);
        r.findings
            .iter()
            .find(|f| f.cause == Cause::Capacity)
            .map(|f| f.status)
    };
    let t = Thresholds::default();
    assert_eq!(judge(7, &t), None);
    assert_eq!(judge(9, &t), Some(Status::Warning));
    assert_eq!(judge(10, &t), Some(Status::Critical));
    let strict = Thresholds {
        user_connections: crate::config::Levels {
            warning: 0.5,
            critical: 0.6,
        },
        ..t
    };
    assert_eq!(judge(7, &strict), Some(Status::Critical));
}

/// The row-lock chain while the pool is not full (15 + 30, 21 held): the 20 stuck requests
/// are the verdict, ahead of the one leaked session that causes them, which is named as the
/// root; the same chain `MySQLLockWaitChain` alerts on.
#[test]
fn a_chain_is_a_finding_of_its_own_full_pool_or_not() {
    let mut sessions = vec![s(10, "Sleep", 31, Some(("RUNNING", 31)))];
    let mut waits = Vec::new();
    for i in 11..=30u64 {
        sessions.push(s(i, "Query", 31, Some(("LOCK WAIT", 31))));
        waits.push(LockWait {
            waiting: i,
            blocking: 10,
            wait_seconds: 31,
            blocking_user: "kefu".into(),
            blocking_host: "10.0.0.7:4000".into(),
        });
    }
    let r = report(
        &snapshot(sessions, 300, waits),
        &[pool("kefu-flask", 15, 30)],
    );
    assert_eq!(
        headline(std::slice::from_ref(&r)),
        "MYSQL POOL WARNING - kefu-flask: row lock, 20 sessions wait for session 10 \
         (kefu@10.0.0.7, idle in transaction 31s), 21/45 held"
    );
    let f = &r.findings[0];
    let chain = f.chain.as_ref().unwrap();
    assert_eq!(
        (chain.root_id, chain.waiters, chain.inferred),
        (10, 20, false)
    );
    assert!(
        r.findings.iter().all(|f| f.cause != Cause::Leak),
        "the root is named once, as the root: {:#?}",
        r.findings
    );
    assert_eq!(r.pools[0].by_state[&SessionState::LockWait], 20);
}

/// A migration behind an idle transaction on MariaDB's defaults (no lock table): the pool
/// is full of queries queued behind the ALTER; the verdict names the lock, the object, the
/// head and, probably, the root; no waiter is blamed and none counts as active.
#[test]
fn a_schema_change_behind_a_leak_blames_the_leak_not_the_victims() {
    let mut sessions = vec![
        SessionRow {
            state: String::new(),
            db: Some("appdb".into()),
            ..s(10, "Sleep", 31, Some(("RUNNING", 31)))
        },
        SessionRow {
            user: "migrate".into(),
            host: "10.0.0.5:3999".into(),
            db: Some("appdb".into()),
            state: "Waiting for table metadata lock".into(),
            info: Some("ALTER TABLE t ADD COLUMN w INT".into()),
            ..s(11, "Query", 29, None)
        },
    ];
    for i in 12..=25u64 {
        sessions.push(SessionRow {
            db: Some("appdb".into()),
            state: "Waiting for table metadata lock".into(),
            info: Some("SELECT * FROM t WHERE id = 1".into()),
            ..s(i, "Query", 28, None)
        });
    }
    let r = report(
        &snapshot(sessions, 300, vec![]),
        &[pool("kefu-flask", 5, 10)],
    );
    assert_eq!(
        headline(std::slice::from_ref(&r)),
        "MYSQL POOL CRITICAL - kefu-flask: metadata lock on appdb.t, 14 sessions wait behind \
         ALTER TABLE (session 11, migrate@10.0.0.5, waiting 29s), which probably waits for \
         session 10 (kefu@10.0.0.7, idle in transaction 31s), 15/15 held"
    );
    let f = &r.findings[0];
    let chain = f.chain.as_ref().unwrap();
    assert_eq!(
        (
            chain.lock,
            chain.root_id,
            chain.queue_head_id,
            chain.waiters,
            chain.inferred
        ),
        (
            crate::analysis::waits::LockKind::Metadata,
            10,
            Some(11),
            15,
            true
        )
    );
    let blamed: Vec<u64> = r
        .findings
        .iter()
        .flat_map(|f| f.culprits.iter().map(|c| c.session.id))
        .collect();
    assert_eq!(
        blamed,
        [10],
        "waiters are never culprits: {:#?}",
        r.findings
    );
    assert_eq!(r.pools[0].by_state[&SessionState::Active], 0);
    assert_eq!(r.pools[0].by_state[&SessionState::LockWait], 14);
}

/// A user lock held by a session nobody can see (MariaDB without the plugin): the waiters
/// are counted and the fix is said; nobody is guessed at.
#[test]
fn waiters_without_a_visible_holder_are_said_not_guessed() {
    let mut sessions = vec![s(21, "Sleep", 60, None)];
    for i in 22..=23u64 {
        sessions.push(SessionRow {
            state: "User lock".into(),
            info: Some("SELECT GET_LOCK('gl', 100)".into()),
            ..s(i, "Query", 40, None)
        });
    }
    let mut snap = snapshot(sessions, 300, vec![]);
    snap.metadata_locks = Outcome::Skipped(crate::snapshot::Reason::new(
        crate::snapshot::ReasonKind::Unavailable,
        "install the plugin",
    ));
    let r = report(&snap, &[pool("kefu-flask", 15, 30)]);
    let f = &r.findings[0];
    assert_eq!((f.status, f.cause), (Status::Warning, Cause::LockChain));
    assert!(f.culprits.is_empty());
    assert_eq!(f.more_ids, [22, 23]);
    assert!(
        f.summary.starts_with("user lock on gl, 2 sessions wait (longest 40s) for a holder no lock table shows; install the plugin"),
        "{}",
        f.summary
    );
}

mod between_the_scrapes {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::analysis::peaks::{Sample, Window};
    use crate::snapshot::AccountConnections;

    /// Samples a second apart ending `now`: kefu-flask's held count in each, and the
    /// accounts' connections opened so far.
    fn window(
        now: SystemTime,
        held: &[u64],
        accounts: &dyn Fn(u64) -> Vec<AccountConnections>,
    ) -> Window {
        let mut w = Window::new(Duration::from_secs(60));
        for (i, h) in held.iter().enumerate() {
            let ago = (held.len() - 1 - i) as u64;
            let at = now - Duration::from_secs(ago);
            w.push(Sample {
                threads_connected: Some(*h),
                threads_running: Some(1),
                connections: Some(i as u64 * 3),
                refused: Some(0),
                accounts: accounts(i as u64),
                ..Sample::recorded(at, "kefu-flask", *h, *h, 10)
            });
        }
        w
    }

    fn judge(held: &[u64], accounts: &dyn Fn(u64) -> Vec<AccountConnections>) -> TargetReport {
        let now = SystemTime::now();
        let peaks = window(now, held, accounts).peaks(now);
        // Now: 2 of 10 held, working.
        let snap = snapshot(
            vec![s(1, "Query", 0, None), s(2, "Query", 0, None)],
            300,
            vec![],
        );
        target_report(
            "primary",
            &snap,
            &[pool("kefu-flask", 10, 0)],
            &Thresholds::default(),
            Some(&peaks),
        )
    }

    fn none(_: u64) -> Vec<AccountConnections> {
        Vec::new()
    }

    #[test]
    fn a_pool_full_between_scrapes_is_a_warning_that_says_when() {
        // Full for 4 samples, 20 s before now; 2 held now.
        let mut held = vec![2; 30];
        held[6..10].fill(10);
        let r = judge(&held, &none);
        assert_eq!(r.status, Status::Warning);
        let f = &r.findings[0];
        assert_eq!(
            (f.cause, f.pool.as_deref()),
            (Cause::Burst, Some("kefu-flask"))
        );
        assert!(
            f.summary
                .starts_with("hit 10/10 held 20s ago for 4s (now 2/10; sampled every 1s"),
            "{}",
            f.summary
        );
        assert_eq!(
            r.pools[0].status,
            Status::Warning,
            "the pool's row takes it"
        );
    }

    /// A healthy pool: busy to 9 of 10 in the window, never full: nothing to say.
    #[test]
    fn a_pool_that_came_close_but_never_full_raises_nothing() {
        let mut held = vec![2; 30];
        held[6..10].fill(9);
        let r = judge(&held, &none);
        assert_eq!(r.status, Status::Ok, "{:?}", r.findings);
    }

    #[test]
    fn an_account_that_connects_per_request_is_named_and_a_pooled_one_is_not() {
        let accounts = |i: u64| {
            vec![
                AccountConnections {
                    user: "report".into(),
                    host: Some("10.0.0.9".into()),
                    total: 1000 + 30 * i,
                    current: 1,
                    denied: None,
                },
                AccountConnections {
                    user: "kefu".into(),
                    host: Some("10.0.0.7".into()),
                    total: 10 + i / 10,
                    current: 10,
                    denied: None,
                },
            ]
        };
        let r = judge(&[2; 20], &accounts);
        let churn: Vec<&Finding> = r
            .findings
            .iter()
            .filter(|f| f.cause == Cause::Churn)
            .collect();
        assert_eq!(churn.len(), 1, "{:?}", r.findings);
        assert_eq!(churn[0].status, Status::Warning);
        assert!(
            churn[0].summary.starts_with(
                "account report@10.0.0.9 opened 570 connections in the last 19s (30/s)"
            ),
            "{}",
            churn[0].summary
        );
    }

    /// No per-account counts: the global counter still says the server takes logins fast,
    /// and how to learn whose.
    #[test]
    fn without_account_counts_the_global_rate_speaks() {
        let now = SystemTime::now();
        let mut w = window(now, &[2; 20], &none);
        w.push(Sample {
            at: now,
            pools: Vec::new(),
            threads_connected: Some(2),
            threads_running: Some(1),
            connections: Some(57 + 2000),
            refused: Some(3),
            accounts: Vec::new(),
        });
        let peaks = w.peaks(now);
        let snap = snapshot(vec![s(1, "Query", 0, None)], 300, vec![]);
        let r = target_report("primary", &snap, &[], &Thresholds::default(), Some(&peaks));
        let causes: Vec<(Status, Cause)> = r.findings.iter().map(|f| (f.status, f.cause)).collect();
        assert!(
            causes.contains(&(Status::Critical, Cause::Capacity)),
            "{:?}",
            r.findings
        );
        assert!(
            causes.contains(&(Status::Critical, Cause::Churn)),
            "{:?}",
            r.findings
        );
        let refused = r
            .findings
            .iter()
            .find(|f| f.cause == Cause::Capacity)
            .unwrap();
        assert!(
            refused.summary.starts_with("the server refused 3 logins"),
            "{}",
            refused.summary
        );
    }
}

/// No pools configured: two apps leak, each is its own finding, named by its program_name
/// (or user@host when it sends none).
#[test]
fn leaks_outside_the_pools_are_named_by_app() {
    let named = |id, app: &str| SessionRow {
        attributes: vec![("program_name".into(), app.into())],
        ..s(id, "Sleep", 5, Some(("RUNNING", 120)))
    };
    let sessions = vec![
        named(1, "billing"),
        named(2, "billing"),
        named(3, "search"),
        s(4, "Sleep", 5, Some(("RUNNING", 90))),
        s(5, "Query", 1, None),
    ];
    let r = report(&snapshot(sessions, 300, vec![]), &[]);
    let leaks: Vec<&str> = r
        .findings
        .iter()
        .filter(|f| f.cause == Cause::Leak)
        .map(|f| f.summary.as_str())
        .collect();
    assert_eq!(
        leaks,
        [
            "2 sessions idle in transaction (oldest 120s) outside the configured pools, from app billing",
            "1 session idle in transaction (oldest 90s) outside the configured pools, from app kefu@10.0.0.7",
            "1 session idle in transaction (oldest 120s) outside the configured pools, from app search",
        ]
    );
    assert_eq!(r.findings[0].culprits[0].session.app, "billing");
}
