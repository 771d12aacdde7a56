# The images this repository ships, one target each:
#   docker build --target controller -t knative-build-rs/controller:v0.1.0 .
#   docker build --target creds-init -t knative-build-rs/creds-init:v0.1.0 .
#   docker build --target git-init   -t knative-build-rs/git-init:v0.1.0 .
#   docker build --target nop        -t knative-build-rs/nop:v0.1.0 .
# The image names are the defaults of `build-controller run` and `render` (--*-image flags).

FROM rust:1.89-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked \
      -p build-controller --bin build-controller \
      -p build-auth --bin creds-init \
      -p build-pod --bin git-init --bin nop

# The no-op container: exits at once when every step has run.
FROM gcr.io/distroless/cc-debian12:nonroot AS nop
COPY --from=build /src/target/release/nop /ko-app/nop
ENTRYPOINT ["/ko-app/nop"]

# Writes credentials into $HOME (/builder/home) from the mounted Secrets.
FROM gcr.io/distroless/cc-debian12 AS creds-init
COPY --from=build /src/target/release/creds-init /ko-app/creds-init
ENTRYPOINT ["/ko-app/creds-init"]

# Fetches git sources into /workspace: needs git and an ssh client.
FROM debian:bookworm-slim AS git-init
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/git-init /ko-app/git-init
ENTRYPOINT ["/ko-app/git-init"]

# The controller: non-root, read-only root filesystem friendly.
FROM gcr.io/distroless/cc-debian12:nonroot AS controller
COPY --from=build /src/target/release/build-controller /ko-app/build-controller
USER 65532:65532
ENTRYPOINT ["/ko-app/build-controller"]
CMD ["run"]
