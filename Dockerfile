# Portcullis in a container: built with the same toolchain steps as CI (cmake for pingora,
# `cargo build --locked`), run as an unprivileged user on a slim Debian.
#   docker build -t portcullis .
#   docker run --rm -p 8080:8080 -v $PWD/my.toml:/etc/portcullis/portcullis.toml portcullis
FROM rust:1-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends cmake \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin portcullis

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home-dir /var/lib/portcullis --create-home portcullis
COPY --from=build /src/target/release/portcullis /usr/local/bin/portcullis
COPY contrib/compose/portcullis.toml /etc/portcullis/portcullis.toml
USER portcullis
WORKDIR /var/lib/portcullis
EXPOSE 8080
ENTRYPOINT ["portcullis"]
CMD ["serve", "-c", "/etc/portcullis/portcullis.toml"]
