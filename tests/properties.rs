//! Property tests for everything that reads input from outside: the config (text, DSN,
//! durations), processlist rows (hosts, states, odd user names, bytes that are not UTF-8)
//! on their way to label values, the HTTP query and headers, and the `check` report.
//!
//! The exposition properties run the real collectors (`collect::all()` in a `ScrapeView`),
//! the real prometheus-client encoder and the real OpenMetrics parser (`openmetrics-parser`).
//! The fuzz targets' bodies live in `fuzz/src/lib.rs`; `fuzz_seed_corpus_replays` runs them
//! over `fuzz/corpus/<target>/` so they are exercised on stable Rust too.
//!
//! Case counts are kept moderate (`PROPTEST_CASES` overrides them) so the file runs in a
//! few seconds in a debug build.

#[path = "../fuzz/src/lib.rs"]
mod fuzz_bodies;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::{Duration, Instant};

use hyper::header::HeaderValue;
use mysql_pool_exporter::analysis::host::{client_host_label, strip_port};
use mysql_pool_exporter::analysis::processlist::sanitize;
use mysql_pool_exporter::analysis::verdict::nagios::headline;
use mysql_pool_exporter::analysis::verdict::{target_report, Status, WORST_SESSIONS};
use mysql_pool_exporter::config::{
    self, parse_dsn, parse_duration, Client, Config, HumanDuration, MatchSpec, Matcher, Thresholds,
};
use mysql_pool_exporter::snapshot::{
    Flavor, LockWait, Outcome, Reason, ReasonKind, ServerInfo, SessionRow, Snapshot, ThreadGroup,
};
use mysql_pool_exporter::web::{probe_target, scrape_deadline};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;

use fuzz_bodies::Row;

fn cases(n: u32) -> ProptestConfig {
    let n = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(n);
    ProptestConfig {
        cases: n,
        // Failures are reported with their minimal input; no files in the source tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn no_env(_: &str) -> Option<String> {
    None
}

// ---------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------

/// Text as it comes out of a processlist row: anything, the troublemakers of a label value
/// (quotes, backslashes, newlines, `#`, `{}`, `=`), unicode, empty, and invalid bytes
/// decoded with `String::from_utf8_lossy` as the row decoder does (so U+FFFD).
fn nasty_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[\"\\\\\n\t a-zA-Z0-9_.:;,(){}=#%-]{0,12}",
        2 => any::<String>().prop_map(|s| s.chars().take(16).collect()),
        2 => proptest::collection::vec(any::<u8>(), 0..16)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        1 => Just(String::new()),
        1 => prop::sample::select(vec![
            "\"", "\\", "\n", "\\n", "\\\"", "a\"b\\c\nd", "# EOF", "}\n# EOF\n", "ユーザー",
            "\u{FFFD}", "\u{0}", "\u{2028}", "\u{FEFF}x", "Σ", "İ", "unknown", "[::1]",
        ])
        .prop_map(String::from),
    ]
}

/// Like [`nasty_text`] but never `other` (the cap's own label value; see the collision
/// property below) and never a carriage return (see `carriage_return_in_a_label_value`).
fn label_text() -> impl Strategy<Value = String> {
    nasty_text().prop_map(|s| {
        let s = s.replace('\r', "");
        if s == "other" {
            "other_".into()
        } else {
            s
        }
    })
}

fn host_text() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => label_text(),
        1 => any::<Ipv4Addr>().prop_map(|ip| ip.to_string()),
        1 => any::<Ipv6Addr>().prop_map(|ip| ip.to_string()),
        1 => any::<Ipv6Addr>().prop_map(|ip| format!("[{ip}]")),
        1 => any::<Ipv4Addr>().prop_map(|ip| ip.to_ipv6_mapped().to_string()),
        1 => Just("localhost".to_string()),
    ]
}

fn command() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => prop::sample::select(vec![
            "Sleep", "Query", "Connect", "Killed", "Daemon", "Binlog Dump GTID", "Slave_SQL",
            "sleep", "SLEEP", "Execute",
        ])
        .prop_map(String::from),
        1 => label_text(),
    ]
}

fn trx() -> impl Strategy<Value = Option<(String, u64)>> {
    prop::option::of((
        prop_oneof![
            Just("RUNNING".to_string()),
            Just("LOCK WAIT".to_string()),
            Just("lock wait".to_string()),
            label_text(),
        ],
        0u64..100_000,
    ))
}

fn row() -> impl Strategy<Value = Row> {
    (
        prop_oneof![
            3 => label_text(),
            1 => prop::sample::select(vec!["kefu", "system user", "event_scheduler", "a"])
                .prop_map(String::from),
        ],
        host_text(),
        prop::option::of(label_text()),
        command(),
        label_text(),
        trx(),
        1u64..1000,
        0u64..100_000,
    )
        .prop_map(|(user, host, db, command, state, trx, count, time)| Row {
            user,
            host,
            db,
            command,
            state,
            trx,
            count,
            time,
        })
}

fn hostname() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9-]{0,10}){0,3}"
}

// ---------------------------------------------------------------------------------------
// Config: a small YAML model, so valid configs can be generated and then broken
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Y {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    /// A raw token written as is (YAML oddities: tags, aliases, block scalars, ...).
    Raw(String),
    Seq(Vec<Y>),
    Map(Vec<(String, Y)>),
}

fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            c if (c as u32) <= 0xFFFF => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push_str(&format!("\\U{:08X}", c as u32)),
        }
    }
    out.push('"');
    out
}

impl Y {
    fn s(v: impl Into<String>) -> Y {
        Y::Str(v.into())
    }

