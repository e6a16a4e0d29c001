//! Row types of the sources, and how raw values read.

/// Upper bounds (seconds) of the session-age buckets, `+Inf` implied. Public interface:
/// alerts subtract the `le="30"` bucket, so change only with a changelog entry.
pub const AGE_BUCKETS: [u64; 10] = [1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

/// One group of the `Threads` source: the sessions that share user, host, db, command,
/// state and InnoDB transaction state, with the distribution of their ages.
///
/// Two ages are carried because which one matters depends on the session's class, and the
/// class is decided in Rust (`analysis::sessions`), not in SQL: `TIME` (seconds in the
/// current command: query age, or idle time for `Sleep`) and the age of the open InnoDB
/// transaction.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ThreadGroup {
    /// `USER`; empty when the server gives NULL.
    pub user: String,
    /// `HOST` with the client port stripped by the query (`10.0.0.5`, `::1`, `localhost`).
    pub host: String,
    pub db: Option<String>,
    /// `COMMAND`, e.g. `Sleep`, `Query`, `Daemon`; empty when NULL.
    pub command: String,
    /// `STATE`, e.g. `Sending data`, `User sleep`; empty when NULL.
    pub state: String,
    /// `INNODB_TRX.trx_state` (`RUNNING`, `LOCK WAIT`, ...); `None`: no InnoDB transaction.
    pub trx_state: Option<String>,
    /// The connect attributes of the [`Plan`](super::Plan) that the sessions sent, by name.
    pub attributes: Vec<(String, String)>,
    pub count: u64,
    /// `TIME` summed over the group, and its maximum.
    pub time_sum: u64,
    pub time_max: u64,
    /// `time_le[i]`: sessions with `TIME <= AGE_BUCKETS[i]`.
    pub time_le: [u64; AGE_BUCKETS.len()],
    /// Transaction age (now − `trx_started`), summed, maximum, and bucketed like `time_le`.
    pub trx_age_sum: u64,
    pub trx_age_max: u64,
    pub trx_age_le: [u64; AGE_BUCKETS.len()],
}

impl ThreadGroup {
    /// `count` sessions that all have the same `time` and transaction age (for tests and
    /// for building groups from per-session rows). One argument per column of the row.
    #[allow(clippy::too_many_arguments)]
    pub fn uniform(
        user: &str,
        host: &str,
        db: Option<&str>,
        command: &str,
        state: &str,
        trx: Option<(&str, u64)>,
        count: u64,
        time: u64,
    ) -> Self {
        let le = |age: u64| AGE_BUCKETS.map(|b| if age <= b { count } else { 0 });
        let (trx_state, trx_age) = match trx {
            Some((s, age)) => (Some(s.to_string()), Some(age)),
            None => (None, None),
        };
        ThreadGroup {
            user: user.into(),
            host: host.into(),
            db: db.map(Into::into),
            command: command.into(),
            state: state.into(),
            trx_state,
            attributes: Vec::new(),
            count,
            time_sum: time.saturating_mul(count),
            time_max: time,
            time_le: le(time),
            trx_age_sum: trx_age.map_or(0, |a| a.saturating_mul(count)),
            trx_age_max: trx_age.unwrap_or(0),
            trx_age_le: trx_age.map_or([0; AGE_BUCKETS.len()], le),
        }
    }
}

/// The index of the first bucket `age` fits in (`AGE_BUCKETS.len()` for +Inf).
fn bucket(age: u64) -> usize {
    AGE_BUCKETS
        .iter()
        .position(|b| age <= *b)
        .unwrap_or(AGE_BUCKETS.len())
}

impl ThreadGroup {
    /// Counts one more session of this group.
    pub fn add(&mut self, time: u64, trx_age: Option<u64>) {
        self.count += 1;
        self.time_sum += time;
        self.time_max = self.time_max.max(time);
        for le in &mut self.time_le[bucket(time)..] {
            *le += 1;
        }
        if let Some(age) = trx_age {
            self.trx_age_sum += age;
            self.trx_age_max = self.trx_age_max.max(age);
            for le in &mut self.trx_age_le[bucket(age)..] {
                *le += 1;
            }
        }
    }
}

/// The connections one account opened since the server started (or since its row was
/// reset): a counter, read as the server keeps it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AccountConnections {
    pub user: String,
    /// The client host; `None` where the server counts per user only (USER_STATISTICS).
    pub host: Option<String>,
    /// Connections opened, the current ones included.
    pub total: u64,
    /// Connections open now.
    pub current: u64,
    /// Logins the server refused this account (MariaDB's USER_STATISTICS only).
    pub denied: Option<u64>,
}

/// One session in detail, for `check`, `kill-idle` and the status page (never for metrics:
/// its size grows with the number of sessions).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SessionRow {
    pub id: u64,
    pub user: String,
    /// `HOST` as the server shows it, port included.
    pub host: String,
    pub db: Option<String>,
    pub command: String,
    /// Seconds in the current command (query age, or idle time for `Sleep`).
    pub time: u64,
    pub state: String,
    /// The running statement, truncated; for a sleeping session the last statement when
    /// `performance_schema` has it.
    pub info: Option<String>,
    pub trx_state: Option<String>,
    pub trx_age: Option<u64>,
    /// When the transaction started, server time, `YYYY-MM-DD hh:mm:ss`.
    pub trx_started: Option<String>,
    pub trx_rows_locked: u64,
    /// performance_schema's `THREAD_ID` of the session, when [`Plan::thread_ids`](super::Plan::thread_ids) asked for
    /// it and the server lists it: never shared by two sessions of one server run, so it
    /// tells a session from a later one that got its id.
    pub thread_id: Option<u64>,
    /// The connect attributes of the [`Plan`](super::Plan) that the session sent.
    pub attributes: Vec<(String, String)>,
}

