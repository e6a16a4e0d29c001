#!/usr/bin/env bash
# scripts/check_vendor.sh - vendor/mysql_async is the published crate plus our patch, nothing else.
#
#   1. The published mysql_async .crate (version from vendor/mysql_async/VENDORED.md) is in
#      cargo's registry cache. When it is missing, a throwaway crate in a temp dir that
#      depends on exactly that version is `cargo fetch`ed to put it there: that step needs
#      crates.io (as in CI); with the file cached the script runs offline.
#   2. Its SHA-256 is the one VENDORED.md records.
#   3. Every path VENDORED.md lists as left out exists in the unpacked crate (the list is
#      not stale); they are deleted.
#   4. vendor/mysql_async.patch applies with `patch -p1`, no fuzz.
#   5. The result is vendor/mysql_async file for file, byte for byte (VENDORED.md aside), and
#      file types and executable bits agree.
#   6. Cargo.lock resolves mysql_async to that version.
#
# Needs: bash, tar, gzip, patch, diff, sha256sum; cargo only when the crate must be fetched.
# Env: CARGO_HOME (default ~/.cargo), KEEP_TMP=1 keeps the temp dir.
# Prints one `ok - ...`/`not ok - ...` line per check and `N passed, M failed` last; exits 1
# when a check failed.
# shellcheck disable=SC2317  # functions run through check_logged
set -uo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$ROOT" || exit 1

CRATE=mysql_async
VENDOR_DIR=vendor/$CRATE
NOTES=$VENDOR_DIR/VENDORED.md
PATCH_FILE=vendor/$CRATE.patch
CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/check-vendor.XXXXXX")
if [ "${KEEP_TMP:-0}" = 1 ]; then
    trap 'echo "# kept $WORK"' EXIT
else
    trap 'rm -rf "$WORK"' EXIT
fi

# finish: the summary line and the exit status (also after a check that later ones need failed).
finish() {
    echo
    summary
    exit $?
}

