//! Folding the session list into groups as it streams in, in the exporter rather than on
//! the server: the server's `GROUP BY` with per-row expressions cost it more than sending
//! the rows (docs/benchmarks.md). Memory grows with the groups, not with the sessions.

use std::borrow::Cow;
use std::hash::{BuildHasher, Hash};

use hashbrown::hash_table::{Entry, HashTable};
use rustc_hash::FxBuildHasher;

use crate::analysis::{classify, SessionState};
use crate::snapshot::{strip_port, ClientProcessGroup, ThreadGroup};

/// One session of the session list as the Threads source reads it: no statement text, just
/// what the groups are made of. The text borrows from the row it was read from: at
/// thousands of sessions a scrape, copying it was most of the exporter's CPU.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SessionBrief<'a> {
    pub id: u64,
    pub user: Cow<'a, str>,
    /// `HOST` as the server shows it, port included.
    pub host: Cow<'a, str>,
    pub db: Option<Cow<'a, str>>,
    pub command: Cow<'a, str>,
    pub state: Cow<'a, str>,
    pub time: u64,
    /// `INNODB_TRX.trx_state` and the transaction's age, when it has one.
    pub trx: Option<(Cow<'a, str>, u64)>,
}

impl SessionBrief<'_> {
    /// The same session owning its text (kept past the row, e.g. until its attributes are
    /// read).
    pub fn into_owned(self) -> SessionBrief<'static> {
        SessionBrief {
            id: self.id,
            user: Cow::Owned(self.user.into_owned()),
            host: Cow::Owned(self.host.into_owned()),
            db: self.db.map(|d| Cow::Owned(d.into_owned())),
            command: Cow::Owned(self.command.into_owned()),
            state: Cow::Owned(self.state.into_owned()),
            time: self.time,
            trx: self.trx.map(|(t, age)| (Cow::Owned(t.into_owned()), age)),
        }
    }
}

/// What a [`ThreadGroup`] is keyed by, borrowed: (user, host without port, db, command,
/// state, transaction state, attributes).
#[derive(Hash, PartialEq, Eq, PartialOrd, Ord)]
struct GroupKey<'a>(
    &'a str,
    &'a str,
    Option<&'a str>,
    &'a str,
    &'a str,
    Option<&'a str>,
    &'a [(String, String)],
);

fn group_key(g: &ThreadGroup) -> GroupKey<'_> {
    GroupKey(
        &g.user,
        &g.host,
        g.db.as_deref(),
        &g.command,
        &g.state,
        g.trx_state.as_deref(),
        &g.attributes,
    )
}

/// What a [`ClientProcessGroup`] is keyed by, borrowed: (user, host without port, db,
/// `_pid`, attributes).
#[derive(Hash, PartialEq, Eq, PartialOrd, Ord)]
struct ProcessKey<'a>(
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    &'a [(String, String)],
);

fn process_key(p: &ClientProcessGroup) -> ProcessKey<'_> {
    ProcessKey(
        &p.user,
        &p.host,
        p.db.as_deref(),
        p.pid.as_deref(),
        &p.attributes,
    )
}

/// Fx, not SipHash: hashing the key was the fold's largest cost, and a key that collides on
/// purpose only makes its own lookups slower.
fn hash(key: impl Hash) -> u64 {
    FxBuildHasher.hash_one(key)
}

/// Folds sessions as they stream in: one [`ThreadGroup`] per (user, host without port, db,
/// command, state, transaction state, attributes), and, when asked, the sessions per client
/// process.
///
/// The groups are found by a key borrowed from the session row, and stored owning theirs: a
/// session that joins an existing group (nearly all of them) allocates nothing.
#[derive(Debug, Default)]
pub struct SessionFold {
    groups: HashTable<ThreadGroup>,
    processes: HashTable<ClientProcessGroup>,
    per_process: bool,
}

impl SessionFold {
    pub fn new(per_process: bool) -> Self {
        SessionFold {
            per_process,
            ..SessionFold::default()
        }
    }

