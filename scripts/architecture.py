#!/usr/bin/env python3
"""The architecture picture, from one description (below) and what the code says:

  scripts/architecture.py           regenerate architecture_schema.drawio and the Mermaid
                                    block between the architecture markers (README.md, or
                                    the page under docs/ that holds them)
  scripts/architecture.py --check   fail if either is out of date, if the drawio file is not
                                    a valid mxfile, if a crate of services/ is missing, or if
                                    the drawn calls differ from the code's (MQTT: who has an
                                    `mqtt.broker_url` setting)

Ports and database names in the labels come from `delos describe` (scripts/lib/crates.py,
from the release build); the calls drawn between services, to health_check (reports), to
Postgres, Redis and the third-party APIs are compared with its `depends_on`.
Standard library only. draw.io opens the uncompressed mxfile as it is.
"""

import glob
import os
import sys
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts", "lib"))
from crates import described, service_crates  # noqa: E402
DRAWIO = os.path.join(ROOT, "architecture_schema.drawio")
BEGIN, END = "<!-- architecture:begin (scripts/architecture.py) -->", "<!-- architecture:end -->"

# Database owners, left to right in the drawing's Postgres row (node `pg_<database>`).
PG_OWNERS = ["db_proxy", "lambo_checker", "sensor_api", "health_check"]
# Calls the code makes that the picture leaves out on purpose, and why.
UNDRAWN = {("sensor_api", "redis"): "rate-limit counters only; the edge waits for the next regeneration of the picture"}


def nodes():
    """id, label lines, kind, column, row (grid position in the drawing)."""
    d = described()

    def svc(name):
        ports = d[name]["ports"]
        return f"{name} :{ports['http']}" + (f" · gRPC :{ports['grpc']}" if "grpc" in ports else "")

    def public(*names):
        return " ".join(f":{d[n]['ports']['http']}" for n in names)

    redis_port = next(s["depends_on"]["redis"]["port"] for s in d.values() if s["depends_on"]["redis"])
    pg = [d[o]["depends_on"]["postgres"] for o in PG_OWNERS]
    return [
        ("clients", ["Clients", "HTTP · gRPC · browser"], "actor", 2, 0),
        ("devices", ["Sensors", "MQTT publishers"], "actor", 3, 0),
        ("mosquitto", ["Mosquitto :1883", "MQTT broker · delos/sensors/…"], "broker", 3, 1),
        ("gateway", ["gateway (nginx, compose only)", f"{public('create_buy_order', 'fetch_buy_orders')} → replicas"], "proxy", 1, 1),
        ("create_buy_order", [svc("create_buy_order"), "public · stateless"], "service", 0, 2),
        ("fetch_buy_orders", [svc("fetch_buy_orders"), "public · stateless"], "service", 1, 2),
        ("lambo_checker", [svc("lambo_checker"), "public · owns DB lambo + Redis result cache"], "service", 2, 2),
        ("sensor_api", [svc("sensor_api"), "public · owns DB sensors"], "service", 3, 2),
        ("api_updater", [svc("api_updater"), "every 15 s · stateless"], "service", 4, 2),
        ("api_cache_proxy", [svc("api_cache_proxy"), "internal · owns the Redis price record"], "service", 0, 3),
        ("db_proxy", [svc("db_proxy"), "internal · owns DB orders (the 100 BTC cap)"], "service", 1, 3),
        ("health_check", [svc("health_check"), "owns DB health · status page"], "service", 3, 3),
        ("redis", [f"Redis :{redis_port}", "rate limits · price record · caches"], "store", 0, 4),
    ] + [
        (f"pg_{p['database']}", [f"Postgres :{p['port']}", f"DB {p['database']}"], "db", 1 + i, 4) for i, p in enumerate(pg)
    ] + [
        ("third_party", ["Third-party price APIs", "Coinbase · Kraken · CoinGecko · Binance"], "external", 4, 1),
        ("pgadmin", ["pgAdmin :5050", "compose only"], "tool", 4, 5),
        ("prometheus", ["Prometheus :9090", "compose only · scrapes every /metrics"], "tool", 3, 5),
    ]

