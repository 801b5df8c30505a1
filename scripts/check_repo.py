#!/usr/bin/env python3
"""Repository checks that tie the deployment and the docs to the code (run by .ci/run and pre-commit).

What the code says comes from `delos describe` (scripts/lib/crates.py runs it from the
release build); which crates exist, and their files, from the file tree. Fails when a
service crate (services/<name>/Cargo.toml) is missing from `delos describe`, from
docker-compose.yml (which the GitHub workflow's images job bakes) or from the local
compose override (where it must run and build on the host network); when its release
binary, run with `--healthcheck` against a port nothing listens on, does not probe and
exit 1 (the image's HEALTHCHECK); when a
compose service does not build the crate it is named after; when compose runs a crate that
does not exist; when compose does not use every port the service listens on (describe's
`ports`: http, gRPC); when a crate leaves the common layout (lib.rs, a thin main.rs,
config.rs defining `Settings`, startup.rs defining `build`, routes defining `ApiDoc` — where
they are defined is describe's `types` — the handlers' shared state in state.rs, and no route
module importing from startup); or when the settings tables of docs/configuration.md differ
from `delos describe --markdown` (`scripts/check_repo.py --write-docs` regenerates them).
Standard library only (no YAML parser: the compose file is read with `docker-compose
config` when available, else by indentation).
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts", "lib"))
from crates import delos_binary, described, describe_markdown, service_crates  # noqa: E402
ERRORS = []
CONFIG_DOC = os.path.join(ROOT, "docs", "configuration.md")
BEGIN, END = "<!-- settings:begin (delos describe --markdown) -->", "<!-- settings:end -->"


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


def check_layout(crate, desc):
    """Every service has the same rooms, so that knowing one service means knowing them all."""
    src = os.path.join(ROOT, "services", crate, "src")

    def read(*parts):
        path = os.path.join(src, *parts)
        return open(path, encoding="utf-8").read() if os.path.exists(path) else None

    def exists(*parts):
        return os.path.isfile(os.path.join(src, *parts))

    if not exists("lib.rs") or not exists("main.rs"):
        fail(f"services/{crate}: lib.rs and main.rs are both needed (a library with a thin main)")
        return
    # The crate root exports them (the launcher's describe uses `<crate>::Settings`,
    # `<crate>::ApiDoc` and `<crate>::build`, so the compiler checks that); describe's
    # `types` says where each is defined.
    types = (desc or {}).get("types", {})
    for name, present, kind, want in [
        ("config.rs", exists("config.rs"), "settings", f"{crate}::config::Settings"),
        ("startup.rs", exists("startup.rs"), "build", f"{crate}::startup::build"),
        ("routes.rs or routes/mod.rs", exists("routes.rs") or exists("routes", "mod.rs"), "api_doc", f"{crate}::routes::ApiDoc"),
    ]:
        if not present:
            fail(f"services/{crate}/src: no {name}")
        elif desc is not None and types.get(kind) != want:
            fail(f"services/{crate}: `{want.rsplit('::', 1)[1]}` belongs in {name} ({want}), `delos describe` finds {types.get(kind)}")
    if not exists("testing.rs") or 'feature = "test-utils"' not in (read("lib.rs") or ""):
        fail(f"services/{crate}/src: no testing.rs behind the test-utils feature (settings() and spawn() of a test instance)")
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
            in_storage = rel == "storage.rs" or rel.startswith("storage" + os.sep)
            if not in_storage and re.search(r"\bsqlx::(query|query_as|query_scalar|raw_sql)\b", text):
                fail(f"services/{crate}/src/{rel}: SQL belongs in the storage module (storage.rs or storage/)")
            if rel.startswith("routes") and "crate::startup" in text:
                fail(f"services/{crate}/src/{rel}: routes import from startup (a loop); use state.rs")


def module_imports(src):
    """{top-level module: the top-level modules it uses through `crate::`}, tests and comments left out."""
    graph = {}
    for dirpath, _, files in os.walk(src):
        for f in files:
            rel = os.path.relpath(os.path.join(dirpath, f), src)
            if not f.endswith(".rs") or rel in ("lib.rs", "main.rs") or rel.startswith("bin" + os.sep):
                continue
            module = rel.split(os.sep)[0].removesuffix(".rs")
            text = open(os.path.join(dirpath, f), encoding="utf-8").read().split("#[cfg(test)]")[0]
            code = "\n".join(l for l in text.splitlines() if not l.strip().startswith("//"))
            used = set(re.findall(r"\bcrate::([a-z_][a-z0-9_]*)", code)) - {module}
            graph.setdefault(module, set()).update(used)
    return graph


def import_circle(graph):
    """One circle of module imports (a list ending where it starts), or None."""
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt, path + [nxt])
                if found:
                    return found
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return None


def check_import_circles():
    """A module that imports one that imports it back is one module in two files: cut
    the circle by moving the type both need (a newcomer reads a crate bottom-up)."""
    crates = [os.path.join("common", "src"), os.path.join("price_feed", "src")] + [
        os.path.join("services", c, "src") for c in sorted(os.listdir(os.path.join(ROOT, "services")))
    ]
    for rel in crates:
        circle = import_circle(module_imports(os.path.join(ROOT, rel)))
        if circle:
            fail(f"{rel}: modules import each other in a circle: {' -> '.join(circle)}")


def config_doc_block(text):
    """(head, tables, tail) of docs/configuration.md around the generated tables, or None."""
    if BEGIN not in text or END not in text:
        return None
    head, rest = text.split(BEGIN, 1)
    tables, tail = rest.split(END, 1)
    return head, tables.strip("\n") + "\n", tail


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers_healthcheck(crate):
    """Runs the release binary with `--healthcheck` against a port nothing listens on:
    it must probe and exit 1 ("not ready"), not start serving or refuse the flag."""
    binary = os.path.join(os.path.dirname(delos_binary()), crate)
    env = dict(os.environ)
    env[f"DELOS_{crate.upper()}__HTTP__HOST"] = "127.0.0.1"
    env[f"DELOS_{crate.upper()}__HTTP__PORT"] = str(free_port())
    try:
        done = subprocess.run([binary, "--healthcheck"], env=env, capture_output=True, text=True, timeout=15)
    except FileNotFoundError:
        return f"cannot run: {binary} is not built"
    except subprocess.TimeoutExpired:
        return "did not exit (it started the service instead of probing it)"
    if done.returncode != 1 or "not ready" not in done.stderr:
        return f"exited {done.returncode} ({done.stderr.strip()[:120]!r}), not 1 with \"not ready\""
    return None


def check_config_doc(write=False):
    """docs/configuration.md's settings tables are `delos describe --markdown`, exactly."""
    rel = os.path.relpath(CONFIG_DOC, ROOT)
    if not os.path.exists(CONFIG_DOC):
        fail(f"{rel} is missing")
        return
    text = open(CONFIG_DOC, encoding="utf-8").read()
    parts = config_doc_block(text)
    if parts is None:
        fail(f"{rel} lacks the markers {BEGIN} … {END}")
        return
    head, tables, tail = parts
    want = describe_markdown()
    if tables == want:
        return
    if write:
        with open(CONFIG_DOC, "w", encoding="utf-8") as f:
            f.write(f"{head}{BEGIN}\n{want}{END}{tail}")
        print(f"wrote the settings tables of {rel}")
        return
    fail(f"{rel}: the settings tables differ from `delos describe --markdown`; regenerate them: python3 scripts/check_repo.py --write-docs")


