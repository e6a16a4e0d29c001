//! The target address, written as `mysql://user[:password]@host[:port][/db]`.
//!
//! A password in the DSN is accepted (it is common) but is moved into a [`Secret`] at once,
//! so that nothing that prints a DSN can print the password.

use std::fmt;

/// A value that must never be printed: `Debug` and `Display` show `<redacted>`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The only way to read the value: grep for `expose` to audit every use.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A parsed DSN. `Display` prints it without the password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dsn {
    pub user: String,
    pub password: Option<Secret>,
    pub host: String,
    pub port: u16,
    pub database: Option<String>,
}

impl fmt::Display for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        write!(f, "mysql://{}@{}:{}", encode(&self.user), host, self.port)?;
        if let Some(db) = &self.database {
            write!(f, "/{}", encode(db))?;
        }
        Ok(())
    }
}

pub const DEFAULT_PORT: u16 = 3306;

/// Parses a DSN. Errors never contain the password.
pub fn parse_dsn(text: &str) -> Result<Dsn, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("the DSN is empty; write e.g. `mysql://exporter@127.0.0.1:3306`".into());
    }
    if text.contains("@tcp(") || text.contains("@unix(") {
        return Err(
            "this looks like a Go (mysqld_exporter) DSN `user:pass@tcp(host:port)/`; \
             write it as `mysql://user@host:port` and put the password in `password_file` \
             or MYSQL_PASSWORD"
                .into(),
        );
    }
    let Some(rest) = text.strip_prefix("mysql://") else {
        return Err(format!(
            "the DSN must start with `mysql://` (got `{}…`); write e.g. `mysql://exporter@127.0.0.1:3306`",
            redact_prefix(text)
        ));
    };
    let url = url::Url::parse(&format!("mysql://{rest}")).map_err(|e| {
        format!("the DSN is not a valid URL ({e}); write e.g. `mysql://exporter@127.0.0.1:3306`")
    })?;
    let user = percent_decode(url.username())?;
    if user.is_empty() {
        return Err("the DSN names no user; write `mysql://USER@host:port`".into());
    }
    let password = match url.password() {
        Some(p) => Some(Secret::new(percent_decode(p)?)),
        None => None,
    };
    let host = match url.host() {
        Some(url::Host::Ipv6(addr)) => addr.to_string(),
        Some(h) => h.to_string(),
        None => return Err("the DSN names no host; write `mysql://user@HOST:port`".into()),
    };
    let port = url.port().unwrap_or(DEFAULT_PORT);
    if port == 0 {
        return Err("the DSN's port is 0; MySQL listens on 3306 by default".into());
    }
    let path = url.path().trim_start_matches('/');
    let database = if path.is_empty() {
        None
    } else if path.contains('/') {
        return Err(format!(
            "the DSN's path `/{path}` must be a single database name"
        ));
    } else {
        Some(percent_decode(path)?)
    };
    if let Some((key, _)) = url.query_pairs().next() {
        return Err(format!(
            "the DSN parameter `{key}` is not supported; set TLS and timeouts in the \
             target's config fields (`tls`, `connect_timeout`, `statement_timeout`)"
        ));
    }
    Ok(Dsn {
        user,
        password,
        host,
        port,
        database,
    })
}

/// What must be escaped in a URL's user or path segment for the DSN to read back the same.
const DSN_RESERVED: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'%')
    .add(b':')
    .add(b'@')
    .add(b'/')
    .add(b'?')
    .add(b'#')
    .add(b'[')
    .add(b']');

fn encode(s: &str) -> percent_encoding::PercentEncode<'_> {
    percent_encoding::utf8_percent_encode(s, DSN_RESERVED)
}

fn percent_decode(s: &str) -> Result<String, String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| "the DSN has a percent-escape that is not UTF-8".into())
}

/// The scheme-ish start of a bad DSN, cut before anything that could be a password
/// (`user:pw@`, but also Oracle-style `user/pw@`): letters, digits, `+`, `-`, `.` only.
fn redact_prefix(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        .take(16)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_forms() {
        let d = parse_dsn("mysql://exporter@127.0.0.1:3307").unwrap();
        assert_eq!(
            (d.user.as_str(), d.host.as_str(), d.port),
            ("exporter", "127.0.0.1", 3307)
        );
        assert_eq!(d.password, None);
        let d = parse_dsn("mysql://exp:p%40ss@db.example:3306/kefu").unwrap();
        assert_eq!(d.password.unwrap().expose(), "p@ss");
        assert_eq!(d.database.as_deref(), Some("kefu"));
        let d = parse_dsn("mysql://exp@[::1]").unwrap();
        assert_eq!((d.host.as_str(), d.port), ("::1", 3306));
        assert_eq!(d.to_string(), "mysql://exp@[::1]:3306");
    }

    #[test]
    fn display_reads_back_the_same_for_odd_users_and_dbs() {
        let d = parse_dsn("mysql://a%3Ab%2F@h:1/x%2Fy").unwrap();
        assert_eq!(
            (d.user.as_str(), d.database.as_deref()),
            ("a:b/", Some("x/y"))
        );
        assert_eq!(
            parse_dsn(&d.to_string()).unwrap(),
            Dsn {
                password: None,
                ..d
            }
        );
    }

    #[test]
    fn display_never_shows_the_password() {
        let d = parse_dsn("mysql://exp:hunter2@h:1/db").unwrap();
        assert!(!d.to_string().contains("hunter2"));
        assert!(!format!("{d:?}").contains("hunter2"));
    }

    #[test]
    fn errors_teach_and_never_echo_the_password() {
        for (bad, hint) in [
            ("", "empty"),
            (
                "exp:hunter2@tcp(127.0.0.1:3306)/",
                "Go (mysqld_exporter) DSN",
            ),
            ("postgres://exp:hunter2@h", "must start with `mysql://`"),
            ("exp/hunter2@db.example", "must start with `mysql://`"),
            ("mysql://h:3306", "names no user"),
            ("mysql://exp:hunter2@h:99999", "not a valid URL"),
            ("mysql://exp:hunter2@h/a/b", "single database"),
            ("mysql://exp:hunter2@h/?tls=true", "parameter `tls`"),
        ] {
            let err = parse_dsn(bad).unwrap_err();
            assert!(err.contains(hint), "{bad:?}: {err}");
            assert!(!err.contains("hunter2"), "{bad:?} leaked: {err}");
        }
    }
}
