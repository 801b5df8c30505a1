#!/usr/bin/env python3
"""Checks the Kubernetes manifests (deployment/k8s) against the code (run by .ci/run and pre-commit).

Renders the base and both overlays with `kubectl kustomize`, then reads the rendered objects
and fails when
  - a service crate (services/<name>/Cargo.toml) has no Deployment + Service named after it
    (`_` → `-`), or a Delos Deployment names no crate;
  - a crate is missing from `delos describe` (what the code says about each service:
    scripts/lib/crates.py runs it from the release build);
  - a container port or probe differs from the service's: its listeners' default ports
    (`ports` of describe: http, and lambo's gRPC port on a Service with appProtocol grpc),
    liveness on /healthz, readiness on /readyz, a startupProbe;
  - a variable the service reads is not set from the ConfigMap or Secret: the service token,
    its Postgres/Redis URL (when it has a database / uses Redis; from the Secret, as they
    carry passwords), every setting whose default URL is another service's port (pointing at
    that service's Service, on its port; `common.reporter.url` → health_check), every
    top-level secret setting; or a secret setting is set from anything but a Secret, or a
    variable is set literally, or a ConfigMap key is no variable of an existing crate's
    settings (a typo the service would silently ignore);
  - any container of any workload may run as root or escalate, or a Delos container lacks a
    read-only root, dropped capabilities, seccomp RuntimeDefault, resources, or a grace period
    longer than its preStop sleep + the HTTP server's shutdown timeout (describe's
    `http.shutdown_timeout_secs`, common::http::SHUTDOWN_TIMEOUT_SECS);
  - dev: the copies of database/init/00_databases.sql, deployment/pgadmin/servers.json,
    deployment/prometheus/rules.yml or deployment/mosquitto/mosquitto.conf differ;
  - prod: a stateless service has < 2 replicas or no HPA/PDB; the NetworkPolicies (evaluated
    for every pair of services) allow a call the code does not make or block one it does,
    Postgres/Redis egress differs from who owns a database / uses Redis, DNS is blocked, or
    the Ingress publishes an internal service / misses a public one;
and finally validates the rendered YAML with kubernetes-validate (strict) against Kubernetes
1.32 (this kubectl's) and the newest version the installed kubernetes-validate knows.
Needs kubectl (with Kustomize), PyYAML and kubernetes-validate (`pip install kubernetes-validate`).
"""

import os
import shutil
import subprocess
import sys
import tempfile
from urllib.parse import urlparse

try:
    import yaml
except ImportError:
    sys.exit("check_k8s: PyYAML is missing (python3 -m pip install pyyaml)")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts", "lib"))
from crates import describe, described, service_crates  # noqa: E402
K8S = "deployment/k8s"
RENDERS = [f"{K8S}/base", f"{K8S}/overlays/dev", f"{K8S}/overlays/prod"]
IMAGE_UID = 10001  # deployment/Dockerfile: USER 10001:10001
KUBE_VERSIONS = ["1.32.0", None]  # None: kubernetes-validate's default, its newest schemas
# Crates whose Deployment may exist before the crate is merged (built on other branches);
# their checks run in full as soon as services/<name>/Cargo.toml exists.
PLANNED = {"lambo_checker", "sensor_api"}
# Stateless but single on purpose (no HPA/PDB, one replica in prod), and why.
SINGLETONS = {"api_updater": "each replica would poll the price APIs on its own"}
# Public without a rate limit section: health_check's status page.
STATUS_PAGES = {"health_check"}
# Files the dev overlay copies (Kustomize loads nothing from outside its directory).
DEV_COPIES = {
    f"{K8S}/overlays/dev/00_databases.sql": "database/init/00_databases.sql",
    f"{K8S}/overlays/dev/servers.json": "deployment/pgadmin/servers.json",
    f"{K8S}/overlays/dev/rules.yml": "deployment/prometheus/rules.yml",
    f"{K8S}/overlays/dev/mosquitto.conf": "deployment/mosquitto/mosquitto.conf",
}
# Where the prod NetworkPolicies expect the Ingress controller and DNS (ingress-nginx, CoreDNS).
INGRESS_CONTROLLER = ("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"})
DNS = ("kube-system", {"k8s-app": "kube-dns"})

ERRORS = []


