#!/usr/bin/env python3
"""docker-compose.yml against the repository: `docker-compose config` validates the file
itself (no Docker engine needed); this adds what only we know. Every image and Dockerfile
FROM is pinned to a version; every host path it mounts exists inside the repository, and
among them are the very files the tests run the stack with (scripts/lib/stack.sh); every
published port is on 127.0.0.1 only; the Dockerfile's dependency layer resolves.

Usage: scripts/check_compose.py    (needs docker-compose and PyYAML, both Debian packages)
Prints `ok - ...`/`not ok - ...` per check and `N passed, M failed` last; exit 1 on a failure.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# (service, repository path) the tests use too: the compose stack must run the same files.
TESTED = [("exporter", "deploy/exporter.yml"), ("prometheus", "deploy/prometheus.yml"),
          ("prometheus", "alerting-rules"), ("alertmanager", "deploy/alertmanager.yml"),
          ("grafana", "dashboards"), ("grafana", "deploy/grafana/provisioning"), ("demo", "demo"),
          ("mysql", "deploy/mysql/init/01-users.sql"), ("mariadb", "deploy/mysql/init/01-users.sql"),
          ("mariadb", "deploy/mysql/init/02-grants-mariadb.sql")]
PINNED = re.compile(r":v?\d+\.\d+[\w.-]*$")  # a version tag, at least major.minor
failed = passed = 0


def check(name, ok, detail=""):
    global failed, passed
    print(("ok - " if ok else "not ok - ") + name + ("" if ok or not detail else f": {detail}"))
    passed, failed = passed + bool(ok), failed + (not ok)


def compose(*args):
    return subprocess.run(["docker-compose", "-f", os.path.join(ROOT, "docker-compose.yml"), *args],
                          capture_output=True, text=True, cwd=ROOT)


plain = compose("config", "-q")
check("docker-compose config", plain.returncode == 0, plain.stderr.strip()[-600:])
full = compose("--profile", "mariadb", "config")
check("docker-compose --profile mariadb config", full.returncode == 0, full.stderr.strip()[-600:])
if full.returncode:
    print(f"{passed} passed, {failed} failed")
    sys.exit(1)
config = yaml.safe_load(full.stdout)
services = config["services"]

with open(os.path.join(ROOT, "Dockerfile"), encoding="utf-8") as f:
    froms = re.findall(r"^FROM\s+(\S+)", f.read(), re.M)
images = [s["image"] for s in services.values() if "build" not in s] + froms
check("every image and Dockerfile FROM is pinned to a version tag: " + ", ".join(images),
      froms and all(PINNED.search(i) for i in images), str([i for i in images if not PINNED.search(i)]))

# docker-compose config gives every host path absolute, volumes as SOURCE:TARGET[:MODE].
mounts = {name: [v.split(":")[0] for v in s.get("volumes") or [] if v.startswith("/")]
          + ([s["build"]["context"]] if "build" in s else []) for name, s in services.items()}
hosts = [p for paths in mounts.values() for p in paths] + [s["file"] for s in (config.get("secrets") or {}).values()]
bad = [p for p in hosts if not os.path.exists(p) or os.path.relpath(p, ROOT).startswith("..")]
check(f"every mounted host path ({len(hosts)}) exists inside the repository", not bad, str(bad))
missing = [f"{svc}: {path}" for svc, path in TESTED if os.path.join(ROOT, path) not in mounts.get(svc, [])]
check("the services mount the files the tests run the stack with", not missing, "; ".join(missing))

# The Dockerfile's dependency layer builds from what is copied before the crate's sources:
# that much of the repository must be a manifest cargo can resolve (a path dependency left
# out, e.g. the vendored crate of [patch.crates-io], fails the image build, not this run).
with open(os.path.join(ROOT, "Dockerfile"), encoding="utf-8") as f:
    stage = f.read().split("COPY . .")[0]
sources = [w for line in re.findall(r"^COPY\s+(?!--from)(.+)$", stage, re.M) for w in line.split()[:-1]]
with tempfile.TemporaryDirectory() as layer:
    for src in sources:
        (shutil.copytree if os.path.isdir(os.path.join(ROOT, src)) else shutil.copy)(
            os.path.join(ROOT, src), os.path.join(layer, src))
    os.makedirs(os.path.join(layer, "src"))
    for stub in ("src/main.rs", "src/lib.rs"):
        open(os.path.join(layer, stub), "w").close()
    host = re.search(r"^host: (\S+)", subprocess.run(["rustc", "-vV"], capture_output=True,
                                                     text=True).stdout, re.M).group(1)
    meta = subprocess.run(["cargo", "tree", "--locked", "--offline", "--target", host,
                           "-e", "normal,build", "--prefix", "none"],
                          capture_output=True, text=True, cwd=layer)
check(f"the Dockerfile's dependency layer ({', '.join(sources)}) is a manifest cargo resolves",
      meta.returncode == 0, meta.stderr.strip()[-400:])

ports = [(name, p) for name, s in services.items() for p in s.get("ports") or []]
check("every published port is bound to 127.0.0.1", ports and all(str(p).startswith("127.0.0.1:") for _, p in ports),
      str([f"{n}: {p}" for n, p in ports if not str(p).startswith("127.0.0.1:")]))
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
