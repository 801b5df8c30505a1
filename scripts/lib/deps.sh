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

# The MQTT broker of sensor_api's ingest: Debian's Eclipse Mosquitto on 127.0.0.1:1883,
# with deployment/mosquitto/mosquitto.conf (its data in ~/.cache/delos-mosquitto).
# A broker already listening there is used as it is.
mosquitto_listening() { (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; }

ensure_mosquitto() {
  if mosquitto_listening; then return; fi
  # mosquitto-clients: mosquitto_pub and mosquitto_sub, as docs/sensors.md uses them.
  if ! command -v mosquitto_pub >/dev/null || { ! command -v mosquitto >/dev/null && [ ! -x /usr/sbin/mosquitto ]; }; then
    deps_log "installing Mosquitto from Debian"
    apt_install mosquitto mosquitto-clients
  fi
  deps_log "starting Mosquitto"
  local dir="${HOME}/.cache/delos-mosquitto" root
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  mkdir -p "$dir"
  sed -e "s#^persistence_location .*#persistence_location $dir/#" \
      -e 's#^listener 1883$#listener 1883 127.0.0.1#' \
      -e "s#^log_dest stdout\$#log_dest file $dir/mosquitto.log#" \
      "$root/deployment/mosquitto/mosquitto.conf" >"$dir/mosquitto.conf"
  # Started as root, Mosquitto drops to its own user, which must write its data.
  if [ "$(id -u)" = 0 ] && id mosquitto >/dev/null 2>&1; then chown mosquitto "$dir"; fi
  "$(command -v mosquitto || echo /usr/sbin/mosquitto)" -d -c "$dir/mosquitto.conf"
  for _ in $(seq 1 40); do mosquitto_listening && return; sleep 0.25; done
  echo "Mosquitto did not start on 127.0.0.1:1883 (log: $dir/mosquitto.log)" >&2; return 1
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
