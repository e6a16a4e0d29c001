#!/usr/bin/env bash
# What performance_schema costs the server, for users who turn it on (MariaDB's default is
# off) so the exporter can count sessions per client process and match pools by connect
# attribute. Runs the same mariadb-slap load against one throwaway server started twice,
# performance_schema OFF then ON (with the attribute table sized as docs/privileges.md
# suggests), and prints the server's memory and the load's throughput for each, with the
# ratio. A script that prints what it measured, not a timed test.
#
#   bench/performance_schema.sh [--server mariadb|mysql] [--concurrency 16] [--queries 100000]
#
# Everything runs on 127.0.0.1 with a free port and a throwaway datadir, stopped by PID.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib/common.sh
. "$HERE/../scripts/lib/common.sh"

CONCURRENCY=16 QUERIES=100000
DB_FLAVOR=${DB_FLAVOR:-mariadb}
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
while [ $# -gt 0 ]; do
    case $1 in
        --server) DB_FLAVOR=${2:?--server needs mariadb or mysql}; shift 2 ;;
        --concurrency) CONCURRENCY=${2:?--concurrency needs a number}; shift 2 ;;
        --queries) QUERIES=${2:?--queries needs a number}; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done
[[ $CONCURRENCY =~ ^[1-9][0-9]*$ && $QUERIES =~ ^[1-9][0-9]*$ ]] || die "--concurrency and --queries: positive numbers"
[[ $DB_FLAVOR == mariadb || $DB_FLAVOR == mysql ]] || die "--server: mariadb or mysql"
need_packages mariadbd:mariadb-server mariadb-slap:mariadb-client

WORK=$(mktemp -d /tmp/mysql_pool_exporter-pfs.XXXXXX)
DB_PID=""
cleanup() {
    stop_pid "$DB_PID"
    stop_db_dirs
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rss_mib() { awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }

# run ON|OFF — starts the server with performance_schema so, runs the load, prints a row.
run() {
    local ps=$1 opts out secs
    opts="--max-connections=$((CONCURRENCY + 50))"
    # start_db turns performance_schema on; the later option wins.
    [ "$ps" = OFF ] && opts+=" --performance-schema=OFF"
    [ "$ps" = ON ] && opts+=" --performance-schema-session-connect-attrs-size=1024"
    DB_OPTS="$opts" start_db "$WORK/db-$ps"
    root_sql "CREATE DATABASE IF NOT EXISTS slap" >/dev/null
    local before after
    before=$(rss_mib "$DB_PID")
    out=$(mariadb-slap --no-defaults -uroot --socket="$DB_SOCK" --concurrency="$CONCURRENCY" \
        --iterations=3 --number-of-queries="$QUERIES" --auto-generate-sql \
        --auto-generate-sql-load-type=read --create-schema=slap 2>&1) \
        || { echo "$out" >&2; die "mariadb-slap failed"; }
    after=$(rss_mib "$DB_PID")
    secs=$(awk '/Average number of seconds to run all queries/ { print $(NF-1) }' <<<"$out")
    printf '%s %s %s %s\n' "$ps" "$before" "$after" "$secs"
    stop_pid "$DB_PID"
    DB_PID=""
}

say "performance_schema OFF, then ON: $CONCURRENCY clients, $QUERIES read queries, 3 iterations each"
OFF=$(run OFF)
ON=$(run ON)
printf 'bench/performance_schema.sh --server %s --concurrency %s --queries %s\n' "$DB_FLAVOR" "$CONCURRENCY" "$QUERIES"
printf 'machine: %s CPUs, %s GiB RAM\n' "$(nproc)" "$(awk '/MemTotal/ {printf "%.0f", $2 / 1048576}' /proc/meminfo)"
awk -v off="$OFF" -v on="$ON" 'BEGIN {
    split(off, a, " "); split(on, b, " ")
    printf "%-44s %10s %10s %7s\n", "", "OFF", "ON", "ratio"
    printf "%-44s %10d %10d %6.2fx\n", "server RSS after start (MiB)", a[2], b[2], b[2] / a[2]
    printf "%-44s %10d %10d %6.2fx\n", "server RSS after the load (MiB)", a[3], b[3], b[3] / a[3]
    printf "%-44s %10.3f %10.3f %6.2fx\n", "mariadb-slap, seconds per iteration", a[4], b[4], b[4] / a[4]
}'
