//! `mysql_pool_exporter kill-idle`: the safe successor of the incident's hand-written
//! `fix_db_connections.py` (docs/incident.md).
//!
//! Dry run unless `--execute`. Which sessions qualify is decided by `analysis::kill` (pure,
//! table-tested). Each victim is re-read right before `KILL CONNECTION`, on the connection
//! that read the list and only while the same server run answers (`db::kill`): a session
//! that committed, or whose id now names another session, lives; a restart, failover or
//! lost connection stops the run.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::check::Format;
use crate::analysis::host::strip_port;
use crate::analysis::kill::{Blocks, Criteria};
use crate::analysis::pools::plan;
use crate::analysis::verdict::view;
use crate::analysis::waits::{chains, of_snapshot};
use crate::config::{Config, HumanDuration, PoolConfig};
use crate::db::{Database, KillOutcome};
use crate::snapshot::{Plan, ServerIdentity, SessionRow, Source};

pub struct Args {
    pub criteria: Criteria,
    pub execute: bool,
    /// Sessions ended (or, in a dry run, to be ended) per target at most.
    pub max_kills: usize,
    pub timeout: Duration,
    pub format: Format,
    /// With `--execute`: show the list and ask before killing (stdin: y or yes).
    pub confirm: bool,
}

/// What a run did, as `--format json` prints it; the text lines say the same as it goes.
#[derive(Serialize)]
struct Report {
    pool: String,
    execute: bool,
    criteria: Vec<String>,
    targets: Vec<TargetRun>,
    summary: Tally,
}

#[derive(Serialize)]
struct TargetRun {
    target: String,
    /// The server run the list came from: the only one anything is killed on.
    server: Option<ServerIdentity>,
    /// The connection that read the list: the only one `KILL` is sent on.
    connection_id: Option<u64>,
    sessions: Vec<Entry>,
    /// Why the run stopped on this target before its list was done.
    stopped: Option<String>,
}

