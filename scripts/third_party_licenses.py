#!/usr/bin/env python3
"""Prints the licences of every crate the mysql_pool_exporter binary is built from, for the
release tarball and the Debian package (scripts/release.sh): MIT and the BSD licences ask
that their notices travel with a binary, and Rust links its crates statically.

    scripts/third_party_licenses.py TARGET_TRIPLE > THIRD-PARTY-LICENSES.txt

The crates are the normal (not build- or dev-) dependencies reachable from the exporter on
that target, as `cargo metadata --locked` resolves them (the proc-macro crates among them
run only while compiling; they are listed all the same); each crate's licence files are
the LICENSE*, LICENCE*, COPYING* and NOTICE* at the top of its source, and identical texts
are printed once with every crate that carries them. Deterministic: sorted throughout.
"""

import hashlib
import json
import os
import subprocess
import sys

PREFIXES = ("license", "licence", "copying", "notice")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: scripts/third_party_licenses.py TARGET_TRIPLE  (e.g. x86_64-unknown-linux-gnu)")
    target = sys.argv[1]
    meta = json.loads(subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked", "--filter-platform", target],
        check=True, capture_output=True, text=True).stdout)
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    packages = {p["id"]: p for p in meta["packages"]}
    root = meta["resolve"]["root"]
    linked, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid in linked:
            continue
        linked.add(pid)
        for dep in nodes[pid]["deps"]:
            if any(k["kind"] is None for k in dep["dep_kinds"]):
                todo.append(dep["pkg"])
    linked.discard(root)

    crates = sorted((packages[p] for p in linked), key=lambda p: (p["name"], p["version"]))
    texts = {}  # sha256 -> (text, [crate names])
    lines = []
    for p in crates:
        src = os.path.dirname(p["manifest_path"])
        files = sorted(f for f in os.listdir(src)
                       if f.lower().startswith(PREFIXES) and os.path.isfile(os.path.join(src, f)))
        if p.get("license_file") and os.path.basename(p["license_file"]) not in files:
            files.append(p["license_file"])
        refs = []
        for f in files:
            with open(os.path.join(src, f), encoding="utf-8", errors="replace") as fh:
                text = fh.read().strip() + "\n"
            digest = hashlib.sha256(text.encode()).hexdigest()[:12]
            texts.setdefault(digest, (text, []))[1].append(f"{p['name']} {p['version']} ({f})")
            refs.append(f"[{digest}]")
        where = ", ".join(refs) if refs else "no licence file in the crate"
        lines.append(f"{p['name']} {p['version']}: {p.get('license') or 'no SPDX expression'}; texts {where}")

    out = sys.stdout
    out.write("Crates mysql_pool_exporter is built from, with their licences\n")
    out.write("=" * 62 + "\n\n")
    out.write(f"{len(crates)} crates for {target}, from the source's Cargo.lock. Each line names the\n")
    out.write("crate's licence (SPDX) and the texts below that its source carries.\n\n")
    out.write("\n".join(lines) + "\n")
    for digest in sorted(texts, key=lambda d: (texts[d][1][0], d)):
        text, users = texts[digest]
        out.write("\n" + "-" * 78 + "\n")
        out.write(f"[{digest}] carried by: {', '.join(users)}\n\n")
        out.write(text)


if __name__ == "__main__":
    main()
