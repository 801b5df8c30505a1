"""The service crates and what their source says, for the repository checks
(scripts/check_repo.py, scripts/check_k8s.py, scripts/architecture.py): one reading of
services/*/ so the checks cannot disagree about which crates exist or their ports."""

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def service_crates(root=ROOT):
    """Names of the crates under services/ (a folder with a Cargo.toml), sorted."""
    d = os.path.join(root, "services")
    return sorted(c for c in os.listdir(d) if os.path.exists(os.path.join(d, c, "Cargo.toml")))


def source(crate, root=ROOT):
    """All Rust source of a crate's src/, files in a stable order."""
    text = ""
    for dirpath, _, files in sorted(os.walk(os.path.join(root, "services", crate, "src"))):
        for f in sorted(files):
            if f.endswith(".rs"):
                with open(os.path.join(dirpath, f), encoding="utf-8") as fh:
                    text += fh.read() + "\n"
    return text


def default_port(text):
    """The port of `HttpSettings::on_port(N)` in a crate's source, or None."""
    m = re.search(r"HttpSettings::on_port\((\d+)\)", text)
    return int(m.group(1)) if m else None
