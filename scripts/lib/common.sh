# shellcheck shell=bash
# Shared by the scripts: install what is missing, start throwaway servers on loopback,
# stop them by PID. Source it; it defines functions only.

# shellcheck disable=SC2034  # used by the scripts that source this file
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

if [ -t 2 ]; then
    say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
else
    say() { printf '==> %s\n' "$*" >&2; }
fi
# die MESSAGE — prints it and exits 1. A script may define die_hook (called with the message
# first), e.g. to count the failure and print its "N passed, M failed" line.
die() {
    printf 'error: %s\n' "$*" >&2
    if declare -F die_hook >/dev/null; then die_hook "$*"; fi
    exit 1
}

# apt_install PACKAGE... — apt-get installs the packages (with sudo when not root).
apt_install() {
    say "installing $* (apt-get)"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq >/dev/null || die "apt-get update failed"
    # Debian's packages would start their own services; they are not needed (we start
    # throwaway instances) and there is no init system here anyway.
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
        || die "apt-get install $* failed"
}

# need_packages CMD:PACKAGE ... — apt-get installs the packages whose command is missing.
need_packages() {
    local missing=() pair cmd pkg
    for pair in "$@"; do
        cmd=${pair%%:*}; pkg=${pair#*:}
        command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    apt_install "${missing[@]}"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# poll_until SECONDS COMMAND... — polls COMMAND (quietly) until it succeeds: 0, or 1 when
# SECONDS passed.
poll_until() {
    local secs=$1 i; shift
    for ((i = 0; i < secs * 5; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    return 1
}

# wait_for DESCRIPTION SECONDS COMMAND... — polls COMMAND until it succeeds, else dies.
# With WAIT_PID set (and WAIT_LOG), gives up as soon as that process is gone and shows the
# end of its log.
wait_for() {
    local what=$1 secs=$2; shift 2
    local i
    for ((i = 0; i < secs * 5; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        if [ -n "${WAIT_PID:-}" ] && ! kill -0 "$WAIT_PID" 2>/dev/null; then
            [ -n "${WAIT_LOG:-}" ] && [ -f "$WAIT_LOG" ] && tail -n 20 "$WAIT_LOG" | sed 's/^/    | /' >&2
            die "$what: the process exited${WAIT_LOG:+ (log: $WAIT_LOG)}"
        fi
        sleep 0.2
    done
    [ -n "${WAIT_LOG:-}" ] && [ -f "$WAIT_LOG" ] && tail -n 20 "$WAIT_LOG" | sed 's/^/    | /' >&2
    die "timed out after ${secs}s waiting for $what${WAIT_LOG:+ (log: $WAIT_LOG)}"
}

# ------------------------------------------------------------------ database servers
# Every server-facing test runs against MariaDB 10.11 (Debian's mariadb-server) and Oracle
# MySQL 9.7 (Debian sid's mysql-server-core, in a chroot: it needs a newer glibc than
# bookworm's). DB_FLAVOR picks one: mariadb (the default) or mysql.
DB_FLAVOR=${DB_FLAVOR:-mariadb}
# The sid chroot with MySQL, built once by ensure_mysql_chroot and reused (~600 MB).
MYSQL_CHROOT=${MYSQL_CHROOT:-/var/cache/mysql_pool_exporter/mysql-sid}
MYSQL_DIRS=()                           # server dirs inside the chroot, removed by stop_db_dirs

# db_name — how the running flavour is called in messages.
db_name() { case "$DB_FLAVOR" in mysql) echo "MySQL" ;; *) echo "MariaDB" ;; esac; }

# start_db DIR — a throwaway server of DB_FLAVOR on a free 127.0.0.1 port, performance_schema
# on; sets DB_PORT DB_PID DB_SOCK. root has no password and is reached over the socket
# (root_sql). Extra server options may be passed in DB_OPTS (both flavours understand the
# usual ones: --max-connections, --general-log, --ssl-*). Logs: DIR/error.log.
start_db() {
    case "$DB_FLAVOR" in
        mariadb) start_mariadb "$@" ;;
        mysql) start_mysql "$@" ;;
        *) die "DB_FLAVOR=$DB_FLAVOR: say mariadb or mysql" ;;
    esac
}

# start_mariadb DIR — start_db for MariaDB (Debian's mariadb-server).
start_mariadb() {
    local dir=$1 user=()
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && user=(--user=root)
    DB_PORT=$(free_port)
    DB_SOCK="$dir/sock"
    # `normal`: root@localhost without a password, so that root_sql also works when the
    # script does not run as the Unix user root (unix_socket auth would demand that).
    mariadb-install-db --no-defaults --skip-test-db --auth-root-authentication-method=normal \
        --datadir="$dir/data" "${user[@]}" >"$dir/install.log" 2>&1 \
        || { tail -5 "$dir/install.log" >&2; die "mariadb-install-db failed (log: $dir/install.log)"; }
    # shellcheck disable=SC2086
    mariadbd --no-defaults --datadir="$dir/data" --socket="$DB_SOCK" --pid-file="$dir/pid" \
        --log-error="$dir/error.log" --port="$DB_PORT" --bind-address=127.0.0.1 --skip-name-resolve \
        --innodb-buffer-pool-size=64M --performance-schema=ON --skip-log-bin "${user[@]}" \
        ${DB_OPTS:-} >/dev/null 2>&1 &
    DB_PID=$!
    WAIT_PID=$DB_PID WAIT_LOG="$dir/error.log" \
        wait_for "MariaDB on 127.0.0.1:$DB_PORT" 60 mariadb --no-defaults -uroot --socket="$DB_SOCK" -e 'SELECT 1'
}

# host_debian_mirror — the Debian mirror this host's apt uses (sources.list or deb822
# .sources), so the chroot is fetched from the same place; never written into the repo.
host_debian_mirror() {
    local f uri
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        uri=$(awk '
            /^[[:space:]]*#/ { next }
            $1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }
            $1 == "URIs:" { for (i = 2; i <= NF; i++) print $i }
        ' "$f" | grep -v -e security -e updates | grep -E '/debian/?$' | head -1)
        [ -n "$uri" ] && { echo "${uri%/}"; return 0; }
    done
    return 1
}

# ensure_mysql_chroot — MYSQL_CHROOT with Debian sid's mysql-server-core and
# mysql-client-core (Oracle MySQL 9.7), made by debootstrap once and reused afterwards.
# sid's mysqld needs glibc >= 2.38, which bookworm lacks; the chroot brings its own.
ensure_mysql_chroot() {
    [ -f "$MYSQL_CHROOT/.mysql_pool_exporter-ready" ] && return 0
    [ "$(id -u)" -eq 0 ] || die "the MySQL server runs in a chroot made by debootstrap: that needs root (run as root, or set DB_FLAVOR=mariadb)"
    need_packages debootstrap:debootstrap
    local mirror part="$MYSQL_CHROOT.partial" log
    mirror=$(host_debian_mirror) || die "no Debian mirror found in /etc/apt/sources.list*: the MySQL chroot is fetched from the host's own mirror"
    say "building the MySQL 9.7 chroot in $MYSQL_CHROOT (debootstrap sid from $mirror; once, ~1 min)"
    rm -rf "$part"
    mkdir -p "$part"
    log="$part.log"
    debootstrap --variant=minbase sid "$part" "$mirror" >"$log" 2>&1 \
        || { tail -20 "$log" >&2; die "debootstrap sid failed (log: $log)"; }
    # The mirror's Release files may be past their Valid-Until date (a snapshot mirror).
    echo 'Acquire::Check-Valid-Until "false";' >"$part/etc/apt/apt.conf.d/99mysql-pool-exporter"
    chroot "$part" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mysql-server-core mysql-client-core' >>"$log" 2>&1 \
        || { tail -20 "$log" >&2; die "installing mysql-server-core in the chroot failed (log: $log)"; }
    [ -x "$part/usr/sbin/mysqld" ] || die "the chroot has no /usr/sbin/mysqld after apt-get (log: $log)"
    mkdir -p "$part/var/tmp/mysql_pool_exporter"
    touch "$part/.mysql_pool_exporter-ready"
    rm -rf "$MYSQL_CHROOT"
    mv "$part" "$MYSQL_CHROOT"
    rm -f "$log"
}

# start_mysql DIR — start_db for Oracle MySQL. The server's files live inside the chroot
# (so it needs no mounts); DIR becomes a symbolic link to them, and stop_db_dirs removes them.
start_mysql() {
    local dir=$1 inside rel
    ensure_mysql_chroot
    mkdir -p "$MYSQL_CHROOT/var/tmp/mysql_pool_exporter"
    inside=$(mktemp -d "$MYSQL_CHROOT/var/tmp/mysql_pool_exporter/db.XXXXXX")
    chmod 755 "$inside"
    MYSQL_DIRS+=("$inside")
    mkdir -p "$(dirname "$dir")"
    rm -rf "$dir"
    ln -s "$inside" "$dir"
    rel=${inside#"$MYSQL_CHROOT"}
    DB_PORT=$(free_port)
    DB_SOCK="$inside/sock"
    chroot "$MYSQL_CHROOT" /usr/sbin/mysqld --no-defaults --initialize-insecure --user=root \
        --datadir="$rel/data" --log-error="$rel/install.log" >/dev/null 2>&1 \
        || { tail -5 "$inside/install.log" >&2; die "mysqld --initialize-insecure failed (log: $inside/install.log)"; }
    # shellcheck disable=SC2086
    chroot "$MYSQL_CHROOT" /usr/sbin/mysqld --no-defaults --user=root --datadir="$rel/data" \
        --socket="$rel/sock" --pid-file="$rel/pid" --log-error="$rel/error.log" --tmpdir="$rel" \
        --port="$DB_PORT" --bind-address=127.0.0.1 --mysqlx=OFF --skip-name-resolve --skip-log-bin \
        --secure-file-priv=NULL --innodb-buffer-pool-size=64M --performance-schema=ON \
        ${DB_OPTS:-} >/dev/null 2>&1 &
    DB_PID=$!
    WAIT_PID=$DB_PID WAIT_LOG="$inside/error.log" \
        wait_for "MySQL on 127.0.0.1:$DB_PORT" 60 mariadb --no-defaults -uroot --socket="$DB_SOCK" -e 'SELECT 1'
}

# stop_db_dirs — removes the MySQL server dirs start_mysql made (after the servers stopped).
stop_db_dirs() {
    local d
    for d in "${MYSQL_DIRS[@]}"; do
        case "$d" in "$MYSQL_CHROOT"/var/tmp/mysql_pool_exporter/db.*) rm -rf "$d" ;; esac
    done
    MYSQL_DIRS=()
}

# connection_admin — the privilege that lets an account kill other users' sessions.
connection_admin() { case "$DB_FLAVOR" in mysql) echo CONNECTION_ADMIN ;; *) echo "CONNECTION ADMIN" ;; esac; }

