#!/bin/sh
# PID 1 of a VM lab guest (kernel `init=`): mounts the kernel filesystems, applies the node's
# config disk (hostname, address, host key, authorised and pinned keys, sshd_config), sets
# the sysctls lazy pages need, then becomes tini with sshd under it, like a namespace node.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME=/root
mountpoint -q /proc || mount -t proc proc /proc
mountpoint -q /sys || mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mountpoint -q /dev/pts || mount -t devpts devpts /dev/pts
mountpoint -q /dev/shm || mount -t tmpfs tmpfs /dev/shm
mountpoint -q /run || mount -t tmpfs tmpfs /run
mount -o remount,rw /
mount -t tmpfs tmpfs /tmp
mkdir -p /run/sshd /run/criu-lab/config
mount -o ro /dev/vdb /run/criu-lab/config || { echo "criu-lab-init: no config disk" >&2; sleep 5; exit 1; }
cfg=/run/criu-lab/config
hostname "$(cat $cfg/hostname)"
cat $cfg/hostname >/etc/hostname
modprobe virtio_net
# The initrd's udev gave the NIC a predictable name (enp0s2 or so); call it eth0, as on a namespace node.
for dev in /sys/class/net/*; do
  name=${dev##*/}
  [ "$name" = lo ] || [ "$name" = eth0 ] || ip link set "$name" name eth0
done
ip link set lo up
ip link set eth0 up
ip addr add "$(cat $cfg/address)" dev eth0
install -m 0600 $cfg/ssh_host_ed25519_key /etc/ssh/ssh_host_ed25519_key
install -m 0644 $cfg/ssh_host_ed25519_key.pub /etc/ssh/ssh_host_ed25519_key.pub
install -m 0644 $cfg/sshd_config /etc/ssh/sshd_config
install -d -m 0700 /root/.ssh
install -m 0600 $cfg/authorized_keys /root/.ssh/authorized_keys
install -m 0600 $cfg/known_hosts /root/.ssh/known_hosts
# The lab's S3 credentials (`lab up --storage`), under the profile servers.yaml names.
if [ -r $cfg/aws_credentials ]; then
  install -d -m 0700 /root/.aws
  install -m 0600 $cfg/aws_credentials /root/.aws/credentials
fi
sysctl -q -w fs.pipe-max-size=67108864 fs.pipe-user-pages-soft=0
# CRIU restores a process with its PID: guests booted alike count PIDs alike, so each starts
# allocating from its own range (a small guest's default pid_max is 32768 and would hold none).
if [ -r $cfg/pid_base ]; then
  sysctl -q -w kernel.pid_max=4194304
  echo "$(cat $cfg/pid_base)" >/proc/sys/kernel/ns_last_pid
fi
echo "criu-lab-init: $(hostname) $(cat $cfg/address) ready, starting sshd"
exec tini -- /usr/sbin/sshd -D -e
