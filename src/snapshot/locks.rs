//! Row types of the lock sources beyond InnoDB's row-lock waits.

/// One metadata lock, granted or requested: `performance_schema.metadata_locks` (MySQL;
/// MariaDB with the MDL instrument on) or MariaDB's `information_schema.METADATA_LOCK_INFO`
/// (granted locks only), in one shape.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetadataLock {
    /// The session (processlist id) that holds or waits for it.
    pub session: u64,
    /// As MySQL names it: `TABLE`, `SCHEMA`, `GLOBAL`, `COMMIT`, `BACKUP LOCK`,
    /// `USER LEVEL LOCK`, `FUNCTION`, … (MariaDB's names are mapped to these).
    pub object_type: String,
    pub schema: Option<String>,
    /// The table, routine or user lock's name.
    pub name: Option<String>,
    /// As MySQL names it, without MariaDB's `MDL_` prefix: `SHARED_READ`, `EXCLUSIVE`,
    /// `INTENTION_EXCLUSIVE`, `BACKUP_FTWRL2`, …
    pub lock_type: String,
    /// Granted (held) or pending (waited for).
    pub granted: bool,
}

/// The metadata locks of one scrape and what the source they came from can tell.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetadataLocks {
    pub rows: Vec<MetadataLock>,
    /// Whether pending requests are listed too (performance_schema). MariaDB's plugin lists
    /// granted locks only: who waits is then read from the processlist state.
    pub lists_waiters: bool,
}
