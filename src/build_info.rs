//! What this binary is: its version, the commit and branch it was built from, when, and with
//! which rustc. build.rs finds them; `--version` prints them in the Prometheus exporter
//! toolkit's form and `/metrics` exports them as `mysql_pool_exporter_build_info`, so a
//! dashboard or an incident note can tell which build runs where.

/// The crate's version (`Cargo.toml`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The full commit id, or `unknown` for a build outside a git checkout.
pub const REVISION: &str = env!("MPE_BUILD_REVISION");
/// The branch, `HEAD` when the checkout was detached, or `unknown`.
pub const BRANCH: &str = env!("MPE_BUILD_BRANCH");
/// The commit's time (or `SOURCE_DATE_EPOCH`) as `YYYYMMDD-hh:mm:ss` UTC: not the clock at
/// build time, so that two builds of one commit are the same bytes.
pub const BUILD_DATE: &str = env!("MPE_BUILD_DATE");
/// `rustc --version` of the compiler that built it.
pub const RUSTC: &str = env!("MPE_BUILD_RUSTC");

/// The version number of [`RUSTC`] (`1.95.0`), the `rustc_version` label.
pub fn rustc_version() -> &'static str {
    RUSTC.split_whitespace().nth(1).unwrap_or("unknown")
}

/// `--version`, as Go exporters print theirs (`version.Print`).
pub fn long_version() -> String {
    format!(
        "mysql_pool_exporter, version {VERSION} (branch: {BRANCH}, revision: {REVISION})\n  \
         build date:       {BUILD_DATE}\n  \
         rustc version:    {RUSTC}\n  \
         platform:         {}/{}\n",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// The labels of `mysql_pool_exporter_build_info`.
pub fn labels() -> Vec<(String, String)> {
    [
        ("branch", BRANCH),
        ("revision", REVISION),
        ("rustc_version", rustc_version()),
        ("version", VERSION),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_version_has_the_exporter_toolkit_lines() {
        let text = long_version();
        let first = text.lines().next().unwrap();
        assert_eq!(
            first,
            format!(
                "mysql_pool_exporter, version {VERSION} (branch: {BRANCH}, revision: {REVISION})"
            )
        );
        for key in ["build date:", "rustc version:", "platform:"] {
            assert!(
                text.lines().any(|l| l.trim_start().starts_with(key)),
                "{key} in {text}"
            );
        }
    }

    #[test]
    fn build_facts_are_well_formed() {
        // The tests run from the git checkout, so the revision is a full commit id.
        assert!(
            REVISION.len() == 40 && REVISION.bytes().all(|b| b.is_ascii_hexdigit()),
            "{REVISION}"
        );
        let date = BUILD_DATE.as_bytes();
        assert!(
            date.len() == 17 && date[8] == b'-' && date[11] == b':' && date[14] == b':',
            "{BUILD_DATE}"
        );
        let parts: Vec<_> = rustc_version().split('.').collect();
        assert!(
            parts.len() == 3 && parts.iter().all(|p| p.parse::<u32>().is_ok()),
            "{RUSTC}"
        );
    }
}
