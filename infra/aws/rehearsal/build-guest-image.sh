#!/usr/bin/env bash
# The rehearsal's guest image: the VM lab's Debian 12 image (Debian's cloud-capable kernel, the
# host's CRIU 4.2.1 at /usr/local/sbin/criu) made into a small stand-in for Debian's AMI: systemd
# as init, cloud-init reading the NoCloud data source (the instance's user data, its key, its
# address), `admin` as the login user, and every package scripts/setup-host.sh checks for, so a
# node's user data finds them in place; apt still works through the rehearsal's package proxy.
# Two things differ from EC2 on purpose, each here and nowhere in the boot scripts:
#   - EBS: a udev rule names a virtio disk whose serial is a volume id the way Nitro names its
#     NVMe disk (/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol...);
#   - the data source list is NoCloud only (EC2's metadata service is not here).
# This file is part of the image's cache key: edit it and the next rehearsal rebuilds the image.
# Usage: build-guest-image.sh <output dir> <lab image dir> <setup-host.sh>
set -euo pipefail

OUT=$1
LAB=$2
SETUP_HOST=$3
ROOTFS_SIZE=8G
# What a Debian AMI has that the lab image lacks (dbus lets logind take the ACPI power button, so
# the guest powers down when a bake asks, as an instance does for CreateImage), and what the stack's user data and the EFS
# stand-in use (nfs-common, nfs-kernel-server); the rest comes from setup-host.sh's own list.
PACKAGES=(systemd-sysv dbus cloud-init ifupdown sudo nfs-common nfs-kernel-server netbase)

log() { printf 'build-guest-image: %s\n' "$*"; }

work=$(mktemp -d "$OUT.work.XXXXXX")
mnt=$work/root
cleanup() {
  umount -R "$mnt" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

log "copying the lab image from $LAB and growing it to $ROOTFS_SIZE"
cp --sparse=always "$LAB/rootfs.img" "$work/rootfs.img"
truncate -s "$ROOTFS_SIZE" "$work/rootfs.img"
e2fsck -fy "$work/rootfs.img" >/dev/null 2>&1 || true
resize2fs -f "$work/rootfs.img" >/dev/null 2>&1
mkdir -p "$mnt"
mount -o loop "$work/rootfs.img" "$mnt"
for fs in proc sys dev dev/pts; do mount --bind "/$fs" "$mnt/$fs"; done
cp /etc/hosts "$mnt/etc/hosts"
cp /etc/resolv.conf "$mnt/etc/resolv.conf" 2>/dev/null || true

# setup-host.sh's RUNTIME_PACKAGES, read from the script itself so the two never disagree.
eval "$(sed -n '/^RUNTIME_PACKAGES=(/,/^)/p' "$SETUP_HOST")"
log "apt-get install ${#PACKAGES[@]} + ${#RUNTIME_PACKAGES[@]} packages in the chroot (daemons kept from starting)"
printf '#!/bin/sh\nexit 101\n' >"$mnt/usr/sbin/policy-rc.d"
chmod +x "$mnt/usr/sbin/policy-rc.d"
chroot "$mnt" apt-get update -qq >"$work/apt.log" 2>&1 || { tail -n 30 "$work/apt.log" >&2; exit 1; }
DEBIAN_FRONTEND=noninteractive chroot "$mnt" apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" "${RUNTIME_PACKAGES[@]}" >>"$work/apt.log" 2>&1 \
  || { tail -n 30 "$work/apt.log" >&2; exit 1; }
rm -f "$mnt/usr/sbin/policy-rc.d"

log "cloud-init: NoCloud only, login user admin, no partition to grow"
cat >"$mnt/etc/cloud/cloud.cfg.d/90-criu-lab-rehearsal.cfg" <<'CFG'
# criu-lab rehearsal guest: what Debian's AMI sets, with NoCloud in place of EC2's metadata service.
datasource_list: [NoCloud, None]
system_info:
  default_user:
    name: admin
    lock_passwd: true
    gecos: Debian
    groups: [adm, sudo]
    sudo: ["ALL=(ALL) NOPASSWD:ALL"]
    shell: /bin/bash
  network:
    renderers: [eni]
locale: C.UTF-8
growpart:
  mode: "off"
resize_rootfs: false
ssh_pwauth: false
CFG
# sshd starts once cloud-init has made the host keys (none are in the image).
mkdir -p "$mnt/etc/systemd/system/ssh.service.d"
printf '[Unit]\nAfter=cloud-init.service\nWants=cloud-init.service\n' >"$mnt/etc/systemd/system/ssh.service.d/criu-lab-rehearsal.conf"
cat >"$mnt/etc/udev/rules.d/61-criu-lab-ebs.rules" <<'RULES'
# A rehearsal EBS volume is a virtio disk whose serial is the volume id without its dash: name it as Nitro does.
KERNEL=="vd*[!0-9]", ENV{ID_SERIAL}=="vol*", SYMLINK+="disk/by-id/nvme-Amazon_Elastic_Block_Store_$env{ID_SERIAL}"
RULES
printf 'LABEL=criu-lab-root / ext4 defaults 0 1\n' >"$mnt/etc/fstab"
# An instance's identity comes at its first boot: host keys, machine id, hostname.
rm -f "$mnt"/etc/ssh/ssh_host_* "$mnt/etc/hostname"
: >"$mnt/etc/machine-id"
rm -f "$mnt/var/lib/dbus/machine-id"
chroot "$mnt" systemctl enable ssh.service cloud-init.service >/dev/null 2>&1
chroot "$mnt" systemctl disable nfs-server.service >/dev/null 2>&1 || true
rm -rf "$mnt"/var/cache/apt/archives/*.deb "$mnt"/var/lib/apt/lists/* "$mnt"/var/lib/cloud/*
chroot "$mnt" /usr/local/sbin/criu --version >/dev/null

umount -R "$mnt"
e2fsck -fy "$work/rootfs.img" >/dev/null 2>&1 || true
mkdir -p "$OUT"
mv "$work/rootfs.img" "$OUT/"
cp "$LAB/vmlinuz" "$LAB/initrd.img" "$OUT/"
log "done: $OUT"
