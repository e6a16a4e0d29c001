//! `--web.config.file`: TLS and basic auth in the Prometheus exporter-toolkit format
//! (docs/web-config.md).
//!
//! The file is read once at startup. Unknown fields are refused, and so are the toolkit's
//! fields this exporter does not implement (`cipher_suites`, `rate_limit`, ...): silently
//! ignoring a security setting would be worse than refusing to start. Relative paths resolve
//! against the web config file's directory.
//!
//! TLS is rustls with the ring provider (the one provider in this binary). Basic auth checks
//! bcrypt hashes; a successful check is remembered as a keyed hash of (user, password), so a
//! scrape does not pay for a full bcrypt every time. bcrypt runs off the async workers, one
//! at a time, and an unknown user costs as much as a wrong password. Passwords and the
//! `Authorization` header are never logged.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::{Request, Response, StatusCode};
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion};
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_saphyr::Spanned;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::config::ConfigError;

/// A client has this long to finish the TLS handshake (slow or silent clients are dropped).
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The `WWW-Authenticate` answer to a request without valid credentials.
pub const WWW_AUTHENTICATE_VALUE: &str = "Basic realm=\"mysql_pool_exporter\"";
/// Remembered successful logins; the set is emptied when it is full.
const AUTH_CACHE_CAPACITY: usize = 1024;
/// What a plain-HTTP client on the TLS port gets (as Go's net/http answers it).
const PLAIN_HTTP_ANSWER: &[u8] = b"HTTP/1.0 400 Bad Request\r\n\
Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n\
Client sent an HTTP request to an HTTPS server: use https://\n";

/// The effective web config: what the HTTP server does before routing a request.
#[derive(Default)]
pub struct WebConfig {
    tls: Option<Tls>,
    auth: Option<BasicAuth>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

struct Tls {
    acceptor: TlsAcceptor,
    client_auth: ClientAuth,
}

impl WebConfig {
    /// Plain HTTP, no auth: what the exporter does without `--web.config.file`.
    pub fn none() -> Self {
        WebConfig::default()
    }

    /// The TLS acceptor, if the config turns TLS on.
    pub fn tls_acceptor(&self) -> Option<&TlsAcceptor> {
        self.tls.as_ref().map(|t| &t.acceptor)
    }

    /// One line for the startup log, e.g. `tls (client certificates required), basic auth (2 users)`.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        match &self.tls {
            Some(t) => parts.push(format!("tls ({})", t.client_auth.describe())),
            None => parts.push("plain http".to_string()),
        }
        match &self.auth {
            Some(a) => parts.push(match a.users.len() {
                1 => "basic auth (1 user)".to_string(),
                n => format!("basic auth ({n} users)"),
            }),
            None => parts.push("no auth".to_string()),
        }
        if !self.headers.is_empty() {
            parts.push(format!("{} extra headers", self.headers.len()));
        }
        parts.join(", ")
    }

    /// `Ok` when the request may pass, else the 401 to send. Every path needs auth, as in
    /// the exporter-toolkit.
    pub async fn authorize<B>(&self, req: &Request<B>) -> Result<(), Response<Full<Bytes>>> {
        let Some(auth) = &self.auth else {
            return Ok(());
        };
        if auth.check(req.headers().get(AUTHORIZATION)).await {
            Ok(())
        } else {
            tracing::debug!(path = %req.uri().path(), "unauthorized request (basic auth)");
            Err(unauthorized())
        }
    }

    /// Adds `http_server_config.headers` to a response.
    pub fn add_headers<B>(&self, resp: &mut Response<B>) {
        for (name, value) in &self.headers {
            resp.headers_mut().insert(name.clone(), value.clone());
        }
    }
}

/// The 401 answer.
pub fn unauthorized() -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from_static(b"Unauthorized\n")));
    *resp.status_mut() = StatusCode::UNAUTHORIZED;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static(WWW_AUTHENTICATE_VALUE),
    );
    resp
}

