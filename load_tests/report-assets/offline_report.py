#!/usr/bin/env python3
"""Makes goose's HTML report self-contained, then checks in headless Chromium that its
charts are drawn. scripts/load runs both after each goose run.

    offline_report.py inline REPORT.html
        Replaces goose's echarts CDN tag with the vendored echarts.min.js beside this
        file (Apache ECharts, see NOTICE). Fails when the tag is not there exactly once
        (a goose upgrade changed it: vendor the version its report.rs names) or when the
        script could end its own <script> element.

    offline_report.py check REPORT.html PNG CHROMIUM
        Renders the report with the network unreachable, keeps a screenshot at PNG, and
        fails unless every chart div goose wrote holds an echarts canvas with pixels
        painted on it (a page whose echarts did not load has none).

Exit status 0 when it held, 1 when not (with the reason on stderr).
"""

import html.parser
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ECHARTS_VERSION = "5.2.2"
# Exactly what goose 0.18.1 writes (src/report.rs).
CDN_TAG = f'<script src="https://cdn.jsdelivr.net/npm/echarts@{ECHARTS_VERSION}/dist/echarts.min.js"></script>'
# goose's graph template (src/graph.rs): the div it hands to echarts.init.
CHART_RE = re.compile(r"document\.getElementById\('([^']+)'\);\s*var myChart = echarts\.init\(chartDom\)")
PROBE_ID = "delos-chart-probe"


def fail(msg):
    print(f"offline_report: {msg}", file=sys.stderr)
    sys.exit(1)


def inline(report):
    with open(report, encoding="utf-8") as f:
        page = f.read()
    n = page.count(CDN_TAG)
    if n != 1:
        others = re.findall(r"<script[^>]*src=[^>]*>", page)
        fail(
            f"{report}: goose's echarts tag {CDN_TAG!r} found {n} times, expected once "
            f"(script tags with src: {others}); after a goose upgrade, vendor the echarts "
            f"version its report.rs loads into {HERE} and update ECHARTS_VERSION"
        )
    with open(os.path.join(HERE, "echarts.min.js"), encoding="utf-8") as f:
        js = f.read()
    # Inside <script> only "</script" ends the element, and "<!--" with "<script" can
    # change how the parser reads it; the vendored file has neither.
    for bad in ("</script", "<!--"):
        if bad in js.lower():
            fail(f"echarts.min.js contains {bad!r}: it cannot be inlined as it is")
    tag = (
        f"<script>/* Apache ECharts {ECHARTS_VERSION} (Apache-2.0), inlined by scripts/load from "
        f"load_tests/report-assets/echarts.min.js; see NOTICE */\n{js}\n</script>"
    )
    page = page.replace(CDN_TAG, tag)
    left = re.findall(r"<(?:script|link|img)[^>]*(?:src|href)=[\"']?(?:https?:)?//[^>]*>", page)
    if left:
        fail(f"{report}: still loads from the network after inlining: {left}")
    tmp = report + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(page)
    os.replace(tmp, report)
    print(f"{report}: echarts {ECHARTS_VERSION} inlined ({len(js.encode())} bytes), nothing loaded from the network")


class Dom(html.parser.HTMLParser):
    """Which ids hold a canvas (with a size), and the probe's text."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self):
        super().__init__()
        self.stack = []  # (tag, id)
        self.canvases = {}  # id → canvases inside it
        self.probe = None
        self._in_probe = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "canvas" and int(a.get("width") or 0) > 0 and int(a.get("height") or 0) > 0:
            for _, el_id in self.stack:
                if el_id:
                    self.canvases[el_id] = self.canvases.get(el_id, 0) + 1
        if tag not in self.VOID:
            self.stack.append((tag, a.get("id")))
        self._in_probe = a.get("id") == PROBE_ID

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break
        self._in_probe = False

    def handle_data(self, data):
        if self._in_probe:
            self.probe = (self.probe or "") + data


# Appended to a copy of the report: after the charts' animation, counts the pixels
# echarts painted in each chart's canvases (a canvas that was created but never drawn
# on has none) and writes them into the page, where --dump-dom shows them.
PROBE = """<script>
window.addEventListener('load', function () {
  setTimeout(function () {
    var out = {};
    IDS.forEach(function (id) {
      var painted = 0, el = document.getElementById(id);
      (el ? el.querySelectorAll('canvas') : []).forEach(function (c) {
        var d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (var i = 3; i < d.length; i += 4) { if (d[i] > 0) painted++; }
      });
      out[id] = {instance: !!(el && window.echarts && echarts.getInstanceByDom(el)), painted: painted};
    });
    var pre = document.createElement('pre');
    pre.id = 'PROBE_ID';
    pre.style.display = 'none';
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  }, 3000);
});
</script>"""


def chromium(binary, *args):
    # No network at all: a host that does not resolve, so a CDN tag left in would fail.
    cmd = [
        binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--host-resolver-rules=MAP * ~NOTFOUND", "--hide-scrollbars", "--virtual-time-budget=10000",
        *args,
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        fail(f"chromium exited {r.returncode}: {r.stderr[-2000:]}")
    return r.stdout


def check(report, png, binary):
    with open(report, encoding="utf-8") as f:
        page = f.read()
    ids = CHART_RE.findall(page)
    if not ids:
        fail(f"{report}: no echarts chart found in goose's report (did its template change?)")
    probe = PROBE.replace("IDS", json.dumps(ids)).replace("PROBE_ID", PROBE_ID)
    end = page.rfind("</body>")  # the last one: echarts' own code has the string too
    if end < 0:
        fail(f"{report}: no </body>")
    with tempfile.TemporaryDirectory() as tmp:
        probed = os.path.join(tmp, "report.html")
        with open(probed, "w", encoding="utf-8") as f:
            f.write(page[:end] + probe + "\n" + page[end:])
        # One launch for both: the DOM after the probe ran, and the whole page in one
        # picture (its height estimated from goose's layout: a 500 px chart with its
        # heading per chart, about 33 px per table row).
        height = min(400 + 600 * len(ids) + 34 * page.count("<tr"), 20000)
        dom = Dom()
        dom.feed(
            chromium(
                binary, f"--window-size=1040,{height}", f"--screenshot={os.path.abspath(png)}",
                "--dump-dom", "file://" + probed,
            )
        )
    if not os.path.isfile(png) or not os.path.getsize(png):
        fail(f"{png}: no screenshot")
    painted = json.loads(dom.probe) if dom.probe else {}
    rows = []
    blank = []
    for i in ids:
        canvases = dom.canvases.get(i, 0)
        p = painted.get(i, {}).get("painted", 0)
        rows.append(f"{i}: {canvases} canvas, {p} px painted")
        if canvases == 0 or p == 0:
            blank.append(i)
    drawn = len(ids) - len(blank)
    print(f"{report}: {drawn} of {len(ids)} charts drawn in headless Chromium ({'; '.join(rows)}); screenshot {png}")
    if blank:
        fail(f"charts blank (no echarts canvas, or nothing painted on it): {blank}")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "inline":
        inline(sys.argv[2])
    elif len(sys.argv) == 5 and sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        fail("usage: offline_report.py inline REPORT.html | check REPORT.html PNG CHROMIUM")


if __name__ == "__main__":
    main()
