# Stand-in for the official redis:7 image, from Debian's redis-server package.
ARG BASE=delos-local/debian:bookworm
FROM ${BASE}
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
# The package made the user; its uid is not fixed, so it is named.
# hadolint ignore=DL3066
USER redis
WORKDIR /var/lib/redis
CMD ["redis-server"]
