//! TLS to the server: the mysql_async options of each `tls.mode`, and failed handshakes
//! explained in terms of the target's TLS settings.

use mysql_async::SslOpts;

use super::describe;
use crate::config::{TargetConfig, TlsConfig, TlsMode};

/// The mysql_async TLS options of the target's mode; reads `tls.ca_file` (again on each
/// reconnect, so a rotated CA is picked up).
pub fn ssl_opts(c: &TlsConfig) -> Result<Option<SslOpts>, String> {
    let verified = |skip_name: bool| -> Result<Option<SslOpts>, String> {
        let mut ssl = SslOpts::default().with_danger_skip_domain_validation(skip_name);
        if let Some(path) = &c.ca_file {
            let roots = crate::config::load_ca_file(path)
                .map_err(|e| format!("tls.ca_file: {e}"))?
                .into_iter()
                .map(|der| der.to_vec().into())
                .collect();
            // Only the given CA: a public CA's certificate for any name must not pass.
            ssl = ssl.with_root_certs(roots).with_disable_built_in_roots(true);
        }
        Ok(Some(ssl))
    };
    match c.mode {
        TlsMode::Disabled => Ok(None),
        // One TCP connection either way: plain on the same one when TLS is not offered.
        TlsMode::Preferred => Ok(Some(lenient_tls().with_plain_if_unoffered(true))),
        TlsMode::Required => Ok(Some(lenient_tls())),
        TlsMode::VerifyCa => verified(true),
        TlsMode::VerifyIdentity => verified(false),
    }
}

/// A failed connect, explained in terms of the target's TLS settings where TLS is why.
pub fn describe_connect(config: &TargetConfig, e: &mysql_async::Error, port: u16) -> String {
    let tls = &config.tls;
    let host = &config.dsn.host;
    let peer = format!("{host}:{port}");
    let needs_tls = |refusal: String| {
        format!(
            "{refusal}: the server accepts this account only over TLS \
             (require_secure_transport=ON, or REQUIRE SSL on the account), but tls.mode is \
             {}; set tls.mode: preferred, or required/verify_ca/verify_identity",
            tls.mode
        )
    };
    match e {
        mysql_async::Error::Driver(mysql_async::DriverError::NoClientSslFlagFromServer) => {
            return format!(
                "the server at {peer} does not offer TLS, but tls.mode is {}; enable TLS on \
                 the server (ssl_cert and ssl_key), or set tls.mode: preferred to encrypt \
                 only when the server offers it",
                tls.mode
            );
        }
        mysql_async::Error::Other(o) => {
            if let Some(TlsOnly(s)) = o.downcast_ref::<TlsOnly>() {
                return needs_tls(format!(
                    "the server refused the login over plain TCP (server error {} ({}): {}) \
                     and accepted the same login over TLS",
                    s.code, s.state, s.message
                ));
            }
        }
        // MySQL 8: ER_SECURE_TRANSPORT_REQUIRED.
        mysql_async::Error::Server(s) if s.code == 3159 => {
            return needs_tls(format!(
                "server error {} ({}): {}",
                s.code, s.state, s.message
            ))
        }
        _ => {}
    }
    match rustls_error(e) {
        Some(err) => describe_rustls(tls, host, &peer, err),
        None => describe(e),
    }
}

