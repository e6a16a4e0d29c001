#!/usr/bin/env bash
# scripts/test_package.sh — the Debian package and the release tarball, tested as an operator
# uses them. Installs the package into THIS machine (root; meant for CI and throwaway
# machines) and purges it at the end:
#
#   build     scripts/release.sh twice, the crate compiled afresh in between: the same bytes
#   lintian   nothing but the tags the package's own overrides explain
#   install   dpkg -i: files, the system user, conffiles, the password file's owner and mode,
#             dpkg --verify, the units enabled, systemd-analyze verify, the man page
#   run       on MariaDB 10.11, then Oracle MySQL 9.7: the installed unit started as systemd
#             would (scripts/lib/unit_exec.py: its socket, user, environment file and every
#             hardening setting, a forbidden system call killing the process), with the
#             installed config (its port edited) — scraped through the socket: mysql_up 1
#   sandbox   the same emulation with a probe in place of the exporter: the settings bite
#   upgrade   to a higher version: the edited config and the password are kept
#   purge     dpkg --purge: nothing of the package left but its system user
#   tarball   the layout, sha256sums, the binary's --version
#
# Usage: scripts/test_package.sh [--build-only | --install-only]
#   --build-only     the two builds and their comparison (no root needed); scripts/test.sh
#                    runs it in the background, niced, while its slower tests wait on timers
#   --install-only   everything after, on the artefacts the last build left in target/dist
#
# The install part needs root and no running systemd (the package would start the service
# for real). Installs lintian and python3-seccomp with apt-get when missing; cargo-deb comes
# with release.sh. Prints `N passed, M failed` last; exits non-zero on any failure.
# KEEP_TMP=1 keeps the logs.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$ROOT"

build=1 install=1
case "${1:-}" in
    "") ;;
    --build-only) install=0 ;;
    --install-only) build=0 ;;
    *) die "test_package.sh: unknown argument '$1' (--build-only or --install-only)" ;;
esac
if [ "$install" = 1 ]; then
    [ "$(id -u)" -eq 0 ] || die "test_package.sh installs a package: run it as root"
    [ ! -d /run/systemd/system ] ||
        die "systemd runs on this machine: installing the package would start the service for real; run this test in a container or a CI machine without systemd"
    need_packages lintian:lintian systemd-analyze:systemd mariadbd:mariadb-server curl:curl man:man-db
    /usr/bin/python3 -c 'import seccomp' 2>/dev/null || apt_install python3-seccomp
fi

