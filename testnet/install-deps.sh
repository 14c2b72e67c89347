#!/usr/bin/env bash
# Installs what ordo's build and tests need on a fresh Debian machine, and nothing already there:
# a C/C++ toolchain and libclang (rocksdb's bindings are generated with bindgen), Python 3 (the
# cross-language golden-vector check), curl, Node.js and npm; then the pinned npm tools of
# contracts/package.json: solc (compiles the contracts offline) and anvil (the development L1).
# Safe to run again; needs root (or sudo) only when a Debian package is missing.
set -euo pipefail

need_apt=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
command -v python3 >/dev/null || need_apt+=(python3)
command -v c++ >/dev/null || need_apt+=(build-essential)
command -v curl >/dev/null || need_apt+=(curl)
command -v jq >/dev/null || need_apt+=(jq)
have_pkg libclang-dev || need_apt+=(libclang-dev)
command -v node >/dev/null || need_apt+=(nodejs)
command -v npm >/dev/null || need_apt+=(npm)

if ((${#need_apt[@]})); then
  echo "install-deps: installing ${need_apt[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# solc and anvil, exactly as pinned by contracts/package-lock.json.
contracts="$(cd "$(dirname "$0")/../contracts" && pwd)"
stamp="$contracts/node_modules/.ordo-installed-lock"
if ! cmp -s "$contracts/package-lock.json" "$stamp"; then
  echo "install-deps: npm ci (solc, anvil) in contracts/"
  (cd "$contracts" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  cp "$contracts/package-lock.json" "$stamp"
fi
"$contracts/node_modules/.bin/anvil" --version | sed -n 1p
