# syntax=docker/dockerfile:1
# Multi-stage build of the favorites service, kept simple and standard. No
# container engine runs in CI, so CI replays this file without one, reading
# it instruction by instruction: `bash .ci/container.sh runtime` (every run:
# the runtime stage with the release binary, started and health-checked) and
# `bash .ci/container.sh build` (on demand: both stages, from scratch).

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# C toolchain for the bundled SQLite, libpq and aws-lc. The bundled libpq
# (pq-sys "bundled" -> pq-src "with-openssl") is built against the system
# OpenSSL, found with pkg-config: libssl-dev here, libssl3 at run time.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake perl pkg-config libssl-dev \
    && rm -rf /var/lib/apt/lists/*
# Dependencies first, so they are cached until Cargo.toml/Cargo.lock change.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src
COPY src src
COPY migrations migrations
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin favorites

FROM debian:bookworm-slim AS runtime
# libssl3 by name: the binary links libssl.so.3 and libcrypto.so.3 (libpq's
# TLS); ca-certificates happens to pull it in too, through openssl.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin favorites \
    && mkdir -p /data && chown favorites:favorites /data
COPY --from=build /src/target/release/favorites /usr/local/bin/favorites
USER favorites
WORKDIR /data
ENV BIND=0.0.0.0:8080 \
    DATABASE_URL=/data/favorites.db \
    LOG_FORMAT=json \
    RUST_LOG=info
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["favorites", "healthcheck"]
ENTRYPOINT ["favorites"]
CMD ["serve"]
