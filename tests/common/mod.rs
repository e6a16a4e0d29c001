//! Test harness: a real database server with a throwaway datadir on a free loopback port,
//! the real exporter binary, and a tiny HTTP client.
//!
//! Every integration test runs against MariaDB 10.11 (Debian's `mariadb-server`) or Oracle
//! MySQL 9.7 (Debian sid's `mysql-server-core`, in a chroot built by `scripts/lib/common.sh`),
//! as `MPE_TEST_SERVER=mariadb|mysql` says; `scripts/test.sh` runs the suite once for each.
//! A test that only makes sense on one of them says so in its name (`mariadb_only_…`).
//!
//! The server is stopped by PID: a watchdog shell waits for the test process to exit, then
//! kills the server and removes its directory, so nothing survives a panicking test.

#![allow(dead_code)]

#[path = "../../src/collect/om.rs"]
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

/// The commit checked out here (`git rev-parse HEAD`): what build.rs wrote into the binary.
pub fn git_head() -> String {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(repo())
        .output()
        .expect("git");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The repository root (scripts, demo, deploy).
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
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
/// When `dir/pid` exists (a restarted server has a new PID), that PID is the one killed.
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

/// Which server the suite runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    MariaDb,
    MySql,
}

/// `MPE_TEST_SERVER`: `mariadb` (the default) or `mysql`.
pub fn flavor() -> Flavor {
    match std::env::var("MPE_TEST_SERVER").as_deref() {
        Ok("mysql") => Flavor::MySql,
        Ok("mariadb") | Ok("") | Err(_) => Flavor::MariaDb,
        Ok(other) => panic!("MPE_TEST_SERVER={other}: say mariadb or mysql"),
    }
}

/// The chroot with Oracle MySQL (`scripts/lib/common.sh` builds it once, then reuses it).
fn mysql_chroot() -> &'static Path {
    static CHROOT: OnceLock<PathBuf> = OnceLock::new();
    CHROOT.get_or_init(|| {
        let dir = PathBuf::from(
            std::env::var("MYSQL_CHROOT")
                .unwrap_or_else(|_| "/var/cache/mysql_pool_exporter/mysql-sid".into()),
        );
        if !dir.join(".mysql_pool_exporter-ready").exists() {
            // The same function scripts/test.sh calls; serialised by flock, because every
            // test binary may get here at once.
            let out = Command::new("flock")
                .arg("/tmp/mysql_pool_exporter-chroot.lock")
                .args([
                    "bash",
                    "-c",
                    "source scripts/lib/common.sh && ensure_mysql_chroot",
                ])
                .env("MYSQL_CHROOT", &dir)
                .current_dir(repo())
                .output()
                .expect("run ensure_mysql_chroot");
            assert!(
                out.status.success(),
                "building the MySQL chroot failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        dir
    })
}

/// The Python with PyMySQL and SQLAlchemy (demo/.venv), made by `ensure_demo_venv` if missing.
pub fn python() -> &'static Path {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        let py = repo().join("demo/.venv/bin/python");
        let ok = |py: &Path| {
            Command::new(py)
                .args(["-c", "import pymysql, sqlalchemy"])
                .output()
                .is_ok_and(|o| o.status.success())
        };
        if !ok(&py) {
            let out = Command::new("flock")
                .arg("/tmp/mysql_pool_exporter-venv.lock")
                .args([
                    "bash",
                    "-c",
                    "source scripts/lib/common.sh && source scripts/lib/stack.sh && ensure_demo_venv",
                ])
                .current_dir(repo())
                .output()
                .expect("run ensure_demo_venv");
            assert!(
                out.status.success() && ok(&py),
                "creating demo/.venv failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        py
    })
}

/// A throwaway MariaDB or MySQL server; `root` reaches it over its Unix socket.
pub struct Server {
    pub flavor: Flavor,
    pub port: u16,
    /// Its files: datadir, socket, logs (inside the chroot for MySQL).
    pub dir: PathBuf,
    pub socket: PathBuf,
    pub pid: u32,
    extra: Vec<String>,
}

/// mariadbd and mysqld refuse to run as root unless told to.
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

impl Server {
    /// Starts a server of the suite's flavour; `extra` adds server options both flavours
    /// understand (later ones win). The watchdog stops it.
    pub fn start(extra: &[&str]) -> Server {
        Server::start_flavor(flavor(), extra)
    }

    pub fn start_flavor(flavor: Flavor, extra: &[&str]) -> Server {
        Server::start_on(flavor, free_port(), extra)
    }

