#!/usr/bin/env bash
# Runs the real nginx and Caddy with the configurations in README.md ("Behind a reverse
# proxy", between the proxy-check markers) in front of a real `scar serve`, and checks
# that the answer of a restart that waits for a health check comes through both; then,
# with each proxy's read timeout set shorter than that restart, that the answer is cut
# off (so the check can fail, and shows what the README's old 180 s / `read_timeout 3m`
# did to restarts longer than that). Before that, it follows the container's log
# through both (GET .../logs?follow=true, as text and as Server-Sent Events) and checks
# that the lines the container writes arrive while the request is still open.
#
# Everything runs on 127.0.0.1 high ports from a temporary directory: no system service,
# configuration or port is touched. Needs Docker with a Compose tool (the restart is of
# a real container), nginx, caddy, curl and Go. About 30 seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATH="$PATH:/usr/local/go/bin:/usr/sbin"

for tool in nginx caddy curl docker go python3; do
  command -v "$tool" >/dev/null || { echo "proxy-check: $tool not found"; exit 1; }
done
read -r -a compose <<<"${SCAR_COMPOSE_COMMAND:-}"
if [ ${#compose[@]} -eq 0 ]; then
  if docker compose version >/dev/null 2>&1; then compose=(docker compose); else compose=(docker-compose); fi
fi

# The restart waits for the first health check, this many seconds after the start.
restart_secs=6
short_timeout=2 # a read timeout shorter than the restart

tmp=$(mktemp -d)
chmod 755 "$tmp" # nginx's workers (nobody, when run as root) read below it
name="proxycheck$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
image="$name-app:latest"
pids=()
cleanup() {
  set +e
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  [ -f "$tmp/prod/docker-compose.yml" ] && (cd "$tmp/prod" && "${compose[@]}" -p "$name" down -v -t 1 >/dev/null 2>&1)
  docker rmi "$image" >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_port PORT: polls until something listens on 127.0.0.1:PORT (10 s at most).
wait_port() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "proxy-check: nothing listens on 127.0.0.1:$1"; return 1
}

# snippet NAME: the code block of README.md between <!-- proxy-check:NAME --> and
# <!-- /proxy-check:NAME -->, without its fences.
snippet() {
  awk -v name="$1" '
    $0 == "<!-- proxy-check:" name " -->" { inside = 1; next }
    $0 == "<!-- /proxy-check:" name " -->" { inside = 0 }
    inside && !/^```/ { print }' README.md
}

echo "proxy-check: building scar and the demo app image"
mkdir -p "$tmp/bin" "$tmp/img" "$tmp/ws" "$tmp/prod" "$tmp/state"
CGO_ENABLED=0 go build -o "$tmp/bin/scar" ./cmd/scar
CGO_ENABLED=0 go build -o "$tmp/img/app" ./examples/demo/app
cp examples/demo/index.txt "$tmp/img/"
docker build -q -f examples/demo/Dockerfile -t "$image" "$tmp/img" >"$tmp/build.log" 2>&1 || {
  echo "proxy-check: docker build failed:"; cat "$tmp/build.log"; exit 1; }

# One service whose first health check comes restart_secs after it starts: a restart
# through scar takes that long, as a slow service or a depends_on level would.
cat >"$tmp/prod/docker-compose.yml" <<YAML
services:
  web:
    image: $image
    environment:
      TICK_EVERY: 200ms # lines for the follow checks
    healthcheck:
      test: ["CMD", "/app", "-healthcheck"]
      interval: ${restart_secs}s
YAML
cp "$tmp/prod/docker-compose.yml" "$tmp/ws/"
(cd "$tmp/prod" && "${compose[@]}" -p "$name" up -d >/dev/null 2>&1)
cat >"$tmp/projects.json" <<JSON
{"pc": {"workspace": "$tmp/ws", "production": "$tmp/prod", "compose_project": "$name", "auto_detect": true, "health_timeout": "60s"}}
JSON

token="proxy-check-token-$(head -c8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
SCAR_LISTEN_ADDR=127.0.0.1:0 SCAR_PROJECTS_FILE="$tmp/projects.json" SCAR_STATE_DIR="$tmp/state" \
  SCAR_API_TOKENS="$token" SCAR_TRUSTED_PROXIES=127.0.0.1 SCAR_COMPOSE_COMMAND="${compose[*]}" \
  "$tmp/bin/scar" serve >"$tmp/scar.log" 2>&1 &
pids+=($!)
scar_addr=
for _ in $(seq 1 100); do
  scar_addr=$(grep -o '"msg":"scar serving".*"addr":"[^"]*"' "$tmp/scar.log" | grep -o '"addr":"[^"]*"' | cut -d'"' -f4 || true)
  [ -n "$scar_addr" ] && break
  sleep 0.1
done
[ -n "$scar_addr" ] || { echo "proxy-check: scar did not start:"; cat "$tmp/scar.log"; exit 1; }

# nginx: the README's server block, listening on a free port without TLS, proxying to
# this scar; read_timeout replaces its proxy_read_timeout when given.
start_nginx() { # port read_timeout|""
  local port=$1 dir="$tmp/nginx-$1" block
  mkdir -p "$dir"
  block=$(snippet nginx)
  grep -q 'proxy_read_timeout' <<<"$block" || { echo "proxy-check: the README's nginx block sets no proxy_read_timeout"; exit 1; }
  block=$(sed -e "s#listen 443 ssl;#listen 127.0.0.1:$port;#" -e '/ssl_certificate/d' \
    -e "s#127.0.0.1:8080#$scar_addr#g" <<<"$block")
  [ -n "$2" ] && block=$(sed "s#proxy_read_timeout [^;]*;#proxy_read_timeout $2;#" <<<"$block")
  grep -q 'proxy_buffering off;' <<<"$block" || { echo "proxy-check: the README's nginx block does not turn proxy_buffering off for the streams"; exit 1; }
  cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log;
events {}
http {
    access_log $dir/access.log;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
$block
}
CONF
  nginx -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' >"$dir/out.log" 2>&1 &
  pids+=($!)
  wait_port "$port"
}

# Caddy: the README's site block with a local plain-HTTP address, no admin endpoint
# and its storage in the temporary directory; read_timeout is set in the transport
# when given.
start_caddy() { # port read_timeout|""
  local port=$1 dir="$tmp/caddy-$1" block
  mkdir -p "$dir"
  block=$(snippet caddy | sed -e "s#^scar.example.com {#http://127.0.0.1:$port {#" -e "s#127.0.0.1:8080#$scar_addr#g")
  if [ -n "$2" ]; then
    block=$(sed "s#reverse_proxy $scar_addr\$#reverse_proxy $scar_addr {\n\t\t\ttransport http {\n\t\t\t\tread_timeout $2\n\t\t\t}\n\t\t}#" <<<"$block")
  fi
  printf '{\n\tadmin off\n\tstorage file_system %s\n}\n\n%s\n' "$dir/data" "$block" >"$dir/Caddyfile"
  caddy validate --config "$dir/Caddyfile" --adapter caddyfile >"$dir/validate.log" 2>&1 || {
    echo "proxy-check: caddy refuses its configuration:"; cat "$dir/Caddyfile" "$dir/validate.log"; exit 1; }
  HOME="$dir" XDG_DATA_HOME="$dir/data" XDG_CONFIG_HOME="$dir/config" \
    caddy run --config "$dir/Caddyfile" --adapter caddyfile >"$dir/out.log" 2>&1 &
  pids+=($!)
  wait_port "$port"
}

# restart_through PORT: restarts the project through the proxy on PORT and prints
# "<http status> <seconds>".
restart_through() {
  local start end code
  start=$(date +%s.%N)
  code=$(curl -s -o "$tmp/answer" -w '%{http_code}' -X POST -H "Authorization: Bearer $token" \
    "http://127.0.0.1:$1/api/v1/projects/pc/restart" || true)
  end=$(date +%s.%N)
  printf '%s %.1f\n' "$code" "$(echo "$end - $start" | bc)"
}

# follow_through PORT ACCEPT: follows web's log through the proxy on PORT for up to
# 10 s, until 3 lines written by the container (ticks) have arrived; prints how many
# arrived and whether the request was still open then (open/closed).
follow_through() {
  local out="$tmp/follow-$1-$RANDOM" pid n=0 open=closed
  local args=(-sN -H "Authorization: Bearer $token")
  [ -n "$2" ] && args+=(-H "Accept: $2")
  curl "${args[@]}" "http://127.0.0.1:$1/api/v1/projects/pc/logs?follow=true&lines=1&container=web" >"$out" &
  pid=$!
  for _ in $(seq 1 100); do
    n=$(grep -c 'tick [0-9]' "$out" || true)
    [ "$n" -ge 3 ] && break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && open=open
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
  echo "$n $open"
}

fail=0
check_follow() { # label port accept
  local got n open
  got=$(follow_through "$2" "$3"); n=${got% *}; open=${got#* }
  if [ "$n" -ge 3 ] && [ "$open" = open ]; then
    echo "ok   $1: the container's lines arrived while the follow was open ($n lines)"
  else
    echo "FAIL $1: $n of the container's lines arrived in 10 s (request $open), want 3 while it is open"; fail=1
  fi
}

check() { # label port want(held|cut)
  local got code secs
  # The restart before this one runs to its end after its client was cut off, and holds
  # the project's lock until then: a 409 (busy) here means "not yet", so ask again.
  for _ in $(seq 1 100); do
    got=$(restart_through "$2"); code=${got% *}; secs=${got#* }
    [ "$code" = 409 ] || break
    sleep 0.2
  done
  case "$3" in
  held)
    if [ "$code" = 200 ] && grep -q '"ok": *true' "$tmp/answer"; then
      echo "ok   $1: the restart's answer came through after ${secs}s (HTTP $code)"
    else
      echo "FAIL $1: HTTP $code after ${secs}s, want 200 with ok:true: $(head -c 300 "$tmp/answer")"; fail=1
    fi ;;
  cut)
    if [ "$code" = 504 ]; then
      echo "ok   $1: cut off with HTTP $code after ${secs}s (the restart takes about ${restart_secs}s)"
    else
      echo "FAIL $1: HTTP $code after ${secs}s, want 504 from a read timeout of ${short_timeout}s"; fail=1
    fi
    # scar finishes the restart anyway; wait until the project is free again.
    for _ in $(seq 1 200); do
      curl -s -H "Authorization: Bearer $token" "http://$scar_addr/api/v1/projects/pc/status" | grep -q '"health": *"healthy"' && break
      sleep 0.1
    done ;;
  esac
}

command -v bc >/dev/null || bc() { python3 -c "import sys; print(eval(sys.stdin.read()))"; }

p1=$(free_port); start_nginx "$p1" ""
p2=$(free_port); start_caddy "$p2" ""
p3=$(free_port); start_nginx "$p3" "${short_timeout}s"
p4=$(free_port); start_caddy "$p4" "${short_timeout}s"
echo "proxy-check: scar on $scar_addr; nginx on :$p1 (README) and :$p3 (${short_timeout}s), Caddy on :$p2 (README) and :$p4 (${short_timeout}s)"
check_follow "nginx, README configuration, follow as text" "$p1" ""
check_follow "nginx, README configuration, follow as events" "$p1" "text/event-stream"
check_follow "Caddy, README configuration, follow as text" "$p2" ""
check_follow "Caddy, README configuration, follow as events" "$p2" "text/event-stream"
check "nginx, README configuration" "$p1" held
check "Caddy, README configuration" "$p2" held
check "nginx, proxy_read_timeout ${short_timeout}s" "$p3" cut
check "Caddy, read_timeout ${short_timeout}s" "$p4" cut
if [ "$fail" != 0 ]; then
  echo "--- scar's log (last lines)"; tail -20 "$tmp/scar.log"
  exit 1
fi
echo "proxy-check: OK"
