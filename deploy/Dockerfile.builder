# A local stand-in for rust:1.95-bookworm, deploy/Dockerfile's build base, for
# `deploy/image.sh --release` on a machine that reaches no container registry. It is made the
# way the official image is: Debian bookworm (here the debootstrap base deploy/image.sh imports
# as localhost/showroom-debian:bookworm), a C toolchain for the crates that compile C (ring), OpenSSL's headers and pkg-config (webauthn-rs
# links OpenSSL; the official image has them too), and
# rustup with Rust 1.95.0 in /usr/local/cargo and /usr/local/rustup (rustup-init pinned by its
# checksum, as in the official Dockerfile). Needs Debian's mirror and static.rust-lang.org.
#
#   podman build --isolation chroot -f deploy/Dockerfile.builder \
#     --build-arg DEBIAN_BASE=localhost/showroom-debian:bookworm \
#     -t localhost/showroom-rust:1.95-bookworm <a directory holding ca-certificates/>

ARG DEBIAN_BASE=docker.io/library/debian:bookworm-slim
FROM ${DEBIAN_BASE}

ENV RUSTUP_HOME=/usr/local/rustup \
    CARGO_HOME=/usr/local/cargo \
    PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    RUST_VERSION=1.95.0

RUN set -eu; \
    apt-get update -qq; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      ca-certificates curl gcc libc6-dev libssl-dev make pkg-config >/dev/null; \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb

# The CAs the host added to its own trust (its /usr/local/share/ca-certificates, which
# deploy/image.sh puts in this context), for a network behind a TLS-inspecting proxy. Only this
# local builder trusts them; the images built on it carry none of its files.
COPY ca-certificates/ /usr/local/share/ca-certificates/
RUN update-ca-certificates >/dev/null

ARG RUSTUP_VERSION=1.28.2
ARG RUSTUP_SHA256=20a06e644b0d9bd2fbdbfd52d42540bdde820ea7df86e92e533c073da0cdd43c
RUN set -eu; \
    url="https://static.rust-lang.org/rustup/archive/${RUSTUP_VERSION}/x86_64-unknown-linux-gnu/rustup-init"; \
    curl -fsSL --retry 3 -o /tmp/rustup-init "$url"; \
    echo "${RUSTUP_SHA256}  /tmp/rustup-init" | sha256sum -c --quiet -; \
    chmod +x /tmp/rustup-init; \
    /tmp/rustup-init -y -q --no-modify-path --profile minimal --default-toolchain "$RUST_VERSION"; \
    rm /tmp/rustup-init; \
    chmod -R a+w "$RUSTUP_HOME" "$CARGO_HOME"; \
    rustc --version; cargo --version
