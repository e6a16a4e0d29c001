#!/usr/bin/env bash
# Soak: the exporter under steady load for a long while must not grow. Starts MariaDB 10.11
# and Oracle MySQL 9.7 side by side, each with N held sessions (a tenth idle in a
# transaction, a tenth running SLEEP) and R connects/disconnects a second (connect,
# SELECT 1, disconnect, paced), and one exporter with both as targets (`mariadb`, `mysql`).
# Scrapes it every second (/metrics; /probe?target=NAME, the targets in turn), and the status
# page / every 5 s. After a warm-up, prints a line at the start and every --every minutes:
# the exporter's RSS, open fds, CPU, tokio tasks (mysql_exporter_runtime_tasks), series in
# /metrics and in /probe, the churn achieved, the failed requests; at the end start / end /
# max per quantity against the bounds below, PASS/FAIL each. Exits 1 when a bound fails, a
# server or the exporter died, the churn fell below 80 % of R or more than 1 % of the
# requests failed. A script, not a timed test (CI runs --minutes 3).
#
#   bench/soak.sh [--minutes 60] [--every 5] [--sessions 2000] [--churn 50]
#                 [--server mariadb|mysql|both] [--warmup 30] [--no-build] [--binary PATH]
#
#   --minutes, --every: minutes, fractions allowed (--every 0.5 is a line every 30 s); the
#   soak runs --minutes after the warm-up (--warmup seconds, sessions and churn running).
#   --sessions and --churn are per server.
#
# Bounds, "no growth after warm-up": end (the last line) against start (the first line after
# the warm-up). Each line's numbers are medians of the last ten per-second readings, so one
# scrape in flight does not move them; a leak does.
#   RSS        end <= start + max(8 MiB, 25 % of start). The allocator keeps freed pages
#              (glibc arenas per worker thread; ours trims only after answers over 1 MiB) and
#              caches reach their steady size within minutes (the sampler's 60 s window, the
#              status page's chart: 360 points a pool, full after an hour, some KiB); an
#              hour of 50 connections a second leaking even 100 bytes each is 17 MiB.
#   RSS trend  FAIL when RSS rose in every interval of the second half, by more than 1 MiB
#              in all, and by at least half of its rise in the first half: a leak goes on at
#              its pace (its second half rises about as much as its first), a warm-up's rise
#              shrinks as the caches fill (needs two intervals in the second half).
#   open fds   end <= start + 8: the scraper's three keep-alive connections and the exporter's
#              connections to each server are the same at both ends; the slack is a
#              reconnect or a scrape connection in flight. A socket leaked per churned
#              session (180 000 an hour) or per scrape (10 000) shows at once.
#   tasks      end <= start + 16: one task per HTTP connection and per target's sampler and
#              collection, fixed for two targets and three scrapers; slack for collections
#              and connections in flight. A task leaked per scrape is 3 600 an hour.
#   series     end <= start x 1.10 + 50 (in /metrics and in /probe): sessions move between
#              states and users/hosts come and go, but label values per user and host are
#              capped by limits.max_label_values, so no family grows with the connections.
# Plus: each server's churn >= 80 % of --churn (the machine keeping up, so the load was real),
# at most 1 % of the requests failed (not 200, timeout, or slower than the 5 s scrape timeout),
# mysql_up 1 in at least 99 % of the answers, and every process alive to the end.
#
# Everything on 127.0.0.1, throwaway datadirs, stopped by PID; logs kept on failure.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib/common.sh
. "$HERE/../scripts/lib/common.sh"