/// The TLS handshake of one connection, under [`TLS_HANDSHAKE_TIMEOUT`]. A plain-HTTP request
/// gets a 400 that says to use https. Run it in the connection's task, not the accept loop.
pub async fn handshake(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
) -> Result<TlsStream<TcpStream>, String> {
    let attempt = async move {
        let mut stream = stream;
        let mut first = [0u8; 1];
        let n = stream
            .peek(&mut first)
            .await
            .map_err(|e| format!("reading the TLS handshake: {e}"))?;
        if n == 0 {
            return Err("the client closed the connection before the TLS handshake".to_string());
        }
        // 0x16: a TLS handshake record. An ASCII letter: an HTTP method, i.e. plain HTTP.
        if first[0] != 0x16 {
            if first[0].is_ascii_uppercase() {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request).await;
                let _ = stream.write_all(PLAIN_HTTP_ANSWER).await;
                let _ = stream.shutdown().await;
                return Err("plain HTTP request on the TLS port (answered 400)".to_string());
            }
            return Err("the client did not start a TLS handshake".to_string());
        }
        acceptor
            .accept(stream)
            .await
            .map_err(|e| format!("TLS handshake failed: {e}"))
    };
    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, attempt).await {
        Ok(result) => result,
        Err(_) => Err(format!(
            "TLS handshake not finished within {} s",
            TLS_HANDSHAKE_TIMEOUT.as_secs()
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Basic auth

struct BasicAuth {
    /// user -> bcrypt hash (validated at load).
    users: BTreeMap<String, String>,
    /// Keys the remembered logins, so memory holds no plain or fast hash of a password.
    cache_key: ring::hmac::Key,
    cache: Mutex<HashSet<Vec<u8>>>,
    /// One bcrypt at a time: wrong passwords cannot take every core.
    bcrypt_gate: tokio::sync::Semaphore,
}

impl BasicAuth {
    fn new(users: BTreeMap<String, String>) -> Result<BasicAuth, String> {
        let rng = ring::rand::SystemRandom::new();
        let cache_key = ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &rng)
            .map_err(|_| "cannot get random bytes for the basic-auth cache".to_string())?;
        Ok(BasicAuth {
            users,
            cache_key,
            cache: Mutex::new(HashSet::new()),
            bcrypt_gate: tokio::sync::Semaphore::new(1),
        })
    }

    fn tag(&self, user: &str, password: &[u8]) -> Vec<u8> {
        let mut ctx = ring::hmac::Context::with_key(&self.cache_key);
        ctx.update(&(user.len() as u64).to_be_bytes());
        ctx.update(user.as_bytes());
        ctx.update(password);
        ctx.sign().as_ref().to_vec()
    }

    async fn check(&self, header: Option<&HeaderValue>) -> bool {
        let Some((user, password)) = header.and_then(parse_basic) else {
            return false;
        };
        let tag = self.tag(&user, &password);
        if self.cache.lock().is_ok_and(|c| c.contains(&tag)) {
            return true;
        }
        let (known, hash) = match self.users.get(&user) {
            Some(h) => (true, h.clone()),
            // An unknown user costs a bcrypt too, so timing does not tell which users exist.
            None => match self.users.values().next() {
                Some(h) => (false, h.clone()),
                None => return false,
            },
        };
        let Ok(_permit) = self.bcrypt_gate.acquire().await else {
            return false;
        };
        let matched =
            tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
                .await
                .unwrap_or(false);
        let ok = known && matched;
        if ok {
            if let Ok(mut cache) = self.cache.lock() {
                if cache.len() >= AUTH_CACHE_CAPACITY {
                    cache.clear();
                }
                cache.insert(tag);
            }
        }
        ok
    }

    #[cfg(test)]
    fn cached(&self) -> usize {
        self.cache.lock().map(|c| c.len()).unwrap_or(0)
    }
}

/// `Basic base64(user:password)` -> (user, password).
fn parse_basic(value: &HeaderValue) -> Option<(String, Vec<u8>)> {
    let value = value.to_str().ok()?.trim();
    let (scheme, credentials) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(credentials.trim())
        .ok()?;
    let colon = raw.iter().position(|b| *b == b':')?;
    let user = String::from_utf8(raw[..colon].to_vec()).ok()?;
    Some((user, raw[colon + 1..].to_vec()))
}

// ---------------------------------------------------------------------------------------------
// The file

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileWebConfig {
    #[serde(default)]
    tls_server_config: Option<Spanned<TlsSpec>>,
    #[serde(default)]
    basic_auth_users: Option<BTreeMap<String, Spanned<String>>>,
    #[serde(default)]
    http_server_config: Option<HttpSpec>,
    #[serde(default)]
    rate_limit: Option<Spanned<IgnoredAny>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsSpec {
    #[serde(default)]
    cert_file: Option<Spanned<PathBuf>>,
    #[serde(default)]
    key_file: Option<Spanned<PathBuf>>,
    #[serde(default)]
    cert: Option<Spanned<String>>,
    #[serde(default)]
    key: Option<Spanned<String>>,
    #[serde(default)]
    client_auth_type: Option<Spanned<String>>,
    #[serde(default)]
    client_ca_file: Option<Spanned<PathBuf>>,
    #[serde(default)]
    client_ca: Option<Spanned<String>>,
    #[serde(default)]
    min_version: Option<Spanned<String>>,
    #[serde(default)]
    max_version: Option<Spanned<String>>,
    #[serde(default)]
    prefer_server_cipher_suites: Option<bool>,
    #[serde(default)]
    cipher_suites: Option<Spanned<IgnoredAny>>,
    #[serde(default)]
    curve_preferences: Option<Spanned<IgnoredAny>>,
    #[serde(default)]
    client_allowed_sans: Option<Spanned<IgnoredAny>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpSpec {
    #[serde(default)]
    http2: Option<Spanned<bool>>,
    #[serde(default)]
    headers: Option<BTreeMap<String, Spanned<String>>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientAuth {
    NoClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

impl ClientAuth {
    fn describe(self) -> &'static str {
        match self {
            ClientAuth::NoClientCert => "no client certificates",
            ClientAuth::VerifyClientCertIfGiven => "client certificates verified if given",
            ClientAuth::RequireAndVerifyClientCert => "client certificates required",
        }
    }
}

/// The headers `http_server_config.headers` may set, and their allowed values (as the
/// exporter-toolkit allows them).
const ALLOWED_HEADERS: &[(&str, &[&str])] = &[
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

fn error(path: impl Into<String>, line: Option<u64>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        file: None,
        line: line.filter(|l| *l > 0),
        path: Some(path.into()),
        message: message.into(),
    }
}

fn line_of<T>(s: &Spanned<T>) -> Option<u64> {
    Some(s.referenced.line())
}

/// Reads and validates `--web.config.file`.
pub fn load(path: &Path) -> Result<WebConfig, ConfigError> {
    let display = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: Some(display.clone()),
        line: None,
        path: None,
        message: format!(
            "cannot read the web config file: {e}; fix the path given to --web.config.file"
        ),
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    parse(&text, base).map_err(|mut e| {
        e.file = Some(display);
        e
    })
}

/// Parses and validates web config text; relative paths resolve against `base`.
pub fn parse(text: &str, base: &Path) -> Result<WebConfig, ConfigError> {
    let Some(raw) = parse_yaml(text)? else {
        // An empty file, as in the exporter-toolkit: plain HTTP, no auth.
        return Ok(WebConfig::none());
    };
    if let Some(r) = &raw.rate_limit {
        return Err(error(
            "rate_limit",
            line_of(r),
            "is not supported by this exporter; remove it (rate-limit in a proxy if needed)",
        ));
    }
    let tls = match raw.tls_server_config {
        Some(spec) => Some(tls(spec, base)?),
        None => None,
    };
    let auth = match raw.basic_auth_users {
        Some(users) if !users.is_empty() => Some(users_of(users)?),
        _ => None,
    };
    let headers = match raw.http_server_config {
        Some(http) => headers_of(http)?,
        None => Vec::new(),
    };
    Ok(WebConfig { tls, auth, headers })
}

fn parse_yaml(text: &str) -> Result<Option<FileWebConfig>, ConfigError> {
    let is_empty = text
        .lines()
        .map(str::trim)
        .all(|l| l.is_empty() || l.starts_with('#') || l == "---" || l == "...");
    if is_empty {
        return Ok(None);
    }
    crate::config::yaml::read(text).map(Some)
}

fn unsupported<T>(field: &str, value: &Option<Spanned<T>>, why: &str) -> Result<(), ConfigError> {
    match value {
        Some(v) => Err(error(
            format!("tls_server_config.{field}"),
            line_of(v),
            format!("is not supported by this exporter: {why}; remove it"),
        )),
        None => Ok(()),
    }
}

fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// PEM data from `<name>_file` or inline `<name>`, and how to name it in errors.
struct PemSource {
    bytes: Vec<u8>,
    /// The config field, e.g. `tls_server_config.cert_file`.
    field: String,
    line: Option<u64>,
    /// The file (`` `/etc/x.crt` ``) or "the inline PEM".
    what: String,
}

/// PEM data from `<name>_file` or inline `<name>`: at most one of them.
fn pem_source(
    name: &str,
    file: Option<Spanned<PathBuf>>,
    inline: Option<Spanned<String>>,
    base: &Path,
) -> Result<Option<PemSource>, ConfigError> {
    match (file, inline) {
        (Some(f), Some(_)) => Err(error(
            format!("tls_server_config.{name}_file"),
            line_of(&f),
            format!("give either {name}_file or {name}, not both"),
        )),
        (Some(f), None) => {
            let field = format!("tls_server_config.{name}_file");
            let line = line_of(&f);
            let path = resolve(base, &f.value);
            let bytes = std::fs::read(&path).map_err(|e| {
                error(
                    &field,
                    line,
                    format!("cannot read `{}`: {e}", path.display()),
                )
            })?;
            Ok(Some(PemSource {
                bytes,
                field,
                line,
                what: format!("`{}`", path.display()),
            }))
        }
        (None, Some(i)) => {
            let line = line_of(&i);
            Ok(Some(PemSource {
                bytes: i.value.into_bytes(),
                field: format!("tls_server_config.{name}"),
                line,
                what: "the inline PEM".to_string(),
            }))
        }
        (None, None) => Ok(None),
    }
}

/// A PEM error without its details: they may quote bytes of a private key.
fn pem_problem(e: &pem::Error) -> &'static str {
    match e {
        pem::Error::MissingSectionEnd { .. } => "a PEM section has no END line",
        pem::Error::IllegalSectionStart { .. } => "a PEM BEGIN line is malformed",
        pem::Error::Base64Decode(_) => "a PEM section is not valid base64",
        pem::Error::NoItemsFound => "no PEM section of the right kind",
        _ => "the PEM data cannot be read",
    }
}

fn certificates(src: &PemSource) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&src.bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| {
            error(
                &src.field,
                src.line,
                format!("{}: {}", src.what, pem_problem(&e)),
            )
        })?;
    if certs.is_empty() {
        return Err(error(
            &src.field,
            src.line,
            format!(
                "no `BEGIN CERTIFICATE` section in {}; give PEM certificates",
                src.what
            ),
        ));
    }
    Ok(certs)
}

fn protocol_version(
    field: &str,
    value: &Spanned<String>,
) -> Result<&'static SupportedProtocolVersion, ConfigError> {
    match value.value.as_str() {
        "TLS12" => Ok(&rustls::version::TLS12),
        "TLS13" => Ok(&rustls::version::TLS13),
        "TLS10" | "TLS11" => Err(error(
            format!("tls_server_config.{field}"),
            line_of(value),
            format!(
                "`{}` is not supported (TLS 1.0 and 1.1 are insecure); use TLS12 or TLS13",
                value.value
            ),
        )),
        other => Err(error(
            format!("tls_server_config.{field}"),
            line_of(value),
            format!(
                "`{}` is not a TLS version; use TLS12 or TLS13",
                other.escape_debug()
            ),
        )),
    }
}

fn tls(spec: Spanned<TlsSpec>, base: &Path) -> Result<Tls, ConfigError> {
    let section_line = line_of(&spec);
    let spec = spec.value;
    unsupported(
        "cipher_suites",
        &spec.cipher_suites,
        "rustls offers only modern AEAD cipher suites and picks among them",
    )?;
    unsupported(
        "curve_preferences",
        &spec.curve_preferences,
        "rustls picks the key-exchange groups (X25519, P-256, P-384)",
    )?;
    unsupported(
        "client_allowed_sans",
        &spec.client_allowed_sans,
        "client certificates are verified against client_ca_file only",
    )?;

    let Some(cert) = pem_source("cert", spec.cert_file, spec.cert, base)? else {
        return Err(error(
            "tls_server_config.cert_file",
            section_line,
            "missing: give cert_file (the server's PEM certificate chain) and key_file, \
             or remove tls_server_config to serve plain HTTP",
        ));
    };
    let Some(key) = pem_source("key", spec.key_file, spec.key, base)? else {
        return Err(error(
            "tls_server_config.key_file",
            section_line,
            "missing: give key_file (the PEM private key of cert_file)",
        ));
    };
    let certs = certificates(&cert)?;
    let private_key = PrivateKeyDer::from_pem_slice(&key.bytes).map_err(|e| {
        let msg = match e {
            pem::Error::NoItemsFound => format!(
                "no `BEGIN PRIVATE KEY` (or RSA/EC PRIVATE KEY) section in {}; \
                 give the PEM private key of the certificate",
                key.what
            ),
            other => format!("{}: {}", key.what, pem_problem(&other)),
        };
        error(&key.field, key.line, msg)
    })?;

    let client_auth = match spec.client_auth_type.as_ref().map(|s| s.value.as_str()) {
        None | Some("") | Some("NoClientCert") => ClientAuth::NoClientCert,
        Some("VerifyClientCertIfGiven") => ClientAuth::VerifyClientCertIfGiven,
        Some("RequireAndVerifyClientCert") => ClientAuth::RequireAndVerifyClientCert,
        Some(other @ ("RequestClientCert" | "RequireAnyClientCert")) => {
            return Err(error(
                "tls_server_config.client_auth_type",
                spec.client_auth_type.as_ref().and_then(line_of),
                format!(
                    "`{other}` (a client certificate that is not verified) is not supported; \
                     use RequireAndVerifyClientCert or VerifyClientCertIfGiven with client_ca_file"
                ),
            ))
        }
        Some(other) => {
            return Err(error(
                "tls_server_config.client_auth_type",
                spec.client_auth_type.as_ref().and_then(line_of),
                format!(
                    "`{}` is not a client auth type; use NoClientCert, VerifyClientCertIfGiven \
                     or RequireAndVerifyClientCert",
                    other.escape_debug()
                ),
            ))
        }
    };
    let client_ca = pem_source("client_ca", spec.client_ca_file, spec.client_ca, base)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = match (client_auth, client_ca) {
        (ClientAuth::NoClientCert, None) => None,
        (ClientAuth::NoClientCert, Some(ca)) => {
            return Err(error(
                ca.field,
                ca.line,
                "client CAs are given but client_auth_type is NoClientCert; set \
                 client_auth_type: RequireAndVerifyClientCert (or VerifyClientCertIfGiven), \
                 or remove the client CAs",
            ))
        }
        (_, None) => {
            return Err(error(
                "tls_server_config.client_ca_file",
                spec.client_auth_type.as_ref().and_then(line_of),
                "missing: client_auth_type verifies client certificates, so give \
                 client_ca_file (the PEM CA certificates that sign them)",
            ))
        }
        (mode, Some(ca)) => {
            let mut roots = RootCertStore::empty();
            for cert in certificates(&ca)? {
                roots.add(cert).map_err(|e| {
                    error(
                        &ca.field,
                        ca.line,
                        format!("{}: not a usable CA certificate: {e}", ca.what),
                    )
                })?;
            }
            let mut builder =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider));
            if mode == ClientAuth::VerifyClientCertIfGiven {
                builder = builder.allow_unauthenticated();
            }
            Some(
                builder
                    .build()
                    .map_err(|e| error(&ca.field, ca.line, format!("{}: {e}", ca.what)))?,
            )
        }
    };

    let min = match &spec.min_version {
        Some(v) => protocol_version("min_version", v)?,
        None => &rustls::version::TLS12,
    };
    let max = match &spec.max_version {
        Some(v) => protocol_version("max_version", v)?,
        None => &rustls::version::TLS13,
    };
    let rank = |v: &SupportedProtocolVersion| u16::from(v.version);
    if rank(min) > rank(max) {
        return Err(error(
            "tls_server_config.min_version",
            spec.min_version.as_ref().and_then(line_of),
            "is above max_version; lower min_version or raise max_version",
        ));
    }
    let versions: Vec<&'static SupportedProtocolVersion> =
        [&rustls::version::TLS12, &rustls::version::TLS13]
            .into_iter()
            .filter(|v| rank(v) >= rank(min) && rank(v) <= rank(max))
            .collect();

    let builder = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| {
            error(
                "tls_server_config",
                section_line,
                format!("the TLS versions cannot be used: {e}"),
            )
        })?;
    let builder = match verifier {
        Some(v) => builder.with_client_cert_verifier(v),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(certs, private_key).map_err(|e| {
        error(
            &key.field,
            key.line,
            format!(
                "{} cannot be used with the certificate in {}: {e}; give the private key \
                 that belongs to the first certificate of {}",
                key.what, cert.what, cert.field
            ),
        )
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.ignore_client_order = spec.prefer_server_cipher_suites.unwrap_or(true);
    Ok(Tls {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        client_auth,
    })
}

fn users_of(users: BTreeMap<String, Spanned<String>>) -> Result<BasicAuth, ConfigError> {
    let mut hashes = BTreeMap::new();
    for (user, hash) in users {
        let field = format!("basic_auth_users.{user}");
        if user.is_empty() || user.contains(':') {
            return Err(error(
                field,
                line_of(&hash),
                "a user name must not be empty or contain `:`; rename the user",
            ));
        }
        // The message names the user, never the hash.
        let parts = hash.value.parse::<bcrypt::HashParts>().map_err(|_| {
            error(
                &field,
                line_of(&hash),
                "is not a bcrypt hash (`$2y$`, `$2b$` or `$2a$`, cost, 53 characters); make one \
                 with `htpasswd -nBC 10 \"\" | tr -d ':\\n'` and paste it here",
            )
        })?;
        if !(4..=31).contains(&parts.get_cost()) {
            return Err(error(
                &field,
                line_of(&hash),
                format!(
                    "the bcrypt cost {} is outside 4..31; make a new hash with cost 10",
                    parts.get_cost()
                ),
            ));
        }
        hashes.insert(user, hash.value);
    }
    BasicAuth::new(hashes).map_err(|m| error("basic_auth_users", None, m))
}

fn headers_of(http: HttpSpec) -> Result<Vec<(HeaderName, HeaderValue)>, ConfigError> {
    if let Some(h2) = &http.http2 {
        if h2.value {
            return Err(error(
                "http_server_config.http2",
                line_of(h2),
                "this exporter serves HTTP/1.1 only; set http2: false or remove it",
            ));
        }
    }
    let mut out = Vec::new();
    for (name, value) in http.headers.unwrap_or_default() {
        let field = format!("http_server_config.headers.{name}");
        let Some((canonical, allowed)) = ALLOWED_HEADERS
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(&name))
        else {
            let names: Vec<&str> = ALLOWED_HEADERS.iter().map(|(n, _)| *n).collect();
            return Err(error(
                field,
                line_of(&value),
                format!(
                    "this header cannot be set; the allowed headers are {}",
                    names.join(", ")
                ),
            ));
        };
        if !allowed.is_empty() && !allowed.iter().any(|a| a.eq_ignore_ascii_case(&value.value)) {
            return Err(error(
                field,
                line_of(&value),
                format!(
                    "`{}` is not allowed for {canonical}; use one of: {}",
                    value.value.escape_debug(),
                    allowed.join(", ")
                ),
            ));
        }
        let header_value = HeaderValue::from_str(&value.value).map_err(|_| {
            error(
                &field,
                line_of(&value),
                "is not a valid header value (printable ASCII only)",
            )
        })?;
        let header_name = HeaderName::from_bytes(canonical.as_bytes())
            .map_err(|_| error(&field, line_of(&value), "is not a valid header name"))?;
        out.push((header_name, header_value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_err(text: &str) -> String {
        match parse(text, Path::new("/nonexistent")) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn an_empty_file_means_plain_http_without_auth() {
        for text in ["", "\n# nothing\n", "---\n"] {
            let web = parse(text, Path::new(".")).unwrap();
            assert!(web.tls_acceptor().is_none());
            assert!(web.auth.is_none());
            assert_eq!(web.summary(), "plain http, no auth");
        }
    }

    #[test]
    fn unknown_and_unsupported_fields_are_refused_with_their_path() {
        let e = parse_err("tls_server_confg:\n  cert_file: a\n");
        assert!(e.starts_with("line 1: "), "{e}");
        assert!(e.contains("unknown field `tls_server_confg`"), "{e}");
        let e = parse_err("tls_server_config:\n  cert_file: a\n  key_file: b\n  certfile: c\n");
        assert!(
            e.starts_with("line 4: tls_server_config.certfile: unknown field `certfile`"),
            "{e}"
        );
        let e = parse_err(
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n",
        );
        assert!(
            e.starts_with(
                "line 4: tls_server_config.cipher_suites: is not supported by this exporter"
            ),
            "{e}"
        );
        let e = parse_err("rate_limit:\n  interval: 1s\n");
        assert_eq!(
            e,
            "line 2: rate_limit: is not supported by this exporter; remove it (rate-limit in a \
             proxy if needed)"
        );
        let e = parse_err("http_server_config:\n  http2: true\n");
        assert!(
            e.contains("http_server_config.http2: this exporter serves HTTP/1.1 only"),
            "{e}"
        );
    }

    #[test]
    fn a_bad_hash_names_the_user_not_the_hash() {
        let e = parse_err("basic_auth_users:\n  alice: plaintext-password\n");
        assert!(
            e.starts_with("line 2: basic_auth_users.alice: is not a bcrypt hash"),
            "{e}"
        );
        assert!(!e.contains("plaintext-password"), "{e}");
        let e = parse_err("basic_auth_users:\n  \"a:b\": x\n");
        assert!(e.contains("must not be empty or contain `:`"), "{e}");
    }

    #[test]
    fn tls_needs_cert_and_key() {
        let e = parse_err("tls_server_config:\n  key_file: k\n");
        assert!(e.contains("tls_server_config.cert_file: missing"), "{e}");
        let e = parse_err("tls_server_config:\n  cert: x\n");
        assert!(e.contains("tls_server_config.key_file: missing"), "{e}");
        let e = parse_err("tls_server_config:\n  cert_file: missing.crt\n  key_file: k\n");
        assert!(
            e.contains(
                "tls_server_config.cert_file: cannot read `/nonexistent/missing.crt`: No such file"
            ),
            "{e}"
        );
        let e = parse_err("tls_server_config:\n  cert: x\n  cert_file: y\n  key_file: k\n");
        assert!(e.contains("give either cert_file or cert, not both"), "{e}");
    }

    #[test]
    fn headers_are_checked_like_the_toolkit_does() {
        let web = parse(
            "http_server_config:\n  http2: false\n  headers:\n    X-Frame-Options: deny\n    strict-transport-security: max-age=31536000\n",
            Path::new("."),
        )
        .unwrap();
        let mut resp = Response::new(());
        web.add_headers(&mut resp);
        assert_eq!(resp.headers()["x-frame-options"], "deny");
        assert_eq!(
            resp.headers()["strict-transport-security"],
            "max-age=31536000"
        );
        let e = parse_err("http_server_config:\n  headers:\n    Server: x\n");
        assert!(
            e.contains("http_server_config.headers.Server: this header cannot be set"),
            "{e}"
        );
        let e = parse_err("http_server_config:\n  headers:\n    X-Content-Type-Options: sniff\n");
        assert!(e.contains("use one of: nosniff"), "{e}");
    }

    #[test]
    fn basic_auth_header_parsing() {
        let h = HeaderValue::from_static("Basic YWxpY2U6czNjcjN0OndpdGg6Y29sb25z");
        assert_eq!(
            parse_basic(&h),
            Some(("alice".into(), b"s3cr3t:with:colons".to_vec()))
        );
        let h = HeaderValue::from_static("basic   YWxpY2U6");
        assert_eq!(parse_basic(&h), Some(("alice".into(), b"".to_vec())));
        for bad in [
            "Bearer YWxpY2U6eA==",
            "Basic",
            "Basic !!!",
            "Basic YWxpY2U=",
        ] {
            assert_eq!(parse_basic(&HeaderValue::from_static(bad)), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn successful_logins_are_cached_and_failures_are_not() {
        let hash = bcrypt::hash("right", 4).unwrap();
        let web = parse(
            &format!("basic_auth_users:\n  alice: {hash}\n"),
            Path::new("."),
        )
        .unwrap();
        let auth = web.auth.as_ref().unwrap();
        let header = |u: &str, p: &str| {
            let v = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
            HeaderValue::from_str(&format!("Basic {v}")).unwrap()
        };
        assert!(!auth.check(None).await);
        assert!(!auth.check(Some(&header("alice", "wrong"))).await);
        assert!(!auth.check(Some(&header("bob", "right"))).await);
        assert_eq!(auth.cached(), 0);
        assert!(auth.check(Some(&header("alice", "right"))).await);
        assert_eq!(auth.cached(), 1);
        assert!(auth.check(Some(&header("alice", "right"))).await);
        assert_eq!(auth.cached(), 1);
        assert!(!auth.check(Some(&header("alice", "righ"))).await);
        let req = Request::builder().uri("/-/healthy").body(()).unwrap();
        let denied = web.authorize(&req).await.unwrap_err();
        assert_eq!(denied.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            denied.headers()[WWW_AUTHENTICATE],
            "Basic realm=\"mysql_pool_exporter\""
        );
    }
}
