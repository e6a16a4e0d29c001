#!/usr/bin/env python3
"""The checks of scripts/check_kubernetes.sh that need Python: run by that script under the
virtualenv it makes (target/k8s-venv: PyYAML and kubernetes-validate), not on its own.

    check_kubernetes.py static --exporter-bin BIN
        every manifest under deploy/kubernetes/ parses; the core kinds validate against the
        Kubernetes JSON schemas that kubernetes-validate bundles (strict: unknown fields are
        errors), offline; the prometheus-operator kinds, whose schemas it does not bundle,
        are checked by hand (known fields, selectors, ports, paths, relabelings); the
        exporter containers (image, args, ports, probes, securityContext, resources, the
        password as a file) agree with the Dockerfile, Cargo.toml, their ConfigMap, Secret
        and Service; each exporter config passes `BIN config check`; the PrometheusRule is
        what scripts/render_kubernetes.py makes of the rules file.
    check_kubernetes.py live-files DIR --db-port P --password-file F --sidecar-port S --central-port C
        writes what the live test runs: both exporter configs and container args with only
        addresses and paths substituted, the sidecar's first-start script, and a
        prometheus.yml whose jobs are the ScrapeConfig and the PodMonitor translated to
        plain scrape configs (their relabelings verbatim, camelCase keys in snake_case).
    check_kubernetes.py live-assert DIR --prometheus URL
        asks that Prometheus' HTTP API whether both jobs' targets are up with the right
        `instance`, and mysql_up{instance=...} == 1.

Prints one `ok - ...` / `not ok - ...` line per check (and `# ...` notes); the shell script
counts them.
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
import urllib.parse
import urllib.request

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
K8S = os.path.join(ROOT, "deploy", "kubernetes")
RULES = os.path.join(ROOT, "alerting-rules", "mysql_pool_exporter.rules.yml")
SETS = ("sidecar", "central")
EXPORTER_IMAGE = "mysql_pool_exporter"
EXPORTER_PORT = 9207
PORT_NAME = "http-metrics"
PLACEHOLDER = "CHANGE-ME"
# The oldest Kubernetes the manifests are meant for; the newest bundled schemas are checked too.
KUBE_MIN = "1.30"
OPERATOR_GROUP = "monitoring.coreos.com"

# Fields of the prometheus-operator CRDs these manifests use, as the CRDs of
# prometheus-operator v0.93.0 (example/prometheus-operator-crd/) define them: a key not
# listed here is a typo, or needs a newer operator than this list knows.
PODMONITOR_SPEC = {
    "attachMetadata", "bodySizeLimit", "convertClassicHistogramsToNHCB", "fallbackScrapeProtocol",
    "jobLabel", "keepDroppedTargets", "labelLimit", "labelNameLengthLimit", "labelValueLengthLimit",
    "namespaceSelector", "nativeHistogramBucketLimit", "nativeHistogramMinBucketFactor",
    "podMetricsEndpoints", "podTargetLabels", "sampleLimit", "scrapeClass", "scrapeClassicHistograms",
    "scrapeNativeHistograms", "scrapeProtocols", "selector", "selectorMechanism", "targetLimit",
}
PODMONITOR_ENDPOINT = {
    "authorization", "basicAuth", "bearerTokenSecret", "enableHttp2", "filterRunning",
    "followRedirects", "honorLabels", "honorTimestamps", "interval", "metricRelabelings", "noProxy",
    "oauth2", "params", "path", "port", "portNumber", "proxyConnectHeader", "proxyFromEnvironment",
    "proxyUrl", "relabelings", "scheme", "scrapeTimeout", "targetPort", "tlsConfig",
    "trackTimestampsStaleness",
}
SCRAPECONFIG_SPEC = {
    "authorization", "basicAuth", "bodySizeLimit", "enableCompression", "enableHTTP2", "honorLabels",
    "honorTimestamps", "jobName", "keepDroppedTargets", "labelLimit", "labelNameLengthLimit",
    "labelValueLengthLimit", "metricRelabelings", "metricsPath", "nativeHistogramBucketLimit",
    "nativeHistogramMinBucketFactor", "noProxy", "oauth2", "params", "proxyConnectHeader",
    "proxyFromEnvironment", "proxyUrl", "relabelings", "sampleLimit", "scheme", "scrapeClass",
    "scrapeClassicHistograms", "scrapeInterval", "scrapeProtocols", "scrapeTimeout", "staticConfigs",
    "targetLimit", "tlsConfig", "trackTimestampsStaleness",
}
STATIC_CONFIG = {"labels", "targets"}
RELABEL = {"action", "modulus", "regex", "replacement", "separator", "sourceLabels", "targetLabel"}
RELABEL_ACTIONS = {"replace", "keep", "drop", "hashmod", "labelmap", "labeldrop", "labelkeep",
                   "lowercase", "uppercase", "keepequal", "dropequal"}
RULE_GROUP = {"interval", "labels", "limit", "name", "partial_response_strategy", "query_offset", "rules"}
RULE = {"alert", "annotations", "expr", "for", "keep_firing_for", "labels", "record"}
DURATION = re.compile(r"^(0|(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?)$")


class Checks:
    def __init__(self):
        self.failed = 0

    def check(self, name, cond, detail=""):
        if cond:
            print(f"ok - {name}", flush=True)
        else:
            self.failed += 1
            print(f"not ok - {name}" + (f": {detail}" if detail else ""), flush=True)
        return bool(cond)


def note(msg):
    print(f"# {msg}", flush=True)


def rel(path):
    return os.path.relpath(path, ROOT)


# ----------------------------------------------------------------- loading
class Doc:
    def __init__(self, path, obj):
        self.path = path
        self.obj = obj
        self.set = os.path.basename(os.path.dirname(path)) if os.path.dirname(path) != K8S else None

    @property
    def kind(self):
        return self.obj.get("kind")

    @property
    def name(self):
        return (self.obj.get("metadata") or {}).get("name")

    @property
    def namespace(self):
        return (self.obj.get("metadata") or {}).get("namespace")

    def __str__(self):
        return f"{rel(self.path)}: {self.kind}/{self.name}"


def manifest_files():
    return sorted(p for p in glob.glob(os.path.join(K8S, "**", "*"), recursive=True)
                  if p.endswith((".yaml", ".yml", ".json")) and os.path.isfile(p))


def load_docs(c):
    docs = []
    for path in manifest_files():
        try:
            with open(path, encoding="utf-8") as f:
                objs = [o for o in yaml.safe_load_all(f) if o is not None]
        except yaml.YAMLError as e:
            c.check(f"{rel(path)} parses as YAML", False, str(e).replace("\n", " "))
            continue
        shaped = all(isinstance(o, dict) and o.get("apiVersion") and o.get("kind")
                     and isinstance(o.get("metadata"), dict) and o["metadata"].get("name") for o in objs)
        c.check(f"{rel(path)} parses as YAML: {len(objs)} document(s), each with apiVersion, kind and "
                f"metadata.name", objs and shaped)
        docs += [Doc(path, o) for o in objs if isinstance(o, dict)]
    return docs


def find(docs, kind, set_=None, name=None):
    return [d for d in docs if d.kind == kind and (set_ is None or d.set == set_)
            and (name is None or d.name == name)]


def one(docs, kind, set_, name=None):
    found = find(docs, kind, set_, name)
    return found[0] if len(found) == 1 else None


def workloads(docs, set_=None):
    return [d for d in docs if d.kind in ("Deployment", "StatefulSet", "DaemonSet")
            and (set_ is None or d.set == set_)]


def pod_spec(workload):
    return workload.obj["spec"]["template"]["spec"]


def pod_labels(workload):
    return (workload.obj["spec"]["template"].get("metadata") or {}).get("labels") or {}


def is_exporter(container):
    image = container.get("image", "")
    return image.rsplit("/", 1)[-1].split(":")[0] == EXPORTER_IMAGE


def exporter_containers(docs):
    for w in workloads(docs):
        for ctr in pod_spec(w).get("containers") or []:
            if is_exporter(ctr):
                yield w, ctr


def arg(args, name):
    for i, a in enumerate(args or []):
        if a.startswith(name + "="):
            return a[len(name) + 1:]
        if a == name and i + 1 < len(args):
            return args[i + 1]
    return None


def selects(selector, labels):
    """A label selector (matchLabels, or a Service's plain map) matches `labels`."""
    if not selector or "matchExpressions" in selector:
        return False  # matchExpressions are not used here: say no rather than guess
    match = selector["matchLabels"] if "matchLabels" in selector else selector
    return bool(match) and all(labels.get(k) == v for k, v in match.items())


def volume_for_mount(pod, mount_path, container):
    """The pod volume mounted at mount_path in the container (or None)."""
    for m in container.get("volumeMounts") or []:
        if m.get("mountPath") == mount_path:
            for v in pod.get("volumes") or []:
                if v.get("name") == m.get("name"):
                    return v, m
    return None, None


def exporter_config(docs, workload, container):
    """(ConfigMap doc, key, config text, config path) for the container's --config.file."""
    path = arg(container.get("args"), "--config.file") or arg(container.get("command"), "--config.file")
    if not path:
        return None, None, None, None
    vol, _ = volume_for_mount(pod_spec(workload), os.path.dirname(path), container)
    if not vol or "configMap" not in vol:
        return None, None, None, path
    cm = one(docs, "ConfigMap", workload.set, vol["configMap"]["name"])
    key = os.path.basename(path)
    text = ((cm.obj.get("data") or {}).get(key)) if cm else None
    return cm, key, text, path


def quantity(q):
    """A Kubernetes quantity as a float (CPU in cores, memory in bytes)."""
    s = str(q)
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9}
    for u, f in sorted(units.items(), key=lambda x: -len(x[0])):
        if s.endswith(u):
            return float(s[: -len(u)]) * f
    return float(s)


