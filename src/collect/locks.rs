//! Row-lock waits: how many sessions wait, and who is at the root of each chain. With
//! InnoDB's default `innodb_lock_wait_timeout` (50 s) waiters give up before a query-age
//! alert on `lock_wait` could fire; these series let an alert name the blocker within
//! seconds.

use std::collections::BTreeMap;
use std::fmt;

use super::{Collector, EncodeContext, Families, Labels};
use crate::analysis::cap::{cap, Fold, OTHER};
use crate::analysis::locks::{root_blockers, waiting_sessions};
use crate::snapshot::{Snapshot, Source};

#[derive(Debug)]
pub struct Locks;

impl Collector for Locks {
    fn name(&self) -> &'static str {
        "locks"
    }
    fn help(&self) -> &'static str {
        "row-lock waits and the root blockers of lock chains, by user and client host"
    }
    fn sources(&self) -> &'static [Source] {
        &[Source::LockWaits]
    }

    fn encode(&self, snap: &Snapshot, ctx: &EncodeContext, out: &mut Families) -> fmt::Result {
        let Some(waits) = snap.lock_waits.ok() else {
            return Ok(());
        };
        out.gauge(
            "mysql_lock_waiting_sessions",
            "Sessions waiting for a row lock now.",
            &[(Vec::new(), waiting_sessions(waits) as f64)],
        )?;
        // Per (user, host) of the root blockers: the worst chain, label values capped.
        let mut waiters: BTreeMap<String, f64> = BTreeMap::new();
        let mut longest: BTreeMap<String, f64> = BTreeMap::new();
        for r in root_blockers(waits) {
            let key = format!("{}\u{0}{}", r.user, r.host);
            let n = waiters.entry(key.clone()).or_default();
            *n = n.max(r.waiters as f64);
            let s = longest.entry(key).or_default();
            *s = s.max(r.longest_wait as f64);
        }
        let limit = ctx.limits.max_label_values;
        out.gauge(
            "mysql_lock_root_blocker_waiters",
            "Sessions waiting, directly or through others, for the worst root blocker (a session that holds locks and waits for none) of this user and client host.",
            &labelled(cap(waiters, limit, Fold::Max)),
        )?;
        out.gauge(
            "mysql_lock_root_blocker_wait_seconds",
            "The longest row-lock wait behind this user and client host's root blockers.",
            &labelled(cap(longest, limit, Fold::Max)),
        )
    }
}

/// `user\0host` keys back into `mysql_user` and `client_host` labels (`other` for both when
/// folded by the cap).
fn labelled(values: Vec<(String, f64)>) -> Vec<(Labels, f64)> {
    values
        .into_iter()
        .map(|(key, v)| {
            let (user, host) = if key == OTHER {
                (OTHER.to_string(), OTHER.to_string())
            } else {
                let (u, h) = key.split_once('\u{0}').unwrap_or((&key, ""));
                (u.to_string(), h.to_string())
            };
            (vec![("mysql_user", user), ("client_host", host)], v)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::om;
    use crate::collect::testing::{encode_with, recorded};
    use crate::snapshot::{LockWait, Outcome};

    fn w(waiting: u64, blocking: u64, secs: u64, user: &str) -> LockWait {
        LockWait {
            waiting,
            blocking,
            wait_seconds: secs,
            blocking_user: user.into(),
            blocking_host: "10.0.0.7:5123".into(),
        }
    }

    #[test]
    fn the_root_blocker_is_named_not_the_queue() {
        let mut snap = recorded();
        // kefu's session 1 holds the row; 2, 3, 4 queue (each listed as blocking the next).
        snap.lock_waits = Outcome::Ok(vec![
            w(2, 1, 25, "kefu"),
            w(3, 1, 20, "kefu"),
            w(3, 2, 20, "kefu"),
            w(4, 1, 12, "kefu"),
            w(4, 3, 12, "kefu"),
            w(9, 8, 3, "report"),
        ]);
        let s = om::parse(&encode_with(&Locks, &snap, 50));
        let get = |name: &str, user: &str| {
            om::get(
                &s,
                name,
                &[("mysql_user", user), ("client_host", "10.0.0.7")],
            )
        };
        assert_eq!(om::get(&s, "mysql_lock_waiting_sessions", &[]), Some(4.0));
        assert_eq!(get("mysql_lock_root_blocker_waiters", "kefu"), Some(3.0));
        assert_eq!(
            get("mysql_lock_root_blocker_wait_seconds", "kefu"),
            Some(25.0)
        );
        assert_eq!(get("mysql_lock_root_blocker_waiters", "report"), Some(1.0));
        // Capped to one user/host: the worst stays, the rest folds into other.
        let s = om::parse(&encode_with(&Locks, &snap, 1));
        assert_eq!(
            om::get(
                &s,
                "mysql_lock_root_blocker_waiters",
                &[("mysql_user", "other"), ("client_host", "other")]
            ),
            Some(1.0)
        );
    }

    #[test]
    fn no_waits_is_zero_waiting_and_no_blockers() {
        let mut snap = recorded();
        snap.lock_waits = Outcome::Ok(Vec::new());
        let text = encode_with(&Locks, &snap, 50);
        let s = om::parse(&text);
        assert_eq!(om::get(&s, "mysql_lock_waiting_sessions", &[]), Some(0.0));
        assert!(!text.contains("mysql_lock_root_blocker_waiters{"), "{text}");
    }
}
