#!/usr/bin/env python3
"""Checks run against a running Delos stack (compose, or `delos up`); standard library only.

  e2e_checks.py readme [--token T]       run every curl example of README.md and docs/*.md,
                [--file F ...] [--list]  file by file; fail on a 5xx (503 allowed where the
                                         line says "needs internet"), a connection failure,
                                         or a placeholder left unfilled; --list prints the
                                         commands per file without running them
  e2e_checks.py cap URL [URL...]         concurrent orders across create_buy_order replicas:
                                         stored BTC <= cap, every 201 stored exactly once
  e2e_checks.py snapshot DB_PROXY_URL    print the orders count and used BTC (persistence check)
  e2e_checks.py trace CREATE_URL FETCH_URL  an order and a page sent with one new `traceparent`:
                                         both answers name that trace; prints its trace id
                                         (the caller then finds it in every service's log)

Requests to public routes send X-API-Key from $DELOS_E2E_API_KEY when set (a key the
stack gives a high limit), so a check is never cut short by the rate limiter.

Curl examples are the lines starting with `curl ` inside fenced code blocks (continuation
lines joined). A block whose info string contains `no-run` (```sh no-run) is listed but
never run: commands for another machine (a cluster, an Ingress host). Commands run from
the repository root, so `@services/...` upload paths resolve. `<id>`, `<next_cursor>`
and `<task_id>` are filled from the latest answer of the same file that had one.
"""

import argparse
import concurrent.futures
import glob
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from decimal import Decimal

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
API_KEY = os.environ.get("DELOS_E2E_API_KEY", "")


