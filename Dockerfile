# Container image of nexus-controller (the Helm chart's default image).
#   docker build -t ghcr.io/contoso/nexus-controller:0.1.0 .
# The build needs network access to crates.io; the result runs as a non-root user on a
# distroless base with no shell.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p nexus-controller \
 && cp target/release/nexus-controller /nexus-controller

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /nexus-controller /usr/local/bin/nexus-controller
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/nexus-controller"]
