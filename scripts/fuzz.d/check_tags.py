"""Fails when an OpenAPI tag is a Rust module path (utoipa's default) rather than a word."""

import json
import sys
import urllib.request

service, url = sys.argv[1], sys.argv[2]
doc = json.load(urllib.request.urlopen(url, timeout=10))
bad = [
    f"{method.upper()} {path}: {tag}"
    for path, item in doc.get("paths", {}).items()
    for method, op in item.items()
    if isinstance(op, dict)
    for tag in op.get("tags", [])
    if "::" in tag or tag in ("crate", service)
]
if bad:
    print(f"{service}: tags that are module paths, not words:\n  " + "\n  ".join(bad), file=sys.stderr)
    sys.exit(1)
