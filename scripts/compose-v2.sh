#!/usr/bin/env bash
# Installs the Docker Compose v2 CLI plugin by building it from the Go module proxy,
# when `docker compose version` does not already work. Idempotent; the Go build cache
# makes a second run take seconds. Compose v2 cannot be downloaded on the test machines,
# but it builds as a dependency of a scratch module (go install is refused because
# Compose's go.mod has exclude directives).
set -euo pipefail

version="${COMPOSE_V2_VERSION:-v2.40.3}"
plugin_dir="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"

if docker compose version >/dev/null 2>&1; then
  echo "compose-v2: $(docker compose version)"
  exit 0
fi

build_dir="${COMPOSE_V2_BUILD_DIR:-/tmp/scar-compose-v2-build}"
mkdir -p "$build_dir" "$plugin_dir"
cd "$build_dir"
[ -f go.mod ] || go mod init composebuild >/dev/null 2>&1
go get "github.com/docker/compose/v2/cmd@${version}"
ldflags="-X github.com/docker/compose/v2/internal.Version=${version}"
go build -mod=mod -trimpath -ldflags "$ldflags" -o "$plugin_dir/docker-compose" github.com/docker/compose/v2/cmd

echo "compose-v2: $(docker compose version)"
