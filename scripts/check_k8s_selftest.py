#!/usr/bin/env python3
"""Proves that scripts/check_k8s.py still fails when it should (run by .ci/run).

Each case copies the repository's tracked files to a temporary directory, breaks one
thing there, runs the check on the copy and expects it to fail naming the problem. The
repository itself is never modified. What the code says reaches the check as the JSON of
`delos describe` (scripts/lib/crates.py): this script gets it once from the release build,
and every copy reads it from a file (DELOS_DESCRIBE_JSON), so a case breaks the code's
side by editing that document (a port, a new setting, a new call) and no copy is built.
Schema validation is skipped except in the case that tests it (CHECK_K8S_VALIDATE=0), so
the whole run takes well under a minute.
"""

import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts", "lib"))
from crates import describe  # noqa: E402
B, D, P = "deployment/k8s/base", "deployment/k8s/overlays/dev", "deployment/k8s/overlays/prod"


def sub(path, old, new, count=1):
    def edit(root, desc):
        f = os.path.join(root, path)
        text = open(f, encoding="utf-8").read()
        assert old in text, f"{path}: {old!r} not found (update the self-test)"
        open(f, "w", encoding="utf-8").write(text.replace(old, new, count))
    return edit


def append(path, line):
    def edit(root, desc):
        with open(os.path.join(root, path), "a", encoding="utf-8") as f:
            f.write(line + "\n")
    return edit


def service(desc, name):
    return next(s for s in desc["services"] if s["crate"] == name)


def new_crate(root, desc):
    """A crate under services/ that describe lists too (a copy of db_proxy on port 8099)."""
    os.makedirs(os.path.join(root, "services/zz_new/src"))
    open(os.path.join(root, "services/zz_new/Cargo.toml"), "w").write('[package]\nname = "zz_new"\n')
    s = copy.deepcopy(service(desc, "db_proxy"))
    s["crate"], s["ports"] = "zz_new", {"http": 8099}
    for st in s["settings"]:
        st["env"] = [e.replace("DELOS_DB_PROXY__", "DELOS_ZZ_NEW__") for e in st["env"]]
    desc["services"].append(s)


def undescribed(name):
    """`delos describe` stops listing a crate that still exists."""
    def edit(root, desc):
        desc["services"] = [s for s in desc["services"] if s["crate"] != name]
    return edit


def port_changes(name, port):
    """The code's default port changes (describe's `ports` and `http.port`)."""
    def edit(root, desc):
        s = service(desc, name)
        s["ports"]["http"] = port
        next(st for st in s["settings"] if st["key"] == "http.port")["default"] = port
    return edit


def new_setting(name, key, secret=False, calls=None):
    """A new field in a service's Settings; `calls` (service, listener): its default URL is that one's."""
    def edit(root, desc):
        s = service(desc, name)
        up = name.upper()
        s["settings"].append({
            "key": key, "default": "", "secret": secret, "list": False, "description": "",
            "env": [f"DELOS_{up}__{key.upper().replace('.', '__')}", f"DELOS__{key.upper().replace('.', '__')}"],
        })
        if calls:
            callee = service(desc, calls[0])
            s["depends_on"]["services"].append(
                {"service": calls[0], "setting": key, "listener": calls[1], "port": callee["ports"][calls[1]]}
            )
    return edit


def shutdown_timeout(secs):
    def edit(root, desc):
        desc["http"]["shutdown_timeout_secs"] = secs
    return edit


PG_ENV = """            - name: DELOS__PG__URL
              valueFrom:
                secretKeyRef:
                  name: delos-secrets
                  key: pg-url
"""

ALLOW_ALL = """---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-namespace
spec:
  podSelector: {}
  policyTypes: ["Ingress", "Egress"]
  ingress:
    - from:
        - podSelector: {}
  egress:
    - to:
        - podSelector: {}"""

