//! TLS to MySQL: the five `tls.mode`s against real MariaDB / Oracle MySQL servers with a
//! test CA.
//!
//! The CA and the server certificates are made here with rcgen (ECDSA P-256); the CA's key
//! never touches the disk, and the servers' keys are deleted as soon as the server has read
//! them.
//! Whether the exporter's session is encrypted is asked of the server itself:
//! `performance_schema.threads.CONNECTION_TYPE` is `SSL/TLS` or `TCP/IP`.
//!
//! Servers (each started once, shared by the tests of this file):
//! - `tls`: TLS with a certificate for `localhost` and `127.0.0.1`, plain TCP allowed too;
//! - `strict`: TLS only (`require_secure_transport`), certificate for `*.db.example.internal`
//!   and 10.99.99.99, so connecting by 127.0.0.1 is a host name mismatch;
//! - `plain`: no TLS at all.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{om, scratch, Exporter, Server, EXPORTER_PASSWORD};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// A CA that lives in memory only.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let pem = params.self_signed(&key).unwrap().pem();
        Ca {
            pem,
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `names` (DNS names or IP addresses): (cert PEM, key PEM).
    fn server_cert(&self, names: &[&str]) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "mariadb under test");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// The test CA (signs every server certificate) and a CA nobody uses.
fn cas() -> &'static (Ca, Ca) {
    static CAS: OnceLock<(Ca, Ca)> = OnceLock::new();
    CAS.get_or_init(|| {
        (
            Ca::new("mysql_pool_exporter test CA"),
            Ca::new("some other CA"),
        )
    })
}

/// A directory removed when the test ends (also when it panics).
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        TempDir(scratch(name))
    }
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A server with a certificate for `names`; the key file is gone once the server runs.
fn tls_db(names: &[&str], extra: &[&str]) -> Server {
    let (ca, _) = cas();
    let (cert, key) = ca.server_cert(names);
    // Where the server can read them: MySQL runs in a chroot.
    let (dir, named) = common::server_scratch("server-cert");
    let dir = TempDir(dir);
    dir.write("ca.pem", &ca.pem);
    dir.write("server.pem", &cert);
    dir.write("server-key.pem", &key);
    let args = [
        format!("--ssl-ca={named}/ca.pem"),
        format!("--ssl-cert={named}/server.pem"),
        format!("--ssl-key={named}/server-key.pem"),
    ];
    let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
    all.extend(extra);
    let db = Server::start(&all);
    drop(dir);
    assert!(
        db.offers_tls(),
        "{} did not take the test certificate:\n{}",
        db.name(),
        std::fs::read_to_string(db.dir.join("error.log")).unwrap_or_default()
    );
    db
}

fn tls_server() -> &'static Server {
    static DB: OnceLock<Server> = OnceLock::new();
    DB.get_or_init(|| tls_db(&["localhost", "127.0.0.1"], &[]))
}

fn strict_server() -> &'static Server {
    static DB: OnceLock<Server> = OnceLock::new();
    DB.get_or_init(|| {
        tls_db(
            &["*.db.example.internal", "10.99.99.99"],
            &["--require-secure-transport=ON"],
        )
    })
}

fn plain_server() -> &'static Server {
    static DB: OnceLock<Server> = OnceLock::new();
    DB.get_or_init(|| {
        // MariaDB: --skip-ssl. MySQL makes its own certificates; no TLS version turns TLS off.
        let no_tls = match common::flavor() {
            common::Flavor::MariaDb => "--skip-ssl",
            common::Flavor::MySql => "--tls-version=",
        };
        let db = Server::start(&[no_tls]);
        assert!(!db.offers_tls());
        db
    })
}

/// An exporter account of its own per test, so each test finds its own session on a
/// shared server.
fn account(db: &Server, user: &str) {
    db.sql(&format!(
        "CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY '{EXPORTER_PASSWORD}';
         GRANT PROCESS, REPLICATION CLIENT{} ON *.* TO '{user}'@'%';
         GRANT SELECT ON performance_schema.* TO '{user}'@'%';",
        db.replica_monitor_grant()
    ));
}

/// A one-target config; `tls` is the YAML of the `tls` field, or "" for the default.
fn config(db: &Server, user: &str, host: &str, tls: &str) -> String {
    account(db, user);
    let tls = if tls.is_empty() {
        String::new()
    } else {
        format!("    tls: {tls}\n")
    };
    format!(
        "targets:\n  - name: primary\n    dsn: mysql://{user}@{host}:{}\n    password_file: {{password_file}}\n    connect_timeout: 10s\n{tls}",
        db.port
    )
}

