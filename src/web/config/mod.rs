//! `--web.config.file`: TLS and basic auth in the Prometheus exporter-toolkit format
//! (docs/web-config.md).
//!
//! The file is read once at startup. Unknown fields are refused, and so are the toolkit's
//! fields this exporter does not implement (`cipher_suites`, `rate_limit`, ...): silently
//! ignoring a security setting would be worse than refusing to start. Relative paths resolve
//! against the web config file's directory.
//!
//! One file a job: [`file`] is the YAML schema, [`tls`] the rustls server config and the
//! handshake, [`auth`] basic auth; this module ties them into the [`WebConfig`] the HTTP
//! server consults before routing a request.

mod auth;
mod file;
mod tls;

use std::path::{Path, PathBuf};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{HeaderName, HeaderValue, AUTHORIZATION};
use hyper::{Request, Response};
use serde_saphyr::Spanned;
use tokio_rustls::TlsAcceptor;

pub use auth::{unauthorized, WWW_AUTHENTICATE_VALUE};
pub use tls::{handshake, TLS_HANDSHAKE_TIMEOUT};

use crate::config::ConfigError;
use auth::BasicAuth;
use file::HttpSpec;
use tls::Tls;

/// The effective web config: what the HTTP server does before routing a request.
#[derive(Default)]
pub struct WebConfig {
    tls: Option<Tls>,
    auth: Option<BasicAuth>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl WebConfig {
    /// Plain HTTP, no auth: what the exporter does without `--web.config.file`.
    pub fn none() -> Self {
        WebConfig::default()
    }

    /// The TLS acceptor, if the config turns TLS on.
    pub fn tls_acceptor(&self) -> Option<&TlsAcceptor> {
        self.tls.as_ref().map(Tls::acceptor)
    }

    /// One line for the startup log, e.g. `tls (client certificates required), basic auth (2 users)`.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        match &self.tls {
            Some(t) => parts.push(format!("tls ({})", t.describe())),
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

/// The headers `http_server_config.headers` may set, and their allowed values (as the
/// exporter-toolkit allows them).
const ALLOWED_HEADERS: &[(&str, &[&str])] = &[
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

pub(super) fn error(
    path: impl Into<String>,
    line: Option<u64>,
    message: impl Into<String>,
) -> ConfigError {
    ConfigError {
        file: None,
        line: line.filter(|l| *l > 0),
        path: Some(path.into()),
        message: message.into(),
    }
}

pub(super) fn line_of<T>(s: &Spanned<T>) -> Option<u64> {
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
    let Some(raw) = file::parse_yaml(text)? else {
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
        Some(spec) => Some(tls::build(spec, base)?),
        None => None,
    };
    let auth = match raw.basic_auth_users {
        Some(users) if !users.is_empty() => Some(auth::users_of(users)?),
        _ => None,
    };
    let headers = match raw.http_server_config {
        Some(http) => headers_of(http)?,
        None => Vec::new(),
    };
    Ok(WebConfig { tls, auth, headers })
}

pub(super) fn unsupported<T>(
    field: &str,
    value: &Option<Spanned<T>>,
    why: &str,
) -> Result<(), ConfigError> {
    match value {
        Some(v) => Err(error(
            format!("tls_server_config.{field}"),
            line_of(v),
            format!("is not supported by this exporter: {why}; remove it"),
        )),
        None => Ok(()),
    }
}

pub(super) fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
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

    pub(super) fn parse_err(text: &str) -> String {
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
}