MINUTES=60 EVERY=5 SESSIONS=2000 CHURN=50 SERVER=both WARMUP=30 BUILD=1 BIN=""
SCRAPE_TIMEOUT=5   # X-Prometheus-Scrape-Timeout-Seconds of every request
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
while [ $# -gt 0 ]; do
    case $1 in
        --minutes) MINUTES=${2:?--minutes needs a number}; shift 2 ;;
        --minutes=*) MINUTES=${1#*=}; shift ;;
        --every) EVERY=${2:?--every needs minutes}; shift 2 ;;
        --every=*) EVERY=${1#*=}; shift ;;
        --sessions) SESSIONS=${2:?--sessions needs a number}; shift 2 ;;
        --sessions=*) SESSIONS=${1#*=}; shift ;;
        --churn) CHURN=${2:?--churn needs connects a second}; shift 2 ;;
        --churn=*) CHURN=${1#*=}; shift ;;
        --server) SERVER=${2:?--server needs mariadb, mysql or both}; shift 2 ;;
        --server=*) SERVER=${1#*=}; shift ;;
        --warmup) WARMUP=${2:?--warmup needs seconds}; shift 2 ;;
        --warmup=*) WARMUP=${1#*=}; shift ;;
        --no-build) BUILD=0; shift ;;
        --binary) BIN=${2:?--binary needs a path}; BUILD=0; shift 2 ;;
        --binary=*) BIN=${1#*=}; BUILD=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done
positive() { [[ $1 =~ ^[0-9]*\.?[0-9]+$ ]] && awk -v x="$1" 'BEGIN { exit !(x > 0) }'; }
positive "$MINUTES" || die "--minutes: a positive number of minutes, e.g. 60 or 0.5"
positive "$EVERY" || die "--every: a positive number of minutes, e.g. 5 or 0.5"
[[ $SESSIONS =~ ^[0-9]+$ ]] || die "--sessions: a number (per server)"
positive "$CHURN" || die "--churn: connects/disconnects a second per server, e.g. 50"
[[ $WARMUP =~ ^[0-9]+$ ]] || die "--warmup: seconds, e.g. 30"
case $SERVER in
    both) FLAVORS=(mariadb mysql) ;;
    mariadb|mysql) FLAVORS=("$SERVER") ;;
    *) die "--server: mariadb, mysql or both" ;;
esac

