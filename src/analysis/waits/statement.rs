//! What a statement's text says about the lock it waits for: the table it names, the user
//! lock it asks for, and its verb. Only used where no lock table says it exactly; a text
//! that cannot be read gives `None`, never a guess.

/// The first table a statement names (after `FROM`, `JOIN`, `INTO`, `UPDATE`, `TABLE`,
/// `TABLES` or `ON` of `CREATE INDEX`), as `schema.table` (lower case, backticks removed),
/// qualified with the session's `db` when the text does not say the schema.
pub fn table_of(info: &str, db: Option<&str>) -> Option<String> {
    let words = words(info);
    let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    let after = ["FROM", "JOIN", "INTO", "UPDATE", "TABLE", "TABLES"];
    let create_index =
        upper.first().is_some_and(|w| w == "CREATE") && upper.iter().take(4).any(|w| w == "INDEX");
    let at = upper.iter().enumerate().find_map(|(i, w)| {
        let starts = after.contains(&w.as_str()) || (create_index && w == "ON");
        // `UPDATE` only as the statement's verb (`ON DUPLICATE KEY UPDATE` names no table).
        let misplaced = w == "UPDATE" && i != 0 && upper[i - 1] != "LOW_PRIORITY";
        (starts && !misplaced).then_some(i + 1)
    })?;
    let mut name = words.get(at)?.as_str();
    // `ALTER TABLE IF EXISTS t`, `DROP TABLE IF EXISTS t`, `INSERT IGNORE INTO`.
    let mut next = at;
    while matches!(
        name.to_ascii_uppercase().as_str(),
        "IF" | "EXISTS" | "NOT" | "ONLY"
    ) {
        next += 1;
        name = words.get(next)?.as_str();
    }
    let name = name
        .trim_end_matches([',', ';', '('])
        .replace('`', "")
        .to_ascii_lowercase();
    const NOT_NAMES: [&str; 8] = [
        "with", "read", "write", "select", "set", "values", "for", "where",
    ];
    if name.is_empty()
        || NOT_NAMES.contains(&name.as_str())
        || !name
            .chars()
            .all(|c| c.is_alphanumeric() || "_.$#".contains(c))
    {
        return None;
    }
    Some(match (name.contains('.'), db) {
        (true, _) => name,
        (false, Some(db)) => format!("{}.{name}", db.to_ascii_lowercase()),
        (false, None) => name,
    })
}

/// The name a `GET_LOCK('name', …)` asks for.
pub fn user_lock_of(info: &str) -> Option<String> {
    let upper = info.to_ascii_uppercase();
    let at = upper.find("GET_LOCK")?;
    let rest = info[at + "GET_LOCK".len()..]
        .trim_start()
        .strip_prefix('(')?;
    let rest = rest.trim_start();
    let quote = rest.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let body = &rest[1..];
    Some(body[..body.find(quote)?].to_string())
}

/// What the statement does, for a verdict: `ALTER TABLE`, `FLUSH TABLES WITH READ LOCK`,
/// `LOCK TABLES`, or its first word.
pub fn verb(info: &str) -> String {
    let upper: Vec<String> = words(info).iter().map(|w| w.to_ascii_uppercase()).collect();
    let first = |n: usize| upper.iter().take(n).cloned().collect::<Vec<_>>().join(" ");
    match upper.first().map(String::as_str) {
        Some("FLUSH") if upper.iter().any(|w| w == "READ") => "FLUSH TABLES WITH READ LOCK".into(),
        Some("ALTER" | "DROP" | "TRUNCATE" | "RENAME" | "OPTIMIZE" | "LOCK" | "BACKUP")
        | Some("CREATE" | "ANALYZE" | "REPAIR") => first(2),
        Some(_) => first(1),
        None => "a statement".into(),
    }
}

/// Whether the statement changes a table's definition or takes table locks itself: what
/// heads a metadata-lock queue (it asks for an exclusive lock the others then queue behind).
pub fn is_ddl(info: &str) -> bool {
    let upper = info.trim_start().to_ascii_uppercase();
    [
        "ALTER ",
        "DROP ",
        "TRUNCATE ",
        "RENAME ",
        "OPTIMIZE ",
        "LOCK TABLE",
        "CREATE INDEX",
        "CREATE UNIQUE",
        "CREATE FULLTEXT",
        "REPAIR ",
        "ANALYZE ",
    ]
    .iter()
    .any(|p| upper.starts_with(p))
}

