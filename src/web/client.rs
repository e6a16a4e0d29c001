//! `check --exporter URL`: reads a running exporter's window of samples over HTTP, so a
//! one-shot check can say what happened between the scrapes (a pool full for a few seconds,
//! an account that connects per request). Plain HTTP with optional basic auth in the URL;
//! the password never appears in an error.

use std::time::{Duration, Instant};

use base64::Engine;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, HOST};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;

use super::http::SAMPLES_PATH;
use crate::analysis::peaks::{Sample, Window};

/// The answer of `/api/v1/samples`.
#[derive(Deserialize)]
struct Answer {
    window_seconds: f64,
    samples: Vec<Sample>,
}

/// The window of `target` at the exporter `base` (e.g. `http://127.0.0.1:9207`), read before
/// `deadline`.
pub async fn fetch_window(base: &str, target: &str, deadline: Instant) -> Result<Window, String> {
    let url = url::Url::parse(base).map_err(|e| {
        format!(
            "--exporter `{}` is not a URL ({e}); write e.g. http://127.0.0.1:9207",
            redact(base)
        )
    })?;
    let shown = redact(base);
    if url.scheme() != "http" {
        return Err(format!(
            "--exporter {shown}: only http:// is supported; point it at a plain HTTP listener of the exporter (e.g. a second --web.listen-address on 127.0.0.1)"
        ));
    }
    let host = url
        .host_str()
        .ok_or_else(|| format!("--exporter {shown} names no host"))?
        .to_string();
    let port = url.port().unwrap_or(80);
    let mut path = url.path().trim_end_matches('/').to_string();
    path.push_str(SAMPLES_PATH);
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("target", target)
        .finish();
    let work = async {
        let stream = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| format!("cannot reach the exporter at {shown}: {e}"))?;
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("the exporter at {shown} does not speak HTTP/1.1: {e}"))?;
        tokio::spawn(conn);
        let mut req = Request::get(format!("{path}?{query}")).header(HOST, host.as_str());
        if !url.username().is_empty() {
            let user = percent_encoding::percent_decode_str(url.username()).decode_utf8_lossy();
            let pass = url
                .password()
                .map(|p| percent_encoding::percent_decode_str(p).decode_utf8_lossy());
            let pair = format!("{user}:{}", pass.as_deref().unwrap_or(""));
            let header = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            );
            req = req.header(AUTHORIZATION, header);
        }
        let req = req
            .body(Empty::<Bytes>::new())
            .map_err(|e| format!("--exporter {shown}: {e}"))?;
        let resp = send
            .send_request(req)
            .await
            .map_err(|e| format!("the exporter at {shown} did not answer: {e}"))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("the exporter at {shown} broke off its answer: {e}"))?
            .to_bytes();
        if status != StatusCode::OK {
            let why = String::from_utf8_lossy(&body);
            return Err(format!(
                "the exporter at {shown} answered {status} for target `{target}`: {}",
                why.trim()
            ));
        }
        let answer: Answer = serde_json::from_slice(&body).map_err(|e| {
            format!("the exporter at {shown} sent samples this check cannot read ({e}); is it the same version?")
        })?;
        let span = Duration::try_from_secs_f64(answer.window_seconds)
            .map_err(|e| format!("the exporter at {shown} sent a bad window: {e}"))?;
        let mut window = Window::new(span);
        for s in answer.samples {
            window.push(s);
        }
        Ok(window)
    };
    match tokio::time::timeout_at(deadline.into(), work).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "the exporter at {shown} did not answer before --timeout"
        )),
    }
}

/// The URL as it may be shown: without the password.
fn redact(base: &str) -> String {
    match url::Url::parse(base) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("xxxxx"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "(the given URL)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_the_url_is_never_shown() {
        assert_eq!(
            redact("http://prom:s3cret@127.0.0.1:9207/"),
            "http://prom:xxxxx@127.0.0.1:9207/"
        );
        assert!(!redact("http://prom:s3cret@[::1").contains("s3cret"));
    }
}