    /// A new server (its own datadir) on `port`: another server behind an address whose
    /// first server was stopped, as after a failover.
    pub fn start_on(flavor: Flavor, port: u16, extra: &[&str]) -> Server {
        let dir = match flavor {
            Flavor::MariaDb => scratch("mariadb"),
            Flavor::MySql => {
                let base = mysql_chroot().join("var/tmp/mysql_pool_exporter");
                let dir = base.join(format!("t-{}-{}", std::process::id(), free_port()));
                std::fs::create_dir_all(&dir).unwrap();
                dir
            }
        };
        // Its own tmpdir: /tmp is shared with whatever else runs on the machine.
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        let mut db = Server {
            flavor,
            port,
            socket: dir.join("sock"),
            dir,
            pid: 0,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        db.initialize();
        db.spawn();
        watchdog(db.pid, &db.dir);
        db.wait_ready();
        let replica_grant = db.replica_monitor_grant();
        db.sql(&format!(
            "CREATE USER 'exporter'@'%' IDENTIFIED BY '{EXPORTER_PASSWORD}';
             GRANT PROCESS, REPLICATION CLIENT{replica_grant} ON *.* TO 'exporter'@'%';
             GRANT SELECT ON performance_schema.* TO 'exporter'@'%';
             CREATE DATABASE kefu;
             CREATE TABLE kefu.visitors (id INT PRIMARY KEY, name VARCHAR(64)) ENGINE=InnoDB;
             INSERT INTO kefu.visitors VALUES (1,'a'),(2,'b'),(3,'c'),(4,'d'),(5,'e'),(6,'f');
             CREATE USER 'kefu'@'%' IDENTIFIED BY '{APP_PASSWORD}';
             GRANT ALL ON kefu.* TO 'kefu'@'%';
             CREATE USER 'report'@'%' IDENTIFIED BY '{APP_PASSWORD}';
             GRANT SELECT, UPDATE ON kefu.* TO 'report'@'%';
             CREATE USER 'migrate'@'%' IDENTIFIED BY '{APP_PASSWORD}';
             GRANT ALL ON kefu.* TO 'migrate'@'%';
             CREATE USER 'backup'@'%' IDENTIFIED BY '{APP_PASSWORD}';
             GRANT RELOAD, LOCK TABLES ON *.* TO 'backup'@'%';
             GRANT SELECT ON kefu.* TO 'backup'@'%';"
        ));
        db
    }

    pub fn is_mysql(&self) -> bool {
        self.flavor == Flavor::MySql
    }

    /// "MariaDB" or "MySQL", for messages.
    pub fn name(&self) -> &'static str {
        match self.flavor {
            Flavor::MariaDb => "MariaDB",
            Flavor::MySql => "MySQL",
        }
    }

