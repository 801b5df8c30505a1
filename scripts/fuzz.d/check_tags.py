"""Fails when an operation's tag is not a declared word (utoipa's default is a Rust module path)."""

import json
import sys
import urllib.request

service, url = sys.argv[1], sys.argv[2]
doc = json.load(urllib.request.urlopen(url, timeout=10))
# Every operation names a tag the document declares (with a description);
# utoipa's default is the handler's module path ("crate::page", "query").
declared = {t["name"] for t in doc.get("tags", [])}
bad = [
    f"{method.upper()} {path}: {op.get('tags')}"
    for path, item in doc.get("paths", {}).items()
    for method, op in item.items()
    if isinstance(op, dict)
    if not op.get("tags") or any("::" in t or t not in declared for t in op["tags"])
]
if bad:
    print(f"{service}: tags that are module paths, not words:\n  " + "\n  ".join(bad), file=sys.stderr)
    sys.exit(1)
