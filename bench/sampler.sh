#!/usr/bin/env bash
# Benchmark: what the exporter's sampler costs the server. The sampler reads, once a second
# by default, the session list (the `threads` source of a scrape) and a few status counters
# on the exporter's one connection, with nobody scraping. For each N held sessions (a tenth
# idle in a transaction, a tenth running SLEEP), the server's CPU per second over --seconds
# in three phases, nobody scraping: (a) no exporter, (b) the exporter with
# --no-collect.sampler, (c) the exporter with the sampler on (its defaults). Prints per N
# the server's ms of CPU per second in each phase, the sampler's cost (c) - (b) in ms/s and
# in % of one core, the exporter's own CPU and RSS, and the sampler's lines of /metrics at
# the end of (c). A binary without the sampler gets (a) and (b) only.
#
# Then, for each N, the same with lock waits: K more sessions (--lock-waits, 0: none) wait
# for a row lock that one more session holds (its transaction idle, FOR UPDATE on a row of
# app.t; theirs in LOCK WAIT, checked in INNODB_TRX), the N held sessions unchanged:
# (b') the exporter with --no-collect.sampler, (c') the sampler on, in the order b' c' b';
# the sampler's cost with lock waits is (c') - (b'), printed next to (c) - (b). The lock is
# released before the next N. A script, not a timed test.
#
#   bench/sampler.sh [--server mariadb|mysql] [--sessions 100,1000,4000,10000] [--seconds 20]
#                    [--lock-waits 50] [--no-build] [--binary PATH]
#
# Per N: a b c b a, then b' c' b' (each phase --seconds long; a, b and b' in two halves).
#
# Everything on 127.0.0.1, throwaway datadir, stopped by PID. Results: docs/benchmarks.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib/common.sh
. "$HERE/../scripts/lib/common.sh"