    /// `, SLAVE MONITOR` on MariaDB (replica status needs it there); MySQL has no such grant.
    pub fn replica_monitor_grant(&self) -> &'static str {
        match self.flavor {
            Flavor::MariaDb => ", SLAVE MONITOR",
            Flavor::MySql => "",
        }
    }

    /// Whether the server offers TLS (with a certificate it loaded).
    pub fn offers_tls(&self) -> bool {
        match self.flavor {
            Flavor::MariaDb => self.sql("SELECT @@have_ssl").trim() == "YES",
            Flavor::MySql => {
                let v = self.sql("SHOW GLOBAL VARIABLES LIKE 'tls_version'");
                let cert = self.sql("SHOW GLOBAL STATUS LIKE 'Current_tls_cert'");
                v.split_whitespace().nth(1).is_some() && cert.split_whitespace().nth(1).is_some()
            }
        }
    }

    /// The privilege that lets an account kill other users' sessions.
    pub fn connection_admin(&self) -> &'static str {
        match self.flavor {
            Flavor::MariaDb => "CONNECTION ADMIN",
            Flavor::MySql => "CONNECTION_ADMIN",
        }
    }

    /// A path of the server's files as the server sees it (MySQL runs chrooted).
    pub fn server_path(&self, p: &Path) -> PathBuf {
        match self.flavor {
            Flavor::MariaDb => p.to_path_buf(),
            Flavor::MySql => Path::new("/").join(p.strip_prefix(mysql_chroot()).unwrap()),
        }
    }

    fn arg_path(&self, name: &str) -> String {
        self.server_path(&self.dir.join(name)).display().to_string()
    }

    /// The system tables (`mariadb-install-db` / `mysqld --initialize-insecure`).
    fn initialize(&self) {
        let out = match self.flavor {
            Flavor::MariaDb => Command::new(find(&["mariadb-install-db", "mysql_install_db"]))
                .args([
                    "--no-defaults",
                    "--skip-test-db",
                    "--auth-root-authentication-method=socket",
                ])
                .arg(format!("--datadir={}", self.dir.join("data").display()))
                .arg(format!("--tmpdir={}", self.dir.join("tmp").display()))
                .args(root_user())
                .output()
                .expect("run mariadb-install-db"),
            Flavor::MySql => Command::new("chroot")
                .arg(mysql_chroot())
                .args(["/usr/sbin/mysqld", "--no-defaults", "--initialize-insecure"])
                .args(root_user())
                .arg(format!("--datadir={}", self.arg_path("data")))
                .arg(format!("--log-error={}", self.arg_path("install.log")))
                .output()
                .expect("run mysqld --initialize-insecure"),
        };
        assert!(
            out.status.success(),
            "initializing the {} datadir failed: {}{}",
            self.name(),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.dir.join("install.log")).unwrap_or_default()
        );
    }

    /// Starts the server on this datadir and port (again, after `stop`).
    #[allow(clippy::zombie_processes)]
    fn spawn(&mut self) {
        let mut cmd = match self.flavor {
            Flavor::MariaDb => Command::new(find(&["mariadbd", "mysqld"])),
            Flavor::MySql => {
                let mut c = Command::new("chroot");
                c.arg(mysql_chroot()).arg("/usr/sbin/mysqld");
                c
            }
        };
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", self.arg_path("data")))
            .arg(format!("--socket={}", self.arg_path("sock")))
            .arg(format!("--pid-file={}", self.arg_path("pid")))
            .arg(format!("--log-error={}", self.arg_path("error.log")))
            .arg(format!("--port={}", self.port))
            .arg(format!("--tmpdir={}", self.arg_path("tmp")))
            .args([
                "--bind-address=127.0.0.1,::1",
                "--skip-name-resolve",
                "--innodb-buffer-pool-size=32M",
                "--max-connections=300",
                "--performance-schema=ON",
                "--skip-log-bin",
                // MySQL keeps each session's last statement by default; MariaDB needs this.
                "--performance-schema-consumer-events-statements-current=ON",
            ]);
        if self.flavor == Flavor::MySql {
            cmd.args(["--mysqlx=OFF", "--secure-file-priv=NULL"]);
        }
        let child = cmd
            .args(root_user())
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the database server");
        self.pid = child.id();
    }

    fn wait_ready(&self) {
        let started = Instant::now();
        while self.try_sql("SELECT 1").is_err() {
            if started.elapsed() > Duration::from_secs(60) {
                let log = std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default();
                panic!("{} did not come up in 60 s:\n{log}", self.name());
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
                "{} did not stop",
                self.name()
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

    /// The `mariadb` command-line client as `user` over TCP from 127.0.0.1 (both servers):
    /// add the statement (`-e`) or feed stdin, and the stdio the test needs.
    pub fn tcp_client(&self, user: &str, password: &str) -> Command {
        let mut c = Command::new("mariadb");
        c.args(["--no-defaults", "--protocol=TCP", "-h127.0.0.1"])
            .arg(format!("-u{user}"))
            .arg(format!("-P{}", self.port))
            .env("MYSQL_PWD", password);
        c
    }

    /// Runs SQL as root over the socket with the `mariadb` client (it speaks to both
    /// servers); returns tab-separated rows.
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
            .unwrap_or_else(|e| panic!("SQL failed on {}: {e}\n{sql}", self.name()))
    }

    /// A mysql_async connection as `user` from 127.0.0.1.
    pub async fn connect(&self, user: &str) -> mysql_async::Conn {
        self.connect_from(user, "127.0.0.1").await
    }

    /// A session of an application account (`APP_PASSWORD`) from 127.0.0.1 on `database`,
    /// sending the connect `attributes`, as an app's pool opens one.
    pub async fn session(
        &self,
        user: &str,
        database: Option<&str>,
        attributes: &[(&str, &str)],
    ) -> mysql_async::Conn {
        let opts = mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(self.port)
            .user(Some(user))
            .pass(Some(APP_PASSWORD))
            .db_name(database)
            .prefer_socket(false)
            .connect_attributes(
                attributes
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<std::collections::HashMap<_, _>>(),
            );
        mysql_async::Conn::new(opts).await.expect("app session")
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

/// A scratch directory the server can read files from (inside the chroot for MySQL), e.g.
/// its TLS certificate; the second value is how the server names it.
pub fn server_scratch(name: &str) -> (PathBuf, String) {
    match flavor() {
        Flavor::MariaDb => {
            let dir = scratch(name);
            let named = dir.display().to_string();
            (dir, named)
        }
        Flavor::MySql => {
            let dir = mysql_chroot().join(format!(
                "var/tmp/mysql_pool_exporter/{name}-{}-{}",
                std::process::id(),
                free_port()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            let named = Path::new("/")
                .join(dir.strip_prefix(mysql_chroot()).unwrap())
                .display()
                .to_string();
            (dir, named)
        }
    }
}

/// One server shared by every test of a test binary.
pub fn server() -> &'static Server {
    static DB: OnceLock<Server> = OnceLock::new();
    DB.get_or_init(|| Server::start(&[]))
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

/// An HTTP/1.1 response as read off the wire; a chunked body (Prometheus' API sends large
/// answers so) is put back together.
pub fn parse_response(raw: &[u8]) -> Response {
    let text = String::from_utf8_lossy(raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Response {
        status,
        headers,
        body,
    }
}

/// `size\r\ndata\r\n...0\r\n\r\n` to data.
fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// The config for one target on `db`.
pub fn target_config(db: &Server) -> String {
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

impl Prometheus {
    /// A Prometheus that scrapes the exporter on `port` every second and evaluates the
    /// bundled rules (alerting-rules/) every second too: alerts become active (pending) as
    /// soon as their expression holds; `for:` only delays firing.
    pub fn with_bundled_rules(exporter_port: u16) -> Prometheus {
        Prometheus::start(&format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {}\n\
             scrape_configs:\n  - job_name: mysql\n    static_configs:\n      - targets: ['127.0.0.1:{exporter_port}']\n",
            repo()
                .join("alerting-rules/mysql_pool_exporter.rules.yml")
                .display()
        ))
    }

    /// Alerts pending or firing now: (alertname, state, labels).
    pub fn active_alerts(&self) -> Vec<(String, String, serde_json::Value)> {
        let v = self.api("/api/v1/alerts");
        v["data"]["alerts"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|a| {
                (
                    a["labels"]["alertname"].as_str().unwrap_or("").to_string(),
                    a["state"].as_str().unwrap_or("").to_string(),
                    a["labels"].clone(),
                )
            })
            .collect()
    }

    /// Waits until the rules have been evaluated on at least `n` scrapes of the exporter.
    pub fn wait_for_evaluations(&self, n: u64) {
        eventually(
            Duration::from_secs(30),
            "Prometheus to scrape and evaluate",
            || {
                let r = self.query("count_over_time(mysql_up[1m])");
                let seen = r
                    .first()
                    .and_then(|s| s["value"][1].as_str())
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
                (seen >= n).then_some(())
            },
        );
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

/// One real application process (tests/clients/app_sessions.py: PyMySQL, or SQLAlchemy's
/// QueuePool over PyMySQL) holding sessions on database `kefu`, with the connect attribute
/// `program_name`. Its sessions close when it is dropped.
pub struct AppProcess {
    child: Child,
    /// Its OS pid: what the sessions send as the `_pid` connect attribute.
    pub pid: u32,
    /// The server's connection ids of the sessions it holds (checked-in ones excluded).
    pub ids: Vec<u64>,
    /// SQLAlchemy's error when it was asked for one more connection (`exhaust`).
    pub pool_error: String,
}

/// What an [`AppProcess`]'s sessions do (app_sessions.py's `--state`).
#[derive(Clone, Copy, Debug)]
pub enum AppState {
    /// Ran `SELECT 1`.
    Idle,
    /// Read a row inside an open transaction, then nothing: the leak.
    InTransaction,
    /// Updated row 1 of `visitors` inside an open transaction, then nothing.
    LockHolder,
    /// Wait to update row 1.
    LockWaiter,
    /// `SELECT SLEEP(0.3)` in a loop: short requests.
    Busy,
    /// Ran this statement, then nothing.
    Do(&'static str),
    /// Runs this statement in a thread of its own (it may wait for a lock, up to 300 s).
    Wait(&'static str),
}

/// An application process to start.
#[derive(Clone, Debug)]
pub struct App<'a> {
    pub user: &'a str,
    pub driver: &'a str,
    pub program_name: &'a str,
    pub count: usize,
    pub state: AppState,
    /// SQLAlchemy's pool_size and max_overflow (default: pool_size = count, no overflow).
    pub pool: Option<(usize, usize)>,
    /// Ask the pool for one more connection, to meet `QueuePool limit ... reached`.
    pub exhaust: bool,
    /// Return this many of the connections to the pool (parked, still open).
    pub checkin: usize,
}

impl<'a> App<'a> {
    pub fn new(driver: &'a str, program_name: &'a str, count: usize, state: AppState) -> Self {
        App {
            user: "kefu",
            driver,
            program_name,
            count,
            state,
            pool: None,
            exhaust: false,
            checkin: 0,
        }
    }

    pub fn start(&self, db: &Server) -> AppProcess {
        use std::io::BufRead;
        let state = match self.state {
            AppState::Idle => "idle",
            AppState::InTransaction => "trx",
            AppState::LockHolder => "lock-holder",
            AppState::LockWaiter => "lock-waiter",
            AppState::Busy => "busy",
            AppState::Do(_) => "do",
            AppState::Wait(_) => "wait",
        };
        let mut cmd = Command::new(python());
        cmd.arg(repo().join("tests/clients/app_sessions.py"))
            .args([
                "--port",
                &db.port.to_string(),
                "--user",
                self.user,
                "--db",
                "kefu",
            ])
            .args(["--password-env", "APP_PASSWORD", "--driver", self.driver])
            .args(["--program-name", self.program_name])
            .args(["--count", &self.count.to_string(), "--state", state])
            .args(["--checkin", &self.checkin.to_string()]);
        if let AppState::Do(sql) | AppState::Wait(sql) = self.state {
            cmd.args(["--sql", sql]);
        }
        if let Some((size, overflow)) = self.pool {
            cmd.args(["--pool-size", &size.to_string()])
                .args(["--max-overflow", &overflow.to_string()]);
        }
        if self.exhaust {
            cmd.arg("--exhaust");
        }
        let mut child = cmd
            .env("APP_PASSWORD", APP_PASSWORD)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start tests/clients/app_sessions.py");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let mut words = line.trim_end().splitn(4, ' ');
        let (ready, pid, ids, error) = (words.next(), words.next(), words.next(), words.next());
        assert_eq!(
            ready,
            Some("ready"),
            "app_sessions.py did not get ready: {line:?}"
        );
        AppProcess {
            child,
            pid: pid.and_then(|p| p.parse().ok()).unwrap(),
            ids: ids
                .unwrap_or("")
                .split(',')
                .filter_map(|i| i.parse().ok())
                .collect(),
            pool_error: error.unwrap_or("").to_string(),
        }
    }
}

impl AppProcess {
    /// `count` sessions of user kefu in `state`, from a process of its own.
    pub fn start(
        db: &Server,
        driver: &str,
        program_name: &str,
        count: usize,
        state: AppState,
    ) -> AppProcess {
        App::new(driver, program_name, count, state).start(db)
    }
}

impl Drop for AppProcess {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a one-shot command (`check`, `kill-idle`) with `config`, whose `{password_file}`
/// becomes a file holding `password`: (exit code, stdout, stderr).
pub fn run_cli(args: &[&str], config: &str, password: &str) -> (i32, String, String) {
    let dir = scratch("cli");
    let pw = dir.join("pw");
    std::fs::write(&pw, password).unwrap();
    let cfg = dir.join("config.yml");
    std::fs::write(
        &cfg,
        config.replace("{password_file}", &pw.display().to_string()),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mysql_pool_exporter"))
        .args(args)
        .arg(format!("--config.file={}", cfg.display()))
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `check --format json` and the text `check`: (exit code, json, first line of the text).
/// The two runs read a live workload one after the other: when it moved in between (a busy
/// session finished a query), they are run again, up to three times.
pub fn check(cfg: &str) -> (i32, serde_json::Value, String) {
    let mut attempt = 0;
    let (code, v, text) = loop {
        attempt += 1;
        let (code, json, err) = run_cli(&["check", "--format", "json"], cfg, EXPORTER_PASSWORD);
        let v: serde_json::Value =
            serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}{err}"));
        let (text_code, text, _) = run_cli(&["check"], cfg, EXPORTER_PASSWORD);
        let first = text.lines().next().unwrap_or("");
        let same = text_code == code && first.split(" | ").next() == v["headline"].as_str();
        if same || attempt == 3 {
            assert_eq!(text_code, code, "{text}");
            assert_eq!(
                first.split(" | ").next().unwrap(),
                v["headline"].as_str().unwrap()
            );
            break (code, v, text);
        }
    };
    let first = text.lines().next().unwrap_or("").to_string();
    assert!(first.contains(" | "), "performance data after `|`: {first}");
    eprintln!("check: {first}");
    (code, v, first)
}

pub fn ids(v: &serde_json::Value) -> std::collections::BTreeSet<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_u64().unwrap())
        .collect()
}