# root_sql [SQL] — runs SQL (or, without an argument, stdin) as root over the throwaway
# server's socket.
root_sql() {
    if [ $# -gt 0 ]; then
        mariadb --no-defaults -uroot --socket="$DB_SOCK" -N -B -e "$1"
    else
        mariadb --no-defaults -uroot --socket="$DB_SOCK" -N -B
    fi
}

# bench_setup — for the benchmark scripts: PY, Debian's python with python3-mysqldb (the
# session holders), and BIN, the exporter to measure: the release build unless BIN is set,
# built first when BUILD is 1.
bench_setup() {
    PY=/usr/bin/python3
    [ -x "$PY" ] || die "$PY is missing (apt-get install python3)"
    "$PY" -c 'import MySQLdb' 2>/dev/null || apt_install python3-mysqldb
    BIN=${BIN:-$ROOT/target/release/mysql_pool_exporter}
    if [ "${BUILD:-1}" = 1 ]; then
        say "building the release binary"
        (cd "$ROOT" && cargo build --release --quiet) || die "cargo build --release failed"
    fi
    [ -x "$BIN" ] || die "$BIN is missing: run cargo build --release (or drop --no-build)"
}

# bench_app_sql PASSWORD — the SQL of the application the benchmarks' session holders
# (bench/hold_sessions.py) log in as: database app, table app.t, user app@127.0.0.1.
bench_app_sql() {
    cat <<SQL
CREATE DATABASE app;
CREATE TABLE app.t (id INT PRIMARY KEY, v VARCHAR(32)) ENGINE=InnoDB;
INSERT INTO app.t VALUES (1, 'one'), (2, 'two'), (3, 'three');
CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY '$1';
GRANT SELECT, INSERT, UPDATE, DELETE ON app.* TO 'app'@'127.0.0.1';
SQL
}

# app_session_counts USER — prints "sessions idle-in-transaction sleeping" of USER on the
# server root_sql reaches, as it lists them (the benchmarks' check of their held sessions).
app_session_counts() {
    root_sql "SELECT
        (SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = '$1'),
        (SELECT COUNT(*) FROM information_schema.PROCESSLIST p
           JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID
          WHERE p.USER = '$1' AND p.COMMAND = 'Sleep'),
        (SELECT COUNT(*) FROM information_schema.PROCESSLIST
          WHERE USER = '$1' AND COMMAND = 'Query' AND INFO LIKE 'SELECT SLEEP(%')" | tr '\t' ' '
}
# app_counts_are USER "N T S" — whether app_session_counts USER prints exactly that.
app_counts_are() { [ "$(app_session_counts "$1")" = "$2" ]; }

# bench_ours_config DIR PASSWORD — writes DIR/ours.yml (and DIR/pool_exporter.pw): ours as the
# benchmarks run it, one target on DB_PORT as pool_exporter and one pool matching the app
# user, so that the pool sources (client processes, the oldest idle transactions) are read.
bench_ours_config() {
    printf '%s\n' "$2" >"$1/pool_exporter.pw"
    cat >"$1/ours.yml" <<YAML
targets:
  - name: bench
    dsn: mysql://pool_exporter@127.0.0.1:$DB_PORT
    password_file: pool_exporter.pw
    tls: { mode: disabled }
pools:
  - name: bench-app
    match: { user: app }
    size: 15
    max_overflow: 30
    processes: 100
YAML
}

# stop_pid PID — TERM, wait up to 10 s, then KILL.
stop_pid() {
    local pid=$1 i
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
}

# ------------------------------------------------------------------ test output
# ok/not_ok/check print one line per assertion; summary prints "N passed, M failed" and
# returns non-zero when anything failed. note prints a "# " comment line.
PASSED=0
FAILED=0
ok() { PASSED=$((PASSED + 1)); printf 'ok - %s\n' "$1"; }
not_ok() { FAILED=$((FAILED + 1)); printf 'not ok - %s\n' "$1"; }
check() { # check NAME COMMAND...
    local name=$1; shift
    if "$@"; then ok "$name"; else not_ok "$name"; fi
}
# check_logged NAME COMMAND... — like check, but the command's output is kept out of the
# way and shown (its first 60 lines, indented) only when it fails.
check_logged() {
    local name=$1 log; shift
    log=$(mktemp "${TMPDIR:-/tmp}/check.XXXXXX")
    if "$@" >"$log" 2>&1; then
        ok "$name"
    else
        not_ok "$name"
        sed 's/^/       | /' "$log" | head -n 60
    fi
    rm -f "$log"
}
note() { printf '# %s\n' "$*"; }
summary() { printf '%d passed, %d failed\n' "$PASSED" "$FAILED"; [ "$FAILED" -eq 0 ]; }
