//! The bodies of the fuzz targets, shared by the libFuzzer binaries in `fuzz_targets/` and
//! by the stable replay test in `tests/properties.rs` (which includes this file by path and
//! runs every body over the seed corpus in `fuzz/corpus/<target>/`).
//!
//! Each body panics on a broken invariant; that is how libFuzzer and the tests notice.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use mysql_pool_exporter::analysis::host::client_host_label;
use mysql_pool_exporter::analysis::processlist::sanitize;
use mysql_pool_exporter::collect::{self, ScrapeView, TargetView};
use mysql_pool_exporter::config::{self, parse_dsn, Config, Secret};
use mysql_pool_exporter::snapshot::{Flavor, Outcome, ServerInfo, Snapshot, ThreadGroup};
use openmetrics_parser::openmetrics::parse_openmetrics;
use prometheus_client::registry::Registry;

/// What `MYSQL_PASSWORD` holds while a config is parsed: it must never be printed.
pub const ENV_SECRET: &str = "EnvS3cret-q7Zx";

/// Paths whose reading never ends or blocks (a `password_file` of the fuzzer's making).
fn reads_forever(text: &str) -> bool {
    ["/dev/", "/proc/", "/sys/"]
        .iter()
        .any(|p| text.contains(p))
}

/// `config_parse`: any text either gives a config or a non-empty error; neither the
/// `MYSQL_PASSWORD` value nor a DSN password appears in the error, `render()` or `Debug`.
pub fn config_parse(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if reads_forever(&text) {
        return;
    }
    // A secret the input itself spells out may be echoed like any other input.
    let secret_given = text.contains(ENV_SECRET);
    let env = |k: &str| (k == "MYSQL_PASSWORD").then(|| ENV_SECRET.to_string());
    // A base that does not exist: a relative password_file is never read.
    match config::parse(&text, Path::new("/nonexistent/fuzz-base"), &env) {
        Ok(c) => {
            // What is shown does not depend on any password's value: the same config with
            // every password emptied renders and debug-prints the same.
            let mut blank = c.clone();
            for t in &mut blank.targets {
                t.password = t.password.as_ref().map(|_| Secret::new(""));
                t.dsn.password = t.dsn.password.as_ref().map(|_| Secret::new(""));
            }
            assert_eq!(c.render(), blank.render());
            assert_eq!(format!("{c:?}"), format!("{blank:?}"));
        }
        Err(e) => {
            let shown = e.to_string();
            assert!(!e.message.trim().is_empty(), "empty error message: {e:?}");
            assert!(
                secret_given || !shown.contains(ENV_SECRET),
                "env password in error: {shown}"
            );
        }
    }
}

/// `dsn`: no panic; an error says something; a parsed DSN prints the same with or without
/// its password (so the password cannot be in `Display`), and `Debug` redacts it.
pub fn dsn(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match parse_dsn(&text) {
        Ok(d) => {
            let mut without = d.clone();
            without.password = None;
            assert_eq!(d.to_string(), without.to_string());
            // Debug shows `<redacted>` where the password is, and nothing else differs.
            let debug = format!("{d:?}");
            let debug_without = format!("{without:?}");
            if d.password.is_some() {
                assert_eq!(
                    debug,
                    debug_without.replace("password: None", "password: Some(<redacted>)")
                );
            }
            assert!(d.port != 0);
            assert!(!d.user.is_empty());
        }
        Err(m) => assert!(!m.trim().is_empty()),
    }
}

/// One processlist group as the row decoder produces it: every text column went through
/// `String::from_utf8_lossy`, so invalid bytes arrive as U+FFFD.
#[derive(Clone, Debug)]
pub struct Row {
    pub user: String,
    pub host: String,
    pub db: Option<String>,
    pub command: String,
    pub state: String,
    pub trx: Option<(String, u64)>,
    pub count: u64,
    pub time: u64,
}

impl Row {
    pub fn group(&self) -> ThreadGroup {
        ThreadGroup::uniform(
            &self.user,
            &self.host,
            self.db.as_deref(),
            &self.command,
            &self.state,
            self.trx.as_ref().map(|(s, a)| (s.as_str(), *a)),
            self.count,
            self.time,
        )
    }
}

