# syntax=docker/dockerfile:1

# The actas image: the one binary on Debian slim, run as an unprivileged
# user, its data in /var/lib/actas. deploy/README.md says how to run it
# with PostgreSQL, several nodes and a reverse proxy (compose.yaml).
#
#   docker build -t actas .
#   docker run --rm actas --help

# --- build -----------------------------------------------------------------
# cargo's downloads and the target folder live in BuildKit cache mounts, so
# a rebuild after a source change compiles only what changed.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY .cargo ./.cargo
COPY crates ./crates
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --bin actas \
    && install -D -m 0755 target/release/actas /out/actas

# --- run -------------------------------------------------------------------
FROM debian:bookworm-slim

LABEL org.opencontainers.image.title="actas" \
      org.opencontainers.image.description="Support impersonation tied to tickets, approved where risky, and told afterwards in a tamper-evident audit trail" \
      org.opencontainers.image.licenses="Apache-2.0"

# The system's trusted roots, for HTTPS to the identity provider and to
# webhook receivers. Nothing else: SQLite is built into the binary.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*

# A fixed uid and gid, so that files on volumes and secrets can be given to
# it by number (10001:10001).
RUN groupadd --gid 10001 actas \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /var/lib/actas \
        --shell /usr/sbin/nologin actas \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/actas

COPY --from=build /out/actas /usr/local/bin/actas

USER 10001:10001
WORKDIR /var/lib/actas

# SQLite in the data volume unless a postgres:// URL is given; the log as
# one JSON object per line, for docker logs and collectors.
ENV ACTAS_DATABASE_URL=/var/lib/actas/actas.db \
    ACTAS_LOG_FORMAT=json

VOLUME ["/var/lib/actas"]
EXPOSE 7878

# GET /healthz, with bash's /dev/tcp, so the image needs no HTTP client:
# healthy while the database answers and a write can be committed.
HEALTHCHECK --interval=10s --timeout=10s --start-period=30s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/7878 && printf 'GET /healthz HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && read -r -t 8 status <&3 && [[ $status == 'HTTP/1.1 200 '* ]]"]

# actas handles SIGTERM itself (it drains for up to 10 s, then signs the
# trail's head), and starts no children, so it runs as PID 1 without an init.
ENTRYPOINT ["actas"]
CMD ["serve", "--listen", "0.0.0.0:7878"]
