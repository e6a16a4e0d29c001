//! Connections opened per account: an app that connects per request (no pool, or a pool
//! recycled too fast) spends the server's threads without ever holding many sessions at a
//! scrape; its counter shows it, `rate()` of it is the churn.

use std::collections::BTreeMap;
use std::fmt;

use super::{Collector, EncodeContext, Families, Labels};
use crate::analysis::cap::{keep_set, OTHER};
use crate::snapshot::{Snapshot, Source};

#[derive(Debug)]
pub struct Accounts;

impl Collector for Accounts {
    fn name(&self) -> &'static str {
        "accounts"
    }
    fn help(&self) -> &'static str {
        "connections opened per account (performance_schema.accounts or USER_STATISTICS): connection churn"
    }
    fn sources(&self) -> &'static [Source] {
        &[Source::AccountConnections]
    }

    fn encode(&self, snap: &Snapshot, ctx: &EncodeContext, out: &mut Families) -> fmt::Result {
        let Some(rows) = snap.account_connections.ok() else {
            return Ok(());
        };
        // The accounts that opened most keep their own series (the ranking by a total since
        // start changes rarely, so series seldom move into or out of `other`).
        let key = |user: &str, host: &str| format!("{user}\u{0}{host}");
        let weights: BTreeMap<String, f64> = rows
            .iter()
            .map(|r| {
                (
                    key(&r.user, r.host.as_deref().unwrap_or("")),
                    r.total as f64,
                )
            })
            .collect();
        let kept = keep_set(&weights, ctx.limits.max_label_values);
        let mut totals: BTreeMap<(String, String), [f64; 3]> = BTreeMap::new();
        for r in rows {
            let host = r.host.clone().unwrap_or_default();
            let id = if kept.contains(&key(&r.user, &host)) {
                (r.user.clone(), host)
            } else {
                (OTHER.to_string(), OTHER.to_string())
            };
            let e = totals.entry(id).or_default();
            e[0] += r.total as f64;
            e[1] += r.current as f64;
            e[2] += r.denied.unwrap_or(0) as f64;
        }
        let series = |i: usize| -> Vec<(Labels, f64)> {
            totals
                .iter()
                .map(|((user, host), v)| {
                    let labels = vec![("mysql_user", user.clone()), ("client_host", host.clone())];
                    (labels, v[i])
                })
                .collect()
        };
        out.counter(
            "mysql_account_connections",
            "Connections the account opened since the server started (client_host empty where the server counts per user only); rate() is the account's churn.",
            &series(0),
        )?;
        out.gauge(
            "mysql_account_current_connections",
            "Connections the account has open now.",
            &series(1),
        )?;
        if rows.iter().any(|r| r.denied.is_some()) {
            out.counter(
                "mysql_account_denied_connections",
                "Logins the server refused the account (max_user_connections, max_connections, bad password), MariaDB's USER_STATISTICS only.",
                &series(2),
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::om;
    use crate::collect::testing::{encode_with, recorded};
    use crate::snapshot::{AccountConnections, Outcome};

    fn account(user: &str, host: Option<&str>, total: u64, current: u64) -> AccountConnections {
        AccountConnections {
            user: user.into(),
            host: host.map(Into::into),
            total,
            current,
            denied: None,
        }
    }

    #[test]
    fn accounts_that_opened_most_keep_their_series_and_the_rest_fold() {
        let mut snap = recorded();
        snap.account_connections = Outcome::Ok(vec![
            account("report", Some("10.0.0.9"), 90_000, 1),
            account("kefu", Some("10.0.0.7"), 45, 45),
            account("backup", Some("10.0.0.3"), 3, 0),
        ]);
        let s = om::parse(&encode_with(&Accounts, &snap, 2));
        let get = |user, host| {
            om::get(
                &s,
                "mysql_account_connections_total",
                &[("mysql_user", user), ("client_host", host)],
            )
        };
        assert_eq!(get("report", "10.0.0.9"), Some(90_000.0));
        assert_eq!(get("kefu", "10.0.0.7"), Some(45.0));
        assert_eq!(get("other", "other"), Some(3.0));
        assert_eq!(get("backup", "10.0.0.3"), None);
    }

    #[test]
    fn per_user_statistics_carry_the_refused_logins() {
        let mut snap = recorded();
        let mut row = account("report", None, 500, 2);
        row.denied = Some(7);
        snap.account_connections = Outcome::Ok(vec![row]);
        let s = om::parse(&encode_with(&Accounts, &snap, 50));
        let labels = [("mysql_user", "report"), ("client_host", "")];
        assert_eq!(
            om::get(&s, "mysql_account_denied_connections_total", &labels),
            Some(7.0)
        );
    }
}
