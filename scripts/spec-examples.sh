#!/usr/bin/env bash
# Runs every example command line of the specification (the Python framework's README), as a
# user coming from it would type it (`python3 run_experiment.py ...` -> `criu-lab run ...`), on
# the lab that config/servers.yaml points at, one after the other. Prints a table of exit code,
# verify verdict and phase times, and writes it to <results>/examples.md.
#
#   bash scripts/spec-examples.sh [results-dir] [filter]   # filter: a grep -E pattern over the example lines
#
# On a kernel without soft-dirty tracking (`criu check --feature mem_dirty_track`), pre-dump cannot
# run: a line that asks for it by flag is skipped, and a config file that asks for it runs with
# `--strategy full` added (its final step alone); the table says which. The VM lab and AWS have it.
set -uo pipefail
cd "$(dirname "$0")/.."
results=${1:-results/spec-examples}
filter=${2:-.}
mkdir -p "$results"
table="$results/examples.md"

# One example a line, as written in the spec (after `run_experiment.py`).
EXAMPLES=$(cat <<'EOF'
--workload memory
--workload matmul
--workload memory --mb-size 512 --max-memory 8192
-c config/experiments/lazy_pages.yaml
--workload memory --mb-size 128 --max-memory 1024 --interval 2
--workload memory --mb-size 512 --max-memory 8192 --lazy-pages
--workload memory --mb-size 256 --interval 5 --max-memory 4096 --predump-iterations 8 --predump-interval 10
--workload matmul --matrix-size 4096
--workload matmul --matrix-size 1024 --interval 0.5
--workload redis
--workload redis --num-keys 1000000 --value-size 4096
--workload redis --redis-port 6380 --num-keys 100000
--workload ml_training
--workload ml_training --model-size small --batch-size 128
--workload ml_training --model-size large --batch-size 32
--workload video
--workload video --resolution 3840x2160 --fps 30
--workload video --resolution 1280x720 --fps 60
--workload dataproc
--workload dataproc --num-rows 10000000 --num-cols 100
--workload dataproc --num-rows 100000 --interval 0.1
--strategy predump --predump-iterations 8 --predump-interval 10
--strategy full
--lazy-pages
-c config/experiments/efs_transfer.yaml --source-ip $SOURCE_NODE_IP --dest-ip $DEST_NODE_IP
EOF
)

soft_dirty=yes
criu check --feature mem_dirty_track >/dev/null 2>&1 || soft_dirty=no

printf '| example | exit | verify | dump s | transfer s | restore s | downtime s | wall s |\n|---|---|---|---|---|---|---|---|\n' >"$table"
while IFS= read -r example; do
  [ -n "$example" ] || continue
  grep -qE -- "$filter" <<<"$example" || continue
  shown=$example
  if [ "$soft_dirty" = no ]; then
    # What the line plans, read from its dry run (no node is touched).
    mode=$(eval "node bin/criu-lab.js run $example --dry-run --json" 2>/dev/null | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{console.log(JSON.parse(s).plan.checkpoint.strategy.mode)}catch{console.log("")}})')
    if [ "$mode" = predump ]; then
      if grep -q -- '--strategy predump' <<<"$example"; then
        printf '| `%s` | skipped | needs pre-dump: no soft-dirty tracking on this kernel | | | | | |\n' "$example" | tee -a "$table"
        continue
      fi
      # A file that asks for pre-dumps runs its final step alone here (the acceptance's `--strategy full`).
      example="$example --strategy full"
      shown="$shown (+ --strategy full: no soft-dirty here)"
    fi
  fi
  out="$results/run-$(date +%s%N).json"
  started=$(date +%s.%N)
  # eval: the spec's own line may name $SOURCE_NODE_IP and $DEST_NODE_IP, as a shell would expand them.
  eval "node bin/criu-lab.js run $example --results-dir \"$results\" --json" >"$out" 2>"$out.stderr"
  code=$?
  wall=$(echo "$(date +%s.%N) - $started" | bc)
  row=$(node -e '
    const fs = require("fs");
    let m = {};
    try { m = JSON.parse(fs.readFileSync(process.argv[1], "utf8")); } catch {}
    const s = (ms) => (typeof ms === "number" ? (ms / 1000).toFixed(2) : "");
    const verify = m.verify ? (m.verify.ok ? "ok" : "FAILED") : (m.outcome ?? "no metrics");
    console.log([verify, s(m.dump?.durationMs), s(m.transfer?.durationMs), s(m.restore?.durationMs), s(m.downtimeMs)].join(" | "));
  ' "$out")
  printf '| `%s` | %s | %s | %.0f |\n' "$shown" "$code" "$row" "$wall" | tee -a "$table"
done <<<"$EXAMPLES"
echo "table: $table"