def fail(where, msg):
    ERRORS.append(f"{where}: {msg}")


def read(rel):
    with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
        return f.read()


# ---------------------------------------------------------------- what the code says


class Crate:
    """A crate of services/ and what `delos describe` says about it (`desc`, None if nothing)."""

    def __init__(self, name, desc):
        self.name = name
        self.k8s = name.replace("_", "-")
        self.env = f"DELOS_{name.upper()}"
        self.desc = desc
        desc = desc or {}
        ports = desc.get("ports") or {}
        self.port = ports.get("http")
        self.grpc_port = ports.get("grpc")
        self.ports = ports
        self.settings = {s["key"]: s for s in desc.get("settings", [])}
        self.env_names = {e for s in self.settings.values() for e in s["env"]}
        self.secret_env = {e for s in self.settings.values() if s["secret"] for e in s["env"]}
        deps = desc.get("depends_on") or {}
        self.postgres, self.redis_dep = deps.get("postgres"), deps.get("redis")
        self.pg, self.redis = self.postgres is not None, self.redis_dep is not None
        sections = {s["key"] for s in desc.get("sections", [])}
        self.public = "rate_limit" in sections or name in STATUS_PAGES
        # (setting, callee crate name, callee listener) for every call to another service.
        self.calls = [(c["setting"], c["service"], c["listener"]) for c in deps.get("services", [])]
        self.secret_fields = [k for k, s in self.settings.items() if s["secret"] and "." not in k]


def crates():
    services = described(ROOT)
    return [Crate(c, services.get(c)) for c in service_crates(ROOT)]


def shutdown_timeout():
    return describe(ROOT)["http"]["shutdown_timeout_secs"]


# ---------------------------------------------------------------- rendering


def render(rel):
    if shutil.which("kubectl") is None:
        fail(rel, "kubectl is not installed (it renders the manifests: kubectl kustomize)")
        return None, []
    out = subprocess.run(["kubectl", "kustomize", os.path.join(ROOT, rel)], capture_output=True, text=True)
    if out.returncode != 0:
        fail(rel, f"kubectl kustomize failed: {out.stderr.strip()[:500]}")
        return None, []
    return out.stdout, [d for d in yaml.safe_load_all(out.stdout) if d]


class Render:
    def __init__(self, rel, docs):
        self.rel, self.docs = rel, docs
        self.by = {}
        for d in docs:
            self.by.setdefault(d["kind"], {})[d["metadata"]["name"]] = d

    def get(self, kind, name):
        return self.by.get(kind, {}).get(name)

    def all(self, kind):
        return list(self.by.get(kind, {}).values())

    def workloads(self):
        for kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"):
            for d in self.all(kind):
                if kind == "Pod":
                    yield d, d
                elif kind == "CronJob":
                    yield d, d["spec"]["jobTemplate"]["spec"]["template"]
                else:
                    yield d, d["spec"]["template"]


def selects(selector, labels):
    if selector is None:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        k, op, vals = e["key"], e["operator"], e.get("values") or []
        if op == "In" and labels.get(k) not in vals:
            return False
        if op == "NotIn" and k in labels and labels[k] in vals:
            return False
        if op == "Exists" and k not in labels:
            return False
        if op == "DoesNotExist" and k in labels:
            return False
    return True


# ---------------------------------------------------------------- environment


def resolve_env(r, secrets_template, container):
    """Variable → (source, object, key, value) as the kubelet would set it."""
    env = {}
    for ef in container.get("envFrom") or []:
        prefix = ef.get("prefix", "")
        for kind, ref in (("ConfigMap", ef.get("configMapRef")), ("Secret", ef.get("secretRef"))):
            if not ref:
                continue
            obj = r.get(kind, ref["name"]) or (secrets_template.get(ref["name"]) if kind == "Secret" else None)
            if obj is None:
                if not ref.get("optional"):
                    fail(r.rel, f"envFrom names {kind} {ref['name']}, which does not exist")
                continue
            data = {**(obj.get("data") or {}), **(obj.get("stringData") or {})}
            for k, v in data.items():
                env[prefix + k] = (kind, ref["name"], k, v)
    for e in container.get("env") or []:
        vf = e.get("valueFrom")
        if vf is None:
            env[e["name"]] = ("literal", None, None, e.get("value", ""))
            continue
        for kind, field in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
            ref = vf.get(field)
            if not ref:
                continue
            obj = r.get(kind, ref["name"]) or (secrets_template.get(ref["name"]) if kind == "Secret" else None)
            data = {**((obj or {}).get("data") or {}), **((obj or {}).get("stringData") or {})}
            if obj is None or ref["key"] not in data:
                if not ref.get("optional"):
                    fail(r.rel, f"{container['name']}: {e['name']} names {kind} {ref['name']} key {ref['key']}, which does not exist")
                env[e["name"]] = (kind, ref["name"], ref["key"], None)
            else:
                env[e["name"]] = (kind, ref["name"], ref["key"], data[ref["key"]])
            break
        else:
            env[e["name"]] = ("fieldRef", None, None, None)
    return env


