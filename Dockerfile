# Builds the hubline binary (worker, starter and dev in one) into a small non-root image.
#   docker build -t hubline .
#   docker run --rm hubline --help
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# A static binary; CI runs the same script (internal/composestack). The first build compiles
# the embedded Temporal server used by `hubline dev`: a few minutes.
RUN scripts/build-image.sh /out/hubline

FROM debian:bookworm-slim
# ca-certificates for the LINE and HubSpot APIs; curl for the compose health check on /readyz.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin hubline
COPY --from=build /out/hubline /hubline
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["/hubline"]
CMD ["--help"]
