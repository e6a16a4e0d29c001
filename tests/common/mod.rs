//! Test harness: a real MariaDB (Debian `mariadb-server`) with a throwaway datadir on a free
//! loopback port, the real exporter binary, and a tiny HTTP client.
//!
//! The server is stopped by PID: a watchdog shell waits for the test process to exit, then
//! kills the server and removes its directory, so nothing survives a panicking test.

#![allow(dead_code)]

#[path = "../../src/expose/om.rs"]
pub mod om;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const EXPORTER_PASSWORD: &str = "exp-S3cret-7f2a";
pub const APP_PASSWORD: &str = "app-pw";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A scratch directory under `target/test-tmp`, removed by the watchdog/Drop.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "{name}-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn find(names: &[&str]) -> PathBuf {
    for n in names {
        for dir in ["/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin"] {
            let p = Path::new(dir).join(n);
            if p.exists() {
                return p;
            }
        }
    }
    panic!("none of {names:?} is installed: run scripts/test.sh (it apt-get installs mariadb-server and prometheus)");
}

/// Kills `pid` (and removes `dir`) once this test process is gone. Neither the watchdog nor
/// the server is waited for: they outlive the test process on purpose, and init reaps them.
/// When `dir/pid` exists (a restarted MariaDB has a new PID), that PID is the one killed.
#[allow(clippy::zombie_processes)]
fn watchdog(pid: u32, dir: &Path) {
    let script = format!(
        "while kill -0 {me} 2>/dev/null; do sleep 0.3; done; p={pid}; \
         [ -s '{dir}/pid' ] && p=$(cat '{dir}/pid'); kill -CONT $p 2>/dev/null; kill $p 2>/dev/null; \
         for i in $(seq 50); do kill -0 $p 2>/dev/null || break; sleep 0.1; done; \
         kill -9 $p 2>/dev/null; rm -rf '{dir}'",
        me = std::process::id(),
        dir = dir.display()
    );
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start watchdog");
}

pub struct MariaDb {
    pub port: u16,
    pub dir: PathBuf,
    pub socket: PathBuf,
    pub pid: u32,
    extra: Vec<String>,
}

/// mariadbd refuses to run as root unless told to.
fn root_user() -> Vec<&'static str> {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    if root {
        vec!["--user=root"]
    } else {
        vec![]
    }
}

