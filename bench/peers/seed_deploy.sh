#!/bin/sh
# The seed bot's deploy, re-created as a peer for scar's benchmarks: rsync the
# workspace over production with the seed's excludes, then `docker compose up -d` in
# production. No plan, no backup, no health gate, no rollback.
#   bench/peers/seed_deploy.sh WORKSPACE PRODUCTION COMPOSE_PROJECT
# SEED_COMPOSE overrides the Compose command (default: docker compose).
set -eu
ws=$1 prod=$2 project=$3
rsync -av --exclude .git --exclude __pycache__ --exclude '*.pyc' "$ws/" "$prod/"
cd "$prod"
${SEED_COMPOSE:-docker compose} -p "$project" up -d
