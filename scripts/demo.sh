#!/usr/bin/env bash
# `npm run demo`: from a fresh clone, install what is needed, bring up a two-node lab on this
# machine, live-migrate a 512 MiB memory workload with real CRIU, print the timed phases, and
# take the lab down again (KEEP_LAB=1 keeps it for more runs). Extra arguments go to `criu-lab run`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
criu_lab() { node bin/criu-lab.js "$@"; }
if [ "${KEEP_LAB:-0}" != 1 ]; then trap 'criu_lab lab down >/dev/null || true' EXIT; fi
criu_lab lab up
criu_lab run --workload memory --mb-size 128 --interval 0.5 --max-memory 512 "$@"
