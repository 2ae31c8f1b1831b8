# syntax=docker/dockerfile:1
#
# tunnel-client container image: built with the pinned Rust toolchain, run on distroless
# `cc` (glibc, libgcc, CA certificates, a `nonroot` user; no shell, no package manager).
# The runtime layer holds the one binary; TLS roots are compiled in (webpki), the CA
# bundle of the base only matters for an operator's `--control-plane.ca-bundle`.
#
#   docker build --build-arg GIT_SHA="$(git rev-parse HEAD)" -t tunnel-client:local .
#
# docs/deployment/docker.md explains the choices and how to run it read-only.

# The toolchain CI builds and tests with (rustc 1.95.0); bump both together.
ARG RUST_IMAGE=rust:1.95.0-slim-bookworm
# Debian 12 like the build stage, so the glibc the binary links against is the one it runs on.
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${RUST_IMAGE} AS build
WORKDIR /src
# Everything the workspace needs to resolve; .dockerignore keeps target/, .git, docs and
# the fuzz crate out of the context.
COPY Cargo.toml Cargo.lock ./
COPY core ./core
COPY adapters ./adapters
COPY bin ./bin
COPY conformance ./conformance
# The release build of docs/performance.md (opt-level "z", LTO, stripped), with the lock
# file as committed: the same dependency versions CI tests.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p tunnel-client --bin tunnel-client \
    && install -D -m 0755 target/release/tunnel-client /out/tunnel-client

FROM ${RUNTIME_IMAGE}
ARG GIT_SHA=unknown
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="tunnel-client" \
      org.opencontainers.image.description="Secure MCP Tunnel client: long-polls the tunnel control plane and forwards commands to a private MCP server" \
      org.opencontainers.image.source="https://github.com/openai/tunnel-client" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${GIT_SHA}"
COPY --from=build /out/tunnel-client /usr/bin/tunnel-client
# distroless' nonroot user (65532); numeric so Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
# Nothing is written at run time except what an operator points at a writable volume
# (--health.url-file, --pid.file); logs go to stdout/stderr.
ENV HOME=/home/nonroot
EXPOSE 8080
# `health` exits 0 when /healthz and /readyz answer 2xx, 2 otherwise (Docker counts any
# non-zero exit as a failed check). It probes 127.0.0.1:8080, which the default
# --health.listen-addr and ":8080" both serve.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["/usr/bin/tunnel-client", "health", "--port", "8080"]
ENTRYPOINT ["/usr/bin/tunnel-client"]
CMD ["run"]
