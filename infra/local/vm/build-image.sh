#!/usr/bin/env bash
# The VM lab's guest image recipe: a Debian 12 root filesystem made with debootstrap, with
# Debian's cloud-capable kernel (soft-dirty on), the host's CRIU 4.2.1 binary and its
# libraries, sshd, Python, the AWS CLI (the s3 transfer) and the network tools CRIU locks
# sockets with. This file is part of the image's cache key: edit it and the next
# `lab up --backend vm` rebuilds the image.
# Usage: build-image.sh <output dir> <criu binary> <guest init script>
set -euo pipefail

OUT=$1
CRIU_BIN=$2
GUEST_INIT=$3
MIRROR=http://deb.debian.org/debian
SUITE=bookworm
ROOTFS_SIZE=3G
PACKAGES=(
  linux-image-amd64 initramfs-tools zstd kmod
  openssh-server openssh-client rsync tini iproute2 iptables nftables procps psmisc util-linux
  python3
  libbsd0 libgnutls30 libnftables1 libprotobuf-c1 libnl-3-200 libnet1 libuuid1
)

log() { printf 'build-image: %s\n' "$*"; }

work=$(mktemp -d "$OUT.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root

log "debootstrap $SUITE (minbase + ${#PACKAGES[@]} packages) from $MIRROR"
# The kernel's postinst builds the initrd inside the chroot; daemons must not start there.
debootstrap --variant=minbase --include="$(IFS=,; echo "${PACKAGES[*]}")" "$SUITE" "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
  || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }

# The AWS CLI (the s3 transfer) goes in with apt in the chroot: as a debootstrap --include,
# python3-cryptography's dependencies unpack in the wrong order and debootstrap fails.
log "apt-get install awscli in the chroot"
chroot "$root" apt-get update -qq >>"$work/debootstrap.log" 2>&1
DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y -qq --no-install-recommends awscli >>"$work/debootstrap.log" 2>&1 \
  || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
install -m 0755 "$CRIU_BIN" "$root/usr/local/sbin/criu"
install -m 0755 "$GUEST_INIT" "$root/sbin/criu-lab-init"
chroot "$root" /usr/local/sbin/criu --version >/dev/null
# Per-node host keys come from the node's config disk; none are baked into the image.
rm -f "$root"/etc/ssh/ssh_host_*
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
mkdir -p "$root/root/.ssh" "$root/srv" && chmod 700 "$root/root/.ssh"

kernel=$(ls "$root"/boot/vmlinuz-* | sort -V | tail -n 1)
initrd=$(ls "$root"/boot/initrd.img-* | sort -V | tail -n 1)
cp "$kernel" "$work/vmlinuz"
cp "$initrd" "$work/initrd.img"
log "kernel $(basename "$kernel"), making the ext4 root filesystem ($ROOTFS_SIZE, sparse)"
mke2fs -q -t ext4 -L criu-lab-root -d "$root" "$work/rootfs.img" "$ROOTFS_SIZE"
mkdir -p "$OUT"
mv "$work/vmlinuz" "$work/initrd.img" "$work/rootfs.img" "$OUT/"
log "done: $OUT"
