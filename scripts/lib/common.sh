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

# start_mariadb DIR — a throwaway MariaDB on a free 127.0.0.1 port, performance_schema on;
# sets DB_PORT DB_PID DB_SOCK. root has no password and is reached over the socket (root_sql).
# Extra mariadbd options may be passed in MARIADB_OPTS. Logs: DIR/install.log, DIR/error.log.
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
        ${MARIADB_OPTS:-} >/dev/null 2>&1 &
    DB_PID=$!
    WAIT_PID=$DB_PID WAIT_LOG="$dir/error.log" \
        wait_for "MariaDB on 127.0.0.1:$DB_PORT" 60 mariadb --no-defaults -uroot --socket="$DB_SOCK" -e 'SELECT 1'
}

# root_sql [SQL] — runs SQL (or, without an argument, stdin) as root over the throwaway
# server's socket.
root_sql() {
    if [ $# -gt 0 ]; then
        mariadb --no-defaults -uroot --socket="$DB_SOCK" -N -B -e "$1"
    else
        mariadb --no-defaults -uroot --socket="$DB_SOCK" -N -B
    fi
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
note() { printf '# %s\n' "$*"; }
summary() { printf '%d passed, %d failed\n' "$PASSED" "$FAILED"; [ "$FAILED" -eq 0 ]; }
