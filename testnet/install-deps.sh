#!/usr/bin/env bash
# Installs what ordo's build and tests need on a fresh Debian machine, and nothing already there.
# Safe to run again. Needs root (or sudo) only when something is missing.
set -euo pipefail

need_apt=()
command -v python3 >/dev/null || need_apt+=(python3)
command -v cc >/dev/null || need_apt+=(build-essential)

if ((${#need_apt[@]})); then
  echo "install-deps: installing ${need_apt[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi
