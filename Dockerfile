# syntax=docker/dockerfile:1
#
# wxavatar: a static Go binary on distroless/static (no shell, no package
# manager, CA certificates included, runs as UID 65532). deploy/README.md says
# how to build, run and rotate keys.
#
#   docker build -t wxavatar .
#   docker run --rm -p 8080:8080 --env-file prod.env -v wxavatar-data:/data wxavatar
#   docker run --rm --env-file prod.env wxavatar migrate

# Go version of the builder: must be at least the `go` line of go.mod
# (deploy/deploy_test.go checks the two agree).
ARG GO_VERSION=1.26

# The builder runs on the build machine's own platform and cross-compiles:
# the binary is pure Go (SQLite via modernc.org/sqlite, no cgo), so
# `docker buildx build --platform linux/amd64,linux/arm64` needs no emulation.
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src

# Modules first, in a layer of their own: it is rebuilt only when go.mod or
# go.sum change, not on every source edit.
COPY go.mod go.sum ./
RUN go mod download && go mod verify

COPY . .
# Set by BuildKit from --platform (empty: the builder's own, linux).
ARG TARGETOS TARGETARCH
# CGO_ENABLED=0: a static binary that needs no libc in the image.
# -trimpath -ldflags="-s -w": no build paths, no symbol table or DWARF.
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH GOFLAGS=-buildvcs=false \
    go build -trimpath -ldflags="-s -w" -o /out/wxavatar ./cmd/wxavatar \
 && mkdir -p /out/data

# distroless/static: /etc/passwd with nonroot (65532), CA certificates
# (object storage and WeChat are HTTPS), tzdata; nothing else. Pin it by digest in production
# (gcr.io/distroless/static-debian12:nonroot@sha256:…).
FROM gcr.io/distroless/static-debian12:nonroot

LABEL org.opencontainers.image.title="wxavatar" \
      org.opencontainers.image.description="Keeps WeChat mini program avatars (Tencent COS, Aliyun OSS, S3) and nicknames" \
      org.opencontainers.image.source="https://github.com/wxavatar/wxavatar"

COPY --from=build /out/wxavatar /wxavatar
# /data, owned by the runtime user: a named volume mounted there starts with
# this owner. The default DATABASE_URL, sqlite:./data/wxavatar.db, resolves
# to /data/wxavatar.db from the working directory /. With PostgreSQL nothing
# is written to disk and the root file system can be read-only.
COPY --from=build --chown=65532:65532 /out/data /data
WORKDIR /

# Numeric, so that Kubernetes' runAsNonRoot can check it without /etc/passwd.
USER 65532:65532
# ADDR defaults to :8080. METRICS_ADDR, when set (e.g. :9090), is a second port.
EXPOSE 8080

# No HEALTHCHECK: the image has no shell and no curl to run one, and
# Kubernetes ignores it anyway (it uses the probes of deploy/kubernetes).
# Orchestrators probe GET /healthz (alive) and GET /readyz (database and
# storage answer) over HTTP.
#
# The process handles SIGTERM (15 s drain) and SIGHUP (key reload); as PID 1
# it spawns no children, so it needs no init.
ENTRYPOINT ["/wxavatar"]
CMD ["serve"]
