//! Lock waits of every kind: how many sessions wait, per lock kind, and who is at the root of
//! each chain (the wait-for graph of `analysis::waits`). With InnoDB's default
//! `innodb_lock_wait_timeout` (50 s) row-lock waiters give up, and a migration's
//! `lock_wait_timeout` is a year by default: these series let an alert name the blocker
//! within seconds, before a query-age alert could.

use std::collections::BTreeMap;
use std::fmt;

use super::{Collector, EncodeContext, Families, Labels};
use crate::analysis::cap::{cap, Fold, OTHER};
use crate::analysis::host::strip_port;
use crate::analysis::waits::{chains, of_snapshot, LockKind};
use crate::snapshot::{Snapshot, Source};

#[derive(Debug)]
pub struct Locks;

impl Collector for Locks {
    fn name(&self) -> &'static str {
        "locks"
    }
    fn help(&self) -> &'static str {
        "lock waits of every kind (row, metadata, global read, backup, flush, user) and the root blockers of lock chains, by user, client host and lock"
    }
    fn sources(&self) -> &'static [Source] {
        &[Source::LockWaits]
    }
    /// Read only when the session list shows a session waiting for a lock.
    fn optional_sources(&self) -> &'static [Source] {
        &[Source::MetadataLocks, Source::LockSessions]
    }

    fn encode(&self, snap: &Snapshot, ctx: &EncodeContext, out: &mut Families) -> fmt::Result {
        if snap.lock_waits.ok().is_none() {
            return Ok(());
        }
        let graph = of_snapshot(snap);
        let by_kind = graph.waiting_by_kind();
        let waiting: Vec<(Labels, f64)> = LockKind::ALL
            .iter()
            .map(|k| {
                let n = by_kind.get(k).copied().unwrap_or(0);
                (vec![("lock", k.label().to_string())], n as f64)
            })
            .collect();
        out.gauge(
            "mysql_lock_waiting_sessions",
            "Sessions waiting for a lock now, by the kind of lock.",
            &waiting,
        )?;
        // Per (user, host, lock) of the root blockers: the worst chain, label values capped.
        let who = root_identities(snap);
        let mut waiters: BTreeMap<String, f64> = BTreeMap::new();
        let mut longest: BTreeMap<String, f64> = BTreeMap::new();
        for c in chains(&graph) {
            let (user, host) = who.get(&c.root).cloned().unwrap_or_default();
            let key = format!("{user}\u{0}{host}\u{0}{}", c.kind.label());
            let n = waiters.entry(key.clone()).or_default();
            *n = n.max(c.waiters.len() as f64);
            let s = longest.entry(key).or_default();
            *s = s.max(c.longest_wait as f64);
        }
        let limit = ctx.limits.max_label_values;
        out.gauge(
            "mysql_lock_root_blocker_waiters",
            "Sessions waiting, directly or through others, for the worst root blocker (a session that holds a lock and waits for none) of this user, client host and kind of lock.",
            &labelled(cap(waiters, limit, Fold::Max)),
        )?;
        out.gauge(
            "mysql_lock_root_blocker_wait_seconds",
            "The longest wait behind this user, client host and kind of lock's root blockers.",
            &labelled(cap(longest, limit, Fold::Max)),
        )
    }
}

/// Who each session is (user, host without port): from the detailed sessions where they
/// were read, else from what InnoDB's row-lock waits say of the blocking session.
fn root_identities(snap: &Snapshot) -> BTreeMap<u64, (String, String)> {
    let mut who: BTreeMap<u64, (String, String)> = BTreeMap::new();
    for w in snap.lock_waits.ok().into_iter().flatten() {
        who.insert(
            w.blocking,
            (
                w.blocking_user.clone(),
                strip_port(&w.blocking_host).to_string(),
            ),
        );
    }
    let rows = snap.sessions.ok().or(snap.lock_sessions.ok());
    for s in rows.into_iter().flatten() {
        who.insert(s.id, (s.user.clone(), strip_port(&s.host).to_string()));
    }
    who
}