/// Whether the statement takes the global read lock or a backup lock.
pub fn takes_global_lock(info: &str) -> bool {
    let upper: Vec<String> = words(info).iter().map(|w| w.to_ascii_uppercase()).collect();
    let has = |w: &str| upper.iter().any(|x| x == w);
    match upper.first().map(String::as_str) {
        Some("FLUSH") => has("READ") && has("LOCK"),
        Some("BACKUP") => has("STAGE") || has("LOCK"),
        Some("LOCK") => has("INSTANCE") && has("BACKUP"),
        _ => false,
    }
}

/// Whether `info` names the table `object` (`schema.table`): by its full or bare name.
pub fn mentions(info: &str, object: &str) -> bool {
    let table = object.rsplit('.').next().unwrap_or(object);
    let text = info.replace('`', "").to_ascii_lowercase();
    text.split(|c: char| !(c.is_alphanumeric() || "_.$#".contains(c)))
        .any(|w| w == object || w == table || w.ends_with(&format!(".{table}")))
}

fn words(info: &str) -> Vec<String> {
    // Comments first: `/* app */ SELECT …` is common (ORMs tag their statements).
    let mut text = String::with_capacity(info.len());
    let mut rest = info;
    while let Some(at) = rest.find("/*") {
        text.push_str(&rest[..at]);
        match rest[at..].find("*/") {
            Some(end) => rest = &rest[at + end + 2..],
            None => {
                rest = "";
                break;
            }
        }
        text.push(' ');
    }
    text.push_str(rest);
    text.split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_read_from_the_usual_statements() {
        let db = Some("AppDB");
        for (sql, want) in [
            ("SELECT * FROM t WHERE id = 1", "appdb.t"),
            (
                "select a from `shop`.`orders` o join items i on 1",
                "shop.orders",
            ),
            ("/* kefu */ UPDATE visitors SET seen = 1", "appdb.visitors"),
            (
                "INSERT INTO t (a) VALUES (1) ON DUPLICATE KEY UPDATE a = 2",
                "appdb.t",
            ),
            ("INSERT IGNORE INTO t VALUES (1)", "appdb.t"),
            ("ALTER TABLE t ADD COLUMN w INT", "appdb.t"),
            ("ALTER TABLE IF EXISTS x.t ENGINE=InnoDB", "x.t"),
            ("DELETE FROM t", "appdb.t"),
            ("LOCK TABLES t WRITE", "appdb.t"),
            ("CREATE INDEX i ON t (a)", "appdb.t"),
            ("TRUNCATE TABLE t", "appdb.t"),
        ] {
            assert_eq!(table_of(sql, db).as_deref(), Some(want), "{sql}");
        }
        assert_eq!(table_of("SELECT 1", db), None);
        assert_eq!(table_of("SELECT * FROM t", None).as_deref(), Some("t"));
        assert_eq!(table_of("FLUSH TABLES WITH READ LOCK", db), None);
    }

    #[test]
    fn user_locks_verbs_and_kinds() {
        assert_eq!(
            user_lock_of("SELECT GET_LOCK('gl', 40)").as_deref(),
            Some("gl")
        );
        assert_eq!(
            user_lock_of("select get_lock( \"a b\" ,1)").as_deref(),
            Some("a b")
        );
        assert_eq!(user_lock_of("SELECT RELEASE_LOCK('gl')"), None);
        assert_eq!(verb("alter table t add column w int"), "ALTER TABLE");
        assert_eq!(
            verb("FLUSH TABLES WITH READ LOCK"),
            "FLUSH TABLES WITH READ LOCK"
        );
        assert_eq!(verb("SELECT * FROM t"), "SELECT");
        assert!(is_ddl("  alter table t engine=innodb"));
        assert!(!is_ddl("SELECT * FROM t"));
        assert!(takes_global_lock("FLUSH TABLES WITH READ LOCK"));
        assert!(takes_global_lock("BACKUP STAGE BLOCK_COMMIT"));
        assert!(!takes_global_lock("FLUSH TABLES t"));
        assert!(mentions(
            "SELECT COUNT(*), SLEEP(30) FROM appdb.t",
            "appdb.t"
        ));
        assert!(mentions("select * from `t` where 1", "appdb.t"));
        assert!(!mentions("select * from tt", "appdb.t"));
    }
}
