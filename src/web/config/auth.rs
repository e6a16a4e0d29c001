//! Basic auth: bcrypt hashes checked off the async workers, one at a time, with an unknown
//! user costing as much as a wrong password. A successful check is remembered as a keyed
//! hash of (user, password), so a scrape does not pay for a full bcrypt every time.
//! Passwords and the `Authorization` header are never logged.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use base64::Engine as _;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{HeaderValue, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::{Response, StatusCode};
use serde_saphyr::Spanned;

use super::{error, line_of};
use crate::config::ConfigError;

/// The `WWW-Authenticate` answer to a request without valid credentials.
pub const WWW_AUTHENTICATE_VALUE: &str = "Basic realm=\"mysql_pool_exporter\"";
/// Remembered successful logins; the set is emptied when it is full.
const AUTH_CACHE_CAPACITY: usize = 1024;

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

pub(super) struct BasicAuth {
    /// user -> bcrypt hash (validated at load).
    pub(super) users: BTreeMap<String, String>,
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

    pub(super) async fn check(&self, header: Option<&HeaderValue>) -> bool {
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
    pub(super) fn cached(&self) -> usize {
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

pub(super) fn users_of(users: BTreeMap<String, Spanned<String>>) -> Result<BasicAuth, ConfigError> {
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

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::super::tests::parse_err;
    use super::*;
    use hyper::Request;
    use std::path::Path;

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
