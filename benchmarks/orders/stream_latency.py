#!/usr/bin/env python3
"""The order stream under load: N open `GET /orders/stream` consumers while orders are placed.

  stream_latency.py --fetch URL --create URL [--streams 500] [--orders 2000]
                    [--rate 100] [--probes 5] [--placers 16] [--key KEY]

Opens every stream first (each waits for its opening comment), then places the orders
through create_buy_order at `rate` a second with `placers` concurrent clients, and waits
until every stream has received every order placed (checked by the events' ids; the
`probes` streams also decode each order and check it against its id). Prints JSON: streams held, orders placed, events
delivered, missing and duplicated orders (both must be 0; the exit status says so),
overflows, and the latency from an order's `created_at` (stamped by db_proxy inside the
committing transaction) to its event's arrival, p50 / p99 / max in ms over every event
of the probe streams. Standard library only; the clock is the machine's, shared with db_proxy.
"""

import argparse
import asyncio
import concurrent.futures
import json
import sys
import time
import urllib.request
from datetime import datetime
from urllib.parse import urlsplit


class Stream:
    def __init__(self, probe):
        # Only probes decode the orders: one Python process reading every event of
        # hundreds of streams would measure its own backlog, not the server.
        self.probe = probe
        self.seqs = []
        self.latencies = []
        self.overflows = 0
        self.opened = asyncio.Event()


async def consume(url, key, stream, done):
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(
        f"GET /orders/stream HTTP/1.1\r\nHost: {parts.netloc}\r\nX-API-Key: {key}\r\n"
        "Accept: text/event-stream\r\n\r\n".encode()
    )
    await writer.drain()
    status = await reader.readline()
    if b" 200 " not in status:
        raise RuntimeError(f"stream answered {status!r}")
    chunked = False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        if line.lower().startswith(b"transfer-encoding:") and b"chunked" in line.lower():
            chunked = True
    buf = b""
    try:
        while not done.is_set():
            if chunked:
                size = int((await reader.readline()).strip() or b"0", 16)
                if size == 0:
                    break
                data = await reader.readexactly(size + 2)
                buf += data[:-2]
            else:
                data = await reader.read(65536)
                if not data:
                    break
                buf += data
            arrived = time.time()
            while b"\n\n" in buf:
                block, buf = buf.split(b"\n\n", 1)
                lines = block.decode().split("\n")
                if all(l.startswith(":") for l in lines):
                    stream.opened.set()
                    continue
                fields = {}
                for l in lines:
                    name, _, value = l.partition(": ")
                    fields[name] = fields.get(name, "") + value
                if fields.get("event") == "overflow":
                    stream.overflows += 1
                    return
                stream.seqs.append(int(fields["id"]))
                if stream.probe:
                    order = json.loads(fields["data"])
                    if order["seq"] != stream.seqs[-1]:
                        raise RuntimeError(f"event id {fields['id']} carries order {order['seq']}")
                    created = datetime.fromisoformat(order["created_at"].replace("Z", "+00:00")).timestamp()
                    stream.latencies.append((arrived - created) * 1000)
    finally:
        writer.close()


def place(create, key, i, not_before):
    time.sleep(max(0.0, not_before - time.time()))
    req = urllib.request.Request(
        f"{create}/place_order",
        data=json.dumps({"currency": "EUR", "amount": f"{1 + i % 50}.00"}).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "X-API-Key": key},
    )
    with urllib.request.urlopen(req, timeout=30) as res:
        return json.loads(res.read())["order"]["seq"]


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p))]


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fetch", required=True)
    ap.add_argument("--create", required=True)
    ap.add_argument("--streams", type=int, default=500)
    ap.add_argument("--orders", type=int, default=2000)
    ap.add_argument("--placers", type=int, default=16)
    ap.add_argument("--rate", type=float, default=100.0, help="orders per second")
    ap.add_argument("--probes", type=int, default=5, help="streams whose latency is measured")
    ap.add_argument("--key", default="bench")
    args = ap.parse_args()

    done = asyncio.Event()
    streams = [Stream(i < args.probes) for i in range(args.streams)]
    tasks = [asyncio.create_task(consume(args.fetch, args.key, s, done)) for s in streams]
    await asyncio.wait_for(asyncio.gather(*(s.opened.wait() for s in streams)), 60)

    loop = asyncio.get_running_loop()
    started = time.time()
    with concurrent.futures.ThreadPoolExecutor(args.placers) as pool:
        placed = await asyncio.gather(
            *(loop.run_in_executor(pool, place, args.create, args.key, i, started + i / args.rate)
              for i in range(args.orders))
        )
    placing_secs = time.time() - started
    wanted = set(placed)
    deadline = time.time() + 60
    while time.time() < deadline and not all(wanted <= set(s.seqs) or s.overflows for s in streams):
        await asyncio.sleep(0.1)
    done.set()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    latencies = sorted(l for s in streams for l in s.latencies)
    missing = sum(len(wanted - set(s.seqs)) for s in streams if not s.overflows)
    duplicated = sum(len(s.seqs) - len(set(s.seqs)) for s in streams)
    out_of_order = sum(1 for s in streams if s.seqs != sorted(s.seqs))
    report = {
        "streams": args.streams,
        "orders_placed": len(placed),
        "orders_per_sec": round(len(placed) / placing_secs, 1),
        "events_delivered": sum(len(s.seqs) for s in streams),
        "missing": missing,
        "duplicated": duplicated,
        "streams_out_of_order": out_of_order,
        "overflows": sum(s.overflows for s in streams),
        "latency_ms_p50": round(percentile(latencies, 0.50), 2) if latencies else None,
        "latency_ms_p99": round(percentile(latencies, 0.99), 2) if latencies else None,
        "latency_ms_max": round(latencies[-1], 2) if latencies else None,
    }
    print(json.dumps(report, indent=2))
    return 0 if missing == 0 and duplicated == 0 and out_of_order == 0 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