    fn scalar(&self) -> Option<String> {
        Some(match self {
            Y::Null => "null".into(),
            Y::Bool(b) => b.to_string(),
            Y::Int(i) => i.to_string(),
            Y::Float(f) if f.is_nan() => ".nan".into(),
            Y::Float(f) if f.is_infinite() => if *f > 0.0 { ".inf" } else { "-.inf" }.into(),
            Y::Float(f) => format!("{f:?}"),
            Y::Str(s) => quote(s),
            Y::Raw(r) => r.clone(),
            Y::Seq(v) if v.is_empty() => "[]".into(),
            Y::Map(v) if v.is_empty() => "{}".into(),
            _ => return None,
        })
    }

    /// Flow style: `{a: [1, "x"]}`.
    fn flow(&self) -> String {
        if let Some(s) = self.scalar() {
            return s;
        }
        match self {
            Y::Seq(v) => format!("[{}]", v.iter().map(Y::flow).collect::<Vec<_>>().join(", ")),
            Y::Map(v) => format!(
                "{{{}}}",
                v.iter()
                    .map(|(k, v)| format!("{}: {}", key(k), v.flow()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            _ => unreachable!(),
        }
    }

    /// Block style, indented.
    fn block(&self, indent: usize, out: &mut String) {
        let pad = " ".repeat(indent);
        match self {
            Y::Map(v) if !v.is_empty() => {
                for (k, v) in v {
                    out.push_str(&format!("{pad}{}:", key(k)));
                    match v.scalar() {
                        Some(s) => out.push_str(&format!(" {s}\n")),
                        None => {
                            out.push('\n');
                            v.block(indent + 2, out);
                        }
                    }
                }
            }
            Y::Seq(v) if !v.is_empty() => {
                for v in v {
                    match v.scalar() {
                        Some(s) => out.push_str(&format!("{pad}- {s}\n")),
                        None => {
                            out.push_str(&format!("{pad}-\n"));
                            v.block(indent + 2, out);
                        }
                    }
                }
            }
            other => out.push_str(&format!("{pad}{}\n", other.flow())),
        }
    }

    fn render(&self, block: bool) -> String {
        if block {
            let mut out = String::new();
            self.block(0, &mut out);
            out
        } else {
            self.flow() + "\n"
        }
    }

    /// Every node's path (indices into maps and sequences).
    fn paths(&self, prefix: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        out.push(prefix.clone());
        let children: Vec<&Y> = match self {
            Y::Seq(v) => v.iter().collect(),
            Y::Map(v) => v.iter().map(|(_, v)| v).collect(),
            _ => return,
        };
        for (i, c) in children.into_iter().enumerate() {
            prefix.push(i);
            c.paths(prefix, out);
            prefix.pop();
        }
    }

    fn at_mut(&mut self, path: &[usize]) -> &mut Y {
        match path.split_first() {
            None => self,
            Some((i, rest)) => match self {
                Y::Seq(v) => v[*i].at_mut(rest),
                Y::Map(v) => v[*i].1.at_mut(rest),
                _ => unreachable!(),
            },
        }
    }
}

fn key(k: &str) -> String {
    if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        k.to_string()
    } else {
        quote(k)
    }
}

/// A valid config: 1–3 targets (the first with `password` in its DSN, percent-encoded),
/// 0–3 pools that do not cover each other, thresholds and limits.
#[derive(Clone, Debug)]
struct ValidConfig {
    yaml: Y,
    password: String,
}

fn password() -> impl Strategy<Value = String> {
    // A distinctive head, so that finding it in output is a leak and not a coincidence,
    // then anything (quotes, `@`, `:`, `/`, unicode, newlines: percent-encoded in the DSN).
    (
        "[A-Z]{3}[a-z0-9]{6}",
        any::<String>().prop_map(|s| s.chars().take(8).collect::<String>()),
    )
        .prop_map(|(head, tail)| format!("Pw{head}{tail}"))
}

fn target_yaml(i: usize, dsn: String) -> impl Strategy<Value = Y> {
    (
        prop::option::of(prop::sample::select(vec![
            "disabled",
            "preferred",
            "required",
            "verify_ca",
            "verify_identity",
        ])),
        prop::option::of(1u64..120_000),
        prop::option::of(1u64..120_000),
        prop::option::of(1u16..),
    )
        .prop_map(move |(tls, ct, st, extra)| {
            let mut m = vec![
                ("name".to_string(), Y::s(format!("t{i}"))),
                ("dsn".to_string(), Y::s(dsn.clone())),
            ];
            if let Some(mode) = tls {
                m.push(("tls".into(), Y::Map(vec![("mode".into(), Y::s(mode))])));
            }
            if let Some(ms) = ct {
                let d = HumanDuration(Duration::from_millis(ms)).to_string();
                m.push(("connect_timeout".into(), Y::s(d)));
            }
            if let Some(ms) = st {
                let d = HumanDuration(Duration::from_millis(ms)).to_string();
                m.push(("statement_timeout".into(), Y::Raw(d)));
            }
            if let Some(p) = extra {
                m.push(("extra_port".into(), Y::Int(p.into())));
            }
            Y::Map(m)
        })
}

fn dsn_text() -> impl Strategy<Value = String> {
    (
        "[a-z][a-z0-9_]{0,8}",
        prop_oneof![
            hostname(),
            any::<Ipv4Addr>().prop_map(|ip| ip.to_string()),
            any::<Ipv6Addr>().prop_map(|ip| format!("[{ip}]")),
        ],
        1u16..,
        prop::option::of("[a-z][a-z0-9_]{0,8}"),
    )
        .prop_map(|(user, host, port, db)| {
            let db = db.map(|d| format!("/{d}")).unwrap_or_default();
            format!("mysql://{user}@{host}:{port}{db}")
        })
}

fn valid_config() -> impl Strategy<Value = ValidConfig> {
    (
        password(),
        dsn_text(),
        prop::collection::vec(dsn_text(), 0..3),
        prop::collection::vec(
            (
                prop::option::of(prop::sample::select(vec![
                    "10.0.0.0/8",
                    "fd00::/8",
                    "web-*",
                ])),
                prop::option::of("[a-z*?]{1,6}"),
                1u32..100,
                prop::option::of(0u32..100),
                prop::option::of(1u32..16),
            ),
            0..3,
        ),
        prop::option::of((1u64..10_000_000, 1u64..10_000_000)),
        prop::option::of(1usize..1000),
    )
        .prop_flat_map(|(pw, first, others, pools, thresholds, limit)| {
            let enc = utf8_percent_encode(&pw, NON_ALPHANUMERIC).to_string();
            let first = first.replacen('@', &format!(":{enc}@"), 1);
            let targets: Vec<_> = std::iter::once(first)
                .chain(others)
                .enumerate()
                .map(|(i, d)| target_yaml(i, d))
                .collect();
            (
                targets,
                Just(pw),
                Just(pools),
                Just(thresholds),
                Just(limit),
            )
        })
        .prop_map(|(targets, password, pools, thresholds, limit)| {
            let mut top = vec![("targets".to_string(), Y::Seq(targets))];
            if !pools.is_empty() {
                let pools = pools
                    .into_iter()
                    .enumerate()
                    .map(|(i, (host, db, size, overflow, procs))| {
                        // A distinct exact user per pool: no pool can cover another.
                        let mut m = vec![("user".to_string(), Y::s(format!("user{i}")))];
                        if let Some(h) = host {
                            m.push(("client_host".into(), Y::s(h)));
                        }
                        if let Some(d) = db {
                            m.push(("db".into(), Y::s(d)));
                        }
                        let mut p = vec![
                            ("name".to_string(), Y::s(format!("pool-{i}"))),
                            ("match".to_string(), Y::Map(m)),
                            ("size".to_string(), Y::Int(size.into())),
                        ];
                        if let Some(o) = overflow {
                            p.push(("max_overflow".into(), Y::Int(o.into())));
                        }
                        if let Some(n) = procs {
                            p.push(("processes".into(), Y::Int(n.into())));
                        }
                        Y::Map(p)
                    })
                    .collect();
                top.push(("pools".into(), Y::Seq(pools)));
            }
            if let Some((iit, lq)) = thresholds {
                top.push((
                    "thresholds".into(),
                    Y::Map(vec![
                        (
                            "idle_in_transaction".into(),
                            Y::s(HumanDuration(Duration::from_millis(iit)).to_string()),
                        ),
                        (
                            "long_query".into(),
                            Y::s(HumanDuration(Duration::from_millis(lq)).to_string()),
                        ),
                        ("pool_utilization_warning".into(), Y::Float(0.5)),
                        ("connections_critical".into(), Y::Float(0.99)),
                    ]),
                ));
            }
            if let Some(l) = limit {
                top.push((
                    "limits".into(),
                    Y::Map(vec![("max_label_values".into(), Y::Int(l as i128))]),
                ));
            }
            ValidConfig {
                yaml: Y::Map(top),
                password,
            }
        })
}

/// Something to put where a field was: other scalars, nesting, YAML oddities.
fn replacement() -> impl Strategy<Value = Y> {
    let leaf = prop_oneof![
        Just(Y::Null),
        any::<bool>().prop_map(Y::Bool),
        any::<i64>().prop_map(|i| Y::Int(i.into())),
        any::<u64>().prop_map(|i| Y::Int(i.into())),
        Just(Y::Int(i128::MAX)),
        any::<f64>().prop_map(Y::Float),
        Just(Y::Float(f64::NAN)),
        nasty_text().prop_map(Y::Str),
        prop::sample::select(vec![
            "~",
            "yes",
            "off",
            "0x1F",
            "0o17",
            "1_000",
            "30s",
            "-1",
            "1.5",
            "-0",
            "''",
            "\"\"",
            "*nowhere",
            "&a x",
            "!!str 5",
            "!!binary aGk=",
            "!!int x",
            "!custom {}",
            "|\n  a\n",
            ">-\n  b\n",
            "? k\n: v",
            "@r",
            "`t",
            "%TAG",
            "- a",
            "a: b",
            "[",
            "{",
            "]",
            "}",
            ",",
            "#",
            "'unterminated",
            "\"unterminated",
            "\t",
            "mysql://u:hunter2@tcp(h)/",
            "1h30m",
            "0s",
            "99999999999999999999999d",
            "0.0.0.0/0",
            "::/0",
            "10.0.0.0/33",
        ])
        .prop_map(|s| Y::Raw(s.to_string())),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Y::Seq),
            prop::collection::vec(("[a-z_]{0,12}", inner), 0..4).prop_map(Y::Map),
        ]
    })
}