# caller, callee, label; health reports are drawn dashed
EDGES = [
    ("clients", "gateway", ""),
    ("clients", "lambo_checker", ""),
    ("clients", "sensor_api", ""),
    ("clients", "health_check", "status"),
    ("gateway", "create_buy_order", ""),
    ("gateway", "fetch_buy_orders", ""),
    ("create_buy_order", "api_cache_proxy", "price"),
    ("create_buy_order", "db_proxy", "/add"),
    ("create_buy_order", "redis", "rate limit"),
    ("fetch_buy_orders", "db_proxy", "/get · /orders/after"),
    ("fetch_buy_orders", "api_cache_proxy", "price (page)"),
    ("fetch_buy_orders", "redis", "rate limit"),
    ("api_updater", "third_party", "spot prices"),
    ("api_updater", "api_cache_proxy", "/add"),
    ("api_cache_proxy", "redis", ""),
    ("db_proxy", "pg_orders", ""),
    ("lambo_checker", "pg_lambo", ""),
    ("lambo_checker", "redis", "cache"),
    ("lambo_checker", "third_party", "price history"),
    ("sensor_api", "pg_sensors", ""),
    ("devices", "mosquitto", "publish"),
    ("sensor_api", "mosquitto", "subscribe · QoS 1"),
    ("health_check", "pg_health", ""),
    ("pgadmin", "pg_health", ""),
]
REPORTERS = ["create_buy_order", "fetch_buy_orders", "lambo_checker", "sensor_api", "api_updater",
             "api_cache_proxy", "db_proxy"]

STYLES = {
    "actor": "shape=umlActor;verticalLabelPosition=bottom;verticalAlign=top;html=1;",
    "proxy": "rounded=1;whiteSpace=wrap;html=1;fillColor=#f5f5f5;strokeColor=#666666;dashed=1;",
    "service": "rounded=1;whiteSpace=wrap;html=1;fillColor=#dae8fc;strokeColor=#6c8ebf;",
    "store": "shape=cylinder3;whiteSpace=wrap;html=1;boundedLbl=1;size=10;fillColor=#f8cecc;strokeColor=#b85450;",
    "db": "shape=cylinder3;whiteSpace=wrap;html=1;boundedLbl=1;size=10;fillColor=#d5e8d4;strokeColor=#82b366;",
    "broker": "shape=hexagon;perimeter=hexagonPerimeter2;whiteSpace=wrap;html=1;size=0.1;fillColor=#ffe6cc;strokeColor=#d79b00;",
    "external": "shape=cloud;whiteSpace=wrap;html=1;fillColor=#fff2cc;strokeColor=#d6b656;",
    "tool": "rounded=0;whiteSpace=wrap;html=1;fillColor=#e1d5e7;strokeColor=#9673a6;",
}
W, H, DX, DY = 210, 60, 250, 120


def drawio():
    NODES = nodes()
    cells = ['<mxCell id="0"/>', '<mxCell id="1" parent="0"/>']
    for nid, lines, kind, col, row in NODES:
        label = escape("<br>".join(escape(line) for line in lines), {'"': "&quot;"})
        w, h = (40, 60) if kind == "actor" else (W, H + (10 if kind in ("db", "store") else 0))
        x = 40 + col * DX + (W - w) // 2
        y = 40 + row * DY
        cells.append(
            f'<mxCell id="{nid}" value="{label}" style="{STYLES[kind]}" vertex="1" parent="1">'
            f'<mxGeometry x="{x}" y="{y}" width="{w}" height="{h}" as="geometry"/></mxCell>'
        )
    edges = [(a, b, label, False) for a, b, label in EDGES] + [(r, "health_check", "reports", True) for r in REPORTERS]
    for i, (a, b, label, dashed) in enumerate(edges):
        style = "edgeStyle=orthogonalEdgeStyle;rounded=1;html=1;endArrow=block;" + (
            "dashed=1;strokeColor=#999999;fontColor=#999999;" if dashed else ""
        )
        cells.append(
            f'<mxCell id="e{i}" value="{escape(label)}" style="{style}" edge="1" parent="1" source="{a}" target="{b}">'
            f'<mxGeometry relative="1" as="geometry"/></mxCell>'
        )
    body = "\n        ".join(cells)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by scripts/architecture.py; edit the description there and rerun it. -->
<mxfile host="delos" type="device" version="24.0.0">
  <diagram id="delos-architecture" name="Delos">
    <mxGraphModel dx="1400" dy="900" grid="1" gridSize="10" guides="1" tooltips="1" connect="1" arrows="1" fold="1" page="1" pageScale="1" pageWidth="1400" pageHeight="900" math="0" shadow="0">
      <root>
        {body}
      </root>
    </mxGraphModel>
  </diagram>
