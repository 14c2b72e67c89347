#!/usr/bin/env bash
# Installs what ordo's build and tests need on a fresh Debian machine, and nothing already there:
# a C/C++ toolchain and libclang (rocksdb's bindings are generated with bindgen), Python 3 (the
# cross-language golden-vector check), curl. Safe to run again; needs root (or sudo) only when
# something is missing.
set -euo pipefail

need_apt=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
command -v python3 >/dev/null || need_apt+=(python3)
command -v c++ >/dev/null || need_apt+=(build-essential)
command -v curl >/dev/null || need_apt+=(curl)
have_pkg libclang-dev || need_apt+=(libclang-dev)

if ((${#need_apt[@]})); then
  echo "install-deps: installing ${need_apt[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