/// A failed handshake, by the rustls error's type: the certificate's names, an untrusted
/// chain, another certificate problem, or TLS itself.
fn describe_rustls(tls: &TlsConfig, host: &str, peer: &str, err: &rustls::Error) -> String {
    let (trust, fix) = match &tls.ca_file {
        Some(p) => (
            format!("tls.ca_file {}", p.display()),
            "check that ca_file holds the CA that signed the server's certificate",
        ),
        None => (
            "the built-in Mozilla root CAs (tls.ca_file is not set)".to_string(),
            "set tls.ca_file to the CA that signed the server's certificate",
        ),
    };
    use rustls::CertificateError as Cert;
    match err {
        rustls::Error::InvalidCertificate(
            Cert::NotValidForName | Cert::NotValidForNameContext { .. },
        ) => match presented_names(err) {
            Some(names) if !names.is_empty() => format!(
                "TLS certificate verification failed for {peer}: the certificate is for {}, \
                 not for host `{host}`; tls.mode {} checks the DSN's host: connect by a \
                 name the certificate carries, or set tls.mode: verify_ca to check only the CA",
                names.join(", "),
                tls.mode
            ),
            _ => format!(
                "TLS certificate verification failed for {peer}: the certificate names no \
                 host name or IP address (subjectAltName; the CN is not used), so it cannot \
                 be verified ({err}); reissue it with a subjectAltName, or set tls.mode: \
                 required to encrypt without verifying"
            ),
        },
        rustls::Error::InvalidCertificate(
            Cert::UnknownIssuer | Cert::BadSignature | Cert::BadEncoding,
        ) => format!(
            "TLS certificate verification failed for {peer}: the server's certificate is not \
             trusted by {trust} ({err}); {fix}, or set tls.mode: required to encrypt \
             without verifying"
        ),
        rustls::Error::InvalidCertificate(_) => format!(
            "TLS certificate verification failed for {peer} ({err}); renew the server's \
             certificate, or set tls.mode: required to encrypt without verifying"
        ),
        _ => format!(
            "TLS handshake with {peer} failed (tls.mode {}): {err}; the exporter speaks TLS \
             1.2 and 1.3 only: upgrade the server's TLS, or set tls.mode: disabled",
            tls.mode
        ),
    }
}

/// Encrypt, but do not check the certificate: what `required` means for the mysql client.
pub(super) fn lenient_tls() -> SslOpts {
    SslOpts::default()
        .with_danger_accept_invalid_certs(true)
        .with_danger_skip_domain_validation(true)
}

/// The rustls error behind a failed TLS handshake (tokio-rustls wraps it in an io::Error).
fn rustls_error(e: &mysql_async::Error) -> Option<&rustls::Error> {
    match e {
        mysql_async::Error::Io(mysql_async::IoError::Tls(mysql_async::TlsError::Tls(r))) => Some(r),
        mysql_async::Error::Io(mysql_async::IoError::Io(io)) => {
            io.get_ref()?.downcast_ref::<rustls::Error>()
        }
        _ => None,
    }
}

/// The names the server's certificate carries (DNS names, maybe wildcards, and IP addresses),
/// if the handshake failed on the host name only: rustls checks the chain first, so the chain
/// was trusted.
pub(super) fn cert_names(e: &mysql_async::Error) -> Option<Vec<String>> {
    presented_names(rustls_error(e)?)
}

/// The names of a name-mismatch error, from its `presented` field.
fn presented_names(err: &rustls::Error) -> Option<Vec<String>> {
    let rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForNameContext {
        presented,
        ..
    }) = err
    else {
        return None;
    };
    Some(presented.iter().filter_map(|n| server_name(n)).collect())
}

/// One entry of `presented` as a server name to connect by; `None` for other kinds of name
/// (URI, directory name). rustls 0.23 hands the names over as text only, each written by
/// rustls-webpki's `Debug` of its `GeneralName` (`DnsName("db.example")`,
/// `IpAddress(10.0.0.1)`), so that text is read here; the test that drives rustls' own
/// verifier keeps this in step with the rustls-webpki in Cargo.lock.
fn server_name(presented: &str) -> Option<String> {
    let bare = if let Some(dns) = presented.strip_prefix("DnsName(\"") {
        dns.strip_suffix("\")")?
    } else if let Some(ip) = presented.strip_prefix("IpAddress(") {
        ip.strip_suffix(')')?
    } else if presented.contains(['(', ' ']) || presented == "DirectoryName" {
        return None;
    } else {
        presented
    };
    rustls::pki_types::ServerName::try_from(connectable(bare).as_str())
        .is_ok()
        .then(|| bare.to_string())
}

/// A name that matches `name`: a wildcard's `*` replaced by a label.
pub(super) fn connectable(name: &str) -> String {
    match name.strip_prefix("*.") {
        Some(rest) => format!("mysql-pool-exporter.{rest}"),
        None => name.to_string(),
    }
}

