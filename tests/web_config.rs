//! `--web.config.file`: TLS (rustls) and basic auth, exporter-toolkit format, against the real
//! binary. No MySQL is needed: the target points at a closed port, so `/metrics` answers with
//! `mysql_up 0`. Certificates are made here with rcgen, into a scratch directory; no key is
//! ever committed.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use common::{free_port, parse_response, Response};

const PASSWORD: &str = "c0rrect-h0rse";
const DSN: &str = "mysql://u@127.0.0.1:1";

/// A scratch directory under `target/tmp`, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "web-config-{name}-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------------------------
// Test PKI, made at test time

struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// (certificate PEM, key PEM) of a leaf signed by this CA.
    fn leaf(&self, names: &[&str], usage: ExtendedKeyUsagePurpose) -> (String, String) {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name.push(DnType::CommonName, names[0]);
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// A CA, a server certificate for localhost/127.0.0.1, a client CA and a client certificate,
/// written into `dir` as the web config will name them (relative paths).
struct Pki {
    ca: Ca,
    client: (String, String),
}

impl Pki {
    fn write(dir: &Scratch) -> Pki {
        let ca = Ca::new("test server CA");
        let (cert, key) = ca.leaf(
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        dir.write("ca.crt", &ca.pem);
        dir.write("server.crt", &cert);
        dir.write("server.key", &key);
        let client_ca = Ca::new("test client CA");
        let client = client_ca.leaf(&["scraper"], ExtendedKeyUsagePurpose::ClientAuth);
        dir.write("client-ca.crt", &client_ca.pem);
        Pki { ca, client }
    }
}

// ---------------------------------------------------------------------------------------------
// Clients

/// GET `path` over `stream` (HTTP/1.1, Connection: close), with basic auth if given.
fn get<S: Read + Write>(
    mut stream: S,
    port: u16,
    path: &str,
    auth: Option<(&str, &str)>,
) -> std::io::Result<Response> {
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n");
    if let Some((user, password)) = auth {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        req += &format!("Authorization: Basic {token}\r\n");
    }
    req += "\r\n";
    stream.write_all(req.as_bytes())?;
    stream.flush()?;
    let mut raw = Vec::new();
    match stream.read_to_end(&mut raw) {
        Ok(_) => {}
        // A peer that closes without close_notify: what arrived is still the answer.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => return Err(e),
    }
    if raw.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "no answer",
        ));
    }
    Ok(parse_response(&raw))
}