def seconds(d):
    m = re.fullmatch(r"(\d+)(ms|s|m|h)", str(d))
    if not m:
        return None
    return int(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def up_job_regex():
    """The job regex of the rules' exporter-scrape alert, `up{job=~"..."}`."""
    with open(RULES, encoding="utf-8") as f:
        m = re.search(r'\bup\{job=~"([^"]+)"\}', f.read())
    return m.group(1) if m else None


def cargo_version():
    with open(os.path.join(ROOT, "Cargo.toml"), encoding="utf-8") as f:
        m = re.search(r'^\[package\][^\[]*?^version\s*=\s*"([^"]+)"', f.read(), re.M | re.S)
    return m.group(1) if m else None


def dockerfile():
    """(USER uid, gid), EXPOSE ports, the CMD's --config.file of the Dockerfile."""
    with open(os.path.join(ROOT, "Dockerfile"), encoding="utf-8") as f:
        text = f.read()
    user = re.findall(r"^USER\s+(\d+):(\d+)\s*$", text, re.M)
    expose = [int(p) for line in re.findall(r"^EXPOSE\s+(.+)$", text, re.M) for p in line.split()]
    cmd = re.findall(r"^CMD\s+(\[.*\])\s*$", text, re.M)
    config = arg(json.loads(cmd[-1]), "--config.file") if cmd else None
    return (tuple(int(x) for x in user[-1]) if user else None), expose, config


def dsn_parts(dsn):
    m = re.fullmatch(r"mysql://([^:@/]+)(?::[^@]*)?@([^:/]+)(?::(\d+))?(/.*)?", dsn)
    return (m.group(1), m.group(2), int(m.group(3) or 3306)) if m else (None, None, None)


def relabel_to_prometheus(r):
    """A prometheus-operator RelabelConfig as a Prometheus relabel_config: same values."""
    keys = {"sourceLabels": "source_labels", "targetLabel": "target_label"}
    out = {keys.get(k, k): v for k, v in r.items()}
    if "action" in out:
        out["action"] = out["action"].lower()
    return out


def relabel(labels, rules):
    """Prometheus' relabeling (replace only), enough to check the recipe without Prometheus."""
    labels = dict(labels)
    for r in rules:
        if r.get("action", "replace").lower() != "replace":
            continue
        value = r.get("separator", ";").join(labels.get(s, "") for s in r.get("sourceLabels", []))
        m = re.fullmatch(r.get("regex", "(.*)"), value)
        if m and r.get("targetLabel"):
            repl = re.sub(r"\$\{?(\d+)\}?", lambda g: m.group(int(g.group(1))) or "", r.get("replacement", "$1"))
            if repl:
                labels[r["targetLabel"]] = repl
            else:
                labels.pop(r["targetLabel"], None)
    return labels


# ----------------------------------------------------------------- static checks
def check_schemas(c, docs):
    import kubernetes_validate
    from kubernetes_validate import utils as kvu

    versions = [KUBE_MIN, kvu.latest_version()]
    versions = sorted(set(versions), key=lambda v: tuple(int(x) for x in v.split(".")))
    note(f"kubernetes-validate {kubernetes_validate.__version__}: bundled schemas for Kubernetes "
         f"{kvu.all_versions()[0]} to {kvu.all_versions()[-1]}; checking against {' and '.join(versions)} (strict)")
    for d in docs:
        if d.obj.get("apiVersion", "").split("/")[0] == OPERATOR_GROUP:
            continue
        problems = []
        for v in versions:
            try:
                kubernetes_validate.validate(d.obj, v, strict=True)
            except kubernetes_validate.ValidationError as e:
                problems.append(f"{v}: {'.'.join(str(p) for p in e.path)}: {e.message}")
            except kubernetes_validate.SchemaNotFoundError as e:
                problems.append(f"{v}: no schema ({e.message})")
        c.check(f"{d} validates against the Kubernetes {' and '.join(versions)} schemas (strict)",
                not problems, "; ".join(problems))


def check_relabelings(c, where, rules):
    bad = []
    for i, r in enumerate(rules or []):
        unknown = set(r) - RELABEL
        if unknown:
            bad.append(f"[{i}] unknown {sorted(unknown)}")
        if r.get("action", "replace").lower() not in RELABEL_ACTIONS:
            bad.append(f"[{i}] action {r.get('action')!r}")
        if r.get("action", "replace").lower() == "replace" and not r.get("targetLabel"):
            bad.append(f"[{i}] replace without targetLabel")
        if not isinstance(r.get("sourceLabels", []), list):
            bad.append(f"[{i}] sourceLabels is not a list")
    c.check(f"{where}: relabelings use only RelabelConfig fields, each replace has a targetLabel", not bad,
            "; ".join(bad))


def check_podmonitor(c, docs, d, job_regex):
    o = d.obj
    spec = o.get("spec") or {}
    c.check(f"{d}: apiVersion monitoring.coreos.com/v1, spec fields known to the PodMonitor CRD",
            o.get("apiVersion") == f"{OPERATOR_GROUP}/v1" and set(spec) <= PODMONITOR_SPEC,
            f"{o.get('apiVersion')}, unknown {sorted(set(spec) - PODMONITOR_SPEC)}")
    eps = spec.get("podMetricsEndpoints") or []
    c.check(f"{d}: has podMetricsEndpoints, fields known to the CRD", eps and all(set(e) <= PODMONITOR_ENDPOINT for e in eps),
            str([sorted(set(e) - PODMONITOR_ENDPOINT) for e in eps]))
    selected = [w for w in workloads(docs, d.set) if selects(spec.get("selector"), pod_labels(w))]
    c.check(f"{d}: selector {spec.get('selector')} matches the pods of {[str(w.name) for w in selected]}",
            selected, "matches no workload of its directory")
    for e in eps:
        port = e.get("port")
        ctrs = [ctr for w in selected for ctr in pod_spec(w)["containers"]
                if any(p.get("name") == port for p in ctr.get("ports") or [])]
        c.check(f"{d}: endpoint port {port!r} is a named port of the exporter container of the selected pods",
                ctrs and all(is_exporter(x) for x in ctrs), f"containers {[x.get('name') for x in ctrs]}")
        c.check(f"{d}: endpoint path is /metrics", e.get("path") == "/metrics", repr(e.get("path")))
        iv, to = seconds(e.get("interval", "30s")), seconds(e.get("scrapeTimeout", "10s"))
        c.check(f"{d}: scrapeTimeout ({e.get('scrapeTimeout')}) below interval ({e.get('interval')})",
                iv and to and to < iv and DURATION.match(str(e.get("interval", ""))))
        check_relabelings(c, str(d), e.get("relabelings"))
        after = relabel({"__address__": "10.0.0.7:9207", "__meta_kubernetes_pod_name": "mysql-0"},
                        e.get("relabelings") or [])
        c.check(f"{d}: the relabelings set instance to the pod's name (as the rules and dashboards name a server)",
                after.get("instance") == "mysql-0", str(after))
    job = f"{d.namespace or 'NAMESPACE'}/{d.name}"
    c.check(f"{d}: its job label {job!r} matches the rules' up{{job=~{job_regex!r}}}",
            job_regex and re.fullmatch(job_regex, job) and not spec.get("jobLabel"))


def check_scrapeconfig(c, docs, d, job_regex):
    o = d.obj
    spec = o.get("spec") or {}
    c.check(f"{d}: apiVersion monitoring.coreos.com/v1alpha1, spec fields known to the ScrapeConfig CRD",
            o.get("apiVersion") == f"{OPERATOR_GROUP}/v1alpha1" and set(spec) <= SCRAPECONFIG_SPEC,
            f"{o.get('apiVersion')}, unknown {sorted(set(spec) - SCRAPECONFIG_SPEC)}")
    c.check(f"{d}: metricsPath is /probe", spec.get("metricsPath") == "/probe", repr(spec.get("metricsPath")))
    iv, to = seconds(spec.get("scrapeInterval", "")), seconds(spec.get("scrapeTimeout", ""))
    c.check(f"{d}: scrapeTimeout ({spec.get('scrapeTimeout')}) below scrapeInterval ({spec.get('scrapeInterval')})",
            iv and to and to < iv)
    statics = spec.get("staticConfigs") or []
    c.check(f"{d}: staticConfigs use known fields and list targets",
            statics and all(set(s) <= STATIC_CONFIG and s.get("targets") for s in statics))
    check_relabelings(c, str(d), spec.get("relabelings"))
    names = [t for s in statics for t in s.get("targets") or []]
    # The exporter it probes: the Service of this directory in front of the exporter pods.
    svcs = [s for s in find(docs, "Service", d.set)
            if any(selects((s.obj.get("spec") or {}).get("selector"), pod_labels(w))
                   for w, _ in exporter_containers(docs) if w.set == d.set)]
    c.check(f"{d}: one Service of its directory selects the exporter pods", len(svcs) == 1,
            str([s.name for s in svcs]))
    if len(svcs) == 1:
        svc = svcs[0]
        ports = [p for p in svc.obj["spec"].get("ports") or [] if p.get("name") == PORT_NAME]
        want = f"{svc.name}.{svc.namespace}.svc:{ports[0]['port'] if ports else '?'}"
        for name in names:
            after = relabel({"__address__": name, "job": f"scrapeConfig/{d.namespace}/{d.name}"},
                            spec.get("relabelings") or [])
            c.check(f"{d}: target {name!r} -> /probe?target={name} at {want}, instance={name!r}",
                    after.get("__param_target") == name and after.get("instance") == name
                    and after.get("__address__") == want and d.namespace == svc.namespace, str(after))
    # The names are exactly the exporter config's targets.
    cfg_names = set()
    for w, ctr in exporter_containers(docs):
        if w.set == d.set:
            _, _, text, _ = exporter_config(docs, w, ctr)
            cfg_names |= {t.get("name") for t in (yaml.safe_load(text or "") or {}).get("targets") or []}
    c.check(f"{d}: static targets {names} are the exporter config's targets {sorted(cfg_names)}",
            sorted(names) == sorted(cfg_names) and len(names) == len(set(names)))
    job = spec.get("jobName") or f"scrapeConfig/{d.namespace}/{d.name}"
    c.check(f"{d}: its job label {job!r} matches the rules' up{{job=~{job_regex!r}}}",
            job_regex and re.fullmatch(job_regex, job))


def check_prometheusrule(c, d):
    o = d.obj
    spec = o.get("spec") or {}
    with open(RULES, encoding="utf-8") as f:
        rules = yaml.safe_load(f)
    c.check(f"{d}: apiVersion monitoring.coreos.com/v1, spec holds groups only",
            o.get("apiVersion") == f"{OPERATOR_GROUP}/v1" and set(spec) == {"groups"})
    groups = spec.get("groups") or []
    bad = [f"{g.get('name')}: {sorted(set(g) - RULE_GROUP)}" for g in groups if set(g) - RULE_GROUP or not g.get("name")]
    bad += [f"{r.get('alert') or r.get('record')}: {sorted(set(r) - RULE)}" for g in groups for r in g.get("rules") or []
            if set(r) - RULE or not r.get("expr") or bool(r.get("alert")) == bool(r.get("record"))]
    c.check(f"{d}: groups and rules use only the CRD's fields; each rule has expr and one of alert/record",
            groups and not bad, "; ".join(bad))
    c.check(f"{d}: its groups are exactly those of {rel(RULES)} "
            f"({len(rules.get('groups') or [])} group(s), {sum(len(g.get('rules') or []) for g in rules.get('groups') or [])} rules)",
            spec.get("groups") == rules.get("groups"))
    p = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "render_kubernetes.py"), "--check"],
                       capture_output=True, text=True)
    c.check(f"{d}: scripts/render_kubernetes.py --check (the committed file is what the rules file gives)",
            p.returncode == 0, (p.stderr or p.stdout).strip()[-600:])


