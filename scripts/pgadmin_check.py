#!/usr/bin/env python3
"""pgAdmin in the compose run, checked through pgAdmin's own HTTP API (stdlib only).

    pgadmin_check.py [--url http://127.0.0.1:5050] [--email E] [--password P]
                     [--pg-password P] [--server Delos] [--database NAME ...]

Defaults are the compose file's defaults (PGADMIN_EMAIL, PGADMIN_PASSWORD and
POSTGRES_PASSWORD are read from the environment when set). Steps, each failing
loudly with what it got:

  1. GET /misc/ping, then GET /login for the CSRF token the login form carries;
  2. POST /authenticate/login (form: email, password, csrf_token) and check the
     session is logged in (GET /browser/ is not sent back to /login);
  3. GET /browser/server_group/nodes/ and /browser/server/nodes/<gid>: the server
     registered from servers.json (name "Delos") is listed, with its host and port;
  4. POST /browser/server/connect/<gid>/<sid> with no password: asked for one (428:
     servers.json stores none), with a wrong one: refused (401: the server checks
     passwords), with POSTGRES_PASSWORD: connected;
  5. GET /browser/database/nodes/<gid>/<sid>/: the four databases are listed.
"""
import argparse
import http.cookiejar
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

DATABASES = ["orders", "health", "lambo", "sensors"]


class CheckFailed(Exception):
    pass


class Client:
    def __init__(self, base, user_agent="delos-pgadmin-check"):
        self.base = base.rstrip("/")
        # pgAdmin ties a session to the client's user agent (ENHANCED_COOKIE_PROTECTION).
        self.user_agent = user_agent
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.csrf = None

    def request(self, method, path, data=None, form=None, follow=True):
        headers = {"Accept": "application/json, text/html", "User-Agent": self.user_agent}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif data is not None:
            body = json.dumps(data).encode()
            headers["Content-Type"] = "application/json"
        if self.csrf:
            headers["X-pgA-CSRFToken"] = self.csrf
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers)
        opener = self.opener if follow else urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), NoRedirect)
        try:
            with opener.open(req, timeout=30) as resp:
                return resp.status, resp.geturl(), resp.headers, resp.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            return e.code, e.geturl(), e.headers, e.read().decode("utf-8", "replace")
        except urllib.error.URLError as e:
            raise CheckFailed(f"{method} {self.base}{path}: {e.reason}") from None

    def json(self, method, path, data=None, expect=200):
        status, _, _, text = self.request(method, path, data=data)
        try:
            doc = json.loads(text)
        except ValueError:
            raise CheckFailed(f"{method} {path}: HTTP {status}, not JSON: {text[:300]!r}") from None
        if status != expect:
            raise CheckFailed(f"{method} {path}: HTTP {status} (expected {expect}): {doc.get('errormsg') or doc}")
        return doc


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def token_from(page, what):
    m = re.search(r"""["']?csrf_?[tT]oken["']?\]?\s*[:=]\s*["']([^"']+)["']""", page)
    if not m:
        raise CheckFailed(f"no CSRF token in {what}")
    return m.group(1)