def lookup(env, crate, key, shared=True):
    """The variable the service would use for setting `key` (e.g. "pg.url"): the first of its
    variables (describe's `env`, strongest first) that is set; only the service's own form
    (`DELOS_<SERVICE>__...`) unless `shared`."""
    s = crate.settings.get(key)
    if s is None:
        return f"{crate.env}__{key.upper().replace('.', '__')}", None
    names = [n for n in s["env"] if shared or n.startswith(crate.env + "__")]
    for n in names:
        if n in env:
            return n, env[n]
    return names[-1], None


def check_url(where, r, var, value, target, listener="http"):
    """The URL names the Service of `target` (a Crate) on the port of its `listener`."""
    u = urlparse(value or "")
    host, port = u.hostname, u.port
    if not host or not port:
        fail(where, f"{var}={value!r} is not http://<service>:<port>")
        return
    svc = r.get("Service", host.split(".")[0])
    dep = r.get("Deployment", target.k8s)
    if svc is None:
        fail(where, f"{var}={value!r}: no Service {host.split('.')[0]}")
        return
    if dep is None or not selects({"matchLabels": svc["spec"].get("selector") or {}}, dep["spec"]["template"]["metadata"].get("labels", {})):
        fail(where, f"{var}={value!r}: Service {svc['metadata']['name']} does not select {target.name}'s pods")
    ports = [p for p in svc["spec"]["ports"] if p["port"] == port]
    if not ports:
        fail(where, f"{var}={value!r}: Service {svc['metadata']['name']} has no port {port}")
    elif dep is not None:
        tp = ports[0].get("targetPort", port)
        c = dep["spec"]["template"]["spec"]["containers"][0]
        cport = next((p["containerPort"] for p in c.get("ports", []) if tp in (p.get("name"), p["containerPort"])), None)
        want = target.ports.get(listener)
        if cport != want:
            fail(where, f"{var}={value!r} reaches port {cport}, but {target.name} listens on {want}")


# ---------------------------------------------------------------- one crate in one render


def probe_port(probe, container):
    p = (probe.get("httpGet") or {}).get("port")
    if isinstance(p, str):
        return next((x["containerPort"] for x in container.get("ports", []) if x.get("name") == p), None)
    return p


