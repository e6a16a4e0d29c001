//! The HTTP server: `/metrics`, `/probe`, `/-/healthy`, `/-/ready` and `/`.
//!
//! hyper 1.x: the header-read timeout only works with a timer, so slowloris clients are cut
//! off; every scrape runs under the deadline Prometheus announces.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use super::config::{self as web_config, WebConfig};
use super::Exporter;
use crate::collect::OPENMETRICS_CONTENT_TYPE;

/// How long a scrape may take when Prometheus does not say (it always does).
pub const DEFAULT_SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);
/// Taken off Prometheus' scrape timeout so the answer arrives before Prometheus gives up.
pub const TIMEOUT_OFFSET: Duration = Duration::from_millis(500);
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

type Body = Full<Bytes>;

/// Serves until `shutdown` resolves, with `--web.config.file`'s TLS, basic auth and headers.
/// The TLS handshake runs in each connection's task, under its own timeout.
pub async fn serve(
    listener: TcpListener,
    exporter: Arc<Exporter>,
    web: Arc<WebConfig>,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => return Ok(()),
        };
        let exporter = Arc::clone(&exporter);
        let web = Arc::clone(&web);
        tokio::spawn(async move {
            match web.tls_acceptor() {
                None => serve_connection(TokioIo::new(stream), peer, exporter, web).await,
                Some(acceptor) => match web_config::handshake(acceptor, stream).await {
                    Ok(tls) => serve_connection(TokioIo::new(tls), peer, exporter, web).await,
                    Err(e) => tracing::debug!(peer = %peer, error = %e, "TLS connection refused"),
                },
            }
        });
    }
}

async fn serve_connection<I>(io: I, peer: SocketAddr, exporter: Arc<Exporter>, web: Arc<WebConfig>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let exporter = Arc::clone(&exporter);
        let web = Arc::clone(&web);
        async move {
            let mut resp = match web.authorize(&req).await {
                Ok(()) => route(&exporter, req).await,
                Err(denied) => denied,
            };
            web.add_headers(&mut resp);
            Ok::<_, Infallible>(resp)
        }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_header_size(16 * 1024)
        .serve_connection(io, service);
    if let Err(e) = conn.await {
        tracing::debug!(peer = %peer, error = %e, "HTTP connection ended with an error");
    }
}

async fn route(exporter: &Exporter, req: Request<Incoming>) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET and HEAD are supported\n",
        );
    }
    match req.uri().path() {
        "/metrics" => metrics(exporter, &req, None).await,
        "/probe" => match probe_target(req.uri().query()) {
            Ok(name) => metrics(exporter, &req, Some(&name)).await,
            Err(msg) => text(StatusCode::BAD_REQUEST, &msg),
        },
        "/-/healthy" => text(StatusCode::OK, "Healthy\n"),
        "/-/ready" => {
            if exporter.is_ready() {
                text(StatusCode::OK, "Ready\n")
            } else {
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Not ready: no MySQL target has answered yet (see /metrics and the log)\n",
                )
            }
        }
        "/" => html(super::status_page::render(exporter).await),
        other => text(
            StatusCode::NOT_FOUND,
            &format!(
                "no page at {other}; try /metrics, /probe?target=NAME, /-/healthy, /-/ready or /\n"
            ),
        ),
    }
}

/// The `target` parameter of `/probe`, form-decoded. (Bytes that are not UTF-8 become
/// U+FFFD, which no target name holds: such a name is then an unknown target.)
pub fn probe_target(query: Option<&str>) -> Result<String, String> {
    let bytes = query.unwrap_or("").as_bytes();
    let mut target = None;
    for (k, v) in url::form_urlencoded::parse(bytes) {
        if k == "target" && target.replace(v.into_owned()).is_some() {
            return Err("give the target parameter once: /probe?target=NAME\n".into());
        }
    }
    match target {
        Some(t) if !t.is_empty() => Ok(t),
        _ => Err(
            "missing target: use /probe?target=NAME with a target name from the config\n".into(),
        ),
    }
}

