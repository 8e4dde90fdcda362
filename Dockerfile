# syntax=docker/dockerfile:1.7
# fastdeal image: one static binary (serve, migrate, load, version).
#   docker build -t fastdeal:local .
# Used by docker-compose.yml for the migration job and every app replica.

FROM golang:1.26 AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOOS=linux GOFLAGS=-trimpath
# Dependencies first: this layer stays cached until go.mod/go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -ldflags="-s -w -X main.version=${VERSION}" -o /out/fastdeal ./cmd/fastdeal

# Alpine rather than distroless: compose health checks need a probe inside the container
# (busybox wget, ~1 MB); distroless/static has none. Still a small image (~8 MB + binary).
FROM alpine:3.22
RUN apk add --no-cache ca-certificates tzdata \
 && addgroup -S -g 10001 fastdeal \
 && adduser -S -D -H -u 10001 -G fastdeal -s /sbin/nologin fastdeal
COPY --from=build /out/fastdeal /usr/local/bin/fastdeal
USER 10001:10001
EXPOSE 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/fastdeal"]
CMD ["serve"]
