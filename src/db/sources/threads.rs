//! The session list, read every scrape and folded into groups as it streams in
//! ([`fold`]), with the connect attributes of each session read once per session and kept
//! across scrapes ([`SessionCache`]). The same pass counts the sessions per client process
//! when the plan asks for it, for the ClientProcesses source.

mod fold;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use rustc_hash::{FxBuildHasher, FxHashMap};

use self::fold::{SessionBrief, SessionFold};
use super::attributes::{joined_attributes, literal};
use crate::db::decode::{cell_number, cell_text, lossy, text_cells};
use crate::snapshot::{
    Capabilities, ClientProcessGroup, ConnectAttributes, Plan, ProcesslistTable, ThreadGroup,
};

/// The session list, one row a session and nothing computed per row, columns in
/// `SHOW PROCESSLIST`'s order (Id, User, Host, db, Command, Time, State). MySQL's
/// `performance_schema.processlist` walks the threads without the global mutex; elsewhere
/// `SHOW PROCESSLIST` reads the same thread list as `information_schema.PROCESSLIST`
/// without filling a temporary table: at 4 000 sessions on MariaDB 10.11 it costs the
/// server 3.3 ms against 10.7 ms (docs/benchmarks.md). The exporter's own session is
/// skipped by the reader, not by a WHERE the server would evaluate per row.
pub fn session_list_sql(table: ProcesslistTable) -> &'static str {
    match table {
        ProcesslistTable::InformationSchema => "SHOW PROCESSLIST",
        ProcesslistTable::PerformanceSchema => {
            "SELECT ID, USER, HOST, DB, COMMAND, TIME, STATE FROM performance_schema.processlist"
        }
    }
}

/// The open InnoDB transactions (a few rows: only sessions inside one), joined to the
/// session list by id in the exporter.
pub const TRANSACTIONS_SQL: &str = "SELECT trx_mysql_thread_id, trx_state, \
     GREATEST(COALESCE(TIMESTAMPDIFF(SECOND, trx_started, NOW()), 0), 0) \
     FROM information_schema.INNODB_TRX";

/// The named connect attributes of the sessions `ids`.
pub fn attributes_sql(ids: &[u64], names: &[String]) -> String {
    let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
    let names: Vec<String> = names.iter().map(|n| literal(n)).collect();
    format!(
        "SELECT PROCESSLIST_ID, ATTR_NAME, ATTR_VALUE FROM performance_schema.session_connect_attrs \
         WHERE PROCESSLIST_ID IN ({}) AND ATTR_NAME IN ({})",
        ids.join(", "),
        names.join(", ")
    )
}

/// The connect attributes read for one session.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SessionAttributes {
    /// The plan's attributes (what pools match on), part of a group's key.
    pub grouped: Vec<(String, String)>,
    /// The same and `_pid`, for counting per client process.
    pub all: Vec<(String, String)>,
}

impl SessionAttributes {
    fn pid(&self) -> Option<&str> {
        self.all
            .iter()
            .find(|(k, _)| k == "_pid")
            .map(|(_, v)| v.as_str())
    }
}

/// What one connection keeps about the server's sessions between scrapes: the connect
/// attributes read for each session id (a connection's attributes never change, and the
/// server never reuses an id while it runs), so each session's are read once.
#[derive(Debug, Default)]
pub struct SessionCache {
    /// Session id -> (the pass that last saw it, its attributes).
    attributes: FxHashMap<u64, (u64, Arc<SessionAttributes>)>,
    /// Each distinct set of attributes once: the sessions of one client process (or of
    /// none) share theirs. A copy per session was about 300 bytes, 3 MiB of the exporter's
    /// memory at 10 000 sessions; shared, a session costs its map entry.
    distinct: HashSet<Arc<SessionAttributes>, FxBuildHasher>,
    /// Which pass this is: entries not seen in the latest pass are dropped.
    pass: u64,
}

impl SessionCache {
    /// The highest session id cached: a server run gives ids out in increasing order, so a
    /// connection of ours with an id at or below it comes from another run.
    pub fn highest_id(&self) -> Option<u64> {
        self.attributes.keys().max().copied()
    }