fn check_config_outcome(text: &str, secrets: &[&str]) -> Result<(), TestCaseError> {
    let env = |k: &str| (k == "MYSQL_PASSWORD").then(|| fuzz_bodies::ENV_SECRET.to_string());
    match config::parse(text, Path::new("/nonexistent/props"), &env) {
        Ok(c) => {
            let shown = format!("{}\n{c:?}", c.render());
            for s in secrets.iter().chain([&fuzz_bodies::ENV_SECRET]) {
                prop_assert!(!shown.contains(s), "{:?} shown:\n{}", s, shown);
            }
        }
        Err(e) => {
            let shown = e.to_string();
            prop_assert!(!e.message.trim().is_empty(), "empty message: {:?}", e);
            prop_assert!(!shown.trim().is_empty());
            for s in secrets.iter().chain([&fuzz_bodies::ENV_SECRET]) {
                prop_assert!(!shown.contains(s), "{:?} in the error: {}", s, shown);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn config_parse_never_panics_on_any_text(text in any::<String>()) {
        check_config_outcome(&text, &[])?;
    }

    #[test]
    fn config_parse_never_panics_on_yaml_shaped_text(
        text in "([a-z_]{1,10}: |- |  |\\{|\\}|\\[|\\]|, |'|\"|&a |\\*a |!!str |<<: |#|\n|[0-9.]{1,5}|mysql://u:p@h|10\\.0\\.0\\.0/8|30s){0,40}"
    ) {
        check_config_outcome(&text, &[])?;
    }

    /// The generator is right: an unbroken config parses, with the DSN's password.
    #[test]
    fn generated_configs_are_valid(c in valid_config(), block in any::<bool>()) {
        let text = c.yaml.render(block);
        let parsed = config::parse(&text, Path::new("."), &no_env)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(parsed.targets[0].password.as_ref().map(|p| p.expose()), Some(c.password.as_str()));
        prop_assert_eq!(parsed.targets[0].password_source.to_string(), "dsn");
        let shown = format!("{}\n{parsed:?}", parsed.render());
        prop_assert!(!shown.contains(&c.password));
    }

}

proptest! {
    #![proptest_config(cases(512))]

    /// One field of a valid config replaced by another scalar or by nesting: never a panic,
    /// always a message, never the DSN's password.
    #[test]
    fn config_parse_survives_one_broken_field(
        c in valid_config(),
        pick in any::<prop::sample::Index>(),
        leaf in prop::bool::weighted(0.75),
        with in replacement(),
        block in any::<bool>(),
    ) {
        let mut yaml = c.yaml.clone();
        let mut paths = Vec::new();
        yaml.paths(&mut Vec::new(), &mut paths);
        // Mostly a scalar field (a name, a DSN, a size), sometimes a whole section.
        let leaves: Vec<Vec<usize>> = paths[1..]
            .iter()
            .filter(|p| yaml.clone().at_mut(p).scalar().is_some())
            .cloned()
            .collect();
        let path = pick.get(if leaf { &leaves } else { &paths[1..] }).clone();
        *yaml.at_mut(&path) = with;
        let text = yaml.render(block);
        check_config_outcome(&text, &[&c.password])?;
    }
}

// ---------------------------------------------------------------------------------------
// DSN
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn parse_dsn_never_panics(text in any::<String>()) {
        fuzz_bodies::dsn(text.as_bytes());
    }

    #[test]
    fn parse_dsn_never_panics_on_url_shaped_text(
        text in "(mysql://)?([a-zA-Z%0-9:@/?#\\[\\]._-]|%[0-9a-fA-F]{2}|%){0,40}"
    ) {
        fuzz_bodies::dsn(text.as_bytes());
    }

    /// (user, host, port, db) → DSN text → `Dsn` → `Display` → the same `Dsn`, with the
    /// password (which `Display` leaves out) the only difference.
    #[test]
    fn dsn_display_round_trips(
        user in "[A-Za-z0-9_.-]{1,12}",
        pw in prop::option::of(password()),
        host in prop_oneof![
            hostname(),
            any::<Ipv4Addr>().prop_map(|ip| ip.to_string()),
            any::<Ipv6Addr>().prop_map(|ip| ip.to_string()),
        ],
        port in 1u16..,
        db in prop::option::of("[A-Za-z0-9_$-]{1,12}"),
    ) {
        let h = if host.contains(':') { format!("[{host}]") } else { host.clone() };
        let pw_part = pw
            .as_ref()
            .map(|p| format!(":{}", utf8_percent_encode(p, NON_ALPHANUMERIC)))
            .unwrap_or_default();
        let db_part = db.as_ref().map(|d| format!("/{d}")).unwrap_or_default();
        let text = format!("mysql://{user}{pw_part}@{h}:{port}{db_part}");
        let d = parse_dsn(&text).map_err(TestCaseError::fail)?;
        prop_assert_eq!(&d.user, &user);
        prop_assert_eq!(&d.host, &host);
        prop_assert_eq!(d.port, port);
        prop_assert_eq!(&d.database, &db);
        prop_assert_eq!(d.password.as_ref().map(|p| p.expose().to_string()), pw.clone());
        let shown = d.to_string();
        if let Some(p) = &pw {
            prop_assert!(!shown.contains(p.as_str()));
            let debug = format!("{:?}", d);
            prop_assert!(!debug.contains(p.as_str()));
        }
        let again = parse_dsn(&shown).map_err(TestCaseError::fail)?;
        let mut want = d.clone();
        want.password = None;
        prop_assert_eq!(again, want);
    }

    /// A password written into the DSN percent-encoded never reaches an error message,
    /// whatever else is wrong with the DSN.
    #[test]
    fn dsn_errors_never_echo_an_encoded_password(
        pw in password(),
        scheme in prop_oneof![Just("mysql://".to_string()), "[a-z:/@%\\[\\]]{0,12}"],
        user in "[a-z@:/%]{0,3}",
        after in "[a-z0-9:/@?#=%\\[\\]]{0,12}",
    ) {
        let enc = utf8_percent_encode(&pw, NON_ALPHANUMERIC).to_string();
        let text = format!("{scheme}{user}:{enc}@{after}");
        if let Err(m) = parse_dsn(&text) {
            prop_assert!(!m.contains(&pw) && !m.contains(&enc), "{:?}: {}", text, m);
        }
    }
}

proptest! {
    #![proptest_config(cases(512))]

    /// A password written into the DSN as is (not percent-encoded) is not a valid URL
    /// part when it holds `/`, `?` or `#`; the error must still not quote any of it.
    #[test]
    fn dsn_errors_never_echo_a_raw_password(
        pw in "[A-Z0-9/?#]{6,14}",
        host in "[a-z]{1,6}",
    ) {
        let text = format!("mysql://exporter:{pw}@{host}:3306");
        // Misread as another URL, the DSN may even parse: then its Display must not show it.
        let shown = match parse_dsn(&text) {
            Err(m) => m,
            Ok(d) => format!("{d} {d:?}"),
        };
        let pieces: Vec<&str> = pw.split(['/', '?', '#']).filter(|p| p.len() >= 3).collect();
        for p in pieces {
            prop_assert!(!shown.contains(p), "{:?} is shown with {:?}: {}", text, p, shown);
        }
    }

    /// `Display` of any user and database name (percent-encoded in the input, as a URL
    /// needs) reads back as the same DSN: it is what `config check` prints.
    #[test]

    fn dsn_display_round_trips_any_user_and_db(
        user in "[a-z:/@%?# ]{1,6}",
        db in prop::option::of("[a-z:/@%?# ]{1,6}"),
    ) {
        let enc = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
        let db_part = db.as_deref().map(|d| format!("/{}", enc(d))).unwrap_or_default();
        let text = format!("mysql://{}@h:3306{db_part}", enc(&user));
        let d = parse_dsn(&text).map_err(TestCaseError::fail)?;
        prop_assert_eq!(&d.user, &user);
        let shown = d.to_string();
        let again = parse_dsn(&shown);
        prop_assert_eq!(again, Ok(d), "{} is shown as {}", text, shown);
    }
}

/// A connect string in the Oracle style `user/password@host` is refused, and the refusal
/// must not quote the password.
#[test]

fn a_slash_style_connect_string_does_not_echo_the_password() {
    let err = parse_dsn("exp/Hunter2Pw@db.example").unwrap_err();
    assert!(!err.contains("Hunter2Pw"), "{err}");
}

// ---------------------------------------------------------------------------------------
// Durations
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn parse_duration_never_panics(text in any::<String>()) {
        if let Err(m) = parse_duration(&text) {
            prop_assert!(!m.is_empty());
        }
    }

    #[test]
    fn parse_duration_never_panics_on_duration_shaped_text(text in "([0-9]{0,25}(ms|s|m|h|d|µs|x|)){0,5}") {
        if let Err(m) = parse_duration(&text) {
            prop_assert!(!m.is_empty());
        }
    }

    /// `1h2m3s4ms` means what it says, and `HumanDuration`'s `Display` reads back the same.
    #[test]
    fn durations_round_trip(d in 0u64..1000, h in 0u64..1000, m in 0u64..1000, s in 0u64..1000, ms in 0u64..1000) {
        let want = Duration::from_millis(ms + 1000 * (s + 60 * (m + 60 * (h + 24 * d))));
        let mut text = String::new();
        for (n, unit) in [(d, "d"), (h, "h"), (m, "m"), (s, "s"), (ms, "ms")] {
            if n > 0 {
                text += &format!("{n}{unit}");
            }
        }
        if text.is_empty() {
            text = "0s".into();
        }
        prop_assert_eq!(parse_duration(&text), Ok(want));
        let shown = HumanDuration(want).to_string();
        prop_assert_eq!(parse_duration(&shown), Ok(want), "{}", shown);
    }

    #[test]
    fn any_millisecond_count_round_trips(ms in any::<u64>()) {
        let d = Duration::from_millis(ms);
        let shown = HumanDuration(d).to_string();
        prop_assert_eq!(parse_duration(&shown), Ok(d), "{}", shown);
    }
}

// ---------------------------------------------------------------------------------------
// Hosts, states
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn strip_port_never_panics_and_only_cuts_a_port(raw in any::<String>()) {
        let h = strip_port(&raw);
        prop_assert!(raw.starts_with(h));
        let cut = &raw[h.len()..];
        prop_assert!(cut.is_empty() || (cut.starts_with(':') && cut[1..].bytes().all(|b| b.is_ascii_digit()) && cut.len() > 1));
        prop_assert!(!client_host_label(h).is_empty());
    }

    /// `HOST` is `host:port` for TCP clients: the port goes, the host stays exactly.
    #[test]
    fn strip_port_removes_the_client_port(
        host in prop_oneof![
            any::<Ipv4Addr>().prop_map(|ip| ip.to_string()),
            any::<Ipv6Addr>().prop_map(|ip| ip.to_string()),
            any::<Ipv6Addr>().prop_map(|ip| format!("[{ip}]")),
            any::<Ipv4Addr>().prop_map(|ip| ip.to_ipv6_mapped().to_string()),
            hostname(),
        ],
        port in any::<u16>(),
    ) {
        let raw = format!("{host}:{port}");
        prop_assert_eq!(strip_port(&raw), host.as_str());
        let label = client_host_label(strip_port(&raw));
        prop_assert!(!label.contains('[') && !label.is_empty());
    }

    /// Where a host carries no colon of its own (IPv4, names, bracketed IPv6), stripping
    /// twice is stripping once. (Unbracketed IPv6 is ambiguous by nature — `::1:40512` —
    /// which is why the port is stripped exactly once, in the Threads query.)
    #[test]
    fn strip_port_is_idempotent_where_hosts_have_no_colon(
        host in prop_oneof![
            any::<Ipv4Addr>().prop_map(|ip| ip.to_string()),
            any::<Ipv6Addr>().prop_map(|ip| format!("[{ip}]")),
            hostname(),
            Just("localhost".to_string()),
            Just(String::new()),
        ],
        port in prop::option::of(any::<u16>()),
    ) {
        let raw = port.map_or(host.clone(), |p| format!("{host}:{p}"));
        let once = strip_port(&raw);
        prop_assert_eq!(strip_port(once), once);
        prop_assert_eq!(once, host.as_str());
    }

    /// mysqld_exporter's rule: lower case, ` ` and `-` to `_`, `;,:.()` dropped.
    #[test]
    fn sanitize_follows_its_rules(state in nasty_text()) {
        let s = sanitize(&state);
        prop_assert!(!s.chars().any(|c| c.is_ascii_uppercase() || " -;,:.()".contains(c)), "{:?}", s);
        if !s.is_empty() {
            prop_assert_eq!(sanitize(&s), s.clone(), "not idempotent");
        }
        let kept = state.chars().filter(|c| !";,:.()".contains(*c)).count();
        if kept == 0 {
            // Empty, or punctuation only: nothing is left to name the state.
            prop_assert_eq!(s, "unknown");
        } else if state.is_ascii() {
            // ASCII in, ASCII out, character for character less the dropped ones.
            prop_assert_eq!(s.chars().count(), kept);
        }
    }

    /// A state label value is never empty (`unknown` stands for "no state").
    #[test]

    fn sanitize_is_never_empty(state in nasty_text()) {
        prop_assert!(!sanitize(&state).is_empty(), "sanitize({:?}) is empty", state);
    }
}

