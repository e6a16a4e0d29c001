#!/usr/bin/env python3
"""Render the monitoring mixin (mixin/) into the files the repository ships.

Usage:
    scripts/render_mixin.py OUT_DIR [--tla-code mixin=JSONNET]

Writes OUT_DIR/alerting-rules/mysql_pool_exporter.rules.yml and OUT_DIR/dashboards/<name>.json
for every dashboard of the mixin's grafanaDashboards, and prints the paths it wrote (relative to
OUT_DIR), one a line. scripts/generate_mixin.sh runs it on the repository (or on a temp dir for
--check); scripts/test_mixin.sh runs it with --tla-code to render an overridden mixin.

Needs the `jsonnet` command (Debian package jsonnet) and the python3 standard library only.

The rules file is written by a small YAML emitter of its own, so that the output stays close to
the hand-written file it replaced: a header comment, each rule's hidden `comment::` above it, the
keys in the order Prometheus documents them (record/alert, expr, for, labels, annotations),
multi-line expressions as literal blocks (|-) with their layout, and long texts as folded blocks
(>-) wrapped at spaces, which read back as exactly the same string. Dashboards are JSON with
sorted keys and 2-space indentation, so that regenerating is deterministic.
"""

import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RULES_FILE = os.path.join("alerting-rules", "mysql_pool_exporter.rules.yml")
DRIVER = os.path.join(ROOT, "scripts", "render_mixin.jsonnet")
WIDTH = 96  # wrap folded texts before this column
# Texts longer than this (with key and indentation) become folded blocks; a summary stays on
# one line unless it is very long.
FOLD_AT = {"description": WIDTH}

GENERATED_NOTICE = """\
Generated from mixin/ by scripts/generate_mixin.sh: DO NOT EDIT BY HAND.
Change mixin/ (thresholds and durations: mixin/config.libsonnet), then run
  bash scripts/generate_mixin.sh
`bash scripts/generate_mixin.sh --check` fails while this file and mixin/ disagree.
"""

RULE_KEY_ORDER = ["record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations"]
ANNOTATION_ORDER = ["summary", "description", "runbook_url"]

# Plain (unquoted) YAML scalars that would not read back as the same string.
_NOT_PLAIN = re.compile(
    r"""
    ^$ | ^\s | \s$            # empty, leading or trailing space
    | ^[-?:,\[\]{}\#&*!|>'"%@`]  # indicator characters
    | :\s | \s\# | :$ | [\t\n\r]
    """,
    re.X,
)
_SPECIAL_WORDS = {"null", "~", "true", "false", "yes", "no", "on", "off", "y", "n", "="}
_NUMBER_LIKE = re.compile(r"^[-+]?(\.?[0-9][0-9_:.]*([eE][-+]?[0-9]+)?|\.inf|\.nan|0x[0-9a-f]+|0o[0-7]+)$", re.I)


def _plain_ok(s):
    return not (_NOT_PLAIN.search(s) or s.lower() in _SPECIAL_WORDS or _NUMBER_LIKE.match(s))


def _quoted(s):
    # A JSON string is a valid YAML double-quoted scalar.
    return json.dumps(s, ensure_ascii=False)


def _foldable(s):
    """True when `s` can be written as a >- block wrapped at single spaces and read back unchanged."""
    return (
        " " in s
        and "  " not in s
        and not re.search(r"[\t\n\r\x0b\x0c\x85\u2028\u2029]", s)
        and not s.startswith(" ")
        and not s.endswith(" ")
    )


def _words(s):
    """Split `s` at the single spaces that lie outside Prometheus template actions {{ ... }},
    so that wrapping never cuts an action in two."""
    words, start, depth, i = [], 0, 0, 0
    while i < len(s):
        if s.startswith("{{", i):
            depth, i = depth + 1, i + 2
        elif s.startswith("}}", i) and depth:
            depth, i = depth - 1, i + 2
        elif s[i] == " " and not depth:
            words.append(s[start:i])
            start = i = i + 1
        else:
            i += 1
    return words + [s[start:]]


