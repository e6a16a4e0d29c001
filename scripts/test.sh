#!/usr/bin/env bash
# Runs every test: formatting, clippy, the Rust unit tests, every integration test against a
# real MariaDB 10.11 and again against a real Oracle MySQL 9.7 (in a Debian sid chroot built
# here once and cached), a 3-minute soak on both at once, the demo and the live stack on
# both, the monitoring-content checks, and the release artefacts: the tarball and the Debian
# package built twice (same bytes), the package installed into this machine (root, no
# running systemd), run hardened on both servers, upgraded and purged. Installs what it
# needs first.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
cd "$ROOT"

need_packages mariadbd:mariadb-server mariadb:mariadb-client prometheus:prometheus \
    promtool:prometheus amtool:prometheus-alertmanager python3:python3 chromium:chromium \
    docker-compose:docker-compose jsonnet:jsonnet
# PyYAML for Debian's python3 (the mixin's YAML read-back): no command to look for.
/usr/bin/python3 -c 'import yaml' 2>/dev/null || apt_install python3-yaml
command -v cargo >/dev/null || die "cargo is missing: install the Rust toolchain (rustup)"

say "cargo fmt --check"
cargo fmt --check
say "vendor/mysql_async: the published mysql_async 0.37.1 + vendor/mysql_async.patch, nothing else"
bash scripts/check_vendor.sh
say "cargo clippy --all-targets -- -D warnings"
cargo clippy --quiet --all-targets -- -D warnings
say "cargo test (unit tests, and integration tests against a real MariaDB 10.11 and Prometheus)"
MPE_TEST_SERVER=mariadb cargo test
say "Oracle MySQL 9.7: the chroot ($MYSQL_CHROOT)"
ensure_mysql_chroot
# Every integration test that starts a database server, again against MySQL.
mapfile -t server_tests < <(grep -l -E 'Server::start|server\(\)' tests/*.rs | xargs -n1 basename | sed 's/\.rs$//')
say "integration tests against Oracle MySQL 9.7: ${server_tests[*]}"
mysql_args=()
for t in "${server_tests[@]}"; do mysql_args+=(--test "$t"); done
MPE_TEST_SERVER=mysql cargo test "${mysql_args[@]}"
say "mixin: alerting-rules/ and dashboards/ are what mixin/ generates; overriding _config works"
bash scripts/generate_mixin.sh --check
bash scripts/test_mixin.sh
say "alerting rules: promtool check/test, amtool routing, live Alertmanager inhibition"
bash scripts/test-alerting.sh
say "dashboards: every queried metric documented (docs/metrics.md) or recorded; the lint's self-test"
python3 scripts/lint_dashboards.py --self-test
say "docker-compose.yml: docker-compose config; pinned tags, mounted files exist and are the tests' own, loopback ports"
python3 scripts/check_compose.py
say "Kubernetes manifests: Kubernetes and prometheus-operator schemas, consistency, config check, the relabelings in a real Prometheus"
cargo build --quiet   # the debug binary cargo test already built
EXPORTER_BIN="$ROOT/target/debug/mysql_pool_exporter" bash scripts/check_kubernetes.sh
say "bench/fleet.sh, tiny (2 servers, 4 targets, debug build): /metrics within its deadline with the hung target down, one log line per target and problem"
fleet=$(bash bench/fleet.sh --binary "$ROOT/target/debug/mysql_pool_exporter" --servers 2 --targets 4 \
    --sessions 4 --rounds 6 --interval 2 --timeout 1.5) || [ $? -eq 3 ] || die "bench/fleet.sh failed"
printf '%s\n' "$fleet"
for line in "/metrics latency worst" "hung target down in /metrics" "log lines per target and problem"; do
    grep -E "^$line.* PASS\$" <<<"$fleet" >/dev/null || die "bench/fleet.sh: '$line' did not pass"
done
say "bench/soak.sh, 3 minutes (debug build, both servers at once, 500 sessions and 50 connects a second each): RSS, fds, tasks and series do not grow"
bash bench/soak.sh --minutes 3 --every 1 --sessions 500 --binary "$ROOT/target/debug/mysql_pool_exporter"
# The release build (fat LTO) twice, niced, while the demo and the live stack mostly wait on
# their timers (alert for: durations); checked after them.
say "release artefacts: scripts/test_package.sh --build-only in the background (two release builds, compared)"
package_build_log="$ROOT/target/test_package-build.log"
mkdir -p "$ROOT/target"
nice -n 19 bash scripts/test_package.sh --build-only >"$package_build_log" 2>&1 &
package_build_pid=$!
say "demo app: demo/leaky_app.py reproduces the incident against a real MariaDB, then MySQL"
DB_FLAVOR=mariadb bash scripts/test_demo.sh
DB_FLAVOR=mysql bash scripts/test_demo.sh
say "live stack: the leak against the server + exporter + Prometheus + Alertmanager: every dashboard panel, the alerts firing, check, kill-idle (~2.5 min each: the rules' for: durations)"
cargo build --quiet   # the debug binary cargo test already built; saves a release build
for flavor in mariadb mysql; do
    say "live stack on $flavor"
    DB_FLAVOR=$flavor EXPORTER_BIN="$ROOT/target/debug/mysql_pool_exporter" bash scripts/test_live_stack.sh
done
say "the release tarball and the Debian package: built twice with the same bytes, installed, run hardened on MariaDB and MySQL, upgraded, purged"
wait "$package_build_pid" || { cat "$package_build_log"; die "scripts/test_package.sh --build-only failed"; }
cat "$package_build_log"
bash scripts/test_package.sh --install-only