// ---------------------------------------------------------------------------------------
// Label values, end to end: rows → collectors → encoder → OpenMetrics parser
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(cases(96))]

    /// Every user, host, command and state (quotes, backslashes, newlines, unicode, empty,
    /// U+FFFD from invalid bytes) comes back from the real parser exactly as it went in
    /// (host without brackets, command/state sanitized), and the counts add up.
    #[test]
    fn label_values_round_trip_through_the_exposition(
        rows in prop::collection::vec(row(), 0..12),
        limit in prop_oneof![Just(50usize), 1usize..6],
        version in label_text(),
        comment in label_text(),
    ) {
        fuzz_bodies::check_exposition(
            &rows,
            limit,
            &[("version", &version), ("version_comment", &comment)],
        )
        .map_err(TestCaseError::fail)?;
    }

    /// A user (or host) literally named `other` and the cap's `other` must not become two
    /// series with one label set, which the parser refuses (and Prometheus 2.42 keeps the
    /// first of, dropping the folded sum).
    #[test]

    fn a_user_named_other_and_the_cap_do_not_collide(
        rows in prop::collection::vec(row(), 2..8),
        limit in 1usize..3,
    ) {
        let mut rows = rows;
        rows[0].user = "other".into();
        rows[0].count = 999;
        rows[0].command = "Query".into();
        fuzz_bodies::check_exposition(&rows, limit, &[]).map_err(TestCaseError::fail)?;
    }
}

