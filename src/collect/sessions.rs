//! Client sessions by state, with their ages: idle-in-transaction is the leak signature.

use std::collections::BTreeMap;
use std::fmt;

use super::{Collector, EncodeContext};
use super::{Families, Labels};
use crate::analysis::cap::{cap, keep_set, Fold, OTHER};
use crate::analysis::{classify, SessionState, SessionStats};
use crate::snapshot::{Snapshot, Source, ThreadGroup};

#[derive(Debug)]
pub struct Sessions;

impl Collector for Sessions {
    fn name(&self) -> &'static str {
        "sessions"
    }
    fn help(&self) -> &'static str {
        "client sessions by state (active, lock_wait, idle, idle_in_transaction) with their ages"
    }
    fn sources(&self) -> &'static [Source] {
        &[Source::Threads]
    }

    fn encode(&self, snap: &Snapshot, ctx: &EncodeContext, out: &mut Families) -> fmt::Result {
        let Some(groups) = snap.threads.ok() else {
            return Ok(());
        };
        let stats = SessionStats::from_groups(groups);
        out.gauge(
            "mysql_sessions",
            "Client sessions by user and state; idle_in_transaction is a Sleep session with an open InnoDB transaction.",
            &session_counts(&stats, ctx.limits.max_label_values),
        )?;
        let series: Vec<(Labels, _)> = SessionState::ALL
            .iter()
            .map(|s| (vec![("state", s.label().to_string())], stats.histogram(*s)))
            .collect();
        out.snapshot_histogram(
            "mysql_session_age_seconds",
            "Time the current sessions have spent in their state: query age (active, lock_wait), idle time (idle), transaction age (idle_in_transaction).",
            &series,
        )?;
        let oldest = stats
            .oldest_trx_by_user
            .iter()
            .map(|(k, v)| (k.clone(), *v as f64))
            .collect();
        let oldest: Vec<_> = cap(oldest, ctx.limits.max_label_values, Fold::Max)
            .into_iter()
            .map(|(user, v)| (vec![("mysql_user", user)], v))
            .collect();
        out.gauge(
            "mysql_oldest_transaction_seconds",
            "Age of the user's oldest open InnoDB transaction.",
            &oldest,
        )?;
        out.gauge(
            "mysql_oldest_statement_seconds",
            "Age of the user's oldest statement running (active) or waiting for a lock (lock_wait); absent when it has none.",
            &oldest_statements(groups, ctx.limits.max_label_values),
        )
    }
}

/// Per user and state (active, lock_wait), the age of the oldest statement: what lets an
/// alert on long statements leave out the users whose statements are long on purpose
/// (backups, reports). Users beyond the cap fold into `other` by their maximum.
fn oldest_statements(groups: &[ThreadGroup], limit: usize) -> Vec<(Labels, f64)> {
    let mut out = Vec::new();
    for state in [SessionState::Active, SessionState::LockWait] {
        let mut by_user: BTreeMap<String, f64> = BTreeMap::new();
        for g in groups {
            if classify(&g.user, &g.command, &g.state, g.trx_state.as_deref()) == Some(state) {
                let e = by_user.entry(g.user.clone()).or_default();
                *e = e.max(g.time_max as f64);
            }
        }
        for (user, age) in cap(by_user, limit, Fold::Max) {
            out.push((
                vec![("mysql_user", user), ("state", state.label().to_string())],
                age,
            ));
        }
    }
    out
}

