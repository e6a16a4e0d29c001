//! The HTTP server: `/metrics`, `/probe`, `/-/healthy`, `/-/ready` and `/`.
//!
//! hyper 1.x: the header-read timeout only works with a timer, so slowloris clients are cut
//! off; every scrape runs under the deadline Prometheus announces.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE, VARY};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use super::config::{self as web_config, WebConfig};
use super::exporter::DEFAULT_SCRAPE_TIMEOUT;
use super::{fleet_page, memory, status_page, Exporter, TargetState};
use crate::collect::OPENMETRICS_CONTENT_TYPE;

/// Taken off Prometheus' scrape timeout so the answer arrives before Prometheus gives up.
pub const TIMEOUT_OFFSET: Duration = Duration::from_millis(500);
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

type Body = Full<Bytes>;

/// The paths a user may move: `--web.telemetry-path`.
#[derive(Clone, Debug)]
pub struct Routes {
    pub telemetry_path: String,
}

impl Routes {
    /// Checks `--web.telemetry-path`: a path of its own, not one of the fixed pages.
    pub fn new(telemetry_path: &str) -> Result<Routes, String> {
        if !telemetry_path.starts_with('/') || telemetry_path.contains(['?', '#', ' ']) {
            return Err(format!(
                "--web.telemetry-path `{telemetry_path}` is not a URL path; write e.g. /metrics"
            ));
        }
        if FIXED_PATHS.contains(&telemetry_path) {
            return Err(format!(
                "--web.telemetry-path `{telemetry_path}` would hide the exporter's own page of that name; pick another, e.g. /metrics"
            ));
        }
        Ok(Routes {
            telemetry_path: telemetry_path.into(),
        })
    }
}

const FIXED_PATHS: [&str; 5] = ["/", "/probe", "/-/healthy", "/-/ready", SAMPLES_PATH];

/// The sampler's window of a target as JSON: what `check --exporter` judges.
pub const SAMPLES_PATH: &str = "/api/v1/samples";

/// Serves on every listener until `shutdown` resolves, with `--web.config.file`'s TLS,
/// basic auth and headers. The TLS handshake runs in each connection's task, under its own
/// timeout.
pub async fn serve(
    listeners: Vec<TcpListener>,
    exporter: Arc<Exporter>,
    web: Arc<WebConfig>,
    routes: Routes,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let routes = Arc::new(routes);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let loops: Vec<_> = listeners
        .into_iter()
        .map(|listener| {
            tokio::spawn(accept_loop(
                listener,
                Arc::clone(&exporter),
                Arc::clone(&web),
                Arc::clone(&routes),
                stopped.clone(),
            ))
        })
        .collect();
    shutdown.await;
    let _ = stop.send(true);
    for l in loops {
        let _ = l.await;
    }
    Ok(())
}

async fn accept_loop(
    listener: TcpListener,
    exporter: Arc<Exporter>,
    web: Arc<WebConfig>,
    routes: Arc<Routes>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
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
            _ = stopped.changed() => return,
        };
        let exporter = Arc::clone(&exporter);
        let web = Arc::clone(&web);
        let routes = Arc::clone(&routes);
        tokio::spawn(async move {
            match web.tls_acceptor() {
                None => serve_connection(TokioIo::new(stream), peer, exporter, web, routes).await,
                Some(acceptor) => match web_config::handshake(acceptor, stream).await {
                    Ok(tls) => {
                        serve_connection(TokioIo::new(tls), peer, exporter, web, routes).await
                    }
                    Err(e) => tracing::debug!(peer = %peer, error = %e, "TLS connection refused"),
                },
            }
        });
    }
}