def check_exporter_container(c, docs, w, ctr, exporter_bin):
    where = f"{rel(w.path)}: {w.kind}/{w.name} container {ctr.get('name')}"
    pod = pod_spec(w)
    version = cargo_version()
    (uid_gid, exposed, image_config) = dockerfile()
    image = ctr.get("image", "")
    c.check(f"{where}: image {image} is {EXPORTER_IMAGE}:<Cargo.toml version {version}>",
            image.rsplit("/", 1)[-1] == f"{EXPORTER_IMAGE}:{version}")
    args = ctr.get("args") or []
    config_path = arg(args, "--config.file")
    c.check(f"{where}: args pass --config.file={config_path}, the image's default (Dockerfile CMD)",
            config_path and config_path == image_config and not ctr.get("command"), f"Dockerfile: {image_config}")
    listen = arg(args, "--web.listen-address") or f":{EXPORTER_PORT}"
    ports = [p for p in ctr.get("ports") or [] if p.get("name") == PORT_NAME]
    c.check(f"{where}: port {EXPORTER_PORT} named {PORT_NAME} (TCP), where --web.listen-address={listen} listens and "
            f"the Dockerfile EXPOSEs",
            len(ports) == 1 and ports[0].get("containerPort") == EXPORTER_PORT
            and ports[0].get("protocol", "TCP") == "TCP" and listen.rsplit(":", 1)[-1] == str(EXPORTER_PORT)
            and EXPORTER_PORT in exposed)
    for probe, path in (("livenessProbe", "/-/healthy"), ("readinessProbe", "/-/ready")):
        get = (ctr.get(probe) or {}).get("httpGet") or {}
        c.check(f"{where}: {probe} GETs {path} on {PORT_NAME}",
                get.get("path") == path and get.get("port") in (PORT_NAME, EXPORTER_PORT)
                and get.get("scheme", "HTTP") == "HTTP", str(get))
    sc = ctr.get("securityContext") or {}
    psc = pod.get("securityContext") or {}
    seccomp = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
    want_ids = uid_gid or (None, None)
    c.check(f"{where}: runs as the image's user {want_ids[0]}:{want_ids[1]} (Dockerfile USER), non-root",
            sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True
            and (sc.get("runAsUser", psc.get("runAsUser")), sc.get("runAsGroup", psc.get("runAsGroup"))) == want_ids,
            str(sc))
    c.check(f"{where}: readOnlyRootFilesystem, no privilege escalation, capabilities ALL dropped, seccomp "
            f"RuntimeDefault",
            sc.get("readOnlyRootFilesystem") is True and sc.get("allowPrivilegeEscalation") is False
            and "ALL" in ((sc.get("capabilities") or {}).get("drop") or []) and not (sc.get("capabilities") or {}).get("add")
            and seccomp == "RuntimeDefault" and not sc.get("privileged"), str(sc))
    res = ctr.get("resources") or {}
    req, lim = res.get("requests") or {}, res.get("limits") or {}
    ok = all(k in req and k in lim for k in ("cpu", "memory"))
    ok = ok and all(quantity(req[k]) <= quantity(lim[k]) for k in ("cpu", "memory"))
    # docs/benchmarks.md: RSS 10.9 MiB for one target; a limit below that would OOM-kill it.
    ok = ok and quantity(lim["memory"]) >= 2 * 10.9 * 2**20 and quantity(req["memory"]) >= 10.9 * 2**20
    c.check(f"{where}: cpu and memory requests <= limits; memory request >= the measured RSS (10.9 MiB, "
            f"docs/benchmarks.md), limit >= twice it", ok, str(res))
    env = ctr.get("env") or []
    secretish = re.compile(r"(?i)pass|pwd|secret|dsn|token")
    leaks = [e.get("name") for e in env if secretish.search(e.get("name", "")) or "valueFrom" in e]
    leaks += ["envFrom"] if ctr.get("envFrom") else []
    c.check(f"{where}: no password in the environment (no env var named like one, no valueFrom, no envFrom)",
            not leaks, str(leaks))

    # The config: a ConfigMap mounted where --config.file points; every password_file is a key
    # of a Secret mounted as a file.
    cm, key, text, _ = exporter_config(docs, w, ctr)
    c.check(f"{where}: --config.file is key {key!r} of ConfigMap {cm.name if cm else None!r} mounted at its "
            f"directory", cm is not None and text is not None)
    if not text:
        return
    cfg = yaml.safe_load(text) or {}
    for t in cfg.get("targets") or []:
        pw = t.get("password_file")
        vol, mount = volume_for_mount(pod, os.path.dirname(pw or ""), ctr)
        secret = one(docs, "Secret", w.set, ((vol or {}).get("secret") or {}).get("secretName"))
        keys = set((secret.obj.get("stringData") or {}) | (secret.obj.get("data") or {})) if secret else set()
        mode = ((vol or {}).get("secret") or {}).get("defaultMode", 0o644)
        fs_group = psc.get("fsGroup")
        c.check(f"{where}: target {t.get('name')!r}: password_file {pw} is key of Secret "
                f"{secret.name if secret else None!r}, mounted read-only, mode {mode:#o} (no world bits), "
                f"readable through fsGroup {fs_group}",
                pw and secret and os.path.basename(pw) in keys and mount.get("readOnly") is True
                and not (mode & 0o007) and (mode & 0o040) and fs_group is not None, str(vol))
        c.check(f"{where}: target {t.get('name')!r}: no password in the DSN",
                ":" not in t.get("dsn", "").split("@")[0].replace("mysql://", ""))

    # `config check` on the very text, with only the password_file paths made to exist.
    with tempfile.TemporaryDirectory(prefix="check_kubernetes.") as tmp:
        body = text
        for i, t in enumerate(cfg.get("targets") or []):
            pw = t.get("password_file")
            if pw:
                local = os.path.join(tmp, f"password-{i}")
                with open(local, "w") as f:
                    f.write("not-the-password\n")
                body = body.replace(f"password_file: {pw}\n", f"password_file: {local}\n")
        path = os.path.join(tmp, "config.yml")
        with open(path, "w") as f:
            f.write(body)
        if not (exporter_bin and os.access(exporter_bin, os.X_OK)):
            c.check(f"{where}: `config check` of ConfigMap {cm.name}/{key}", False,
                    f"no exporter binary at {exporter_bin} (build it, or set EXPORTER_BIN)")
            return
        p = subprocess.run([exporter_bin, "config", "check", path], capture_output=True, text=True)
        c.check(f"{where}: `mysql_pool_exporter config check` accepts ConfigMap {cm.name}/{key} "
                f"(password_file paths swapped for temp files)",
                p.returncode == 0 and body.count(tmp) == len([t for t in cfg.get("targets") or [] if t.get("password_file")]),
                (p.stderr or p.stdout).strip()[-400:])


