#!/usr/bin/env python3
"""The Python half of scripts/check_kubernetes.sh, run under the virtualenv it makes
(target/k8s-venv, scripts/check_kubernetes.requirements.txt), not on its own.

    check_kubernetes.py static --exporter-bin BIN
        the schemas: core kinds by kubernetes-validate's bundled Kubernetes schemas, the
        prometheus-operator kinds by cloudcoil's generated models of its CRDs, both strict
        (an unknown field fails); then what no schema knows: the manifests agree with each
        other, the Dockerfile and Cargo.toml, and each exporter config passes `BIN config check`.
    check_kubernetes.py live-files DIR --db-port P --password-file F --sidecar-port S --central-port C
        writes what the live test runs: both exporter configs and container args with only
        addresses and paths substituted, the sidecar's first-start script, and a
        prometheus.yml whose jobs are the ScrapeConfig and the PodMonitor as plain scrape
        configs (their relabelings verbatim, camelCase keys in snake_case): the relabeling
        itself is Prometheus' own.
    check_kubernetes.py live-assert DIR --prometheus URL
        asks that Prometheus whether both jobs' targets are up with the right `instance`,
        and mysql_up{instance=...} == 1.

Prints one `ok - ...` / `not ok - ...` line per check (and `# ...` notes) for the shell script
to count.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
K8S = os.path.join(ROOT, "deploy", "kubernetes")
RULES = os.path.join(ROOT, "alerting-rules", "mysql_pool_exporter.rules.yml")
EXPORTER_IMAGE = "mysql_pool_exporter"
PLACEHOLDER = "CHANGE-ME"
# The oldest Kubernetes the manifests are meant for; the newest bundled schemas are checked too.
KUBE_MIN = "1.30"


class Checks:
    def __init__(self):
        self.failed = 0

    def check(self, name, cond, detail=""):
        print(f"ok - {name}" if cond else f"not ok - {name}" + (f": {detail}" if detail else ""), flush=True)
        self.failed += not cond
        return bool(cond)


class Doc:
    def __init__(self, path, obj):
        self.path, self.obj = path, obj
        self.set = os.path.basename(os.path.dirname(path)) if os.path.dirname(path) != K8S else None
        self.kind = obj.get("kind")
        self.name = (obj.get("metadata") or {}).get("name")
        self.namespace = (obj.get("metadata") or {}).get("namespace")

    def __str__(self):
        return f"{os.path.relpath(self.path, ROOT)}: {self.kind}/{self.name}"


def load_docs(c=None):
    docs = []
    for path in sorted(glob.glob(os.path.join(K8S, "**", "*.yaml"), recursive=True)):
        try:
            with open(path, encoding="utf-8") as f:
                objs = [o for o in yaml.safe_load_all(f) if o is not None]
        except yaml.YAMLError as e:
            if c:
                c.check(f"{os.path.relpath(path, ROOT)} parses as YAML", False, str(e).replace("\n", " "))
            continue
        docs += [Doc(path, o) for o in objs if isinstance(o, dict)]
    return docs


def find(docs, kind, set_=None, name=None):
    return [d for d in docs if d.kind == kind and (set_ is None or d.set == set_) and (name is None or d.name == name)]


def one(docs, kind, set_, name=None):
    found = find(docs, kind, set_, name)
    return found[0] if len(found) == 1 else None


def workloads(docs, set_=None):
    return [d for d in docs if d.kind in ("Deployment", "StatefulSet") and (set_ is None or d.set == set_)]


def pod_spec(workload):
    return workload.obj["spec"]["template"]["spec"]


def pod_labels(workload):
    return (workload.obj["spec"]["template"].get("metadata") or {}).get("labels") or {}


def exporter_containers(docs):
    for w in workloads(docs):
        for ctr in pod_spec(w).get("containers") or []:
            if ctr.get("image", "").rsplit("/", 1)[-1].split(":")[0] == EXPORTER_IMAGE:
                yield w, ctr


def arg(args, name):
    return next((a[len(name) + 1:] for a in args or [] if a.startswith(name + "=")), None)


def selects(selector, labels):
    """matchLabels (or a Service's plain map) matches `labels`; matchExpressions are not used here."""
    match = (selector or {}).get("matchLabels", selector) or {}
    return bool(match) and "matchExpressions" not in (selector or {}) \
        and all(labels.get(k) == v for k, v in match.items())


def volume_for_mount(pod, mount_dir, container):
    for m in container.get("volumeMounts") or []:
        if m.get("mountPath") == mount_dir:
            return next((v for v in pod.get("volumes") or [] if v.get("name") == m.get("name")), None), m
    return None, None


def exporter_config(docs, workload, container):
    """(ConfigMap doc, key, config text, config path) of the container's --config.file."""
    path = arg(container.get("args"), "--config.file")
    vol, _ = volume_for_mount(pod_spec(workload), os.path.dirname(path or ""), container)
    if not vol or "configMap" not in vol:
        return None, None, None, path
    cm = one(docs, "ConfigMap", workload.set, vol["configMap"]["name"])
    key = os.path.basename(path)
    return cm, key, ((cm.obj.get("data") or {}).get(key) if cm else None), path


def up_job_regex():
    """The job regex of the rules' `up{job=~"..."}` (MySQLExporterScrapeFailing)."""
    with open(RULES, encoding="utf-8") as f:
        exprs = [r["expr"] for g in yaml.safe_load(f)["groups"] for r in g["rules"]]
    return next((m.group(1) for e in exprs for m in [re.search(r'\bup\{job=~"([^"]+)"\}', e)] if m), None)


def relabel_to_prometheus(r):
    """A prometheus-operator RelabelConfig as a Prometheus relabel_config: the same values."""
    keys = {"sourceLabels": "source_labels", "targetLabel": "target_label"}
    out = {keys.get(k, k): v for k, v in r.items()}
    if "action" in out:
        out["action"] = out["action"].lower()
    return out


# ----------------------------------------------------------------- static checks
def dropped_fields(model, obj):
    """The fields of `obj` the model does not know: pydantic drops them without a word, so
    what does not come back from the model is a typo (or needs a newer operator)."""
    back = model.model_validate(obj).model_dump(by_alias=True, exclude_unset=True, mode="json")

    def walk(a, b, path):
        if isinstance(a, dict):
            return [x for k in a for x in ([f"{path}.{k}"] if not isinstance(b, dict) or k not in b
                                           else walk(a[k], b[k], f"{path}.{k}"))]
        if isinstance(a, list) and isinstance(b, list):
            return [x for i, (p, q) in enumerate(zip(a, b)) for x in walk(p, q, f"{path}[{i}]")]
        return []
    return walk(obj, back, "")


def check_schemas(c, docs):
    import kubernetes_validate
    from cloudcoil.models.prometheus_operator import v1, v1alpha1
    from importlib.metadata import version

    operator = {("monitoring.coreos.com/v1", "PodMonitor"): v1.PodMonitor,
                ("monitoring.coreos.com/v1", "PrometheusRule"): v1.PrometheusRule,
                ("monitoring.coreos.com/v1alpha1", "ScrapeConfig"): v1alpha1.ScrapeConfig}
    versions = sorted({KUBE_MIN, kubernetes_validate.utils.latest_version()}, key=lambda v: [int(x) for x in v.split(".")])
    print(f"# kubernetes-validate {kubernetes_validate.__version__} (Kubernetes {' and '.join(versions)}), "
          f"cloudcoil-models-prometheus-operator {version('cloudcoil.models.prometheus_operator')}", flush=True)
    for d in docs:
        problems = []
        model = operator.get((d.obj.get("apiVersion"), d.kind))
        if model:
            try:
                problems = [f"unknown field {p}" for p in dropped_fields(model, d.obj)]
            except ValueError as e:  # pydantic's ValidationError
                problems = [str(e).replace("\n", " ")[:600]]
        elif d.obj.get("apiVersion", "").startswith("monitoring.coreos.com/"):
            problems = ["no model for this prometheus-operator kind"]
        else:
            for v in versions:
                try:
                    kubernetes_validate.validate(d.obj, v, strict=True)
                except kubernetes_validate.ValidationError as e:
                    problems.append(f"{v}: {'.'.join(str(p) for p in e.path)}: {e.message}")
                except kubernetes_validate.SchemaNotFoundError as e:
                    problems.append(f"{v}: no schema ({e.message})")
        c.check(f"{d} validates (strict)", not problems, "; ".join(problems))


def dockerfile():
    """(runtime USER uid:gid, the CMD's --config.file) of the Dockerfile."""
    with open(os.path.join(ROOT, "Dockerfile"), encoding="utf-8") as f:
        text = f.read()
    user = re.findall(r"^USER\s+(\d+):(\d+)\s*$", text, re.M)
    cmd = re.findall(r"^CMD\s+(\[.*\])\s*$", text, re.M)
    return (tuple(int(x) for x in user[-1]) if user else None), (arg(json.loads(cmd[-1]), "--config.file") if cmd else None)


def check_exporter(c, docs, w, ctr, exporter_bin):
    where = f"{os.path.relpath(w.path, ROOT)}: container {ctr.get('name')}"
    with open(os.path.join(ROOT, "Cargo.toml"), encoding="utf-8") as f:
        version = re.search(r'^version\s*=\s*"([^"]+)"', f.read(), re.M).group(1)
    uid_gid, image_config = dockerfile()
    c.check(f"{where}: image is {EXPORTER_IMAGE}:{version} (Cargo.toml)", ctr["image"].endswith(f"{EXPORTER_IMAGE}:{version}"))
    sc, psc = ctr.get("securityContext") or {}, pod_spec(w).get("securityContext") or {}
    ids = (sc.get("runAsUser", psc.get("runAsUser")), sc.get("runAsGroup", psc.get("runAsGroup")))
    c.check(f"{where}: runs as the Dockerfile's USER {uid_gid}", ids == uid_gid, str(ids))
    leaks = [e.get("name") for e in ctr.get("env") or [] if re.search(r"(?i)pass|pwd|secret|dsn|token", e.get("name", ""))
             or "valueFrom" in e] + (["envFrom"] if ctr.get("envFrom") else [])
    c.check(f"{where}: no password in the environment", not leaks, str(leaks))
    cm, key, text, path = exporter_config(docs, w, ctr)
    if not c.check(f"{where}: --config.file={path} (the Dockerfile CMD's) is key {key!r} of a ConfigMap mounted there",
                   text is not None and path == image_config, f"Dockerfile: {image_config}"):
        return
    cfg = yaml.safe_load(text) or {}
    for t in cfg.get("targets") or []:
        pw = t.get("password_file") or ""
        vol, mount = volume_for_mount(pod_spec(w), os.path.dirname(pw), ctr)
        secret = one(docs, "Secret", w.set, ((vol or {}).get("secret") or {}).get("secretName"))
        keys = set(secret.obj.get("stringData") or {}) if secret else set()
        c.check(f"{where}: target {t.get('name')!r}: password_file {pw} is a key of a Secret mounted read-only, "
                f"and the DSN holds no password",
                os.path.basename(pw) in keys and mount.get("readOnly") is True
                and ":" not in t.get("dsn", "").split("@")[0].replace("mysql://", ""), str(vol))
    # `config check` on the very text, with only the password_file paths made to exist.
    with tempfile.TemporaryDirectory(prefix="check_kubernetes.") as tmp:
        body = text
        for i, t in enumerate(cfg.get("targets") or []):
            local = os.path.join(tmp, f"password-{i}")
            with open(local, "w") as f:
                f.write("not-the-password\n")
            body = body.replace(f"password_file: {t.get('password_file')}\n", f"password_file: {local}\n")
        with open(os.path.join(tmp, "config.yml"), "w") as f:
            f.write(body)
        p = subprocess.run([exporter_bin, "config", "check", os.path.join(tmp, "config.yml")],
                           capture_output=True, text=True) if os.access(exporter_bin, os.X_OK) else None
        c.check(f"{where}: `mysql_pool_exporter config check` accepts ConfigMap {cm.name}/{key}",
                p is not None and p.returncode == 0,
                (p.stderr or p.stdout).strip()[-400:] if p else f"no exporter binary at {exporter_bin}")


def static(args):
    c = Checks()
    docs = load_docs(c)
    check_schemas(c, docs)
    exporters = list(exporter_containers(docs))
    c.check("an exporter container in sidecar/ and in central/",
            sorted(w.set for w, _ in exporters) == ["central", "sidecar"])
    for w, ctr in exporters:
        check_exporter(c, docs, w, ctr, args.exporter_bin)
    for s in find(docs, "Secret"):
        values = s.obj.get("stringData") or {}
        c.check(f"{s}: holds only the {PLACEHOLDER} placeholder", values and not s.obj.get("data")
                and all(v == PLACEHOLDER for v in values.values()))
    for s in find(docs, "Service"):
        spec = s.obj["spec"]
        ports = [cp for w in workloads(docs, s.set) if selects(spec.get("selector"), pod_labels(w))
                 for ctr in pod_spec(w)["containers"] for cp in ctr.get("ports") or []]
        missing = [p.get("targetPort", p.get("port")) for p in spec.get("ports") or []
                   if not any(p.get("targetPort", p.get("port")) in (cp.get("name"), cp.get("containerPort")) for cp in ports)]
        c.check(f"{s}: selects pods that have its target ports", ports and not missing, str(missing))
    for pm in find(docs, "PodMonitor"):
        pods = [w for w in workloads(docs, pm.set) if selects(pm.obj["spec"].get("selector"), pod_labels(w))]
        names = [p.get("name") for w, ctr in exporters if w in pods for p in ctr.get("ports") or []]
        c.check(f"{pm}: selects the exporter's pods, scrapes its named port",
                pods and all(e.get("port") in names for e in pm.obj["spec"]["podMetricsEndpoints"]), str(names))
    for sc in find(docs, "ScrapeConfig"):
        names = sorted(t for s in sc.obj["spec"].get("staticConfigs") or [] for t in s.get("targets") or [])
        cfg = [exporter_config(docs, w, ctr)[2] for w, ctr in exporters if w.set == sc.set]
        want = sorted(t.get("name") for text in cfg for t in (yaml.safe_load(text or "") or {}).get("targets") or [])
        c.check(f"{sc}: its targets are the exporter config's", names == want, f"{names} vs {want}")
    return 1 if c.failed else 0


# ----------------------------------------------------------------- live test
def live_files(args):
    """What the live test runs, derived from the manifests with only addresses and paths changed."""
    docs = load_docs()
    os.makedirs(args.dir, exist_ok=True)
    expect = {}
    ports = {"sidecar": args.sidecar_port, "central": args.central_port}
    for w, ctr in exporter_containers(docs):
        _, _, text, config_path = exporter_config(docs, w, ctr)
        cfg = yaml.safe_load(text)
        body = text
        for t in cfg["targets"]:
            new_dsn = re.sub(r"@[^/]+", f"@127.0.0.1:{args.db_port}", t["dsn"], count=1)
            body = body.replace(f"dsn: {t['dsn']}\n", f"dsn: {new_dsn}\n")
            body = body.replace(f"password_file: {t['password_file']}\n", f"password_file: {args.password_file}\n")
        # The text substitution must have reached every target (and changed nothing else).
        got = [(t.get("dsn"), t.get("password_file")) for t in yaml.safe_load(body)["targets"]]
        if any(not dsn.startswith("mysql://") or f"@127.0.0.1:{args.db_port}" not in dsn or pw != args.password_file
               for dsn, pw in got):
            raise SystemExit(f"error: {w.set}: could not point every target at the test server: {got}")
        cfg_file = os.path.join(args.dir, f"{w.set}-config.yml")
        with open(cfg_file, "w") as f:
            f.write(body)
        out_args = []
        for a in ctr.get("args") or []:
            if a.startswith("--config.file="):
                a = f"--config.file={cfg_file}"
            elif a.startswith("--web.listen-address="):
                a = f"--web.listen-address=127.0.0.1:{ports[w.set]}"
            out_args.append(a)
        if not any(a.startswith("--web.listen-address=") for a in out_args):
            out_args.append(f"--web.listen-address=127.0.0.1:{ports[w.set]}")
        with open(os.path.join(args.dir, f"{w.set}-args"), "w") as f:
            f.write("".join(a + "\n" for a in out_args))
        expect[w.set] = {
            "url": f"http://127.0.0.1:{ports[w.set]}",
            "targets": [t["name"] for t in cfg["targets"]],
            "liveness": ctr["livenessProbe"]["httpGet"]["path"],
            "readiness": ctr["readinessProbe"]["httpGet"]["path"],
            "config_path": config_path,
        }

    # The sidecar's first-start script, reading the test's password file.
    init = one(docs, "ConfigMap", "sidecar", "mysql-initdb")
    (script,) = (init.obj.get("data") or {}).values()
    for w, ctr in exporter_containers(docs):
        if w.set == "sidecar":
            _, _, text, _ = exporter_config(docs, w, ctr)
            pw = yaml.safe_load(text)["targets"][0]["password_file"]
            if f"$(cat {pw})" not in script:
                raise SystemExit(f"error: the first-start script does not read {pw} as $(cat {pw})")
            script = script.replace(f"$(cat {pw})", f"$(cat {args.password_file})")
    with open(os.path.join(args.dir, "initdb.sh"), "w") as f:
        f.write(script)

    # Prometheus: the ScrapeConfig and the PodMonitor as plain scrape configs.
    jobs = []
    sc = find(docs, "ScrapeConfig", "central")[0]
    spec = sc.obj["spec"]
    svc_addr = [r["replacement"] for r in spec["relabelings"] if r.get("targetLabel") == "__address__"][0]
    relabels = []
    for r in spec["relabelings"]:
        r = relabel_to_prometheus(r)
        if r.get("target_label") == "__address__":
            r["replacement"] = f"127.0.0.1:{args.central_port}"   # the Service's address, here
        relabels.append(r)
    central_job = spec.get("jobName") or f"scrapeConfig/{sc.namespace}/{sc.name}"
    jobs.append({
        "job_name": central_job,
        "metrics_path": spec["metricsPath"],
        # Timing only: 1s instead of the manifest's interval, so that the test is quick.
        "scrape_interval": "1s",
        "scrape_timeout": "1s",
        "static_configs": [{"targets": s["targets"], **({"labels": s["labels"]} if s.get("labels") else {})}
                           for s in spec["staticConfigs"]],
        "relabel_configs": relabels,
    })
    pm = find(docs, "PodMonitor", "sidecar")[0]
    ep = pm.obj["spec"]["podMetricsEndpoints"][0]
    sidecar_job = f"{pm.namespace or 'default'}/{pm.name}"
    pod_name = "mysql-0"
    jobs.append({
        "job_name": sidecar_job,
        "metrics_path": ep.get("path", "/metrics"),
        "scrape_interval": "1s",
        "scrape_timeout": "1s",
        # What Kubernetes service discovery would give for the pod's port http-metrics.
        "static_configs": [{"targets": [f"127.0.0.1:{args.sidecar_port}"],
                            "labels": {"__meta_kubernetes_pod_name": pod_name,
                                       "__meta_kubernetes_pod_container_port_name": ep["port"]}}],
        "relabel_configs": [relabel_to_prometheus(r) for r in ep.get("relabelings") or []],
    })
    prom = {"global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "scrape_configs": jobs}
    with open(os.path.join(args.dir, "prometheus.yml"), "w") as f:
        f.write("# Generated by scripts/check_kubernetes.py live-files from deploy/kubernetes/central/"
                "scrapeconfig.yaml\n# and sidecar/podmonitor.yaml: relabelings verbatim; only addresses and "
                "timing changed.\n")
        yaml.safe_dump(prom, f, sort_keys=False)
    expect["central"]["job"] = central_job
    expect["central"]["service_address"] = svc_addr
    expect["central"]["targets"] = [t for s in spec["staticConfigs"] for t in s["targets"]]
    expect["sidecar"]["job"] = sidecar_job
    expect["sidecar"]["instance"] = pod_name
    expect["up_job_regex"] = up_job_regex()
    with open(os.path.join(args.dir, "expect.json"), "w") as f:
        json.dump(expect, f, indent=2)
    print(os.path.join(args.dir, "prometheus.yml"))
    return 0


def http_get(url, timeout=3):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
    except OSError as e:
        return None, str(e)


def prom_api(base, path, **params):
    status, body = http_get(f"{base}{path}?{urllib.parse.urlencode(params)}")
    if status != 200:
        return None
    return json.loads(body).get("data")


def eventually(seconds_, fn):
    deadline = time.time() + seconds_
    while True:
        value = fn()
        if value or time.time() > deadline:
            return value
        time.sleep(0.5)


def live_assert(args):
    c = Checks()
    with open(os.path.join(args.dir, "expect.json")) as f:
        expect = json.load(f)
    base = args.prometheus
    central, sidecar = expect["central"], expect["sidecar"]

    def targets_of(job):
        data = prom_api(base, "/api/v1/targets", state="active") or {}
        return [t for t in data.get("activeTargets") or [] if t["labels"].get("job") == job]

    def all_up(job, n):
        ts = targets_of(job)
        return ts if len(ts) == n and all(t["health"] == "up" for t in ts) else None

    ts = eventually(30, lambda: all_up(central["job"], len(central["targets"]))) or targets_of(central["job"])
    c.check(f"Prometheus: job {central['job']} (the ScrapeConfig) has {len(central['targets'])} targets, all up",
            len(ts) == len(central["targets"]) and all(t["health"] == "up" for t in ts),
            "; ".join(f"{t['labels'].get('instance')}: {t['health']} {t['lastError']}" for t in ts))
    for name in central["targets"]:
        mine = [t for t in ts if t["labels"].get("instance") == name]
        want_url = f"{central['url']}/probe?target={name}"
        c.check(f"Prometheus: target {name!r} has instance={name!r}, is scraped at {want_url} "
                f"(the Service address rewritten to the test exporter), up, no error",
                len(mine) == 1 and mine[0]["scrapeUrl"] == want_url and mine[0]["health"] == "up"
                and mine[0]["lastError"] == "", str(mine))

    def mysql_up(job, instance):
        r = prom_api(base, "/api/v1/query", query=f'mysql_up{{job="{job}",instance="{instance}"}}')
        return r["result"] if r and r.get("result") else None

    for name in central["targets"]:
        r = eventually(15, lambda: mysql_up(central["job"], name))
        c.check(f"Prometheus: mysql_up{{instance={name!r}}} == 1 (the exporter probed that target over its "
                f"own connection)", r and len(r) == 1 and r[0]["value"][1] == "1", str(r))
        labels = r[0]["metric"] if r else {}
        c.check(f"Prometheus: the probe of {name!r} carries no `target` label (one target per probe)",
                r and "target" not in labels, str(labels))

    ts = eventually(30, lambda: all_up(sidecar["job"], 1)) or targets_of(sidecar["job"])
    c.check(f"Prometheus: job {sidecar['job']} (the PodMonitor's endpoint and relabelings) is up with "
            f"instance={sidecar['instance']!r}",
            len(ts) == 1 and ts[0]["health"] == "up" and ts[0]["labels"].get("instance") == sidecar["instance"]
            and ts[0]["scrapeUrl"] == f"{sidecar['url']}/metrics", str(ts))
    r = eventually(15, lambda: mysql_up(sidecar["job"], sidecar["instance"]))
    c.check(f"Prometheus: mysql_up{{instance={sidecar['instance']!r}}} == 1 (the sidecar's account from its "
            f"first-start script)", r and r[0]["value"][1] == "1", str(r))
    skipped = prom_api(base, "/api/v1/query",
                       query=f'mysql_exporter_collector_skipped{{job="{sidecar["job"]}"}} == 1')
    c.check("Prometheus: the first-start script's grants are enough: no collector skipped for a missing "
            "privilege", skipped is not None and not skipped.get("result"), str(skipped))
    regex = expect["up_job_regex"]
    r = prom_api(base, "/api/v1/query", query=f'count by (job) (up{{job=~"{regex}"}})')
    jobs = {s["metric"].get("job"): s["value"][1] for s in (r or {}).get("result") or []}
    c.check(f"Prometheus: the rules' up{{job=~{regex!r}}} (MySQLExporterScrapeFailing) sees both jobs",
            jobs.get(central["job"]) == str(len(central["targets"])) and jobs.get(sidecar["job"]) == "1", str(jobs))
    return 1 if c.failed else 0


def main():
    ap = argparse.ArgumentParser(description="the Python half of scripts/check_kubernetes.sh")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("static")
    s.add_argument("--exporter-bin", required=True)
    lf = sub.add_parser("live-files")
    lf.add_argument("dir")
    lf.add_argument("--db-port", type=int, required=True)
    lf.add_argument("--password-file", required=True)
    lf.add_argument("--sidecar-port", type=int, required=True)
    lf.add_argument("--central-port", type=int, required=True)
    la = sub.add_parser("live-assert")
    la.add_argument("dir")
    la.add_argument("--prometheus", required=True)
    args = ap.parse_args()
    return {"static": static, "live-files": live_files, "live-assert": live_assert}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
