"""The service crates and what the code says about them, for the repository checks
(scripts/check_repo.py, scripts/check_k8s.py, scripts/architecture.py): one reading, so
the checks cannot disagree about which crates exist, their ports, settings or calls.

Which crates exist is read from the file tree (services/*/Cargo.toml). Everything else
comes from the program: `delos describe --json` (launcher/src/describe.rs), run from the
release build every script uses (`cargo build --release --workspace --bins --locked`),
once per process. DELOS_DESCRIBE_JSON=<file> reads that document from a file instead
(scripts/check_k8s_selftest.py feeds broken copies of it that way); DELOS_BINARY=<path>
runs that binary and builds nothing (one built elsewhere, or while the tree does not build).
"""

import json
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = ["cargo", "build", "--release", "--workspace", "--bins", "--locked", "-q"]
_built = set()
_cache = {}


def service_crates(root=ROOT):
    """Names of the crates under services/ (a folder with a Cargo.toml), sorted."""
    d = os.path.join(root, "services")
    return sorted(c for c in os.listdir(d) if os.path.exists(os.path.join(d, c, "Cargo.toml")))


def delos_binary(root=ROOT):
    """`$CARGO_TARGET_DIR/release/delos` (default `target/`, relative to the workspace)."""
    target = os.environ.get("CARGO_TARGET_DIR") or "target"
    return os.path.join(root, target, "release", "delos")


def run_delos(*args, root=ROOT):
    """Stdout of the release `delos` with `args`, after making sure the build is current."""
    exe = os.environ.get("DELOS_BINARY") or delos_binary(root)
    if root not in _built and not os.environ.get("DELOS_BINARY"):
        out = subprocess.run(BUILD, cwd=root)
        if out.returncode != 0:
            raise SystemExit(f"crates.py: `{' '.join(BUILD)}` failed (exit {out.returncode})")
        _built.add(root)
    out = subprocess.run([exe, *args], cwd=root, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"crates.py: `{exe} {' '.join(args)}` failed (exit {out.returncode}):\n{out.stderr.strip()}")
    return out.stdout


def describe(root=ROOT):
    """The parsed `delos describe --json` document (or DELOS_DESCRIBE_JSON's file)."""
    override = os.environ.get("DELOS_DESCRIBE_JSON")
    key = ("json", override or root)
    if key not in _cache:
        if override:
            with open(override, encoding="utf-8") as f:
                _cache[key] = json.load(f)
        else:
            _cache[key] = json.loads(run_delos("describe", "--json", root=root))
    return _cache[key]


def described(root=ROOT):
    """Crate name → its entry of `describe()["services"]`."""
    return {s["crate"]: s for s in describe(root)["services"]}


def describe_markdown(root=ROOT):
    """`delos describe --markdown`: the settings tables of docs/configuration.md."""
    key = ("markdown", root)
    if key not in _cache:
        _cache[key] = run_delos("describe", "--markdown", root=root)
    return _cache[key]


def setting(service, key):
    """The setting `key` (dotted) of a described service, or None."""
    return next((s for s in service.get("settings", []) if s["key"] == key), None)
