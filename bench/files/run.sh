#!/bin/sh
# Times scar's deploy file engine against rsync on one generated 10k-file tree:
# plan vs rsync -a -n, sync vs rsync -a (fresh copy, one file changed, nothing
# changed), printing medians and the ratios scar/rsync.
#   bench/files/run.sh [-files 10000] [-runs 5] [-fsync-peer=false]
set -eu
if ! command -v rsync >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		apt-get install -y rsync >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y rsync >/dev/null; }
	else
		echo "run.sh: rsync is needed (apt-get install -y rsync)" >&2
		exit 1
	fi
fi
cd "$(dirname "$0")/../.."
rsync --version | head -n 1
go version
exec go run ./bench/files "$@"
