# Stand-in for the official rust:1.95-slim-bookworm image (no image registry on the CI
# machines), for deployment/Dockerfile's Rust stages (`RUST_IMAGE`): the Debian base, gcc
# and the C library headers (for crates that build C, as in the official image), CA
# certificates, and this machine's own Rust toolchain (cargo, rustc, rustdoc, the
# standard library, rust-lld), which scripts/compose-e2e copies into the context as
# toolchain/ (rustup's toolchain folder without its documentation). No rustup: the
# toolchain is the one the host runs. CARGO_HOME and PATH as in the official image, so
# `cargo install` puts its binaries on the PATH.
ARG BASE=delos-local/debian:bookworm
FROM ${BASE}
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev ca-certificates \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
# build-ca.crt, when the context has one, is the host's CA bundle (a machine whose HTTPS
# goes through an intercepting proxy), added to the image's so that cargo can fetch crates.
COPY toolchain/ build-ca.cr[t] /usr/local/rust/
RUN if [ -e /usr/local/rust/build-ca.crt ]; then \
        mv /usr/local/rust/build-ca.crt /usr/local/share/ca-certificates/ && update-ca-certificates >/dev/null; \
    fi
ENV CARGO_HOME=/usr/local/cargo \
    PATH=/usr/local/cargo/bin:/usr/local/rust/bin:$PATH
RUN mkdir -p "${CARGO_HOME}/bin" && rustc --version && cargo --version
