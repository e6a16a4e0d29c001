# mysql_pool_exporter container image.
#
#   docker build -t mysql_pool_exporter .
#   docker run --rm -p 127.0.0.1:9207:9207 \
#     -v "$PWD/deploy/exporter.yml:/etc/mysql_pool_exporter/config.yml:ro" mysql_pool_exporter
#
# The image holds no config: mount one at /etc/mysql_pool_exporter/config.yml (every field is
# documented in examples/config.yml) or pass --config.file.
#
# Plain Dockerfile syntax (no BuildKit-only features), so the legacy builder of
# docker-compose 1.29 builds it too. Dependencies are cached in their own layer: a change
# under src/ rebuilds only the crate itself.

# ---------------------------------------------------------------- build
# Same toolchain as the development machines and CI (rustc 1.95.0).
FROM rust:1.95.0-bookworm AS build
WORKDIR /build

# 1. Dependencies only: the manifest, the lock file and stub sources for every target the
#    manifest names, so `cargo build` compiles all dependencies into a cached layer. An
#    explicit `path = "x.rs"` of a [[bin]]/[[bench]]/[[test]]/[[example]], and the default path
#    of a named bench/test/example, must exist or cargo refuses the manifest: the awk lists them.
#    Afterwards the stubs and the crate's own artifacts go; every dependency's stay. The
#    patched mysql_async of [patch.crates-io] is a dependency too: it comes with them.
COPY Cargo.toml Cargo.lock ./
COPY vendor ./vendor
RUN set -eux; \
    mkdir -p src; \
    echo 'fn main() {}' > src/main.rs; \
    : > src/lib.rs; \
    awk ' \
      function flush() { if (k != "") { if (p != "") print p; \
          else if (k != "bin" && n != "") print ((k == "bench") ? "benches" : (k == "test") ? "tests" : "examples") "/" n ".rs" } \
        k = ""; p = ""; n = "" } \
      /^\[/ { flush() } \
      /^\[\[(bin|bench|test|example)\]\]/ { k = $0; gsub(/[][ \t]/, "", k); next } \
      k != "" && /^[ \t]*path[ \t]*=/ { p = $0; sub(/^[^"]*"/, "", p); sub(/".*/, "", p) } \
      k != "" && /^[ \t]*name[ \t]*=/ { n = $0; sub(/^[^"]*"/, "", n); sub(/".*/, "", n) } \
      END { flush() } \
    ' Cargo.toml | while read -r stub; do \
        mkdir -p "$(dirname "$stub")"; [ -f "$stub" ] || echo 'fn main() {}' > "$stub"; \
    done; \
    cargo build --release --locked --bin mysql_pool_exporter; \
    rm -rf src benches tests examples \
        target/release/.fingerprint/mysql_pool_exporter-* \
        target/release/deps/mysql_pool_exporter-* \
        target/release/deps/libmysql_pool_exporter-* \
        target/release/mysql_pool_exporter

# 2. The crate itself (.dockerignore keeps target/, .git and demo/.venv out). Without .git,
#    what --version and mysql_pool_exporter_build_info say comes from these (build.rs):
#      docker build --build-arg MPE_BUILD_REVISION=$(git rev-parse HEAD) \
#        --build-arg MPE_BUILD_BRANCH=$(git rev-parse --abbrev-ref HEAD) \
#        --build-arg SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) .
ARG MPE_BUILD_REVISION=unknown
ARG MPE_BUILD_BRANCH=unknown
ARG SOURCE_DATE_EPOCH=
COPY . .
RUN set -eux; \
    find src -name '*.rs' -exec touch {} +; \
    cargo build --release --locked --bin mysql_pool_exporter; \
    install -D -m 0755 target/release/mysql_pool_exporter /out/mysql_pool_exporter

# ---------------------------------------------------------------- runtime
# Debian 12.11 point release, the same glibc as the builder.
FROM debian:12.11-slim
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates; \
    rm -rf /var/lib/apt/lists/*; \
    groupadd --system --gid 10001 exporter; \
    useradd --system --uid 10001 --gid exporter --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin exporter; \
    mkdir -p /etc/mysql_pool_exporter

COPY --from=build /out/mysql_pool_exporter /usr/local/bin/mysql_pool_exporter

USER 10001:10001
EXPOSE 9207

# No curl or wget in the image: bash's /dev/tcp sends the request. /-/healthy answers 200
# while the process serves HTTP, whatever the state of MySQL (mysql_up says that).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9207 && printf 'GET /-/healthy HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]

ENTRYPOINT ["/usr/local/bin/mysql_pool_exporter"]
CMD ["--config.file=/etc/mysql_pool_exporter/config.yml"]