def check_secrets(c, docs):
    for s in find(docs, "Secret"):
        string_data = s.obj.get("stringData") or {}
        c.check(f"{s}: holds only the {PLACEHOLDER} placeholder (no real password committed)",
                string_data and not s.obj.get("data") and all(v == PLACEHOLDER for v in string_data.values()),
                str(sorted(string_data)))


def check_services(c, docs):
    for s in find(docs, "Service"):
        spec = s.obj.get("spec") or {}
        backing = [w for w in workloads(docs, s.set) if selects(spec.get("selector"), pod_labels(w))]
        c.check(f"{s}: selects the pods of {[w.name for w in backing]}", backing)
        for p in spec.get("ports") or []:
            tp = p.get("targetPort", p.get("port"))
            found = [cp for w in backing for ctr in pod_spec(w)["containers"] for cp in ctr.get("ports") or []
                     if (cp.get("name") == tp if isinstance(tp, str) else cp.get("containerPort") == tp)]
            c.check(f"{s}: port {p.get('name')} {p.get('port')} -> targetPort {tp!r} is a container port of those "
                    f"pods", found)
            if p.get("name") == PORT_NAME:
                c.check(f"{s}: serves the exporter on {EXPORTER_PORT} and publishes not-ready addresses "
                        f"(/-/ready waits for a target to answer, which after start-up needs a scrape)",
                        p.get("port") == EXPORTER_PORT and found and found[0].get("containerPort") == EXPORTER_PORT
                        and spec.get("publishNotReadyAddresses") is True)
    for w in find(docs, "StatefulSet"):
        svc = one(docs, "Service", w.set, w.obj["spec"].get("serviceName"))
        c.check(f"{w}: serviceName {w.obj['spec'].get('serviceName')!r} is a headless Service of its directory",
                svc is not None and svc.obj["spec"].get("clusterIP") == "None")