def _wrap(s, width):
    lines, cur = [], ""
    for word in _words(s):
        if cur and len(cur) + 1 + len(word) > width:
            lines.append(cur)
            cur = word
        else:
            cur = word if not cur else cur + " " + word
    lines.append(cur)
    assert " ".join(lines) == s
    return lines


def scalar_lines(key, value, indent):
    """YAML lines for `key: value` at `indent` spaces."""
    pad = " " * indent
    head = "%s%s: " % (pad, key)
    if isinstance(value, bool):
        return [head + ("true" if value else "false")]
    if value is None:
        return [head + "null"]
    if isinstance(value, (int, float)):
        return [head + json.dumps(value)]
    if not isinstance(value, str):
        raise TypeError("%s: cannot write %r" % (key, value))
    body = pad + "  "
    if "\n" in value:
        lines = value.split("\n")
        # A literal block keeps every character but a leading space on the first line (it
        # would set the indentation) and trailing line breaks (chomped by |-).
        if not lines[0].startswith(" ") and lines[-1] != "" and "\r" not in value:
            return [head + "|-"] + [(body + l) if l else "" for l in lines]
        return [head + _quoted(value)]
    if len(head) + len(value) > FOLD_AT.get(key, WIDTH + 64) and _foldable(value):
        return [head + ">-"] + [body + l for l in _wrap(value, WIDTH - len(body))]
    if "{{" in value or not _plain_ok(value):
        return [head + _quoted(value)]
    return [head + value]


def mapping_lines(d, indent, order=()):
    keys = [k for k in order if k in d] + sorted(k for k in d if k not in order)
    out = []
    for k in keys:
        v = d[k]
        if isinstance(v, dict):
            out.append("%s%s:" % (" " * indent, k))
            out.extend(mapping_lines(v, indent + 2, ANNOTATION_ORDER if k == "annotations" else ()))
        elif isinstance(v, list):
            raise TypeError("%s: lists are not expected in a rule" % k)
        else:
            out.extend(scalar_lines(k, v, indent))
    return out


def comment_lines(text, indent):
    pad = " " * indent
    return [(pad + "# " + l).rstrip() if l else pad + "#" for l in text.rstrip("\n").split("\n")]


def render_rules(rules):
    out = comment_lines(GENERATED_NOTICE, 0) + ["#"] + comment_lines(rules["header"], 0)
    out.append("groups:")
    for group in rules["groups"]:
        out.append("  - name: %s" % (group["name"] if _plain_ok(group["name"]) else _quoted(group["name"])))
        out.append("    rules:")
        for n, entry in enumerate(group["rules"]):
            rule, comment = entry["rule"], entry["comment"]
            if n > 0 and (comment or "alert" in rule):
                out.append("")
            if comment:
                out.extend(comment_lines(comment, 6))
            lines = mapping_lines(rule, 8, RULE_KEY_ORDER)
            out.append("      - " + lines[0][8:])
            out.extend(lines[1:])
    return "\n".join(out) + "\n"


def render_dashboard(dash):
    return json.dumps(dash, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv):
    args = argv[1:]
    tla = []
    if len(args) == 3 and args[1] == "--tla-code":
        tla = ["--tla-code", args[2]]
        args = args[:1]
    if len(args) != 1:
        sys.stderr.write(__doc__)
        return 2
    out_dir = args[0]
    try:
        rendered = subprocess.run(
            ["jsonnet", "-J", os.path.join(ROOT, "mixin")] + tla + [DRIVER],
            check=True, capture_output=True, text=True,
        ).stdout
    except FileNotFoundError:
        sys.stderr.write("render_mixin: jsonnet not found: install the Debian package 'jsonnet'\n")
        return 2
    except subprocess.CalledProcessError as e:
        sys.stderr.write("render_mixin: jsonnet failed:\n%s" % e.stderr)
        return 1
    data = json.loads(rendered)

    files = {RULES_FILE: render_rules(data["rules"])}
    for name, dash in sorted(data["dashboards"].items()):
        if not re.fullmatch(r"[A-Za-z0-9_.-]+\.json", name):
            sys.stderr.write("render_mixin: dashboard file name %r is not NAME.json\n" % name)
            return 1
        files[os.path.join("dashboards", name)] = render_dashboard(dash)
    for rel, text in files.items():
        path = os.path.join(out_dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        print(rel)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