    /// `attributes`, shared with the sessions that sent the same.
    fn shared(&mut self, attributes: SessionAttributes) -> Arc<SessionAttributes> {
        if let Some(known) = self.distinct.get(&attributes) {
            return Arc::clone(known);
        }
        let new = Arc::new(attributes);
        self.distinct.insert(Arc::clone(&new));
        new
    }

    /// Drops the sessions the latest pass did not see, and the attributes no session holds.
    fn forget_gone(&mut self) {
        let pass = self.pass;
        self.attributes.retain(|_, (seen, _)| *seen == pass);
        self.distinct.retain(|a| Arc::strong_count(a) > 1);
    }
}

/// One pass over the session list.
#[derive(Debug)]
pub(super) struct SessionPass {
    pub groups: Vec<ThreadGroup>,
    /// The sessions per client process, when the plan asked for them and the server fills
    /// the connect attributes.
    pub client_processes: Option<Vec<ClientProcessGroup>>,
}

/// How many session ids one attribute query asks for.
const ATTRIBUTE_BATCH: usize = 500;

/// Reads the open transactions, then streams the session list, folding each session with
/// its connect attributes as it comes; sessions not seen before wait until their attributes
/// are read (in batches, once per session), then fold too.
pub(super) async fn read(
    conn: &mut Conn,
    caps: &Capabilities,
    plan: &Plan,
    cache: &mut SessionCache,
) -> Result<SessionPass, mysql_async::Error> {
    let trx = read_transactions(conn).await?;
    let mut names = joined_attributes(caps, plan).to_vec();
    let per_process =
        plan.per_process && matches!(caps.connect_attributes, ConnectAttributes::Available);
    if per_process {
        names.push("_pid".to_string());
    }
    cache.pass += 1;
    let pass = cache.pass;
    let mut folds = SessionFold::new(per_process);
    let mut pending: Vec<SessionBrief<'static>> = Vec::new();
    let own_id = u64::from(conn.id());
    let mut result = conn.query_iter(session_list_sql(caps.processlist)).await?;
    let mut malformed = None;
    // Raw row packets: a Row would allocate a Value per column, for every session, on every
    // scrape and sample (the exporter's largest cost at 10 000 sessions).
    result
        .for_each_raw(|packet| {
            let cells = match text_cells::<SESSION_LIST_COLUMNS>(packet) {
                Ok(cells) => cells,
                Err(why) => {
                    malformed.get_or_insert(why);
                    return;
                }
            };
            let mut s = session_brief(&cells);
            if s.id == own_id {
                return;
            }
            s.trx = trx
                .get(&s.id)
                .map(|(state, age)| (state.as_str().into(), *age));
            if names.is_empty() {
                folds.add(&s, &[], None);
                return;
            }
            match cache.attributes.get_mut(&s.id) {
                Some((seen, attrs)) => {
                    *seen = pass;
                    folds.add(&s, &attrs.grouped, attrs.pid());
                }
                None => pending.push(s.into_owned()),
            }
        })
        .await?;
    drop(result);
    if let Some(why) = malformed {
        let why = format!("the session list sent a malformed row: {why}");
        return Err(mysql_async::Error::Other(why.into()));
    }
    for batch in pending.chunks(ATTRIBUTE_BATCH) {
        let found = read_attributes(conn, batch, &names, plan).await?;
        fold_new_sessions(batch, found, &mut folds, cache);
    }
    cache.forget_gone();
    let (groups, client_processes) = folds.finish();
    Ok(SessionPass {
        groups,
        client_processes: per_process.then_some(client_processes),
    })
}

/// Session id -> (state, age in seconds) of the open InnoDB transactions.
async fn read_transactions(
    conn: &mut Conn,
) -> Result<FxHashMap<u64, (String, u64)>, mysql_async::Error> {
    let trx: Vec<(u64, Option<Vec<u8>>, Option<u64>)> = conn.query(TRANSACTIONS_SQL).await?;
    Ok(trx
        .into_iter()
        .map(|(id, state, age)| (id, (lossy(state), age.unwrap_or(0))))
        .collect())
}

