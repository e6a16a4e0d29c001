//! Which metadata lock waits for which: the compatibility rules of the server's MDL
//! subsystem (`sql/mdl.cc`), so that a pending request is tied to the holders that really
//! block it — not, as `sys.schema_table_lock_waits` does, to every holder on the table.

use super::LockKind;

/// Table-like objects (tables, routines, user locks) use the full set of lock types;
/// scoped objects (GLOBAL, SCHEMA, COMMIT, BACKUP LOCK, TABLESPACE) only IX, S and X.
fn scoped(object_type: &str) -> bool {
    matches!(
        object_type,
        "GLOBAL" | "SCHEMA" | "COMMIT" | "BACKUP LOCK" | "TABLESPACE" | "BACKUP TABLES"
    )
}

/// Whether a request of `requested` on an object of `object_type` must wait for a granted
/// lock of type `held` (MySQL's names, without MariaDB's `MDL_` prefix). Unknown types
/// conflict: better a possible edge than a missed one.
pub fn conflicts(object_type: &str, requested: &str, held: &str) -> bool {
    if scoped(object_type) {
        // Intention locks go together, and so do shared ones; nothing else does.
        let alike = requested == held && matches!(requested, "INTENTION_EXCLUSIVE" | "SHARED");
        return !alike;
    }
    // Granted types each request must wait for (mdl.cc, m_granted_incompatible).
    let blocked_by: &[&str] = match requested {
        "SHARED" | "SHARED_HIGH_PRIO" => &["EXCLUSIVE"],
        "SHARED_READ" => &["SHARED_NO_READ_WRITE", "EXCLUSIVE"],
        "SHARED_WRITE" | "SHARED_WRITE_LOW_PRIO" => &[
            "SHARED_READ_ONLY",
            "SHARED_NO_WRITE",
            "SHARED_NO_READ_WRITE",
            "EXCLUSIVE",
        ],
        "SHARED_UPGRADABLE" => &[
            "SHARED_UPGRADABLE",
            "SHARED_NO_WRITE",
            "SHARED_NO_READ_WRITE",
            "EXCLUSIVE",
        ],
        "SHARED_READ_ONLY" => &[
            "SHARED_WRITE",
            "SHARED_WRITE_LOW_PRIO",
            "SHARED_NO_READ_WRITE",
            "EXCLUSIVE",
        ],
        "SHARED_NO_WRITE" => &[
            "SHARED_WRITE",
            "SHARED_WRITE_LOW_PRIO",
            "SHARED_UPGRADABLE",
            "SHARED_NO_WRITE",
            "SHARED_NO_READ_WRITE",
            "EXCLUSIVE",
        ],
        "SHARED_NO_READ_WRITE" => &[
            "SHARED_READ",
            "SHARED_WRITE",
            "SHARED_WRITE_LOW_PRIO",
            "SHARED_UPGRADABLE",
            "SHARED_READ_ONLY",
            "SHARED_NO_WRITE",
            "SHARED_NO_READ_WRITE",
            "EXCLUSIVE",
        ],
        _ => return true,
    };
    blocked_by.contains(&held)
}

/// Whether a pending request of `pending` makes later requests on the same object queue
/// behind it (the server serves a waiting exclusive request before new shared ones, which is
/// why one ALTER stops every query on its table).
pub fn queues_others(object_type: &str, pending: &str) -> bool {
    if scoped(object_type) {
        pending != "INTENTION_EXCLUSIVE"
    } else {
        matches!(
            pending,
            "EXCLUSIVE" | "SHARED_NO_WRITE" | "SHARED_NO_READ_WRITE"
        )
    }
}

/// The kind of lock an object's metadata lock is, as the verdict names it.
pub fn kind_of(object_type: &str) -> LockKind {
    match object_type {
        "GLOBAL" | "COMMIT" => LockKind::GlobalRead,
        "BACKUP LOCK" | "BACKUP TABLES" => LockKind::Backup,
        "USER LEVEL LOCK" => LockKind::User,
        _ => LockKind::Metadata,
    }
}

/// Whether a granted lock is what a global-read or backup waiter waits for: FTWRL's shared
/// global and commit locks, MySQL's `LOCK INSTANCE FOR BACKUP`, MariaDB's backup stages and
/// FTWRL (the intention locks every statement takes are not).
pub fn holds_global(object_type: &str, lock_type: &str) -> bool {
    match object_type {
        "GLOBAL" | "COMMIT" => lock_type == "SHARED",
        "BACKUP LOCK" => {
            lock_type == "SHARED"
                || lock_type.starts_with("BACKUP_FTWRL")
                || lock_type.starts_with("BACKUP_WAIT")
                || matches!(
                    lock_type,
                    "BACKUP_START" | "BACKUP_FLUSH" | "BACKUP_BLOCK_DDL" | "BACKUP_COMMIT"
                )
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cascade of an ALTER behind an idle transaction: the ALTER's exclusive request
    /// waits for the transaction's shared read; new reads and writes do not conflict with
    /// anything granted, they queue behind the pending exclusive request.
    #[test]
    fn the_alter_cascade() {
        assert!(conflicts("TABLE", "EXCLUSIVE", "SHARED_READ"));
        assert!(!conflicts("TABLE", "SHARED_READ", "SHARED_READ"));
        assert!(!conflicts("TABLE", "SHARED_READ", "SHARED_UPGRADABLE"));
        assert!(!conflicts("TABLE", "SHARED_WRITE", "SHARED_UPGRADABLE"));
        assert!(queues_others("TABLE", "EXCLUSIVE"));
        assert!(!queues_others("TABLE", "SHARED_READ"));
    }

    #[test]
    fn scoped_locks_and_user_locks() {
        // FTWRL holds GLOBAL SHARED; a writer asks for INTENTION_EXCLUSIVE.
        assert!(conflicts("GLOBAL", "INTENTION_EXCLUSIVE", "SHARED"));
        assert!(!conflicts(
            "GLOBAL",
            "INTENTION_EXCLUSIVE",
            "INTENTION_EXCLUSIVE"
        ));
        assert!(conflicts("USER LEVEL LOCK", "EXCLUSIVE", "EXCLUSIVE"));
        assert!(
            conflicts("TABLE", "SOMETHING_NEW", "SHARED_READ"),
            "unknown: conflict"
        );
        assert_eq!(kind_of("GLOBAL"), LockKind::GlobalRead);
        assert_eq!(kind_of("USER LEVEL LOCK"), LockKind::User);
        assert!(holds_global("BACKUP LOCK", "BACKUP_FTWRL2"));
        assert!(!holds_global("BACKUP LOCK", "BACKUP_ALTER_COPY"));
        assert!(!holds_global("GLOBAL", "INTENTION_EXCLUSIVE"));
    }
}
