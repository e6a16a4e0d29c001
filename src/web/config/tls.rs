//! TLS for the exporter's own HTTP server: the rustls server config built from
//! `tls_server_config` (ring, the one crypto provider of this binary), and the handshake of
//! each connection, which also answers a plain-HTTP request on the TLS port.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion};
use serde_saphyr::Spanned;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use super::file::TlsSpec;
use super::{error, line_of, resolve, unsupported};
use crate::config::{pem_problem, ConfigError};

/// A client has this long to finish the TLS handshake (slow or silent clients are dropped).
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// What a plain-HTTP client on the TLS port gets (as Go's net/http answers it).
const PLAIN_HTTP_ANSWER: &[u8] = b"HTTP/1.0 400 Bad Request\r\n\
Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n\
Client sent an HTTP request to an HTTPS server: use https://\n";

pub(super) struct Tls {
    acceptor: TlsAcceptor,
    client_auth: ClientAuth,
}

impl Tls {
    pub(super) fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    pub(super) fn describe(&self) -> &'static str {
        self.client_auth.describe()
    }
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

/// The rustls server config of `tls_server_config`.
pub(super) fn build(spec: Spanned<TlsSpec>, base: &Path) -> Result<Tls, ConfigError> {
    let section_line = line_of(&spec);
    let spec = spec.value;
    refuse_unsupported(&spec)?;
    let (cert, key) = cert_and_key(&spec, base, section_line)?;
    let certs = certificates(&cert)?;
    let private_key = private_key(&key)?;

    let auth_line = spec.client_auth_type.as_ref().and_then(line_of);
    let client_auth = client_auth_type(spec.client_auth_type.as_ref())?;
    let client_ca = pem_source(
        "client_ca",
        spec.client_ca_file.clone(),
        spec.client_ca.clone(),
        base,
    )?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = client_verifier(client_auth, client_ca, auth_line, &provider)?;
    let versions = protocol_versions(&spec)?;

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

/// Fields of the exporter-toolkit's web config that rustls cannot honour: refused rather
/// than ignored, so nobody believes a cipher or curve restriction is in force.
fn refuse_unsupported(spec: &TlsSpec) -> Result<(), ConfigError> {
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
    )
}

/// A TLS server cannot run without both, so a missing one is an error at the section's line.
fn cert_and_key(
    spec: &TlsSpec,
    base: &Path,
    section_line: Option<u64>,
) -> Result<(PemSource, PemSource), ConfigError> {
    let Some(cert) = pem_source("cert", spec.cert_file.clone(), spec.cert.clone(), base)? else {
        return Err(error(
            "tls_server_config.cert_file",
            section_line,
            "missing: give cert_file (the server's PEM certificate chain) and key_file, \
             or remove tls_server_config to serve plain HTTP",
        ));
    };
    let Some(key) = pem_source("key", spec.key_file.clone(), spec.key.clone(), base)? else {
        return Err(error(
            "tls_server_config.key_file",
            section_line,
            "missing: give key_file (the PEM private key of cert_file)",
        ));
    };
    Ok((cert, key))
}

/// A file with no key section (a certificate given as the key, say) gets a hint that says
/// what is missing, which the bare PEM error would not.
fn private_key(key: &PemSource) -> Result<PrivateKeyDer<'static>, ConfigError> {
    PrivateKeyDer::from_pem_slice(&key.bytes).map_err(|e| {
        let msg = match e {
            pem::Error::NoItemsFound => format!(
                "no `BEGIN PRIVATE KEY` (or RSA/EC PRIVATE KEY) section in {}; \
                 give the PEM private key of the certificate",
                key.what
            ),
            other => format!("{}: {}", key.what, pem_problem(&other)),
        };
        error(&key.field, key.line, msg)
    })
}

/// The toolkit's modes that accept unverified client certificates are refused: they would
/// look like client authentication while authenticating nobody.
fn client_auth_type(value: Option<&Spanned<String>>) -> Result<ClientAuth, ConfigError> {
    match value.map(|s| s.value.as_str()) {
        None | Some("") | Some("NoClientCert") => Ok(ClientAuth::NoClientCert),
        Some("VerifyClientCertIfGiven") => Ok(ClientAuth::VerifyClientCertIfGiven),
        Some("RequireAndVerifyClientCert") => Ok(ClientAuth::RequireAndVerifyClientCert),
        Some(other @ ("RequestClientCert" | "RequireAnyClientCert")) => Err(error(
            "tls_server_config.client_auth_type",
            value.and_then(line_of),
            format!(
                "`{other}` (a client certificate that is not verified) is not supported; \
                 use RequireAndVerifyClientCert or VerifyClientCertIfGiven with client_ca_file"
            ),
        )),
        Some(other) => Err(error(
            "tls_server_config.client_auth_type",
            value.and_then(line_of),
            format!(
                "`{}` is not a client auth type; use NoClientCert, VerifyClientCertIfGiven \
                 or RequireAndVerifyClientCert",
                other.escape_debug()
            ),
        )),
    }
}

/// The auth type and the client CAs must agree: CAs without verification, or verification
/// without CAs, is a config that does not do what it says.
fn client_verifier(
    client_auth: ClientAuth,
    client_ca: Option<PemSource>,
    auth_line: Option<u64>,
    provider: &Arc<CryptoProvider>,
) -> Result<Option<Arc<dyn ClientCertVerifier>>, ConfigError> {
    match (client_auth, client_ca) {
        (ClientAuth::NoClientCert, None) => Ok(None),
        (ClientAuth::NoClientCert, Some(ca)) => Err(error(
            ca.field,
            ca.line,
            "client CAs are given but client_auth_type is NoClientCert; set \
             client_auth_type: RequireAndVerifyClientCert (or VerifyClientCertIfGiven), \
             or remove the client CAs",
        )),
        (_, None) => Err(error(
            "tls_server_config.client_ca_file",
            auth_line,
            "missing: client_auth_type verifies client certificates, so give \
             client_ca_file (the PEM CA certificates that sign them)",
        )),
        (mode, Some(ca)) => {
            let roots = client_roots(&ca)?;
            let mut builder =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider));
            if mode == ClientAuth::VerifyClientCertIfGiven {
                builder = builder.allow_unauthenticated();
            }
            let verifier = builder
                .build()
                .map_err(|e| error(&ca.field, ca.line, format!("{}: {e}", ca.what)))?;
            Ok(Some(verifier))
        }
    }
}

/// Each CA is added on its own so an unusable one is named in the error.
fn client_roots(ca: &PemSource) -> Result<RootCertStore, ConfigError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(ca)? {
        roots.add(cert).map_err(|e| {
            error(
                &ca.field,
                ca.line,
                format!("{}: not a usable CA certificate: {e}", ca.what),
            )
        })?;
    }
    Ok(roots)
}

/// rustls speaks only TLS 1.2 and 1.3, so the range defaults to both and is cut from them.
fn protocol_versions(
    spec: &TlsSpec,
) -> Result<Vec<&'static SupportedProtocolVersion>, ConfigError> {
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
    Ok([&rustls::version::TLS12, &rustls::version::TLS13]
        .into_iter()
        .filter(|v| rank(v) >= rank(min) && rank(v) <= rank(max))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::super::tests::parse_err;

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
}