CASES = [
    ("a crate without a Deployment", new_crate, "no Deployment zz-new for crate zz_new"),
    ("a Deployment removed", sub(f"{B}/kustomization.yaml", "  - api-updater.yaml\n", ""), "no Deployment api-updater"),
    ("containerPort differs from the code's port", sub(f"{B}/db-proxy.yaml", "containerPort: 8010", "containerPort: 8011"),
     "containerPort 'http' is 8011, the service listens on 8010"),
    ("a crate describe does not list", undescribed("sensor_api"), "sensor_api: `delos describe` does not list it"),
    ("the code's port changes", port_changes("health_check", 8051), "the service listens on 8051"),
    ("a new secret setting", new_setting("db_proxy", "webhook_secret", secret=True),
     "its secret webhook_secret (DELOS_DB_PROXY__WEBHOOK_SECRET) is not set"),
    ("a new upstream", new_setting("db_proxy", "cache_proxy_url", calls=("api_cache_proxy", "http")),
     "the cache_proxy_url (DELOS_DB_PROXY__CACHE_PROXY_URL) is not set"),
    ("a secret from the ConfigMap", append(f"{B}/config.env", "DELOS_LAMBO_CHECKER__JWT__HS256_SECRET=hunter2"),
     "DELOS_LAMBO_CHECKER__JWT__HS256_SECRET sets a secret setting from a ConfigMap"),
    ("readiness on the wrong path", sub(f"{B}/fetch-buy-orders.yaml", "path: /readyz", "path: /ready"),
     "readinessProbe path is '/ready'"),
    ("Postgres URL not set", sub(f"{B}/health-check.yaml", PG_ENV, ""), "its Postgres URL (DELOS__PG__URL) is not set"),
    ("an upstream URL missing", sub(f"{B}/config.env", "DELOS_FETCH_BUY_ORDERS__DB_PROXY_URL=http://db-proxy:8010\n", ""),
     "the db_proxy_url (DELOS_FETCH_BUY_ORDERS__DB_PROXY_URL) is not set"),
    ("an upstream URL to the wrong service",
     sub(f"{B}/config.env", "DELOS_API_UPDATER__CACHE_PROXY_URL=http://api-cache-proxy:8002", "DELOS_API_UPDATER__CACHE_PROXY_URL=http://db-proxy:8010"),
     "does not select api_cache_proxy's pods"),
    ("a misspelt ConfigMap key", append(f"{B}/config.env", "DELOS_DB_PROXY__MAX_BACH=64"), "db_proxy's Settings has no setting max_bach"),
    ("a misspelt nested ConfigMap key", append(f"{P}/config.env", "DELOS_DB_PROXY__PG__MAX_CONECTIONS=4"),
     "db_proxy's Settings has no setting pg.max_conections"),
    ("a misspelt shared ConfigMap key", append(f"{B}/config.env", "DELOS__RATE_LIMIT__PER_MINUT=5"),
     "no service has a setting rate_limit.per_minut"),
    ("a literal variable", sub(f"{B}/api-updater.yaml", "          env:\n", "          env:\n            - name: RUST_LOG\n              value: debug\n"),
     "RUST_LOG is set literally"),
    ("a container that may run as root", sub(f"{D}/redis.yaml", "runAsUser: 999", "runAsUser: 0", count=2),
     "StatefulSet redis, container redis: may run as root"),
    ("a writable root filesystem", sub(f"{B}/db-proxy.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"),
     "db_proxy: root filesystem is not read-only"),
    ("grace period shorter than the shutdown", sub(f"{B}/create-buy-order.yaml", "terminationGracePeriodSeconds: 20", "terminationGracePeriodSeconds: 12"),
     "terminationGracePeriodSeconds 12 is not above"),
    ("the code's shutdown timeout grows", shutdown_timeout(30), "s + shutdown timeout 30 s"),
    ("a stale copy of the init SQL", append("database/init/00_databases.sql", "create database extra;"),
     "00_databases.sql: differs from database/init/00_databases.sql"),
    ("a NetworkPolicy missing a call", sub(f"{P}/networkpolicies.yaml", "app.kubernetes.io/name: db-proxy\n      ports:", "app.kubernetes.io/name: nobody\n      ports:"),
     "NetworkPolicies block create_buy_order → db_proxy:8010"),
    ("a NetworkPolicy allowing more", append(f"{P}/networkpolicies.yaml", ALLOW_ALL), "NetworkPolicies let api_updater reach db_proxy:8010"),
    ("no HPA for a stateless service", sub(f"{P}/kustomization.yaml", "  - autoscaling.yaml\n", ""),
     "no autoscaling/v2 HorizontalPodAutoscaler"),
    ("an internal service published", sub(f"{P}/ingress.yaml", "name: fetch-buy-orders", "name: db-proxy"),
     "internal db_proxy is published"),
    ("a schema violation (kubernetes-validate)", sub(f"{P}/autoscaling.yaml", "maxUnavailable: 1", "maxUnavailabel: 1"),
     "maxUnavailabel"),
]


def tracked_copy(dest):
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for rel in filter(None, files.split("\0")):
        src = os.path.join(ROOT, rel)
        if not os.path.isfile(src):
            continue
        os.makedirs(os.path.dirname(os.path.join(dest, rel)), exist_ok=True)
        shutil.copy2(src, os.path.join(dest, rel))
    # The working copy of the checks themselves, committed or not.
    for rel in ("scripts/check_k8s.py", "scripts/lib/crates.py"):
        shutil.copy2(os.path.join(ROOT, rel), os.path.join(dest, rel))


def write_json(path, doc):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f)


def main():
    failures = 0
    desc = describe()  # builds the release binary when needed, or reads DELOS_DESCRIBE_JSON
    with tempfile.TemporaryDirectory() as tmp:
        pristine = os.path.join(tmp, "pristine")
        tracked_copy(pristine)
        write_json(os.path.join(tmp, "describe.json"), desc)
        base_env = {**os.environ, "DELOS_DESCRIBE_JSON": os.path.join(tmp, "describe.json")}
        env = {**base_env, "CHECK_K8S_VALIDATE": "0"}
        ok = subprocess.run([sys.executable, "scripts/check_k8s.py"], cwd=pristine, capture_output=True, text=True, env=env)
        if ok.returncode != 0:
            print("FAIL the unmodified copy does not pass:\n" + ok.stderr, file=sys.stderr)
            return 1
        for i, (name, edit, expect) in enumerate(CASES):
            root = os.path.join(tmp, f"case{i}")
            shutil.copytree(pristine, root)
            case_desc = copy.deepcopy(desc)
            edit(root, case_desc)
            case_json = os.path.join(tmp, f"case{i}.json")
            write_json(case_json, case_desc)
            case_env = env if "kubernetes-validate" not in name else dict(base_env)
            case_env = {**case_env, "DELOS_DESCRIBE_JSON": case_json}
            out = subprocess.run([sys.executable, "scripts/check_k8s.py"], cwd=root, capture_output=True, text=True, env=case_env)
            caught = out.returncode == 1 and expect in out.stderr
            print(f"{'ok  ' if caught else 'FAIL'} {name}" + ("" if caught else f": rc={out.returncode}, expected {expect!r} in:\n{out.stderr}"))
            failures += not caught
            shutil.rmtree(root)
    print(f"{len(CASES) - failures}/{len(CASES)} broken copies caught")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
