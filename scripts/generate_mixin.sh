#!/usr/bin/env bash
# Renders the monitoring mixin (mixin/) into the files the repository ships:
#   alerting-rules/mysql_pool_exporter.rules.yml   recording rules + alerts, one group
#   deploy/kubernetes/prometheusrule.yaml          the same rules as a PrometheusRule
#   dashboards/*.json                              one file per grafanaDashboards entry
# scripts/render_mixin.jsonnet says what goes in each (the YAML is std.manifestYamlDoc's).
# These files are generated: change mixin/ (thresholds, durations, selectors:
# mixin/config.libsonnet) and run this script, never edit them by hand.
#
#   bash scripts/generate_mixin.sh                 regenerate (and delete dashboards/*.json the
#                                                  mixin no longer renders)
#   bash scripts/generate_mixin.sh --check         drift test: fail, with a diff, when the
#                                                  committed files differ from what mixin/ renders
#   bash scripts/generate_mixin.sh --render DIR [JSONNET]
#                                                  render into DIR (JSONNET: the mixin, e.g. an
#                                                  override; scripts/test_mixin.sh uses this)
#
# Needs jsonnet (Debian package `jsonnet`) and python3 (json.tool); fetches nothing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
command -v jsonnet >/dev/null 2>&1 || { echo "generate_mixin: install the Debian package 'jsonnet'" >&2; exit 2; }

# render DIR [JSONNET]: writes the files into DIR and lists them (relative paths) on stdout.
render() {
  local dir="$1" tla=() f
  (($# > 1)) && tla=(--tla-code "mixin=$2")
  mkdir -p "$dir/alerting-rules" "$dir/dashboards" "$dir/deploy/kubernetes"
  jsonnet -J mixin "${tla[@]}" -S -m "$dir" scripts/render_mixin.jsonnet >"$dir/.files" || return 1
  while IFS= read -r f; do
    f="${f#"$dir"/}"
    # jsonnet 0.18 writes 0.8 as 0.80000000000000004: json.tool writes the same numbers
    # the shortest way, and sorts the keys, so that a regenerated dashboard diffs cleanly.
    if [[ "$f" == dashboards/*.json ]]; then
      python3 -m json.tool --sort-keys --indent 2 --no-ensure-ascii "$dir/$f" "$dir/$f.tmp"
      mv "$dir/$f.tmp" "$dir/$f"
    fi
    echo "$f"
  done <"$dir/.files"
  rm -f "$dir/.files"
}

case "${1:-}" in
  "" | --check) ;;
  --render) shift; render "$@" >/dev/null; exit ;;
  *) echo "usage: $0 [--check | --render DIR [JSONNET]]" >&2; exit 2 ;;
esac

OUT="$(mktemp -d "${TMPDIR:-/tmp}/generate-mixin.XXXXXX")"
trap 'rm -rf "$OUT"' EXIT
mapfile -t files < <(render "$OUT")
((${#files[@]})) || { echo "generate_mixin: jsonnet rendered nothing" >&2; exit 1; }
stale=()
for f in dashboards/*.json; do
  [[ -e "$f" ]] && ! printf '%s\n' "${files[@]}" | grep -qxF "$f" && stale+=("$f")
done

if [[ "${1:-}" == --check ]]; then
  bad=0
  for f in "${files[@]}"; do
    if ! cmp -s "$OUT/$f" "$f"; then
      echo "generate_mixin --check: $f differs from what mixin/ renders:"
      diff -u --label "$f (committed)" --label "$f (rendered)" "$f" "$OUT/$f" 2>&1 | head -n 200 || true
      bad=1
    fi
  done
  for f in "${stale[@]}"; do
    echo "generate_mixin --check: $f is not rendered by mixin/ (a dashboard removed or renamed there)"
    bad=1
  done
  if ((bad)); then
    echo "Change mixin/, not the generated files, then run: bash scripts/generate_mixin.sh"
    exit 1
  fi
  echo "ok: ${#files[@]} generated files match mixin/ (${files[*]})"
  exit 0
fi

for f in "${files[@]}"; do
  if cmp -s "$OUT/$f" "$f"; then
    echo "unchanged $f"
  else
    mkdir -p "$(dirname "$f")"
    cp "$OUT/$f" "$f"
    echo "wrote     $f"
  fi
done
for f in "${stale[@]}"; do
  rm -f "$f"
  echo "removed   $f (not rendered by mixin/)"
done
