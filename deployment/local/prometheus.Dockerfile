# Stand-in for prom/prometheus:v2.53.4, from Debian's prometheus package (2.42; no
# image registry on the CI machines). The same contract compose uses: the binary as
# entrypoint, the config under /etc/prometheus, the data in /prometheus, port 9090.
ARG BASE=delos-local/debian:bookworm
FROM ${BASE}
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends prometheus wget \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
    && mkdir -p /prometheus \
    && chown prometheus:prometheus /prometheus
# The package made the user; its uid is not fixed, so it is named.
# hadolint ignore=DL3066
USER prometheus
WORKDIR /prometheus
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