</mxfile>
"""


def mermaid():
    shapes = {"actor": ("([", "])"), "proxy": ("[/", "/]"), "service": ("[", "]"), "store": ("[(", ")]"),
              "db": ("[(", ")]"), "external": ("{{", "}}"), "tool": ("[", "]"), "broker": ("[[", "]]")}
    out = ["```mermaid", "flowchart TB"]
    for nid, lines, kind, _, _ in nodes():
        a, b = shapes[kind]
        out.append(f'    {nid}{a}"{"<br/>".join(lines)}"{b}')
    for a, b, label in EDGES:
        out.append(f"    {a} -->|{label}| {b}" if label else f"    {a} --> {b}")
    for r in REPORTERS:
        out.append(f"    {r} -.->|reports| health_check")
    out.append("```")
    return "\n".join(out)


def picture_page():
    """The Markdown file holding the architecture markers: README.md or a page of docs/."""
    for path in [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md"))):
        if os.path.exists(path) and BEGIN in open(path, encoding="utf-8").read():
            return path
    raise SystemExit(f"no Markdown file (README.md, docs/*.md) holds the markers {BEGIN} … {END}")


def page_with(path, block):
    text = open(path, encoding="utf-8").read()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{os.path.relpath(path, ROOT)} lacks the markers {BEGIN} … {END}")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{block}\n{END}{tail}"


def check_calls():
    """The drawn calls are the code's (`delos describe`'s depends_on), both ways."""
    errors = []
    d = described()
    drawn = {(a, b) for a, b, _ in EDGES} | {(r, "health_check") for r in REPORTERS}
    code = set()
    for name, s in d.items():
        deps = s["depends_on"]
        code |= {(name, c["service"]) for c in deps["services"]}
        if deps["postgres"]:
            code.add((name, f"pg_{deps['postgres']['database']}"))
        if deps["redis"]:
            code.add((name, "redis"))
        if deps["external"]:
            code.add((name, "third_party"))
    ends = set(d) | {"redis", "third_party"} | {n[0] for n in nodes() if n[2] == "db"}
    drawn = {(a, b) for a, b in drawn if a in d and b in ends}
    for a, b in sorted(code - drawn):
        if (a, b) not in UNDRAWN:
            errors.append(f"the code has {a} call {b} (delos describe), the picture does not: add the edge")
    for a, b in sorted(drawn - code):
        errors.append(f"the picture has {a} call {b}, the code does not (delos describe)")
    for a, b in sorted(set(UNDRAWN) - code):
        errors.append(f"UNDRAWN lists {a} → {b}, which the code does not call: remove it")
    # The broker is configured per deployment (its default URL is empty, so describe's
    # depends_on does not list it): the services drawn subscribing are those with the setting.
    subscribers = sorted(n for n, s in d.items() if any(st["key"] == "mqtt.broker_url" for st in s["settings"]))
    drawn_subscribers = sorted(a for a, b, _ in EDGES if b == "mosquitto" and a in d)
    if drawn_subscribers != subscribers:
        errors.append(f"the picture has {drawn_subscribers} subscribe at the MQTT broker, the code {subscribers} (mqtt.broker_url)")
    owners = sorted(n for n, s in d.items() if s["depends_on"]["postgres"])
    if owners != sorted(PG_OWNERS):
        errors.append(f"PG_OWNERS is {sorted(PG_OWNERS)}, the services owning a database are {owners}")
    return errors


def check():
    crates = service_crates()
    errors = [f"`delos describe` does not list {c}" for c in crates if c not in described()]
    if errors:  # the labels need every service's ports
        for e in errors:
            print("FAIL " + e, file=sys.stderr)
        return 1
    NODES = nodes()
    try:
        tree = ET.parse(DRAWIO)
        root = tree.getroot()
        model = root.find("./diagram/mxGraphModel/root")
        if root.tag != "mxfile" or model is None:
            errors.append("architecture_schema.drawio is not an uncompressed mxfile")
        else:
            labels = " ".join(c.get("value", "") for c in model.iter("mxCell"))
            ids = {c.get("id") for c in model.iter("mxCell")}
            for c in model.iter("mxCell"):
                for end in ("source", "target"):
                    if c.get("edge") == "1" and c.get(end) not in ids:
                        errors.append(f"edge {c.get('id')} points at a missing cell {c.get(end)}")
            errors += [f"architecture_schema.drawio does not name {c}" for c in crates if c not in labels]
    except (ET.ParseError, OSError) as e:
        errors.append(f"architecture_schema.drawio does not parse: {e}")
    in_picture = {n[0] for n in NODES}
    errors += [f"scripts/architecture.py does not describe {c}" for c in crates if c not in in_picture]
    if os.path.exists(DRAWIO) and open(DRAWIO, encoding="utf-8").read() != drawio():
        errors.append("architecture_schema.drawio is out of date: run scripts/architecture.py")
    page = picture_page()
    if open(page, encoding="utf-8").read() != page_with(page, mermaid()):
        errors.append(f"{os.path.relpath(page, ROOT)}'s Mermaid diagram is out of date: run scripts/architecture.py")
    errors += check_calls()
    for e in errors:
        print("FAIL " + e, file=sys.stderr)
    print(f"architecture: {len(crates)} service crates, {len(errors)} problems")
    return 1 if errors else 0


def main():
    if "--check" in sys.argv[1:]:
        return check()
    with open(DRAWIO, "w", encoding="utf-8") as f:
        f.write(drawio())
    page = picture_page()
    new = page_with(page, mermaid())
    with open(page, "w", encoding="utf-8") as f:
        f.write(new)
    print(f"wrote architecture_schema.drawio and {os.path.relpath(page, ROOT)}'s Mermaid block")
    return 0


if __name__ == "__main__":
    sys.exit(main())
