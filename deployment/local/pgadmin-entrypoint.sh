#!/bin/sh
# The official dpage/pgadmin4 entrypoint's contract, in short (docs/deployment.md says
# what is left out): write /pgadmin4/config_distro.py once, with every PGADMIN_CONFIG_X
# variable as `X = <value>` (a Python literal, as in the official image); on first start
# (no /var/lib/pgadmin/pgadmin4.db) check PGADMIN_DEFAULT_EMAIL as the official image
# does, create that login with PGADMIN_DEFAULT_PASSWORD (or PGADMIN_DEFAULT_PASSWORD_FILE),
# load PGADMIN_SERVER_JSON_FILE for it and copy PGPASS_FILE to its storage; then run
# gunicorn (one worker, threads) on PGADMIN_LISTEN_ADDRESS:PGADMIN_LISTEN_PORT.
#
# `--healthcheck` (the image's HEALTHCHECK): GET /misc/ping answers PING.
set -eu
APP=/usr/local/lib/pgadmin4
PY=/venv/bin/python3
DATA=/var/lib/pgadmin

if [ "${1:-}" = --healthcheck ]; then
  # A wildcard listen address is reached on loopback.
  host=${PGADMIN_LISTEN_ADDRESS:-127.0.0.1}
  case "$host" in ''|0.0.0.0|'[::]'|::) host=127.0.0.1 ;; *:*) host="[${host#[}"; host="${host%]}]" ;; esac
  exec "$PY" -c 'import sys, urllib.request as u
sys.exit(u.urlopen(sys.argv[1], timeout=4).read() != b"PING")' "http://$host:${PGADMIN_LISTEN_PORT:-80}/misc/ping"
fi

if [ -n "${PGADMIN_DEFAULT_PASSWORD_FILE:-}" ]; then
  if [ -n "${PGADMIN_DEFAULT_PASSWORD:-}" ]; then
    echo "both PGADMIN_DEFAULT_PASSWORD and PGADMIN_DEFAULT_PASSWORD_FILE are set (but are exclusive)" >&2
    exit 1
  fi
  PGADMIN_DEFAULT_PASSWORD=$(cat "$PGADMIN_DEFAULT_PASSWORD_FILE")
  export PGADMIN_DEFAULT_PASSWORD
fi

export CONFIG_DISTRO_FILE_PATH="${PGADMIN_CUSTOM_CONFIG_DISTRO_FILE:-/pgadmin4/config_distro.py}"
if [ ! -s "$CONFIG_DISTRO_FILE_PATH" ]; then
  "$PY" - "$CONFIG_DISTRO_FILE_PATH" <<'PY'
import os, sys
lines = [
    "CA_FILE = '/etc/ssl/certs/ca-certificates.crt'",
    "LOG_FILE = '/dev/null'",
    "DEFAULT_BINARY_PATHS = {'pg': '/usr/lib/postgresql/15/bin', 'pg-15': '/usr/lib/postgresql/15/bin'}",
]
lines += ["%s = %s" % (k[len("PGADMIN_CONFIG_"):], v)
          for k, v in sorted(os.environ.items()) if k.startswith("PGADMIN_CONFIG_")]
with open(sys.argv[1], "w") as f:
    f.write("\n".join(lines) + "\n")
PY
fi

# Desktop mode (no login) when PGADMIN_CONFIG_SERVER_MODE=False, as in the official image.
SERVER_MODE=True
[ "${PGADMIN_CONFIG_SERVER_MODE:-}" = False ] && SERVER_MODE=False

if [ ! -f "$DATA/pgadmin4.db" ]; then
  if [ -z "${PGADMIN_DEFAULT_EMAIL:-}" ] || [ -z "${PGADMIN_DEFAULT_PASSWORD:-}" ]; then
    echo "You need to define the PGADMIN_DEFAULT_EMAIL and PGADMIN_DEFAULT_PASSWORD or PGADMIN_DEFAULT_PASSWORD_FILE environment variables." >&2
    exit 1
  fi
  # The official image's check, with the same two settings: a special-use domain
  # (.local, .test, ...) is refused unless PGADMIN_CONFIG_ALLOW_SPECIAL_EMAIL_DOMAINS lists it.
  if ! (cd "$APP/pgadmin/utils" && "$PY" -c '
import ast, os, sys
from validation_utils import validate_email
env = lambda k, d: ast.literal_eval(os.environ.get("PGADMIN_CONFIG_" + k) or d)
ok = validate_email(os.environ["PGADMIN_DEFAULT_EMAIL"], {
    "CHECK_EMAIL_DELIVERABILITY": env("CHECK_EMAIL_DELIVERABILITY", "False"),
    "ALLOW_SPECIAL_EMAIL_DOMAINS": env("ALLOW_SPECIAL_EMAIL_DOMAINS", "[]")})
sys.exit(0 if ok else 1)'); then
    echo "'$PGADMIN_DEFAULT_EMAIL' does not appear to be a valid email address. Please reset the PGADMIN_DEFAULT_EMAIL environment variable and try again." >&2
    exit 1
  fi
  echo "pgAdmin first start: creating the login $PGADMIN_DEFAULT_EMAIL"
  # pgAdmin's setup.py prints SQLAlchemy/alembic warnings on stderr: shown only on failure.
  out=$(PGADMIN_SETUP_EMAIL=$PGADMIN_DEFAULT_EMAIL PGADMIN_SETUP_PASSWORD=$PGADMIN_DEFAULT_PASSWORD \
    "$PY" "$APP/setup.py" setup-db 2>&1) || { echo "$out" >&2; exit 1; }
  json=${PGADMIN_SERVER_JSON_FILE:-/pgadmin4/servers.json}
  if [ -f "$json" ]; then
    echo "loading $json"
    if [ "$SERVER_MODE" = False ]; then
      out=$("$PY" "$APP/setup.py" load-servers "$json" 2>&1) || true
    else
      out=$("$PY" "$APP/setup.py" load-servers "$json" --user "$PGADMIN_DEFAULT_EMAIL" 2>&1) || true
    fi
    # As in the official image a failed load does not stop the start; its message is shown.
    printf '%s\n' "$out" | grep -v -e Warning -e 'util.warn(' || true
  fi
  if [ -f "${PGPASS_FILE:-}" ]; then
    if [ "$SERVER_MODE" = False ]; then dir=$DATA; else dir="$DATA/storage/$(echo "$PGADMIN_DEFAULT_EMAIL" | sed 's/@/_/g')"; fi
    mkdir -p "$dir"
    cp "$PGPASS_FILE" "$dir/.pgpass"
    chmod 600 "$dir/.pgpass"
  fi
fi

if [ "$SERVER_MODE" = False ]; then export PGADMIN_SERVER_MODE=OFF; fi
exec /venv/bin/gunicorn --limit-request-line "${GUNICORN_LIMIT_REQUEST_LINE:-8190}" --timeout 86400 \
  --bind "${PGADMIN_LISTEN_ADDRESS:-[::]}:${PGADMIN_LISTEN_PORT:-80}" -w 1 --threads "${GUNICORN_THREADS:-25}" \
  --access-logfile "${GUNICORN_ACCESS_LOGFILE:--}" --chdir "$APP" pgAdmin4:app