/// A raw carriage return in a label value is valid OpenMetrics (only `\`, `"` and LF are
/// escaped; Prometheus' lexer accepts it), but the `openmetrics-parser` crate's grammar
/// treats CR as a line end. So CR is kept out of the generated labels above, and checked
/// here on the raw text instead.
#[test]
fn carriage_return_in_a_label_value() {
    let rows = [Row {
        user: "car\rriage".into(),
        host: "h".into(),
        db: None,
        command: "Query".into(),
        state: "x".into(),
        trx: None,
        count: 1,
        time: 1,
    }];
    let text = fuzz_bodies::encode(&rows, 50, &[]);
    assert!(
        text.contains("mysql_user=\"car\rriage\""),
        "the user is written as is:\n{text}"
    );
}

// ---------------------------------------------------------------------------------------
// Pool matching
// ---------------------------------------------------------------------------------------

fn spec(user: Option<String>, host: Option<String>, db: Option<String>) -> MatchSpec {
    MatchSpec {
        user,
        client_host: host,
        db,
        ..MatchSpec::default()
    }
}

/// `spec` plus a `program_name` connect-attribute pattern.
fn spec_with(
    user: Option<String>,
    host: Option<String>,
    db: Option<String>,
    program: Option<String>,
) -> MatchSpec {
    MatchSpec {
        attributes: program
            .map(|p| ("program_name".to_string(), p))
            .into_iter()
            .collect(),
        ..spec(user, host, db)
    }
}