SESSIONS=100,1000,4000,10000 SECONDS_PER_PHASE=20 LOCK_WAITS=50 BUILD=1 BIN=""
SETTLE=5   # seconds between a change (sessions, exporter start) and the measurement
DB_FLAVOR=${DB_FLAVOR:-mariadb}
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
while [ $# -gt 0 ]; do
    case $1 in
        --sessions) SESSIONS=${2:?--sessions needs a value, e.g. 100,1000,4000}; shift 2 ;;
        --sessions=*) SESSIONS=${1#*=}; shift ;;
        --seconds) SECONDS_PER_PHASE=${2:?--seconds needs a number}; shift 2 ;;
        --seconds=*) SECONDS_PER_PHASE=${1#*=}; shift ;;
        --lock-waits) LOCK_WAITS=${2:?--lock-waits needs a number}; shift 2 ;;
        --lock-waits=*) LOCK_WAITS=${1#*=}; shift ;;
        --server) DB_FLAVOR=${2:?--server needs mariadb or mysql}; shift 2 ;;
        --server=*) DB_FLAVOR=${1#*=}; shift ;;
        --no-build) BUILD=0; shift ;;
        --binary) BIN=${2:?--binary needs a path}; BUILD=0; shift 2 ;;
        --binary=*) BIN=${1#*=}; BUILD=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done
[[ $SESSIONS =~ ^[0-9]+(,[0-9]+)*$ ]] || die "--sessions: a comma-separated list of counts, e.g. 100,1000,4000"
[ "$(tr ',' '\n' <<<"$SESSIONS" | sort -n | paste -sd,)" = "$SESSIONS" ] || die "--sessions: give the counts in increasing order"
[[ $SECONDS_PER_PHASE =~ ^[1-9][0-9]*$ ]] || die "--seconds: a positive number"
[[ $LOCK_WAITS =~ ^[0-9]+$ ]] || die "--lock-waits: a number of sessions (0: no lock waits)"
[[ $DB_FLAVOR == mariadb || $DB_FLAVOR == mysql ]] || die "--server: mariadb or mysql"
MAX_N=$(tr ',' '\n' <<<"$SESSIONS" | sort -n | tail -1)
# The held sessions at the largest N, and with lock waits the blocker and its waiters.
MAX_SESSIONS=$MAX_N
[ "$LOCK_WAITS" -gt 0 ] && MAX_SESSIONS=$((MAX_N + LOCK_WAITS + 1))

need_packages mariadbd:mariadb-server curl:curl
bench_setup
[[ $BIN == /* ]] || BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
BIN_SHOWN=${BIN#"$ROOT"/}

# One socket per held session, in the holder and in the server: each a process of its own,
# so each needs the sessions plus its other files (the server's table cache: 1 000).
HARD=$(ulimit -Hn)
[ "$HARD" = unlimited ] && HARD=65536
[ "$HARD" -gt 65536 ] && HARD=65536
ulimit -n "$HARD"
[ "$HARD" -ge $((MAX_SESSIONS + 1000 + 100)) ] || die "open-files limit $HARD is too low for $MAX_SESSIONS sessions"

WORK=$(mktemp -d /tmp/mysql_pool_exporter-sampler.XXXXXX)
DB_PID="" OURS_PID="" HOLDER_PID="" HOLD_IN="" HOLD_OUT=""
db_gone() { ! kill -0 "$DB_PID" 2>/dev/null; }
cleanup() {
    local rc=$?
    stop_pid "$OURS_PID"
    # End of input: the holder closes its sessions and exits.
    [ -n "$HOLD_IN" ] && exec {HOLD_IN}>&-
    [ -n "$HOLD_OUT" ] && exec {HOLD_OUT}<&-
    stop_pid "$HOLDER_PID"
    # With thousands of sessions the server's shutdown takes longer than stop_pid waits.
    if [ -n "$DB_PID" ] && kill "$DB_PID" 2>/dev/null; then poll_until 120 db_gone || true; fi
    stop_pid "$DB_PID"
    rm -f "$WORK/mysql_pool_exporter"
    if [ "$rc" -eq 0 ]; then
        stop_db_dirs
        rm -rf "$WORK"
    else
        [ "$DB_FLAVOR" = mysql ] && echo "the MySQL server's files: $(readlink -f "$WORK/db")" >&2
        echo "logs kept in $WORK" >&2
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A copy is run, so that a rebuild during the run does not put two builds in one table.
cp -p "$BIN" "$WORK/mysql_pool_exporter"
BIN=$WORK/mysql_pool_exporter
# Not `--help | grep -q`: with pipefail, grep leaving early would fail the pipe.
HELP=$("$BIN" --help 2>&1) || die "$BIN_SHOWN --help failed"
HAS_SAMPLER=0
grep -qi sampler <<<"$HELP" && HAS_SAMPLER=1

say "starting $(db_name) (max_connections $((MAX_SESSIONS + 1000)))"
TMP_OPT=""
if [ "$DB_FLAVOR" = mariadb ]; then mkdir -p "$WORK/db-tmp"; TMP_OPT="--tmpdir=$WORK/db-tmp"; fi
DB_OPTS="$TMP_OPT --max-connections=$((MAX_SESSIONS + 1000)) --open-files-limit=$HARD --table-open-cache=1000 \
--thread-cache-size=64 --back-log=1000 --max-connect-errors=1000000000 \
--performance-schema-max-thread-instances=$((MAX_SESSIONS + 1200)) --performance-schema-session-connect-attrs-size=1024" \
    start_db "$WORK/db"
REPLICA_GRANT=""
[ "$DB_FLAVOR" = mariadb ] && REPLICA_GRANT=", SLAVE MONITOR"
PW_OURS=bench-ours-pw PW_APP=bench-app-pw
# The grants of bench/compare.sh: the exporter's start-up collection reads what a scrape reads.
root_sql <<SQL || die "creating the users failed"
CREATE USER 'pool_exporter'@'127.0.0.1' IDENTIFIED BY '$PW_OURS';
GRANT PROCESS, REPLICATION CLIENT$REPLICA_GRANT ON *.* TO 'pool_exporter'@'127.0.0.1';
GRANT SELECT ON performance_schema.* TO 'pool_exporter'@'127.0.0.1';
GRANT SELECT ON mysql.user TO 'pool_exporter'@'127.0.0.1';
$(bench_app_sql "$PW_APP")
SQL
bench_ours_config "$WORK" "$PW_OURS"

# ------------------------------------------------------------------ the held sessions
coproc HOLD { exec "$PY" "$HERE/hold_sessions.py" --port "$DB_PORT" --user app \
    --password "$PW_APP" --db app 2>"$WORK/hold.log"; }
# shellcheck disable=SC2153  # HOLD_PID: set by coproc HOLD; bash unsets it when the holder exits
HOLDER_PID=$HOLD_PID
# Our own copies of the pipe's ends: bash drops HOLD when the holder exits.
exec {HOLD_IN}>&"${HOLD[1]}" {HOLD_OUT}<&"${HOLD[0]}"

# The app user's sessions while N are held (app_session_counts): with no lock held, N of
# which a tenth idle in a transaction and a tenth in SLEEP; with the lock waits, the blocker
# adds a session idle in a transaction and each waiter a session (running its UPDATE).
plain_counts() { echo "$1 $(($1 / 10)) $(($1 / 10))"; }
# hold N — grows the held sessions to N and checks them in the processlist.
hold() {
    local n=$1 line want
    printf '%s\n' "$n" >&"$HOLD_IN"
    read -r -t 1800 line <&"$HOLD_OUT" || { cat "$WORK/hold.log" >&2; die "the session holder exited while opening $n sessions"; }
    [ "$line" = "ready $n" ] || die "the session holder said: $line"
    # The SLEEPs are sent without waiting: wait until the server runs all of them.
    want=$(plain_counts "$n")
    poll_until 60 app_counts_are app "$want" \
        || die "processlist shows (sessions, idle in transaction, SLEEP) = ($(app_session_counts app)), expected ($want)"
}
# locked_counts N — app_session_counts while N are held and the lock waits too.
locked_counts() { echo "$(($1 + LOCK_WAITS + 1)) $(($1 / 10 + 1)) $(($1 / 10))"; }
# lock_waits — transactions in LOCK WAIT on the server (INNODB_TRX: MariaDB and MySQL).
lock_waits() { root_sql "SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT'"; }
lock_waits_are() { [ "$(lock_waits)" = "$1" ]; }
# holder_says COMMAND REPLY — sends the holder a command line and checks its answer.
holder_says() {
    local line
    printf '%s\n' "$1" >&"$HOLD_IN"
    read -r -t 600 line <&"$HOLD_OUT" || { cat "$WORK/hold.log" >&2; die "the session holder exited after: $1"; }
    [ "$line" = "$2" ] || die "the session holder said: $line (after: $1)"
}
# hold_locks N — LOCK_WAITS sessions wait for a row lock one more session holds, beside the
# N held ones; checked in INNODB_TRX and the processlist.
hold_locks() {
    local n=$1 want
    holder_says "locks $LOCK_WAITS" "ready locks $LOCK_WAITS"
    # The UPDATEs are sent without waiting: wait until the server has all of them waiting.
    poll_until 60 lock_waits_are "$LOCK_WAITS" \
        || die "INNODB_TRX shows $(lock_waits) transactions in LOCK WAIT, expected $LOCK_WAITS"
    want=$(locked_counts "$n")
    poll_until 60 app_counts_are app "$want" \
        || die "with the lock waits, processlist shows (sessions, idle in transaction, SLEEP) = ($(app_session_counts app)), expected ($want)"
}
# release_locks N — releases the lock (the waiters' UPDATEs run, their sessions and the
# blocker's close); back to the N held sessions alone, checked.
release_locks() {
    local n=$1 want
    holder_says unlock "ready unlock"
    want=$(plain_counts "$n")
    poll_until 60 lock_waits_are 0 \
        || die "after unlock, INNODB_TRX still shows $(lock_waits) transactions in LOCK WAIT"
    poll_until 60 app_counts_are app "$want" \
        || die "after unlock, processlist shows (sessions, idle in transaction, SLEEP) = ($(app_session_counts app)), expected ($want)"
}

# ------------------------------------------------------------------ the exporter
ready() { curl -fsS "http://127.0.0.1:$1/-/ready"; }
# start_ours FLAGS... — a fresh exporter; it connects and collects once by itself at start
# (that is how /-/ready turns 200), then nobody scrapes it until the end of the phase.
start_ours() {
    stop_pid "$OURS_PID"
    OURS_PORT=$(free_port)
    "$BIN" --config.file="$WORK/ours.yml" --web.listen-address="127.0.0.1:$OURS_PORT" \
        --log.level=warn "$@" >>"$WORK/ours.log" 2>&1 {HOLD_IN}>&- {HOLD_OUT}<&- &
    OURS_PID=$!
    WAIT_PID=$OURS_PID WAIT_LOG="$WORK/ours.log" wait_for "mysql_pool_exporter ${*:-(sampler on)}" 30 ready "$OURS_PORT"
    sleep "$SETTLE"
}
stop_ours() { stop_pid "$OURS_PID"; OURS_PID=""; }

RESULTS=$WORK/results.jsonl
HALF=$(awk -v s="$SECONDS_PER_PHASE" 'BEGIN { print s / 2 }')
# measure N PHASE SECONDS [EXPORTER_PID] — appends to RESULTS; a phase measured in two
# pieces is added up by the report. PHASE: a, b, c, b-nosampler, or with the lock waits
# held b-locks (b') and c-locks (c').
measure() {
    local locks=()
    [[ $2 == *-locks ]] && locks=(--lock-waits "$LOCK_WAITS")
    "$PY" "$HERE/sampler.py" measure --n "$1" --phase "$2" --seconds "$3" \
        --db-pid "$DB_PID" ${4:+--exporter-pid "$4"} "${locks[@]}" --results "$RESULTS"
}
# exporter_phase N PHASE SECONDS FLAGS... — a fresh exporter, measured, stopped. With the
# sampler off, /metrics afterwards must count no samples.
exporter_phase() {
    local n=$1 phase=$2 secs=$3 body; shift 3
    start_ours "$@"
    measure "$n" "$phase" "$secs" "$OURS_PID"
    if [ "$phase" = b ] || [ "$phase" = b-locks ]; then
        body=$(curl -fsS "http://127.0.0.1:$OURS_PORT/metrics") || die "GET /metrics at the end of ($phase) failed"
        if grep -Eq '^mysql_exporter_sampler_samples_total [1-9]' <<<"$body"; then
            printf 'warning: N=%s (%s): the exporter counts samples with --no-collect.sampler: %s\n' "$n" "$phase" \
                "$(grep -E '^mysql_exporter_sampler_samples_total' <<<"$body")"
        fi
    fi
    stop_ours
}

# ------------------------------------------------------------------ measure
printf 'bench/sampler.sh --server %s --sessions %s --seconds %s\n' "$DB_FLAVOR" "$SESSIONS" "$SECONDS_PER_PHASE"
printf 'machine: %s CPUs (%s), %s GiB RAM, %s\n' "$(nproc)" \
    "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)" \
    "$(awk '/MemTotal/ {printf "%.0f", $2 / 1048576}' /proc/meminfo)" "$(uname -sr)"
printf 'server: %s\n' "$(root_sql 'SELECT @@version')"
printf 'ours: %s (%s, %s)\n' "$("$BIN" --version)" "$BIN_SHOWN" "$(date -u -r "$BIN" '+built %Y-%m-%d %H:%M UTC')"
if [ "$HAS_SAMPLER" = 1 ]; then
    printf 'sampler flags: %s\n' "$(grep -oiE -- '--[a-z0-9._-]*sampler[a-z0-9._-]*' <<<"$HELP" | sort -u | paste -sd' ')"
else
    printf 'this binary has no sampler: measuring (a) no exporter and (b) the exporter only\n'
fi
printf 'each phase: %s s with nobody scraping (a and b in two halves: a b c b a), from %s s after\nthe exporter started; load average before: %s\n' \
    "$SECONDS_PER_PHASE" "$SETTLE" "$(cut -d' ' -f1-3 /proc/loadavg)"
LOCKS=0
if [ "$LOCK_WAITS" -gt 0 ] && [ "$HAS_SAMPLER" = 1 ]; then
    LOCKS=1
    printf "then with lock waits: %s sessions of app waiting (LOCK WAIT) for a row lock one more session\nholds, as (b') and (c'), b' in two halves: b' c' b'\n" "$LOCK_WAITS"
elif [ "$LOCK_WAITS" -gt 0 ]; then
    printf 'no phases with lock waits: they measure the sampler, which this binary lacks\n'
fi

for N in ${SESSIONS//,/ }; do
    say "holding $N sessions"
    hold "$N"
    COUNTS="$N,$((N / 10)),$((N / 10))"
    sleep "$SETTLE"
    # The server's idle CPU drifts (some of MariaDB's threads end a minute after its
    # last burst of work): in the order a b c b a, a and b are measured half before and after
    # c, so that a steady drift falls on every phase alike.
    METRICS=""
    say "N=$N: (a) no exporter, ${HALF}s"
    measure "$N" a "$HALF"
    if [ "$HAS_SAMPLER" = 1 ]; then
        say "N=$N: (b) exporter with --no-collect.sampler, ${HALF}s"
        exporter_phase "$N" b "$HALF" --no-collect.sampler
        say "N=$N: (c) exporter with the sampler on, ${SECONDS_PER_PHASE}s"
        start_ours
        measure "$N" c "$SECONDS_PER_PHASE" "$OURS_PID"
        METRICS=$WORK/metrics-$N.txt
        curl -fsS "http://127.0.0.1:$OURS_PORT/metrics" >"$METRICS" || die "GET /metrics at the end of (c) failed"
        stop_ours
        say "N=$N: (b) exporter with --no-collect.sampler, ${HALF}s"
        exporter_phase "$N" b "$HALF" --no-collect.sampler
    else
        say "N=$N: (b) exporter (no sampler in this binary), ${SECONDS_PER_PHASE}s"
        exporter_phase "$N" b-nosampler "$SECONDS_PER_PHASE"
    fi
    say "N=$N: (a) no exporter, ${HALF}s"
    measure "$N" a "$HALF"
    app_counts_are app "$(plain_counts "$N")" \
        || printf 'warning: the sessions changed during the run: now (%s)\n' "$(app_session_counts app)"
    # With the lock waits: the same N held sessions, and LOCK_WAITS more waiting on a row
    # lock of one more (so the plain counts above hold only with no lock held).
    METRICS_LOCKS=""
    if [ "$LOCKS" = 1 ]; then
        say "N=$N: $LOCK_WAITS sessions waiting on a row lock"
        hold_locks "$N"
        sleep "$SETTLE"
        say "N=$N: (b') exporter with --no-collect.sampler, $LOCK_WAITS lock waits, ${HALF}s"
        exporter_phase "$N" b-locks "$HALF" --no-collect.sampler
        say "N=$N: (c') exporter with the sampler on, $LOCK_WAITS lock waits, ${SECONDS_PER_PHASE}s"
        start_ours
        measure "$N" c-locks "$SECONDS_PER_PHASE" "$OURS_PID"
        METRICS_LOCKS=$WORK/metrics-locks-$N.txt
        curl -fsS "http://127.0.0.1:$OURS_PORT/metrics" >"$METRICS_LOCKS" || die "GET /metrics at the end of (c') failed"
        stop_ours
        say "N=$N: (b') exporter with --no-collect.sampler, $LOCK_WAITS lock waits, ${HALF}s"
        exporter_phase "$N" b-locks "$HALF" --no-collect.sampler
        if ! { lock_waits_are "$LOCK_WAITS" && app_counts_are app "$(locked_counts "$N")"; }; then
            printf 'warning: the lock waits changed during the run: now %s in LOCK WAIT, sessions (%s)\n' \
                "$(lock_waits)" "$(app_session_counts app)"
        fi
        say "N=$N: releasing the lock"
        release_locks "$N"
    fi
    "$PY" "$HERE/sampler.py" report --n "$N" --counts "$COUNTS" --results "$RESULTS" ${METRICS:+--metrics "$METRICS"} \
        ${METRICS_LOCKS:+--metrics-locks "$METRICS_LOCKS"}
done
"$PY" "$HERE/sampler.py" summary --results "$RESULTS" --server "$DB_FLAVOR"
printf 'load average after: %s (%s CPUs; other work on the machine shows here and in the spread)\n' \
    "$(cut -d' ' -f1-3 /proc/loadavg)" "$(nproc)"
if grep -qiE 'level=(error|warn)' "$WORK/ours.log"; then
    printf '\nnote: ours logged warnings/errors:\n'
    grep -iE 'level=(error|warn)' "$WORK/ours.log" | sort | uniq -c | sort -rn | head -5 | cut -c1-300
fi
