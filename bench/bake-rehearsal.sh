#!/usr/bin/env bash
# What `criu-lab infra bake` saves a fresh cell, measured on the rehearsal in one run: deploy to
# ready from the stand-in for Debian's own AMI (nodes install nothing but build CRIU at boot:
# `infra bake --rehearsal --stock-image`, which then images a node), and deploy to ready from the
# image that bake made (`infra deploy --rehearsal`, nodes find CRIU in place). Both on the same
# config, one after the other, on this machine's software-emulated guests: the ratio is what
# carries to AWS, not the minutes. Writes bench/results-bake.md; the baked image is removed at the end.
# usage: bench/bake-rehearsal.sh [infra.yaml]   (default: config/infra.example.yaml with a test CIDR)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CLI=(node "$ROOT/bin/criu-lab.js")
work=$(mktemp -d /tmp/criu-lab-bake-bench.XXXXXX)
store=/var/cache/criu-lab/vm/rehearsal/baked
cleanup() {
  local status=$? ami
  ami=$(sed -n 's/^  id: \(ami-[0-9a-f]*\)$/\1/p' "$work/infra.yaml" 2>/dev/null | head -1)
  [ -n "$ami" ] && rm -rf "${store:?}/$ami"
  # A failed run keeps its logs and the guests' consoles.
  if [ "$status" = 0 ]; then rm -rf "$work"; else echo "bake-rehearsal: failed; logs and consoles kept in $work" >&2; fi
}
trap cleanup EXIT

config=$work/infra.yaml
if [ $# -gt 0 ]; then
  cp "$1" "$config"
else
  ssh-keygen -q -t ed25519 -N '' -C bake-bench -f "$work/key"
  { cat "$ROOT/config/infra.example.yaml"; printf 'operator_cidr: 198.51.100.7/32\npublic_key_path: %s\n' "$work/key.pub"; } >"$config"
fi

times_of() { grep -o 'rehearsal times: .*' "$1" | tail -1; }
ready_s() { times_of "$1" | sed -n 's/.*deploy to ready \([0-9]*\) s.*/\1/p'; }
setup_lines() { grep -o 'ready (setup-host: [^)]*)' "$1" | sort | uniq -c | sed 's/^ */    /'; }

echo "bake-rehearsal: 1/2 infra bake --rehearsal --stock-image (nodes build CRIU at boot, then one is imaged)"
"${CLI[@]}" infra bake --rehearsal --stock-image -c "$config" --rehearsal-dir "$work/bake" >"$work/bake.log" 2>&1 \
  || { tail -40 "$work/bake.log" >&2; exit 1; }
echo "bake-rehearsal: 2/2 infra deploy --rehearsal from the baked image"
"${CLI[@]}" infra deploy --rehearsal --destroy-after -c "$config" --rehearsal-dir "$work/deploy" >"$work/deploy.log" 2>&1 \
  || { tail -40 "$work/deploy.log" >&2; exit 1; }

before=$(ready_s "$work/bake.log")
after=$(ready_s "$work/deploy.log")
{
  echo "# Deploy to ready, with and without a baked image (bench/bake-rehearsal.sh)"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, software-emulated guests (qemu TCG), config $(basename "$config"), one run each, in one run of the script."
  echo
  echo "| image | deploy to ready | setup-host on the nodes |"
  echo "|---|---|---|"
  echo "| stand-in for Debian's AMI (CRIU built at boot) | ${before} s | $(setup_lines "$work/bake.log" | tr '\n' ';') |"
  echo "| baked by infra bake --rehearsal | ${after} s | $(setup_lines "$work/deploy.log" | tr '\n' ';') |"
  echo
  echo "Ratio after/before: $(awk -v a="$after" -v b="$before" 'BEGIN { printf "%.2f", a / b }')"
  echo
  echo "- before: $(times_of "$work/bake.log")"
  echo "- after: $(times_of "$work/deploy.log")"
} >"$ROOT/bench/results-bake.md"
cat "$ROOT/bench/results-bake.md"