async fn serve_connection<I>(
    io: I,
    peer: SocketAddr,
    exporter: Arc<Exporter>,
    web: Arc<WebConfig>,
    routes: Arc<Routes>,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let exporter = Arc::clone(&exporter);
        let web = Arc::clone(&web);
        let routes = Arc::clone(&routes);
        async move {
            let mut resp = match web.authorize(&req).await {
                Ok(()) => route(&exporter, &routes, req).await,
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

async fn route(exporter: &Exporter, routes: &Routes, req: Request<Incoming>) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET and HEAD are supported\n",
        );
    }
    match req.uri().path() {
        p if p == routes.telemetry_path => metrics(exporter, &req, None).await,
        "/probe" => match probe_target(req.uri().query()) {
            Ok(name) => metrics(exporter, &req, Some(&name)).await,
            Err(msg) => text(StatusCode::BAD_REQUEST, &msg),
        },
        SAMPLES_PATH => samples(exporter, req.uri().query()),
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
        "/" => status(exporter, routes, req.uri().query()).await,
        other => text(
            StatusCode::NOT_FOUND,
            &format!(
                "no page at {other}; try {}, /probe?target=NAME, /-/healthy, /-/ready or /\n",
                routes.telemetry_path
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

/// What `/` was asked for.
#[derive(Debug, PartialEq, Eq)]
pub enum StatusQuery {
    /// Every target in full (a few), or the fleet table's first page.
    All,
    /// The fleet table's page N (1-based).
    Page(usize),
    /// One target in full.
    Target(String),
}

/// `/`, `/?page=N` or `/?target=NAME`, strictly.
pub fn status_query(query: Option<&str>) -> Result<StatusQuery, String> {
    let mut out = StatusQuery::All;
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let next = match k.as_ref() {
            "target" if !v.is_empty() => StatusQuery::Target(v.into_owned()),
            "page" => match v.parse::<usize>() {
                Ok(n) if n >= 1 => StatusQuery::Page(n),
                _ => {
                    return Err(format!(
                        "page must be a number from 1, not `{}`\n",
                        v.escape_debug()
                    ))
                }
            },
            other => {
                return Err(format!(
                    "unknown parameter `{}`: the status page takes ?target=NAME or ?page=N\n",
                    other.escape_debug()
                ))
            }
        };
        if out != StatusQuery::All {
            return Err("give one parameter: ?target=NAME or ?page=N\n".into());
        }
        out = next;
    }
    Ok(out)
}

/// The status page: a few targets in full, a fleet as a table worst first, or one target.
async fn status(exporter: &Exporter, routes: &Routes, query: Option<&str>) -> Response<Body> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let thresholds = &exporter.config.thresholds;
    let query = match status_query(query) {
        Ok(q) => q,
        Err(msg) => return text(StatusCode::BAD_REQUEST, &msg),
    };
    let fleet = exporter.targets.len() > fleet_page::DETAILED_TARGETS;
    let detailed: Vec<Arc<TargetState>> = match &query {
        StatusQuery::Target(name) => match exporter.target(name) {
            Some(t) => vec![Arc::clone(t)],
            None => {
                let msg = format!(
                    "unknown target `{}`: / lists the configured targets\n",
                    name.escape_debug()
                );
                return text(StatusCode::NOT_FOUND, &msg);
            }
        },
        StatusQuery::All if !fleet => exporter.targets.clone(),
        StatusQuery::All | StatusQuery::Page(_) => {
            let page = match query {
                StatusQuery::Page(n) => n,
                _ => 1,
            };
            let last = fleet_page::pages(exporter.targets.len());
            if page > last {
                let msg =
                    format!("there are {last} page(s) of targets; ask for /?page=1 to {last}\n");
                return text(StatusCode::NOT_FOUND, &msg);
            }
            let glances = exporter.glances();
            return html(fleet_page::page(&glances, thresholds, page).into_string());
        }
    };
    let targets = exporter.page_targets(&detailed, deadline).await;
    let page = status_page::page(
        &targets,
        thresholds,
        &routes.telemetry_path,
        SystemTime::now(),
    );
    html(page.into_string())
}

/// `/api/v1/samples?target=NAME` (the target may be left out when there is one): the
/// window's samples, oldest first, with the sampler's settings.
fn samples(exporter: &Exporter, query: Option<&str>) -> Response<Body> {
    let name = match probe_target(query) {
        Ok(name) => name,
        Err(_) if exporter.targets.len() == 1 && query.unwrap_or("").is_empty() => {
            exporter.targets[0].db.name().to_string()
        }
        Err(_) => {
            return text(
                StatusCode::BAD_REQUEST,
                &format!("missing target: use {SAMPLES_PATH}?target=NAME with a target name from the config\n"),
            )
        }
    };
    if exporter.target(&name).is_none() {
        let known: Vec<&str> = exporter.targets.iter().map(|t| t.db.name()).collect();
        let msg = format!(
            "unknown target `{}`; configured targets: {}\n",
            name.escape_debug(),
            known.join(", ")
        );
        return text(StatusCode::NOT_FOUND, &msg);
    }
    let Some((settings, samples)) = exporter.samples(&name) else {
        return text(
            StatusCode::NOT_FOUND,
            "the sampler is off on this exporter (--no-collect.sampler): there is no window to read\n",
        );
    };
    let doc = serde_json::json!({
        "target": name,
        "interval_seconds": settings.interval.as_secs_f64(),
        "window_seconds": settings.window.as_secs_f64(),
        "samples": samples,
    });
    let mut resp = Response::new(Full::new(Bytes::from(doc.to_string())));
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
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

/// When the collection of an answer must end so that `reserve` is left before `deadline`
/// for encoding it; never before half the budget from `now`.
pub fn collect_deadline(now: Instant, deadline: Instant, reserve: Duration) -> Instant {
    let half = now + deadline.saturating_duration_since(now) / 2;
    deadline.checked_sub(reserve).map_or(half, |d| d.max(half))
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
    let several = states.len() > 1;
    let label_targets = only.is_none() && several;
    // Every target's answer is collected early enough to leave the time its encoding took
    // last time, and never less than half the budget.
    let collect_by = if several {
        collect_deadline(Instant::now(), deadline, exporter.encode_reserve())
    } else {
        deadline
    };
    let snaps =
        futures::future::join_all(states.iter().map(|s| exporter.collect(s, collect_by))).await;
    let started = Instant::now();
    let registry = exporter.registry(states.into_iter().zip(snaps).collect(), label_targets);
    let gzip = accepts_gzip(req.headers().get(ACCEPT_ENCODING));
    let encoded = if several {
        // Seconds of CPU with 1 000 targets (55 MB): off the async workers, which meanwhile
        // answer the probes and pages of other scrapers.
        tokio::task::spawn_blocking(move || encode_answer(registry, gzip))
            .await
            .unwrap_or_else(|e| Err(format!("the encoding task ended: {e}")))
    } else {
        encode_answer(registry, gzip)
    };
    if several {
        exporter.encoded_in(started.elapsed());
    }
    let bytes = match encoded {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::error!(error = %e, "encoding the metrics failed");
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "encoding the metrics failed; see the log\n",
            );
        }
    };
    let mut resp = Response::new(Full::new(bytes));
    let headers = resp.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(OPENMETRICS_CONTENT_TYPE),
    );
    headers.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    if gzip {
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    resp
}

/// The exposition of `registry`, gzipped when `gzip`; freed heap goes back to the system
/// after a large one.
fn encode_answer(
    registry: prometheus_client::registry::Registry,
    gzip: bool,
) -> Result<Bytes, String> {
    let mut body = String::with_capacity(64 * 1024);
    let encoded = prometheus_client::encoding::text::encode(&mut body, &registry);
    drop(registry);
    encoded.map_err(|e| e.to_string())?;
    let large = body.len() >= memory::LARGE_ANSWER;
    let bytes = if gzip {
        let zipped = gzip_bytes(body.as_bytes());
        drop(body);
        zipped
    } else {
        Bytes::from(body)
    };
    if large {
        memory::release_freed();
    }
    Ok(bytes)
}

/// Whether the scraper takes gzip (Prometheus sends `Accept-Encoding: gzip`): `gzip` or
/// `x-gzip` without `q=0`. `*` is not taken as a yes: a client that names no coding gets
/// plain text.
pub fn accepts_gzip(header: Option<&HeaderValue>) -> bool {
    let Some(value) = header.and_then(|h| h.to_str().ok()) else {
        return false;
    };
    value.split(',').any(|item| {
        let mut parts = item.split(';').map(str::trim);
        let coding = parts.next().unwrap_or("");
        let refused = parts.any(|p| {
            p.strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f64>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        (coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip")) && !refused
    })
}

/// gzip at the fastest level: expositions are repetitive text, so level 1 already saves
/// most of the bytes (docs/benchmarks.md has the numbers) for the least CPU.
fn gzip_bytes(plain: &[u8]) -> Bytes {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(plain.len() / 8 + 64),
        flate2::Compression::fast(),
    );
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(plain);
    Bytes::from(enc.finish().unwrap_or_default())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `/api/v1/samples`: the window of a target as JSON, and errors that say what to do
    /// for an unknown target, a missing one among several, and a sampler turned off.
    #[test]
    fn the_samples_endpoint_answers_or_says_why_not() {
        use crate::collect::all;
        use crate::web::SamplerSettings;
        let settings = SamplerSettings {
            interval: Duration::from_secs(1),
            window: Duration::from_secs(60),
        };
        let exporter = |dsn: &str, sampler: bool| {
            let config = crate::config::from_dsn(dsn, &|_| None).unwrap();
            let collectors = all()
                .into_iter()
                .filter(|c| sampler || c.name() != "sampler")
                .collect();
            Exporter::new(config, collectors, Vec::new(), settings)
        };
        let body = |r: Response<Body>| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            let bytes = rt.block_on(http_body_util::BodyExt::collect(r.into_body()));
            String::from_utf8(bytes.unwrap().to_bytes().to_vec()).unwrap()
        };
        let on = exporter("mysql://exporter@127.0.0.1:3306", true);
        let r = samples(&on, None);
        assert_eq!(r.status(), StatusCode::OK);
        let doc: serde_json::Value = serde_json::from_str(&body(r)).unwrap();
        assert_eq!(doc["window_seconds"], 60.0);
        assert_eq!(doc["samples"], serde_json::json!([]));
        let r = samples(&on, Some("target=nope"));
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert!(body(r).starts_with("unknown target `nope`; configured targets: "));
        let off = exporter("mysql://exporter@127.0.0.1:3306", false);
        let r = samples(&off, None);
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert!(body(r).contains("the sampler is off on this exporter (--no-collect.sampler)"));
    }

    #[test]
    fn gzip_only_when_asked_for() {
        let h = |v: &'static str| accepts_gzip(Some(&HeaderValue::from_static(v)));
        assert!(h("gzip"));
        assert!(h("deflate, GZIP;q=0.5"));
        assert!(h("x-gzip"));
        assert!(!h("gzip;q=0"));
        assert!(!h("gzip; q=0.0, identity"));
        assert!(!h("identity"));
        assert!(!h("*"));
        assert!(!h("gzipped"));
        assert!(!accepts_gzip(None));
    }

    #[test]
    fn the_telemetry_path_cannot_hide_a_fixed_page() {
        assert_eq!(Routes::new("/stats").unwrap().telemetry_path, "/stats");
        assert!(Routes::new("/").unwrap_err().contains("hide"));
        assert!(Routes::new("/-/ready").unwrap_err().contains("hide"));
        assert!(Routes::new("metrics")
            .unwrap_err()
            .contains("not a URL path"));
        assert!(Routes::new("/m?x=1")
            .unwrap_err()
            .contains("not a URL path"));
    }

    #[test]
    fn the_status_page_takes_one_target_or_one_page() {
        use StatusQuery::*;
        assert_eq!(status_query(None), Ok(All));
        assert_eq!(status_query(Some("")), Ok(All));
        assert_eq!(status_query(Some("page=3")), Ok(Page(3)));
        assert_eq!(
            status_query(Some("target=db%2D1")),
            Ok(Target("db-1".into()))
        );
        for (bad, says) in [
            ("page=0", "page must be a number from 1"),
            ("page=two", "page must be a number from 1, not `two`"),
            ("target=a&page=2", "give one parameter"),
            ("target=a&target=b", "give one parameter"),
            ("sort=name", "unknown parameter `sort`"),
        ] {
            let err = status_query(Some(bad)).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

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
    fn collection_leaves_the_last_encoding_time_but_keeps_half_the_budget() {
        let now = Instant::now();
        let deadline = now + Duration::from_millis(3500);
        let ms = |i: Instant| (i - now).as_millis();
        assert_eq!(ms(collect_deadline(now, deadline, Duration::ZERO)), 3500);
        assert_eq!(
            ms(collect_deadline(now, deadline, Duration::from_millis(900))),
            2600
        );
        assert_eq!(
            ms(collect_deadline(now, deadline, Duration::from_secs(3))),
            1750
        );
        assert_eq!(
            ms(collect_deadline(now, deadline, Duration::from_secs(99))),
            1750
        );
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
