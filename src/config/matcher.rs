//! Which sessions belong to a pool: `user`, `client_host`, `db` and connect-attribute
//! patterns, compiled once at load so a bad CIDR is a config error, not a silent non-match.

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
    /// (attribute name, pattern), sorted by name.
    attributes: Vec<(String, Pattern)>,
}

/// What a pool is matched against: one session, or a group of sessions that share it.
#[derive(Clone, Copy, Debug)]
pub struct Client<'a> {
    pub user: &'a str,
    /// The client host without its port.
    pub host: &'a str,
    pub db: Option<&'a str>,
    /// The connect attributes the exporter read for it (only those some pool names).
    pub attributes: &'a [(String, String)],
}

impl<'a> Client<'a> {
    /// A client without connect attributes.
    pub fn new(user: &'a str, host: &'a str, db: Option<&'a str>) -> Self {
        Client {
            user,
            host,
            db,
            attributes: &[],
        }
    }

    pub fn attribute(&self, name: &str) -> Option<&'a str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Connect-attribute names become SQL string literals: keep them to a plain alphabet (every
/// client library's names fit it: `program_name`, `_pid`, `_client_name`).
pub fn valid_attribute_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
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
        let mut attributes = Vec::new();
        for (name, value) in &spec.attributes {
            if !valid_attribute_name(name) {
                return Err((
                    "attributes",
                    format!(
                        "`{name}` is not a connect-attribute name this exporter reads; use \
                         letters, digits, `_`, `-` and `.` (e.g. program_name)"
                    ),
                ));
            }
            let pattern = text("attributes", &Some(value.clone()))?.expect("given");
            attributes.push((name.clone(), pattern));
        }
        Ok(Matcher {
            user: text("user", &spec.user)?,
            client_host,
            db: text("db", &spec.db)?,
            attributes,
        })
    }

    /// The spec this was compiled from (a CIDR in its canonical form).
    pub fn spec(&self) -> MatchSpec {
        MatchSpec {
            user: self.user.as_ref().map(|p| p.0.clone()),
            client_host: self.client_host.as_ref().map(|h| match h {
                HostPattern::Net(n) => n.to_string(),
                HostPattern::Text(t) => t.0.clone(),
            }),
            db: self.db.as_ref().map(|p| p.0.clone()),
            attributes: self
                .attributes
                .iter()
                .map(|(k, v)| (k.clone(), v.0.clone()))
                .collect(),
        }
    }

    /// The connect-attribute names this matcher reads.
    pub fn attribute_names(&self) -> impl Iterator<Item = &str> {
        self.attributes.iter().map(|(n, _)| n.as_str())
    }

    pub fn uses_attributes(&self) -> bool {
        !self.attributes.is_empty()
    }

    /// The user name when the pool names exactly one (no glob): per-user limits apply to it.
    pub fn exact_user(&self) -> Option<&str> {
        self.user
            .as_ref()
            .filter(|p| !p.is_glob())
            .map(|p| p.0.as_str())
    }

    /// Whether a session (host already without its port) belongs here. A named field or
    /// attribute the session lacks is no match.
    pub fn matches(&self, c: &Client) -> bool {
        self.user.as_ref().is_none_or(|p| p.matches(c.user))
            && self.client_host.as_ref().is_none_or(|p| p.matches(c.host))
            && self
                .db
                .as_ref()
                .is_none_or(|p| c.db.is_some_and(|d| p.matches(d)))
            && self
                .attributes
                .iter()
                .all(|(name, p)| c.attribute(name).is_some_and(|v| p.matches(v)))
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
        // Every attribute I require, the other requires too, with a pattern I cover.
        let attributes_cover = self.attributes.iter().all(|(name, mine)| {
            other
                .attributes
                .iter()
                .any(|(n, theirs)| n == name && (mine == theirs || text_covers(mine, theirs)))
        });
        attributes_cover
            && field(&self.user, &other.user, text_covers)
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
        if !self.attributes.is_empty() {
            let attrs: Vec<String> = self
                .attributes
                .iter()
                .map(|(k, v)| format!("{k}: {}", v.0))
                .collect();
            parts.push(format!("attributes: {{ {} }}", attrs.join(", ")));
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
            ..MatchSpec::default()
        })
        .unwrap()
    }

    /// `matches` for a client without attributes.
    trait Plain {
        fn matches3(&self, user: &str, host: &str, db: Option<&str>) -> bool;
    }
    impl Plain for Matcher {
        fn matches3(&self, user: &str, host: &str, db: Option<&str>) -> bool {
            self.matches(&Client::new(user, host, db))
        }
    }

    fn by_attributes(user: Option<&str>, attrs: &[(&str, &str)]) -> Matcher {
        Matcher::compile(&MatchSpec {
            user: user.map(Into::into),
            attributes: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..MatchSpec::default()
        })
        .unwrap()
    }

    #[test]
    fn connect_attributes_tell_apart_apps_that_share_a_user() {
        let flask = by_attributes(Some("kefu"), &[("program_name", "kefu-flask")]);
        let workers = by_attributes(None, &[("program_name", "kefu-worker-*")]);
        fn kefu(attributes: &[(String, String)]) -> Client<'_> {
            Client {
                user: "kefu",
                host: "10.0.0.5",
                db: Some("kefu"),
                attributes,
            }
        }
        let attrs = |v: &str| vec![("program_name".to_string(), v.to_string())];
        let (web, worker) = (attrs("kefu-flask"), attrs("kefu-worker-3"));
        assert!(flask.matches(&kefu(&web)));
        assert!(!flask.matches(&kefu(&worker)));
        assert!(workers.matches(&kefu(&worker)));
        // No attribute read (performance_schema off): no match, never a guess.
        assert!(!flask.matches(&kefu(&[])));
        assert!(!flask.matches(&Client {
            user: "report",
            ..kefu(&web)
        }));
        assert_eq!(
            flask.to_string(),
            "{ user: kefu, attributes: { program_name: kefu-flask } }"
        );
        assert_eq!(
            flask.attribute_names().collect::<Vec<_>>(),
            ["program_name"]
        );
        // A pool without attributes covers one with them; not the other way round.
        assert!(m(Some("kefu"), None, None).covers(&flask));
        assert!(!flask.covers(&m(Some("kefu"), None, None)));
        assert!(workers.covers(&by_attributes(None, &[("program_name", "kefu-worker-1")])));
        let bad = MatchSpec {
            attributes: [("x' OR 1".to_string(), "v".to_string())].into(),
            ..MatchSpec::default()
        };
        assert_eq!(Matcher::compile(&bad).unwrap_err().0, "attributes");
    }

    #[test]
    fn users_match_exactly_or_by_glob() {
        assert!(m(Some("kefu"), None, None).matches3("kefu", "h", None));
        assert!(!m(Some("kefu"), None, None).matches3("kefu2", "h", None));
        assert!(m(Some("kefu*"), None, None).matches3("kefu_worker", "h", None));
        assert!(m(Some("app-?"), None, None).matches3("app-1", "h", None));
        assert!(!m(Some("app-?"), None, None).matches3("app-10", "h", None));
        assert!(m(Some("*"), None, None).matches3("", "h", None));
        assert!(m(Some("a*b*c"), None, None).matches3("aXbYbZc", "h", None));
    }

    #[test]
    fn hosts_match_by_cidr_including_ipv6_and_mapped_ipv4() {
        let net = m(None, Some("10.0.0.0/8"), None);
        assert!(net.matches3("u", "10.1.2.3", None));
        assert!(net.matches3("u", "::ffff:10.1.2.3", None));
        assert!(!net.matches3("u", "192.168.1.1", None));
        assert!(!net.matches3("u", "localhost", None));
        let v6 = m(None, Some("fd00::/8"), None);
        assert!(v6.matches3("u", "fd12::5", None));
        assert!(v6.matches3("u", "[fd12::5]", None));
        assert!(!v6.matches3("u", "::1", None));
        assert!(m(None, Some("web-*.internal"), None).matches3("u", "web-3.internal", None));
        assert!(m(None, Some("localhost"), None).matches3("u", "localhost", None));
    }

    #[test]
    fn db_must_be_present_to_match() {
        let d = m(None, None, Some("kefu"));
        assert!(d.matches3("u", "h", Some("kefu")));
        assert!(!d.matches3("u", "h", None));
        assert!(!d.matches3("u", "h", Some("other")));
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
