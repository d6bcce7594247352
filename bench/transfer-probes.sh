#!/bin/bash
# Probes of where bytes slow down between two lab nodes, without criu-lab: the raw link, writes
# into page cache, a raw TCP stream into a file, one SSH stream per cipher, and rsync to a daemon
# in 1, 2 and 4 streams. Each row runs three times: right after dropping caches and a settle (as
# the bench's runs start), then twice more at once (memory just freed, still backed by the host).
# MB/s are 10^6 bytes/s. Run it under the lab lock: flock /tmp/criu-lab-lab.lock bash bench/transfer-probes.sh
# The receiving side writes under the host's /tmp through `ip netns exec` (the host's mount
# namespace); rsync over SSH lands in the node's own namespace, so the bench's transfer section,
# not this script, measures it (through criu-lab).
set -u
cd "$(dirname "$0")/.."
node bin/criu-lab.js lab up --name fx --servers /tmp/fx/servers.yaml >/tmp/fx/up.log 2>&1 || { cat /tmp/fx/up.log; exit 1; }
cat /tmp/fx/servers.yaml | head -20
SRC=$(grep -oP 'source: \{ ip: \K[0-9.]+' /tmp/fx/servers.yaml); DST=$(grep -oP 'destination: \{ ip: \K[0-9.]+' /tmp/fx/servers.yaml)
echo "src $SRC dst $DST"
N1="ip netns exec fx-n1"; N2="ip netns exec fx-n2"
KEY=/root/.criu-lab/keys/fx/id_ed25519
SSHO="-i $KEY -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR"
D=/tmp/fx/data; rm -rf $D; mkdir -p $D/src $D/dst
# 1 GiB in 8 files of 128 MiB, random (incompressible)
for i in 0 1 2 3 4 5 6 7; do head -c $((128<<20)) /dev/urandom > $D/src/pages-$i.img; done
sync
t() { local s=$(date +%s.%N); "$@"; local e=$(date +%s.%N); echo "$(echo "$e - $s" | bc)"; }
rate() { echo "scale=0; 1073741824/1000000/$1" | bc; }
row() { local name=$1; shift; rm -rf $D/dst/*; sync; echo 3 >/proc/sys/vm/drop_caches; echo 1 >/proc/sys/vm/compact_memory; sleep 5; cat $D/src/* >/dev/null; local a b c; a=$(t "$@" 2>>/tmp/fx/err.log); rm -rf $D/dst/*; b=$(t "$@" 2>>/tmp/fx/err.log); rm -rf $D/dst/*; c=$(t "$@" 2>>/tmp/fx/err.log); echo "| $name | $(rate $a) | $(rate $b) | $(rate $c) |"; }
$N2 iperf3 -s -1 -B $DST >/dev/null & sleep 0.5
echo "iperf3 1 stream:"; $N1 iperf3 -c $DST -B $SRC -t 4 -J | jq '.end.sum_received.bits_per_second/8/1e6|floor'
wait; $N2 iperf3 -s -1 -B $DST >/dev/null & sleep 0.5
echo "iperf3 -P 2:"; $N1 iperf3 -c $DST -B $SRC -t 4 -P 2 -J | jq '.end.sum_received.bits_per_second/8/1e6|floor'
wait
row "dd 1 GiB into page cache (one file, no network)" dd if=/dev/zero of=$D/dst/x bs=1M count=1024 status=none
row "cat 1 GiB (cached) > /dev/null" sh -c "cat $D/src/* > /dev/null"
row "cp 1 GiB page cache to page cache" cp -r $D/src/. $D/dst/
# raw TCP: python receiver writing to a file (page cache), sender with sendfile
cat > /tmp/fx/recv.py <<'PY'
import socket,sys
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1); s.bind((sys.argv[1],int(sys.argv[2]))); s.listen(1)
c,_=s.accept(); out=open(sys.argv[3],'wb',buffering=0); buf=bytearray(1<<20); mv=memoryview(buf)
while True:
    n=c.recv_into(buf)
    if not n: break
    out.write(mv[:n])
PY
cat > /tmp/fx/send.py <<'PY'
import socket,sys,os
s=socket.create_connection((sys.argv[1],int(sys.argv[2])))
for f in sys.argv[3:]:
    fd=os.open(f,os.O_RDONLY); size=os.fstat(fd).st_size; off=0
    while off<size: off+=os.sendfile(s.fileno(),fd,off,size-off)
    os.close(fd)
s.close()
PY
rawtcp() { $N2 /usr/bin/python3 /tmp/fx/recv.py $DST 29000 $1 & local p=$!; sleep 0.3; $N1 /usr/bin/python3 /tmp/fx/send.py $DST 29000 $D/src/*; wait $p; }
row "raw TCP sendfile -> /dev/null" rawtcp /dev/null
row "raw TCP sendfile -> file in page cache" rawtcp $D/dst/all
for cph in aes128-gcm@openssh.com chacha20-poly1305@openssh.com; do
  row "cat | ssh -c $cph 'cat > /dev/null'" sh -c "cat $D/src/* | $N1 ssh $SSHO -c $cph root@$DST 'cat > /dev/null'"
done
# rsync daemon on the destination, plain TCP
cat > /tmp/fx/rsyncd.conf <<CONF
use chroot = no
[m]
path = $D/dst
read only = no
uid = root
gid = root
CONF
$N2 rsync --daemon --no-detach --config=/tmp/fx/rsyncd.conf --address=$DST --port=28873 & DPID=$!
sleep 0.5
row "rsync daemon (no ssh) -aW" $N1 rsync -aW --numeric-ids $D/src/ rsync://$DST:28873/m/
pard() { local n=$1; local pids=(); for k in $(seq 0 $((n-1))); do files=(); for i in 0 1 2 3 4 5 6 7; do [ $((i % n)) = $k ] && files+=($D/src/pages-$i.img); done; $N1 rsync -aW --numeric-ids "${files[@]}" rsync://$DST:28873/m/ & pids+=($!); done; wait "${pids[@]}"; }
for n in 2 4; do row "$n parallel rsync daemon" pard $n; done
kill $DPID; wait $DPID 2>/dev/null
rm -rf $D
node bin/criu-lab.js lab down --name fx >/dev/null 2>&1
