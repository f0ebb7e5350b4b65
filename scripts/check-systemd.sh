#!/usr/bin/env bash
# Checks deploy/systemd/scar.service with `systemd-analyze verify`: a copy of the unit
# with its scar path pointing at a scar built into a temporary directory (verify
# wants the binaries to exist), and its environment file created there too. Works
# without systemd running (in a container). Fails on any warning about the unit.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v systemd-analyze >/dev/null || { echo "systemd-analyze not found (apt-get install systemd)"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
CGO_ENABLED=0 go build -o "$tmp/scar" ./cmd/scar
touch "$tmp/scar.env"
sed -e "s#/usr/local/bin/scar#$tmp/scar#g" \
    -e "s#/etc/scar/scar.env#$tmp/scar.env#g" \
    deploy/systemd/scar.service >"$tmp/scar.service"
grep -q "$tmp/scar serve" "$tmp/scar.service" || { echo "ExecStart of scar.service is not /usr/local/bin/scar serve"; exit 1; }

# --man=no: no man pages to look up for Documentation=; the unit's own lines only.
out=$(SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no "$tmp/scar.service" 2>&1) || {
  echo "systemd-analyze verify failed:"; echo "$out"; exit 1; }
if grep -F "scar.service" <<<"$out"; then
  echo "systemd-analyze verify warns about scar.service (above)"; exit 1
fi
echo "systemd-analyze verify: deploy/systemd/scar.service OK"