def http(method, url, body=None, headers=None, timeout=30):
    """(status, parsed JSON or text) of one request."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if API_KEY:
        req.add_header("X-API-Key", API_KEY)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            status, raw = res.status, res.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


NO_RUN = "no-run"


def doc_files():
    """README.md, then every docs/*.md in name order, as paths relative to the root."""
    docs = sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))
    return ["README.md"] + docs


def readme_commands(path, with_skipped=False):
    """Every curl command in a Markdown file's code blocks, continuation lines joined.

    Blocks whose info string contains `no-run` are left out, or returned marked as
    skipped when `with_skipped` (then the result is a list of (command, skipped))."""
    commands, in_block, skip, pending, last_was_command = [], False, False, "", False
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("```"):
                in_block, pending = not in_block, ""
                skip = in_block and NO_RUN in line[3:].split()
                continue
            if not in_block:
                continue
            text = pending + line.rstrip("\n")
            if text.rstrip().endswith("\\"):
                pending = text.rstrip()[:-1] + " "
                continue
            pending = ""
            # A `# → …` line right after a command says what it answers: it belongs to it.
            if text.lstrip().startswith("# →") and commands and last_was_command:
                entry = commands[-1]
                if with_skipped:
                    commands[-1] = (entry[0] + "  " + text.strip(), entry[1])
                else:
                    commands[-1] = entry + "  " + text.strip()
                continue
            last_was_command = False
            if text.lstrip().startswith("curl "):
                last_was_command = with_skipped or not skip
                if with_skipped:
                    commands.append((text.strip(), skip))
                elif not skip:
                    commands.append(text.strip())
    return commands


def comment_of(command):
    """The shell comment ending a command line (after an unquoted `#`), or ""."""
    quote = None
    for i, c in enumerate(command):
        if quote:
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or command[i - 1].isspace()):
            return command[i + 1:]
    return ""


def expected_errors(command):
    """The 4xx/5xx statuses an example's comment says it may answer: an error is only
    a pass where the documentation says it is the answer."""
    return {int(n) for n in re.findall(r"\b([45]\d\d)\b", comment_of(command))}


def run_file(rel, env):
    """Runs one file's curl examples; returns (ran, failures)."""
    found = {}  # placeholder -> value seen in an earlier answer of this file
    ran, failures = 0, []
    for command in readme_commands(os.path.join(ROOT, rel)):
        missing = set()
        comment = comment_of(command)
        code = command[: len(command) - len(comment)] if comment else command
        for name in re.findall(r"<([a-z_]+)>", code):
            if name in found:
                command = command.replace(f"<{name}>", found[name])
            else:
                missing.add(name)
        if missing:
            failures.append(f"{rel}: {command}\n    no value for {', '.join(sorted(missing))} from an earlier example")
            continue
        # Run as written (quotes, $TOKEN, $(date)), with the status code added up front:
        # appended options would land in a trailing comment.
        probe = "curl --max-time 20 -w '\\n%{http_code}' " + command[len("curl "):]
        out = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, env=env, cwd=ROOT, check=False)
        body, _, status = out.stdout.rpartition("\n")
        ran += 1
        ok = status.isdigit() and (100 <= int(status) < 400 or int(status) in expected_errors(command))
        # An example marked "needs internet" may meet a provider that cannot be
        # reached here; its honest answer is 503 with Retry-After.
        if "needs internet" in command and status == "503":
            ok = True
        print(f"  {status or '---'}  {command[:110]}")
        if not ok:
            failures.append(f"{rel}: {command}\n    answered {status or 'nothing'} {out.stderr.strip()[:200]} {body[:300]}")
        # The latest id and cursor seen fill the placeholders of the examples after them.
        for key, name in (('"id"', "id"), ('"next_cursor"', "next_cursor"), ('"task_id"', "task_id")):
            m = re.search(key + r'\s*:\s*(?:"([^"]+)"|(\d+))', body)
            if m:
                found[name] = m.group(1) or m.group(2)
    return ran, failures


def cmd_readme(args):
    files = args.file or doc_files()
    for rel in files:
        if not os.path.isfile(os.path.join(ROOT, rel)):
            print(f"no such file: {rel}", file=sys.stderr)
            return 1
    if args.list:
        total = skipped = 0
        for rel in files:
            commands = readme_commands(os.path.join(ROOT, rel), with_skipped=True)
            runnable = sum(1 for _, skip in commands if not skip)
            print(f"{rel}: {runnable} curl examples" + (f" (+{len(commands) - runnable} no-run)" if runnable < len(commands) else ""))
            for command, skip in commands:
                print(f"  {'no-run ' if skip else ''}{command}")
            total += runnable
            skipped += len(commands) - runnable
        print(f"{total} curl examples in {len(files)} files ({skipped} in no-run blocks)")
        return 0
    token = args.token or os.environ.get("TOKEN") or os.environ.get("DELOS__SERVICE_TOKEN", "")
    if not readme_commands(os.path.join(ROOT, "README.md")) and not args.file:
        print("no curl examples found in README.md", file=sys.stderr)
        return 1
    env = dict(os.environ, TOKEN=token)
    ran_all, failures, summary = 0, [], []
    for rel in files:
        print(f"{rel}:")
        ran, failed = run_file(rel, env)
        ran_all += ran
        failures += failed
        summary.append(f"  {rel}: {ran} ran, {len(failed)} failed")
    print("curl examples per file:")
    for line in summary:
        print(line)
    print(f"curl examples: {ran_all} ran in {len(files)} files, {len(failures)} failed")
    for f in failures:
        print("  FAIL " + f, file=sys.stderr)
    return 1 if failures else 0


def cmd_cap(args):
    rec_status, record = http("GET", args.cache_url.rstrip("/") + "/record")
    if rec_status != 200:
        print(f"no price record ({rec_status}): {record}", file=sys.stderr)
        return 1
    rate = Decimal(record["rates"]["EUR"] if "rates" in record else record["EUR"])
    # Orders of ~0.5 BTC: together they ask for more than the 100 BTC cap.
    amount = (rate / 2).quantize(Decimal("0.01"))
    n = args.orders
    urls = args.urls

    def place(i):
        url = urls[i % len(urls)].rstrip("/") + "/place_order"
        return http("POST", url, {"currency": "EUR", "amount": str(amount)}, {"Idempotency-Key": f"cap-{i}"})

    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(place, range(n)))
    statuses = {}
    for s, _ in results:
        statuses[s] = statuses.get(s, 0) + 1
    accepted = [b["order"] for s, b in results if s == 201]
    stored_sum = sum(Decimal(o["bitcoin_amount"]) for o in accepted)
    ids = {o["id"] for o in accepted}
    _, cap = http("GET", urls[0].rstrip("/") + "/capacity")
    used = Decimal(cap["used_btc"])
    problems = []
    if set(statuses) - {201, 409}:
        problems.append(f"unexpected statuses {statuses}")
    if len(ids) != len(accepted):
        problems.append("an order id was returned twice")
    if used > Decimal("100"):
        problems.append(f"stored {used} BTC > 100")
    if stored_sum > used:
        problems.append(f"accepted {stored_sum} BTC but only {used} stored")
    if statuses.get(409, 0) == 0:
        problems.append("no order was refused: the test did not reach the cap")
    for oid in list(ids)[:50]:
        s, o = http("GET", urls[0].rstrip("/") + f"/orders/{oid}")
        if s != 200 or o.get("id") != oid:
            problems.append(f"accepted order {oid} not stored ({s})")
            break
    print(
        f"cap test: {n} orders of {amount} EUR at {rate} over {len(urls)} replicas -> {statuses}; "
        f"accepted {stored_sum} BTC, stored in all {used} BTC (cap 100)"
    )
    for p in problems:
        print("  FAIL " + p, file=sys.stderr)
    return 1 if problems else 0


def cmd_snapshot(args):
    s, cap = http("GET", args.db_proxy_url.rstrip("/") + "/capacity")
    if s != 200:
        print(f"capacity answered {s}: {cap}", file=sys.stderr)
        return 1
    print(json.dumps({"orders": cap["orders"], "used_btc": cap["used_btc"]}, sort_keys=True))
    return 0


def cmd_trace(args):
    import secrets
    import time
    trace_id = secrets.token_hex(16)
    # create_buy_order reuses a price for up to a second: let it expire, so the
    # order's trace reaches api_cache_proxy too.
    time.sleep(1.5)
    for method, url, body, ok in (
        ("POST", args.create_url.rstrip("/") + "/place_order", {"currency": "EUR", "amount": "10"}, (201, 409)),
        ("GET", args.fetch_url.rstrip("/") + "/get_orders?page_size=1", None, (200,)),
    ):
        req = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(), method=method)
        req.add_header("Content-Type", "application/json")
        req.add_header("traceparent", f"00-{trace_id}-{secrets.token_hex(8)}-01")
        if API_KEY:
            req.add_header("X-API-Key", API_KEY)
        try:
            with urllib.request.urlopen(req, timeout=30) as res:
                status, returned = res.status, res.headers.get("traceparent", "")
        except urllib.error.HTTPError as e:
            status, returned = e.code, e.headers.get("traceparent", "")
        if status not in ok or returned.split("-")[1:2] != [trace_id]:
            print(f"{method} {url} answered {status} with traceparent {returned!r}, want trace {trace_id}",
                  file=sys.stderr)
            return 1
    print(trace_id)
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("readme", help="run the curl examples of README.md and docs/*.md")
    r.add_argument("--token", help="the stack's service token ($TOKEN in the examples)")
    r.add_argument("--file", action="append", metavar="PATH",
                   help="only this Markdown file, relative to the repository root (repeatable)")
    r.add_argument("--list", action="store_true", help="print the commands per file without running them")
    c = sub.add_parser("cap")
    c.add_argument("urls", nargs="+")
    c.add_argument("--cache-url", default="http://127.0.0.1:8002")
    c.add_argument("--orders", type=int, default=260)
    s = sub.add_parser("snapshot")
    s.add_argument("db_proxy_url")
    t = sub.add_parser("trace")
    t.add_argument("create_url")
    t.add_argument("fetch_url")
    args = p.parse_args()
    return {"readme": cmd_readme, "cap": cmd_cap, "snapshot": cmd_snapshot, "trace": cmd_trace}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
