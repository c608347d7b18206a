# Container images of Nexus. One Dockerfile, one binary per image (the Helm chart's defaults):
#   docker build -t ghcr.io/contoso/nexus-controller:0.1.0 .
#   docker build --build-arg BIN=nexus-apiserver --target apiserver -t ghcr.io/contoso/nexus-apiserver:0.1.0 .
# The apiserver image also carries the built portal (React SPA) in /usr/share/nexus/portal, the
# chart's default apiserver.portal.ui.assetsDir. The build needs network access to crates.io and
# the npm registry; the result runs as a non-root user on a distroless base with no shell.
FROM node:20-bookworm-slim AS portal
WORKDIR /portal
COPY portal/package.json portal/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY portal/ ./
RUN npm run build

FROM rust:1.95-bookworm AS build
ARG BIN=nexus-controller
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p "$BIN" \
 && cp "target/release/$BIN" /app

FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
COPY --from=build /app /usr/local/bin/app
USER 65532:65532
# nexus-controller: 8080 metrics. nexus-apiserver: 8443 aggregated API, 9443 portal, 9090 metrics.
EXPOSE 8080 8443 9443 9090
ENTRYPOINT ["/usr/local/bin/app"]

# nexus-apiserver with the portal (build with --target apiserver).
FROM runtime AS apiserver
COPY --from=portal /portal/dist /usr/share/nexus/portal

# The default target: the binary alone (nexus-controller).
FROM runtime