/// A glob that matches `text`: some characters become `?`, some runs become `*`.
fn glob_of(text: String) -> impl Strategy<Value = String> {
    let n = text.chars().count();
    prop::collection::vec(0u8..4, n).prop_map(move |ops| {
        let mut out = String::new();
        for (c, op) in text.chars().zip(ops) {
            match op {
                0 => out.push('?'),
                1 => out.push('*'),
                _ => out.push(c),
            }
        }
        out
    })
}

proptest! {
    #![proptest_config(cases(256))]

    /// `?` is one character and `*` any run, as the config documents (so a glob made from
    /// a name by such replacements matches the name).
    #[test]
    fn a_glob_made_from_a_name_matches_it(
        (name, pattern) in "[a-zA-Z0-9_.\\-]{1,10}".prop_flat_map(|n| (Just(n.clone()), glob_of(n)))
    ) {
        check_glob(&name, &pattern)?;
    }

    /// The same with names that are not ASCII (user names and hosts are UTF-8).
    #[test]

    fn a_glob_made_from_a_unicode_name_matches_it(
        (name, pattern) in "[a-z0-9éü中ユ]{1,10}".prop_flat_map(|n| (Just(n.clone()), glob_of(n)))
    ) {
        check_glob(&name, &pattern)?;
    }

    /// `covers` (which makes a later pool a config error) is sound: when `a` covers `b`,
    /// every session `b` matches, `a` matches too.
    #[test]
    fn covers_is_sound(
        a in (prop::option::of("[ab*?]{1,3}"), prop::option::of(host_pattern()), prop::option::of("[ab*]{1,2}"), prop::option::of("[ab*]{1,2}")),
        b in (prop::option::of("[ab*?]{1,3}"), prop::option::of(host_pattern()), prop::option::of("[ab*]{1,2}"), prop::option::of("[ab*]{1,2}")),
        sessions in prop::collection::vec(("[ab]{0,2}", session_host(), prop::option::of("[ab]{0,2}"), prop::option::of("[ab]{0,2}")), 1..24),
    ) {
        let (Ok(a), Ok(b)) = (
            Matcher::compile(&spec_with(a.0, a.1, a.2, a.3)),
            Matcher::compile(&spec_with(b.0, b.1, b.2, b.3)),
        ) else {
            return Ok(());
        };
        if a.covers(&b) {
            for (user, host, db, program) in &sessions {
                let attributes: Vec<(String, String)> = program
                    .iter()
                    .map(|p| ("program_name".to_string(), p.clone()))
                    .collect();
                let client = Client { user, host, db: db.as_deref(), attributes: &attributes };
                if b.matches(&client) {
                    prop_assert!(
                        a.matches(&client),
                        "{} covers {}, but only the latter matches {:?}", a, b, client
                    );
                }
            }
        }
    }
}