impl MariaDb {
    /// Starts a server; `extra` adds mariadbd options (later ones win). The watchdog stops it.
    pub fn start(extra: &[&str]) -> MariaDb {
        let dir = scratch("mariadb");
        // Its own tmpdir: /tmp is shared with whatever else runs on the machine.
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        let out = Command::new(find(&["mariadb-install-db", "mysql_install_db"]))
            .args([
                "--no-defaults",
                "--skip-test-db",
                "--auth-root-authentication-method=socket",
            ])
            .arg(format!("--datadir={}", dir.join("data").display()))
            .arg(format!("--tmpdir={}", dir.join("tmp").display()))
            .args(root_user())
            .output()
            .expect("run mariadb-install-db");
        assert!(
            out.status.success(),
            "mariadb-install-db failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut db = MariaDb {
            port: free_port(),
            socket: dir.join("sock"),
            dir,
            pid: 0,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        db.spawn();
        watchdog(db.pid, &db.dir);
        db.wait_ready();
        db.sql(&format!(
            "CREATE USER 'exporter'@'%' IDENTIFIED BY '{EXPORTER_PASSWORD}';
             GRANT PROCESS, REPLICATION CLIENT, SLAVE MONITOR ON *.* TO 'exporter'@'%';
             GRANT SELECT ON performance_schema.* TO 'exporter'@'%';
             CREATE DATABASE kefu;
             CREATE TABLE kefu.visitors (id INT PRIMARY KEY, name VARCHAR(64)) ENGINE=InnoDB;
             INSERT INTO kefu.visitors VALUES (1,'a'),(2,'b'),(3,'c'),(4,'d'),(5,'e'),(6,'f');
             CREATE USER 'kefu'@'%' IDENTIFIED BY '{APP_PASSWORD}';
             GRANT ALL ON kefu.* TO 'kefu'@'%';
             CREATE USER 'report'@'%' IDENTIFIED BY '{APP_PASSWORD}';
             GRANT SELECT ON kefu.* TO 'report'@'%';"
        ));
        db
    }

    /// Starts mariadbd on this datadir and port (again, after `stop`).
    #[allow(clippy::zombie_processes)]
    fn spawn(&mut self) {
        let child = Command::new(find(&["mariadbd", "mysqld"]))
            .arg("--no-defaults")
            .arg(format!("--datadir={}", self.dir.join("data").display()))
            .arg(format!("--socket={}", self.socket.display()))
            .arg(format!("--pid-file={}", self.dir.join("pid").display()))
            .arg(format!(
                "--log-error={}",
                self.dir.join("error.log").display()
            ))
            .arg(format!("--port={}", self.port))
            .arg(format!("--tmpdir={}", self.dir.join("tmp").display()))
            .args([
                "--bind-address=127.0.0.1,::1",
                "--skip-name-resolve",
                "--innodb-buffer-pool-size=32M",
            ])
            .args([
                "--max-connections=300",
                "--performance-schema=ON",
                "--skip-log-bin",
            ])
            // MySQL 8 keeps each session's last statement by default; MariaDB needs this.
            .arg("--performance-schema-consumer-events-statements-current=ON")
            .args(root_user())
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mariadbd");
        self.pid = child.id();
    }

    fn wait_ready(&self) {
        let started = Instant::now();
        while self.try_sql("SELECT 1").is_err() {
            if started.elapsed() > Duration::from_secs(60) {
                let log = std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default();
                panic!("MariaDB did not come up in 60 s:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the server (SIGTERM by PID) and waits until it is gone.
    pub fn stop(&self) {
        let _ = Command::new("kill").arg(self.pid.to_string()).status();
        let started = Instant::now();
        loop {
            let stat =
                std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).unwrap_or_default();
            if stat.is_empty() || stat.contains(") Z ") {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "MariaDB did not stop"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Starts the stopped server again on the same port and datadir.
    pub fn restart(&mut self) {
        self.spawn();
        self.wait_ready();
    }

    /// Freezes (SIGSTOP) or thaws (SIGCONT) the server: a hung server that keeps its
    /// connections open.
    pub fn freeze(&self, frozen: bool) {
        let sig = if frozen { "-STOP" } else { "-CONT" };
        assert!(Command::new("kill")
            .arg(sig)
            .arg(self.pid.to_string())
            .status()
            .unwrap()
            .success());
    }

    /// Runs SQL as root over the socket with the `mariadb` client; returns tab-separated rows.
    pub fn try_sql(&self, sql: &str) -> Result<String, String> {
        let out = Command::new(find(&["mariadb", "mysql"]))
            .args(["--no-defaults", "-uroot", "-N", "-B"])
            .arg(format!("--socket={}", self.socket.display()))
            .args(["-e", sql])
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    pub fn sql(&self, sql: &str) -> String {
        self.try_sql(sql)
            .unwrap_or_else(|e| panic!("SQL failed: {e}\n{sql}"))
    }

    /// A mysql_async connection as `user` from 127.0.0.1.
    pub async fn connect(&self, user: &str) -> mysql_async::Conn {
        self.connect_from(user, "127.0.0.1").await
    }

    pub async fn connect_from(&self, user: &str, host: &str) -> mysql_async::Conn {
        let pass = if user == "exporter" {
            EXPORTER_PASSWORD
        } else {
            APP_PASSWORD
        };
        let opts = mysql_async::OptsBuilder::default()
            .ip_or_hostname(host)
            .tcp_port(self.port)
            .user(Some(user))
            .pass(Some(pass))
            .prefer_socket(false);
        mysql_async::Conn::new(opts)
            .await
            .expect("connect test session")
    }
}

/// One MariaDB shared by every test of a test binary.
pub fn mariadb() -> &'static MariaDb {
    static DB: OnceLock<MariaDb> = OnceLock::new();
    DB.get_or_init(|| MariaDb::start(&[]))
}

/// The exporter binary, running until dropped.
pub struct Exporter {
    pub child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl Exporter {
    /// Starts the exporter with `config` (YAML; `{password_file}` is replaced by a file
    /// holding the exporter's password) and waits until it listens.
    pub fn start(config: &str, extra_args: &[&str]) -> Exporter {
        let dir = scratch("exporter");
        let pw = dir.join("password");
        std::fs::write(&pw, format!("{EXPORTER_PASSWORD}\n")).unwrap();
        let cfg = dir.join("config.yml");
        std::fs::write(
            &cfg,
            config.replace("{password_file}", &pw.display().to_string()),
        )
        .unwrap();
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_mysql_pool_exporter"))
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(
                std::fs::File::create(dir.join("stdout.log")).unwrap(),
            ))
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("stderr.log")).unwrap(),
            ))
            .spawn()
            .expect("start exporter");
        let e = Exporter { child, port, dir };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "exporter did not listen: {}",
                e.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        e
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    pub fn get(&self, path: &str) -> Response {
        http_get(self.port, path, &[])
    }

    /// Scrapes `/metrics` and parses it with a real OpenMetrics parser.
    pub fn scrape(&self) -> om::Samples {
        let r = self.get("/metrics");
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            r.header("content-type"),
            Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
        );
        om::parse(&r.body)
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A minimal HTTP/1.1 GET (Connection: close).
pub fn http_get(port: u16, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to exporter");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req += &format!("{k}: {v}\r\n");
    }
    req += "\r\n";
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    parse_response(&raw)
}

/// An HTTP/1.1 response as read off the wire (no chunked bodies: the exporter sends lengths).
pub fn parse_response(raw: &[u8]) -> Response {
    let text = String::from_utf8_lossy(raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Response {
        status,
        headers,
        body: body.to_string(),
    }
}

/// The config for one target on `db`.
pub fn target_config(db: &MariaDb) -> String {
    format!(
        "targets:\n  - name: primary\n    dsn: mysql://exporter@127.0.0.1:{}\n    password_file: {{password_file}}\n    tls: {{ mode: disabled }}\n",
        db.port
    )
}

/// Polls `f` until it returns `Some`, or panics after `timeout` with `what`.
pub fn eventually<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(started.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A real Prometheus (Debian `prometheus`) with a throwaway TSDB on a free loopback port.
pub struct Prometheus {
    pub child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl Prometheus {
    /// Starts Prometheus with `config` (YAML text).
    pub fn start(config: &str) -> Prometheus {
        let dir = scratch("prometheus");
        let cfg = dir.join("prometheus.yml");
        std::fs::write(&cfg, config).unwrap();
        let port = free_port();
        let child = Command::new(find(&["prometheus"]))
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("prometheus.log")).unwrap(),
            ))
            .spawn()
            .expect("start prometheus");
        watchdog(child.id(), &dir);
        let p = Prometheus { child, port, dir };
        eventually(Duration::from_secs(30), "Prometheus to be ready", || {
            let listening = TcpStream::connect(("127.0.0.1", p.port)).is_ok();
            (listening && http_get(p.port, "/-/ready", &[]).status == 200).then_some(())
        });
        p
    }

    /// GET an API path and parse the JSON.
    pub fn api(&self, path: &str) -> serde_json::Value {
        let r = http_get(self.port, path, &[]);
        serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{path}: {e}: {}", r.body))
    }

    /// An instant query's result vector.
    pub fn query(&self, promql: &str) -> Vec<serde_json::Value> {
        let q: String = promql
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let v = self.api(&format!("/api/v1/query?query={q}"));
        assert_eq!(v["status"], "success", "{promql}: {v}");
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Loads `url` in headless Chromium (Debian `chromium`): returns the rendered DOM and saves
/// a screenshot at `screenshot` for a person to look at.
pub fn chromium(url: &str, screenshot: &Path) -> String {
    let bin = find(&["chromium", "chromium-browser"]);
    let profile = scratch("chromium-profile");
    let flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--window-size=1280,900",
    ];
    let profile_arg = format!("--user-data-dir={}", profile.display());
    let dom = Command::new(&bin)
        .args(flags)
        .arg(&profile_arg)
        .arg("--dump-dom")
        .arg(url)
        .output()
        .expect("run chromium");
    assert!(
        dom.status.success(),
        "chromium --dump-dom failed: {}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let shot = Command::new(&bin)
        .args(flags)
        .arg(&profile_arg)
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg(url)
        .output()
        .expect("run chromium");
    assert!(
        shot.status.success() && screenshot.exists(),
        "chromium --screenshot failed: {}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let _ = std::fs::remove_dir_all(&profile);
    String::from_utf8_lossy(&dom.stdout).into_owned()
}

/// Where tests leave files for people (screenshots): `target/test-output/`.
pub fn output_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("test-output");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
