# Baton: a two-stage build. The build stage compiles the release binary; the runtime
# stage is a slim Debian with the binary, its shipped config and nothing else.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin baton

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /var/lib/baton baton
COPY --from=build /src/target/release/baton /usr/local/bin/baton
USER baton
WORKDIR /var/lib/baton
ENV BATON_LISTEN=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["baton", "health", "--server", "http://127.0.0.1:8080"]
ENTRYPOINT ["baton"]
CMD ["serve"]