/// Client-host patterns: CIDRs of both families (with IPv4-mapped IPv6), exact addresses
/// and globs. Exact ones are also session hosts, so coverage claims get tested.
const HOST_PATTERNS: [&str; 11] = [
    "10.0.0.0/8",
    "10.1.2.3",
    "0.0.0.0/0",
    "::/0",
    "::ffff:0:0/96",
    "::ffff:10.1.2.3",
    "fd00::/8",
    "fd00::1",
    "10.*",
    "*",
    "localhost",
];

/// Every pair of host patterns against every session host: when one covers the other
/// (which makes the later pool a config error), it must match whatever the other matches.
#[test]

fn host_coverage_is_sound_exhaustively() {
    let hosts = [
        "10.1.2.3",
        "10.9.9.9",
        "192.168.1.1",
        "::ffff:10.1.2.3",
        "::ffff:192.168.1.1",
        "fd00::1",
        "[fd00::1]",
        "::1",
        "localhost",
        "",
    ];
    let m = |h: &str| Matcher::compile(&spec(None, Some(h.to_string()), None)).unwrap();
    let mut wrong = Vec::new();
    for a in HOST_PATTERNS {
        for b in HOST_PATTERNS {
            if !m(a).covers(&m(b)) {
                continue;
            }
            for h in hosts {
                if m(b).matches(&Client::new("u", h, None))
                    && !m(a).matches(&Client::new("u", h, None))
                {
                    wrong.push(format!("{a} covers {b}, but only {b} matches host {h:?}"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

fn check_glob(name: &str, pattern: &str) -> Result<(), TestCaseError> {
    let m = Matcher::compile(&spec(Some(pattern.to_string()), None, None))
        .map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
    prop_assert!(
        m.matches(&Client::new(name, "h", None)),
        "{:?} does not match {:?}",
        pattern,
        name
    );
    Ok(())
}

fn host_pattern() -> impl Strategy<Value = String> {
    prop::sample::select(HOST_PATTERNS.to_vec()).prop_map(String::from)
}

fn session_host() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(
            HOST_PATTERNS
                .iter()
                .filter(|p| !p.contains(['/', '*']))
                .copied()
                .collect::<Vec<_>>()
        ),
        prop::sample::select(vec![
            "10.9.9.9",
            "192.168.1.1",
            "::ffff:192.168.1.1",
            "[fd00::1]",
            "::1",
            ""
        ]),
    ]
    .prop_map(String::from)
}

// ---------------------------------------------------------------------------------------
// HTTP input
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn probe_target_never_panics(query in prop::option::of(any::<String>())) {
        match probe_target(query.as_deref()) {
            Ok(t) => prop_assert!(!t.is_empty()),
            Err(m) => prop_assert!(m.ends_with('\n') && m.len() > 1),
        }
    }

    /// `?target=` + the percent-encoded name, among other parameters, gives the name back.
    #[test]
    fn probe_target_round_trips(
        name in any::<String>(),
        before in "([a-z]{1,5}=[a-z0-9%]{0,5}&){0,3}",
        after in "(&[a-z]{1,5}=[a-z0-9]{0,5}){0,3}",
    ) {
        prop_assume!(!before.contains("target=") && !after.contains("target="));
        let q = format!("{before}target={}{after}", utf8_percent_encode(&name, NON_ALPHANUMERIC));
        let got = probe_target(Some(&q));
        if name.is_empty() {
            prop_assert!(got.is_err());
        } else {
            prop_assert_eq!(got, Ok(name));
        }
    }

    /// Whatever the scrape-timeout header says, the deadline is not in the past and at
    /// most an hour away.
    #[test]
    fn scrape_deadline_is_bounded(header in timeout_header()) {
        let now = Instant::now();
        let value = HeaderValue::from_bytes(&header).ok();
        let deadline = scrape_deadline(value.as_ref(), now);
        prop_assert!(deadline >= now);
        prop_assert!(deadline <= now + Duration::from_secs(3600));
    }

    /// ... and strictly in the future: a scrape always gets some time.
    #[test]

    fn scrape_deadline_is_in_the_future(header in timeout_header()) {
        let now = Instant::now();
        let value = HeaderValue::from_bytes(&header).ok();
        let deadline = scrape_deadline(value.as_ref(), now);
        prop_assert!(deadline > now, "header {:?}: the deadline is now", String::from_utf8_lossy(&header));
    }
}

fn timeout_header() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..24),
        any::<f64>().prop_map(|f| f.to_string().into_bytes()),
        (0u32..20).prop_map(|e| format!("1e-{e}").into_bytes()),
        "[ +-]?[0-9]{0,6}(\\.[0-9]{0,12})?([eE][+-]?[0-9]{1,3})? ?".prop_map(String::into_bytes),
    ]
}

// ---------------------------------------------------------------------------------------
// The check report
// ---------------------------------------------------------------------------------------

fn session_row() -> impl Strategy<Value = SessionRow> {
    (
        (
            any::<u64>(),
            prop_oneof![label_text(), Just("kefu".to_string())],
            prop_oneof![
                (any::<Ipv4Addr>(), any::<u16>()).prop_map(|(ip, p)| format!("{ip}:{p}")),
                (any::<Ipv6Addr>(), any::<u16>()).prop_map(|(ip, p)| format!("{ip}:{p}")),
                label_text(),
            ],
            prop::option::of(label_text()),
            command(),
            any::<u64>(),
        ),
        (
            label_text(),
            prop::option::of(prop_oneof![
                nasty_text(),
                // Statements are long (up to 300 characters) and anything but ASCII.
                "[a-zA-Z0-9 \n\t'\"éü中ユ😀]{100,300}",
            ]),
            prop::option::of(prop_oneof![
                Just("RUNNING".to_string()),
                Just("LOCK WAIT".to_string()),
                label_text()
            ]),
            prop::option::of(any::<u64>()),
            prop::option::of(label_text()),
            any::<u64>(),
        ),
    )
        .prop_map(
            |(
                (id, user, host, db, command, time),
                (state, info, trx_state, trx_age, trx_started, locked),
            )| {
                SessionRow {
                    id,
                    user,
                    host,
                    db,
                    command,
                    time,
                    state,
                    info,
                    trx_state,
                    trx_age,
                    trx_started,
                    trx_rows_locked: locked,
                    thread_id: None,
                    attributes: Vec::new(),
                }
            },
        )
}

fn outcome<T: std::fmt::Debug + Clone>(
    ok: impl Strategy<Value = T>,
) -> impl Strategy<Value = Outcome<T>> {
    prop_oneof![
        6 => ok.prop_map(Outcome::Ok),
        1 => Just(Outcome::NotRequested),
        1 => label_text().prop_map(|t| Outcome::Failed(Reason::new(ReasonKind::Network, t))),
        1 => label_text().prop_map(|t| Outcome::Skipped(Reason::new(ReasonKind::Unavailable, t))),
    ]
}

fn report_config() -> Config {
    config::parse(
        "targets: [{name: t, dsn: 'mysql://u@h'}]\n\
         pools:\n\
         - {name: kefu-flask, match: {user: kefu, client_host: 10.0.0.0/8}, size: 15, max_overflow: 30, processes: 4}\n\
         - {name: v6, match: {client_host: '::/0'}, size: 1}\n\
         - {name: globbed, match: {user: '*', db: '?*'}, size: 2}\n",
        Path::new("."),
        &no_env,
    )
    .unwrap()
}

fn status_rows() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(
        (
            prop_oneof![
                Just("Threads_connected".to_string()),
                Just("max_connections".to_string()),
                label_text(),
            ],
            prop_oneof![
                any::<u64>().prop_map(|v| v.to_string()),
                any::<f64>().prop_map(|v| v.to_string()),
                Just("-5".to_string()),
                Just("1e400".to_string()),
                Just("0".to_string()),
                label_text(),
            ],
        ),
        0..4,
    )
}