need_packages mariadbd:mariadb-server curl:curl
bench_setup
[[ $BIN == /* ]] || BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
BIN_SHOWN=${BIN#"$ROOT"/}
grep -qF mysql_exporter_runtime_tasks "$BIN" \
    || die "$BIN_SHOWN has no mysql_exporter_runtime_tasks (the tokio task count the soak bounds): rebuild it (drop --no-build)"

# One socket per held session, in its holder and in its server; the churn's come and go.
HARD=$(ulimit -Hn)
[ "$HARD" = unlimited ] && HARD=65536
[ "$HARD" -gt 65536 ] && HARD=65536
ulimit -n "$HARD"
[ "$HARD" -ge $((SESSIONS * 2 + 1000)) ] || die "open-files limit $HARD is too low for $SESSIONS sessions: raise ulimit -Hn or give --sessions fewer"
CHURN_SLOTS=$(awk -v r="$CHURN" 'BEGIN { printf "%d", r + 0.999 }')
MAX_CONN=$((SESSIONS + CHURN_SLOTS + 1000))

WORK=$(mktemp -d /tmp/mysql_pool_exporter-soak.XXXXXX)
declare -A DB_PORTS=() DB_PIDS=() DB_SOCKS=() HOLDER_PIDS=() HOLD_FDS=() CHURN_PIDS=()
OURS_PID="" SCRAPER_PID=""
GONE_PID=""
pid_gone() { ! kill -0 "$GONE_PID" 2>/dev/null; }
cleanup() {
    local rc=$? f fd pid
    [ -n "$SCRAPER_PID" ] && stop_pid "$SCRAPER_PID"
    for pid in "${CHURN_PIDS[@]}"; do stop_pid "$pid"; done
    stop_pid "$OURS_PID"
    # End of input: each holder closes its sessions and exits.
    for fd in "${HOLD_FDS[@]}"; do exec {fd}>&-; done
    for pid in "${HOLDER_PIDS[@]}"; do stop_pid "$pid"; done
    # With thousands of sessions a server's shutdown takes longer than stop_pid waits: both
    # are told at once, then each is waited for.
    for pid in "${DB_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${DB_PIDS[@]}"; do GONE_PID=$pid poll_until 120 pid_gone || true; stop_pid "$pid"; done
    rm -f "$WORK/mysql_pool_exporter"
    if [ "$rc" -eq 0 ]; then
        stop_db_dirs
        rm -rf "$WORK"
    else
        for f in "${FLAVORS[@]}"; do
            [ "$f" = mysql ] && [ -L "$WORK/db-$f" ] && echo "the MySQL server's files: $(readlink -f "$WORK/db-$f")" >&2
        done
        echo "logs kept in $WORK" >&2
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A copy is run, so that a rebuild during the soak does not swap the binary under it.
cp -p "$BIN" "$WORK/mysql_pool_exporter"
BIN_BUILT=$(date -u -r "$BIN" '+built %Y-%m-%d %H:%M UTC')
BIN=$WORK/mysql_pool_exporter

# without_hold_fds COMMAND... — execs COMMAND (run it with &) without our write ends of the
# holders' pipes, so that closing ours is each holder's end of input.
without_hold_fds() {
    local fd
    for fd in "${HOLD_FDS[@]}"; do exec {fd}>&-; done
    exec "$@"
}

# use_server FLAVOR — points DB_FLAVOR, DB_PORT, DB_SOCK and DB_PID (what root_sql and
# db_name read) at that server.
use_server() {
    DB_FLAVOR=$1 DB_PORT=${DB_PORTS[$1]} DB_SOCK=${DB_SOCKS[$1]} DB_PID=${DB_PIDS[$1]}
}

# ------------------------------------------------------------------ servers and sessions
PW_OURS=soak-ours-pw PW_APP=soak-app-pw
# Each server in turn: started, its users made, its holder told to open the sessions. The
# holders open theirs in the background, so the second server starts while the first's
# sessions are being opened.
for f in "${FLAVORS[@]}"; do
    DB_FLAVOR=$f
    say "starting $(db_name) (max_connections $MAX_CONN)"
    TMP_OPT=""
    if [ "$f" = mariadb ]; then mkdir -p "$WORK/db-tmp"; TMP_OPT="--tmpdir=$WORK/db-tmp"; fi
    DB_OPTS="$TMP_OPT --max-connections=$MAX_CONN --open-files-limit=$HARD --table-open-cache=1000 \
--thread-cache-size=64 --back-log=1000 --max-connect-errors=1000000000 \
--performance-schema-max-thread-instances=$((MAX_CONN + 200)) --performance-schema-session-connect-attrs-size=1024" \
        start_db "$WORK/db-$f"
    DB_PORTS[$f]=$DB_PORT DB_SOCKS[$f]=$DB_SOCK DB_PIDS[$f]=$DB_PID
    REPLICA_GRANT=""
    [ "$f" = mariadb ] && REPLICA_GRANT=", SLAVE MONITOR"
    root_sql <<SQL || die "creating the users on $(db_name) failed (its log: $WORK/db-$f/error.log)"
CREATE USER 'pool_exporter'@'127.0.0.1' IDENTIFIED BY '$PW_OURS';
GRANT PROCESS, REPLICATION CLIENT$REPLICA_GRANT ON *.* TO 'pool_exporter'@'127.0.0.1';
GRANT SELECT ON performance_schema.* TO 'pool_exporter'@'127.0.0.1';
GRANT SELECT ON mysql.user TO 'pool_exporter'@'127.0.0.1';
$(bench_app_sql "$PW_APP")
SQL
    say "$(db_name): opening $SESSIONS sessions (in the background)"
    mkfifo "$WORK/hold-$f"
    without_hold_fds "$PY" "$HERE/hold_sessions.py" --port "$DB_PORT" --user app --password "$PW_APP" --db app \
        <"$WORK/hold-$f" >"$WORK/hold-$f.out" 2>"$WORK/hold-$f.log" &
    HOLDER_PIDS[$f]=$!
    exec {fd}>"$WORK/hold-$f"
    HOLD_FDS[$f]=$fd
    printf '%s\n' "$SESSIONS" >&"$fd"
done
for f in "${FLAVORS[@]}"; do
    use_server "$f"
    WAIT_PID=${HOLDER_PIDS[$f]} WAIT_LOG="$WORK/hold-$f.log" \
        wait_for "$SESSIONS sessions on $(db_name)" 600 grep -qx "ready $SESSIONS" "$WORK/hold-$f.out"
    # The SLEEPs are sent without waiting: wait until the server runs all of them.
    want="$SESSIONS $((SESSIONS / 10)) $((SESSIONS / 10))"
    poll_until 60 app_counts_are app "$want" \
        || die "$(db_name)'s processlist shows (sessions, idle in transaction, SLEEP) = ($(app_session_counts app)), expected ($want)"
done

# ------------------------------------------------------------------ the exporter
printf '%s\n' "$PW_OURS" >"$WORK/pool_exporter.pw"
{
    echo "targets:"
    for f in "${FLAVORS[@]}"; do
        printf '  - name: %s\n    dsn: mysql://pool_exporter@127.0.0.1:%s\n    password_file: pool_exporter.pw\n    tls: { mode: disabled }\n' \
            "$f" "${DB_PORTS[$f]}"
    done
    # One pool for the app user on every target: the held sessions and the churn are its.
    cat <<'YAML'
pools:
  - name: app
    match: { user: app }
    size: 15
    max_overflow: 30
    processes: 100
YAML
} >"$WORK/soak.yml"
TARGETS=$(IFS=,; echo "${FLAVORS[*]}")

# all_up PORT — /metrics has mysql_up 1 for every target.
all_up() {
    local body f
    body=$(curl -fsS "http://127.0.0.1:$1/metrics") || return 1
    for f in "${FLAVORS[@]}"; do
        grep -Eq "^mysql_up(\{target=\"$f\"\})? 1(\.0*)?$" <<<"$body" || return 1
    done
}
OURS_PORT=$(free_port)
say "starting the exporter (targets $TARGETS)"
without_hold_fds "$BIN" --config.file="$WORK/soak.yml" --web.listen-address="127.0.0.1:$OURS_PORT" \
    >"$WORK/ours.log" 2>&1 &
OURS_PID=$!
WAIT_PID=$OURS_PID WAIT_LOG="$WORK/ours.log" wait_for "the exporter with every target up" 60 all_up "$OURS_PORT"

# ------------------------------------------------------------------ header
printf 'bench/soak.sh --minutes %s --every %s --sessions %s --churn %s --server %s --warmup %s\n' \
    "$MINUTES" "$EVERY" "$SESSIONS" "$CHURN" "$SERVER" "$WARMUP"
printf 'machine: %s CPUs (%s), %s GiB RAM, %s\n' "$(nproc)" \
    "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)" \
    "$(awk '/MemTotal/ {printf "%.0f", $2 / 1048576}' /proc/meminfo)" "$(uname -sr)"
for f in "${FLAVORS[@]}"; do
    use_server "$f"
    printf 'server %s: %s on 127.0.0.1:%s, max_connections %s, %s held sessions (%s idle in a transaction, %s in SLEEP) + %s connects/disconnects a second\n' \
        "$f" "$(root_sql 'SELECT @@version')" "$DB_PORT" "$MAX_CONN" "$SESSIONS" \
        "$((SESSIONS / 10))" "$((SESSIONS / 10))" "$CHURN"
done
printf 'ours: %s (%s, %s), targets %s\n' "$("$BIN" --version)" "$BIN_SHOWN" "$BIN_BUILT" "$TARGETS"
printf 'scrapes: /metrics every 1 s, /probe?target= every 1 s (%s in turn), / every 5 s; X-Prometheus-Scrape-Timeout-Seconds: %s\n' \
    "$TARGETS" "$SCRAPE_TIMEOUT"
printf 'load average before: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"

# ------------------------------------------------------------------ load and measure
for f in "${FLAVORS[@]}"; do
    without_hold_fds "$PY" "$HERE/soak.py" churn --port "${DB_PORTS[$f]}" --user app --password "$PW_APP" --db app \
        --rate "$CHURN" --status "$WORK/churn-$f.json" >"$WORK/churn-$f.log" 2>&1 &
    CHURN_PIDS[$f]=$!
done
without_hold_fds "$PY" "$HERE/soak.py" scrape --port "$OURS_PORT" --targets "$TARGETS" --timeout "$SCRAPE_TIMEOUT" \
    --status "$WORK/scrape.json" >"$WORK/scrape.log" 2>&1 &
SCRAPER_PID=$!

PIDS="exporter=$OURS_PID,scraper=$SCRAPER_PID" CHURN_FILES=""
for f in "${FLAVORS[@]}"; do
    PIDS+=",server-$f=${DB_PIDS[$f]},holder-$f=${HOLDER_PIDS[$f]},churn-$f=${CHURN_PIDS[$f]}"
    CHURN_FILES+="${CHURN_FILES:+,}$f=$WORK/churn-$f.json"
done
say "soaking: ${WARMUP}s warm-up, then $MINUTES min"
RC=0
"$PY" "$HERE/soak.py" watch --pids "$PIDS" --churn-status "$CHURN_FILES" \
    --scrape-status "$WORK/scrape.json" --rate "$CHURN" --timeout "$SCRAPE_TIMEOUT" \
    --minutes "$MINUTES" --every "$EVERY" --warmup "$WARMUP" || RC=$?
printf 'load average after: %s (%s CPUs)\n' "$(cut -d' ' -f1-3 /proc/loadavg)" "$(nproc)"
if grep -qiE 'level=(error|warn)' "$WORK/ours.log"; then
    printf '\nnote: ours logged warnings/errors:\n'
    grep -iE 'level=(error|warn)' "$WORK/ours.log" | sed -E 's/^[^ ]+ //' | sort | uniq -c | sort -rn | head -5 | cut -c1-300
fi
[ "$RC" -eq 130 ] && exit 130
[ "$RC" -eq 0 ] || die "the soak failed: see the FAIL lines above (the exporter's log: $WORK/ours.log)"
