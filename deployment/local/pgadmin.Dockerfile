# Stand-in for the official dpage/pgadmin4:8 image: pgAdmin 4 8.14 from PyPI (every
# package pinned in pgadmin-requirements.txt) in /venv on Debian's python3, run by
# gunicorn as the official image does, as uid 5050 (group root), data in
# /var/lib/pgadmin, configured by the same variables (PGADMIN_DEFAULT_EMAIL,
# PGADMIN_DEFAULT_PASSWORD[_FILE], PGADMIN_LISTEN_ADDRESS/PORT, PGADMIN_SERVER_JSON_FILE,
# PGADMIN_CONFIG_*, PGPASS_FILE; pgadmin-entrypoint.sh). The official image has no
# healthcheck; this one asks pgAdmin's own /misc/ping (`/entrypoint.sh --healthcheck`). docs/deployment.md lists the
# differences.
ARG BASE=delos-local/debian:bookworm
FROM ${BASE}
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv postgresql-client-15 \
        libcap2-bin ca-certificates \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
# build-ca.crt, when the context has one, is the CA bundle pip trusts (a machine whose
# HTTPS goes through an intercepting proxy: scripts/compose-e2e passes the host's bundle).
COPY pgadmin-requirements.txt build-ca.cr[t] /tmp/pgadmin/
# The listen port may be below 1024 (80 by default) for uid 5050, as in the official image.
RUN if [ -s /tmp/pgadmin/build-ca.crt ]; then export PIP_CERT=/tmp/pgadmin/build-ca.crt; fi \
    && python3 -m venv /venv \
    && /venv/bin/pip install --no-cache-dir --no-deps --disable-pip-version-check -q -r /tmp/pgadmin/pgadmin-requirements.txt \
    && rm -r /tmp/pgadmin \
    && ln -s /venv/lib/python3.11/site-packages/pgadmin4 /usr/local/lib/pgadmin4 \
    && find /venv -name __pycache__ -type d -prune -exec rm -rf {} + \
    && setcap CAP_NET_BIND_SERVICE=+eip "$(readlink -f /usr/bin/python3)" \
    && useradd -r -u 5050 -g root -d /var/lib/pgadmin -s /usr/sbin/nologin pgadmin \
    && mkdir -p /pgadmin4 /var/lib/pgadmin \
    && touch /pgadmin4/config_distro.py \
    && chown pgadmin:root /var/lib/pgadmin /pgadmin4/config_distro.py \
    && chmod g=u /var/lib/pgadmin /pgadmin4/config_distro.py
COPY pgadmin-entrypoint.sh /entrypoint.sh
WORKDIR /pgadmin4
USER 5050
EXPOSE 80
HEALTHCHECK --interval=3s --timeout=5s --start-period=60s --retries=20 CMD ["/entrypoint.sh", "--healthcheck"]
ENTRYPOINT ["/entrypoint.sh"]
