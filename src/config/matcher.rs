//! Which sessions belong to a pool: `user`, `client_host` and `db` patterns, compiled once
//! at load so a bad CIDR is a config error, not a silent non-match.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

use super::MatchSpec;

/// A compiled [`MatchSpec`]: every named field must match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matcher {
    user: Option<Pattern>,
    client_host: Option<HostPattern>,
    db: Option<Pattern>,
}

/// Exact text, or a glob with `*` (any run) and `?` (one character).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern(String);

#[derive(Clone, Debug, PartialEq, Eq)]
enum HostPattern {
    Net(IpNet),
    Text(Pattern),
}

impl Matcher {
    /// Compiles a spec; errors name the field (`user`, `client_host`, `db`) first.
    pub fn compile(spec: &MatchSpec) -> Result<Matcher, (&'static str, String)> {
        let text = |field: &'static str,
                    v: &Option<String>|
         -> Result<Option<Pattern>, (&'static str, String)> {
            match v {
                Some(s) if s.is_empty() => Err((
                    field,
                    "is empty; leave the field out to match any value".into(),
                )),
                Some(s) => Ok(Some(Pattern(s.clone()))),
                None => Ok(None),
            }
        };
        let client_host = match &spec.client_host {
            None => None,
            Some(h) if h.contains('/') => {
                Some(HostPattern::Net(h.parse::<IpNet>().map_err(|_| {
                    (
                        "client_host",
                        format!("`{h}` is not a valid CIDR; write e.g. `10.0.0.0/8` or `fd00::/8`"),
                    )
                })?))
            }
            Some(h) => Some(HostPattern::Text(
                text("client_host", &Some(h.clone()))?.expect("checked above"),
            )),
        };
        Ok(Matcher {
            user: text("user", &spec.user)?,
            client_host,
            db: text("db", &spec.db)?,
        })
    }

    /// The user name when the pool names exactly one (no glob): per-user limits apply to it.
    pub fn exact_user(&self) -> Option<&str> {
        self.user
            .as_ref()
            .filter(|p| !p.is_glob())
            .map(|p| p.0.as_str())
    }

    /// Whether a session (host already without its port) belongs here.
    pub fn matches(&self, user: &str, host: &str, db: Option<&str>) -> bool {
        self.user.as_ref().is_none_or(|p| p.matches(user))
            && self.client_host.as_ref().is_none_or(|p| p.matches(host))
            && self
                .db
                .as_ref()
                .is_none_or(|p| db.is_some_and(|d| p.matches(d)))
    }

    /// True when every session `other` matches is also matched by `self`, so a pool with
    /// `other` placed after a pool with `self` could never see a session.
    pub fn covers(&self, other: &Matcher) -> bool {
        fn field<T: PartialEq>(
            mine: &Option<T>,
            theirs: &Option<T>,
            sub: impl Fn(&T, &T) -> bool,
        ) -> bool {
            match (mine, theirs) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some(a), Some(b)) => a == b || sub(a, b),
            }
        }
        let text_covers = |a: &Pattern, b: &Pattern| !b.is_glob() && a.matches(&b.0);
        field(&self.user, &other.user, text_covers)
            && field(&self.db, &other.db, text_covers)
            && field(&self.client_host, &other.client_host, |a, b| match (a, b) {
                (HostPattern::Net(a), HostPattern::Net(b)) => a.contains(b),
                (HostPattern::Net(a), HostPattern::Text(t)) => {
                    !t.is_glob() && client_ip(&t.0).is_some_and(|ip| a.contains(&ip))
                }
                (HostPattern::Text(a), HostPattern::Text(b)) => text_covers(a, b),
                (HostPattern::Text(_), HostPattern::Net(_)) => false,
            })
    }
}

impl Pattern {
    fn is_glob(&self) -> bool {
        self.0.contains(['*', '?'])
    }

    pub fn matches(&self, text: &str) -> bool {
        if !self.is_glob() {
            return self.0 == text;
        }
        let pattern: Vec<char> = self.0.chars().collect();
        let text: Vec<char> = text.chars().collect();
        glob(&pattern, &text)
    }
}

impl HostPattern {
    fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Net(net) => {
                let h = host.trim_start_matches('[').trim_end_matches(']');
                // IPv4 clients of a dual-stack server show as ::ffff:10.0.0.5.
                let h = h
                    .strip_prefix("::ffff:")
                    .filter(|v| v.contains('.'))
                    .unwrap_or(h);
                h.parse::<IpAddr>().is_ok_and(|ip| net.contains(&ip))
            }
            HostPattern::Text(p) => p.matches(host),
        }
    }
}