/// The deadline of a scrape: Prometheus' `X-Prometheus-Scrape-Timeout-Seconds` minus an offset.
pub fn scrape_deadline(header: Option<&HeaderValue>, now: Instant) -> Instant {
    let timeout = header
        .and_then(|h| h.to_str().ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(|s| Duration::from_secs_f64(s.min(3600.0)))
        .unwrap_or(DEFAULT_SCRAPE_TIMEOUT);
    let budget = timeout
        .checked_sub(TIMEOUT_OFFSET)
        .filter(|d| *d >= Duration::from_millis(100))
        .unwrap_or(timeout / 2)
        .max(Duration::from_millis(1));
    now + budget
}

async fn metrics(
    exporter: &Exporter,
    req: &Request<Incoming>,
    only: Option<&str>,
) -> Response<Body> {
    let deadline = scrape_deadline(
        req.headers().get("x-prometheus-scrape-timeout-seconds"),
        Instant::now(),
    );
    let states = match only {
        Some(name) => match exporter.target(name) {
            Some(t) => vec![Arc::clone(t)],
            None => {
                let known: Vec<&str> = exporter.targets.iter().map(|t| t.db.name()).collect();
                return text(
                    StatusCode::BAD_REQUEST,
                    &format!(
                        "unknown target `{}`; configured targets: {}\n",
                        name.escape_debug(),
                        known.join(", ")
                    ),
                );
            }
        },
        None => exporter.targets.clone(),
    };
    let label_targets = only.is_none() && states.len() > 1;
    let snaps =
        futures::future::join_all(states.iter().map(|s| exporter.collect(s, deadline))).await;
    let registry = exporter.registry(states.into_iter().zip(snaps).collect(), label_targets);
    let mut body = String::with_capacity(64 * 1024);
    if let Err(e) = prometheus_client::encoding::text::encode(&mut body, &registry) {
        tracing::error!(error = %e, "encoding the metrics failed");
        return text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "encoding the metrics failed; see the log\n",
        );
    }
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(OPENMETRICS_CONTENT_TYPE),
    );
    resp
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

fn html(body: String) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp
}

/// Binds `--web.listen-address`; `:9207` means every address, as Prometheus exporters do.
pub async fn bind(address: &str) -> Result<TcpListener, String> {
    let addr = if let Some(port) = address.strip_prefix(':') {
        format!("0.0.0.0:{port}")
    } else {
        address.to_string()
    };
    let parsed: SocketAddr = addr.parse().map_err(|_| {
        format!("--web.listen-address `{address}` is not HOST:PORT; write e.g. `:9207` or `127.0.0.1:9207`")
    })?;
    TcpListener::bind(parsed)
        .await
        .map_err(|e| format!("cannot listen on {parsed} (--web.listen-address): {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_target_is_read_strictly() {
        assert_eq!(probe_target(Some("target=primary")), Ok("primary".into()));
        assert_eq!(
            probe_target(Some("module=x&target=a%2Db")),
            Ok("a-b".into())
        );
        assert!(probe_target(None).unwrap_err().contains("missing target"));
        assert!(probe_target(Some("target="))
            .unwrap_err()
            .contains("missing target"));
        assert!(probe_target(Some("target=a&target=b"))
            .unwrap_err()
            .contains("once"));
        assert_eq!(probe_target(Some("target=%ff")), Ok("\u{fffd}".into()));
        assert_eq!(probe_target(Some("target=a+b")), Ok("a b".into()));
    }

    #[test]
    fn the_deadline_follows_prometheus_minus_an_offset() {
        let now = Instant::now();
        let h = HeaderValue::from_static("4");
        assert_eq!(
            scrape_deadline(Some(&h), now) - now,
            Duration::from_millis(3500)
        );
        assert_eq!(
            scrape_deadline(None, now) - now,
            Duration::from_millis(9500)
        );
        let tiny = HeaderValue::from_static("0.4");
        assert_eq!(
            scrape_deadline(Some(&tiny), now) - now,
            Duration::from_millis(200)
        );
        let junk = HeaderValue::from_static("soon");
        assert_eq!(
            scrape_deadline(Some(&junk), now) - now,
            Duration::from_millis(9500)
        );
    }
}