/// `mysql_sessions{mysql_user,state}`: every state for every user shown (zeros included, so
/// a user's idle_in_transaction series does not vanish when it drops to 0), users beyond
/// the cap summed per state under `other`.
fn session_counts(stats: &SessionStats, limit: usize) -> Vec<(Labels, f64)> {
    let weights: BTreeMap<String, f64> = stats
        .by_user
        .iter()
        .map(|(u, c)| (u.clone(), c.iter().sum::<u64>() as f64))
        .collect();
    let keep = keep_set(&weights, limit);
    let mut rows: BTreeMap<String, [u64; 4]> = BTreeMap::new();
    for (user, counts) in &stats.by_user {
        let key = if keep.contains(user) {
            user.clone()
        } else {
            OTHER.to_string()
        };
        let row = rows.entry(key).or_default();
        for (a, b) in row.iter_mut().zip(counts) {
            *a += b;
        }
    }
    let mut out = Vec::new();
    for (user, counts) in rows {
        for (state, n) in SessionState::ALL.iter().zip(counts) {
            out.push((
                vec![
                    ("mysql_user", user.clone()),
                    ("state", state.label().to_string()),
                ],
                n as f64,
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::om;
    use crate::collect::testing::{encode_with, recorded};
    use crate::snapshot::Outcome;

    fn leak_snapshot() -> Snapshot {
        let mut snap = recorded();
        snap.threads = Outcome::Ok(vec![
            ThreadGroup::uniform(
                "kefu",
                "10.0.0.7",
                Some("kefu"),
                "Sleep",
                "",
                Some(("RUNNING", 400)),
                45,
                2,
            ),
            ThreadGroup::uniform(
                "kefu",
                "10.0.0.7",
                Some("kefu"),
                "Query",
                "User sleep",
                None,
                2,
                12,
            ),
            ThreadGroup::uniform(
                "report",
                "10.0.0.8",
                None,
                "Query",
                "Updating",
                Some(("LOCK WAIT", 20)),
                1,
                20,
            ),
            ThreadGroup::uniform("report", "10.0.0.8", None, "Sleep", "", None, 3, 100),
            ThreadGroup::uniform(
                "event_scheduler",
                "localhost",
                None,
                "Daemon",
                "",
                None,
                1,
                9999,
            ),
        ]);
        snap
    }

    #[test]
    fn the_incidents_leak_is_seen() {
        let s = om::parse(&encode_with(&Sessions, &leak_snapshot(), 50));
        let get = |user: &str, state: &str| {
            om::get(
                &s,
                "mysql_sessions",
                &[("mysql_user", user), ("state", state)],
            )
        };
        assert_eq!(get("kefu", "idle_in_transaction"), Some(45.0));
        assert_eq!(get("kefu", "active"), Some(2.0));
        assert_eq!(get("kefu", "lock_wait"), Some(0.0));
        assert_eq!(get("report", "lock_wait"), Some(1.0));
        assert_eq!(get("report", "idle"), Some(3.0));
        assert_eq!(get("event_scheduler", "active"), None);
        let h = |state: &str, le: &str| {
            om::get(
                &s,
                "mysql_session_age_seconds_bucket",
                &[("state", state), ("le", le)],
            )
        };
        assert_eq!(h("idle_in_transaction", "30"), Some(0.0));
        assert_eq!(h("idle_in_transaction", "600"), Some(45.0));
        assert_eq!(h("idle_in_transaction", "+Inf"), Some(45.0));
        assert_eq!(h("active", "10"), Some(0.0));
        assert_eq!(h("active", "30"), Some(2.0));
        assert_eq!(
            om::get(&s, "mysql_session_age_seconds_count", &[("state", "idle")]),
            Some(3.0)
        );
        assert_eq!(
            om::get(
                &s,
                "mysql_session_age_seconds_sum",
                &[("state", "idle_in_transaction")]
            ),
            Some(18000.0)
        );
        assert_eq!(
            om::get(
                &s,
                "mysql_oldest_transaction_seconds",
                &[("mysql_user", "kefu")]
            ),
            Some(400.0)
        );
        assert_eq!(
            om::get(
                &s,
                "mysql_oldest_transaction_seconds",
                &[("mysql_user", "report")]
            ),
            Some(20.0)
        );
    }

    /// The oldest statement per user and state: kefu's two running for 12 s, report's lock
    /// wait of 20 s; idle sessions and server threads have none.
    #[test]
    fn the_oldest_statement_is_kept_per_user_and_state() {
        let s = om::parse(&encode_with(&Sessions, &leak_snapshot(), 50));
        let get = |user, state| {
            om::get(
                &s,
                "mysql_oldest_statement_seconds",
                &[("mysql_user", user), ("state", state)],
            )
        };
        assert_eq!(get("kefu", "active"), Some(12.0));
        assert_eq!(get("report", "lock_wait"), Some(20.0));
        assert_eq!(get("report", "active"), None);
        assert_eq!(get("event_scheduler", "active"), None);
    }

    #[test]
    fn users_beyond_the_cap_are_summed_per_state() {
        let s = om::parse(&encode_with(&Sessions, &leak_snapshot(), 1));
        assert_eq!(
            om::get(
                &s,
                "mysql_sessions",
                &[("mysql_user", "kefu"), ("state", "idle_in_transaction")]
            ),
            Some(47.0 - 2.0)
        );
        assert_eq!(
            om::get(
                &s,
                "mysql_sessions",
                &[("mysql_user", "other"), ("state", "idle")]
            ),
            Some(3.0)
        );
        assert_eq!(
            om::get(
                &s,
                "mysql_sessions",
                &[("mysql_user", "report"), ("state", "idle")]
            ),
            None
        );
        assert_eq!(
            om::get(
                &s,
                "mysql_oldest_transaction_seconds",
                &[("mysql_user", "other")]
            ),
            Some(20.0)
        );
    }

    #[test]
    fn no_sessions_still_gives_a_complete_empty_histogram() {
        let mut snap = recorded();
        snap.threads = Outcome::Ok(Vec::new());
        let s = om::parse(&encode_with(&Sessions, &snap, 50));
        assert_eq!(
            om::get(
                &s,
                "mysql_session_age_seconds_count",
                &[("state", "idle_in_transaction")]
            ),
            Some(0.0)
        );
        assert_eq!(
            om::get(
                &s,
                "mysql_session_age_seconds_bucket",
                &[("state", "active"), ("le", "+Inf")]
            ),
            Some(0.0)
        );
    }
}
