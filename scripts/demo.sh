#!/usr/bin/env bash
# The quick start: runs scar against the local Docker Engine with the example project.
# It lays out a workspace and a production copy of examples/demo under .scar-demo/,
# starts the production Compose project, writes a projects file, and serves scar on
# :8080 with a fixed demo API token. No Telegram token is needed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$PATH:/usr/local/go/bin"

demo="${SCAR_DEMO_DIR:-$root/.scar-demo}"
token="${SCAR_DEMO_TOKEN:-demo-token-change-me-0123456789}"
listen="${SCAR_LISTEN_ADDR:-:8080}"

if docker compose version >/dev/null 2>&1; then compose=(docker compose); else compose=(docker-compose); fi

mkdir -p "$demo/workspace" "$demo/state"
# The workspace is yours to edit: it is seeded once and never overwritten.
if [ ! -f "$demo/workspace/docker-compose.yml" ]; then
  cp -R examples/demo/Dockerfile examples/demo/docker-compose.yml examples/demo/index.txt examples/demo/content "$demo/workspace/"
fi
# The app is a static Go binary so that it runs in a FROM scratch image (no registry needed).
CGO_ENABLED=0 go build -trimpath -o "$demo/workspace/app" ./examples/demo/app
# Production starts as a copy of the workspace, as if deployed once.
[ -d "$demo/production" ] || cp -a "$demo/workspace" "$demo/production"

echo "starting the demo's production containers with ${compose[*]}"
(cd "$demo/production" && "${compose[@]}" -p scar-demo build -q web && "${compose[@]}" -p scar-demo up -d)

cat > "$demo/scar-projects.json" <<JSON
{
  "demo": {
    "workspace": "$demo/workspace",
    "production": "$demo/production",
    "compose_project": "scar-demo",
    "containers": ["web", "cache"],
    "primary_container": "web",
    "auto_detect": true,
    "health_timeout": "30s"
  }
}
JSON

cat <<TXT

scar is starting on $listen with the project "demo". Try, from another shell:

  curl -s -H 'Authorization: Bearer $token' localhost:${listen##*:}/api/v1/projects/demo/status
  curl -s -H 'Authorization: Bearer $token' -H 'Accept: text/plain' 'localhost:${listen##*:}/api/v1/projects/demo/logs?lines=20'
  curl -s -X POST -H 'Authorization: Bearer $token' localhost:${listen##*:}/api/v1/projects/demo/restart
  echo changed > $demo/workspace/content/index.txt
  curl -s -X POST -H 'Authorization: Bearer $token' -d '{"dry_run":true}' localhost:${listen##*:}/api/v1/projects/demo/deploy
  curl -s -X POST -H 'Authorization: Bearer $token' localhost:${listen##*:}/api/v1/projects/demo/deploy

Stop with Ctrl-C; remove the demo with: (cd $demo/production && ${compose[*]} -p scar-demo down) && rm -rf $demo
TXT

exec env SCAR_PROJECTS_FILE="$demo/scar-projects.json" SCAR_STATE_DIR="$demo/state" \
  SCAR_API_TOKENS="$token" SCAR_LISTEN_ADDR="$listen" SCAR_LOG_FORMAT="${SCAR_LOG_FORMAT:-text}" \
  go run ./cmd/scar serve
