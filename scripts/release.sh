#!/usr/bin/env bash
# Builds the release artefacts of the checked-out commit into target/dist/:
#
#   mysql_pool_exporter-VERSION.linux-ARCH.tar.gz   the layout Prometheus exporters publish:
#       one directory with the binary, LICENSE, THIRD-PARTY-LICENSES.txt (every linked
#       crate's licence), README.md, CHANGELOG.md, the example config,
#       the rendered alerting rules and dashboards, the mixin, the docs, the man pages, the
#       shell completions, and sha256sums.txt of all of them
#   mysql-pool-exporter_VERSION-1_ARCH.deb            the Debian package (cargo-deb; see
#       packaging/README.md), with md5sums so that `dpkg --verify` works
#   sha256sums.txt                                    of the two
#
# Reproducible: the same commit gives the same bytes, wherever it is checked out and
# whenever it is built. Time stamps are the commit's (SOURCE_DATE_EPOCH), paths in the binary
# are remapped, archive entries are sorted with fixed owners and modes, gzip stores no name
# or time. scripts/test_package.sh builds everything twice and compares.
#
# Usage: scripts/release.sh [--no-deb]
#   --no-deb   the tarball only (no cargo-deb, no dpkg-deb needed)
# Installs cargo-deb (pinned) into target/tools from the crates registry when missing.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
cd "$ROOT"

CARGO_DEB_VERSION=3.8.0
deb=1
for a in "$@"; do
    case "$a" in
        --no-deb) deb=0 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "release.sh: unknown argument '$a' (see --help)" ;;
    esac
done

command -v cargo >/dev/null || die "cargo is missing: install the Rust toolchain (rustup)"
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
[ -n "$version" ] || die "release.sh: no version = \"...\" in Cargo.toml"
arch=$(dpkg --print-architecture 2>/dev/null || true)
case "$arch" in
    "") case "$(uname -m)" in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; *) arch=$(uname -m) ;; esac ;;
esac

# The commit's time stamps everything: build.rs (the build date), the man pages, tar, gzip,
# cargo-deb and dpkg-deb all read SOURCE_DATE_EPOCH.
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null) ||
        die "release.sh: not a git checkout; set SOURCE_DATE_EPOCH (seconds since 1970) for the artefacts' time stamps"
fi
export SOURCE_DATE_EPOCH
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    note "the work tree has uncommitted changes: the artefacts say revision $(git rev-parse --short HEAD) but hold them"
fi

# A target directory of its own: the remapping flags below differ from a plain build's, and
# sharing target/ would make each rebuild the other.
export CARGO_TARGET_DIR="$ROOT/target/dist-build"
cargo_home=${CARGO_HOME:-$HOME/.cargo}
export RUSTFLAGS="--remap-path-prefix=$ROOT=/build/mysql_pool_exporter --remap-path-prefix=$cargo_home=/cargo"
say "cargo build --release (in $CARGO_TARGET_DIR, paths remapped)"
cargo build --release --locked --quiet --bin mysql_pool_exporter
bin="$CARGO_TARGET_DIR/release/mysql_pool_exporter"

say "man pages and completions, from the binary's own flags; the crates' licences"
rm -rf target/generated
"$bin" --generate target/generated >/dev/null
host=$(rustc -vV | sed -n 's/^host: //p')
python3 scripts/third_party_licenses.py "$host" >target/generated/THIRD-PARTY-LICENSES.txt

dist="$ROOT/target/dist"
name="mysql_pool_exporter-$version.linux-$arch"
rm -rf "$dist"
stage="$dist/stage/$name"
mkdir -p "$stage"/{man,completions,examples,alerting-rules,dashboards}
install -m 0755 "$bin" "$stage/mysql_pool_exporter"
install -m 0644 LICENSE README.md CHANGELOG.md target/generated/THIRD-PARTY-LICENSES.txt "$stage/"
install -m 0644 examples/config.yml "$stage/examples/"
install -m 0644 alerting-rules/*.yml "$stage/alerting-rules/"
install -m 0644 dashboards/*.json "$stage/dashboards/"
install -m 0644 target/generated/man/*.1 "$stage/man/"
install -m 0644 target/generated/completions/* "$stage/completions/"
# The mixin and the docs as they are in git (no build output, no editor leftovers).
git archive --format=tar HEAD mixin docs | tar -x -C "$stage"
find "$stage" -type d -exec chmod 0755 {} +
find "$stage" -type f ! -name mysql_pool_exporter -exec chmod 0644 {} +
(cd "$stage" && find . -type f ! -name sha256sums.txt -printf '%P\n' | LC_ALL=C sort |
    xargs -d '\n' sha256sum >sha256sums.txt)

say "$name.tar.gz"
tarball="$dist/$name.tar.gz"
# GNU format (no pax headers with access times), sorted, fixed owner and mode, the commit's
# time on every entry; gzip -n leaves out the name and time it would store.
tar --format=gnu --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
    -C "$dist/stage" -cf - "$name" | gzip -9n >"$tarball"
rm -rf "$dist/stage"

if [ "$deb" = 1 ]; then
    # dpkg-shlibdeps finds the package's library dependencies (cargo-deb's $auto).
    need_packages dpkg-deb:dpkg dpkg-shlibdeps:dpkg-dev md5sum:coreutils
    top=$(sed -n '1s/^mysql-pool-exporter (\([^)]*\)).*/\1/p' packaging/debian/changelog)
    [ "$top" = "$version-1" ] ||
        die "packaging/debian/changelog's first entry is '$top', the package would be $version-1: add an entry for $version-1 at the top"
    cargo_deb="$ROOT/target/tools/bin/cargo-deb"
    if ! "$cargo_deb" --version 2>/dev/null | grep -qx "cargo-deb $CARGO_DEB_VERSION"; then
        say "installing cargo-deb $CARGO_DEB_VERSION into target/tools (crates registry, ~1 min)"
        cargo install --quiet --locked --version "$CARGO_DEB_VERSION" --root "$ROOT/target/tools" cargo-deb
    fi
    say "Debian package (cargo-deb $CARGO_DEB_VERSION)"
    unpacked="$dist/deb-root"
    "$cargo_deb" --no-build --output "$dist/cargo-deb/" >/dev/null
    built=("$dist"/cargo-deb/*.deb)
    # cargo-deb writes no md5sums; dpkg --verify and debsums need them. Unpack, add them,
    # pack again with the same compression and the commit's time stamps.
    dpkg-deb -R "${built[0]}" "$unpacked"
    (cd "$unpacked" && find . -path ./DEBIAN -prune -o -type f -printf '%P\n' | LC_ALL=C sort |
        xargs -d '\n' md5sum >DEBIAN/md5sums)
    chmod 0644 "$unpacked/DEBIAN/md5sums"
    dpkg-deb --root-owner-group -Zxz --build "$unpacked" "$dist/$(basename "${built[0]}")" >/dev/null
    rm -rf "$unpacked" "$dist/cargo-deb"
fi

artefacts=("$(basename "$tarball")")
[ "$deb" = 1 ] && artefacts+=("$(basename "${built[0]}")")
(cd "$dist" && sha256sum -- "${artefacts[@]}" >sha256sums.txt)
say "target/dist:"
(cd "$dist" && ls -l -- * && cat sha256sums.txt)