def check_namespaces(c, docs):
    for set_ in SETS:
        nss = {d.namespace for d in docs if d.set == set_}
        shown = "none set: `kubectl apply -n`" if nss == {None} else ", ".join(sorted(str(n) for n in nss))
        c.check(f"{set_}/: every object in the same namespace ({shown})", len(nss) == 1)


def check_sidecar(c, docs):
    """The sidecar's own wiring: DSN on the pod's loopback, the first-start script's account."""
    for w, ctr in exporter_containers(docs):
        if w.set != "sidecar":
            continue
        _, _, text, _ = exporter_config(docs, w, ctr)
        cfg = yaml.safe_load(text or "") or {}
        others = [x for x in pod_spec(w)["containers"] if x is not ctr]
        mysql_ports = [p.get("containerPort") for x in others for p in x.get("ports") or []]
        for t in cfg.get("targets") or []:
            user, host, port = dsn_parts(t.get("dsn", ""))
            c.check(f"{rel(w.path)}: the sidecar's DSN {t.get('dsn')} is the pod's loopback and the MySQL "
                    f"container's port", host == "127.0.0.1" and port in mysql_ports, f"ports {mysql_ports}")
            init = one(docs, "ConfigMap", "sidecar", "mysql-initdb")
            script = "\n".join((init.obj.get("data") or {}).values()) if init else ""
            mysql = [x for x in others if any(m.get("mountPath") == "/docker-entrypoint-initdb.d"
                                              for m in x.get("volumeMounts") or [])]
            reads = re.findall(r"\$\(cat ([^\s)]+)\)", script)
            mounted = mysql and all(volume_for_mount(pod_spec(w), os.path.dirname(r), mysql[0])[0]
                                    == volume_for_mount(pod_spec(w), os.path.dirname(t["password_file"]), ctr)[0]
                                    for r in reads)
            c.check(f"{rel(w.path)}: the first-start script creates '{user}'@'{host}' with the password file the "
                    f"exporter reads ({t.get('password_file')}), mounted from the same Secret",
                    f"CREATE USER '{user}'@'{host}'" in script and reads == [t.get("password_file")] and mounted)


