# Sourced by .ci/run, scripts/up and scripts/compose-e2e: make sure what Delos needs
# on this machine is installed and running (Debian; installs with apt when missing).
# One copy, so the run command and the test command get their dependencies the same way.

deps_log() { printf '\n== %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_postgres() {
  if pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then return; fi
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    deps_log "installing PostgreSQL from Debian"
    apt_install postgresql postgresql-contrib
    local hba; hba=$(ls /etc/postgresql/*/main/pg_hba.conf | head -n1)
    # Local development and CI only: trust loopback, as on the project machines.
    as_root sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
    as_root sed -i -E 's/^(local\s+all\s+postgres\s+)\S+/\1trust/' "$hba"
  fi
  deps_log "starting PostgreSQL"
  as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  for _ in $(seq 1 60); do pg_isready -h 127.0.0.1 -p 5432 -q && return; sleep 0.5; done
  echo "PostgreSQL did not start on 127.0.0.1:5432" >&2; return 1
}

ensure_redis() {
  if redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then return; fi
  if ! command -v redis-server >/dev/null; then
    deps_log "installing Redis from Debian"
    apt_install redis-server
  fi
  deps_log "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no
  for _ in $(seq 1 40); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && return; sleep 0.25; done
  echo "Redis did not start on 127.0.0.1:6379" >&2; return 1
}

# Docker engine 20.10, docker-compose 1.29 and debootstrap (for a local base image).
ensure_docker_tools() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v docker-compose >/dev/null || missing+=(docker-compose)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  if [ ${#missing[@]} -gt 0 ]; then
    deps_log "installing ${missing[*]} from Debian"
    apt_install "${missing[@]}"
  fi
}