PKG=mysql-pool-exporter
TMP=$(mktemp -d "${TMPDIR:-/tmp}/test_package.XXXXXX")
DROPIN=/etc/systemd/system/mysql_pool_exporter.socket.d
EXPORTER_PID=""
DB_PIDS=()
MYSQL_DIRS=()
finish() {
    local rc=$?
    [ -n "$EXPORTER_PID" ] && stop_pid "$EXPORTER_PID"
    for p in "${DB_PIDS[@]}"; do stop_pid "$p"; done
    stop_db_dirs
    rm -rf "$DROPIN"
    [ "$install" = 1 ] && { dpkg --purge "$PKG" >/dev/null 2>&1 || true; }
    [[ "${KEEP_TMP:-0}" == 1 ]] && note "logs kept in $TMP" || rm -rf "$TMP"
    return "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ build, twice
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
arch=$(dpkg --print-architecture)
DEB="target/dist/${PKG}_${version}-1_${arch}.deb"
TARBALL="target/dist/mysql_pool_exporter-$version.linux-$arch.tar.gz"
if [ "$build" = 1 ]; then
    note "building the release artefacts (scripts/release.sh)"
    bash scripts/release.sh >"$TMP/release1.log" 2>&1 || { tail -30 "$TMP/release1.log"; die "scripts/release.sh failed"; }
    cp target/dist/sha256sums.txt "$TMP/first.sums"
    note "the same again, the crate compiled afresh (build script, compilation, LTO)"
    cargo clean --quiet --release -p mysql_pool_exporter --target-dir target/dist-build
    bash scripts/release.sh >"$TMP/release2.log" 2>&1 || { tail -30 "$TMP/release2.log"; die "scripts/release.sh failed the second time"; }
    check_logged "reproducible: the tarball and the package have the same bytes from two builds" \
        diff "$TMP/first.sums" target/dist/sha256sums.txt
    sed 's/^/#   /' target/dist/sha256sums.txt
    check_logged "the artefacts match target/dist/sha256sums.txt" sh -c 'cd target/dist && sha256sum -c sha256sums.txt'
fi
if [ "$install" = 0 ]; then
    summary
    exit
fi
[ -f "$DEB" ] && [ -f "$TARBALL" ] || die "no $DEB or $TARBALL: build them first (scripts/release.sh)"
dpkg --purge "$PKG" >/dev/null 2>&1 || true

# ------------------------------------------------------------------ lintian
check_logged "lintian --pedantic: only the tags the package's overrides explain" \
    lintian --pedantic -I --fail-on error,warning,info,pedantic "$DEB"

# ------------------------------------------------------------------ install
check_logged "dpkg -i $(basename "$DEB")" dpkg -i "$DEB"
check "installed" [ "$(dpkg-query -W -f='${Status} ${Version}' "$PKG")" = "install ok installed $version-1" ]
for f in /usr/bin/mysql_pool_exporter /usr/lib/systemd/system/mysql_pool_exporter.service \
    /usr/lib/systemd/system/mysql_pool_exporter.socket /etc/default/mysql_pool_exporter \
    /etc/mysql_pool_exporter/config.yml /usr/share/man/man1/mysql_pool_exporter.1.gz \
    /usr/share/man/man1/mysql_pool_exporter-kill-idle.1.gz \
    /usr/share/bash-completion/completions/mysql_pool_exporter \
    /usr/share/zsh/vendor-completions/_mysql_pool_exporter \
    /usr/share/fish/vendor_completions.d/mysql_pool_exporter.fish \
    /usr/share/doc/$PKG/copyright /usr/share/doc/$PKG/examples/config.yml \
    /usr/share/doc/$PKG/THIRD-PARTY-LICENSES.txt \
    /usr/share/mysql_pool_exporter/alerting-rules/mysql_pool_exporter.rules.yml \
    /usr/share/mysql_pool_exporter/dashboards/mysql-application-pool.json; do
    check "file $f" [ -s "$f" ]
done
check "the binary says which commit it is" \
    [ "$(/usr/bin/mysql_pool_exporter --version | head -n1)" = "mysql_pool_exporter, version $version (branch: $(git rev-parse --abbrev-ref HEAD), revision: $(git rev-parse HEAD))" ]
user_line=$(getent passwd mysql_pool_exporter)
uid=$(cut -d: -f3 <<<"$user_line")
check "system user mysql_pool_exporter (uid $uid < 1000, no login shell, no home)" \
    sh -c "[ -n '$uid' ] && [ '$uid' -lt 1000 ] && [ '$(cut -d: -f7 <<<"$user_line")' = /usr/sbin/nologin ] && [ '$(cut -d: -f6 <<<"$user_line")' = /nonexistent ]"
check "group mysql_pool_exporter" sh -c 'getent group mysql_pool_exporter >/dev/null'
check "password file: empty, root:mysql_pool_exporter, 0640" \
    [ "$(stat -c '%s %U:%G %a' /etc/mysql_pool_exporter/password)" = "0 root:mysql_pool_exporter 640" ]
conffiles=$(dpkg-query -W -f='${Conffiles}\n' "$PKG" | awk 'NF {print $1}' | sort | tr '\n' ' ')
check "conffiles: the config and /etc/default ($conffiles)" \
    [ "$conffiles" = "/etc/default/mysql_pool_exporter /etc/mysql_pool_exporter/config.yml " ]
check_logged "dpkg --verify: every file as packaged (md5sums)" sh -c "out=\$(dpkg --verify $PKG); echo \"\$out\"; [ -z \"\$out\" ]"
check "service and socket enabled (multi-user.target, sockets.target)" sh -c \
    '[ -L /etc/systemd/system/multi-user.target.wants/mysql_pool_exporter.service ] && [ -L /etc/systemd/system/sockets.target.wants/mysql_pool_exporter.socket ]'
check_logged "systemd-analyze verify: both units" sh -c \
    'out=$(systemd-analyze verify /usr/lib/systemd/system/mysql_pool_exporter.socket /usr/lib/systemd/system/mysql_pool_exporter.service 2>&1); echo "$out"; [ -z "$out" ]'
exposure=$(systemd-analyze security --offline=true /usr/lib/systemd/system/mysql_pool_exporter.service 2>/dev/null | tail -n1)
note "systemd-analyze security: ${exposure:-not available}"
check_logged "the man page renders without warnings" sh -c \
    'out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z /usr/share/man/man1/mysql_pool_exporter.1.gz 2>&1 >/dev/null); echo "$out"; [ -z "$out" ]'
check "man finds the page" sh -c 'man -w mysql_pool_exporter | grep -q /usr/share/man/man1/mysql_pool_exporter.1.gz'
check_logged "the installed config is valid, read as the service's user" \
    runuser -u mysql_pool_exporter -- /usr/bin/mysql_pool_exporter config check /etc/mysql_pool_exporter/config.yml
check "the password file is not readable by other users" \
    sh -c '! runuser -u nobody -- cat /etc/mysql_pool_exporter/password 2>/dev/null'

# ------------------------------------------------------------------ run the unit
UNIT=/usr/lib/systemd/system/mysql_pool_exporter.service
SOCKET=/usr/lib/systemd/system/mysql_pool_exporter.socket
PASSWORD="pkg-test-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"

# start_unit COMMAND... — runs it in the background (EXPORTER_PID), its output in unit.log.
start_unit() {
    "$@" >"$TMP/unit.log" 2>&1 &
    EXPORTER_PID=$!
}

for flavor in mariadb mysql; do
    DB_FLAVOR=$flavor
    start_db "$TMP/db-$flavor"
    DB_PIDS+=("$DB_PID")
    root_sql "CREATE USER 'exporter'@'127.0.0.1' IDENTIFIED BY '$PASSWORD' WITH MAX_USER_CONNECTIONS 3;
        GRANT PROCESS, REPLICATION CLIENT ON *.* TO 'exporter'@'127.0.0.1';
        GRANT SELECT ON performance_schema.* TO 'exporter'@'127.0.0.1';
        $([ "$flavor" = mariadb ] && echo "GRANT SLAVE MONITOR ON *.* TO 'exporter'@'127.0.0.1';")"
    # What an operator does after installing: the password, the server's port, and (here,
    # so that the test does not take :9207) the socket's address in a drop-in.
    printf '%s\n' "$PASSWORD" >/etc/mysql_pool_exporter/password
    sed -i "s#dsn: mysql://exporter@127.0.0.1:[0-9]*#dsn: mysql://exporter@127.0.0.1:$DB_PORT#" /etc/mysql_pool_exporter/config.yml
    WEB_PORT=$(free_port)
    mkdir -p "$DROPIN"
    printf '[Socket]\nListenStream=\nListenStream=127.0.0.1:%s\n' "$WEB_PORT" >"$DROPIN/test.conf"
    start_unit /usr/bin/python3 scripts/lib/unit_exec.py "$UNIT" --kill-on-filter --socket "$SOCKET" --dropins /etc/systemd/system
    if poll_until 30 sh -c "curl -fsS --max-time 5 http://127.0.0.1:$WEB_PORT/metrics | grep -qE '^mysql_up 1(\.0)?\$'"; then
        ok "$(db_name): the installed unit, fully hardened, serves mysql_up 1 through its socket"
    else
        not_ok "$(db_name): the installed unit serves mysql_up 1 through its socket"
        sed 's/^/       | /' "$TMP/unit.log" | tail -n 30
    fi
    sleep 3 # the sampler's samples too
    metrics="$TMP/metrics-$flavor.txt"
    curl -fsS --max-time 5 "http://127.0.0.1:$WEB_PORT/metrics" >"$metrics" 2>&1
    check "$(db_name): the server's counters are read" grep -qE '^mysql_global_status_threads_connected [1-9]' "$metrics"
    check "$(db_name): build_info names the installed build" \
        grep -q "^mysql_pool_exporter_build_info{.*revision=\"$(git rev-parse HEAD)\"" "$metrics"
    check "$(db_name): every collector succeeded" sh -c \
        'grep -q "^mysql_exporter_collector_success{.*} 1" "$1" && ! grep -q "^mysql_exporter_collector_success{.*} 0" "$1"' _ "$metrics"
    check "$(db_name): it runs as mysql_pool_exporter" [ "$(ps -o user= -p "$EXPORTER_PID" | tr -d ' ')" = mysql_pool_exporter ]
    status=$(cat "/proc/$EXPORTER_PID/status" 2>/dev/null)
    check "$(db_name): no_new_privs" grep -qP '^NoNewPrivs:\s*1$' <<<"$status"
    check "$(db_name): a seccomp filter" grep -qP '^Seccomp:\s*2$' <<<"$status"
    check "$(db_name): no capability in the bounding set" grep -qP '^CapBnd:\s*0{16}$' <<<"$status"
    check "$(db_name): it took the socket from systemd (listening log line)" \
        grep -q 'message=listening address=127.0.0.1:'"$WEB_PORT"'.* sockets="from systemd"' "$TMP/unit.log"
    check "$(db_name): the password appears in neither the log nor the metrics" \
        sh -c '! grep -qF "$1" "$2" "$3"' _ "$PASSWORD" "$TMP/unit.log" "$metrics"
    check "$(db_name): alive after the scrapes (a call outside the filter kills it)" kill -0 "$EXPORTER_PID"
    kill -TERM "$EXPORTER_PID"
    wait "$EXPORTER_PID"
    rc=$?
    EXPORTER_PID=""
    check "$(db_name): SIGTERM ends it cleanly (exit $rc)" [ "$rc" -eq 0 ]
    if [ "$flavor" = mariadb ]; then
        # An operator who drops --web.systemd-socket while the socket unit holds the port is
        # told what to do.
        printf '[Service]\nExecStart=\nExecStart=/usr/bin/mysql_pool_exporter --web.listen-address=127.0.0.1:%s $ARGS\n' \
            "$WEB_PORT" >"$TMP/no-flag.conf"
        mkdir -p /etc/systemd/system/mysql_pool_exporter.service.d
        cp "$TMP/no-flag.conf" /etc/systemd/system/mysql_pool_exporter.service.d/test.conf
        /usr/bin/python3 scripts/lib/unit_exec.py "$UNIT" --socket "$SOCKET" --dropins /etc/systemd/system \
            >"$TMP/no-flag.log" 2>&1
        rc=$?
        rm -rf /etc/systemd/system/mysql_pool_exporter.service.d
        check "without --web.systemd-socket under the socket unit: exit 1 and the fix ($rc)" \
            sh -c '[ "$1" -eq 1 ] && grep -q "add --web.systemd-socket instead of --web.listen-address" "$2"' _ "$rc" "$TMP/no-flag.log"
    fi
    stop_pid "$DB_PID"
done
stop_db_dirs

# ------------------------------------------------------------------ the sandbox bites
# The same unit, its ExecStart replaced by a probe: what the settings forbid must fail. If
# unit_exec.py applied less than it claims, these would succeed.
# /run, because the sandbox hides /tmp, /home and /root, where a checkout may be.
PROBE=/run/mysql_pool_exporter-sandbox-probe.py
install -m 0644 scripts/lib/sandbox_probe.py "$PROBE"
sed "s#^ExecStart=.*#ExecStart=/usr/bin/python3 $PROBE#" "$UNIT" >"$TMP/probe.service"
probe=$(/usr/bin/python3 scripts/lib/unit_exec.py "$TMP/probe.service" 2>&1)
rm -f "$PROBE"
printf '%s\n' "$probe" | sed 's/^/#   /'
for expect in "write /etc: EROFS" "write /var/lib: EROFS" "list /home: EACCES" \
    "AF_NETLINK socket: EAFNOSUPPORT" "AF_PACKET socket: EAFNOSUPPORT" "new user namespace: EPERM" \
    "lower its own priority (@resources): EPERM" "writable and executable memory: EPERM" \
    "read /proc/meminfo: ENOENT" "pid 1 visible: False" "user $uid private /tmp: True" \
    "write /tmp: ALLOWED" "TCP socket: ALLOWED"; do
    check "sandbox: $expect" grep -qxF "$expect" <<<"$probe"
done

# ------------------------------------------------------------------ upgrade
note "upgrade to $version-2: the same package, another version"
rm -rf "$TMP/up" && dpkg-deb -R "$DEB" "$TMP/up"
sed -i "s/^Version: .*/Version: $version-2/" "$TMP/up/DEBIAN/control"
dpkg-deb --root-owner-group -Zxz --build "$TMP/up" "$TMP/up.deb" >/dev/null
edited=$(sha256sum /etc/mysql_pool_exporter/config.yml)
check_logged "dpkg -i (upgrade, no question asked: stdin is closed)" dpkg -i "$TMP/up.deb" </dev/null
check "upgraded" [ "$(dpkg-query -W -f='${Version}' "$PKG")" = "$version-2" ]
check "upgrade: the edited config is kept" [ "$(sha256sum /etc/mysql_pool_exporter/config.yml)" = "$edited" ]
check "upgrade: the password is kept" [ "$(cat /etc/mysql_pool_exporter/password)" = "$PASSWORD" ]

# ------------------------------------------------------------------ remove, purge
rm -rf "$DROPIN"
mapfile -t owned < <(dpkg -L "$PKG" | while read -r f; do [ -f "$f" ] && echo "$f"; done)
check_logged "dpkg --remove" dpkg --remove "$PKG"
check "remove: the config and the password stay" [ -f /etc/mysql_pool_exporter/config.yml ] && [ -f /etc/mysql_pool_exporter/password ]
check_logged "dpkg --purge" dpkg --purge "$PKG"
left=()
for f in "${owned[@]}" /etc/mysql_pool_exporter /etc/default/mysql_pool_exporter \
    /etc/systemd/system/multi-user.target.wants/mysql_pool_exporter.service \
    /etc/systemd/system/sockets.target.wants/mysql_pool_exporter.socket \
    /var/lib/systemd/deb-systemd-helper-enabled/mysql_pool_exporter.service.dsh-also \
    /var/lib/systemd/deb-systemd-helper-enabled/mysql_pool_exporter.socket.dsh-also; do
    [ -e "$f" ] || [ -L "$f" ] && left+=("$f")
done
check "purge: no file of the package left (${#owned[@]} files checked) ${left[*]}" [ "${#left[@]}" -eq 0 ]
check "purge: the system user stays, as Debian's policy advises" sh -c 'getent passwd mysql_pool_exporter >/dev/null'
check "purge: dpkg forgets the package" sh -c "! dpkg-query -W $PKG 2>/dev/null | grep -q ."

# ------------------------------------------------------------------ tarball
mkdir -p "$TMP/tar" && tar -xzf "$TARBALL" -C "$TMP/tar"
top="$TMP/tar/mysql_pool_exporter-$version.linux-$arch"
for f in mysql_pool_exporter LICENSE THIRD-PARTY-LICENSES.txt README.md CHANGELOG.md sha256sums.txt examples/config.yml \
    alerting-rules/mysql_pool_exporter.rules.yml dashboards/mysql-application-pool.json \
    mixin/mixin.libsonnet man/mysql_pool_exporter.1 completions/mysql_pool_exporter.bash; do
    check "tarball: $f" [ -s "$top/$f" ]
done
check "tarball: one top directory" [ "$(tar -tzf "$TARBALL" | cut -d/ -f1 | sort -u)" = "mysql_pool_exporter-$version.linux-$arch" ]
check_logged "tarball: sha256sum -c its sha256sums.txt" sh -c "cd '$top' && sha256sum -c sha256sums.txt"
check "tarball: the binary runs (--version)" sh -c "'$top/mysql_pool_exporter' --version | grep -q '^mysql_pool_exporter, version $version '"
check "tarball: LICENSE is the Apache License 2.0" grep -q "Apache License" "$top/LICENSE"
crates=$(sed -n 's/^\([0-9]*\) crates for .*/\1/p' "$top/THIRD-PARTY-LICENSES.txt")
check "tarball: THIRD-PARTY-LICENSES.txt lists the linked crates ($crates), tokio and ring among them, with texts" \
    sh -c '[ "${1:-0}" -gt 100 ] && grep -q "^tokio [0-9.]*: MIT" "$2" && grep -q "^ring [0-9.]*: " "$2" && grep -q "Permission is hereby granted" "$2"' _ "$crates" "$top/THIRD-PARTY-LICENSES.txt"

summary
