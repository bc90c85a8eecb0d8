# coupa-kafka container image.
#
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) -t coupa-kafka .
#   docker run --rm coupa-kafka --version
#
# Stage 1 builds a static binary (CGO_ENABLED=0: no libc, runs on a bare
# image); stage 2 is distroless "static" (CA certificates, tzdata, /etc/passwd
# with the nonroot user, no shell, no package manager) running as uid 65532.
#
# Only classic-builder features are used (no RUN --mount), so the file builds
# with BuildKit, the legacy builder and docker-compose v1 alike.

# Go version of go.mod's "go" line; bump both together.
ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0 \
    GOOS=linux \
    GOFLAGS=-trimpath \
    GOTOOLCHAIN=local
# Dependencies first: this layer is reused while go.mod/go.sum do not change.
COPY go.mod go.sum ./
RUN go mod download && go mod verify
COPY . .
# Stamped into `var version` of package main; shown by `coupa-kafka --version`.
ARG VERSION=dev
RUN go build -ldflags "-s -w -X main.version=${VERSION}" -o /out/coupa-kafka ./cmd/coupa-kafka \
 && /out/coupa-kafka --version

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="coupa-kafka" \
      org.opencontainers.image.description="Copies Coupa spend data into Kafka (Avro, Confluent wire format, transactional cursors)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="https://github.com/coupa-kafka/coupa-kafka"
COPY --from=build /out/coupa-kafka /usr/local/bin/coupa-kafka
# 65532:65532 is "nonroot" in distroless; numeric so that Kubernetes'
# runAsNonRoot check can verify it without reading /etc/passwd.
USER 65532:65532
# /metrics, /healthz, /readyz (COUPA_HTTP_ADDR, default :8080).
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/coupa-kafka"]
CMD ["run"]