proptest! {
    #![proptest_config(cases(128))]

    #[test]
    fn the_check_report_never_panics(
        sessions in outcome(prop::collection::vec(session_row(), 0..16)),
        groups in outcome(prop::collection::vec(row(), 0..8)),
        waits in outcome(prop::collection::vec((0u64..20, 0u64..20, 0u64..100).prop_map(|(waiting, blocking, wait_seconds)| LockWait { waiting, blocking, wait_seconds, ..LockWait::default() }), 0..12)),
        status in outcome(status_rows()),
        variables in outcome(status_rows()),
        up in any::<bool>(),
        iit in any::<u32>(),
        lq in any::<u32>(),
    ) {
        let mut snap = if up {
            Snapshot::up(ServerInfo { flavor: Flavor::MySql, version: "8.4.3".into(), version_comment: String::new(), connection_id: 1, capabilities: Default::default(), identity: Default::default(), run: 0 })
        } else {
            Snapshot::down(Reason::new(ReasonKind::Network, "connection refused"))
        };
        snap.sessions = sessions;
        snap.threads = match groups {
            Outcome::Ok(rows) => Outcome::Ok(rows.iter().map(Row::group).collect::<Vec<ThreadGroup>>()),
            Outcome::Failed(r) => Outcome::Failed(r),
            Outcome::Skipped(r) => Outcome::Skipped(r),
            Outcome::NotRequested => Outcome::NotRequested,
        };
        snap.lock_waits = waits;
        snap.global_status = status;
        snap.global_variables = variables;
        let config = report_config();
        let t = Thresholds {
            idle_in_transaction: Duration::from_secs(iit.into()),
            long_query: Duration::from_secs(lq.into()),
            ..config.thresholds
        };
        // The verdict reads the detailed session list only; Threads is the scrapes' fold.
        let has_data = snap.sessions.ok().is_some();
        let r = target_report("t", &snap, &config.pools, &t, None);
        prop_assert_eq!(r.status == Status::Unknown, !has_data);
        if has_data {
            prop_assert_eq!(r.pools.len(), config.pools.len());
        }
        if r.status != Status::Ok {
            prop_assert!(!r.findings.is_empty());
        }
        for p in &r.pools {
            prop_assert!(p.utilization.is_finite() && p.open_ratio.is_finite());
            prop_assert!(p.held <= p.open);
        }
        // A waiter is never named as a blocker.
        if let Outcome::Ok(w) = &snap.lock_waits {
            for b in &r.root_blockers {
                prop_assert!(!w.iter().any(|e| e.waiting == b.session.id), "{} waits", b.session.id);
            }
        }
        for f in &r.findings {
            prop_assert!(f.culprits.len() <= WORST_SESSIONS);
        }
        let line = headline(std::slice::from_ref(&r));
        prop_assert!(line.starts_with(&format!("MYSQL POOL {} - ", r.status.label())), "{}", line);
        prop_assert!(!line.contains('\n') && !line.contains('|'), "{}", line);
        serde_json::to_string(&r).map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
}

// ---------------------------------------------------------------------------------------
// The fuzz targets' seed corpus, replayed on stable
// ---------------------------------------------------------------------------------------

type FuzzBody = fn(&[u8]);

#[test]
fn fuzz_seed_corpus_replays() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let bodies: [(&str, FuzzBody); 3] = [
        ("config_parse", fuzz_bodies::config_parse),
        ("dsn", fuzz_bodies::dsn),
        ("exposition", fuzz_bodies::exposition),
    ];
    let mut failures = Vec::new();
    let mut seen = BTreeMap::new();
    for (target, body) in bodies {
        let dir = corpus.join(target);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no seeds in {}", dir.display());
        seen.insert(target, files.len());
        for f in files {
            let data = std::fs::read(&f).unwrap();
            if let Err(e) = std::panic::catch_unwind(|| body(&data)) {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(format!(
                    "{}: {}",
                    f.display(),
                    msg.lines().next().unwrap_or("")
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "seeds that fail:\n{}",
        failures.join("\n")
    );
    eprintln!("replayed seeds: {seen:?}");
}
