//! `mysql_pool_exporter kill-idle`: the safe successor of the incident's hand-written
//! `fix_db_connections.py` (docs/incident.md).
//!
//! Dry run unless `--execute`. Which sessions qualify is decided by `analysis::kill` (pure,
//! table-tested); each victim is re-read right before `KILL CONNECTION`, so a session that
//! committed meanwhile lives.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::analysis::host::strip_port;
use crate::analysis::kill::{Blocks, Criteria};
use crate::analysis::pools::plan;
use crate::analysis::verdict::view;
use crate::analysis::waits::{chains, of_snapshot};
use crate::config::{Config, HumanDuration};
use crate::db::{Database, KillOutcome};
use crate::snapshot::{SessionRow, Source};

pub struct Args {
    pub criteria: Criteria,
    pub execute: bool,
    pub max_kills: usize,
    pub timeout: Duration,
}

/// What happened over all targets.
#[derive(Default)]
struct Tally {
    killed: usize,
    would: usize,
    failed: usize,
}

pub fn run(args: Args, config: Config, runtime: &tokio::runtime::Runtime) -> ExitCode {
    let name = &args.criteria.pool;
    let Some(pool) = config.pools.iter().find(|p| &p.name == name) else {
        let names: Vec<&str> = config.pools.iter().map(|p| p.name.as_str()).collect();
        eprintln!(
            "error: no pool is named `{name}`; pools in the config: {}",
            if names.is_empty() {
                "(none)".to_string()
            } else {
                names.join(", ")
            }
        );
        return ExitCode::from(2);
    };
    let mode = if args.execute {
        "EXECUTE"
    } else {
        "DRY RUN (add --execute to kill)"
    };
    let c = &args.criteria;
    let which: Vec<String> = [
        c.idle_in_transaction_older_than
            .map(|d| format!("idle in transaction > {}", HumanDuration(d))),
        c.idle_older_than
            .map(|d| format!("idle > {}", HumanDuration(d))),
        c.root_blockers.map(|d| {
            format!(
                "idle root blockers of chains waiting > {}",
                HumanDuration(d)
            )
        }),
    ]
    .into_iter()
    .flatten()
    .collect();
    println!(
        "kill-idle: pool {} — {} — {mode}",
        pool.name,
        which.join(", ")
    );
    let mut tally = Tally::default();
    runtime.block_on(async {
        for t in config.targets.iter().filter(|t| pool.lives_on(&t.name)) {
            let pools = config.pools_for(&t.name);
            let db = Database::new(t.clone(), plan(&pools));
            one_target(&db, &pools, &args, &mut tally).await;
            db.disconnect().await;
        }
    });
    if args.execute {
        println!("summary: {} killed, {} failed", tally.killed, tally.failed);
    } else {
        println!(
            "summary: {} would be killed (dry run), {} failed",
            tally.would, tally.failed
        );
    }
    if tally.failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

async fn one_target(
    db: &Database,
    pools: &[crate::config::PoolConfig],
    args: &Args,
    tally: &mut Tally,
) {
    let sources = [Source::Sessions, Source::LockWaits, Source::MetadataLocks];
    let snap = db.snapshot(&sources, Instant::now() + args.timeout).await;
    // Who blocks whom: the same wait-for graph as check's (lock sources that failed only
    // leave roots out, never add one).
    let roots: BTreeMap<u64, Blocks> = chains(&of_snapshot(&snap))
        .into_iter()
        .map(|c| {
            let blocks = Blocks {
                waiters: c.waiters.len(),
                longest_wait: c.longest_wait,
            };
            (c.root, blocks)
        })
        .collect();
    let (Some(sessions), Some(server)) = (snap.sessions.ok(), snap.server.as_ref()) else {
        let why = snap
            .down_reason
            .as_ref()
            .or(snap.sessions.problem())
            .map(|r| r.text.as_str())
            .unwrap_or_default();
        eprintln!("error: target {}: cannot list sessions: {why}", db.name());
        tally.failed += 1;
        return;
    };
    let own = server.connection_id;
    for (i, (s, grounds)) in args
        .criteria
        .victims_blocking(pools, own, sessions, &roots)
        .into_iter()
        .enumerate()
    {
        let who = describe(s);
        if i >= args.max_kills {
            println!("  skip  {who}: --max-kills {} reached", args.max_kills);
            continue;
        }
        if !args.execute {
            println!("  would kill {who}: {grounds}");
            tally.would += 1;
            continue;
        }
        let blocks = roots.get(&s.id).copied();
        let recheck = |now: &SessionRow| {
            args.criteria
                .recheck_blocking(pools, own, s, now, blocks)
                .map(drop)
        };
        match db
            .kill_session(s.id, Instant::now() + args.timeout, recheck)
            .await
        {
            KillOutcome::Killed => {
                println!("  killed {who}: {grounds}");
                tally.killed += 1;
            }
            KillOutcome::Gone => println!("  spared {who}: it ended meanwhile"),
            KillOutcome::Spared(why) => println!("  spared {who}: {why}"),
            KillOutcome::Failed(e) => {
                eprintln!("  error  {who}: {e}");
                tally.failed += 1;
            }
        }
    }
}

/// `session 12 kefu@10.0.0.7 db=kefu last: SELECT ...`
fn describe(s: &SessionRow) -> String {
    format!(
        "session {} {}@{} db={}{}",
        s.id,
        s.user,
        strip_port(&s.host),
        s.db.as_deref().unwrap_or("-"),
        view(s)
            .and_then(|v| v.last_query)
            .map(|q| format!(" last: {q}"))
            .unwrap_or_default()
    )
}
