# Stand-in for the official eclipse-mosquitto:2 image, from Debian's mosquitto package
# (no image registry on the CI machines). Same contract as the official image: the
# config at /mosquitto/config/mosquitto.conf, data in /mosquitto/data, run as the
# mosquitto user; mosquitto_sub for the healthcheck.
ARG BASE=delos-local/debian:bookworm
FROM ${BASE}
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends mosquitto mosquitto-clients \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
    && mkdir -p /mosquitto/config /mosquitto/data \
    && cp /etc/mosquitto/mosquitto.conf /mosquitto/config/mosquitto.conf \
    && chown -R mosquitto:mosquitto /mosquitto/data
# The package made the user; its uid is not fixed, so it is named.
# hadolint ignore=DL3066
USER mosquitto
CMD ["mosquitto", "-c", "/mosquitto/config/mosquitto.conf"]
