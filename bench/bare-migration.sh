#!/usr/bin/env bash
# The reference: the same CRIU commands criu-lab issues for `--strategy full --transfer rsync`,
# typed as a researcher would by hand in a plain shell, against the nodes of servers.yaml.
# Prints node-measured dump / transfer / restore / downtime in ms; cleans up both nodes.
# usage: bench/bare-migration.sh [MB_SIZE] [MAX_MEMORY_MB]    (needs a lab: criu-lab lab up)
# STRATEGY=pageserver: the pages go to a `criu page-server` on the destination during the dump
# (as `criu-lab run --strategy pageserver --transfer rsync`); rsync then moves the rest.
# KEEP_LOGS=<dir>: copy CRIU's logs and statistics there before cleaning up.
# INTERVAL=<s>: the payload's --interval (default 0.5). A last line `BENCH_JSON {...}` is for bench/run.ts.
set -euo pipefail
MB_SIZE=${1:-64}
MAX_MEMORY=${2:-1024}
STRATEGY=${STRATEGY:-full}
INTERVAL=${INTERVAL:-0.5}
PS_PORT=${PS_PORT:-27000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SERVERS=${SERVERS:-$ROOT/config/servers.yaml}
field() { sed -n "s/^  $1: \(.*\)$/\1/p" "$SERVERS" | head -1; }
ip_of() { sed -n "s/^  $1: { ip: \([0-9.]*\),.*/\1/p" "$SERVERS"; }
KEY=$(field ssh_key); KNOWN=$(field known_hosts); SRC=$(ip_of source); DST=$(ip_of destination)
RUN=bare_$(date +%s)
WORK=/srv/criu-lab/work/$RUN IMG=/srv/criu-lab/img/$RUN
SSH=(ssh -i "$KEY" -o UserKnownHostsFile="$KNOWN" -o StrictHostKeyChecking=yes -o BatchMode=yes)

# Node-to-node rsync uses the controller's key through agent forwarding, as one would by hand.
eval "$(ssh-agent -s)" >/dev/null
ssh-add -q "$KEY"
cleanup() {
  if [ -n "${KEEP_LOGS:-}" ]; then
    mkdir -p "$KEEP_LOGS"
    scp -q -i "$KEY" -o UserKnownHostsFile="$KNOWN" root@"$SRC":"$IMG/dump.log" root@"$SRC":"$IMG/stats-dump" "$KEEP_LOGS/" 2>/dev/null || true
    scp -q -i "$KEY" -o UserKnownHostsFile="$KNOWN" root@"$DST":"$IMG/restore.log" root@"$DST":"$IMG/stats-restore" "$KEEP_LOGS/" 2>/dev/null || true
  fi
  # Two commands: a command line holding the run's paths would match the pattern and kill itself before rm.
  for n in "$SRC" "$DST"; do
    "${SSH[@]}" root@"$n" "pkill -KILL -f '[b]are_${RUN#bare_}'" || true
    "${SSH[@]}" root@"$n" "rm -rf $WORK $IMG" || true
  done
  ssh-agent -k >/dev/null
}
trap cleanup EXIT

now_ms() { date +%s%3N; }
"${SSH[@]}" root@"$SRC" "mkdir -p $WORK $IMG && touch $WORK/checkpoint_flag"
scp -q -i "$KEY" -o UserKnownHostsFile="$KNOWN" "$ROOT/workloads/memory/payload.py" "$ROOT/workloads/payload_protocol.py" root@"$SRC":"$WORK/"
"${SSH[@]}" root@"$SRC" "setsid -f /usr/bin/python3 $WORK/payload.py --working-dir $WORK --mb-size $MB_SIZE --interval $INTERVAL --max-memory $MAX_MEMORY </dev/null >/dev/null 2>&1"
until "${SSH[@]}" root@"$SRC" "python3 -c 'import json,sys; s=json.load(open(\"$WORK/workload_status.json\")); sys.exit(0 if s[\"allocated_mb\"]+$MB_SIZE>$MAX_MEMORY else 1)'" 2>/dev/null; do sleep 0.5; done
PID=$("${SSH[@]}" root@"$SRC" "cut -d: -f2 $WORK/checkpoint_ready")

PS_ARGS=""
if [ "$STRATEGY" = pageserver ]; then
  "${SSH[@]}" root@"$DST" "mkdir -p $IMG && criu page-server -D $IMG --port $PS_PORT --daemon -o page-server.log -v4"
  PS_ARGS="--page-server --address $DST --port $PS_PORT"
fi
t_dump=$("${SSH[@]}" root@"$SRC" "s=\$(date +%s%3N); criu dump -t $PID -D $IMG -o dump.log -v4 --leave-stopped $PS_ARGS && echo \$s \$(date +%s%3N)")
t_xfer=$("${SSH[@]}" -A root@"$SRC" "s=\$(date +%s%3N); rsync -aW --numeric-ids --mkpath -e 'ssh -c aes128-gcm@openssh.com -o BatchMode=yes' $IMG/ $DST:$IMG/ && rsync -aW --numeric-ids --mkpath -e 'ssh -c aes128-gcm@openssh.com -o BatchMode=yes' $WORK/ $DST:$WORK/ && echo \$s \$(date +%s%3N)")
t_rest=$("${SSH[@]}" root@"$DST" "s=\$(date +%s%3N); criu restore -D $IMG -o restore.log -v4 -d && echo \$s \$(date +%s%3N)")
read -r d0 d1 <<<"$t_dump"; read -r x0 x1 <<<"$t_xfer"; read -r r0 r1 <<<"$t_rest"
bytes=$("${SSH[@]}" root@"$SRC" "du -sb $IMG | cut -f1")
printf 'bare %s+rsync %s MiB: image %s bytes, dump %d ms, transfer %d ms, restore %d ms, downtime %d ms\n' \
  "$STRATEGY" "$MAX_MEMORY" "$bytes" $((d1 - d0)) $((x1 - x0)) $((r1 - r0)) $((r1 - d0))
printf 'BENCH_JSON {"strategy":"%s","maxMemory":%s,"bytes":%s,"dumpMs":%d,"transferMs":%d,"restoreMs":%d,"downtimeMs":%d}\n' \
  "$STRATEGY" "$MAX_MEMORY" "$bytes" $((d1 - d0)) $((x1 - x0)) $((r1 - r0)) $((r1 - d0))
"${SSH[@]}" root@"$DST" "kill -0 $PID" && echo "restored pid $PID runs on the destination"
