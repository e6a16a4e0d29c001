//! The YAML schema of `--web.config.file` (the exporter-toolkit format), as serde reads it.
//! The toolkit's fields this exporter does not implement are read (as `IgnoredAny`) only to
//! be refused by name.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::config::ConfigError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileWebConfig {
    #[serde(default)]
    pub(super) tls_server_config: Option<Spanned<TlsSpec>>,
    #[serde(default)]
    pub(super) basic_auth_users: Option<BTreeMap<String, Spanned<String>>>,
    #[serde(default)]
    pub(super) http_server_config: Option<HttpSpec>,
    #[serde(default)]
    pub(super) rate_limit: Option<Spanned<IgnoredAny>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TlsSpec {
    #[serde(default)]
    pub(super) cert_file: Option<Spanned<PathBuf>>,
    #[serde(default)]
    pub(super) key_file: Option<Spanned<PathBuf>>,
    #[serde(default)]
    pub(super) cert: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) key: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) client_auth_type: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) client_ca_file: Option<Spanned<PathBuf>>,
    #[serde(default)]
    pub(super) client_ca: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) min_version: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) max_version: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) prefer_server_cipher_suites: Option<bool>,
    #[serde(default)]
    pub(super) cipher_suites: Option<Spanned<IgnoredAny>>,
    #[serde(default)]
    pub(super) curve_preferences: Option<Spanned<IgnoredAny>>,
    #[serde(default)]
    pub(super) client_allowed_sans: Option<Spanned<IgnoredAny>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HttpSpec {
    #[serde(default)]
    pub(super) http2: Option<Spanned<bool>>,
    #[serde(default)]
    pub(super) headers: Option<BTreeMap<String, Spanned<String>>>,
}

/// The file's YAML; `None` for an empty file (plain HTTP, no auth, as in the toolkit).
pub(super) fn parse_yaml(text: &str) -> Result<Option<FileWebConfig>, ConfigError> {
    let is_empty = text
        .lines()
        .map(str::trim)
        .all(|l| l.is_empty() || l.starts_with('#') || l == "---" || l == "...");
    if is_empty {
        return Ok(None);
    }
    crate::config::yaml::read(text).map(Some)
}
