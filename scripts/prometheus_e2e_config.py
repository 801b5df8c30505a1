#!/usr/bin/env python3
"""Writes deployment/prometheus/ for the host-network compose run (scripts/compose-e2e):
the same rules, and the same scrape job with every Delos container of the resolved
compose file as a literal 127.0.0.1 target (no Docker DNS on the host network), on the
port it was given (`DELOS_<SERVICE>__HTTP__PORT`) or its default from `delos describe`,
labelled with its service. Scrapes every 5 s, so a check need not wait long.

    prometheus_e2e_config.py RESOLVED_COMPOSE_YML OUT_DIR
"""

import os
import shutil
import sys

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import crates  # noqa: E402

ROOT = crates.ROOT


def targets(compose):
    """[(service crate, 127.0.0.1:port)] of every container running a Delos service."""
    ports = {name: s["ports"]["http"] for name, s in crates.described().items()}
    out = []
    for container in sorted(compose["services"]):
        spec = compose["services"][container]
        image = spec.get("image", "")
        if not image.startswith("delos/"):
            continue
        crate = image.split("/", 1)[1].split(":", 1)[0]
        env = spec.get("environment") or {}
        port = env.get(f"DELOS_{crate.upper()}__HTTP__PORT") or ports[crate]
        out.append((crate, f"127.0.0.1:{port}"))
    return out


def main():
    resolved, out_dir = sys.argv[1], sys.argv[2]
    with open(resolved, encoding="utf-8") as f:
        compose = yaml.safe_load(f)
    with open(os.path.join(ROOT, "deployment/prometheus/prometheus.yml"), encoding="utf-8") as f:
        config = yaml.safe_load(f)
    job = config["scrape_configs"][0]
    for key in ("dns_sd_configs", "relabel_configs"):
        job.pop(key, None)
    found = targets(compose)
    job["static_configs"] = [{"targets": [t], "labels": {"service": s}} for s, t in found]
    config["global"]["scrape_interval"] = config["global"]["evaluation_interval"] = "5s"
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "prometheus.yml"), "w", encoding="utf-8") as f:
        yaml.safe_dump(config, f, sort_keys=False)
    shutil.copy(os.path.join(ROOT, "deployment/prometheus/rules.yml"), out_dir)
    print(f"{len(found)} targets: " + ", ".join(t for _, t in found))


if __name__ == "__main__":
    main()