/// How the server sees `user`'s one session: (`CONNECTION_TYPE`, `Ssl_version`).
fn session_transport(db: &Server, user: &str) -> (String, String) {
    let rows = db.sql(&format!(
        "SELECT t.CONNECTION_TYPE, IFNULL(s.VARIABLE_VALUE, '')
           FROM performance_schema.threads t
           LEFT JOIN performance_schema.status_by_thread s
             ON s.THREAD_ID = t.THREAD_ID AND s.VARIABLE_NAME = 'Ssl_version'
          WHERE t.PROCESSLIST_USER = '{user}'"
    ));
    let lines: Vec<&str> = rows.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one session of {user}, the server has: {rows:?}"
    );
    let (kind, version) = lines[0].split_once('\t').unwrap();
    (kind.to_string(), version.to_string())
}

/// Serves `config`, scrapes once and returns the exporter and `mysql_up`.
fn serve(config: &str) -> (Exporter, f64) {
    let e = Exporter::start(config, &[]);
    let up = om::get(&e.scrape(), "mysql_up", &[]).expect("mysql_up");
    assert!(!e.log().contains("panicked"), "{}", e.log());
    (e, up)
}

/// Serves `config` and asserts the exporter is up over an encrypted (or plain) session.
fn assert_serves(db: &Server, user: &str, config: &str, encrypted: bool) {
    let (e, up) = serve(config);
    assert_eq!(up, 1.0, "mysql_up is not 1:\n{}", e.log());
    let (kind, version) = session_transport(db, user);
    if encrypted {
        assert_eq!(kind, "SSL/TLS", "the exporter's session is not encrypted");
        assert!(version.starts_with("TLSv1."), "Ssl_version {version:?}");
    } else {
        assert_eq!(kind, "TCP/IP", "the exporter's session is encrypted");
        assert_eq!(version, "");
    }
}

/// `mysql_pool_exporter check` on `config`: (exit code, stdout + stderr).
fn check(config: &str) -> (i32, String) {
    let dir = TempDir::new("tls-check");
    let pw = dir.write("password", &format!("{EXPORTER_PASSWORD}\n"));
    let cfg = dir.write(
        "config.yml",
        &config.replace("{password_file}", &pw.display().to_string()),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_mysql_pool_exporter"))
        .arg("check")
        .arg(format!("--config.file={}", cfg.display()))
        .env_remove("MYSQL_PASSWORD")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("panicked"), "{text}");
    assert!(!text.contains(EXPORTER_PASSWORD), "{text}");
    (out.status.code().unwrap_or(-1), text)
}

/// `check` fails with UNKNOWN (3) and says every one of `needles`.
fn assert_check_fails(config: &str, needles: &[&str]) -> String {
    let (code, text) = check(config);
    assert_eq!(code, 3, "check should say UNKNOWN (not reachable):\n{text}");
    for n in needles {
        assert!(text.contains(n), "`{n}` is missing from:\n{text}");
    }
    text
}