/// One candidate of the list and what became of it.
#[derive(Serialize)]
struct Entry {
    id: u64,
    user: String,
    /// With the client's port.
    host: String,
    db: Option<String>,
    thread_id: Option<u64>,
    trx_started: Option<String>,
    grounds: String,
    outcome: Outcome,
    /// Why spared, failed or skipped.
    why: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Outcome {
    /// Dry run: `--execute` would kill it, if it is still the same session then.
    WouldKill,
    Killed,
    /// The re-read row is not the session listed, or no longer qualifies.
    Spared,
    /// It ended by itself before the kill.
    Gone,
    Failed,
    /// `--max-kills` was reached, or the run stopped before it.
    Skipped,
}

/// What happened over all targets.
#[derive(Default, Serialize)]
struct Tally {
    killed: usize,
    would_kill: usize,
    spared: usize,
    failed: usize,
    /// Targets whose run stopped before its list was done.
    stopped: usize,
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
    let c = &args.criteria;
    let criteria: Vec<String> = [
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
    let text = args.format == Format::Text;
    if text {
        let mode = if args.execute {
            "EXECUTE"
        } else {
            "DRY RUN (add --execute to kill)"
        };
        println!(
            "kill-idle: pool {} — {} — {mode}",
            pool.name,
            criteria.join(", ")
        );
    }
    let mut report = Report {
        pool: pool.name.clone(),
        execute: args.execute,
        criteria,
        targets: Vec::new(),
        summary: Tally::default(),
    };
    runtime.block_on(async {
        for t in config.targets.iter().filter(|t| pool.lives_on(&t.name)) {
            let pools = config.pools_for(&t.name);
            // Thread ids too: what tells a listed session from a later one with its id.
            let plan = Plan {
                thread_ids: true,
                ..plan(&pools)
            };
            let db = Database::new(t.clone(), plan);
            let run = one_target(&db, &pools, &args, &mut report.summary).await;
            db.disconnect().await;
            report.targets.push(run);
        }
    });
    let t = &report.summary;
    if text {
        let stopped = match t.stopped {
            0 => String::new(),
            n => format!(", stopped early on {n} target(s)"),
        };
        if args.execute {
            println!("summary: {} killed, {} failed{stopped}", t.killed, t.failed);
        } else {
            println!(
                "summary: {} would be killed (dry run), {} failed{stopped}",
                t.would_kill, t.failed
            );
        }
    } else {
        match serde_json::to_string_pretty(&report) {
            Ok(json) => println!("{json}"),
            Err(e) => eprintln!("error: encoding the report failed: {e}"),
        }
    }
    if t.failed > 0 || t.stopped > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

async fn one_target(
    db: &Database,
    pools: &[PoolConfig],
    args: &Args,
    tally: &mut Tally,
) -> TargetRun {
    let text = args.format == Format::Text;
    let mut run = TargetRun {
        target: db.name().to_string(),
        server: None,
        connection_id: None,
        sessions: Vec::new(),
        stopped: None,
    };
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
        let why = format!("cannot list sessions: {why}");
        eprintln!("error: target {}: {why}", db.name());
        tally.failed += 1;
        run.stopped = Some(why);
        return run;
    };
    run.server = Some(server.identity.clone());
    run.connection_id = Some(server.connection_id);
    let own = server.connection_id;
    let victims = args.criteria.victims_blocking(pools, own, sessions, &roots);
    if args.execute && args.confirm && !victims.is_empty() {
        for (s, grounds) in &victims {
            eprintln!("  to kill {}: {grounds}", describe(s));
        }
        if !confirmed(db.name(), victims.len(), args.max_kills).await {
            eprintln!("  nothing killed on target {}", db.name());
            run.stopped = Some("not confirmed".into());
        }
    }
    let mut ended = 0;
    for (s, grounds) in victims {
        let mut entry = Entry {
            id: s.id,
            user: s.user.clone(),
            host: s.host.clone(),
            db: s.db.clone(),
            thread_id: s.thread_id,
            trx_started: s.trx_started.clone(),
            grounds: grounds.to_string(),
            outcome: Outcome::Skipped,
            why: None,
        };
        let who = describe(s);
        if let Some(why) = &run.stopped {
            entry.why = Some(format!("not tried: {why}"));
        } else if ended >= args.max_kills {
            entry.why = Some(format!("--max-kills {} reached", args.max_kills));
            if text {
                println!("  skip  {who}: --max-kills {} reached", args.max_kills);
            }
        } else if !args.execute {
            entry.outcome = Outcome::WouldKill;
            ended += 1;
            tally.would_kill += 1;
            if text {
                println!("  would kill {who}: {grounds}");
            }
        } else {
            let blocks = roots.get(&s.id).copied();
            let recheck = |now: &SessionRow| {
                args.criteria
                    .recheck_blocking(pools, own, s, now, blocks)
                    .map(drop)
            };
            let deadline = Instant::now() + args.timeout;
            match db.kill_session(server, s, deadline, recheck).await {
                KillOutcome::Killed => {
                    entry.outcome = Outcome::Killed;
                    ended += 1;
                    tally.killed += 1;
                    if text {
                        println!("  killed {who}: {grounds}");
                    }
                }
                KillOutcome::Gone => {
                    entry.outcome = Outcome::Gone;
                    if text {
                        println!("  spared {who}: it ended meanwhile");
                    }
                }
                KillOutcome::Spared(why) => {
                    entry.outcome = Outcome::Spared;
                    entry.why = Some(why.to_string());
                    tally.spared += 1;
                    if text {
                        println!("  spared {who}: {why}");
                    }
                }
                KillOutcome::Failed(e) => {
                    entry.outcome = Outcome::Failed;
                    tally.failed += 1;
                    if text {
                        eprintln!("  error  {who}: {e}");
                    }
                    entry.why = Some(e);
                }
                KillOutcome::Halt(halt) => {
                    entry.why = Some(format!("not tried: {halt}"));
                    tally.stopped += 1;
                    eprintln!("  stopped on target {}: {halt}", db.name());
                    run.stopped = Some(halt.to_string());
                }
            }
        }
        run.sessions.push(entry);
    }
    run
}

/// Asks on the terminal whether to kill the `n` sessions just listed. However long the
/// answer takes, each session is re-read before its kill: one that changed is spared.
async fn confirmed(target: &str, n: usize, max_kills: usize) -> bool {
    let most = if n > max_kills {
        format!(" (at most {max_kills}: --max-kills)")
    } else {
        String::new()
    };
    eprint!("kill these {n} session(s) on target {target}{most}? [y/N] ");
    let answer = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line)
    })
    .await;
    matches!(
        answer.as_ref().map(|r| r.as_ref().map(|l| l.trim().to_ascii_lowercase())),
        Ok(Ok(a)) if a == "y" || a == "yes"
    )
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