def check(args):
    c = Client(args.url)
    status, _, _, text = c.request("GET", "/misc/ping")
    if status != 200 or text.strip() != "PING":
        raise CheckFailed(f"GET /misc/ping: HTTP {status} {text[:100]!r} (expected 200 PING)")
    status, _, _, page = c.request("GET", "/login")
    if status != 200:
        raise CheckFailed(f"GET /login: HTTP {status}")
    form = {"csrf_token": token_from(page, "the login page"), "email": args.email,
            "password": args.password, "language": "en", "internal_button": "Login"}
    status, _, headers, text = c.request("POST", "/authenticate/login", form=form, follow=False)
    where = headers.get("Location", "") if status in (301, 302, 303) else ""
    if not where or "/login" in where:
        raise CheckFailed(f"login as {args.email} refused (HTTP {status}, sent to {where or '-'}): a wrong "
                          "password, or an email domain pgAdmin refuses (then its log says so)")
    status, url, _, _ = c.request("GET", "/browser/")
    if status != 200 or "/login" in url:
        raise CheckFailed(f"GET /browser/ after login: HTTP {status} at {url} (the session is not logged in)")
    # API calls carry the session's CSRF token in a header, as pgAdmin's own UI does.
    _, _, _, js = c.request("GET", "/browser/js/utils.js")
    c.csrf = token_from(js, "/browser/js/utils.js")
    print(f"logged in to {args.url} as {args.email}")

    groups = c.json("GET", "/browser/server_group/nodes/")["data"]
    servers = []
    for g in groups:
        # The tree's own call; an empty group answers 410.
        status, _, _, text = c.request("GET", f"/browser/server/nodes/{g['_id']}/")
        if status == 410:
            continue
        if status != 200:
            raise CheckFailed(f"GET /browser/server/nodes/{g['_id']}/: HTTP {status}: {text[:200]!r}")
        doc = json.loads(text)
        for s in doc.get("result") or doc.get("data") or []:
            servers.append((g, s))
    names = [f"{g['label']}/{s['label']}" for g, s in servers]
    found = [(g, s) for g, s in servers if s["label"] == args.server]
    if not found:
        raise CheckFailed(f"server {args.server!r} not listed (servers.json not loaded?); listed: {names}")
    g, s = found[0]
    gid, sid = g["_id"], s["_id"]
    props = c.json("GET", f"/browser/server/obj/{gid}/{sid}")
    print(f"server listed: {g['label']}/{s['label']} (gid {gid}, sid {sid}) -> "
          f"{props.get('host')}:{props.get('port')} user {props.get('username')}, db {props.get('db')}")

    connect = f"/browser/server/connect/{gid}/{sid}"
    if not args.trusting_server:
        # servers.json stores no password: pgAdmin asks for one (428), refuses a wrong one (401).
        asked = c.json("POST", connect, data={}, expect=428)
        print(f"no password stored: pgAdmin asks for the password of {asked['result'].get('username')}")
        bad = c.json("POST", connect, data={"password": args.pg_password + "-wrong", "save_password": False},
                     expect=401)
        print(f"wrong password refused: {(bad['result'].get('errmsg') or '').strip().splitlines()[0][:100]}")
    ok = c.json("POST", connect, data={"password": args.pg_password, "save_password": False})
    data = ok.get("data") or {}
    if not ok.get("success") or not data.get("connected"):
        raise CheckFailed(f"connect with the configured password failed: {ok.get('errormsg') or ok}")
    print(f"connected with the configured password as {data.get('user', {}).get('name')} "
          f"(server version {data.get('version')})")

    dbs = [d["label"] for d in c.json("GET", f"/browser/database/nodes/{gid}/{sid}/")["data"]]
    missing = [d for d in args.database if d not in dbs]
    if missing:
        raise CheckFailed(f"databases missing from pgAdmin's tree: {missing}; it lists {dbs}")
    print(f"databases pgAdmin sees: {', '.join(dbs)}")
    c.request("DELETE", connect)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default="http://127.0.0.1:5050")
    p.add_argument("--email", default=os.environ.get("PGADMIN_EMAIL", "admin@delos.local"))
    p.add_argument("--password", default=os.environ.get("PGADMIN_PASSWORD", "delos-dev-password"))
    p.add_argument("--pg-password", default=os.environ.get("POSTGRES_PASSWORD", "delos-dev-password"))
    p.add_argument("--server", default="Delos")
    p.add_argument("--database", nargs="+", default=DATABASES)
    p.add_argument("--trusting-server", action="store_true",
                   help="skip the no-password and wrong-password refusals (a server that trusts loopback)")
    args = p.parse_args()
    try:
        check(args)
    except CheckFailed as e:
        print(f"pgAdmin check FAILED: {e}", file=sys.stderr)
        sys.exit(1)
    print("pgAdmin check passed")


if __name__ == "__main__":
    main()