/// `user\0host\0lock` keys back into `mysql_user`, `client_host` and `lock` labels (`other`
/// for all three when folded by the cap).
fn labelled(values: Vec<(String, f64)>) -> Vec<(Labels, f64)> {
    values
        .into_iter()
        .map(|(key, v)| {
            let mut parts = key.splitn(3, '\u{0}');
            let (user, host, lock) = if key == OTHER {
                (OTHER, OTHER, OTHER)
            } else {
                (
                    parts.next().unwrap_or(""),
                    parts.next().unwrap_or(""),
                    parts.next().unwrap_or(""),
                )
            };
            let labels = vec![
                ("mysql_user", user.to_string()),
                ("client_host", host.to_string()),
                ("lock", lock.to_string()),
            ];
            (labels, v)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::om;
    use crate::collect::testing::{encode_with, recorded};
    use crate::snapshot::{LockWait, Outcome, SessionRow};

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
                &[
                    ("mysql_user", user),
                    ("client_host", "10.0.0.7"),
                    ("lock", "row"),
                ],
            )
        };
        assert_eq!(
            om::get(&s, "mysql_lock_waiting_sessions", &[("lock", "row")]),
            Some(4.0)
        );
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
                &[
                    ("mysql_user", "other"),
                    ("client_host", "other"),
                    ("lock", "other")
                ]
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
        assert_eq!(
            om::get(&s, "mysql_lock_waiting_sessions", &[("lock", "row")]),
            Some(0.0)
        );
        assert_eq!(
            om::get(&s, "mysql_lock_waiting_sessions", &[("lock", "metadata")]),
            Some(0.0)
        );
        assert!(!text.contains("mysql_lock_root_blocker_waiters{"), "{text}");
    }

    /// A migration behind an idle transaction, as a scrape reads it on MariaDB's defaults:
    /// the lock sessions only (no metadata-lock table). The waiters count as metadata-lock
    /// waits and the idle transaction is the root, by its own user and host.
    #[test]
    fn a_metadata_lock_chain_is_counted_by_kind() {
        let mut snap = recorded();
        snap.lock_waits = Outcome::Ok(Vec::new());
        let row =
            |id: u64, user: &str, command: &str, state: &str, info: Option<&str>, trx| SessionRow {
                id,
                user: user.into(),
                host: format!("10.0.0.{id}:555"),
                db: Some("appdb".into()),
                command: command.into(),
                time: 20,
                state: state.into(),
                info: info.map(String::from),
                trx_state: trx,
                trx_age: Some(30),
                ..SessionRow::default()
            };
        let mut sessions = vec![
            row(10, "kefu", "Sleep", "", None, Some("RUNNING".into())),
            row(
                11,
                "migrate",
                "Query",
                "Waiting for table metadata lock",
                Some("ALTER TABLE t ADD x INT"),
                None,
            ),
        ];
        for id in 12..=14 {
            sessions.push(row(
                id,
                "kefu",
                "Query",
                "Waiting for table metadata lock",
                Some("SELECT * FROM t"),
                None,
            ));
        }
        snap.lock_sessions = Outcome::Ok(sessions);
        let s = om::parse(&encode_with(&Locks, &snap, 50));
        assert_eq!(
            om::get(&s, "mysql_lock_waiting_sessions", &[("lock", "metadata")]),
            Some(4.0)
        );
        assert_eq!(
            om::get(&s, "mysql_lock_waiting_sessions", &[("lock", "row")]),
            Some(0.0)
        );
        let root = [
            ("mysql_user", "kefu"),
            ("client_host", "10.0.0.10"),
            ("lock", "metadata"),
        ];
        assert_eq!(
            om::get(&s, "mysql_lock_root_blocker_waiters", &root),
            Some(4.0)
        );
        assert_eq!(
            om::get(&s, "mysql_lock_root_blocker_wait_seconds", &root),
            Some(20.0)
        );
    }
}
