#!/usr/bin/env bash
# Runs every test: formatting, clippy, the Rust unit and integration tests (real MariaDB and
# Prometheus), and the monitoring-content checks. Installs what it needs first.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
cd "$ROOT"

need_packages mariadbd:mariadb-server mariadb:mariadb-client prometheus:prometheus \
    promtool:prometheus amtool:prometheus-alertmanager python3:python3 chromium:chromium \
    docker-compose:docker-compose
command -v cargo >/dev/null || die "cargo is missing: install the Rust toolchain (rustup)"

say "cargo fmt --check"
cargo fmt --check
say "cargo clippy --all-targets -- -D warnings"
cargo clippy --quiet --all-targets -- -D warnings
say "cargo test (unit tests, and integration tests against a real MariaDB and Prometheus)"
cargo test
say "alerting rules: promtool check/test, amtool routing, live Alertmanager inhibition"
bash scripts/test-alerting.sh
say "dashboards: structure lint and its self-test"
python3 scripts/lint_dashboards.py --self-test
say "docker-compose.yml and Dockerfile: docker-compose config, pinned tags, mounts, ports"
python3 scripts/check_compose.py
say "demo app: demo/leaky_app.py reproduces the incident against a real MariaDB"
bash scripts/test_demo.sh
say "live stack: the leak against MariaDB + exporter + Prometheus + Alertmanager: every dashboard panel, the alerts firing, check, kill-idle (~2.5 min: the rules' for: durations)"
cargo build --quiet   # the debug binary cargo test already built; saves a release build
EXPORTER_BIN="$ROOT/target/debug/mysql_pool_exporter" bash scripts/test_live_stack.sh