fn tcp(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the exporter");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

/// A rustls client (ring provider) trusting `ca_pem`, with an optional client certificate.
struct TlsClient {
    config: Arc<rustls::ClientConfig>,
}

impl TlsClient {
    fn new(ca_pem: &str, client: Option<&(String, String)>) -> TlsClient {
        Self::with_versions(ca_pem, client, rustls::DEFAULT_VERSIONS)
    }

    fn with_versions(
        ca_pem: &str,
        client: Option<&(String, String)>,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> TlsClient {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots);
        let config = match client {
            Some((cert, key)) => builder
                .with_client_auth_cert(
                    CertificateDer::pem_slice_iter(cert.as_bytes())
                        .collect::<Result<Vec<_>, _>>()
                        .unwrap(),
                    PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
                )
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        TlsClient {
            config: Arc::new(config),
        }
    }

    /// The TLS handshake alone; `Err` with rustls' reason when it fails.
    fn handshake(&self, port: u16) -> Result<(), String> {
        let mut sock = tcp(port);
        let mut conn = self.connection();
        while conn.is_handshaking() {
            conn.complete_io(&mut sock).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn get(&self, port: u16, path: &str, auth: Option<(&str, &str)>) -> Result<Response, String> {
        let stream = rustls::StreamOwned::new(self.connection(), tcp(port));
        get(stream, port, path, auth).map_err(|e| e.to_string())
    }

    fn connection(&self) -> rustls::ClientConnection {
        rustls::ClientConnection::new(
            Arc::clone(&self.config),
            ServerName::try_from("localhost").unwrap(),
        )
        .unwrap()
    }
}

// ---------------------------------------------------------------------------------------------
// The exporter

struct Exporter {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Exporter {
    /// Starts the binary with `args` on a free port and waits until it listens.
    fn start(dir: &Scratch, args: &[&str]) -> Exporter {
        let port = free_port();
        let log = dir.0.join(format!("exporter-{port}.log"));
        let child = exporter_command(args)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
            .spawn()
            .expect("start the exporter");
        let mut e = Exporter { child, port, log };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = e.child.try_wait() {
                panic!("the exporter exited ({status}): {}", e.log());
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the exporter did not listen: {}",
                e.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        e
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn exporter_command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mysql_pool_exporter"));
    cmd.args(["--mysql.dsn", DSN])
        .args(args)
        .env_remove("MYSQL_DSN")
        .env_remove("MYSQL_PASSWORD")
        .stdin(Stdio::null());
    cmd
}

/// Runs the exporter expecting it to refuse its config: (exit code, the `error:` line).
fn refused(web_config: &Path) -> (i32, String) {
    let port = free_port();
    let mut child = exporter_command(&[
        "--web.config.file",
        web_config.to_str().unwrap(),
        &format!("--web.listen-address=127.0.0.1:{port}"),
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the exporter accepted {}", web_config.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no `error:` line in: {stderr}"))
        .to_string();
    (status.code().unwrap_or(-1), line)
}

fn hash(password: &str) -> String {
    // Cost 4 keeps the debug-built test fast; `$2y$` as `htpasswd -B` writes it.
    bcrypt::hash_with_result(password, 4)
        .unwrap()
        .format_for_version(bcrypt::Version::TwoY)
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn tls_with_basic_auth() {
    let dir = Scratch::new("tls-auth");
    let pki = Pki::write(&dir);
    // Relative paths: resolved against the web config's directory, not the working directory.
    let web = dir.write(
        "web.yml",
        &format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS12\n\
             basic_auth_users:\n  alice: {}\n  bob: {}\n\
             http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n",
            hash(PASSWORD),
            hash("bobs-password")
        ),
    );
    let e = Exporter::start(
        &dir,
        &[
            "--web.config.file",
            web.to_str().unwrap(),
            "--log.level=debug",
        ],
    );
    let client = TlsClient::new(&pki.ca.pem, None);

    // Handshake with the test CA, then 200 with credentials.
    client.handshake(e.port).expect("TLS handshake");
    let r = client
        .get(e.port, "/metrics", Some(("alice", PASSWORD)))
        .unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.body
            .lines()
            .any(|l| l == "mysql_up 0.0" || l == "mysql_up 0"),
        "{}",
        r.body
    );
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    // Again: the remembered login answers the same.
    let r = client
        .get(e.port, "/-/healthy", Some(("alice", PASSWORD)))
        .unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, "Healthy\n"));
    let r = client
        .get(e.port, "/-/healthy", Some(("bob", "bobs-password")))
        .unwrap();
    assert_eq!(r.status, 200);

    // 401 without credentials, with a wrong password, an unknown user or another scheme;
    // every path needs auth, /-/healthy too.
    for (path, auth) in [
        ("/metrics", None),
        ("/-/healthy", None),
        ("/", None),
        ("/nowhere", None),
        ("/metrics", Some(("alice", "wrong"))),
        ("/metrics", Some(("alice", ""))),
        ("/metrics", Some(("bob", PASSWORD))),
        ("/metrics", Some(("mallory", PASSWORD))),
    ] {
        let r = client.get(e.port, path, auth).unwrap();
        assert_eq!(r.status, 401, "{path} {auth:?}: {r:?}");
        assert_eq!(
            r.header("www-authenticate"),
            Some("Basic realm=\"mysql_pool_exporter\""),
            "{r:?}"
        );
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert!(!r.body.contains("mysql_up"));
    }
    let mut raw = rustls::StreamOwned::new(client.connection(), tcp(e.port));
    raw.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer abc\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = raw.read_to_end(&mut answer);
    assert_eq!(parse_response(&answer).status, 401);

    // Plain HTTP on the TLS port: no metrics, a 400 that says to use https.
    let r = get(tcp(e.port), e.port, "/metrics", Some(("alice", PASSWORD))).unwrap();
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.body.contains("HTTPS server: use https://"), "{r:?}");

    // A client that does not trust the exporter's CA fails the handshake.
    let stranger = TlsClient::new(&Ca::new("some other CA").pem, None);
    let err = stranger.handshake(e.port).unwrap_err();
    assert!(err.contains("UnknownIssuer"), "{err}");
    assert!(stranger
        .get(e.port, "/metrics", Some(("alice", PASSWORD)))
        .is_err());

    // A silent client does not hold up anyone else: the handshake runs per connection.
    let _silent = tcp(e.port);
    let r = client
        .get(e.port, "/-/healthy", Some(("alice", PASSWORD)))
        .unwrap();
    assert_eq!(r.status, 200);

    // Nothing secret in the log, even at debug level.
    let log = e.log();
    assert!(log.contains("basic auth (2 users)"), "{log}");
    let token = base64::engine::general_purpose::STANDARD.encode(format!("alice:{PASSWORD}"));
    for secret in [
        PASSWORD,
        "bobs-password",
        token.as_str(),
        "$2y$",
        "Authorization",
    ] {
        assert!(!log.contains(secret), "`{secret}` in the log:\n{log}");
    }
}

#[test]
fn mutual_tls_requires_a_client_certificate_from_the_client_ca() {
    let dir = Scratch::new("mtls");
    let pki = Pki::write(&dir);
    let web = dir.write(
        "web.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
         client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: client-ca.crt\n",
    );
    let e = Exporter::start(&dir, &["--web.config.file", web.to_str().unwrap()]);

    let with_cert = TlsClient::new(&pki.ca.pem, Some(&pki.client));
    let r = with_cert.get(e.port, "/metrics", None).unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("mysql_up"), "{}", r.body);

    let without = TlsClient::new(&pki.ca.pem, None);
    let err = without.get(e.port, "/metrics", None).unwrap_err();
    assert!(err.contains("CertificateRequired"), "{err}");

    // A certificate from a CA the exporter does not know is refused too.
    let other = Ca::new("rogue client CA").leaf(&["rogue"], ExtendedKeyUsagePurpose::ClientAuth);
    let rogue = TlsClient::new(&pki.ca.pem, Some(&other));
    let err = rogue.get(e.port, "/metrics", None).unwrap_err();
    assert!(
        err.contains("UnknownCA") || err.contains("BadCertificate"),
        "{err}"
    );
}

#[test]
fn min_version_tls13_refuses_a_tls12_client() {
    let dir = Scratch::new("tls13");
    let pki = Pki::write(&dir);
    let web = dir.write(
        "web.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS13\n",
    );
    let e = Exporter::start(&dir, &["--web.config.file", web.to_str().unwrap()]);
    let tls12 = TlsClient::with_versions(&pki.ca.pem, None, &[&rustls::version::TLS12]);
    let err = tls12.handshake(e.port).unwrap_err();
    assert!(err.contains("ProtocolVersion"), "{err}");
    let tls13 = TlsClient::with_versions(&pki.ca.pem, None, &[&rustls::version::TLS13]);
    assert_eq!(tls13.get(e.port, "/-/healthy", None).unwrap().status, 200);
}

#[test]
fn without_the_flag_nothing_changes() {
    let dir = Scratch::new("plain");
    let e = Exporter::start(&dir, &[]);
    let r = get(tcp(e.port), e.port, "/-/healthy", None).unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, "Healthy\n"));
    assert_eq!(r.header("www-authenticate"), None);
    let r = get(tcp(e.port), e.port, "/metrics", None).unwrap();
    assert_eq!(r.status, 200);
    assert!(r.body.contains("mysql_up"));
    assert!(
        e.log().contains("web=\"plain http, no auth\""),
        "{}",
        e.log()
    );
}