#[cfg(test)]
impl SessionRow {
    /// A session of `kefu@10.0.0.7:4000` on db `kefu`, with (state, age) of its
    /// transaction if it has one: the recorded row the analysis tests start from.
    pub fn recorded(id: u64, command: &str, time: u64, trx: Option<(&str, u64)>) -> SessionRow {
        SessionRow {
            id,
            user: "kefu".into(),
            host: "10.0.0.7:4000".into(),
            db: Some("kefu".into()),
            command: command.into(),
            time,
            trx_state: trx.map(|(s, _)| s.into()),
            trx_age: trx.map(|(_, a)| a),
            ..SessionRow::default()
        }
    }
}

/// One edge of a lock-wait graph: session `waiting` waits for a row lock session `blocking`
/// holds (or has queued ahead of it: InnoDB lists queued requests as blocking each other).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct LockWait {
    pub waiting: u64,
    pub blocking: u64,
    /// How long `waiting` has waited (`INNODB_TRX.trx_wait_started`).
    pub wait_seconds: u64,
    /// Who `blocking` is: `USER` and `HOST` (port included) of its session.
    pub blocking_user: String,
    pub blocking_host: String,
}

/// Sessions per client process: `performance_schema.session_connect_attrs` joined with the
/// processlist, grouped by user, host (port stripped), db and `_pid`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClientProcessGroup {
    pub user: String,
    pub host: String,
    pub db: Option<String>,
    /// The client's `_pid` attribute (PyMySQL, mysql-connector, libmysqlclient send it).
    pub pid: Option<String>,
    /// The connect attributes of the [`Plan`](super::Plan), for matching pools.
    pub attributes: Vec<(String, String)>,
    pub count: u64,
    /// Of those, idle with no transaction: connections parked in the process's pool, open
    /// but free (unless the pool's app keeps idle ones checked out).
    pub parked: u64,
}

/// One row of `information_schema.INNODB_METRICS` (an enabled counter).
#[derive(Clone, Debug, PartialEq)]
pub struct InnodbMetric {
    /// e.g. `trx_rseg_history_len`.
    pub name: String,
    /// e.g. `transaction`.
    pub subsystem: String,
    /// InnoDB's `TYPE` (`value`, `counter`, `status_counter`, ...): as mysqld_exporter reads
    /// it, `counter` and `status_counter` are counters, the rest gauges.
    pub kind: String,
    pub comment: String,
    pub value: f64,
}

/// `HOST` without the client port: TCP clients show `host:port` (IPv6 unbracketed,
/// `::1:40512`); sockets show `localhost` alone.
pub fn strip_port(raw: &str) -> &str {
    match raw.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => raw,
    }
}

/// Reads a `SHOW GLOBAL STATUS`/`VARIABLES` value as mysqld_exporter does: numbers,
/// `ON`/`OFF`/`YES`/`NO`, and Galera's `Primary`; anything else is not a metric.
pub fn parse_status_value(raw: &str) -> Option<f64> {
    // Numbers first: nearly every value is one (no lowercase copy of each of ~1 000 values
    // a scrape).
    if let Ok(v) = raw.trim().parse::<f64>() {
        return v.is_finite().then_some(v);
    }
    let is = |words: &[&str]| words.iter().any(|w| raw.eq_ignore_ascii_case(w));
    if is(&["yes", "on", "primary"]) {
        Some(1.0)
    } else if is(&[
        "no",
        "off",
        "disabled",
        "non-primary",
        "disconnected",
        "connecting",
    ]) {
        Some(0.0)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_values_read_like_mysqld_exporter() {
        assert_eq!(parse_status_value("151"), Some(151.0));
        assert_eq!(parse_status_value("0.5"), Some(0.5));
        assert_eq!(parse_status_value("ON"), Some(1.0));
        assert_eq!(parse_status_value("OFF"), Some(0.0));
        assert_eq!(parse_status_value("Primary"), Some(1.0));
        assert_eq!(parse_status_value("utf8mb4"), None);
        assert_eq!(parse_status_value(""), None);
        assert_eq!(parse_status_value("nan"), None);
        assert_eq!(parse_status_value("inf"), None);
    }

    #[test]
    fn a_uniform_group_buckets_its_ages() {
        let g = ThreadGroup::uniform("u", "h", None, "Sleep", "", Some(("RUNNING", 45)), 3, 7);
        assert_eq!(g.time_le, [0, 0, 3, 3, 3, 3, 3, 3, 3, 3]);
        assert_eq!(g.trx_age_le, [0, 0, 0, 0, 3, 3, 3, 3, 3, 3]);
        assert_eq!((g.time_sum, g.trx_age_sum, g.trx_age_max), (21, 135, 45));
    }
}