/// Decodes fuzzer bytes into rows: records split at 0x1E, fields at 0x1F, in the order
/// user, host, db, command, state, trx_state, count, time (missing fields: empty / none).
pub fn rows_from_bytes(data: &[u8]) -> Vec<Row> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    data.split(|b| *b == 0x1e)
        .take(64)
        .map(|rec| {
            let f: Vec<&[u8]> = rec.split(|b| *b == 0x1f).collect();
            let get = |i: usize| f.get(i).copied();
            let small = |i: usize, max: u64| {
                get(i).map_or(1, |b| {
                    b.iter().fold(0u64, |a, x| (a * 31 + u64::from(*x)) % max)
                })
            };
            Row {
                user: get(0).map(text).unwrap_or_default(),
                host: get(1).map(text).unwrap_or_default(),
                db: get(2).filter(|b| !b.is_empty()).map(text),
                command: get(3).map(text).unwrap_or_default(),
                state: get(4).map(text).unwrap_or_default(),
                trx: get(5)
                    .filter(|b| !b.is_empty())
                    .map(|b| (text(b), small(7, 5000))),
                count: small(6, 1000).max(1),
                time: small(7, 100_000),
            }
        })
        .collect()
}

/// `exposition`: arbitrary processlist rows through the real collectors and the real
/// encoder must give OpenMetrics the real parser accepts, with every label value intact.
pub fn exposition(data: &[u8]) {
    // The first byte picks the label cap, so folding into `other` is exercised too.
    let (limit, rest) = match data.split_first() {
        Some((b, rest)) => (usize::from(*b % 8) + 1, rest),
        None => (50, data),
    };
    let mut rows = rows_from_bytes(rest);
    tame(&mut rows);
    let version = rows.first().map(|r| r.state.clone()).unwrap_or_default();
    if let Err(e) = check_exposition(&rows, limit, &[("version", &version)]) {
        panic!("{e}");
    }
}

/// Makes harmless what the oracle cannot judge or what hits an already reported bug, so
/// the fuzzer looks for new problems:
/// - a raw CR in a label value is valid OpenMetrics (only `\`, `"` and LF are escaped) and
///   Prometheus 2.42 reads it, but the `openmetrics-parser` grammar ends a line at CR:
///   CR is dropped (tests/properties.rs checks CR on the raw text instead);
/// - a user or host named `other` is folded into the cap's `other` (fixed: it used to be
///   written twice; tests/properties.rs `a_user_named_other_and_the_cap_do_not_collide`
///   checks it); this oracle does not model that folding, so such names get a `_` appended.
pub fn tame(rows: &mut [Row]) {
    for r in rows {
        for s in [&mut r.user, &mut r.host, &mut r.command, &mut r.state] {
            s.retain(|c| c != '\r');
        }
        if let Some(db) = &mut r.db {
            db.retain(|c| c != '\r');
        }
        if let Some((t, _)) = &mut r.trx {
            t.retain(|c| c != '\r');
        }
        for s in [&mut r.user, &mut r.host] {
            if s == "other" || client_host_label(s) == "other" {
                s.push('_');
            }
        }
    }
}

/// A config with two pools (a glob and a CIDR, so the matcher sees every host) and the
/// given label cap.
pub fn exposition_config(limit: usize) -> Config {
    let text = format!(
        "targets: [{{name: t, dsn: 'mysql://exporter@127.0.0.1:3306'}}]\n\
         pools:\n\
         - {{name: app-v4, match: {{client_host: 10.0.0.0/8}}, size: 5, max_overflow: 5}}\n\
         - {{name: app-glob, match: {{user: '*a*'}}, size: 3}}\n\
         limits: {{max_label_values: {limit}}}\n"
    );
    config::parse(&text, Path::new("."), &|_| None).expect("the fixed config parses")
}

