#!/usr/bin/env python3
"""Check docker-compose.yml against the repository it runs from.

What it asserts (each line of output is one check):
  * `docker-compose config` accepts the file, also with `--profile mariadb`;
  * the expected services exist; only `mariadb` sits behind a profile;
  * every image (compose and Dockerfile FROM) has a pinned version tag: no `latest`, no
    missing tag, at least major.minor.patch (Debian: its point release, major.minor);
  * every host path mounted (volumes, secrets, build context) exists inside the repository,
    and the files the stack needs are the ones the tests use: deploy/prometheus.yml,
    deploy/alertmanager.yml, deploy/exporter.yml, alerting-rules/, dashboards/,
    deploy/grafana/provisioning/, deploy/mysql/init/*.sql, demo/;
  * the exporter's port agrees everywhere (compose ports, --web.listen-address, the target
    in deploy/prometheus.yml, the Dockerfile's EXPOSE and HEALTHCHECK): 9207;
  * Prometheus' alerting target is the alertmanager service on its port; its rule_files glob
    lies under the alerting-rules mount and matches only rule files;
  * deploy/exporter.yml's DSN host is a database service (or alias), its password_file is a
    secret of the exporter service whose file holds the password the init SQL sets;
  * every published port is bound to 127.0.0.1; every `service_healthy` dependency has a
    healthcheck; the Dockerfile's ENTRYPOINT/CMD/USER/COPY and .dockerignore are sane.

Needs only the Python standard library, `docker-compose` (1.29 or 2.x) and PyYAML, which
Debian's docker-compose package brings: when this interpreter lacks PyYAML the script re-runs
itself under docker-compose's own Python. No Docker engine is needed.

Usage: scripts/check_compose.py [-f docker-compose.yml]
Prints `N passed, M failed` alone on the last line; exit status 1 when a check failed.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import re
import shlex
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPORTER_PORT = 9207
ALERTMANAGER_PORT = 9093
PROMETHEUS_PORT = 9090
MYSQL_PORT = 3306
EXPECTED_SERVICES = {"mysql", "mariadb", "exporter", "prometheus", "alertmanager", "grafana", "demo"}
PROFILED = {"mariadb": "mariadb"}


def ensure_yaml():
    try:
        import yaml  # noqa: F401
        return
    except ImportError:
        pass
    compose = shutil.which("docker-compose")
    if compose and not os.environ.get("CHECK_COMPOSE_REEXEC"):
        try:
            with open(compose, "rb") as f:
                first = f.readline().decode("utf-8", "replace").strip()
        except OSError:
            first = ""
        if first.startswith("#!"):
            interp = shlex.split(first[2:])
            if interp and os.path.realpath(interp[0]) != os.path.realpath(sys.executable):
                os.environ["CHECK_COMPOSE_REEXEC"] = "1"
                os.execv(interp[0], interp + [os.path.abspath(__file__)] + sys.argv[1:])
    print("not ok - PyYAML is needed: apt-get install python3-yaml (or pip install pyyaml)")
    print("0 passed, 1 failed")
    sys.exit(1)


ensure_yaml()
import yaml  # noqa: E402


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, cond, detail=""):
        if cond:
            self.passed += 1
            print(f"ok - {name}")
        else:
            self.failed += 1
            print(f"not ok - {name}" + (f": {detail}" if detail else ""))
        return bool(cond)


def rel(path):
    return os.path.relpath(path, ROOT)


def run_compose(args, compose_file):
    exe = shutil.which("docker-compose")
    if exe is None:
        return 127, "", "docker-compose not found: apt-get install docker-compose"
    p = subprocess.run([exe, "-f", compose_file] + args, cwd=ROOT, capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def load_yaml(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


# ----------------------------------------------------------------- image tags
VERSION3 = re.compile(r"(^|[^0-9])\d+\.\d+\.\d+")
VERSION2 = re.compile(r"(^|[^0-9])\d+\.\d+")


def image_problem(ref):
    """None if `ref` names a pinned version, else why not."""
    if "@sha256:" in ref:
        return None
    last = ref.rsplit("/", 1)[-1]
    if ":" not in last:
        return "no tag (means latest)"
    name, tag = last.rsplit(":", 1)
    if tag == "latest":
        return "tag latest"
    if name == "debian":  # Debian point releases are major.minor: debian:12.11-slim
        return None if VERSION2.search(tag) else f"tag {tag!r} is not a point release"
    if not VERSION3.search(tag):
        return f"tag {tag!r} is not a full version (major.minor.patch)"
    return None


# ----------------------------------------------------------------- compose helpers
def parse_volume(v):
    """(source, target, mode) of a compose volume in short or long syntax."""
    if isinstance(v, dict):
        return v.get("source"), v.get("target"), "ro" if v.get("read_only") else "rw"
    parts = v.split(":")
    if len(parts) == 1:
        return None, parts[0], "rw"
    return parts[0], parts[1], parts[2] if len(parts) > 2 else "rw"


def bind_mounts(svc):
    out = []
    for v in svc.get("volumes") or []:
        src, dst, mode = parse_volume(v)
        if src and (src.startswith("/") or src.startswith(".")):
            out.append((os.path.normpath(os.path.join(ROOT, src)), dst, mode))
    return out


def parse_port(p):
    """(host_ip, host_port, container_port) of a compose port in short or long syntax."""
    if isinstance(p, dict):
        return p.get("host_ip"), str(p.get("published")), int(p.get("target"))
    s = str(p).split("/")[0]
    parts = s.split(":")
    if len(parts) == 3:
        return parts[0], parts[1], int(parts[2])
    if len(parts) == 2:
        return None, parts[0], int(parts[1])
    return None, None, int(parts[0])


def flag(command, name):
    """Value of --name=V or --name V in a command list/string."""
    if command is None:
        return None
    args = shlex.split(command) if isinstance(command, str) else list(command)
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(name + "="):
            return a[len(name) + 1:]
    return None


def listen_port(addr, default):
    if not addr:
        return default
    m = re.search(r":(\d+)$", addr)
    return int(m.group(1)) if m else None


def host_port(s):
    m = re.fullmatch(r"([A-Za-z0-9_.\-]+):(\d+)", str(s))
    return (m.group(1), int(m.group(2))) if m else (None, None)


def service_names_and_aliases(services):
    names = {}
    for name, svc in services.items():
        names[name] = name
        nets = svc.get("networks") or {}
        if isinstance(nets, dict):
            for net in nets.values():
                for alias in (net or {}).get("aliases") or []:
                    names.setdefault(alias, name)
    return names


# ----------------------------------------------------------------- Dockerfile
def dockerfile_instructions(path):
    """[(INSTRUCTION, args)] with continuation lines joined and comments dropped."""
    out, buf = [], ""
    with open(path, encoding="utf-8") as f:
        for line in f:
            s = line.rstrip("\n")
            if s.lstrip().startswith("#") or (not buf and not s.strip()):
                continue
            if s.endswith("\\"):
                buf += s[:-1] + " "
                continue
            buf += s
            if buf.strip():
                word, _, rest = buf.strip().partition(" ")
                out.append((word.upper(), rest.strip()))
            buf = ""
    return out


def json_array(s):
    import json
    try:
        v = json.loads(s)
        return v if isinstance(v, list) else None
    except ValueError:
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-f", "--file", default="docker-compose.yml",
                    help="compose file, relative to the repository root (default %(default)s)")
    args = ap.parse_args()
    compose_file = os.path.join(ROOT, args.file)
    c = Checks()

    # ------------------------------------------------------------- docker-compose config
    rc, out, err = run_compose(["config"], compose_file)
    if not c.check(f"docker-compose -f {args.file} config", rc == 0, (err or out).strip()[-600:]):
        print(f"{c.passed} passed, {c.failed} failed")
        return 1
    cfg = yaml.safe_load(out)
    services = cfg.get("services") or {}
    rc_p, out_p, err_p = run_compose(["--profile", "mariadb", "config"], compose_file)
    c.check(f"docker-compose -f {args.file} --profile mariadb config", rc_p == 0,
            (err_p or out_p).strip()[-600:])
    rc_l, out_l, _ = run_compose(["config", "--profiles"], compose_file)
    c.check("profiles are exactly: mariadb", rc_l == 0 and out_l.split() == ["mariadb"], out_l.strip())

    c.check("services: " + ", ".join(sorted(EXPECTED_SERVICES)), set(services) == EXPECTED_SERVICES,
            f"got {sorted(services)}")
    wrong_profiles = [n for n, s in services.items() if (s.get("profiles") or []) != ([PROFILED[n]] if n in PROFILED else [])]
    c.check("only mariadb is behind a profile (a plain `up` starts everything else)", not wrong_profiles,
            f"{wrong_profiles}")

    # ------------------------------------------------------------- images
    images = {}
    for name, svc in services.items():
        if "image" in svc:
            images[name] = svc["image"]
    bad = []
    for name, ref in sorted(images.items()):
        if "build" in services[name]:
            last = ref.rsplit("/", 1)[-1]
            if ":" not in last or last.endswith(":latest"):
                bad.append(f"{name}: {ref} (locally built image needs an explicit tag)")
            continue
        why = image_problem(ref)
        if why:
            bad.append(f"{name}: {ref}: {why}")
    missing_image = [n for n, s in services.items() if "image" not in s and "build" not in s]
    c.check("every compose image has a pinned version tag", not bad and not missing_image,
            "; ".join(bad + [f"{n}: no image" for n in missing_image]))

    dockerfile = os.path.join(ROOT, "Dockerfile")
    have_dockerfile = c.check("Dockerfile exists", os.path.isfile(dockerfile))
    instr = dockerfile_instructions(dockerfile) if have_dockerfile else []
    stages, bad_from = set(), []
    for word, rest in instr:
        if word != "FROM":
            continue
        toks = [t for t in rest.split() if not t.startswith("--")]
        ref = toks[0]
        if len(toks) >= 3 and toks[1].upper() == "AS":
            stages.add(toks[2])
        if ref in stages:
            continue
        why = image_problem(ref)
        if why:
            bad_from.append(f"{ref}: {why}")
    c.check("every Dockerfile FROM image has a pinned version tag", have_dockerfile and not bad_from,
            "; ".join(bad_from))
    froms = [rest.split()[0] for w, rest in instr if w == "FROM"]
    c.check("Dockerfile is multi-stage: rust:1.9x builder, slim/distroless runtime",
            len(froms) >= 2 and re.match(r"rust:1\.9\d", froms[0] or "") is not None
            and re.search(r"(debian:.*slim|distroless)", froms[-1]) is not None, f"{froms}")

    # ------------------------------------------------------------- mounts
    missing, outside = [], []
    for name, svc in services.items():
        for src, dst, _ in bind_mounts(svc):
            if not src.startswith(ROOT + os.sep):
                outside.append(f"{name}: {src}")
            elif not os.path.exists(src):
                missing.append(f"{name}: {rel(src)} -> {dst}")
        b = svc.get("build")
        if b:
            ctx = b if isinstance(b, str) else b.get("context", ".")
            ctx = os.path.normpath(os.path.join(ROOT, ctx))
            df = os.path.join(ctx, (b.get("dockerfile") if isinstance(b, dict) else None) or "Dockerfile")
            if not os.path.isfile(df):
                missing.append(f"{name}: build {rel(df)}")
    for sname, sec in (cfg.get("secrets") or {}).items():
        f = sec.get("file")
        if f:
            f = os.path.normpath(os.path.join(ROOT, f))
            if not os.path.isfile(f):
                missing.append(f"secret {sname}: {rel(f)}")
            if not f.startswith(ROOT + os.sep):
                outside.append(f"secret {sname}: {f}")
    c.check("every mounted host path (volumes, secrets, build) exists", not missing, "; ".join(missing))
    c.check("every mounted host path is inside the repository", not outside, "; ".join(outside))

    def mounted(service, src_rel, dst, ro=True):
        src = os.path.join(ROOT, src_rel)
        for s, d, mode in bind_mounts(services.get(service, {})):
            if s == os.path.normpath(src) and d == dst:
                return (mode == "ro") if ro else True
        return False

    exporter_cfg_path = None
    for w, rest in instr:
        if w == "CMD":
            arr = json_array(rest) or []
            exporter_cfg_path = flag(arr, "--config.file")
    compose_cfg_path = flag(services.get("exporter", {}).get("command"), "--config.file")
    exporter_cfg_dst = compose_cfg_path or exporter_cfg_path
    required = [
        ("prometheus", "deploy/prometheus.yml", "/etc/prometheus/prometheus.yml"),
        ("prometheus", "alerting-rules", "/etc/prometheus/rules"),
        ("alertmanager", "deploy/alertmanager.yml", "/etc/alertmanager/alertmanager.yml"),
        ("exporter", "deploy/exporter.yml", exporter_cfg_dst),
        ("grafana", "deploy/grafana/provisioning", "/etc/grafana/provisioning"),
        ("grafana", "dashboards", "/var/lib/grafana/dashboards"),
        ("mysql", "deploy/mysql/init/01-users.sql", "/docker-entrypoint-initdb.d/01-users.sql"),
        ("mariadb", "deploy/mysql/init/01-users.sql", "/docker-entrypoint-initdb.d/01-users.sql"),
        ("mariadb", "deploy/mysql/init/02-grants-mariadb.sql", "/docker-entrypoint-initdb.d/02-grants-mariadb.sql"),
        ("demo", "demo", "/demo"),
    ]
    for service, src, dst in required:
        c.check(f"{service} mounts {src} at {dst} read-only", dst and mounted(service, src, dst),
                "missing or read-write")
    c.check("the exporter's config path is the same in compose and the Dockerfile CMD",
            exporter_cfg_path is not None and compose_cfg_path in (None, exporter_cfg_path),
            f"compose {compose_cfg_path}, Dockerfile {exporter_cfg_path}")
    prom_cmd = services.get("prometheus", {}).get("command")
    c.check("prometheus --config.file is the mounted deploy/prometheus.yml",
            flag(prom_cmd, "--config.file") in (None, "/etc/prometheus/prometheus.yml"), f"{flag(prom_cmd, '--config.file')}")
    am_cmd = services.get("alertmanager", {}).get("command")
    c.check("alertmanager --config.file is the mounted deploy/alertmanager.yml",
            flag(am_cmd, "--config.file") == "/etc/alertmanager/alertmanager.yml", f"{flag(am_cmd, '--config.file')}")

    # ------------------------------------------------------------- ports
    published = {}
    not_loopback = []
    for name, svc in services.items():
        for p in svc.get("ports") or []:
            ip, hp, cp = parse_port(p)
            published.setdefault(name, set()).add(cp)
            if ip != "127.0.0.1":
                not_loopback.append(f"{name}: {p}")
    c.check("every published port is bound to 127.0.0.1", not not_loopback, "; ".join(not_loopback))

    exporter = services.get("exporter", {})
    listen = listen_port(flag(exporter.get("command"), "--web.listen-address"), EXPORTER_PORT)
    expose = set()
    hc_ports = set()
    for w, rest in instr:
        if w == "EXPOSE":
            expose |= {int(x.split("/")[0]) for x in rest.split()}
        if w == "HEALTHCHECK":
            hc_ports |= {int(m) for m in re.findall(r"/dev/tcp/[^/\s]+/(\d+)", rest)}
            hc_ports |= {int(m) for m in re.findall(r"https?://[^/:\s]+:(\d+)", rest)}
    prom_path = os.path.join(ROOT, "deploy/prometheus.yml")
    prom = load_yaml(prom_path) if os.path.isfile(prom_path) else {}
    mysql_job = next((j for j in prom.get("scrape_configs") or [] if j.get("job_name") == "mysql"), {})
    targets = [t for sc in mysql_job.get("static_configs") or [] for t in sc.get("targets") or []]
    c.check("deploy/prometheus.yml has job `mysql` with one target", len(targets) == 1, f"{targets}")
    th, tp = host_port(targets[0]) if targets else (None, None)
    aliases = service_names_and_aliases(services)
    c.check(f"exporter port agrees: compose ports, --web.listen-address, prometheus target, EXPOSE, HEALTHCHECK = {EXPORTER_PORT}",
            published.get("exporter") == {EXPORTER_PORT} and listen == EXPORTER_PORT and tp == EXPORTER_PORT
            and EXPORTER_PORT in expose and hc_ports == {EXPORTER_PORT},
            f"compose {published.get('exporter')}, listen {listen}, prometheus {targets}, EXPOSE {sorted(expose)}, HEALTHCHECK {sorted(hc_ports)}")
    c.check("prometheus scrape target host is the exporter service", aliases.get(th) == "exporter", f"{targets}")
    si = mysql_job.get("scrape_interval") or (prom.get("global") or {}).get("scrape_interval")
    st = mysql_job.get("scrape_timeout") or (prom.get("global") or {}).get("scrape_timeout")
    c.check("job mysql: scrape_interval 5s, scrape_timeout 4s", (si, st) == ("5s", "4s"), f"{si}, {st}")

    am_targets = [t for am in (prom.get("alerting") or {}).get("alertmanagers") or []
                  for sc in am.get("static_configs") or [] for t in sc.get("targets") or []]
    am_listen = listen_port(flag(am_cmd, "--web.listen-address"), ALERTMANAGER_PORT)
    ok_am = bool(am_targets) and all(
        aliases.get(host_port(t)[0]) == "alertmanager" and host_port(t)[1] == am_listen for t in am_targets)
    c.check(f"prometheus alerting target is the alertmanager service on its port {am_listen}",
            ok_am and ALERTMANAGER_PORT in published.get("alertmanager", set()), f"{am_targets}")
    prom_listen = listen_port(flag(prom_cmd, "--web.listen-address"), PROMETHEUS_PORT)
    c.check(f"prometheus publishes its port {prom_listen}", prom_listen in published.get("prometheus", set()),
            f"{published.get('prometheus')}")

    rules_dst = "/etc/prometheus/rules"
    rule_files = prom.get("rule_files") or []
    rules_dir = os.path.join(ROOT, "alerting-rules")
    matched, bad_rules = [], []
    for pat in rule_files:
        if not pat.startswith(rules_dst + "/"):
            bad_rules.append(f"{pat} is not under the alerting-rules mount {rules_dst}")
            continue
        sub = pat[len(rules_dst) + 1:]
        for dirpath, _, files in os.walk(rules_dir):
            for fn in files:
                r = os.path.relpath(os.path.join(dirpath, fn), rules_dir)
                if fnmatch.fnmatch(r, sub) and r.count("/") == sub.count("/"):
                    matched.append(r)
    for r in matched:
        try:
            doc = load_yaml(os.path.join(rules_dir, r))
        except yaml.YAMLError as e:
            bad_rules.append(f"{r}: {e}")
            continue
        if not isinstance(doc, dict) or "groups" not in doc:
            bad_rules.append(f"{r} is no rule file (no groups:) but matches rule_files")
    c.check("rule_files lie under the alerting-rules mount and load only rule files "
            f"({', '.join(sorted(matched)) or 'none'})", rule_files and matched and not bad_rules,
            "; ".join(bad_rules) or "no rule file matched")

    # ------------------------------------------------------------- exporter config and secrets
    exp_path = os.path.join(ROOT, "deploy/exporter.yml")
    exp = load_yaml(exp_path) if os.path.isfile(exp_path) else {}
    tgts = exp.get("targets") or []
    dsn_ok, pw_ok, detail = True, True, []
    sql_path = os.path.join(ROOT, "deploy/mysql/init/01-users.sql")
    sql = open(sql_path, encoding="utf-8").read() if os.path.isfile(sql_path) else ""
    sql_pw = dict(re.findall(r"CREATE USER[^']*'([^']+)'@'[^']*'\s+IDENTIFIED BY\s+'([^']*)'", sql))
    exporter_secrets = {(s if isinstance(s, str) else s.get("source")): (s if isinstance(s, str) else s.get("target") or s.get("source"))
                        for s in exporter.get("secrets") or []}
    for t in tgts:
        m = re.match(r"mysql://(?:([^@:/]+)(?::[^@]*)?@)?([^:/]+)(?::(\d+))?", t.get("dsn", ""))
        if not m:
            dsn_ok = False
            detail.append(f"{t.get('name')}: dsn {t.get('dsn')!r}")
            continue
        user, host, port = m.group(1), m.group(2), int(m.group(3) or MYSQL_PORT)
        if aliases.get(host) not in ("mysql", "mariadb") or port != MYSQL_PORT:
            dsn_ok = False
            detail.append(f"{t.get('name')}: {host}:{port} is not a database service")
        pf = t.get("password_file") or ""
        m2 = re.fullmatch(r"/run/secrets/([^/]+)", pf)
        secret = next((s for s, tgt in exporter_secrets.items() if m2 and tgt == m2.group(1)), None)
        sec_file = ((cfg.get("secrets") or {}).get(secret) or {}).get("file") if secret else None
        if not sec_file or not os.path.isfile(os.path.join(ROOT, sec_file)):
            pw_ok = False
            detail.append(f"{t.get('name')}: password_file {pf!r} is no secret of the exporter service")
            continue
        with open(os.path.join(ROOT, sec_file), encoding="utf-8") as f:
            secret_pw = f.read().strip()
        if sql_pw.get(user) != secret_pw:
            pw_ok = False
            detail.append(f"{t.get('name')}: the secret does not hold the password 01-users.sql gives {user!r}")
    c.check("deploy/exporter.yml: every target's DSN is a database service on 3306", tgts and dsn_ok, "; ".join(detail))
    c.check("deploy/exporter.yml: password_file is an exporter secret holding the init SQL's password",
            tgts and pw_ok, "; ".join(detail))

    demo_env = services.get("demo", {}).get("environment") or {}
    m = re.match(r"mysql\+pymysql://([^@:/]+)@([^:/]+):(\d+)/(\w+)", str(demo_env.get("KEFU_DSN", "")))
    pools = {p.get("name"): p for p in exp.get("pools") or []}
    pool = pools.get("kefu-flask") or {}
    c.check("demo connects as the user/db pool kefu-flask matches, with the init SQL's password",
            m is not None and aliases.get(m.group(2)) in ("mysql", "mariadb")
            and (pool.get("match") or {}).get("user") == m.group(1) and (pool.get("match") or {}).get("db") == m.group(4)
            and sql_pw.get(m.group(1)) == demo_env.get("KEFU_PASSWORD"),
            f"KEFU_DSN={demo_env.get('KEFU_DSN')}, pool match {pool.get('match')}")

    # ------------------------------------------------------------- health and order
    df_healthcheck = any(w == "HEALTHCHECK" and not rest.upper().startswith("NONE") for w, rest in instr)
    bad_dep = []
    for name, svc in services.items():
        deps = svc.get("depends_on") or {}
        if isinstance(deps, list):
            deps = {d: {"condition": "service_started"} for d in deps}
        for dep, spec in deps.items():
            if dep not in services:
                bad_dep.append(f"{name} -> {dep}: no such service")
                continue
            if (spec or {}).get("condition") == "service_healthy":
                d = services[dep]
                has = ("healthcheck" in d and not d["healthcheck"].get("disable")) or ("build" in d and df_healthcheck)
                if not has:
                    bad_dep.append(f"{name} -> {dep}: service_healthy without a healthcheck")
            if services[dep].get("profiles"):
                bad_dep.append(f"{name} -> {dep}: depends on a profiled service")
    c.check("depends_on: services exist, service_healthy ones have a healthcheck", not bad_dep, "; ".join(bad_dep))

    # ------------------------------------------------------------- Dockerfile details
    last_stage = []
    for w, rest in instr:
        if w == "FROM":
            last_stage = []
        last_stage.append((w, rest))
    ep = next((json_array(r) for w, r in reversed(last_stage) if w == "ENTRYPOINT"), None)
    cmd = next((json_array(r) for w, r in reversed(last_stage) if w == "CMD"), None)
    user = next((r for w, r in reversed(last_stage) if w == "USER"), None)
    c.check("Dockerfile ENTRYPOINT [\"/usr/local/bin/mysql_pool_exporter\"], CMD [\"--config.file=/etc/mysql_pool_exporter/config.yml\"]",
            ep == ["/usr/local/bin/mysql_pool_exporter"] and cmd == ["--config.file=/etc/mysql_pool_exporter/config.yml"],
            f"ENTRYPOINT {ep}, CMD {cmd}")
    c.check("Dockerfile runtime runs as a non-root user", user is not None and user.split(":")[0] not in ("root", "0"), f"USER {user}")
    copies = [(w, r) for w, r in instr if w in ("COPY", "ADD")]
    missing_src = []
    order = []
    for w, r in copies:
        toks = r.split()
        if any(t.startswith("--from") for t in toks):
            continue
        toks = [t for t in toks if not t.startswith("--")]
        for src in toks[:-1]:
            order.append(src)
            if src != "." and not os.path.exists(os.path.join(ROOT, src)):
                missing_src.append(src)
    c.check("every Dockerfile COPY source exists", not missing_src, f"{missing_src}")
    c.check("Dockerfile caches dependencies: Cargo.toml and Cargo.lock are copied before the sources",
            "Cargo.toml" in order and "Cargo.lock" in order and "." in order
            and order.index("Cargo.lock") < order.index("."), f"{order}")
    di_path = os.path.join(ROOT, ".dockerignore")
    di = [ln.strip().rstrip("/") for ln in open(di_path, encoding="utf-8")] if os.path.isfile(di_path) else []
    di = [ln for ln in di if ln and not ln.startswith("#")]
    excluded = lambda p: any(fnmatch.fnmatch(p, pat.lstrip("/")) for pat in di)  # noqa: E731
    c.check(".dockerignore excludes target, .git, demo/.venv and keeps src/, src/db/, examples/, Cargo.*",
            all(excluded(p) for p in ("target", ".git", "demo/.venv"))
            and not any(excluded(p) for p in ("src", "src/db", "examples", "Cargo.toml", "Cargo.lock")), f"{di}")

    # ------------------------------------------------------------- grafana provisioning
    prov = os.path.join(ROOT, "deploy/grafana/provisioning")
    if os.path.isdir(prov):
        bad_ds, bad_dash, n_ds, n_dash = [], [], 0, 0
        for dirpath, _, files in os.walk(prov):
            for fn in files:
                if not fn.endswith((".yml", ".yaml")):
                    continue
                path = os.path.join(dirpath, fn)
                try:
                    doc = load_yaml(path) or {}
                except yaml.YAMLError as e:
                    bad_ds.append(f"{rel(path)}: {e}")
                    continue
                for ds in doc.get("datasources") or []:
                    n_ds += 1
                    m = re.match(r"https?://([^:/]+):(\d+)", str(ds.get("url", "")))
                    if ds.get("type") == "prometheus" and not (m and aliases.get(m.group(1)) == "prometheus"
                                                               and int(m.group(2)) == prom_listen):
                        bad_ds.append(f"{rel(path)}: {ds.get('name')} url {ds.get('url')}")
                for pr in doc.get("providers") or []:
                    n_dash += 1
                    p = str((pr.get("options") or {}).get("path", ""))
                    if not (p == "/var/lib/grafana/dashboards" or p.startswith("/var/lib/grafana/dashboards/")):
                        bad_dash.append(f"{rel(path)}: {pr.get('name')} path {p}")
        c.check(f"grafana datasources point at the prometheus service :{prom_listen}", n_ds and not bad_ds,
                "; ".join(bad_ds) or "no datasource provisioned")
        c.check("grafana dashboard providers read the mounted dashboards/", n_dash and not bad_dash,
                "; ".join(bad_dash) or "no dashboard provider")
    else:
        c.check("deploy/grafana/provisioning exists", False, "missing")

    print(f"{c.passed} passed, {c.failed} failed")
    return 0 if c.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