def static(args):
    c = Checks()
    docs = load_docs(c)
    kinds = {}
    for d in docs:
        kinds.setdefault(d.kind, []).append(d)
    note("kinds: " + ", ".join(f"{k} x{len(v)}" for k, v in sorted(kinds.items())))
    for set_ in SETS:
        c.check(f"deploy/kubernetes/{set_}/ exists and holds no kustomization.yaml (`kubectl apply -f DIR` would "
                f"try to apply it)", os.path.isdir(os.path.join(K8S, set_))
                and not glob.glob(os.path.join(K8S, set_, "kustomization.*")))
    known = {"Deployment", "StatefulSet", "Service", "ConfigMap", "Secret", "PodMonitor", "ScrapeConfig",
             "PrometheusRule"}
    c.check(f"every kind is one this script checks ({', '.join(sorted(known))})", set(kinds) <= known,
            str(sorted(set(kinds) - known)))
    check_schemas(c, docs)
    job_regex = up_job_regex()
    c.check(f"the rules select the exporter's scrapes with up{{job=~{job_regex!r}}}", job_regex)
    for d in find(docs, "PodMonitor"):
        check_podmonitor(c, docs, d, job_regex)
    for d in find(docs, "ScrapeConfig"):
        check_scrapeconfig(c, docs, d, job_regex)
    c.check("sidecar/ has a PodMonitor, central/ a ScrapeConfig, deploy/kubernetes/ one PrometheusRule",
            len(find(docs, "PodMonitor", "sidecar")) == 1 and len(find(docs, "ScrapeConfig", "central")) == 1
            and len(find(docs, "PrometheusRule", None)) == 1 and find(docs, "PrometheusRule")[0].set is None)
    for d in find(docs, "PrometheusRule"):
        check_prometheusrule(c, d)
    exporters = list(exporter_containers(docs))
    c.check("an exporter container in each set: "
            + ", ".join(f"{w.set}/{w.kind}/{w.name}" for w, _ in exporters),
            sorted(w.set for w, _ in exporters) == sorted(SETS))
    for w, ctr in exporters:
        check_exporter_container(c, docs, w, ctr, args.exporter_bin)
    check_secrets(c, docs)
    check_services(c, docs)
    check_namespaces(c, docs)
    check_sidecar(c, docs)
    return 1 if c.failed else 0


# ----------------------------------------------------------------- live test
def load_docs_quietly():
    docs = []
    for path in manifest_files():
        with open(path, encoding="utf-8") as f:
            docs += [Doc(path, o) for o in yaml.safe_load_all(f) if isinstance(o, dict)]
    return docs


def live_files(args):
    """What the live test runs, derived from the manifests with only addresses and paths changed."""
    docs = load_docs_quietly()
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
