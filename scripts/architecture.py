#!/usr/bin/env python3
"""The architecture picture, from one description (below, as DESIGN.md's service table):

  scripts/architecture.py           regenerate architecture_schema.drawio and the Mermaid
                                    block of README.md (between the architecture markers)
  scripts/architecture.py --check   fail if either is out of date, if the drawio file is not
                                    a valid mxfile, or if a crate of services/ is missing

Standard library only. draw.io opens the uncompressed mxfile as it is.
"""

import os
import sys
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts", "lib"))
from crates import service_crates  # noqa: E402
DRAWIO = os.path.join(ROOT, "architecture_schema.drawio")
README = os.path.join(ROOT, "README.md")
BEGIN, END = "<!-- architecture:begin (scripts/architecture.py) -->", "<!-- architecture:end -->"

# id, label lines, kind, column, row (grid position in the drawing)
NODES = [
    ("clients", ["Clients", "HTTP · gRPC · browser"], "actor", 2, 0),
    ("gateway", ["gateway (nginx, compose only)", ":8001 :8020 → replicas"], "proxy", 1, 1),
    ("create_buy_order", ["create_buy_order :8001", "public · stateless"], "service", 0, 2),
    ("fetch_buy_orders", ["fetch_buy_orders :8020", "public · stateless"], "service", 1, 2),
    ("lambo_checker", ["lambo_checker :8060 · gRPC :50051", "public · owns DB lambo + Redis result cache"], "service", 2, 2),
    ("sensor_api", ["sensor_api :8080", "public · owns DB sensors"], "service", 3, 2),
    ("api_updater", ["api_updater :8003", "every 15 s · stateless"], "service", 4, 2),
    ("api_cache_proxy", ["api_cache_proxy :8002", "internal · owns the Redis price record"], "service", 0, 3),
    ("db_proxy", ["db_proxy :8010", "internal · owns DB orders (the 100 BTC cap)"], "service", 1, 3),
    ("health_check", ["health_check :8050", "owns DB health · status page"], "service", 3, 3),
    ("redis", ["Redis :6379", "rate limits · price record · caches"], "store", 0, 4),
    ("pg_orders", ["Postgres :5432", "DB orders"], "db", 1, 4),
    ("pg_lambo", ["Postgres :5432", "DB lambo"], "db", 2, 4),
    ("pg_sensors", ["Postgres :5432", "DB sensors"], "db", 3, 4),
    ("pg_health", ["Postgres :5432", "DB health"], "db", 4, 4),
    ("third_party", ["Third-party price APIs", "Coinbase · Kraken · CoinGecko · Binance"], "external", 4, 1),
    ("pgadmin", ["pgAdmin :5050", "compose only"], "tool", 4, 5),
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
    ("fetch_buy_orders", "db_proxy", "/get"),
    ("fetch_buy_orders", "redis", "rate limit"),
    ("api_updater", "third_party", "spot prices"),
    ("api_updater", "api_cache_proxy", "/add"),
    ("api_cache_proxy", "redis", ""),
    ("db_proxy", "pg_orders", ""),
    ("lambo_checker", "pg_lambo", ""),
    ("lambo_checker", "redis", "cache"),
    ("lambo_checker", "third_party", "price history"),
    ("sensor_api", "pg_sensors", ""),
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
    "external": "shape=cloud;whiteSpace=wrap;html=1;fillColor=#fff2cc;strokeColor=#d6b656;",
    "tool": "rounded=0;whiteSpace=wrap;html=1;fillColor=#e1d5e7;strokeColor=#9673a6;",
}
W, H, DX, DY = 210, 60, 250, 120


def drawio():
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
              "db": ("[(", ")]"), "external": ("{{", "}}"), "tool": ("[", "]")}
    out = ["```mermaid", "flowchart TB"]
    for nid, lines, kind, _, _ in NODES:
        a, b = shapes[kind]
        out.append(f'    {nid}{a}"{"<br/>".join(lines)}"{b}')
    for a, b, label in EDGES:
        out.append(f"    {a} -->|{label}| {b}" if label else f"    {a} --> {b}")
    for r in REPORTERS:
        out.append(f"    {r} -.->|reports| health_check")
    out.append("```")
    return "\n".join(out)


def readme_with(block):
    text = open(README, encoding="utf-8").read()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"README.md lacks the markers {BEGIN} … {END}")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{block}\n{END}{tail}"


def check():
    errors = []
    crates = service_crates()
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
    described = {n[0] for n in NODES}
    errors += [f"scripts/architecture.py does not describe {c}" for c in crates if c not in described]
    if os.path.exists(DRAWIO) and open(DRAWIO, encoding="utf-8").read() != drawio():
        errors.append("architecture_schema.drawio is out of date: run scripts/architecture.py")
    if open(README, encoding="utf-8").read() != readme_with(mermaid()):
        errors.append("README.md's Mermaid diagram is out of date: run scripts/architecture.py")
    for e in errors:
        print("FAIL " + e, file=sys.stderr)
    print(f"architecture: {len(crates)} service crates, {len(errors)} problems")
    return 1 if errors else 0


def main():
    if "--check" in sys.argv[1:]:
        return check()
    with open(DRAWIO, "w", encoding="utf-8") as f:
        f.write(drawio())
    new = readme_with(mermaid())
    with open(README, "w", encoding="utf-8") as f:
        f.write(new)
    print("wrote architecture_schema.drawio and README.md's Mermaid block")
    return 0


if __name__ == "__main__":
    sys.exit(main())