/// The exposition of one up MariaDB whose processlist holds `rows`, through
/// `collect::all()` and prometheus-client's text encoder, as `/metrics` builds it.
pub fn encode(rows: &[Row], limit: usize, variables: &[(&str, &str)]) -> String {
    let mut snap = Snapshot::up(ServerInfo {
        flavor: Flavor::MariaDb,
        version: "10.11.6-MariaDB".into(),
        version_comment: String::new(),
        connection_id: 1,
        capabilities: Default::default(),
        identity: Default::default(),
        run: 0,
    });
    snap.threads = Outcome::Ok(rows.iter().map(Row::group).collect());
    let mut vars: Vec<(String, String)> = vec![("max_connections".into(), "151".into())];
    vars.extend(
        variables
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    snap.global_variables = Outcome::Ok(vars);
    snap.global_status = Outcome::Ok(vec![("Threads_connected".into(), "3".into())]);
    snap.durations = vec![(
        mysql_pool_exporter::snapshot::Source::Threads,
        Duration::from_millis(3),
    )];
    let config = exposition_config(limit);
    let view = ScrapeView {
        targets: vec![TargetView::of(
            "fuzz",
            Arc::new(snap),
            config.pools.clone(),
            1,
            config.limits.max_label_values,
        )],
        collectors: Arc::new(collect::all()),
        limits: config.limits,
        label_targets: false,
    };
    let mut registry = Registry::default();
    registry.register_collector(Box::new(view));
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry).expect("encoding");
    out
}

/// Parsed samples: family name → list of (labels, value).
pub type Parsed = BTreeMap<String, Vec<(BTreeMap<String, String>, f64)>>;

/// Parses OpenMetrics text with the `openmetrics-parser` crate.
pub fn parse(text: &str) -> Result<Parsed, String> {
    let exposition = parse_openmetrics(text).map_err(|e| format!("{e:?}"))?;
    let mut out = Parsed::new();
    for (name, family) in &exposition.families {
        let names = family.get_label_names().to_vec();
        for sample in family.iter_samples() {
            let set = sample.get_labelset().map_err(|e| format!("{e:?}"))?;
            let labels = names
                .iter()
                .filter_map(|n| Some((n.clone(), set.get_label_value(n)?.to_string())))
                .collect();
            let value = match &sample.value {
                openmetrics_parser::OpenMetricsValue::Gauge(n)
                | openmetrics_parser::OpenMetricsValue::Unknown(n) => n.as_f64(),
                openmetrics_parser::OpenMetricsValue::Counter(c) => c.value.as_f64(),
                other => return Err(format!("unexpected sample type in {name}: {other:?}")),
            };
            out.entry(name.clone()).or_default().push((labels, value));
        }
    }
    Ok(out)
}

fn family<'a>(p: &'a Parsed, name: &str) -> &'a [(BTreeMap<String, String>, f64)] {
    p.get(name).map(Vec::as_slice).unwrap_or(&[])
}

