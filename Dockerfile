# Container images of Nexus. One Dockerfile, one binary per image (the Helm chart's defaults):
#   docker build -t ghcr.io/contoso/nexus-controller:0.1.0 .
#   docker build --build-arg BIN=nexus-apiserver -t ghcr.io/contoso/nexus-apiserver:0.1.0 .
# The build needs network access to crates.io; the result runs as a non-root user on a
# distroless base with no shell.
FROM rust:1.95-bookworm AS build
ARG BIN=nexus-controller
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p "$BIN" \
 && cp "target/release/$BIN" /app

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /app /usr/local/bin/app
USER 65532:65532
# nexus-controller: 8080 metrics. nexus-apiserver: 8443 aggregated API, 9443 portal, 9090 metrics.
EXPOSE 8080 8443 9443 9090
ENTRYPOINT ["/usr/local/bin/app"]
