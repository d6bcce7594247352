#!/usr/bin/env bash
# Everything a fresh clone on a fresh machine needs before it can run: the host packages and
# CRIU (setup-host.sh, idempotent) and the npm dependencies (npm ci, only when out of date).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "criu-lab needs root (namespaces, CRIU, packages): run this as root, e.g. with sudo" >&2
  exit 1
fi
bash scripts/setup-host.sh
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "bootstrap: installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi
