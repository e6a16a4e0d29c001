//! One file per source, as mysqld_exporter keeps one file per collector: each holds its SQL
//! beside the decoding of its rows, so a query and what reads its columns change together.
//! This file only dispatches (the match is exhaustive: a new [`Source`] does not compile
//! until it has a reader) and sorts query errors into what the scrape should do about them.

mod account_connections;
mod account_limits;
mod attributes;
mod client_processes;
mod innodb_metrics;
mod lock_sessions;
mod lock_waits;
mod metadata_locks;
mod sessions;
mod status_variables;
mod threads;

use mysql_async::Conn;

pub use sessions::{fetch_session, sessions_sql};
pub use threads::{attributes_sql, session_list_sql, SessionCache, TRANSACTIONS_SQL};

pub(super) use metadata_locks::detect as detect_metadata_locks;

use crate::snapshot::{
    AccountTable, ClientProcessGroup, MetadataLockTable, Outcome, Plan, Snapshot, Source,
};

/// A query error, sorted by what the scrape should do about it.
#[derive(Debug)]
pub enum SourceError {
    /// The server lacks the table or the exporter lacks the privilege: skip, say it once.
    Unavailable(String),
    /// Anything else: this scrape's data of the source is lost; the connection may be broken.
    Failed(mysql_async::Error),
}

/// Server error codes that mean "this source does not exist for us", not "broken".
pub(super) const UNAVAILABLE_CODES: [u16; 5] = [
    1044, // ER_DBACCESS_DENIED_ERROR
    1142, // ER_TABLEACCESS_DENIED_ERROR
    1227, // ER_SPECIFIC_ACCESS_DENIED_ERROR (e.g. PROCESS for INNODB_TRX)
    1109, // ER_UNKNOWN_TABLE
    1146, // ER_NO_SUCH_TABLE
];

fn classify(e: mysql_async::Error, source: Source) -> SourceError {
    match &e {
        mysql_async::Error::Server(s) if UNAVAILABLE_CODES.contains(&s.code) => {
            SourceError::Unavailable(format!(
                "{} (error {}); {}",
                s.message,
                s.code,
                source.needs()
            ))
        }
        _ => SourceError::Failed(e),
    }
}

/// The requested sources in the order they are read, each once: `Source::ALL`'s, whatever
/// order the caller listed them in. In it a source comes after the one whose pass it reuses
/// (ClientProcesses after Threads: the session list is the costliest query of a scrape and
/// the per-process counts are folded in the same pass as the groups), and a test keeps it so.
pub fn read_order(requested: &[Source]) -> Vec<Source> {
    Source::ALL
        .iter()
        .copied()
        .filter(|s| requested.contains(s))
        .collect()
}

/// What a source's read leaves for a later source of the same scrape (see [`read_order`]). One is
/// made per scrape, so nothing read for one scrape is served to the next; a later source
/// whose earlier one was not read this scrape (not asked for, failed, or reused from a
/// previous scrape by its interval) reads for itself.
#[derive(Debug, Default)]
pub struct Handover {
    /// The per-process counts folded in this scrape's Threads pass, when it counted them.
    client_processes: Option<Vec<ClientProcessGroup>>,
}

