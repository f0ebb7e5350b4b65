# scar's image: a static binary next to the Docker CLI and its Compose plugin, which
# deploys run. Build with: docker build -t scar .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/scar ./cmd/scar

# docker:cli is Alpine with the docker CLI and the buildx and compose plugins.
FROM docker:28-cli
RUN addgroup -S scar && adduser -S -G scar -h /var/lib/scar scar \
    && mkdir -p /var/lib/scar && chown scar:scar /var/lib/scar
COPY --from=build /out/scar /usr/local/bin/scar
# Non-root: give the container the socket's group with `group_add` (see docker-compose.yml).
USER scar
ENV SCAR_LISTEN_ADDR=:8080 \
    SCAR_STATE_DIR=/var/lib/scar \
    SCAR_PROJECTS_FILE=/workspace/.scar-projects.json
VOLUME /var/lib/scar
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s CMD wget -qO- http://127.0.0.1:8080/healthz >/dev/null || exit 1
ENTRYPOINT ["scar"]
CMD ["serve"]
