#!/usr/bin/env python3
"""Proves that scripts/check_k8s.py still fails when it should (run by .ci/run).

Each case copies the repository's tracked files to a temporary directory, breaks one
thing there, runs the check on the copy and expects it to fail naming the problem. The
repository itself is never modified. Schema validation is skipped except in the case
that tests it (CHECK_K8S_VALIDATE=0), so the whole run takes well under a minute.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
B, D, P = "deployment/k8s/base", "deployment/k8s/overlays/dev", "deployment/k8s/overlays/prod"


def sub(path, old, new, count=1):
    def edit(root):
        f = os.path.join(root, path)
        text = open(f, encoding="utf-8").read()
        assert old in text, f"{path}: {old!r} not found (update the self-test)"
        open(f, "w", encoding="utf-8").write(text.replace(old, new, count))
    return edit


def append(path, line):
    def edit(root):
        with open(os.path.join(root, path), "a", encoding="utf-8") as f:
            f.write(line + "\n")
    return edit


def new_crate(root):
    os.makedirs(os.path.join(root, "services/zz_new/src"))
    open(os.path.join(root, "services/zz_new/Cargo.toml"), "w").write('[package]\nname = "zz_new"\n')
    open(os.path.join(root, "services/zz_new/src/lib.rs"), "w").write(
        "pub struct Settings {\n    pub http: HttpSettings,\n}\nfn d() -> HttpSettings { HttpSettings::on_port(8099) }\n"
    )


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
    ("containerPort differs from on_port", sub(f"{B}/db-proxy.yaml", "containerPort: 8010", "containerPort: 8011"),
     "containerPort 'http' is 8011, the service listens on 8010"),
    ("the code's port changes", sub("services/health_check/src/config.rs", "on_port(8050)", "on_port(8051)"),
     "the service listens on 8051"),
    ("readiness on the wrong path", sub(f"{B}/fetch-buy-orders.yaml", "path: /readyz", "path: /ready"),
     "readinessProbe path is '/ready'"),
    ("Postgres URL not set", sub(f"{B}/health-check.yaml", PG_ENV, ""), "its Postgres URL (DELOS__PG__URL) is not set"),
    ("an upstream URL missing", sub(f"{B}/config.env", "DELOS_FETCH_BUY_ORDERS__DB_PROXY_URL=http://db-proxy:8010\n", ""),
     "the db_proxy_url (DELOS_FETCH_BUY_ORDERS__DB_PROXY_URL) is not set"),
    ("an upstream URL to the wrong service",
     sub(f"{B}/config.env", "DELOS_API_UPDATER__CACHE_PROXY_URL=http://api-cache-proxy:8002", "DELOS_API_UPDATER__CACHE_PROXY_URL=http://db-proxy:8010"),
     "does not select api_cache_proxy's pods"),
    ("a misspelt ConfigMap key", append(f"{B}/config.env", "DELOS_DB_PROXY__MAX_BACH=64"), "db_proxy's Settings has no field max_bach"),
    ("a literal variable", sub(f"{B}/api-updater.yaml", "          env:\n", "          env:\n            - name: RUST_LOG\n              value: debug\n"),
     "RUST_LOG is set literally"),
    ("a container that may run as root", sub(f"{D}/redis.yaml", "runAsUser: 999", "runAsUser: 0", count=2),
     "StatefulSet redis, container redis: may run as root"),
    ("a writable root filesystem", sub(f"{B}/db-proxy.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"),
     "db_proxy: root filesystem is not read-only"),
    ("grace period shorter than the shutdown", sub(f"{B}/create-buy-order.yaml", "terminationGracePeriodSeconds: 20", "terminationGracePeriodSeconds: 12"),
     "terminationGracePeriodSeconds 12 is not above"),
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


def main():
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        pristine = os.path.join(tmp, "pristine")
        tracked_copy(pristine)
        env = {**os.environ, "CHECK_K8S_VALIDATE": "0"}
        ok = subprocess.run([sys.executable, "scripts/check_k8s.py"], cwd=pristine, capture_output=True, text=True, env=env)
        if ok.returncode != 0:
            print("FAIL the unmodified copy does not pass:\n" + ok.stderr, file=sys.stderr)
            return 1
        for i, (name, edit, expect) in enumerate(CASES):
            root = os.path.join(tmp, f"case{i}")
            shutil.copytree(pristine, root)
            edit(root)
            case_env = env if "kubernetes-validate" not in name else dict(os.environ)
            out = subprocess.run([sys.executable, "scripts/check_k8s.py"], cwd=root, capture_output=True, text=True, env=case_env)
            caught = out.returncode == 1 and expect in out.stderr
            print(f"{'ok  ' if caught else 'FAIL'} {name}" + ("" if caught else f": rc={out.returncode}, expected {expect!r} in:\n{out.stderr}"))
            failures += not caught
            shutil.rmtree(root)
    print(f"{len(CASES) - failures}/{len(CASES)} broken copies caught")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