#[test]
fn basic_auth_without_tls_and_an_empty_file() {
    let dir = Scratch::new("auth-only");
    let web = dir.write(
        "web.yml",
        &format!("basic_auth_users:\n  alice: {}\n", hash(PASSWORD)),
    );
    let e = Exporter::start(&dir, &["--web.config.file", web.to_str().unwrap()]);
    let r = get(tcp(e.port), e.port, "/-/ready", None).unwrap();
    assert_eq!(r.status, 401);
    let r = get(tcp(e.port), e.port, "/metrics", Some(("alice", PASSWORD))).unwrap();
    assert_eq!(r.status, 200);

    // An empty web config, as in the exporter-toolkit: plain HTTP, no auth.
    let empty = dir.write("empty.yml", "# nothing yet\n");
    let e = Exporter::start(&dir, &["--web.config.file", empty.to_str().unwrap()]);
    let r = get(tcp(e.port), e.port, "/-/healthy", None).unwrap();
    assert_eq!(r.status, 200);
}

#[test]
fn bad_web_configs_are_refused_with_the_field_and_the_fix() {
    let dir = Scratch::new("bad");
    Pki::write(&dir);
    let d = dir.0.display().to_string();
    let cases: Vec<(&str, String, String)> = vec![
        (
            "missing-cert.yml",
            "tls_server_config:\n  cert_file: missing.crt\n  key_file: server.key\n".into(),
            format!("error: {d}/missing-cert.yml:2: tls_server_config.cert_file: cannot read `{d}/missing.crt`: No such file or directory (os error 2)"),
        ),
        (
            "unknown-field.yml",
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_ca_fle: ca.crt\n".into(),
            format!("error: {d}/unknown-field.yml:4: tls_server_config.client_ca_fle: unknown field `client_ca_fle`, expected one of cert_file, key_file, cert, key, client_auth_type, client_ca_file, client_ca, min_version, max_version, prefer_server_cipher_suites, cipher_suites, curve_preferences, client_allowed_sans"),
        ),
        (
            "plain-password.yml",
            "basic_auth_users:\n  alice: hunter2-in-clear\n".into(),
            format!("error: {d}/plain-password.yml:2: basic_auth_users.alice: is not a bcrypt hash (`$2y$`, `$2b$` or `$2a$`, cost, 53 characters); make one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'` and paste it here"),
        ),
        (
            "cipher-suites.yml",
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  cipher_suites:\n    - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n".into(),
            format!("error: {d}/cipher-suites.yml:5: tls_server_config.cipher_suites: is not supported by this exporter: rustls offers only modern AEAD cipher suites and picks among them; remove it"),
        ),
        (
            "key-is-cert.yml",
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.crt\n".into(),
            format!("error: {d}/key-is-cert.yml:3: tls_server_config.key_file: no `BEGIN PRIVATE KEY` (or RSA/EC PRIVATE KEY) section in `{d}/server.crt`; give the PEM private key of the certificate"),
        ),
        (
            "ca-without-auth.yml",
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_ca_file: client-ca.crt\n".into(),
            format!("error: {d}/ca-without-auth.yml:4: tls_server_config.client_ca_file: client CAs are given but client_auth_type is NoClientCert; set client_auth_type: RequireAndVerifyClientCert (or VerifyClientCertIfGiven), or remove the client CAs"),
        ),
        (
            "old-tls.yml",
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS10\n".into(),
            format!("error: {d}/old-tls.yml:4: tls_server_config.min_version: `TLS10` is not supported (TLS 1.0 and 1.1 are insecure); use TLS12 or TLS13"),
        ),
    ];
    for (name, text, expected) in cases {
        let path = dir.write(name, &text);
        let (code, line) = refused(&path);
        assert_eq!(code, 1, "{name}: {line}");
        assert_eq!(line, expected, "{name}");
        assert!(!line.contains("hunter2"), "{line}");
    }
    // The key of a different certificate.
    let (_, other_key) = Ca::new("x").leaf(&["localhost"], ExtendedKeyUsagePurpose::ServerAuth);
    dir.write("other.key", &other_key);
    let path = dir.write(
        "wrong-key.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: other.key\n",
    );
    let (code, line) = refused(&path);
    assert_eq!(code, 1);
    assert!(
        line.starts_with(&format!(
            "error: {d}/wrong-key.yml:3: tls_server_config.key_file: `{d}/other.key` cannot be used with the certificate in `{d}/server.crt`"
        )),
        "{line}"
    );
    // A web config file that is not there.
    let (code, line) = refused(&dir.0.join("nope.yml"));
    assert_eq!(code, 1);
    assert_eq!(
        line,
        format!("error: {d}/nope.yml: cannot read the web config file: No such file or directory (os error 2); fix the path given to --web.config.file")
    );
}

#[test]
fn a_silent_client_is_dropped_after_the_handshake_timeout() {
    let dir = Scratch::new("slow");
    Pki::write(&dir);
    let web = dir.write(
        "web.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
    );
    let e = Exporter::start(&dir, &["--web.config.file", web.to_str().unwrap()]);
    // One client says nothing, one starts a TLS record and stalls.
    let mut silent = tcp(e.port);
    let mut stalled = tcp(e.port);
    stalled.write_all(&[0x16, 0x03, 0x01]).unwrap();
    let started = Instant::now();
    for s in [&mut silent, &mut stalled] {
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).unwrap_or(0);
        assert_eq!(n, 0, "expected the exporter to hang up");
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(9) && waited < Duration::from_secs(20),
        "{waited:?}"
    );
}
