//! A server that restarts, or another server behind the same address: the exporter is back
//! on the first scrape that reaches a running server, says "lost" and "reconnected" once
//! each, and keeps nothing of a server run that is gone.

mod common;

use std::time::{Duration, Instant};

use common::{eventually, http_get, om, target_config, Exporter, Server};
use mysql_async::prelude::Queryable;

/// Scrapes as Prometheus does with a 5 s interval: its timeout header says 5 s.
fn up(exporter: &Exporter) -> f64 {
    let r = http_get(
        exporter.port,
        "/metrics",
        &[("X-Prometheus-Scrape-Timeout-Seconds", "5")],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    om::get(&om::parse(&r.body), "mysql_up", &[]).unwrap()
}

/// Stopped long enough for the reconnect backoff to reach its longest pause (5 s, the
/// scrape interval), then restarted at several points of the 5 s scrape cycle: the first
/// scrape after the server is ready says `mysql_up 1`. (A scrape that kept to the backoff
/// counted from its failed attempt 5 s before would not even try.) The sampler is off, so
/// that only the scrapes connect: its own reconnects could hide a scrape that waits.
#[test]
fn a_restarted_server_is_up_on_the_first_scrape_that_reaches_it() {
    let mut db = Server::start(&[]);
    let exporter = Exporter::start(&target_config(&db), &["--no-collect.sampler"]);
    eventually(Duration::from_secs(20), "up", || {
        (up(&exporter) == 1.0).then_some(())
    });
    let interval = Duration::from_secs(5);
    let offsets = [500, 2000, 4500].map(Duration::from_millis);
    for offset in offsets {
        db.stop();
        // Scrapes while down until the reconnect backoff is at its cap, then a pause past
        // it, so the scrape that starts the cycle does try to connect (and fails).
        let down = Instant::now();
        while down.elapsed() < Duration::from_secs(8) {
            assert_eq!(up(&exporter), 0.0, "down");
            std::thread::sleep(Duration::from_millis(250));
        }
        std::thread::sleep(Duration::from_millis(5100));
        let scraped = Instant::now();
        assert_eq!(up(&exporter), 0.0, "down");
        std::thread::sleep(offset);
        db.restart();
        let ready = Instant::now();
        // The next scrape of the cycle.
        let mut next = scraped + interval;
        while next < ready {
            next += interval;
        }
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        let seen = up(&exporter);
        assert_eq!(
            seen,
            1.0,
            "restart {offset:?} after a scrape, ready {:?} before the next: still down\n{}",
            next - ready,
            exporter.log()
        );
    }
    let log = exporter.log();
    let lost = log.matches("connection to MySQL lost").count();
    let back = log.matches("reconnected to MySQL after").count();
    assert_eq!((lost, back), (3, 3), "{log}");
    assert!(!log.contains("panicked"), "{log}");
}

/// Sessions of `program_name` idle in transactions, taking the ids of `want` when given
/// (a new server run counts from 1 again).
async fn app(db: &Server, program: &str, n: usize, want: &[u32]) -> Vec<mysql_async::Conn> {
    let mut kept = Vec::new();
    for _ in 0..200 {
        let mut c = db
            .session("kefu", Some("kefu"), &[("program_name", program)])
            .await;
        if !want.is_empty() && !want.contains(&c.id()) {
            if c.id() > *want.iter().max().unwrap() {
                break;
            }
            c.disconnect().await.unwrap();
            continue;
        }
        c.query_drop("START TRANSACTION").await.unwrap();
        c.query_drop("SELECT name FROM visitors WHERE id = 1")
            .await
            .unwrap();
        kept.push(c);
        if kept.len() == n {
            break;
        }
    }
    kept
}

/// Server A is stopped and a new server B (its own datadir) starts on the same port while
/// the exporter runs; B's sessions take A's session ids. Nothing of A survives: not the
/// attributes cached per session id (B's sessions show as B's app), not the sampler's
/// window (A's app has no `_max` series any more).
#[test]
fn another_server_behind_the_address_leaves_nothing_of_the_first() {
    let a = Server::start(&[]);
    let exporter = Exporter::start(&target_config(&a), &[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let a_sessions = rt.block_on(app(&a, "app-a", 3, &[]));
    let ids: Vec<u32> = a_sessions.iter().map(|c| c.id()).collect();
    let held =
        |s: &om::Samples, pool: &str| om::get(s, "mysql_pool_held_sessions", &[("pool", pool)]);
    let held_max =
        |s: &om::Samples, pool: &str| om::get(s, "mysql_pool_held_sessions_max", &[("pool", pool)]);
    eventually(Duration::from_secs(15), "app-a in the window", || {
        let s = exporter.scrape();
        (held(&s, "app-a") == Some(3.0) && held_max(&s, "app-a") == Some(3.0)).then_some(())
    });
    a.stop();
    rt.block_on(async move { drop(a_sessions) });
    let b = Server::start_on(common::flavor(), a.port, &[]);
    assert_eq!(b.port, a.port);
    let b_sessions = rt.block_on(app(&b, "app-b", 3, &ids));
    let reused: Vec<u32> = b_sessions.iter().map(|c| c.id()).collect();
    eprintln!("app-a had ids {ids:?}; app-b took {reused:?}");
    assert!(!reused.is_empty());
    let started = Instant::now();
    let s = loop {
        let s = exporter.scrape();
        if held(&s, "app-b") == Some(reused.len() as f64) {
            break s;
        }
        let pools: Vec<_> = s
            .iter()
            .filter(|(k, _)| k.starts_with("mysql_pool_held") || k.starts_with("mysql_up"))
            .collect();
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "app-b not seen on server B: {pools:?}\n{}",
            exporter.log()
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    let of_a: Vec<&String> = s.keys().filter(|k| k.contains("\"app-a\"")).collect();
    assert!(of_a.is_empty(), "series of server A's app remain: {of_a:?}");
    let log = exporter.log();
    assert!(log.contains("another server run answers"), "{log}");
    rt.block_on(async move { drop(b_sessions) });
}

/// A server that accepts TCP and never answers (hung, or a firewall that drops), scraped by
/// 20 clients at once for 6 s, /metrics, /probe and the status page alike: the exporter has
/// at most one connect in flight to it, and tries about once per connect timeout, not once
/// per request.
#[test]
fn a_hung_server_gets_one_connect_at_a_time() {
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    let hole = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = hole.local_addr().unwrap().port();
    let held: Arc<Mutex<Vec<std::net::TcpStream>>> = Arc::default();
    let accepted = Arc::new(AtomicUsize::new(0));
    {
        let (held, accepted) = (Arc::clone(&held), Arc::clone(&accepted));
        std::thread::spawn(move || {
            for s in hole.incoming().flatten() {
                s.set_nonblocking(true).unwrap();
                accepted.fetch_add(1, Ordering::SeqCst);
                held.lock().unwrap().push(s);
            }
        });
    }
    // Connections the exporter still holds open (a read of 0 bytes: it closed its end).
    let open_now = || {
        let mut held = held.lock().unwrap();
        held.retain(|s| {
            let mut b = [0u8; 1];
            !matches!(std::io::Read::read(&mut &*s, &mut b), Ok(0))
        });
        held.len()
    };
    let cfg = format!(
        "targets:\n  - name: hung\n    dsn: mysql://exporter@127.0.0.1:{port}\n    password_file: {{password_file}}\n    tls: {{ mode: disabled }}\n    connect_timeout: 1s\n"
    );
    let exporter = Exporter::start(&cfg, &[]);
    let until = Instant::now() + Duration::from_secs(6);
    let clients: Vec<_> = (0..20)
        .map(|i| {
            let port = exporter.port;
            std::thread::spawn(move || {
                let path = ["/metrics", "/probe?target=hung", "/"][i % 3];
                let mut n = 0;
                while Instant::now() < until {
                    http_get(port, path, &[("X-Prometheus-Scrape-Timeout-Seconds", "2")]);
                    n += 1;
                }
                n
            })
        })
        .collect();
    // Two attempts in flight last as long as a connect timeout (1 s) against this server;
    // a socket seen open for one 20 ms poll after the exporter gave up on it is its close
    // still on the way. So a count holds when three polls in a row (40 ms) saw it.
    let mut most_open = 0;
    let mut last = [0usize; 3];
    while Instant::now() < until {
        last.rotate_left(1);
        last[2] = open_now();
        most_open = most_open.max(*last.iter().min().unwrap_or(&0));
        std::thread::sleep(Duration::from_millis(20));
    }
    let requests: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
    let connects = accepted.load(Ordering::SeqCst);
    eprintln!("{requests} requests, {connects} connects, at most {most_open} open at once");
    assert!(requests >= 40, "the clients got few answers: {requests}");
    assert!(most_open <= 1, "{most_open} connects in flight at once");
    // One per connect timeout (1 s), a few more for the start-up connect and the page.
    assert!(
        connects <= 12,
        "{connects} connects in 6 s for {requests} requests"
    );
}
