//! `mysql_pool_exporter kill-idle`: the safe successor of the seed's `fix_db_connections.py`.
//!
//! Dry run unless `--execute`. Only sessions of the named pool; never the exporter's own
//! connection, server threads (replication, event scheduler, daemons); each victim is
//! re-read right before `KILL CONNECTION`, so a session that committed meanwhile lives.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::analysis::host::strip_port;
use crate::analysis::pools::plan;
use crate::analysis::report::view;
use crate::analysis::sessions::{classify, SessionState};
use crate::config::{Config, HumanDuration, PoolConfig};
use crate::snapshot::{SessionRow, Source};
use crate::target::Target;

#[derive(Clone, Debug)]
pub struct Criteria {
    pub idle_in_transaction_older_than: Duration,
    pub idle_older_than: Option<Duration>,
}

impl Criteria {
    /// Why this session may be killed, or why not.
    pub fn judge(
        &self,
        pools: &[PoolConfig],
        pool: &str,
        s: &SessionRow,
    ) -> Result<String, String> {
        let owner = crate::analysis::pools::session_pool(pools, s).map(|i| pools[i].name.as_str());
        if owner != Some(pool) {
            return Err(format!("session {} is not in pool {pool}", s.id));
        }
        match classify(&s.user, &s.command, s.trx_state.as_deref()) {
            None => Err(format!("session {} is a server thread", s.id)),
            Some(SessionState::IdleInTransaction) => {
                let age = s.trx_age.unwrap_or(0);
                let limit = self.idle_in_transaction_older_than.as_secs();
                if age > limit {
                    Ok(format!("idle in transaction for {age}s (> {limit}s)"))
                } else {
                    Err(format!(
                        "session {} is idle in transaction for only {age}s",
                        s.id
                    ))
                }
            }
            Some(SessionState::Idle) => match self.idle_older_than {
                Some(limit) if s.time > limit.as_secs() => {
                    Ok(format!("idle for {}s (> {}s)", s.time, limit.as_secs()))
                }
                _ => Err(format!("session {} is idle, not idle in transaction", s.id)),
            },
            Some(other) => Err(format!("session {} is {} now", s.id, other.label())),
        }
    }
}

pub struct Args {
    pub pool: String,
    pub criteria: Criteria,
    pub execute: bool,
    pub max_kills: usize,
    pub timeout: Duration,
}

pub fn run(config: Config, args: Args) -> ExitCode {
    let Some(pool) = config.pools.iter().find(|p| p.name == args.pool) else {
        let names: Vec<&str> = config.pools.iter().map(|p| p.name.as_str()).collect();
        eprintln!(
            "error: no pool is named `{}`; pools in the config: {}",
            args.pool,
            if names.is_empty() {
                "(none)".to_string()
            } else {
                names.join(", ")
            }
        );
        return ExitCode::from(2);
    };
    let runtime = match super::runtime() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let targets: Vec<_> = config
        .targets
        .iter()
        .filter(|t| pool.target.as_deref().is_none_or(|n| n == t.name))
        .cloned()
        .collect();
    let mode = if args.execute {
        "EXECUTE"
    } else {
        "DRY RUN (add --execute to kill)"
    };
    println!(
        "kill-idle: pool {} — idle in transaction > {}{} — {mode}",
        pool.name,
        HumanDuration(args.criteria.idle_in_transaction_older_than),
        args.criteria
            .idle_older_than
            .map(|d| format!(", idle > {}", HumanDuration(d)))
            .unwrap_or_default()
    );
    let (mut killed, mut failed, mut would) = (0usize, 0usize, 0usize);
    runtime.block_on(async {
        for t in targets {
            let pools = config.pools_for(&t.name);
            let target = Target::new(t, plan(&pools));
            let deadline = Instant::now() + args.timeout;
            let snap = target.snapshot(&[Source::Sessions], deadline).await;
            let Some(sessions) = snap.sessions.ok() else {
                let why = snap
                    .down_reason
                    .clone()
                    .or(snap.sessions.reason().map(String::from))
                    .unwrap_or_default();
                eprintln!(
                    "error: target {}: cannot list sessions: {why}",
                    target.name()
                );
                failed += 1;
                continue;
            };
            let own = snap.server.as_ref().map(|s| s.connection_id);
            let mut victims: Vec<(&SessionRow, String)> = sessions
                .iter()
                .filter(|s| Some(s.id) != own)
                .filter_map(|s| Some((s, args.criteria.judge(&pools, &pool.name, s).ok()?)))
                .collect();
            victims.sort_by_key(|(s, _)| std::cmp::Reverse(s.trx_age.unwrap_or(s.time)));
            for (i, (s, why)) in victims.iter().enumerate() {
                let v = view(s);
                let who = format!(
                    "session {} {}@{} db={}{}",
                    s.id,
                    s.user,
                    strip_port(&s.host),
                    s.db.as_deref().unwrap_or("-"),
                    v.and_then(|v| v.last_query)
                        .map(|q| format!(" last: {q}"))
                        .unwrap_or_default()
                );
                if i >= args.max_kills {
                    println!("  skip  {who}: --max-kills {} reached", args.max_kills);
                    continue;
                }
                if !args.execute {
                    println!("  would kill {who}: {why}");
                    would += 1;
                    continue;
                }
                let recheck = |row: &SessionRow| {
                    args.criteria
                        .judge(&pools, &pool.name, row)
                        .map(|_| ())
                        .and_then(|_| {
                            if row.user == s.user {
                                Ok(())
                            } else {
                                Err("the id now belongs to another user".into())
                            }
                        })
                };
                match target
                    .kill_session(s.id, Instant::now() + args.timeout, recheck)
                    .await
                {
                    Ok(()) => {
                        println!("  killed {who}: {why}");
                        killed += 1;
                    }
                    Err(e) if e.contains("gone already") || e.starts_with("session ") => {
                        println!("  spared {who}: {e}");
                    }
                    Err(e) => {
                        eprintln!("  error  {who}: {e}");
                        failed += 1;
                    }
                }
            }
            target.disconnect().await;
        }
    });
    if args.execute {
        println!("summary: {killed} killed, {failed} failed");
    } else {
        println!("summary: {would} would be killed (dry run), {failed} failed");
    }
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
