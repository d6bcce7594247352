#!/usr/bin/env bash
# Prepares a Debian host (a lab machine or a cloud node) for criu-lab: the packages the lab
# and the workload payloads need, CRIU 4.2.1 built from Debian's source archive, and the
# sysctls lazy pages need. Idempotent: a second run checks everything and changes nothing.
set -euo pipefail

CRIU_VERSION=4.2.1
CRIU_DEB_VERSION=${CRIU_VERSION}-1
CRIU_ORIG=criu_${CRIU_VERSION}.orig.tar.xz
CRIU_SHA256=29ec0ee09e296479fe7048c80980e8ef1d0684d0b0204c2b101dfea19f6725b9
CRIU_PREFIX=/usr/local
BUILD_ROOT=${CRIU_LAB_BUILD_ROOT:-/var/cache/criu-lab}
SID_SOURCES=/etc/apt/sources.list.d/criu-lab-sid-src.sources
SYSCTL_FILE=/etc/sysctl.d/60-criu-lab.conf

# What the lab (namespaces, sshd, tini, shaping), the transfers and the payloads use.
RUNTIME_PACKAGES=(
  openssh-server openssh-client rsync tini iproute2 iptables nftables strace util-linux sudo
  procps psmisc e2fsprogs python3 python3-numpy python3-redis python3-torch redis-server
  awscli curl
  ffmpeg sshfs fuse3 iperf3 xz-utils ca-certificates
)
# What building CRIU needs (CRIU-NOTES).
BUILD_PACKAGES=(
  gcc make pkg-config libprotobuf-c-dev protobuf-c-compiler libprotobuf-dev protobuf-compiler
  python3-protobuf libnl-3-dev libnet1-dev libcap-dev libbsd-dev libgnutls28-dev
  libnftables-dev uuid-dev libaio-dev dpkg-dev
)

log() { printf 'setup-host: %s\n' "$*"; }
changed=0

[ "$(id -u)" = 0 ] || { echo "setup-host: must run as root (it installs packages and sets sysctls)" >&2; exit 1; }

missing_packages() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || printf '%s\n' "$p"
  done
}

install_packages() {
  local missing
  mapfile -t missing < <(missing_packages "$@")
  [ "${#missing[@]}" -eq 0 ] && return 0
  log "installing ${#missing[@]} Debian packages: ${missing[*]}"
  apt-get update -qq
  # Packages such as openssh-server and redis-server would start host-wide daemons on
  # install; the lab starts its own per node, so keep the host's quiet while installing.
  local policy=/usr/sbin/policy-rc.d made_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; made_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || { [ "$made_policy" = 1 ] && rm -f "$policy"; return 1; }
  [ "$made_policy" = 1 ] && rm -f "$policy"
  changed=1
}

criu_installed_version() {
  "$CRIU_PREFIX/sbin/criu" --version 2>/dev/null | sed -n 's/^Version: //p'
}

fetch_criu_source() {
  local dir=$1
  [ -f "$dir/$CRIU_ORIG" ] && return 0
  if [ ! -f "$SID_SOURCES" ]; then
    # Source packages only: no binary line, so nothing installed on the host changes.
    cat >"$SID_SOURCES" <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  fi
  apt-get update -qq
  # The .debian.tar.xz part may be missing from the archive (then apt-get exits non-zero);
  # only the upstream tarball is needed, so judge by the file and its checksum.
  (cd "$dir" && apt-get source -qq --download-only "criu=$CRIU_DEB_VERSION" >/dev/null 2>&1) || true
  [ -f "$dir/$CRIU_ORIG" ] || { echo "setup-host: could not fetch $CRIU_ORIG from Debian's source archive" >&2; exit 1; }
}

build_criu() {
  local dir=$BUILD_ROOT/criu-$CRIU_VERSION
  mkdir -p "$dir"
  fetch_criu_source "$dir"
  echo "$CRIU_SHA256  $dir/$CRIU_ORIG" | sha256sum -c --quiet - \
    || { echo "setup-host: $CRIU_ORIG does not match sha256 $CRIU_SHA256; delete it and retry" >&2; rm -f "$dir/$CRIU_ORIG"; exit 1; }
  log "building CRIU $CRIU_VERSION (about a minute)"
  rm -rf "$dir/src" && mkdir -p "$dir/src"
  tar -xJf "$dir/$CRIU_ORIG" -C "$dir/src" --strip-components=1
  make -C "$dir/src" -j"$(nproc)" criu >"$dir/build.log" 2>&1 \
    || { echo "setup-host: CRIU build failed; see $dir/build.log" >&2; tail -20 "$dir/build.log" >&2; exit 1; }
  install -D -m 0755 "$dir/src/criu/criu" "$CRIU_PREFIX/sbin/criu"
  changed=1
}

set_sysctls() {
  # Lazy pages move large ranges through pipes; without these the dump side fails with
  # "page-pipe: tee: ..." because the process lacks CAP_SYS_RESOURCE.
  # A large PID space (systemd's default on 64-bit) lets each lab node allocate PIDs from its
  # own range, so a restored process finds its PID free on the destination.
  local want="fs.pipe-max-size = 67108864
fs.pipe-user-pages-soft = 0
kernel.pid_max = 4194304"
  if [ "$(cat "$SYSCTL_FILE" 2>/dev/null)" != "$want" ]; then
    printf '%s\n' "$want" >"$SYSCTL_FILE"; changed=1
  fi
  [ "$(sysctl -n fs.pipe-max-size)" = 67108864 ] || { sysctl -q -w fs.pipe-max-size=67108864; changed=1; }
  [ "$(sysctl -n fs.pipe-user-pages-soft)" = 0 ] || { sysctl -q -w fs.pipe-user-pages-soft=0; changed=1; }
  [ "$(sysctl -n kernel.pid_max)" -ge 4194304 ] || { sysctl -q -w kernel.pid_max=4194304; changed=1; }
}

install_packages "${RUNTIME_PACKAGES[@]}"
if [ "$(criu_installed_version)" != "$CRIU_VERSION" ]; then
  install_packages "${BUILD_PACKAGES[@]}"
  build_criu
fi
[ "$(criu_installed_version)" = "$CRIU_VERSION" ] || { echo "setup-host: CRIU $CRIU_VERSION is not at $CRIU_PREFIX/sbin/criu after the build" >&2; exit 1; }
set_sysctls
mkdir -p /run/sshd

if [ "$changed" = 0 ]; then
  log "host ready: nothing to do (CRIU $CRIU_VERSION, packages and sysctls in place)"
else
  log "host ready: CRIU $(criu_installed_version) at $CRIU_PREFIX/sbin/criu"
fi
