#!/usr/bin/env bash
# task bench: scar against what users would run instead, on this machine, in one run.
# Builds scar and the bench programs, sets up its fixtures on the local Docker Engine
# (Compose projects from the offline test image, 10k-file trees), runs scar and each
# peer alternately and prints every row's medians, the ratio scar/peer and its goal
# (see BENCHMARKS.md). Everything it makes is removed at the end, also on Ctrl-C.
#   bench/run.sh [suite flags]     e.g. -runs 3 -only status,logs,webhook
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

apt_install() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "bench/run.sh: $* is needed (apt-get install -y $*)" >&2
    exit 1
  fi
  if [ -z "${apt_updated:-}" ]; then apt-get update -qq >/dev/null; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
command -v rsync >/dev/null 2>&1 || apt_install rsync
# The seed's status and restart ran through docker-py; bench/peers/seed_docker.py too.
python3 -c 'import docker' 2>/dev/null || apt_install python3-docker
docker info >/dev/null 2>&1 || { echo "bench/run.sh: no Docker Engine answers" >&2; exit 1; }

run_id="sb$(date +%H%M%S)$$"
work=$(mktemp -d /tmp/scar-bench.XXXXXX)
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # The suite removes what it made; this catches what a killed suite left behind.
  for f in "$work"/run/*.pid; do
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
  done
  ids=$(docker ps -aq --filter "label=scar.bench=$run_id" 2>/dev/null || true)
  [ -z "$ids" ] || docker rm -f $ids >/dev/null 2>&1 || true
  for p in st rs dp pg pw; do docker network rm "${run_id}${p}_default" >/dev/null 2>&1 || true; done
  docker rmi -f "scar-bench-app:$run_id" >/dev/null 2>&1 || true
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT INT TERM

echo "## machine"
echo "kernel:  $(uname -srm)"
echo "cpu:     $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores"
echo "memory:  $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
echo "os:      $(. /etc/os-release && echo "$PRETTY_NAME")"
echo "engine:  $(docker version --format 'Docker Engine {{.Server.Version}}, API {{.Server.APIVersion}}'), storage $(docker info --format '{{.Driver}}' 2>/dev/null)"
echo "compose: v1 $(docker-compose version --short 2>/dev/null || echo none); v2 $(docker compose version --short 2>/dev/null || echo none)"
echo "peers:   $(rsync --version | head -n1 | awk '{print "rsync", $3}'); python3 $(python3 -c 'import sys, docker; print("%d.%d.%d" % sys.version_info[:3], "docker-py", docker.__version__)')"
echo "go:      $(go version | awk '{print $3}')"
echo "scar:    $(git describe --tags --always --dirty 2>/dev/null || echo unknown)"
echo

echo "building scar and the bench programs ..."
mkdir -p "$work/bin" "$work/run"
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=bench" -o "$work/bin/scar" ./cmd/scar
go build -o "$work/bin/barehook" ./bench/barehook
go build -o "$work/bin/files" ./bench/files
go build -o "$work/bin/suite" ./bench/suite

# The idle CPU row of alerts compares scar with scar as it was before the event
# watcher (issue #14): the first parent of the merge that brought the watcher in.
nowatch_args=()
if [[ " $* " != *" -only"* || "$*" == *alerts* ]]; then
  rev=$(git log --first-parent --format=%H -1 --grep="^Merge branch 'watch'" 2>/dev/null || true)
  if [ -n "$rev" ]; then
    echo "building scar before the watcher ($(git rev-parse --short "$rev^1")) ..."
    mkdir -p "$work/nowatch"
    git archive "$rev^1" | tar -x -C "$work/nowatch"
    (cd "$work/nowatch" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=bench-nowatch" -o "$work/bin/scar-nowatch" ./cmd/scar)
    nowatch_args=(-scar-nowatch "$work/bin/scar-nowatch")
  else
    echo "no merge of the watcher in this history: the idle row has no scar before it" >&2
  fi
fi

"$work/bin/suite" -root . -dir "$work/run" -run-id "$run_id" \
  -scar "$work/bin/scar" -barehook "$work/bin/barehook" -files "$work/bin/files" "${nowatch_args[@]}" "$@"