/// MariaDB's "access denied" to a plain connection, where the same login over TLS works.
#[derive(Debug)]
pub(super) struct TlsOnly(pub mysql_async::ServerError);

impl std::fmt::Display for TlsOnly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (the account needs TLS)", self.0)
    }
}

impl std::error::Error for TlsOnly {}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rcgen::{
        BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    };
    use rustls::client::danger::ServerCertVerifier;
    use rustls::pki_types::{ServerName, UnixTime};

    use super::*;

    /// The error rustls' own verifier raises when the server presents a certificate for
    /// `names` to a client connecting to `host` (trusting the CA that signed it, or another
    /// one), wrapped as tokio-rustls hands it to mysql_async: no hand-made error or text.
    fn handshake_error(names: &[&str], host: &str, trust_the_ca: bool) -> mysql_async::Error {
        let ca = |name: &str| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, name);
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            let der = params.self_signed(&key).unwrap().der().clone();
            (der, Issuer::new(params, key))
        };
        let (ca_der, issuer) = ca("test CA");
        let (other_der, _) = ca("another CA");
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf = params.signed_by(&key, &issuer).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(if trust_the_ca { ca_der } else { other_der })
            .unwrap();
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .unwrap();
        let host = ServerName::try_from(host.to_string()).unwrap();
        let err = verifier
            .verify_server_cert(leaf.der(), &[], &host, &[], UnixTime::now())
            .unwrap_err();
        mysql_async::Error::Io(mysql_async::IoError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            err,
        )))
    }

    #[test]
    fn a_name_mismatch_is_told_by_its_type_with_the_certificates_names() {
        let e = handshake_error(&["*.db.example", "10.99.99.99"], "127.0.0.1", true);
        assert_eq!(
            cert_names(&e),
            Some(vec!["*.db.example".to_string(), "10.99.99.99".to_string()])
        );
        let tls = TlsConfig {
            mode: TlsMode::VerifyIdentity,
            ca_file: None,
        };
        let err = rustls_error(&e).unwrap();
        let said = describe_rustls(&tls, "127.0.0.1", "127.0.0.1:3306", err);
        assert!(
            said.contains(
                "the certificate is for *.db.example, 10.99.99.99, not for host `127.0.0.1`"
            ),
            "{said}"
        );
        assert!(said.contains("tls.mode: verify_ca"), "{said}");
    }

    #[test]
    fn an_untrusted_chain_is_not_taken_for_a_name_mismatch() {
        let e = handshake_error(&["db.example"], "db.example", false);
        assert_eq!(cert_names(&e), None, "verify_ca must not retry it");
        let tls = TlsConfig {
            mode: TlsMode::VerifyCa,
            ca_file: Some("/etc/ca.pem".into()),
        };
        let said = describe_rustls(
            &tls,
            "db.example",
            "db.example:3306",
            rustls_error(&e).unwrap(),
        );
        assert!(
            said.contains("not trusted by tls.ca_file /etc/ca.pem"),
            "{said}"
        );
    }

    #[test]
    fn certificate_names_as_rustls_webpki_presents_them() {
        assert_eq!(
            server_name("DnsName(\"db.example\")").as_deref(),
            Some("db.example")
        );
        assert_eq!(
            server_name("IpAddress(10.0.0.1)").as_deref(),
            Some("10.0.0.1")
        );
        assert_eq!(server_name("IpAddress(::1)").as_deref(), Some("::1"));
        assert_eq!(
            server_name("DnsName(\"*.db.example\")").as_deref(),
            Some("*.db.example")
        );
        assert_eq!(
            connectable("*.db.example"),
            "mysql-pool-exporter.db.example"
        );
        assert_eq!(server_name("db.example").as_deref(), Some("db.example"));
        assert_eq!(server_name("DirectoryName"), None);
        assert_eq!(
            server_name("UniformResourceIdentifier(\"spiffe://x\")"),
            None
        );
        assert_eq!(server_name("Unsupported(0x80)"), None);
    }
}