/// Encodes `rows` and checks the result with the real parser:
/// - it parses (so no label value broke the syntax, no label set is duplicated);
/// - every `mysql_user` / `client_host` / `command` / `state` value is one the rows
///   produced (the user as is, the host without brackets, command and state sanitized),
///   or `other` when the cap folded some away; when nothing was folded, each row's value
///   is there, exactly, with the right count;
/// - the counts add up to the rows' counts (no sample was lost or invented);
/// - `variables` given as `(name, text)` come back as `mysql_version_info` labels intact.
pub fn check_exposition(
    rows: &[Row],
    limit: usize,
    variables: &[(&str, &str)],
) -> Result<(), String> {
    let text = encode(rows, limit, variables);
    let parsed =
        parse(&text).map_err(|e| format!("the parser refused the exposition: {e}\n{text}"))?;
    let fail = |what: String| Err(format!("{what}\n--- exposition ---\n{text}"));

    let total: u64 = rows.iter().map(|r| r.count).sum();
    let mut by_user: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_host: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_cmd_state: BTreeMap<(String, String), u64> = BTreeMap::new();
    for r in rows {
        *by_user.entry(r.user.clone()).or_default() += r.count;
        *by_host
            .entry(client_host_label(&r.host).to_string())
            .or_default() += r.count;
        *by_cmd_state
            .entry((sanitize(&r.command), sanitize(&r.state)))
            .or_default() += r.count;
    }

    // Processlist: threads by (command, state) are never capped: exact.
    let mut got_cs: BTreeMap<(String, String), u64> = BTreeMap::new();
    for (l, v) in family(&parsed, "mysql_info_schema_processlist_threads") {
        let key = (
            l.get("command").cloned().unwrap_or_default(),
            l.get("state").cloned().unwrap_or_default(),
        );
        *got_cs.entry(key).or_default() += *v as u64;
    }
    if got_cs != by_cmd_state {
        return fail(format!(
            "processlist_threads: want {by_cmd_state:?}, got {got_cs:?}"
        ));
    }

    for (fam, label, want) in [
        (
            "mysql_info_schema_processlist_processes_by_user",
            "mysql_user",
            &by_user,
        ),
        (
            "mysql_info_schema_processlist_processes_by_host",
            "client_host",
            &by_host,
        ),
    ] {
        let samples = family(&parsed, fam);
        let mut got: BTreeMap<String, u64> = BTreeMap::new();
        for (l, v) in samples {
            let Some(value) = l.get(label) else {
                return fail(format!("{fam}: a sample without `{label}`"));
            };
            *got.entry(value.clone()).or_default() += *v as u64;
        }
        let sum: u64 = got.values().sum();
        if sum != total {
            return fail(format!("{fam}: counts add up to {sum}, rows hold {total}"));
        }
        if want.len() <= limit {
            if &got != want {
                return fail(format!("{fam}: want {want:?}, got {got:?}"));
            }
        } else {
            if samples.len() != limit + 1 {
                return fail(format!(
                    "{fam}: {} series for {} values with cap {limit}",
                    samples.len(),
                    want.len()
                ));
            }
            for (v, n) in &got {
                if v != "other" && want.get(v) != Some(n) {
                    return fail(format!("{fam}: `{v}` = {n} is not from the rows"));
                }
            }
        }
    }

    // Sessions: users are rows' users (server threads excluded) or `other`.
    let states: BTreeSet<&str> = ["active", "lock_wait", "idle", "idle_in_transaction"].into();
    for fam in ["mysql_sessions", "mysql_oldest_transaction_seconds"] {
        for (l, _) in family(&parsed, fam) {
            let user = l.get("mysql_user").map(String::as_str).unwrap_or("<none>");
            if user != "other" && !by_user.contains_key(user) {
                return fail(format!("{fam}: user {user:?} is not from the rows"));
            }
            if let Some(s) = l.get("state") {
                if !states.contains(s.as_str()) {
                    return fail(format!("{fam}: state {s:?}"));
                }
            }
        }
    }

    // Pools: the two configured ones, and the apps of the sessions neither matches, named
    // `user@host` (the rows send no program_name), at most `limit` of them by name and the
    // rest `other`. Every client session is in exactly one: the pools' sessions add up to
    // the server's.
    let apps: BTreeSet<String> = rows
        .iter()
        .map(|r| format!("{}@{}", r.user, r.host))
        .collect();
    let mut discovered = BTreeSet::new();
    for (l, _) in family(&parsed, "mysql_pool_sessions") {
        match l.get("pool").map(String::as_str) {
            Some("app-v4" | "app-glob" | "other") => {}
            Some(app) if apps.contains(app) => {
                discovered.insert(app.to_string());
            }
            _ => return fail(format!("mysql_pool_sessions: labels {l:?}")),
        }
    }
    if discovered.len() > limit {
        return fail(format!(
            "{} discovered apps by name with cap {limit}",
            discovered.len()
        ));
    }
    let sum = |fam: &str| -> f64 { family(&parsed, fam).iter().map(|(_, v)| v).sum() };
    if sum("mysql_pool_sessions") != sum("mysql_sessions") {
        return fail(format!(
            "the pools hold {} sessions, the server {}",
            sum("mysql_pool_sessions"),
            sum("mysql_sessions")
        ));
    }

    // Version info: the variables' text is the label value, byte for byte.
    let info = family(&parsed, "mysql_version_info");
    if info.len() != 1 {
        return fail(format!("mysql_version_info: {} samples", info.len()));
    }
    for (name, value) in variables {
        if info[0].0.get(*name).map(String::as_str) != Some(*value) {
            return fail(format!(
                "mysql_version_info{{{name}}}: want {value:?}, got {:?}",
                info[0].0.get(*name)
            ));
        }
    }
    Ok(())
}
