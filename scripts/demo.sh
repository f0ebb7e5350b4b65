#!/usr/bin/env bash
# The quick start: runs scar against the local Docker Engine with the example project.
# It builds scar, lays out a workspace and a production copy of examples/demo under
# .scar-demo/, starts the production Compose project, writes a projects file, and
# serves scar on :8080 with a fixed demo API token. No Telegram token is needed.
#
#   ./scripts/demo.sh        build, start, and print what to try once scar answers
#   ./scripts/demo.sh down   stop and remove the demo's containers, images and files
#
# Variables: SCAR_DEMO_DIR (default ./.scar-demo), SCAR_DEMO_TOKEN, SCAR_LISTEN_ADDR
# (default :8080), SCAR_DEMO_PROJECT (the Compose project, default scar-demo; give
# `down` the same), DEMO_PORT (the web service's host port, default 8001).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$PATH:/usr/local/go/bin"

demo="${SCAR_DEMO_DIR:-$root/.scar-demo}"
token="${SCAR_DEMO_TOKEN:-demo-token-change-me-0123456789}"
listen="${SCAR_LISTEN_ADDR:-:8080}"
project="${SCAR_DEMO_PROJECT:-scar-demo}"
port="${listen##*:}"
host="${listen%:*}"
case "$host" in "" | 0.0.0.0 | "[::]") host=localhost ;; esac
base="http://$host:$port"

started=$SECONDS
step() { printf '\n==> [%3ss] %s\n' "$((SECONDS - started))" "$*"; }
fail() { printf '\ndemo: %s\n' "$*" >&2; exit 1; }

compose=()
find_compose() {
  if docker compose version >/dev/null 2>&1; then compose=(docker compose)
  elif command -v docker-compose >/dev/null 2>&1; then compose=(docker-compose)
  else fail "neither 'docker compose' nor 'docker-compose' works: install Compose first"
  fi
}

case "${1:-up}" in
up) ;;
down)
  find_compose
  step "stopping and removing the demo's containers, network and images (Compose project $project)"
  if [ -d "$demo/production" ]; then
    (cd "$demo/production" && "${compose[@]}" -p "$project" down -v --rmi all -t 5)
  else
    echo "no $demo/production: nothing to stop"
  fi
  step "removing $demo"
  rm -rf "$demo"
  step "done: the demo is gone"
  exit 0
  ;;
-h | --help | help)
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
  ;;
*) fail "unknown argument '$1' (use: up, down or --help)" ;;
esac

step "checking the tools: go, docker, Compose, curl"
command -v go >/dev/null || fail "go is not on PATH: install Go (see go.mod for the version)"
command -v curl >/dev/null || fail "curl is not on PATH: install curl"
docker version --format 'Docker Engine {{.Server.Version}}' || fail "the Docker Engine does not answer: start it, or set DOCKER_HOST"
find_compose
echo "Compose: ${compose[*]} ($("${compose[@]}" version --short 2>/dev/null || echo '?'))"

mkdir -p "$demo/workspace" "$demo/state" "$demo/bin"
step "building scar into $demo/bin/scar — the first build compiles every dependency and can take a few minutes; later ones take seconds"
CGO_ENABLED=0 go build -trimpath -buildvcs=auto -o "$demo/bin/scar" ./cmd/scar
"$demo/bin/scar" version

# The workspace is yours to edit: it is seeded once and never overwritten.
if [ ! -f "$demo/workspace/docker-compose.yml" ]; then
  step "seeding the workspace $demo/workspace from examples/demo"
  cp -R examples/demo/Dockerfile examples/demo/docker-compose.yml examples/demo/index.txt examples/demo/content "$demo/workspace/"
else
  step "keeping the workspace $demo/workspace as you left it"
fi
step "building the demo app (a static Go binary, so that it runs in a FROM scratch image: no registry needed)"
CGO_ENABLED=0 go build -trimpath -o "$demo/workspace/app" ./examples/demo/app
# Production starts as a copy of the workspace, as if deployed once.
if [ ! -d "$demo/production" ]; then
  step "copying the workspace to production $demo/production, as if it had been deployed once"
  cp -a "$demo/workspace" "$demo/production"
fi

step "building and starting the production containers (Compose project $project) with ${compose[*]}"
(cd "$demo/production" && "${compose[@]}" -p "$project" build -q web && "${compose[@]}" -p "$project" up -d)

step "writing the projects file $demo/scar-projects.json"
cat >"$demo/scar-projects.json" <<JSON
{
  "demo": {
    "workspace": "$demo/workspace",
    "production": "$demo/production",
    "compose_project": "$project",
    "containers": ["web", "cache"],
    "primary_container": "web",
    "auto_detect": true,
    "health_timeout": "30s"
  }
}
JSON

step "starting scar on $listen (its log follows)"
SCAR_PROJECTS_FILE="$demo/scar-projects.json" SCAR_STATE_DIR="$demo/state" \
  SCAR_API_TOKENS="$token" SCAR_LISTEN_ADDR="$listen" SCAR_LOG_FORMAT="${SCAR_LOG_FORMAT:-text}" \
  "$demo/bin/scar" serve &
scar_pid=$!
trap 'kill -TERM "$scar_pid" 2>/dev/null || true; wait "$scar_pid" 2>/dev/null || true' INT TERM EXIT

step "waiting for scar to answer $base/readyz"
deadline=$((SECONDS + 60))
until curl -fsS -o /dev/null "$base/readyz" 2>/dev/null; do
  kill -0 "$scar_pid" 2>/dev/null || fail "scar stopped before it was ready: see its log above"
  [ "$SECONDS" -lt "$deadline" ] || fail "scar did not answer $base/readyz within 60s: see its log above"
  sleep 0.5
done

cat <<TXT

==> [$(printf '%3s' $((SECONDS - started)))s] scar is ready on $listen with the project "demo". Try, from another shell:

  curl -s -H 'Authorization: Bearer $token' $base/api/v1/projects/demo/status
  curl -s -H 'Authorization: Bearer $token' -H 'Accept: text/plain' '$base/api/v1/projects/demo/logs?lines=20'
  curl -s -X POST -H 'Authorization: Bearer $token' $base/api/v1/projects/demo/restart
  echo changed > $demo/workspace/content/index.txt
  curl -s -X POST -H 'Authorization: Bearer $token' -d '{"dry_run":true}' $base/api/v1/projects/demo/deploy
  curl -s -X POST -H 'Authorization: Bearer $token' $base/api/v1/projects/demo/deploy
  curl -s -H 'Authorization: Bearer $token' $base/api/v1/deployments/<the "id" it answered>

Stop scar with Ctrl-C (the demo's containers keep running); remove everything with: $0 down

TXT
wait "$scar_pid"