/// The client's address as a CIDR is matched against it: brackets dropped, and IPv4
/// clients of a dual-stack server (`::ffff:10.0.0.5`) as the IPv4 address they are.
fn client_ip(host: &str) -> Option<IpAddr> {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    let h = h
        .strip_prefix("::ffff:")
        .filter(|v| v.contains('.'))
        .unwrap_or(h);
    h.parse().ok()
}

/// `*` and `?` glob over characters (`?` is one character, also `é`), iterative with
/// backtracking to the last `*`.
fn glob(pattern: &[char], text: &[char]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(u) = &self.user {
            parts.push(format!("user: {}", u.0));
        }
        match &self.client_host {
            Some(HostPattern::Net(n)) => parts.push(format!("client_host: {n}")),
            Some(HostPattern::Text(t)) => parts.push(format!("client_host: {}", t.0)),
            None => {}
        }
        if let Some(d) = &self.db {
            parts.push(format!("db: {}", d.0));
        }
        write!(f, "{{ {} }}", parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(user: Option<&str>, host: Option<&str>, db: Option<&str>) -> Matcher {
        Matcher::compile(&MatchSpec {
            user: user.map(Into::into),
            client_host: host.map(Into::into),
            db: db.map(Into::into),
        })
        .unwrap()
    }

    #[test]
    fn users_match_exactly_or_by_glob() {
        assert!(m(Some("kefu"), None, None).matches("kefu", "h", None));
        assert!(!m(Some("kefu"), None, None).matches("kefu2", "h", None));
        assert!(m(Some("kefu*"), None, None).matches("kefu_worker", "h", None));
        assert!(m(Some("app-?"), None, None).matches("app-1", "h", None));
        assert!(!m(Some("app-?"), None, None).matches("app-10", "h", None));
        assert!(m(Some("*"), None, None).matches("", "h", None));
        assert!(m(Some("a*b*c"), None, None).matches("aXbYbZc", "h", None));
    }

    #[test]
    fn hosts_match_by_cidr_including_ipv6_and_mapped_ipv4() {
        let net = m(None, Some("10.0.0.0/8"), None);
        assert!(net.matches("u", "10.1.2.3", None));
        assert!(net.matches("u", "::ffff:10.1.2.3", None));
        assert!(!net.matches("u", "192.168.1.1", None));
        assert!(!net.matches("u", "localhost", None));
        let v6 = m(None, Some("fd00::/8"), None);
        assert!(v6.matches("u", "fd12::5", None));
        assert!(v6.matches("u", "[fd12::5]", None));
        assert!(!v6.matches("u", "::1", None));
        assert!(m(None, Some("web-*.internal"), None).matches("u", "web-3.internal", None));
        assert!(m(None, Some("localhost"), None).matches("u", "localhost", None));
    }

    #[test]
    fn db_must_be_present_to_match() {
        let d = m(None, None, Some("kefu"));
        assert!(d.matches("u", "h", Some("kefu")));
        assert!(!d.matches("u", "h", None));
        assert!(!d.matches("u", "h", Some("other")));
    }

    #[test]
    fn bad_patterns_name_their_field() {
        let bad = MatchSpec {
            client_host: Some("10.0.0.0/33".into()),
            ..MatchSpec::default()
        };
        assert_eq!(
            Matcher::compile(&bad).unwrap_err(),
            (
                "client_host",
                "`10.0.0.0/33` is not a valid CIDR; write e.g. `10.0.0.0/8` or `fd00::/8`"
                    .to_string()
            )
        );
        let empty = MatchSpec {
            user: Some(String::new()),
            ..MatchSpec::default()
        };
        assert_eq!(Matcher::compile(&empty).unwrap_err().0, "user");
    }

    #[test]
    fn coverage_finds_pools_that_can_never_match() {
        assert!(m(Some("kefu"), None, None).covers(&m(Some("kefu"), None, Some("kefu"))));
        assert!(m(Some("kefu*"), None, None).covers(&m(Some("kefu_a"), None, None)));
        assert!(m(None, Some("10.0.0.0/8"), None).covers(&m(None, Some("10.1.0.0/16"), None)));
        assert!(m(None, Some("10.0.0.0/8"), None).covers(&m(None, Some("10.1.2.3"), None)));
        assert!(!m(Some("kefu"), None, Some("kefu")).covers(&m(Some("kefu"), None, None)));
        assert!(!m(Some("kefu_a"), None, None).covers(&m(Some("kefu*"), None, None)));
        assert!(!m(None, Some("10.1.0.0/16"), None).covers(&m(None, Some("10.0.0.0/8"), None)));
    }
}