/// The attributes `names` of the sessions of `batch`, those of the plan also kept apart as
/// the ones groups are keyed by.
async fn read_attributes(
    conn: &mut Conn,
    batch: &[SessionBrief<'_>],
    names: &[String],
    plan: &Plan,
) -> Result<HashMap<u64, SessionAttributes>, mysql_async::Error> {
    let ids: Vec<u64> = batch.iter().map(|s| s.id).collect();
    let rows: Vec<(u64, Vec<u8>, Option<Vec<u8>>)> =
        conn.query(attributes_sql(&ids, names)).await?;
    let mut found: HashMap<u64, SessionAttributes> = Default::default();
    for (id, name, value) in rows {
        let name = String::from_utf8_lossy(&name).into_owned();
        let value = lossy(value);
        let a = found.entry(id).or_default();
        if plan.attributes.contains(&name) {
            a.grouped.push((name.clone(), value.clone()));
        }
        a.all.push((name, value));
    }
    Ok(found)
}

/// Folds sessions not seen before with the attributes just read, and remembers those. A
/// session still logging in may show its attributes late: only settled sessions are
/// remembered without any.
fn fold_new_sessions(
    batch: &[SessionBrief<'_>],
    mut found: HashMap<u64, SessionAttributes>,
    folds: &mut SessionFold,
    cache: &mut SessionCache,
) {
    let pass = cache.pass;
    for s in batch {
        let settled = !s.user.is_empty() && !s.command.eq_ignore_ascii_case("Connect");
        match found.remove(&s.id) {
            Some(mut a) => {
                a.grouped.sort();
                a.all.sort();
                folds.add(s, &a.grouped, a.pid());
                let a = cache.shared(a);
                cache.attributes.insert(s.id, (pass, a));
            }
            None => {
                folds.add(s, &[], None);
                if settled {
                    let none = cache.shared(SessionAttributes::default());
                    cache.attributes.insert(s.id, (pass, none));
                }
            }
        }
    }
}

/// The session list's columns: ID, USER, HOST, DB, COMMAND, TIME, STATE (MariaDB's
/// `SHOW PROCESSLIST` sends more after them, unread).
const SESSION_LIST_COLUMNS: usize = 7;

/// One row of the session list, read in place from its packet's cells.
fn session_brief<'r>(cells: &[Option<&'r [u8]>; SESSION_LIST_COLUMNS]) -> SessionBrief<'r> {
    let [id, user, host, db, command, time, state] = *cells;
    SessionBrief {
        id: cell_number(id),
        user: cell_text(user).unwrap_or_default(),
        host: cell_text(host).unwrap_or_default(),
        db: cell_text(db),
        command: cell_text(command).unwrap_or_default(),
        time: cell_number(time),
        state: cell_text(state).unwrap_or_default(),
        trx: None,
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    /// A text-protocol row packet of `cells` (`None`: NULL), as the servers frame them.
    fn packet(cells: &[Option<&[u8]>]) -> Vec<u8> {
        let mut p = Vec::new();
        for c in cells {
            match c {
                None => p.push(0xFB),
                Some(v) => {
                    p.push(u8::try_from(v.len()).unwrap());
                    p.extend_from_slice(v);
                }
            }
        }
        p
    }

    /// Session-list rows as the servers send them: a MariaDB client (Info and Progress
    /// trail), a MySQL 9.7 background thread without user, host or db, and a value that is
    /// not UTF-8; read in place, not copied.
    #[test]
    fn recorded_session_rows_decode() {
        let b = |s: &'static str| Some(s.as_bytes());
        let row = packet(&[
            b("42"),
            b("kefu"),
            b("10.0.0.7:51514"),
            b("kefu"),
            b("Sleep"),
            b("12"),
            b(""),
            None,
            b("0.000"),
        ]);
        let cells = text_cells(&row).unwrap();
        let s = session_brief(&cells);
        assert_eq!(
            (s.id, &*s.user, &*s.host, s.db.as_deref(), s.time),
            (42, "kefu", "10.0.0.7:51514", Some("kefu"), 12)
        );
        assert_eq!((&*s.command, &*s.state), ("Sleep", ""));
        assert!(
            matches!(s.user, Cow::Borrowed(_)),
            "read in place, not copied"
        );
        let row = packet(&[
            b("6"),
            b("system user"),
            None,
            None,
            b("Daemon"),
            b("8"),
            b("Suspending"),
        ]);
        let cells = text_cells(&row).unwrap();
        let daemon = session_brief(&cells);
        assert_eq!((&*daemon.host, daemon.db.as_deref()), ("", None));
        assert_eq!((daemon.time, &*daemon.state), (8, "Suspending"));
        let odd = [b'a', 0xff];
        let row = packet(&[b("7"), Some(&odd), b("h:1"), None, b(""), b("x"), b("")]);
        let cells = text_cells(&row).unwrap();
        let odd = session_brief(&cells);
        assert_eq!((&*odd.user, &*odd.command, odd.time), ("a\u{fffd}", "", 0));
        // Fewer columns than the list has: an error, not a guess.
        assert!(text_cells::<SESSION_LIST_COLUMNS>(&packet(&[b("7"), b("x")])).is_err());
    }

    #[test]
    fn the_session_list_reads_the_detected_table_and_only_the_plans_attributes() {
        let list = session_list_sql(ProcesslistTable::PerformanceSchema);
        assert!(
            list.ends_with("FROM performance_schema.processlist"),
            "{list}"
        );
        assert!(
            list.starts_with("SELECT ID, USER, HOST, DB, COMMAND, TIME, STATE "),
            "{list}"
        );
        assert_eq!(
            session_list_sql(ProcesslistTable::InformationSchema),
            "SHOW PROCESSLIST"
        );
        let attrs = vec!["program_name".to_string(), "_pid".to_string()];
        let sql = attributes_sql(&[3, 4], &attrs);
        assert!(
            sql.ends_with(
                "WHERE PROCESSLIST_ID IN (3, 4) AND ATTR_NAME IN ('program_name', '_pid')"
            ),
            "{sql}"
        );
    }

    /// Sessions of one client process share one copy of their attributes, and a copy no
    /// session holds any more is dropped with the last of them.
    #[test]
    fn sessions_share_their_attributes_and_the_gone_are_forgotten() {
        let attrs = |pid: &str| SessionAttributes {
            grouped: vec![("program_name".into(), "web".into())],
            all: vec![
                ("_pid".into(), pid.into()),
                ("program_name".into(), "web".into()),
            ],
        };
        let brief = |id| SessionBrief {
            id,
            user: "app".into(),
            host: "10.0.0.1:4000".into(),
            command: "Sleep".into(),
            ..SessionBrief::default()
        };
        let mut cache = SessionCache {
            pass: 1,
            ..SessionCache::default()
        };
        let batch: Vec<SessionBrief> = (1..=4).map(brief).collect();
        let found: HashMap<u64, SessionAttributes> =
            [(1, attrs("7")), (2, attrs("7")), (3, attrs("8"))]
                .into_iter()
                .collect();
        let mut folds = SessionFold::new(true);
        fold_new_sessions(&batch, found, &mut folds, &mut cache);
        // Session 4 sent none: it is remembered with the empty set, shared too.
        assert_eq!(cache.attributes.len(), 4);
        assert_eq!(cache.distinct.len(), 3);
        assert!(Arc::ptr_eq(
            &cache.attributes[&1].1,
            &cache.attributes[&2].1
        ));
        // The next pass sees sessions 1 and 4 only.
        cache.pass = 2;
        for id in [1, 4] {
            cache.attributes.get_mut(&id).unwrap().0 = 2;
        }
        cache.forget_gone();
        assert_eq!(cache.attributes.len(), 2);
        assert_eq!(
            cache.distinct.len(),
            2,
            "pid 8's attributes went with session 3"
        );
        let (_, processes) = folds.finish();
        assert_eq!(processes.len(), 3, "{processes:?}");
    }
}