# ------------------------------------------------------------------ what VENDORED.md records
[ -f "$NOTES" ] || die "$NOTES is missing"
[ -f "$PATCH_FILE" ] || die "$PATCH_FILE is missing"
# shellcheck disable=SC2016  # the backquotes are literal
VERSION=$(sed -n 's/^- Version: `\([^`]*\)`$/\1/p' "$NOTES")
# shellcheck disable=SC2016
SHA256=$(sed -n 's/^- SHA-256 of `[^`]*`: `\([0-9a-f]\{64\}\)`$/\1/p' "$NOTES")
# The paths of the "## Left out of the published crate" section: its "- `PATH`: ..." lines.
mapfile -t OMITTED < <(awk '
    /^## / { inside = ($0 ~ /^## Left out/); next }
    inside && /^- `[^`]+`/ { sub(/^- `/, ""); sub(/`.*$/, ""); print }' "$NOTES")
[ -n "$VERSION" ] || die "$NOTES: no '- Version: \`X.Y.Z\`' line"
[ -n "$SHA256" ] || die "$NOTES: no '- SHA-256 of \`...\`: \`<64 hex digits>\`' line"
[ ${#OMITTED[@]} -gt 0 ] || die "$NOTES: no '- \`PATH\`: ...' lines under '## Left out'"
note "$CRATE $VERSION, sha256 $SHA256, left out: ${OMITTED[*]}"

# ------------------------------------------------------------------ 1: the published .crate
find_cached() { # prints the cached .crate files of that version (one per registry index)
    compgen -G "$CARGO_HOME/registry/cache/*/$CRATE-$VERSION.crate" || true
}
fetch_into_cache() {
    command -v cargo >/dev/null || { echo "cargo is missing"; return 1; }
    local dir=$WORK/fetch
    mkdir -p "$dir/src"
    : >"$dir/src/lib.rs"
    # An empty [workspace]: the temp dir belongs to no other workspace. default-features off:
    # fewer crates to download; the .crate itself is the same.
    cat >"$dir/Cargo.toml" <<EOF
[package]
name = "check-vendor-fetch"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
$CRATE = { version = "=$VERSION", default-features = false }

[workspace]
EOF
    (cd "$dir" && cargo fetch --quiet)
}
mapfile -t cached < <(find_cached)
if [ ${#cached[@]} -eq 0 ]; then
    note "$CRATE-$VERSION.crate is not in $CARGO_HOME/registry/cache: fetching it with cargo (needs crates.io)"
    check_logged "cargo fetch of $CRATE =$VERSION (throwaway crate in $WORK/fetch)" fetch_into_cache
    mapfile -t cached < <(find_cached)
fi
if [ ${#cached[@]} -eq 0 ]; then
    not_ok "$CRATE-$VERSION.crate is in cargo's registry cache ($CARGO_HOME/registry/cache/*/): it is not, and fetching it did not put it there"
    finish
fi
ok "$CRATE-$VERSION.crate is in cargo's registry cache"

# ------------------------------------------------------------------ 2: its checksum
CRATE_FILE=""
for f in "${cached[@]}"; do
    sum=$(sha256sum "$f" | cut -d' ' -f1)
    if [ "$sum" = "$SHA256" ]; then CRATE_FILE=$f; break; fi
    note "$f: sha256 $sum"
done
if [ -z "$CRATE_FILE" ]; then
    not_ok "sha256 of $CRATE-$VERSION.crate is $SHA256 (as $NOTES records): no cached copy has it"
    finish
fi
ok "sha256 of $CRATE_FILE is the recorded $SHA256"

# ------------------------------------------------------------------ 3: unpack, delete the left-out paths
UPSTREAM=$WORK/$CRATE-$VERSION
if ! tar -xzf "$CRATE_FILE" -C "$WORK" || [ ! -d "$UPSTREAM" ]; then
    not_ok "$CRATE_FILE unpacks to $CRATE-$VERSION/"
    finish
fi
stale=()
for p in "${OMITTED[@]}"; do
    case "$p" in /* | *..*) die "$NOTES: left-out path '$p' must be relative, without '..'" ;; esac
    if [ -e "$UPSTREAM/${p%/}" ]; then rm -rf "${UPSTREAM:?}/${p%/}"; else stale+=("$p"); fi
done
if [ ${#stale[@]} -eq 0 ]; then
    ok "every left-out path of $NOTES is in the published crate (${#OMITTED[@]} deleted)"
else
    not_ok "every left-out path of $NOTES is in the published crate: not there: ${stale[*]} (stale list?)"
fi

# ------------------------------------------------------------------ 4: the patch applies
apply_patch() {
    (cd "$UPSTREAM" && patch -p1 --batch --forward --fuzz=0 --no-backup-if-mismatch <"$ROOT/$PATCH_FILE")
}
failed_before=$FAILED
check_logged "$PATCH_FILE applies to the published crate with patch -p1 (no fuzz)" apply_patch
if [ "$FAILED" -gt "$failed_before" ]; then
    note "the comparison with $VENDOR_DIR needs the patch applied: not run"
    finish
fi

# ------------------------------------------------------------------ 5: nothing else differs
# Our copy less VENDORED.md (the one file of ours), so that the comparison is exact.
OURS=$WORK/ours
cp -a "$VENDOR_DIR" "$OURS"
rm -f "$OURS/VENDORED.md"
if diff -r "$UPSTREAM" "$OURS" >"$WORK/diff.txt" 2>&1; then
    ok "$VENDOR_DIR is the published crate + $PATCH_FILE, with no other difference"
else
    not_ok "$VENDOR_DIR is the published crate + $PATCH_FILE, with no other difference: it differs (lines '<' published+patch, '>' $VENDOR_DIR; put the change in $PATCH_FILE or undo it)"
    sed -e "s|$UPSTREAM|published+patch|g" -e "s|$OURS|$VENDOR_DIR|g" "$WORK/diff.txt" | head -n 60 | sed 's/^/       | /'
fi
# Type and executable bit only: git keeps no other mode bits, the rest follows the umask.
modes() { (cd "$1" && find . -mindepth 1 \( -perm -u+x -type f -printf '%y x %P\n' \) -o -printf '%y - %P\n' | sort -k3); }
if diff <(modes "$UPSTREAM") <(modes "$OURS") >"$WORK/modes.txt"; then
    ok "file types and executable bits of $VENDOR_DIR are the published crate's"
else
    not_ok "file types and executable bits of $VENDOR_DIR are the published crate's (type, x, path):"
    sed 's/^/       | /' "$WORK/modes.txt" | head -n 30
fi

# ------------------------------------------------------------------ 6: Cargo.lock agrees
lock_version() {
    awk -v name="$CRATE" '
        /^\[\[package\]\]/ { found = 0 }
        $0 == "name = \"" name "\"" { found = 1; next }
        found && /^version = / { gsub(/"/, "", $3); print $3; found = 0 }' Cargo.lock
}
locked=$(lock_version | paste -sd' ')
if [ "$locked" = "$VERSION" ]; then
    ok "Cargo.lock resolves $CRATE to $VERSION (the vendored version)"
else
    not_ok "Cargo.lock resolves $CRATE to $VERSION (the vendored version): it has '${locked:-none}'"
fi

finish
