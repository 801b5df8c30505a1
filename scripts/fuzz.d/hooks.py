"""schemathesis checks of our own: every error is an RFC 9457 problem document."""

import json

import schemathesis


@schemathesis.check
def problem_json(ctx, response, case):
    """Every 4xx and 5xx is application/problem+json with type, title, status, detail, code."""
    if response.status_code < 400:
        return None
    content_type = response.headers.get("content-type", [""])
    if isinstance(content_type, list):
        content_type = content_type[0] if content_type else ""
    if not content_type.startswith("application/problem+json"):
        raise AssertionError(f"{response.status_code} answered with {content_type!r}, not application/problem+json")
    body = json.loads(response.content)
    for member in ("type", "title", "status", "detail", "code"):
        if member not in body:
            raise AssertionError(f"problem body without {member!r}: {body}")
    if body["status"] != response.status_code:
        raise AssertionError(f"problem status {body['status']} on a {response.status_code} response")
    return None


@schemathesis.hook
def map_query(ctx, query):
    """db_proxy's `GET /orders/after` waits up to `wait_ms` (at most 25 s) for new orders,
    longer than a fuzzed request may take: valid waits are cut to 1 s (invalid ones stay)."""
    if query and "wait_ms" in query:
        try:
            if int(query["wait_ms"]) > 1000:
                query["wait_ms"] = 1000
        except (TypeError, ValueError):
            pass
    return query