def main():
    if "--write-docs" in sys.argv[1:]:
        check_config_doc(write=True)
        for e in ERRORS:
            print("FAIL " + e, file=sys.stderr)
        return 1 if ERRORS else 0
    names = service_crates()
    desc = described()
    for c in names:
        if c not in desc:
            fail(f"services/{c}: `delos describe` does not list it (add it to launcher/src/describe.rs)")
    for c in sorted(set(desc) - set(names)):
        fail(f"`delos describe` lists {c}, which is no crate under services/")
    base = compose_services(["docker-compose.yml"])
    for c in names:
        block = base.get(c)
        if block is None:
            fail(f"docker-compose.yml has no service {c}")
            continue
        # `SERVICE: name` on its own line (docker-compose config) or in a flow map (`{ SERVICE: name }`).
        if not re.search(rf"SERVICE:\s*['\"]?{c}['\"]?\s*(?:$|[,}}])", block, re.M):
            fail(f"docker-compose.yml: service {c} does not build with SERVICE={c}")
        ports = (desc.get(c) or {}).get("ports") or {}
        if c in desc and "http" not in ports:
            fail(f"services/{c}: `delos describe` gives it no http port")
        for listener, port in sorted(ports.items()):
            if not re.search(rf"\b{port}\b", block):
                fail(f"docker-compose.yml: service {c} does not use its {listener} port {port}")
    for name, block in base.items():
        m = re.search(r"SERVICE:\s*['\"]?([a-z_]+)", block)
        if m and m.group(1) not in names:
            fail(f"docker-compose.yml: service {name} builds {m.group(1)}, which is not a crate")
    for c in names:
        problem = answers_healthcheck(c)
        if problem:
            fail(f"services/{c}: `{c} --healthcheck` {problem} (the image's HEALTHCHECK)")
    for c in names:
        check_layout(c, desc.get(c))
    check_import_circles()
    check_config_doc()
    override = compose_services(["docker-compose.yml", "deployment/local/compose.host.yml"])
    for c in names:
        if c in override and "network_mode: host" not in override[c]:
            fail(f"deployment/local/compose.host.yml: {c} is not on the host network")
        if c in override and not re.search(r"\bnetwork:\s*host\b", override[c]):
            fail(f"deployment/local/compose.host.yml: {c} does not build on the host network (compose-e2e --from-source)")
    # Its images job bakes docker-compose.yml, which (above) builds every crate.
    workflow = open(os.path.join(ROOT, ".github/workflows/ci.yml")).read()
    if not re.search(r"uses: docker/bake-action@.*?\n\s+files: docker-compose\.yml\n", workflow, re.S):
        fail(".github/workflows/ci.yml: no docker/bake-action step with `files: docker-compose.yml` (the images)")
    for e in ERRORS:
        print("FAIL " + e, file=sys.stderr)
    print(json.dumps({"service_crates": names, "problems": len(ERRORS)}))
    return 1 if ERRORS else 0


if __name__ == "__main__":
    sys.exit(main())
