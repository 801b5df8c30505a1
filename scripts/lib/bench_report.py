"""Writes target/bench/report.md from the outputs of scripts/bench (stdout).

    python3 scripts/lib/bench_report.py target/bench "machine description"

One table: every "<figure> = <value> (goal <goal>)" line the benchmark runs print (each
compares a measurement with a baseline measured in the same run), then resident memory
per service and the build time; then each run's own output.
"""

import os
import re
import sys

out, machine = sys.argv[1], sys.argv[2]
ratio = re.compile(r"^(?P<fig>.+?) = (?P<val>[0-9.,]+ ?(?:x|ms|MB|%)?)(?: \(goal (?P<goal>[^)]*)\))?$")
rows = []
runs = []
for name in ("orders", "lambo", "sensors"):
    path = os.path.join(out, f"{name}.txt")
    if not os.path.exists(path):
        continue
    text = open(path).read()
    runs.append((name, text))
    for line in text.splitlines():
        m = ratio.match(line.strip())
        if m and "/" in m["fig"] or (m and m["goal"]):
            fig = m["fig"]
            measured, _, baseline = fig.partition(" / ")
            rows.append((name, measured.strip(), baseline.strip(), m["val"].strip(), m["goal"] or ""))

mem = []
build = test_build = ""
fig_path = os.path.join(out, "figures.txt")
if os.path.exists(fig_path):
    for line in open(fig_path):
        parts = line.split()
        if parts[:1] == ["mem"] and len(parts) == 4:
            mem.append((parts[1], int(parts[2]) / 1024, int(parts[3]) / 1024))
        elif parts[:1] == ["build"] and len(parts) == 2:
            build = parts[1]
        elif parts[:1] == ["test_build"] and len(parts) == 2:
            test_build = parts[1]

print(f"# Delos benchmark report\n\nMachine: {machine}. Every ratio compares two figures measured in the same run.\n")
print("| run | figure | baseline (same run) | value / ratio | goal |")
print("| --- | --- | --- | --- | --- |")
for r in rows:
    print("| " + " | ".join(r) + " |")
for svc, idle, peak in mem:
    goal = "< 150 MB" if svc == "delos" else "< 50 MB"
    what = "delos up (all services, one process)" if svc == "delos" else svc
    print(f"| memory | {what}: resident memory idle / under the goose load | | {idle:.0f} MB / {peak:.0f} MB | {goal} |")
if build:
    s = int(build)
    print(f"| build | clean release build of the workspace (`cargo build --release --workspace --bins`) | | {s // 60} min {s % 60:02d} s | <= 8 min |")
else:
    print("| build | clean release build | | not measured in this run (CLEAN_BUILD=1) | <= 8 min |")
if test_build:
    s = int(test_build)
    print(f"| build | clean debug test build (`cargo test --workspace --no-run`) | | {s // 60} min {s % 60:02d} s | <= 6 min |")
for name, text in runs:
    print(f"\n## benchmarks/{name}/run\n\n```text\n{text.strip()}\n```")