/// Runs one source's query and stores its rows in the snapshot.
pub async fn fetch(
    conn: &mut Conn,
    source: Source,
    snap: &mut Snapshot,
    plan: &Plan,
    cache: &mut SessionCache,
    handover: &mut Handover,
) -> Result<(), SourceError> {
    let server = snap.server.as_ref();
    let caps = server.map(|s| s.capabilities.clone()).unwrap_or_default();
    let flavor = server.map(|s| s.flavor);
    // The lock sources follow the session list: with nobody waiting (or no session list
    // this scrape) there is nothing to read, and nothing to say about them either.
    let waits = |non_row| lock_sessions::someone_waits(snap, non_row);
    match source {
        Source::MetadataLocks if !waits(true) => {
            snap.metadata_locks = Outcome::Ok(Default::default());
            return Ok(());
        }
        Source::LockSessions if snap.sessions.ok().is_some() || !waits(false) => {
            snap.lock_sessions = Outcome::Ok(Vec::new());
            return Ok(());
        }
        _ => {}
    }
    if !caps.sees_all_sessions && source.reads_sessions() {
        return Err(SourceError::Unavailable(format!(
            "the exporter's account lacks the PROCESS privilege, so the server shows it only \
             its own sessions; {}",
            source.needs()
        )));
    }
    let fail = |e| classify(e, source);
    match source {
        Source::GlobalStatus => {
            let rows = status_variables::read(conn, status_variables::GLOBAL_STATUS).await;
            snap.global_status = Outcome::Ok(rows.map_err(fail)?);
        }
        Source::StatusCounters => {
            let mut rows = Vec::new();
            for sql in status_variables::counters_statements(flavor) {
                rows.extend(status_variables::read(conn, &sql).await.map_err(fail)?);
            }
            snap.status_counters = Outcome::Ok(rows);
        }
        Source::GlobalVariables => {
            let rows = status_variables::read(conn, status_variables::GLOBAL_VARIABLES).await;
            snap.global_variables = Outcome::Ok(rows.map_err(fail)?);
        }
        Source::Threads => {
            let pass = threads::read(conn, &caps, plan, cache)
                .await
                .map_err(fail)?;
            handover.client_processes = pass.client_processes;
            snap.threads = Outcome::Ok(pass.groups);
        }
        Source::ClientProcesses => {
            let folded = handover.client_processes.take();
            let rows = client_processes::read(conn, &caps, plan, cache, folded).await?;
            snap.client_processes = Outcome::Ok(rows);
        }
        Source::Sessions => {
            let rows = sessions::read(conn, &caps, plan).await;
            snap.sessions = Outcome::Ok(rows.map_err(fail)?);
        }
        Source::LockWaits => {
            let rows = lock_waits::read(conn, flavor, caps.processlist).await;
            snap.lock_waits = Outcome::Ok(rows.map_err(fail)?);
        }
        Source::MetadataLocks => {
            if let MetadataLockTable::Unavailable(why) = &caps.metadata_locks {
                return Err(SourceError::Unavailable(why.clone()));
            }
            let rows = metadata_locks::read(conn, &caps.metadata_locks).await;
            snap.metadata_locks = Outcome::Ok(rows.map_err(fail)?);
        }
        Source::LockSessions => {
            let rows = lock_sessions::read(conn, snap, &caps, plan).await;
            snap.lock_sessions = Outcome::Ok(rows.map_err(fail)?);
        }
        Source::AccountLimits => {
            snap.account_limits = Outcome::Ok(account_limits::read(conn).await.map_err(fail)?);
        }
        Source::AccountConnections => {
            if let AccountTable::Unavailable(why) = &caps.accounts {
                return Err(SourceError::Unavailable(why.clone()));
            }
            let rows = account_connections::read(conn, &caps.accounts).await;
            snap.account_connections = Outcome::Ok(rows.map_err(fail)?);
        }
        Source::InnodbMetrics => {
            let rows = innodb_metrics::read(conn, flavor).await;
            snap.innodb_metrics = Outcome::Ok(rows.map_err(fail)?);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which source reuses which one's pass within a scrape: (later, earlier).
    const REUSES: [(Source, Source); 1] = [(Source::ClientProcesses, Source::Threads)];

    #[test]
    fn a_source_is_read_after_the_one_whose_pass_it_reuses() {
        let at = |s: Source| Source::ALL.iter().position(|&a| a == s).unwrap();
        for (later, earlier) in REUSES {
            assert!(
                at(earlier) < at(later),
                "{earlier:?} must come before {later:?}"
            );
        }
        assert_eq!(
            read_order(&[Source::ClientProcesses, Source::Sessions, Source::Threads]),
            [Source::Threads, Source::ClientProcesses, Source::Sessions]
        );
        assert_eq!(
            read_order(&[Source::Threads, Source::Threads]),
            [Source::Threads]
        );
    }
}
