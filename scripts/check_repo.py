#!/usr/bin/env python3
"""Repository checks that tie the deployment to the code (run by .ci/run and pre-commit).

Fails when a service crate (services/<name>/Cargo.toml) is missing from docker-compose.yml,
from the local compose override or from the GitHub workflow's image matrix; when its binary
does not answer `--healthcheck` (the image's HEALTHCHECK); when a compose
service does not build the crate it is named after; when compose runs a crate that does not
exist; when the port compose gives a service differs from the service's default port
(`HttpSettings::on_port(N)` in its source); or when a crate leaves the common layout (lib.rs,
a thin main.rs, config.rs with `Settings`, startup.rs with `build`, routes with `ApiDoc`, the
handlers' shared state in state.rs, and no route module importing from startup). Standard library only (no YAML parser: the
compose file is read with `docker-compose config` when available, else by indentation).
"""

import json
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts", "lib"))
from crates import default_port, service_crates, source  # noqa: E402
ERRORS = []


def fail(msg):
    ERRORS.append(msg)


def compose_services(files):
    """Service name -> config, as docker-compose resolves it (JSON via `config`)."""
    if shutil.which("docker-compose"):
        cmd = ["docker-compose"] + sum((["-f", f] for f in files), []) + ["config"]
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            fail(f"docker-compose config failed for {files}: {out.stderr.strip()[:300]}")
            return {}
        return parse_yaml_services(out.stdout)
    return parse_yaml_services(open(os.path.join(ROOT, files[-1])).read())


def parse_yaml_services(text):
    """Just enough YAML: top-level `services:` keys and, per service, its text block."""
    services, current, inside = {}, None, False
    for line in text.splitlines():
        if re.match(r"^\S", line):
            inside = line.startswith("services:")
            current = None
            continue
        if not inside:
            continue
        m = re.match(r"^  ([A-Za-z0-9_.-]+):\s*$", line)
        if m:
            current = m.group(1)
            services[current] = ""
        elif current:
            services[current] += line + "\n"
    return services


def check_layout(crate):
    """Every service has the same rooms, so that knowing one service means knowing them all."""
    src = os.path.join(ROOT, "services", crate, "src")

    def read(*parts):
        path = os.path.join(src, *parts)
        return open(path, encoding="utf-8").read() if os.path.exists(path) else None

    lib, config, startup = read("lib.rs"), read("config.rs"), read("startup.rs")
    routes = read("routes.rs") or read("routes", "mod.rs")
    if lib is None or read("main.rs") is None:
        fail(f"services/{crate}: lib.rs and main.rs are both needed (a library with a thin main)")
        return
    for name, text, needle in [
        ("config.rs", config, "pub struct Settings"),
        ("startup.rs", startup, "pub async fn build("),
        ("routes.rs or routes/mod.rs", routes, "pub struct ApiDoc"),
    ]:
        if text is None:
            fail(f"services/{crate}/src: no {name}")
        elif needle not in text:
            fail(f"services/{crate}/src/{name}: lacks `{needle}`")
    for export in ["pub use config::Settings;", "pub use routes::ApiDoc;", "pub use startup::"]:
        if export not in lib:
            fail(f"services/{crate}/src/lib.rs: lacks `{export}`")
    if len(read("main.rs").splitlines()) > 40:
        fail(f"services/{crate}/src/main.rs: over 40 lines; the service belongs in the library")
    for dirpath, _, files in os.walk(src):
        for f in files:
            path = os.path.join(dirpath, f)
            rel = os.path.relpath(path, src)
            if not f.endswith(".rs"):
                continue
            text = open(path, encoding="utf-8").read()
            if rel != "state.rs" and re.search(r"^pub(\([a-z]+\))? struct State\b", text, re.M):
                fail(f"services/{crate}/src/{rel}: the handlers' State belongs in state.rs")
            if rel.startswith("routes") and "crate::startup" in text:
                fail(f"services/{crate}/src/{rel}: routes import from startup (a loop); use state.rs")


def main():
    names = service_crates()
    base = compose_services(["docker-compose.yml"])
    for c in names:
        block = base.get(c)
        if block is None:
            fail(f"docker-compose.yml has no service {c}")
            continue
        if not re.search(rf"SERVICE:\s*['\"]?{c}['\"]?\s*$", block, re.M):
            fail(f"docker-compose.yml: service {c} does not build with SERVICE={c}")
        port = default_port(source(c))
        if port is None:
            fail(f"services/{c}: no HttpSettings::on_port(N) default found")
        elif not re.search(rf"\b{port}\b", block):
            fail(f"docker-compose.yml: service {c} does not use its port {port}")
    for name, block in base.items():
        m = re.search(r"SERVICE:\s*['\"]?([a-z_]+)", block)
        if m and m.group(1) not in names:
            fail(f"docker-compose.yml: service {name} builds {m.group(1)}, which is not a crate")
    for c in names:
        main_rs = os.path.join(ROOT, "services", c, "src", "main.rs")
        if "healthcheck::exit_if_requested" not in open(main_rs).read():
            fail(f"services/{c}/src/main.rs does not answer --healthcheck (the image's HEALTHCHECK)")
    for c in names:
        check_layout(c)
    override = compose_services(["docker-compose.yml", "deployment/local/compose.host.yml"])
    for c in names:
        if c in override and "network_mode: host" not in override[c]:
            fail(f"deployment/local/compose.host.yml: {c} is not on the host network")
    workflow = open(os.path.join(ROOT, ".github/workflows/ci.yml")).read()
    m = re.search(r"service:\s*\[([^\]]*)\]", workflow)
    matrix = {s.strip() for s in m.group(1).split(",")} if m else set()
    for c in names:
        if c not in matrix:
            fail(f".github/workflows/ci.yml: image matrix lacks {c}")
    for e in ERRORS:
        print("FAIL " + e, file=sys.stderr)
    print(json.dumps({"service_crates": names, "problems": len(ERRORS)}))
    return 1 if ERRORS else 0


if __name__ == "__main__":
    sys.exit(main())