    /// One session, with the attributes pools match on and its `_pid`, if read.
    pub fn add(&mut self, s: &SessionBrief, attributes: &[(String, String)], pid: Option<&str>) {
        let host = strip_port(&s.host);
        let trx_state = s.trx.as_ref().map(|(state, _)| state.as_ref());
        let key = GroupKey(
            &s.user,
            host,
            s.db.as_deref(),
            &s.command,
            &s.state,
            trx_state,
            attributes,
        );
        let found = self
            .groups
            .entry(hash(&key), |g| group_key(g) == key, |g| hash(group_key(g)));
        let group = match found {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e
                .insert(ThreadGroup {
                    user: s.user.to_string(),
                    host: host.to_string(),
                    db: s.db.as_deref().map(String::from),
                    command: s.command.to_string(),
                    state: s.state.to_string(),
                    trx_state: trx_state.map(String::from),
                    attributes: attributes.to_vec(),
                    ..ThreadGroup::default()
                })
                .into_mut(),
        };
        group.add(s.time, s.trx.as_ref().map(|(_, age)| *age));
        if !self.per_process {
            return;
        }
        let key = ProcessKey(&s.user, host, s.db.as_deref(), pid, attributes);
        let found = self.processes.entry(
            hash(&key),
            |p| process_key(p) == key,
            |p| hash(process_key(p)),
        );
        let process = match found {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e
                .insert(ClientProcessGroup {
                    user: s.user.to_string(),
                    host: host.to_string(),
                    db: s.db.as_deref().map(String::from),
                    pid: pid.map(String::from),
                    attributes: attributes.to_vec(),
                    count: 0,
                    parked: 0,
                })
                .into_mut(),
        };
        process.count += 1;
        if classify(&s.user, &s.command, &s.state, trx_state) == Some(SessionState::Idle) {
            process.parked += 1;
        }
    }

    /// The groups and the per-process counts, each sorted by key (the table's order is its
    /// hashes', and the output must not change from one scrape to the next for nothing).
    pub fn finish(self) -> (Vec<ThreadGroup>, Vec<ClientProcessGroup>) {
        let mut groups: Vec<ThreadGroup> = self.groups.into_iter().collect();
        groups.sort_by(|a, b| group_key(a).cmp(&group_key(b)));
        let mut processes: Vec<ClientProcessGroup> = self.processes.into_iter().collect();
        processes.sort_by(|a, b| process_key(a).cmp(&process_key(b)));
        (groups, processes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brief<'a>(
        id: u64,
        host: &'a str,
        command: &'a str,
        time: u64,
        trx: Option<(&'a str, u64)>,
    ) -> SessionBrief<'a> {
        SessionBrief {
            id,
            user: "kefu".into(),
            host: host.into(),
            db: Some("kefu".into()),
            command: command.into(),
            state: "".into(),
            time,
            trx: trx.map(|(t, a)| (t.into(), a)),
        }
    }

    /// Sessions fold into the groups the server's `GROUP BY` used to return: ports
    /// stripped, ages bucketed, attributes part of the key; and per client process.
    #[test]
    fn sessions_fold_into_groups_and_client_processes() {
        let web: Vec<(String, String)> = vec![("program_name".into(), "web".into())];
        let sessions = [
            (
                brief(1, "10.0.0.7:5000", "Sleep", 3, Some(("RUNNING", 40))),
                "100",
            ),
            (
                brief(2, "10.0.0.7:5001", "Sleep", 7, Some(("RUNNING", 400))),
                "100",
            ),
            (brief(3, "10.0.0.7:5002", "Sleep", 2, None), "101"),
            (brief(4, "10.0.0.8:6000", "Sleep", 9000, None), "100"),
        ];
        let mut fold = SessionFold::new(true);
        for (s, pid) in &sessions {
            fold.add(s, &web, Some(pid));
        }
        let (groups, procs) = fold.finish();
        assert_eq!(groups.len(), 3, "{groups:#?}");
        let trx = groups.iter().find(|g| g.trx_state.is_some()).unwrap();
        assert_eq!(
            (trx.host.as_str(), trx.count, trx.time_sum, trx.time_max),
            ("10.0.0.7", 2, 10, 7)
        );
        assert_eq!(trx.trx_age_le, [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]);
        assert_eq!((trx.trx_age_sum, trx.trx_age_max), (440, 400));
        assert_eq!(trx.attributes, web);
        let far = groups.iter().find(|g| g.host == "10.0.0.8").unwrap();
        assert_eq!(far.time_le, [0; 10], "9000 s is past every bucket");
        let counts: Vec<(&str, Option<&str>, u64)> = procs
            .iter()
            .map(|p| (p.host.as_str(), p.pid.as_deref(), p.count))
            .collect();
        assert_eq!(
            counts,
            [
                ("10.0.0.7", Some("100"), 2),
                ("10.0.0.7", Some("101"), 1),
                ("10.0.0.8", Some("100"), 1)
            ]
        );
        let (_, none) = {
            let mut f = SessionFold::new(false);
            f.add(&sessions[0].0, &[], None);
            f.finish()
        };
        assert!(none.is_empty(), "not asked for per-process counts");
    }
}
