#!/usr/bin/env bash
# Prepares this host for the VM lab (`criu-lab lab up --backend vm`) and the AWS rehearsal's guests: qemu (software
# emulation, TCG), qemu-img, debootstrap and genisoimage (the guests' cloud-init seed) from Debian. The lab's own prerequisites and
# CRIU come from setup-host.sh. Idempotent: prints `vm host ready: nothing to do` when all is there.
set -euo pipefail

PACKAGES=(qemu-system-x86 qemu-utils debootstrap e2fsprogs genisoimage)

[ "$(id -u)" = 0 ] || { echo "setup-vm: must run as root (it installs packages)" >&2; exit 1; }

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo 'setup-vm: vm host ready: nothing to do'
  exit 0
fi
echo "setup-vm: installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo 'setup-vm: vm host ready'
