#!/usr/bin/env python3
"""Checks a running Prometheus through its HTTP API (scripts/compose-e2e): every target
up, the alert rules of deployment/prometheus/rules.yml loaded, and the key series with
values for every service (requests per route), for the orders placed before it
(orders accepted, group-commit batches, the cap's use on db_proxy, the price's age) and
for each service's Postgres pools and Redis connections.

    prometheus_check.py --url http://127.0.0.1:9090 [--wait 90]
"""

import argparse
import json
import os
import sys
import time
import urllib.parse
import urllib.request


# The services with a Postgres pool, and those with Redis (docs/deployment.md, "Metrics").
POSTGRES_USERS = {"db_proxy", "health_check", "lambo_checker", "sensor_api"}
REDIS_USERS = {"api_cache_proxy", "create_buy_order", "fetch_buy_orders", "lambo_checker", "sensor_api"}


def get(url, path, **params):
    q = ("?" + urllib.parse.urlencode(params)) if params else ""
    with urllib.request.urlopen(url + path + q, timeout=10) as r:
        doc = json.load(r)
    if doc.get("status") != "success":
        raise RuntimeError(f"{path}: {doc}")
    return doc["data"]


def query(url, expr):
    return get(url, "/api/v1/query", query=expr)["result"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:9090")
    ap.add_argument("--wait", type=float, default=90, help="seconds to wait for every target to be up")
    args = ap.parse_args()
    url = args.url.rstrip("/")

    deadline = time.monotonic() + args.wait
    while True:
        active = get(url, "/api/v1/targets", state="active")["activeTargets"]
        down = [t for t in active if t["health"] != "up"]
        if active and not down:
            break
        if time.monotonic() > deadline:
            for t in down:
                print(f"target {t['scrapeUrl']} ({t['labels'].get('service')}): {t['health']} {t.get('lastError', '')}",
                      file=sys.stderr)
            sys.exit(f"prometheus check failed: {len(down)} of {len(active)} targets not up after {args.wait:.0f} s")
        time.sleep(2)
    services = sorted({t["labels"]["service"] for t in active})
    print(f"{len(active)} targets up: {', '.join(t['labels']['instance'] for t in active)}")
    print(f"services: {', '.join(services)}")

    rules = [r["name"] for g in get(url, "/api/v1/rules")["groups"] for r in g["rules"]]
    rules_file = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "deployment", "prometheus", "rules.yml")
    with open(rules_file, encoding="utf-8") as f:
        want = sum(1 for line in f if line.strip().startswith("- alert:"))
    if len(rules) != want:
        sys.exit(f"prometheus check failed: {len(rules)} rules loaded, rules.yml has {want}: {rules}")
    print(f"{len(rules)} alert rules loaded: {', '.join(rules)}")

    def per_service(expr):
        return {r["metric"].get("service"): float(r["value"][1]) for r in query(url, expr)}

    requests = per_service("sum by (service) (delos_http_requests_total)")
    missing = [s for s in services if requests.get(s, 0) <= 0]
    if missing:
        sys.exit(f"prometheus check failed: no delos_http_requests_total for {', '.join(missing)}")
    print("requests counted: " + ", ".join(f"{s} {requests[s]:.0f}" for s in services))
    # Orders were placed before this check: wait for a scrape that saw them.
    deadline = time.monotonic() + 30
    for expr in ("sum(delos_orders_accepted_total)", "sum(delos_order_batch_size_count)",
                 "count(delos_http_request_duration_seconds_bucket)",
                 "max(delos_btc_stored_satoshis)", "max(delos_btc_cap_satoshis)",
                 "max(delos_price_fetched_timestamp_seconds)"):
        while True:
            result = query(url, expr)
            value = float(result[0]["value"][1]) if result else 0.0
            if value > 0:
                break
            if time.monotonic() > deadline:
                sys.exit(f"prometheus check failed: {expr} is {value:.0f} after the orders placed before it")
            time.sleep(1)
        print(f"{expr} = {value:.0f}")
    # The dependency series every service with Postgres or Redis exposes (zero is a value).
    for expr, want in (("count by (service) (delos_db_pool_max_connections)", POSTGRES_USERS),
                       ("count by (service) (delos_redis_errors_total)", REDIS_USERS)):
        have = set(per_service(expr))
        if not want <= have:
            sys.exit(f"prometheus check failed: {expr} lacks {', '.join(sorted(want - have))}")
        print(f"{expr}: {', '.join(sorted(have))}")
    firing = [a["labels"]["alertname"] for a in get(url, "/api/v1/alerts")["alerts"] if a["state"] == "firing"]
    print(f"alerts firing: {', '.join(firing) or 'none'}")
    print("prometheus check passed")


if __name__ == "__main__":
    main()