fn ca_file(dir: &TempDir, which: &Ca) -> PathBuf {
    dir.write("ca.pem", &which.pem)
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn disabled_stays_plain_even_when_the_server_offers_tls() {
    let db = tls_server();
    let cfg = config(db, "tls_disabled", "127.0.0.1", "{ mode: disabled }");
    assert_serves(db, "tls_disabled", &cfg, false);
}

#[test]
fn disabled_against_a_server_that_requires_tls_says_so() {
    let db = strict_server();
    let cfg = config(db, "tls_disabled_strict", "127.0.0.1", "{ mode: disabled }");
    // MariaDB says "access denied" (as for a wrong password): the exporter tries the login
    // over TLS to tell. MySQL says why itself (ER_SECURE_TRANSPORT_REQUIRED).
    let refusal: &[&str] = if db.is_mysql() {
        &["server error 3159", "insecure transport"]
    } else {
        &[
            "refused the login over plain TCP (server error 1045",
            "accepted the same login over TLS",
        ]
    };
    let mut needles = refusal.to_vec();
    needles.extend([
        "require_secure_transport",
        "tls.mode is disabled",
        "set tls.mode: preferred",
    ]);
    let text = assert_check_fails(&cfg, &needles);
    println!("check: {text}");
    // The serving exporter: mysql_up 0 and the same reason in its log.
    let (e, up) = serve(&cfg);
    assert_eq!(up, 0.0);
    assert!(
        e.log().contains("require_secure_transport") && e.log().contains("tls.mode is disabled"),
        "{}",
        e.log()
    );
}

#[test]
fn preferred_is_the_default_and_encrypts_when_the_server_offers_tls() {
    let db = tls_server();
    // No `tls` field at all: preferred. The certificate is not checked.
    assert_serves(
        db,
        "tls_default",
        &config(db, "tls_default", "127.0.0.1", ""),
        true,
    );
    assert_serves(
        db,
        "tls_preferred",
        &config(db, "tls_preferred", "127.0.0.1", "{ mode: preferred }"),
        true,
    );
}

#[test]
fn preferred_falls_back_to_plain_tcp_when_the_server_has_no_tls() {
    let db = plain_server();
    let cfg = config(
        db,
        "tls_preferred_plain",
        "127.0.0.1",
        "{ mode: preferred }",
    );
    assert_serves(db, "tls_preferred_plain", &cfg, false);
}

/// `preferred` against a server without TLS goes on in plain text on the TCP connection it
/// opened: the server counts one connection (`Connections`: attempts, failed or not) for a
/// `check`, not a TLS attempt and then a plain one. A server of its own, so that no other
/// test's connections are counted.
#[test]
fn preferred_costs_one_tcp_connection() {
    let no_tls = match common::flavor() {
        common::Flavor::MariaDb => "--skip-ssl",
        common::Flavor::MySql => "--tls-version=",
    };
    let db = Server::start(&[no_tls]);
    assert!(!db.offers_tls());
    let cfg = config(&db, "tls_one_connect", "127.0.0.1", "{ mode: preferred }");
    // Each count is a connection of its own (the mariadb client over the socket).
    let connections = || -> u64 {
        let row = db.sql("SHOW GLOBAL STATUS LIKE 'Connections'");
        let (_, n) = row.trim().split_once('\t').unwrap();
        n.parse().unwrap()
    };
    let before = connections();
    let (code, text) = check(&cfg);
    assert!(code < 3, "check could not reach the server:\n{text}");
    let after = connections();
    assert_eq!(
        after - before,
        2,
        "one connection for check and one for counting; more means a second TCP connect"
    );
}

#[test]
fn required_encrypts_without_checking_the_certificate() {
    // Unknown CA and a name that does not match: `required` does not care.
    let db = strict_server();
    let cfg = config(db, "tls_required", "127.0.0.1", "{ mode: required }");
    assert_serves(db, "tls_required", &cfg, true);
}

#[test]
fn every_tls_mode_but_preferred_fails_against_a_server_without_tls() {
    let db = plain_server();
    let dir = TempDir::new("tls-ca");
    let ca = path(&ca_file(&dir, &cas().0));
    for mode in ["required", "verify_ca", "verify_identity"] {
        let tls = if mode == "required" {
            format!("{{ mode: {mode} }}")
        } else {
            format!("{{ mode: {mode}, ca_file: {ca} }}")
        };
        let cfg = config(db, "tls_no_server_tls", "127.0.0.1", &tls);
        let text = assert_check_fails(
            &cfg,
            &[
                &format!("127.0.0.1:{} does not offer TLS", db.port),
                &format!("tls.mode is {mode}"),
                "set tls.mode: preferred",
            ],
        );
        println!("{mode}: {text}");
    }
}

#[test]
fn verify_ca_checks_the_chain_but_not_the_host_name() {
    let dir = TempDir::new("tls-ca");
    let ca = path(&ca_file(&dir, &cas().0));
    // The certificate names only *.db.example.internal and 10.99.99.99; we connect by
    // 127.0.0.1.
    let db = strict_server();
    let cfg = config(
        db,
        "tls_verify_ca",
        "127.0.0.1",
        &format!("{{ mode: verify_ca, ca_file: {ca} }}"),
    );
    assert_serves(db, "tls_verify_ca", &cfg, true);
    // And where the name matches too.
    let db = tls_server();
    let cfg = config(
        db,
        "tls_verify_ca_match",
        "127.0.0.1",
        &format!("{{ mode: verify_ca, ca_file: {ca} }}"),
    );
    assert_serves(db, "tls_verify_ca_match", &cfg, true);
}

#[test]
fn verify_ca_with_the_wrong_ca_names_the_ca_file() {
    let db = tls_server();
    let dir = TempDir::new("tls-other-ca");
    let other = ca_file(&dir, &cas().1);
    for mode in ["verify_ca", "verify_identity"] {
        let cfg = config(
            db,
            "tls_wrong_ca",
            "127.0.0.1",
            &format!("{{ mode: {mode}, ca_file: {} }}", path(&other)),
        );
        let text = assert_check_fails(
            &cfg,
            &[
                &format!(
                    "TLS certificate verification failed for 127.0.0.1:{}",
                    db.port
                ),
                &format!("not trusted by tls.ca_file {}", path(&other)),
                "UnknownIssuer",
                "check that ca_file holds the CA that signed the server's certificate",
                "tls.mode: required",
            ],
        );
        println!("{mode}: {text}");
    }
    // verify_ca leaves out the host name check only: a wrong CA with a wrong name still fails.
    let db = strict_server();
    let cfg = config(
        db,
        "tls_wrong_ca",
        "127.0.0.1",
        &format!("{{ mode: verify_ca, ca_file: {} }}", path(&other)),
    );
    assert_check_fails(
        &cfg,
        &[
            &format!("not trusted by tls.ca_file {}", path(&other)),
            "UnknownIssuer",
        ],
    );
    // Without ca_file the built-in public roots are used, which do not know the test CA.
    let db = tls_server();
    let cfg = config(db, "tls_wrong_ca", "127.0.0.1", "{ mode: verify_ca }");
    let text = assert_check_fails(
        &cfg,
        &[
            "not trusted by the built-in Mozilla root CAs (tls.ca_file is not set)",
            "set tls.ca_file to the CA that signed the server's certificate",
        ],
    );
    println!("no ca_file: {text}");
}

#[test]
fn verify_identity_checks_the_host_name() {
    let dir = TempDir::new("tls-ca");
    let ca = path(&ca_file(&dir, &cas().0));
    let tls = format!("{{ mode: verify_identity, ca_file: {ca} }}");
    let db = tls_server();
    // An IP address SAN and a DNS name SAN.
    assert_serves(
        db,
        "tls_identity_ip",
        &config(db, "tls_identity_ip", "127.0.0.1", &tls),
        true,
    );
    assert_serves(
        db,
        "tls_identity_dns",
        &config(db, "tls_identity_dns", "localhost", &tls),
        true,
    );
    // The certificate is for *.db.example.internal and 10.99.99.99; the DSN says 127.0.0.1.
    let db = strict_server();
    let cfg = config(db, "tls_identity_mismatch", "127.0.0.1", &tls);
    let text = assert_check_fails(
        &cfg,
        &[
            &format!(
                "TLS certificate verification failed for 127.0.0.1:{}",
                db.port
            ),
            "the certificate is for *.db.example.internal, 10.99.99.99, not for host `127.0.0.1`",
            "tls.mode: verify_ca",
        ],
    );
    println!("mismatch: {text}");
    let (e, up) = serve(&cfg);
    assert_eq!(up, 0.0);
    assert!(e.log().contains("not for host `127.0.0.1`"), "{}", e.log());
}

#[test]
fn a_bad_ca_file_is_a_config_error() {
    let dir = TempDir::new("tls-config");
    let key = KeyPair::generate().unwrap().serialize_pem();
    let cases: Vec<(&str, String, Vec<String>)> = vec![
        (
            "verify_ca",
            path(&dir.0.join("missing.pem")),
            vec!["cannot read".into(), "missing.pem".into()],
        ),
        (
            "verify_identity",
            path(&dir.write("garbage.pem", "not a certificate\n")),
            vec!["BEGIN CERTIFICATE".into(), "PEM".into()],
        ),
        (
            "verify_ca",
            path(&dir.write("key.pem", &key)),
            vec!["BEGIN CERTIFICATE".into()],
        ),
        (
            "verify_ca",
            path(&dir.write(
                "broken.pem",
                "-----BEGIN CERTIFICATE-----\nMIIB!!!\n-----END CERTIFICATE-----\n",
            )),
            vec!["not valid PEM".into()],
        ),
        (
            "required",
            path(&ca_file(&dir, &cas().0)),
            vec![
                "tls.mode is required, which does not check the server's certificate".into(),
                "set mode: verify_ca".into(),
            ],
        ),
    ];
    for (mode, file, needles) in cases {
        let cfg = dir.write(
            "config.yml",
            &format!(
                "targets:\n  - name: primary\n    dsn: mysql://exporter@127.0.0.1:3306\n    tls: {{ mode: {mode}, ca_file: {file} }}\n"
            ),
        );
        let out = Command::new(env!("CARGO_BIN_EXE_mysql_pool_exporter"))
            .args(["config", "check"])
            .arg(&cfg)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{mode} {file}: {err}");
        let prefix = format!("error: {}:2: targets[0].tls.ca_file: ", cfg.display());
        assert!(err.starts_with(&prefix), "{mode} {file}: {err}");
        for n in needles {
            assert!(err.contains(&n), "`{n}` missing: {err}");
        }
        println!("{}", err.trim_end());
    }
    // A good CA file is accepted, and shown.
    let good = path(&ca_file(&dir, &cas().0));
    let cfg = dir.write(
        "config.yml",
        &format!("targets:\n  - name: primary\n    dsn: mysql://exporter@127.0.0.1:3306\n    tls: {{ mode: verify_ca, ca_file: {good} }}\n"),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_mysql_pool_exporter"))
        .args(["config", "check"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!(
        "  tls:\n    mode: verify_ca\n    ca_file: {good}\n"
    )));
}
