# scar's image: a static binary next to the Docker CLI and its Compose plugin, which
# deploys run. Build with: docker build --build-arg VERSION=$(git describe --always) -t scar .
# README.md, "Running scar in Docker", says how to run it (docker-compose.yml).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/scar ./cmd/scar

# docker:cli is Alpine with the docker CLI and the buildx and compose plugins.
FROM docker:28-cli
# A fixed uid and gid, so that production directories can be given to scar on the
# host (chown -R 10001:10001 <production>) and the state volume keeps its owner.
# docker-compose.yml runs as ${SCAR_UID}:${SCAR_GID} (default this user) and adds
# the Docker socket's group (DOCKER_GID).
ARG SCAR_UID=10001
ARG SCAR_GID=10001
RUN addgroup -S -g "${SCAR_GID}" scar \
    && adduser -S -D -u "${SCAR_UID}" -G scar -h /var/lib/scar -s /sbin/nologin scar \
    && mkdir -p /var/lib/scar && chown scar:scar /var/lib/scar && chmod 0700 /var/lib/scar
COPY --from=build /out/scar /usr/local/bin/scar
USER scar:scar
ENV SCAR_LISTEN_ADDR=:8080 \
    SCAR_STATE_DIR=/var/lib/scar \
    SCAR_PROJECTS_FILE=/workspace/.scar-projects.json \
    HOME=/var/lib/scar
VOLUME /var/lib/scar
EXPOSE 8080
# /healthz on the port of SCAR_LISTEN_ADDR (":8080", "0.0.0.0:9000", "[::]:9000"),
# read when the check runs, so that changing the variable needs no other change.
# deploy/container_test.go runs this command against a listening scar.
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s \
    CMD ["/bin/sh", "-c", "wget -qO /dev/null \"http://127.0.0.1:${SCAR_LISTEN_ADDR##*:}/healthz\" || exit 1"]
ENTRYPOINT ["scar"]
CMD ["serve"]
