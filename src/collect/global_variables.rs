//! `SHOW GLOBAL VARIABLES` as mysqld_exporter's `global_variables`, with `mysql_version_info`.

use std::fmt;

use super::global_status::numeric_rows;
use super::Families;
use super::{Collector, EncodeContext};
use crate::snapshot::{Snapshot, Source};

#[derive(Debug)]
pub struct GlobalVariables;

impl Collector for GlobalVariables {
    fn name(&self) -> &'static str {
        "global_variables"
    }
    fn help(&self) -> &'static str {
        "SHOW GLOBAL VARIABLES (max_connections, max_user_connections, wait_timeout, ...)"
    }
    fn sources(&self) -> &'static [Source] {
        &[Source::GlobalVariables]
    }

    fn encode(&self, snap: &Snapshot, _: &EncodeContext, out: &mut Families) -> fmt::Result {
        let Some(rows) = snap.global_variables.ok() else {
            return Ok(());
        };
        for (key, value) in numeric_rows(rows) {
            out.gauge(
                &format!("mysql_global_variables_{key}"),
                "Generic gauge metric from SHOW GLOBAL VARIABLES.",
                &[(Vec::new(), value)],
            )?;
        }
        let text = |k: &str| snap.variable(k).unwrap_or_default().to_string();
        out.gauge(
            "mysql_version_info",
            "MySQL version and distribution.",
            &[(
                vec![
                    ("innodb_version", text("innodb_version")),
                    ("version", text("version")),
                    ("version_comment", text("version_comment")),
                ],
                1.0,
            )],
        )?;
        // MySQL 8 and MariaDB 11.1+ call it transaction_isolation, MariaDB 10.x tx_isolation.
        let level = snap
            .variable("transaction_isolation")
            .filter(|v| !v.is_empty())
            .or_else(|| snap.variable("tx_isolation"))
            .filter(|v| !v.is_empty());
        let isolation: Vec<_> = level
            .map(|l| (vec![("level", l.to_string())], 1.0))
            .into_iter()
            .collect();
        out.gauge(
            "mysql_transaction_isolation",
            "MySQL transaction isolation.",
            &isolation,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::om;
    use crate::collect::testing::{encode, recorded};
    use crate::snapshot::Outcome;

    #[test]
    fn variables_and_version_info() {
        let mut snap = recorded();
        snap.global_variables = Outcome::Ok(
            [
                ("max_connections", "151"),
                ("max_user_connections", "0"),
                ("wait_timeout", "28800"),
                ("version", "10.11.6-MariaDB-0+deb12u1"),
                ("version_comment", "Debian 12"),
                ("innodb_version", "10.11.6"),
                ("read_only", "OFF"),
                ("character_set_server", "utf8mb4"),
                ("tx_isolation", "REPEATABLE-READ"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .to_vec(),
        );
        let s = om::parse(&encode(&GlobalVariables, &snap));
        assert_eq!(
            om::get(&s, "mysql_global_variables_max_connections", &[]),
            Some(151.0)
        );
        assert_eq!(
            om::get(&s, "mysql_global_variables_max_user_connections", &[]),
            Some(0.0)
        );
        assert_eq!(
            om::get(&s, "mysql_global_variables_read_only", &[]),
            Some(0.0)
        );
        assert_eq!(
            om::get(&s, "mysql_global_variables_character_set_server", &[]),
            None
        );
        assert_eq!(
            om::get(
                &s,
                "mysql_version_info",
                &[
                    ("innodb_version", "10.11.6"),
                    ("version", "10.11.6-MariaDB-0+deb12u1"),
                    ("version_comment", "Debian 12")
                ]
            ),
            Some(1.0)
        );
        assert_eq!(
            om::get(
                &s,
                "mysql_transaction_isolation",
                &[("level", "REPEATABLE-READ")]
            ),
            Some(1.0)
        );
    }
}