def check_crate(r, crate, by_name, secrets_template, timeout):
    where = f"{r.rel}: {crate.name}"
    dep = r.get("Deployment", crate.k8s)
    if dep is None:
        fail(r.rel, f"no Deployment {crate.k8s} for crate {crate.name}")
        return
    if crate.desc is None:
        fail(where, "`delos describe` does not list it (add the crate to launcher/src/describe.rs)")
        return
    tmpl = dep["spec"]["template"]
    labels = tmpl["metadata"].get("labels", {})
    if labels.get("app.kubernetes.io/name") != crate.k8s or dep["metadata"].get("labels", {}).get("app.kubernetes.io/name") != crate.k8s:
        fail(where, f"Deployment and pods need label app.kubernetes.io/name={crate.k8s}")
    if not selects(dep["spec"]["selector"], labels):
        fail(where, "the Deployment's selector does not select its own pods")
    spec = tmpl["spec"]
    cs = spec.get("containers", [])
    if len(cs) != 1:
        fail(where, f"expected one container, found {len(cs)}")
        return
    c = cs[0]
    image = c.get("image", "")
    repo = image.split("@")[0].rsplit(":", 1)[0] if ":" in image.split("/")[-1] else image.split("@")[0]
    if repo.split("/")[-1] != crate.name:
        fail(where, f"image {image!r} is not delos/{crate.name}")
    ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
    if crate.port is None:
        fail(where, "`delos describe` gives it no http port (no `http.port` setting)")
    elif ports.get("http") != crate.port:
        fail(where, f"containerPort 'http' is {ports.get('http')}, the service listens on {crate.port}")
    for kind, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", None)):
        p = c.get(kind)
        if not p:
            fail(where, f"no {kind}")
            continue
        got = (p.get("httpGet") or {}).get("path")
        if path and got != path:
            fail(where, f"{kind} path is {got!r}, not {path}")
        if got and probe_port(p, c) != crate.port:
            fail(where, f"{kind} probes port {probe_port(p, c)}, the service listens on {crate.port}")
    svc = r.get("Service", crate.k8s)
    if svc is None or not selects({"matchLabels": svc["spec"].get("selector") or {}}, labels):
        fail(where, f"no Service {crate.k8s} selecting its pods")
    elif not any(p["port"] == crate.port and p.get("targetPort", p["port"]) in ("http", crate.port) for p in svc["spec"]["ports"]):
        fail(where, f"Service {crate.k8s} has no port {crate.port} → http")
    if crate.grpc_port:
        if ports.get("grpc") != crate.grpc_port:
            fail(where, f"containerPort 'grpc' is {ports.get('grpc')}, the gRPC listener is on {crate.grpc_port}")
        if not any(
            selects({"matchLabels": s["spec"].get("selector") or {}}, labels)
            and any(p.get("appProtocol") == "grpc" and p.get("targetPort") in ("grpc", crate.grpc_port) for p in s["spec"]["ports"])
            for s in r.all("Service")
        ):
            fail(where, "no Service port with appProtocol grpc for its gRPC listener")
    # Resources, shutdown.
    res = c.get("resources") or {}
    for k in ("cpu", "memory"):
        if k not in (res.get("requests") or {}):
            fail(where, f"no {k} request")
    if "memory" not in (res.get("limits") or {}):
        fail(where, "no memory limit")
    sleep = 0
    cmd = ((c.get("lifecycle") or {}).get("preStop") or {}).get("exec", {}).get("command") or []
    if len(cmd) == 2 and cmd[0].endswith("sleep"):
        sleep = int(cmd[1])
    elif not cmd:
        fail(where, "no preStop sleep: requests may still arrive while endpoints drain")
    grace = spec.get("terminationGracePeriodSeconds", 30)
    if grace <= sleep + timeout:
        fail(where, f"terminationGracePeriodSeconds {grace} is not above preStop {sleep} s + shutdown timeout {timeout} s")
    # Hardening beyond "not root" (checked for every container in check_security).
    psc, csc = spec.get("securityContext") or {}, c.get("securityContext") or {}
    if csc.get("readOnlyRootFilesystem") is not True:
        fail(where, "root filesystem is not read-only")
    if "ALL" not in ((csc.get("capabilities") or {}).get("drop") or []):
        fail(where, "capabilities: drop ALL is missing")
    if ((csc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")) != "RuntimeDefault":
        fail(where, "seccompProfile is not RuntimeDefault")
    if csc.get("runAsUser", psc.get("runAsUser")) != IMAGE_UID:
        fail(where, f"runAsUser is not the image's user {IMAGE_UID}")
    # Configuration.
    env = resolve_env(r, secrets_template, c)
    for var, (src, _, _, _) in env.items():
        if src not in ("ConfigMap", "Secret"):
            fail(where, f"{var} is set {src}ly in the Deployment, not from the ConfigMap or Secret")
        elif var in crate.secret_env and src != "Secret":
            fail(where, f"{var} sets a secret setting from a {src}, not a Secret")
    needs = []  # (what, var, value source, must be secret)
    if "common.service_token" not in crate.settings:
        fail(where, "`delos describe` lists no common.service_token setting")
    needs.append(("the service token",) + lookup(env, crate, "common.service_token") + (True,))
    if crate.pg:
        needs.append(("its Postgres URL",) + lookup(env, crate, crate.postgres["setting"]) + (True,))
    if crate.redis:
        needs.append(("its Redis URL",) + lookup(env, crate, crate.redis_dep["setting"]) + (True,))
    for f in crate.secret_fields:
        needs.append((f"its secret {f}",) + lookup(env, crate, f, shared=False) + (True,))
    urls = []
    for key, callee, listener in crate.calls:
        # Shared sections (common.reporter.url) may use the shared form; upstreams are per service.
        var, v = lookup(env, crate, key, shared=key.startswith("common."))
        needs.append((f"the {key}", var, v, False))
        urls.append((var, v, by_name.get(callee), listener))
    for what, var, v, secret in needs:
        if v is None:
            fail(where, f"{what} ({var}) is not set from the ConfigMap or Secret")
        elif secret and v[0] != "Secret":
            fail(where, f"{what} ({var}) comes from a {v[0]}, not a Secret")
    for var, v, target, listener in urls:
        if v is not None and v[3] is not None and target is not None:
            check_url(where, r, var, v[3], target, listener)


def check_config_keys(r, by_name):
    """Every DELOS_* key of the ConfigMaps is a variable of an existing crate's settings
    (describe's `env` names, exactly: a misspelt section or key is caught too)."""
    shared = set().union(*(c.env_names for c in by_name.values())) if by_name else set()
    shared = {n for n in shared if n.startswith("DELOS__")}
    for cm in r.all("ConfigMap"):
        for key in cm.get("data") or {}:
            if not key.startswith("DELOS") or key in ("DELOS_LOG_FORMAT", "DELOS_CONFIG"):
                continue
            head, sep, rest = key.partition("__")
            if not sep or not rest or (head != "DELOS" and not head.startswith("DELOS_")):
                fail(r.rel, f"ConfigMap {cm['metadata']['name']}: {key} is no DELOS variable")
                continue
            svc, dotted = head[len("DELOS_"):].lower(), rest.lower().replace("__", ".")
            if svc and svc not in by_name and svc not in PLANNED:
                fail(r.rel, f"ConfigMap key {key}: no crate {svc}")
            elif svc in by_name and by_name[svc].desc is not None and key not in by_name[svc].env_names:
                fail(r.rel, f"ConfigMap key {key}: {svc}'s Settings has no setting {dotted}")
            elif not svc and key not in shared:
                fail(r.rel, f"ConfigMap key {key}: no service has a setting {dotted}")


def check_security(r):
    """No container of any workload may run as root or gain privileges."""
    for obj, tmpl in r.workloads():
        spec = tmpl["spec"]
        psc = spec.get("securityContext") or {}
        for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
            where = f"{r.rel}: {obj['kind']} {obj['metadata']['name']}, container {c['name']}"
            csc = c.get("securityContext") or {}
            non_root = csc.get("runAsNonRoot", psc.get("runAsNonRoot"))
            uid = csc.get("runAsUser", psc.get("runAsUser"))
            if non_root is not True or uid == 0:
                fail(where, "may run as root (needs runAsNonRoot: true and a runAsUser other than 0)")
            if csc.get("allowPrivilegeEscalation") is not False:
                fail(where, "allowPrivilegeEscalation is not false")
            if csc.get("privileged"):
                fail(where, "is privileged")
            if spec.get("hostNetwork") or spec.get("hostPID") or spec.get("hostIPC"):
                fail(where, "shares a host namespace")


# ---------------------------------------------------------------- prod: scaling, policies, ingress


def pod_of(r, crate):
    d = r.get("Deployment", crate.k8s)
    if d is None:
        return None
    return (d["metadata"].get("namespace", "default"), d["spec"]["template"]["metadata"].get("labels", {}), d)


def ports_match(rule_ports, port, proto, dst_dep):
    if not rule_ports:
        return True
    names = set()
    if dst_dep is not None:
        for c in dst_dep["spec"]["template"]["spec"]["containers"]:
            names |= {p.get("name") for p in c.get("ports", []) if p["containerPort"] == port}
    for p in rule_ports:
        if p.get("protocol", "TCP") != proto:
            continue
        want = p.get("port")
        if want is None or want == port or (isinstance(want, str) and want in names):
            return True
        if isinstance(want, int) and p.get("endPort") and want <= port <= p["endPort"]:
            return True
    return False


def peer_matches(peer, own_ns, other):
    """other = (namespace, labels) of a pod, or None for an address outside the cluster."""
    if other is None:
        return "ipBlock" in peer
    if "ipBlock" in peer:
        return False  # pod addresses are not what these policies name
    ns, labels = other
    nss = peer.get("namespaceSelector")
    ns_ok = ns == own_ns if nss is None else selects(nss, {"kubernetes.io/metadata.name": ns})
    pod_ok = "podSelector" not in peer or selects(peer["podSelector"], labels)
    return ns_ok and pod_ok


def allowed(policies, direction, subject, other, port, proto, dst_dep):
    """Whether `subject` (ns, labels) may send (Egress) to / receive (Ingress) from `other`."""
    ns, labels = subject
    key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
    pols = []
    for p in policies:
        spec = p["spec"]
        types = spec.get("policyTypes") or (["Ingress"] + (["Egress"] if "egress" in spec else []))
        if p["metadata"].get("namespace", "default") == ns and direction in types and selects(spec.get("podSelector", {}), labels):
            pols.append(spec)
    if not pols:
        return True
    for spec in pols:
        for rule in spec.get(key) or []:
            peers = rule.get(peers_key)
            if (not peers or any(peer_matches(x, ns, other) for x in peers)) and ports_match(rule.get("ports"), port, proto, dst_dep):
                return True
    return False


def check_prod(r, crates_here, by_name):
    for crate in crates_here:
        dep = r.get("Deployment", crate.k8s)
        if dep is None:
            continue
        replicas = dep["spec"].get("replicas", 1)
        hpa = [h for h in r.all("HorizontalPodAutoscaler") if h["spec"]["scaleTargetRef"]["name"] == crate.k8s]
        pdb = [p for p in r.all("PodDisruptionBudget") if selects(p["spec"]["selector"], dep["spec"]["template"]["metadata"]["labels"])]
        if crate.name in SINGLETONS:
            if replicas != 1 or hpa:
                fail(r.rel, f"{crate.name} must run once ({SINGLETONS[crate.name]})")
            continue
        if replicas < 2:
            fail(r.rel, f"{crate.name}: {replicas} replica(s); stateless services run at least 2")
        if not hpa or hpa[0]["apiVersion"] != "autoscaling/v2":
            fail(r.rel, f"{crate.name}: no autoscaling/v2 HorizontalPodAutoscaler")
        elif hpa[0]["spec"].get("minReplicas", 1) < 2:
            fail(r.rel, f"{crate.name}: HPA minReplicas below 2")
        if not pdb:
            fail(r.rel, f"{crate.name}: no PodDisruptionBudget")
    policies = r.all("NetworkPolicy")
    if not policies:
        fail(r.rel, "no NetworkPolicies")
        return
    deny = [
        p for p in policies
        if p["spec"].get("podSelector") in ({}, None) and set(p["spec"].get("policyTypes") or []) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress") and not p["spec"].get("egress")
    ]
    if not deny:
        fail(r.rel, "no default-deny NetworkPolicy (podSelector {}, Ingress and Egress, no rules)")
    # The calls the code makes (describe's depends_on: upstream URLs, the reporter's).
    calls = {c.name: {callee: by_name[callee].ports.get(listener) for _, callee, listener in c.calls if callee in by_name} for c in crates_here}
    pods = {c.name: pod_of(r, c) for c in crates_here if pod_of(r, c)}
    for src, (sns, slabels, _) in pods.items():
        for dst, (dns, dlabels, ddep) in pods.items():
            if src == dst:
                continue
            port = calls[src].get(dst) or by_name[dst].port
            if port is None:
                continue
            ok = allowed(policies, "Egress", (sns, slabels), (dns, dlabels), port, "TCP", ddep) and allowed(
                policies, "Ingress", (dns, dlabels), (sns, slabels), port, "TCP", ddep
            )
            if ok and dst not in calls[src]:
                fail(r.rel, f"NetworkPolicies let {src} reach {dst}:{port}, which it does not call")
            if not ok and dst in calls[src]:
                fail(r.rel, f"NetworkPolicies block {src} → {dst}:{port}, which it calls")
        pg_port = (by_name[src].postgres or {}).get("port") or 5432
        redis_port = (by_name[src].redis_dep or {}).get("port") or 6379
        for what, port, needed in (("Postgres", pg_port, by_name[src].pg), ("Redis", redis_port, by_name[src].redis)):
            ok = allowed(policies, "Egress", (sns, slabels), None, port, "TCP", None)
            if ok != needed:
                fail(r.rel, f"NetworkPolicies {'block' if needed else 'allow'} {src} → {what} ({port})")
        if not allowed(policies, "Egress", (sns, slabels), DNS, 53, "UDP", None):
            fail(r.rel, f"NetworkPolicies block DNS for {src}")
    # The Ingress publishes the public services, and only them; the controller may reach them.
    backends = set()
    for ing in r.all("Ingress"):
        for rule in ing["spec"].get("rules", []):
            for p in (rule.get("http") or {}).get("paths", []):
                backends.add(p["backend"]["service"]["name"])
    for c in crates_here:
        if c.name not in pods:
            continue
        ns, labels, dep = pods[c.name]
        published = c.k8s in backends
        reach = allowed(policies, "Ingress", (ns, labels), INGRESS_CONTROLLER, c.port, "TCP", dep)
        if c.public and not (published and reach):
            fail(r.rel, f"public {c.name} is not published by the Ingress or not reachable from the Ingress controller")
        if not c.public and (published or reach):
            fail(r.rel, f"internal {c.name} is published by the Ingress or reachable from the Ingress controller")


# ---------------------------------------------------------------- main


def validate(rel, text):
    exe = shutil.which("kubernetes-validate")
    if exe is None:
        fail(rel, "kubernetes-validate is not installed (python3 -m pip install kubernetes-validate)")
        return []
    done = []
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(text)
    try:
        for v in KUBE_VERSIONS:
            cmd = [exe, "--strict", "--quiet"] + (["-k", v] if v else []) + [f.name]
            out = subprocess.run(cmd, capture_output=True, text=True)
            if out.returncode != 0:
                fail(rel, f"kubernetes-validate {' '.join(cmd[1:-1])}:\n{(out.stdout + out.stderr).strip()[:2000]}")
            done.append(v or "default")
    finally:
        os.unlink(f.name)
    return done


def main():
    all_crates = crates()
    by_name = {c.name: c for c in all_crates}
    timeout = shutdown_timeout()
    for rel, orig in DEV_COPIES.items():
        if read(rel) != read(orig):
            fail(rel, f"differs from {orig}: copy it again (cp {orig} {rel})")
    renders, template = {}, {}
    for rel in RENDERS:
        text, docs = render(rel)
        if text is None:
            continue
        renders[rel] = (text, Render(rel, docs))
    base = renders.get(f"{K8S}/base")
    if base:
        # The Secret template documents the keys of a Secret the prod overlay does not ship.
        template = {s["metadata"]["name"]: s for s in base[1].all("Secret")}
    summary = {}
    for rel, (text, r) in renders.items():
        deployed = {d["metadata"]["name"] for d in r.all("Deployment") if d["metadata"].get("labels", {}).get("app.kubernetes.io/part-of") == "delos"}
        known = {c.k8s for c in all_crates} | {p.replace("_", "-") for p in PLANNED}
        for name in sorted(deployed - known):
            fail(rel, f"Deployment {name} names no service crate")
        for c in all_crates:
            check_crate(r, c, by_name, template, timeout)
        check_config_keys(r, by_name)
        check_security(r)
        if rel.endswith("/prod"):
            check_prod(r, [c for c in all_crates if c.desc is not None], by_name)  # the rest already failed
        # CHECK_K8S_VALIDATE=0 skips the schema validation (scripts/check_k8s_selftest.py, for speed).
        run_validate = rel != f"{K8S}/base" and os.environ.get("CHECK_K8S_VALIDATE", "1") != "0"
        versions = validate(rel, text) if run_validate else []
        summary[rel] = f"{len(r.docs)} objects" + (f", kubernetes-validate --strict {'/'.join(versions)}" if versions else "")
    pending = sorted(p for p in PLANNED if p not in by_name)
    for rel, s in summary.items():
        print(f"{rel}: {s}")
    sys.stdout.flush()
    for e in ERRORS:
        print("FAIL " + e, file=sys.stderr)
    sys.stderr.flush()
    print(f"service crates checked: {', '.join(c.name for c in all_crates)}")
    if pending:
        print(f"deployed before their crate is merged (checked once it is): {', '.join(pending)}")
    print(f"problems: {len(ERRORS)}")
    return 1 if ERRORS else 0


if __name__ == "__main__":
    sys.exit(main())
