//! TLS to the monitored server: the CA file behind `verify_ca` / `verify_identity`.
//!
//! Read once by `validate` (so a missing or non-PEM file is a config error) and again on
//! every (re)connect (so a rotated CA is picked up without a restart).

use std::path::Path;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;

/// The CA certificates in the PEM file `path`, each checked to be a usable trust anchor.
/// The error says what is wrong with the file, not which field it came from.
pub fn load_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|e| {
        format!("cannot read `{shown}`: {e}; it must hold the PEM certificate of the CA that signed the server's certificate")
    })?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| {
            format!(
                "`{shown}` is not valid PEM ({}); give the CA certificate in PEM form",
                pem_problem(&e)
            )
        })?;
    if certs.is_empty() {
        return Err(format!(
            "`{shown}` holds no `-----BEGIN CERTIFICATE-----` section; give the CA certificate in PEM form (convert DER with `openssl x509 -inform der`)"
        ));
    }
    let mut roots = RootCertStore::empty();
    for (i, cert) in certs.iter().enumerate() {
        roots.add(cert.clone()).map_err(|e| {
            format!(
                "certificate {} in `{shown}` is not a usable CA certificate: {e}",
                i + 1
            )
        })?;
    }
    Ok(certs)
}

/// A PEM error without its details: they may quote bytes of a private key. (Also used for
/// the exporter's own certificate and key in `--web.config.file`.)
pub fn pem_problem(e: &pem::Error) -> &'static str {
    match e {
        pem::Error::MissingSectionEnd { .. } => "a PEM section has no END line",
        pem::Error::IllegalSectionStart { .. } => "a PEM BEGIN line is malformed",
        pem::Error::Base64Decode(_) => "a PEM section is not valid base64",
        pem::Error::NoItemsFound => "no PEM section of the right kind",
        _ => "the PEM data cannot be read",
    }
}
