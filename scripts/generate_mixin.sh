#!/usr/bin/env bash
# Renders the monitoring mixin (mixin/) into the files the repository ships:
#   alerting-rules/mysql_pool_exporter.rules.yml   recording rules + alerts, one group
#   dashboards/*.json                              one file per grafanaDashboards entry
#   deploy/kubernetes/prometheusrule.yaml          the same rules as a PrometheusRule
#                                                  (scripts/render_kubernetes.py)
# These files are generated: change mixin/ (thresholds, durations, selectors:
# mixin/config.libsonnet) and run this script, never edit them by hand.
#
#   bash scripts/generate_mixin.sh           regenerate (and delete dashboards/*.json the mixin
#                                            no longer renders)
#   bash scripts/generate_mixin.sh --check   drift test: render into a temp dir and fail, with a
#                                            diff, when the committed files differ
#
# Needs jsonnet (Debian package `jsonnet`) and python3; fetches nothing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

check=0
case "${1:-}" in
  "") ;;
  --check) check=1 ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac
if ! command -v jsonnet >/dev/null 2>&1; then
  echo "generate_mixin: jsonnet is missing: install the Debian package 'jsonnet'" >&2
  exit 2
fi

OUT="$(mktemp -d "${TMPDIR:-/tmp}/generate-mixin.XXXXXX")"
trap 'rm -rf "$OUT"' EXIT
python3 scripts/render_mixin.py "$OUT" >"$OUT/files.txt"
mapfile -t files <"$OUT/files.txt"

# dashboards/*.json that the mixin does not render (a dashboard removed or renamed there).
stale=()
for f in dashboards/*.json; do
  [[ -e "$f" ]] || continue
  grep -qxF "$f" "$OUT/files.txt" || stale+=("$f")
done

if ((check)); then
  bad=0
  for f in "${files[@]}"; do
    if [[ ! -f "$f" ]]; then
      echo "generate_mixin --check: $f is missing (the mixin renders it)"
      bad=1
    elif ! cmp -s "$OUT/$f" "$f"; then
      echo "generate_mixin --check: $f differs from what mixin/ renders:"
      diff -u --label "$f (as it is)" --label "$f (rendered from mixin/)" "$f" "$OUT/$f" | head -n 200 || true
      bad=1
    fi
  done
  for f in "${stale[@]}"; do
    echo "generate_mixin --check: $f is not rendered by mixin/ (a dashboard removed or renamed there)"
    bad=1
  done
  # (The committed rules file was compared above; the PrometheusRule must carry it.)
  if ! python3 scripts/render_kubernetes.py --check; then
    echo "generate_mixin --check: deploy/kubernetes/prometheusrule.yaml is not the mixin's rules"
    bad=1
  fi
  if ((bad)); then
    echo
    echo "The generated files and mixin/ disagree. Change mixin/, not the generated files, then run:"
    echo "  bash scripts/generate_mixin.sh"
    exit 1
  fi
  echo "ok: ${#files[@]} generated files match mixin/ (${files[*]})"
  exit 0
fi

for f in "${files[@]}"; do
  mkdir -p "$(dirname "$f")"
  if cmp -s "$OUT/$f" "$f"; then
    echo "unchanged $f"
  else
    cp "$OUT/$f" "$f"
    echo "wrote     $f"
  fi
done
for f in "${stale[@]}"; do
  rm -f "$f"
  echo "removed   $f (not rendered by mixin/)"
done
python3 scripts/render_kubernetes.py
